"""The project's one exception family, rooted in :class:`IntakeError`.

Every layer imports it (``core`` depends on nothing else of the project). Third-party
errors are translated where they enter: SQLAlchemy's in ``integrations/db`` (into
:class:`DatabaseError` and :class:`DatabaseUnavailable`), httpx's in the WeChat and dispatch
clients (into subclasses of :class:`RemoteServiceError`), redis-py's in
``integrations/state`` (:class:`StateBackendError`). Callers catch these, never the
libraries' own classes; the original stays attached as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DatabaseError",
    "DatabaseUnavailable",
    "IntakeError",
    "RemoteServiceError",
    "StateBackendError",
]


class IntakeError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigurationError(IntakeError):
    """A setting is missing or invalid; the message is one line a person can act on."""


class StateBackendError(IntakeError):
    """The dialogue-state backend (memory or Redis) could not serve a request."""


class DatabaseError(IntakeError):
    """The database refused or failed a statement (not a constraint the caller handles)."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached right now (refused or dropped connection, no free
    connection in time, locked past the wait): worth retrying later, not a bug."""


class RemoteServiceError(IntakeError):
    """A service reached over HTTP (WeChat's API, a dispatch system) failed a request."""
