"""The dialogue state of one resident, as plain data the FSM stores between messages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from privacy import redact

__all__ = ["SLOTS", "Case", "DialogueState", "Mode"]

SLOTS = ("location", "description", "phone")

Mode = Literal[
    "idle",  # nothing under way
    "collecting",  # filling the case form; ``asking`` is the slot just asked for
    "reuse_phone",  # asked whether to reuse the phone of an earlier ticket
    "confirming",  # summary shown, waiting for 确认 or a correction
    "choosing_faq",  # numbered FAQ topics offered
    "offer_urgent",  # emergency guidance given, offered an urgent ticket
    "offer_follow",  # an open ticket covers the confirmed case: follow it, or file anyway
]


#: the case's free text: what the resident said, kept without ID, card or phone numbers
_REDACTED_FIELDS = frozenset({"location", "description"})


@dataclass(slots=True)
class Case:
    """A complaint being filled in (a ticket once confirmed).

    Its location and description are the resident's words with ID numbers, bank cards and
    phone numbers masked (:func:`privacy.redact`) as they are set, so neither the dialogue
    state, nor the confirmation the bot reads back, nor the ticket ever holds them whole;
    the one phone number needed whole is ``phone``.
    """

    category: str
    location: str | None = None
    description: str | None = None
    phone: str | None = None
    photos: list[str] = field(default_factory=list)
    urgent: bool = False
    latitude: float | None = None
    longitude: float | None = None
    failures: dict[str, int] = field(default_factory=dict)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _REDACTED_FIELDS and isinstance(value, str):
            value = redact(value)
        object.__setattr__(self, name, value)

    def missing(self) -> list[str]:
        return [slot for slot in SLOTS if not getattr(self, slot)]

    def copy(self) -> Case:
        """An independent copy. Its words were redacted when they were set, so they are not
        scanned again (the scan is the costly part of a copy)."""
        new = object.__new__(Case)
        for name in _CASE_FIELDS:
            object.__setattr__(new, name, getattr(self, name))
        object.__setattr__(new, "photos", list(self.photos))
        object.__setattr__(new, "failures", dict(self.failures))
        return new


@dataclass(slots=True)
class DialogueState:
    """Everything the policy needs to remember about a resident's conversation."""

    mode: Mode = "idle"
    case: Case | None = None
    asking: str | None = None
    faq_choices: list[str] = field(default_factory=list)
    misunderstood: int = 0
    pending_photos: list[str] = field(default_factory=list)
    pending_location: str | None = None
    pending_latitude: float | None = None
    pending_longitude: float | None = None
    #: in ``offer_follow``: the open ticket offered to follow
    follow_ticket: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as :func:`dataclasses.asdict` gives it, without its generic deep
        copy (a tenth of the time: every message stores its state)."""
        data = {name: getattr(self, name) for name in _STATE_FIELDS}
        data["faq_choices"] = list(self.faq_choices)
        data["pending_photos"] = list(self.pending_photos)
        case = self.case
        if case is not None:
            out = {name: getattr(case, name) for name in _CASE_FIELDS}
            out["photos"] = list(case.photos)
            out["failures"] = dict(case.failures)
            data["case"] = out
        return data

    def copy(self) -> DialogueState:
        """An independent copy (what ``from_dict(to_dict())`` gives, without re-reading).

        Field by field from the dataclass's own list, so a field added later is copied too."""
        new = object.__new__(DialogueState)
        for name in _STATE_FIELDS:
            object.__setattr__(new, name, getattr(self, name))
        new.case = None if self.case is None else self.case.copy()
        new.faq_choices = list(self.faq_choices)
        new.pending_photos = list(self.pending_photos)
        return new

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DialogueState:
        if not data:
            return cls()
        case = data.get("case")
        return cls(
            mode=data.get("mode", "idle"),
            case=Case(**case) if case else None,
            asking=data.get("asking"),
            faq_choices=list(data.get("faq_choices") or []),
            misunderstood=int(data.get("misunderstood") or 0),
            pending_photos=list(data.get("pending_photos") or []),
            pending_location=data.get("pending_location"),
            pending_latitude=data.get("pending_latitude"),
            pending_longitude=data.get("pending_longitude"),
            follow_ticket=data.get("follow_ticket"),
        )


_STATE_FIELDS = tuple(f.name for f in fields(DialogueState))
_CASE_FIELDS = tuple(f.name for f in fields(Case))
