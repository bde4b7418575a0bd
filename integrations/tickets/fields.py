"""Ticket text as it is stored: checked for presence and length, personal numbers redacted.

ID and bank-card numbers are redacted everywhere (the phone field included); phone numbers
in the resident's own words (description, location, rating reason, chat) — the phone field
is the one place a phone number is kept whole (:func:`privacy.redact`).
"""

from __future__ import annotations

from integrations.tickets.errors import InvalidTicket
from privacy import mask_text, redact

__all__ = ["MAX_TEXT", "actor_kind", "clean"]

MAX_TEXT = 4000


def clean(
    value: str | None,
    name: str,
    *,
    required: bool,
    limit: int = MAX_TEXT,
    resident_words: bool = False,
) -> str:
    """``value`` stripped, checked (:class:`InvalidTicket` names the field) and redacted:
    ID and card numbers always, phone numbers in ``resident_words``."""
    text = (value or "").strip()
    if required and not text:
        raise InvalidTicket(f"{name} is required")
    if len(text) > limit:
        raise InvalidTicket(f"{name} is longer than {limit} characters")
    return redact(text, keep_phones=not resident_words)


def actor_kind(actor: str) -> str:
    """``staff:张三`` → ``staff`` in logs (names of people stay out of them)."""
    return mask_text(actor.split(":", 1)[0])
