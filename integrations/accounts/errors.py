"""The accounts package's one error (a subclass of the project's root error)."""

from __future__ import annotations

from core.errors import IntakeError

__all__ = ["AccountError"]


class AccountError(IntakeError):
    """An account cannot be created or changed as asked (the message, in Chinese, says why
    and is shown to the person as is)."""
