"""Logging set-up: one handler on the root logger, which every logger — uvicorn's access
and error loggers included — propagates to, and personal data masked in every record.

:func:`logging_config` is a :func:`logging.config.dictConfig` dictionary. ``intake serve``
passes it to uvicorn as its ``log_config``, so each web process (``--workers N`` starts
fresh ones) applies it as it starts; uvicorn's own configuration would give its loggers
handlers of their own, bypassing the masking. Applying it also installs the record factory
of :func:`privacy.install_record_masking`: a record is masked when it is created (message,
arguments, traceback, stack), so a handler added later (a library's, a test's) receives
nothing to mask; the handler's :class:`privacy.PersonalDataFilter` masks again what was
created otherwise.
"""

from __future__ import annotations

import logging
import logging.config
from typing import IO, Any

from privacy import PersonalDataFilter, install_record_masking

__all__ = ["configure_logging", "logging_config", "personal_data_filter"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: loggers that keep handlers of their own unless told otherwise
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def personal_data_filter() -> PersonalDataFilter:
    """The handler's filter; building it (dictConfig does, in every process) also installs
    the masking record factory."""
    install_record_masking()
    return PersonalDataFilter()


def logging_config(
    level: str = "INFO", *, stream: IO[str] | str = "ext://sys.stderr"
) -> dict[str, Any]:
    """The whole logging configuration (``stream``: where lines go, stderr by default)."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"personal_data": {"()": personal_data_filter}},
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["personal_data"],
                "stream": stream,
            }
        },
        "loggers": {
            **{name: {"handlers": [], "propagate": True, "level": level} for name in _UVICORN},
            # Alembic announces each of its plugins at INFO on every start: noise, not news.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure_logging(level: str = "INFO", *, stream: IO[str] | None = None) -> None:
    """Apply :func:`logging_config` to this process."""
    logging.config.dictConfig(logging_config(level, stream=stream or "ext://sys.stderr"))
