"""Dispatch systems that take tickets (工单): the embedded desk, Open311 servers."""

from integrations.dispatch.base import (
    DispatchBackend,
    DispatchError,
    DispatchReceipt,
    DispatchRejected,
    DispatchRequest,
    DispatchUnavailable,
    ExternalStatus,
)

__all__ = [
    "DispatchBackend",
    "DispatchError",
    "DispatchReceipt",
    "DispatchRejected",
    "DispatchRequest",
    "DispatchUnavailable",
    "ExternalStatus",
]
