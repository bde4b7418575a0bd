"""Personal data masked in every log record: message, arguments, traceback, stack.

A careless ``log.info(text)``, an exception whose message quotes a resident (a database
error echoing its parameters), uvicorn's own lines: each record is rewritten with
:func:`privacy.masking.mask_text` before any handler formats it.

Two ways in, both applying :func:`mask_record`:

* :class:`PersonalDataFilter`, a ``logging.Filter`` for handlers (``bot.logs`` puts it on
  the one handler every logger propagates to, uvicorn's included);
* :func:`install_record_masking`, a log-record factory, so that a record is masked when it
  is created, whatever handler (a library's own, a test's) later receives it.
"""

from __future__ import annotations

import logging
from typing import Any

from privacy.masking import mask_text

__all__ = ["PersonalDataFilter", "install_record_masking", "mask_record"]

#: uvicorn's access formatter reads the request line from the record's arguments
_ARGS_KEPT = ("uvicorn.access",)


def _masked_exception(record: logging.LogRecord) -> str | None:
    if record.exc_text:
        return mask_text(record.exc_text)
    if record.exc_info and record.exc_info[0] is not None:
        return mask_text(logging.Formatter().formatException(record.exc_info))
    return None


#: set on a record once masked, so the handler's filter does not mask it again
MASKED_ATTRIBUTE = "personal_data_masked"


def mask_record(record: logging.LogRecord) -> None:
    """Rewrite ``record`` in place so that no handler can format personal data from it."""
    if record.__dict__.get(MASKED_ATTRIBUTE):
        # Masked when it was created; ``extra`` values are set after that, and uvicorn's
        # coloured variant of the message is one of them.
        colour = record.__dict__.get("color_message")
        if isinstance(colour, str) and mask_text(colour) != colour:
            del record.__dict__["color_message"]
        return
    try:
        message = record.getMessage()
    except Exception:
        # Arguments that do not fit the format: keep what can be shown, masked.
        message = f"{record.msg!s} {record.args!r}"
        record.args = None
        record.msg = ""
    masked = mask_text(message)
    if masked != message or not isinstance(record.msg, str):
        if record.name.startswith(_ARGS_KEPT) and isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
            record.msg = mask_text(record.msg) if isinstance(record.msg, str) else masked
            try:
                if mask_text(record.getMessage()) != record.getMessage():
                    raise ValueError("still personal")
            except Exception:
                record.msg, record.args = masked, None
        else:
            record.msg, record.args = masked, None
        # uvicorn's coloured variant of the message would be formatted instead of it.
        record.__dict__.pop("color_message", None)
    exception = _masked_exception(record)
    if exception is not None:
        record.exc_text = exception
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    record.__dict__[MASKED_ATTRIBUTE] = True


class PersonalDataFilter(logging.Filter):
    """Masks every record that reaches the handler it is attached to; drops none."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


class _MaskingFactory:
    """A log-record factory masking what the factory it wraps creates."""

    masks_personal_data = True

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        mask_record(record)
        return record


def install_record_masking() -> None:
    """Mask every log record as it is created, in this process (idempotent)."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "masks_personal_data", False):
        logging.setLogRecordFactory(_MaskingFactory(current))
