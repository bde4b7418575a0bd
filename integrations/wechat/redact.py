"""Keep credentials out of logs (residents' data: :mod:`privacy`)."""

from __future__ import annotations

import logging
import re

__all__ = ["install_httpx_log_redaction", "redact_access_token"]

_ACCESS_TOKEN = re.compile(r"(access_token=)[^&\s\"'#]+")


def redact_access_token(text: str) -> str:
    return _ACCESS_TOKEN.sub(r"\1***", text)


class _RedactAccessToken(logging.Filter):
    """Rewrites records whose text carries ``access_token=...``.

    WeChat wants the token in the query string, and httpx logs every request URL at INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_access_token(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


def install_httpx_log_redaction() -> None:
    """Attach the redacting filter to httpx's logger once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactAccessToken) for f in logger.filters):
        logger.addFilter(_RedactAccessToken())
