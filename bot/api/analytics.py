"""The analytics API (bearer ``INTAKE_ADMIN_TOKEN``, like every ``/api`` route).

=========================================================  ================================
``GET /api/analytics/hotspots?days=30``                    hot spots of the last ``days``
                                                           days (1–365), best first:
                                                           ``{"items": [{"id", "label",
                                                           "category", "area",
                                                           "ticket_ids", "residents",
                                                           "score", …}]}``; a hot spot has
                                                           at least three distinct
                                                           residents
``GET /api/analytics/rates?group=department&since=&until=``  三率 of the tickets filed in the
                                                           period (``group``: department,
                                                           street, community, category;
                                                           dates ``YYYY-MM-DD`` include the
                                                           day; default the last 30 days):
                                                           one row per group with
                                                           ``received``,
                                                           ``responded_in_time``,
                                                           ``resolved``, ``rated``,
                                                           ``satisfied`` and the three rates
``GET /api/analytics/monthly?month=YYYY-MM&level=street``  每月一题: the month's ranked
                                                           problem classes
=========================================================  ================================

Field meanings: ``docs/analytics.md``. Bad parameters are 422 naming the parameter.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import RequestValidationError

from bot.api.auth import require_bearer_token
from integrations.analytics.reports import AnalyticsReports, PeriodError, parse_period

__all__ = ["create_analytics_router"]

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _invalid(where: str, message: str, value: object) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", where), "msg": message, "type": "value_error", "input": value}]
    )


def create_analytics_router(reports: AnalyticsReports, *, admin_token: str) -> APIRouter:
    """The routes above, on ``reports`` (the process's analytics)."""
    router = APIRouter(
        prefix="/api/analytics",
        dependencies=[Depends(require_bearer_token(admin_token))],
        tags=["analytics"],
    )

    @router.get("/hotspots")
    async def hotspots(days: Annotated[int, Query(ge=1, le=365)] = 30) -> Any:
        now = reports.now()
        items = await reports.hotspots(days, now=now)
        return {"days": days, "as_of": now.astimezone(reports.tz).isoformat(), "items": items}

    @router.get("/rates")
    async def rates(
        group: Literal["department", "street", "community", "category"] = "department",
        since: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
    ) -> Any:
        now = reports.now()
        try:
            period = parse_period(since, until, tz=reports.tz, now=now)
        except PeriodError as exc:
            value = since if exc.field == "since" else until
            raise _invalid(exc.field, str(exc), value) from None
        items = await reports.rates(group, period, now=now)
        return {
            "group": group,
            "since": period.start.astimezone(reports.tz).isoformat(),
            "until": period.end.astimezone(reports.tz).isoformat(),
            "as_of": now.astimezone(reports.tz).isoformat(),
            "items": items,
        }

    @router.get("/monthly")
    async def monthly(
        month: Annotated[str, Query(max_length=7)],
        level: Literal["street", "community"] = "street",
    ) -> Any:
        if not _MONTH_RE.match(month):
            raise _invalid("month", "month must be YYYY-MM, e.g. 2026-07", month)
        items = await reports.monthly(month, level=level)
        return {"month": month, "level": level, "items": items}

    return router
