"""The project's one exception family.

Third-party errors (httpx, wechatpy, redis, SQLAlchemy) are translated into these inside
``integrations/`` so callers catch one family (httpx's ``_exceptions.py`` is the model).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "IntakeError",
    "StateBackendError",
]


class IntakeError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigurationError(IntakeError):
    """A setting is missing or invalid; the message is one line a person can act on."""


class StateBackendError(IntakeError):
    """The dialogue-state backend (memory or Redis) could not serve a request."""
