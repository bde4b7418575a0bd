"""Errors of the analytics core, in the project's one exception family."""

from __future__ import annotations

from core.errors import IntakeError

__all__ = [
    "AnalyticsError",
    "InvalidCorrection",
    "InvalidFact",
    "UnknownCluster",
]


class AnalyticsError(IntakeError):
    """Root of the analytics errors."""


class InvalidFact(AnalyticsError, ValueError):
    """A ticket record cannot be analysed as given (the message says which field)."""


class UnknownCluster(AnalyticsError, KeyError):
    """No cluster has this id (it may have been merged into another)."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else "unknown cluster"


class InvalidCorrection(AnalyticsError, ValueError):
    """A merge or split that cannot be applied (unknown tickets, a part left empty…)."""
