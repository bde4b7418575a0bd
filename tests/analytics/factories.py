"""Ticket facts for the analytics tests, with only the fields a test cares about."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

from integrations.analytics import TicketFact

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=CST)
_ids = count(1)


def at(days: float = 0.0, hours: float = 0.0) -> datetime:
    """A moment ``days`` and ``hours`` after 2026-06-01 09:00 (Asia/Shanghai)."""
    return T0 + timedelta(days=days, hours=hours)


def fact(
    description: str = "路灯不亮",
    location: str = "幸福家园",
    *,
    category: str = "report.streetlight",
    openid: str | None = None,
    created_at: datetime | None = None,
    id: str | None = None,
    **fields: Any,
) -> TicketFact:
    """A ticket fact; ids and residents are unique unless given."""
    n = next(_ids)
    values: dict[str, Any] = {
        "id": id or f"t{n:05d}",
        "openid": openid if openid is not None else f"resident{n}",
        "category": category,
        "department": "市政照明管理处",
        "street": "望江街道",
        "community": "望江一社区",
        "location": location,
        "description": description,
        "latitude": None,
        "longitude": None,
        "created_at": created_at or T0,
    }
    values.update(fields)
    return TicketFact(**values)
