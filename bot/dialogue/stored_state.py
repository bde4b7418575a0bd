"""A resident's dialogue state as the state store keeps it: the case's phone sealed.

The phone number is the one piece of a case needed whole (the ticket gets it), and the
state waits in Redis for up to ``INTAKE_DIALOGUE_TTL`` (a day) — in its dumps and, with
``appendonly yes``, on disk. So it is kept sealed (:class:`privacy.Sealer`, bound to the
resident's openid) and opened only in the process handling the resident's next message.
The case's free text needs no sealing: :class:`policies.state.Case` never holds an ID,
card or phone number in it.
"""

from __future__ import annotations

import logging
from typing import Any

from policies.state import DialogueState
from privacy import Sealer, SealError, is_sealed

__all__ = ["dump_state", "load_state"]

log = logging.getLogger(__name__)


def load_state(raw: dict[str, Any] | None, openid: str, sealer: Sealer) -> DialogueState:
    """The state stored by :func:`dump_state` (or by an older version, phone unsealed)."""
    case = raw.get("case") if raw else None
    if raw and isinstance(case, dict) and is_sealed(case.get("phone")):
        try:
            phone: str | None = sealer.open(case["phone"], context=openid)
        except SealError:
            # The key changed without the previous one kept: the bot asks for it again.
            log.warning("a conversation's phone number could not be opened; asking again")
            phone = None
        raw = {**raw, "case": {**case, "phone": phone}}
    return DialogueState.from_dict(raw)


def dump_state(state: DialogueState, openid: str, sealer: Sealer) -> dict[str, Any]:
    """``state`` as plain data with the case's phone number sealed."""
    data = state.to_dict()
    case = data.get("case")
    if case and case.get("phone"):
        case["phone"] = sealer.seal(case["phone"], context=openid)
    return data
