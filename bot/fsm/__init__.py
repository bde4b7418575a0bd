"""Per-resident finite-state machine: states, context and storage."""

from bot.fsm.context import FSMContext
from bot.fsm.state import State, StatesGroup
from bot.fsm.storage import FSMRecord, FSMStorage

__all__ = ["FSMContext", "FSMRecord", "FSMStorage", "State", "StatesGroup"]
