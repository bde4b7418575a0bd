"""Fixtures of the personal-data tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "intake.test")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that configure logging for the whole process: put it back afterwards."""
    factory = logging.getLogRecordFactory()
    saved = {}
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), list(logger.filters), logger.level, logger.propagate)
    yield
    logging.setLogRecordFactory(factory)
    for name, (handlers, filters, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.filters[:] = filters
        logger.setLevel(level)
        logger.propagate = propagate
