"""The record the analytics work on: one ticket, as facts, independent of storage.

The integration builds a :class:`TicketFact` from a ticket row (and its timeline) and
hands it to the clustering engine, the hot-spot and surge detectors, the 三率 and the
每月一题 ranking; none of them read the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from integrations.analytics.errors import InvalidFact

__all__ = ["RATINGS", "TicketFact"]

#: The ratings a resident can give (``policies.tickets.RATINGS``).
RATINGS = ("satisfied", "basically_satisfied", "unsatisfied")


@dataclass(frozen=True, slots=True)
class TicketFact:
    """One ticket as the analytics see it.

    ``openid``: the resident (or another stable resident key the integration supplies, e.g.
    a hash of the phone number for hotline tickets; ``None``: unknown, not counted among
    distinct residents). ``street`` / ``community``: the areas the ticket belongs to (from
    the dispatch grid). ``latitude`` / ``longitude``: from a location message, if any.
    ``signed_at``: when the handling unit signed for it (签收; the first move out of
    ``received``); ``due_at``: its deadline; ``resolved_at``: when it was last finished.
    ``reopened``: how many times it was reopened; ``rating``: the resident's rating.
    ``sign_due_at``: its first 签收 deadline (working time; ``None``: judged against
    ``RatesRule.sign_within`` after filing); ``overdue_clocks``: how many times one of its
    clocks ran out (签收 or 办结, over all its dispatches).
    ``timed``: whether its handling times are known — history imported without a signing
    time (签收时间) is not judged on response (its ``signed_at`` is unknown, not late).
    All times must be timezone-aware.
    """

    id: str
    openid: str | None
    category: str
    department: str
    street: str | None
    community: str | None
    location: str
    description: str
    latitude: float | None
    longitude: float | None
    created_at: datetime
    signed_at: datetime | None = None
    due_at: datetime | None = None
    resolved_at: datetime | None = None
    status: str = "received"
    reopened: int = 0
    rating: str | None = None
    timed: bool = True
    sign_due_at: datetime | None = None
    overdue_clocks: int = 0

    def __post_init__(self) -> None:
        if not self.id:
            raise InvalidFact("a ticket fact needs an id")
        if not self.category:
            raise InvalidFact(f"ticket {self.id}: category is empty")
        for name in ("created_at", "signed_at", "due_at", "resolved_at", "sign_due_at"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise InvalidFact(f"ticket {self.id}: {name} must be timezone-aware")
        if (self.latitude is None) != (self.longitude is None):
            raise InvalidFact(f"ticket {self.id}: latitude and longitude go together")
        if (
            self.latitude is not None
            and self.longitude is not None
            and not (
                -90.0 <= self.latitude <= 90.0
                and -180.0 <= self.longitude <= 180.0
                and math.isfinite(self.latitude + self.longitude)
            )
        ):
            raise InvalidFact(f"ticket {self.id}: not a coordinate")
        if self.reopened < 0:
            raise InvalidFact(f"ticket {self.id}: reopened must not be negative")
        if self.rating is not None and self.rating not in RATINGS:
            raise InvalidFact(f"ticket {self.id}: unknown rating {self.rating!r}")

    @property
    def point(self) -> tuple[float, float] | None:
        """(latitude, longitude) when the ticket came with a location message."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)
