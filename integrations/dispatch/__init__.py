"""Dispatch systems that take tickets (工单): the embedded desk, Open311 servers.

The package's API is :mod:`integrations.dispatch.base` (the interface and its errors).
"""

from integrations.dispatch import base
from integrations.dispatch.base import *  # noqa: F403 - exactly base's public names

__all__ = base.__all__
