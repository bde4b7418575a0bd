"""The dialogue state as Redis keeps it: the case's phone sealed to the resident (issue 13)."""

from __future__ import annotations

import json

from bot.dialogue.stored_state import dump_state, load_state
from policies.state import Case, DialogueState
from privacy import Sealer

SEALER = Sealer("Hq7vX2mR9kLp4TzN8cWb5JdF3sGy6Ue1")
STATE = DialogueState(
    mode="confirming",
    case=Case(
        category="report.streetlight",
        location="幸福小区3号楼",
        description="路灯坏了",
        phone="15867392041",
    ),
)


def test_the_phone_is_sealed_and_opens_for_the_same_resident() -> None:
    stored = dump_state(STATE, "o-1", SEALER)
    assert "15867392041" not in json.dumps(stored)
    assert stored["case"]["phone"].startswith("sealed:v1:")
    assert load_state(stored, "o-1", SEALER) == STATE
    assert STATE.case is not None and STATE.case.phone == "15867392041"  # not mutated


def test_a_phone_that_does_not_open_is_asked_again() -> None:
    stored = dump_state(STATE, "o-1", SEALER)
    for sealer, openid in ((Sealer("another-key-Zq4wTn8uKc2hRb6yLp0x"), "o-1"), (SEALER, "o-2")):
        state = load_state(stored, openid, sealer)
        assert state.case is not None and state.case.phone is None
        assert state.case.missing() == ["phone"]


def test_a_state_stored_before_sealing_still_loads() -> None:
    assert load_state(STATE.to_dict(), "o-1", SEALER) == STATE
    assert load_state(None, "o-1", SEALER) == DialogueState()
