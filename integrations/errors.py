"""Compatibility re-export of :mod:`core.errors` for one release: import from ``core.errors``.

Nothing in the project imports this module any more; it stays so that branches written
before the move still import (remove it in the next release).
"""

from __future__ import annotations

from core.errors import ConfigurationError, IntakeError, StateBackendError

__all__ = ["ConfigurationError", "IntakeError", "StateBackendError"]
