"""Logging set-up: every record passes through a filter that masks personal data."""

from __future__ import annotations

import logging

from privacy import mask_text

__all__ = ["PIIMaskingFilter", "configure_logging"]


class PIIMaskingFilter(logging.Filter):
    """Masks phones, ID numbers and addresses in the final message of every record, so a
    careless ``log.info(text)`` anywhere cannot leak them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as is rather than dropped
            return True
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PIIMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Alembic announces each of its plugins at INFO on every start: noise, not news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
