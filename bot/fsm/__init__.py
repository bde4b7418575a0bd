"""Per-resident conversation data: the context handlers get and its storage."""

from bot.fsm.context import FSMContext
from bot.fsm.storage import FSMRecord, FSMStorage

__all__ = ["FSMContext", "FSMRecord", "FSMStorage"]
