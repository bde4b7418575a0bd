"""分析 and 一张图: the console's analytics pages (staff and admins).

===================================================  =======================================
``GET  /console/analytics``                          未诉先办 alerts, hot spots, 三率 by
                                                     ``group`` over ``since``…``until``, the
                                                     four quadrants, 每月一题 of ``month``
``GET  /console/analytics/quadrants.png``            the quadrant chart of the period
``GET  /console/analytics/monthly.{png,md,csv}``     the month's ranking: chart, Markdown, CSV
``GET  /console/analytics/clusters/{id}``            one problem cluster: its tickets (masked),
                                                     followers; merge and split forms
``POST /console/analytics/clusters/{id}/merge``      ``others`` (cluster ids) join this one
                                                     (audited ``cluster.merge``)
``POST /console/analytics/clusters/{id}/split``      ``ticket`` (repeated) leave it as a
                                                     problem of their own (``cluster.split``)
``POST /console/analytics/alerts/{id}/ack``          mark an alert seen
``GET  /console/map``                                一张图: tickets, clusters and hot spots on
                                                     a map (Leaflet, shipped with the console)
``GET  /console/api/analytics/map``                  its data: ``days``, ``category``,
                                                     ``status`` (``open``/``all``/a status),
                                                     ``area``
===================================================  =======================================

What the figures mean: ``docs/analytics.md`` and the README's "Reading the analytics".
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from bot.console.context import Console
from bot.console.security import CONTENT_SECURITY_POLICY, StaffSession, client_ip
from integrations.analytics.charts import cjk_font, monthly_png, quadrant_png
from integrations.analytics.errors import AnalyticsError
from integrations.analytics.labels import category_label
from integrations.analytics.monthly import to_csv, to_markdown
from integrations.analytics.reports import (
    GROUPS,
    HOTSPOT_COLUMNS,
    MONTHLY_COLUMNS,
    RATE_COLUMNS,
    Period,
    PeriodError,
    format_cell,
    group_label,
    monthly_dict,
    parse_period,
)
from integrations.analytics.service import Analytics
from integrations.db.models import ClusterRow, TicketRow
from policies.tickets import OPEN_STATUSES, STATUSES, status_label
from privacy import mask_address, mask_text

__all__ = ["build_analytics_router"]

log = logging.getLogger(__name__)

_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CLUSTER_ID = Annotated[str, Path(max_length=32, pattern=r"^[0-9A-Za-z:-]+$")]
_DONE = {
    "merge": "已合并：这些工单按同一个问题统计。",
    "split": "已拆分：选中的工单作为另一个问题统计。",
    "ack": "已标记为已读。",
}
#: tickets and clusters a map shows at most (the newest first)
MAP_LIMIT = 5000


def _tiles_policy(url: str | None) -> str:
    """The CSP of the map page: the base tiles' origin may serve images, nothing else."""
    if not url:
        return CONTENT_SECURITY_POLICY
    parts = urlsplit(url.replace("{s}", "a"))
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    if "{s}" in url and parts.netloc.startswith("a."):
        origin = f"{parts.scheme}://*.{parts.netloc[2:]}"
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")


def build_analytics_router(console: Console) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def analytics() -> Analytics:
        found = console.runtime.analytics
        if found is None:  # the runtime always has them; a bare test app may not
            raise RuntimeError("the console's runtime has no analytics")
        return found

    def when(value: datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(analytics().reports.tz).strftime("%Y-%m-%d %H:%M")

    def period_of(since: str, until: str) -> tuple[Period, str | None]:
        reports = analytics().reports
        now = reports.now()
        try:
            return parse_period(since or None, until or None, tz=reports.tz, now=now), None
        except PeriodError as exc:
            fallback = parse_period(None, None, tz=reports.tz, now=reports.now())
            return fallback, f"时间段有误（{exc}），已显示近30天。"

    def this_month() -> str:
        return analytics().reports.now().astimezone(analytics().reports.tz).strftime("%Y-%m")

    # -- the analytics page -----------------------------------------------------------------

    @router.get("/console/analytics", response_class=HTMLResponse)
    async def analytics_page(
        request: Request,
        session: StaffSession,
        group: str = "department",
        since: Annotated[str, Query(max_length=40)] = "",
        until: Annotated[str, Query(max_length=40)] = "",
        month: Annotated[str, Query(max_length=7)] = "",
        done: str = "",
    ) -> HTMLResponse:
        service = analytics()
        reports = service.reports
        if group not in GROUPS:
            group = "department"
        period, problem = period_of(since, until)
        if not _MONTH_RE.match(month):
            month = this_month()
        rates = await reports.rates(group, period)  # type: ignore[arg-type]
        spots = await reports.hotspots(30)
        chart = await reports.quadrants(period)
        ranking = await reports.monthly_rows(month)
        alerts = await service.alerts.recent(20)
        tz = reports.tz
        shown_until = (period.end - timedelta(seconds=1)).astimezone(tz)
        query = {
            "group": group,
            "since": period.start.astimezone(tz).strftime("%Y-%m-%d"),
            "until": shown_until.strftime("%Y-%m-%d"),
            "month": month,
        }
        return console.render(
            request,
            "analytics.html",
            flash=_DONE.get(done),
            problem=problem,
            query=query,
            groups=[(g, group_label(g)) for g in GROUPS],
            rate_columns=RATE_COLUMNS,
            rates=[
                {"cells": [format_cell(n, r.get(n)) for n, _ in RATE_COLUMNS], "thin": r["thin"]}
                for r in rates
            ],
            hotspot_columns=HOTSPOT_COLUMNS,
            hotspots=spots,
            quadrant_points=[
                {
                    "n": i,
                    "group": p.group,
                    "quadrant": p.quadrant.label,
                    "tickets": p.tickets,
                    "x": f"{p.x:.2f}" if chart.x_axis == "difficulty" else f"{p.x:.0f}",
                    "y": f"{100 * p.y:.1f}%",
                }
                for i, p in enumerate(chart.points, start=1)
            ],
            unplaced=chart.unplaced,
            numbered=cjk_font() is None,
            chart_query=urlencode({"since": query["since"], "until": query["until"]}),
            monthly_columns=MONTHLY_COLUMNS,
            monthly=[monthly_dict(r) for r in ranking],
            month_query=urlencode({"month": month}),
            alerts=[
                {
                    "id": a.id,
                    "kind": "突增" if a.kind == "surge" else "热点",
                    "area": a.area or "",
                    "category": category_label(a.category) if a.category else "",
                    "cluster_id": a.cluster_id,
                    "why": str(a.payload.get("why") or ""),
                    "at": when(a.created_at),
                    "webhook": {
                        "sent": "已推送", "pending": "待推送", "failed": "推送失败", "off": "",
                    }.get(a.webhook_status, a.webhook_status),
                    "acknowledged_by": a.acknowledged_by,
                }
                for a in alerts
            ],
        )

    def _period_args(since: str, until: str) -> Period:
        return period_of(since, until)[0]

    @router.get("/console/analytics/quadrants.png")
    async def quadrants_png(
        session: StaffSession,
        since: Annotated[str, Query(max_length=40)] = "",
        until: Annotated[str, Query(max_length=40)] = "",
    ) -> Response:
        chart = await analytics().reports.quadrants(_period_args(since, until))
        png = await asyncio.to_thread(quadrant_png, chart)
        return Response(png, media_type="image/png")

    async def _ranking(month: str) -> list[Any]:
        if not _MONTH_RE.match(month):
            month = this_month()
        return await analytics().reports.monthly_rows(month)

    @router.get("/console/analytics/monthly.png")
    async def month_png(session: StaffSession, month: str = "") -> Response:
        ranking = await _ranking(month)
        png = await asyncio.to_thread(monthly_png, ranking, title=f"每月一题候选（{month}）")
        return Response(png, media_type="image/png")

    @router.get("/console/analytics/monthly.md")
    async def month_markdown(session: StaffSession, month: str = "") -> Response:
        ranking = await _ranking(month)
        text = to_markdown(ranking, title=f"每月一题候选（{month}）", top=None)
        return Response(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="monthly-{month}.md"'},
        )

    @router.get("/console/analytics/monthly.csv")
    async def month_csv(session: StaffSession, month: str = "") -> Response:
        ranking = await _ranking(month)
        return Response(
            "\ufeff" + to_csv(ranking),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="monthly-{month}.csv"'},
        )

    # -- one cluster: merge and split ----------------------------------------------------------

    async def _cluster_page(
        request: Request, cluster_id: str, *, problem: str | None = None, status: int = 200,
        flash: str | None = None,
    ) -> HTMLResponse:
        service = analytics()
        keeper = service.keeper
        if not keeper.ready:
            return console.render(
                request, "error.html", 503, message="问题聚类正在整理中，请稍后刷新。"
            )
        try:
            view = keeper.cluster(cluster_id)
        except AnalyticsError:
            return console.render(request, "error.html", 404, message="没有这个问题编号。")
        async with service.tickets.core.read() as db:
            found = (
                await db.execute(select(TicketRow).where(TicketRow.id.in_(list(view.ticket_ids))))
            ).scalars()
            tickets = {r.id: r for r in found}
        followers = await service.store.followers(view.ticket_ids)
        ordered = sorted(
            (tickets[t] for t in view.ticket_ids if t in tickets),
            key=lambda r: (r.created_at, r.id),
        )
        rows = [
            {
                "id": r.id,
                "status": r.status,
                "status_label": status_label(r.status),
                "category": category_label(r.category),
                "location": mask_address(r.location),
                "description": mask_text(r.description)[:120],
                "created": when(r.created_at),
            }
            for r in ordered
        ]
        return console.render(
            request,
            "cluster.html",
            status,
            flash=flash,
            problem=problem,
            cluster={
                "id": view.id,
                "category": category_label(view.category),
                "place": view.place,
                "first": when(view.first_at),
                "last": when(view.last_at),
                "size": view.size,
                "residents": view.residents,
            },
            rows=rows,
            followers=[
                {"ticket_id": f.ticket_id, "at": when(f.created_at),
                 "description": mask_text(f.description)[:120]}
                for f in followers
            ],
        )

    @router.get("/console/analytics/clusters/{cluster_id}", response_class=HTMLResponse)
    async def cluster_page(
        request: Request, session: StaffSession, cluster_id: _CLUSTER_ID, done: str = ""
    ) -> HTMLResponse:
        return await _cluster_page(request, cluster_id, flash=_DONE.get(done))

    @router.post("/console/analytics/clusters/{cluster_id}/merge", response_model=None)
    async def merge(
        request: Request,
        session: StaffSession,
        cluster_id: _CLUSTER_ID,
        others: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        ids = [cluster_id, *[o for o in re.split(r"[\s,，、;；]+", others) if o]]
        keeper = analytics().keeper
        try:
            resolved = await keeper.resolve(ids)  # a ticket id names its cluster
            view = await keeper.merge(
                list(dict.fromkeys(resolved)), actor=session.username, ip=client_ip(request)
            )
        except AnalyticsError as exc:
            return await _cluster_page(
                request, cluster_id, problem=_refusal(exc, "合并"), status=409
            )
        return RedirectResponse(
            f"/console/analytics/clusters/{view.id}?done=merge", status_code=303
        )

    @router.post("/console/analytics/clusters/{cluster_id}/split", response_model=None)
    async def split(
        request: Request,
        session: StaffSession,
        cluster_id: _CLUSTER_ID,
    ) -> Response:
        form = await request.form()
        chosen = [str(v) for v in form.getlist("ticket")][:500]
        try:
            _kept, moved = await analytics().keeper.split(
                cluster_id, chosen, actor=session.username, ip=client_ip(request)
            )
        except AnalyticsError as exc:
            return await _cluster_page(
                request, cluster_id, problem=_refusal(exc, "拆分"), status=409
            )
        return RedirectResponse(
            f"/console/analytics/clusters/{moved.id}?done=split", status_code=303
        )

    @router.post("/console/analytics/alerts/{alert_id}/ack", response_model=None)
    async def acknowledge(
        request: Request,
        session: StaffSession,
        alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    ) -> Response:
        await analytics().alerts.acknowledge(alert_id, session.username)
        await console.audit(request, session, "alert.ack", f"alert:{alert_id}")
        return RedirectResponse("/console/analytics?done=ack", status_code=303)

    # -- 一张图 ---------------------------------------------------------------------------------

    @router.get("/console/map", response_class=HTMLResponse)
    async def map_page(request: Request, session: StaffSession) -> HTMLResponse:
        settings = console.runtime.settings
        taxonomy = analytics().tickets.core.taxonomy
        areas = analytics().keeper.areas.areas
        response = console.render(
            request,
            "map.html",
            categories=[(c, category_label(c)) for c in taxonomy.report_ids],
            statuses=[(s, status_label(s)) for s in STATUSES],
            streets=[a.name for a in areas if a.level == "street"],
            communities=[a.name for a in areas if a.level == "community"],
            tiles=bool(settings.analytics.map_tiles_url),
        )
        tiles_url = settings.analytics.map_tiles_url
        response.headers["content-security-policy"] = _tiles_policy(tiles_url)
        return response

    @router.get("/console/api/analytics/map")
    async def map_data(
        session: StaffSession,
        days: Annotated[int, Query(ge=1, le=3660)] = 30,
        category: Annotated[str, Query(max_length=64)] = "",
        status: Annotated[str, Query(max_length=16)] = "open",
        area: Annotated[str, Query(max_length=64)] = "",
    ) -> JSONResponse:
        return JSONResponse(await _map(analytics(), days, category, status, area, console))

    return router


def _refusal(exc: AnalyticsError, verb: str) -> str:
    text = str(exc)
    if "still being built" in text:
        return "问题聚类正在整理中，请稍后再试。"
    if "no cluster" in text:
        return f"{verb}没有成功：找不到这个问题编号（可能已被合并），请刷新后再试。"
    if "both sides" in text:
        return "拆分时请至少选一张工单，并留下至少一张。"
    if "at least two" in text:
        return "合并时请填写另一个问题编号（或其中一张工单的编号）。"
    return f"{verb}没有成功：{text}"


async def _map(
    service: Analytics, days: int, category: str, status: str, area: str, console: Console
) -> dict[str, Any]:
    """Tickets, clusters and hot spots of the last ``days`` days, filtered, for the map."""
    now = service.store.now()
    since = now - timedelta(days=days)
    conditions = [TicketRow.created_at >= since]
    if category:
        conditions.append(TicketRow.category == category)
    if status == "open":
        conditions.append(TicketRow.status.in_(list(OPEN_STATUSES)))
    elif status in STATUSES:
        conditions.append(TicketRow.status == status)
    if area:
        conditions.append((TicketRow.street == area) | (TicketRow.community == area))
    rules = service.keeper.areas
    async with service.store.core.read() as session:
        rows = (
            await session.execute(
                select(
                    TicketRow.id, TicketRow.category, TicketRow.status, TicketRow.latitude,
                    TicketRow.longitude, TicketRow.street, TicketRow.community,
                    TicketRow.created_at,
                )
                .where(*conditions)
                .order_by(TicketRow.created_at.desc())
                .limit(MAP_LIMIT)
            )
        ).all()
        cluster_rows = list(
            (
                await session.execute(
                    select(ClusterRow)
                    .where(ClusterRow.last_at >= since)
                    .order_by(ClusterRow.last_at.desc())
                    .limit(MAP_LIMIT)
                )
            ).scalars()
        )
    tickets = []
    for row in rows:
        if row.latitude is not None and row.longitude is not None:
            point, placed = (row.latitude, row.longitude), "exact"
        else:
            where = rules.position(row.street, row.community, row.id)
            if where is None:
                continue
            point, placed = where, "area"
        tickets.append(
            {
                "id": row.id,
                "lat": point[0],
                "lon": point[1],
                "placed": placed,
                "category": category_label(row.category),
                "status": row.status,
                "status_label": status_label(row.status),
                "area": row.community or row.street or "",
            }
        )
    clusters = [
        {
            "id": c.id,
            "lat": c.latitude,
            "lon": c.longitude,
            "category": category_label(c.category),
            "place": c.place,
            "size": c.size,
            "residents": c.residents,
            "area": c.community or c.street or "",
        }
        for c in cluster_rows
        if c.latitude is not None
        and c.longitude is not None
        and (not category or c.category == category)
        and (not area or area in (c.street, c.community))
    ]
    hot = {h["id"]: h for h in await service.reports.hotspots(min(days, 365), now=now)}
    hotspots = []
    for cluster in clusters:
        spot = hot.get(cluster["id"])
        if spot is not None:
            hotspots.append(
                {"id": cluster["id"], "lat": cluster["lat"], "lon": cluster["lon"],
                 "score": spot["score"], "why": spot["why"]}
            )
    settings = console.runtime.settings
    return {
        "days": days,
        "tickets": tickets,
        "unplaced": len(rows) - len(tickets),
        "clusters": clusters,
        "hotspots": hotspots,
        "areas": [
            {"name": a.name, "level": a.level, "lat": a.center[0], "lon": a.center[1],
             "radius_m": a.radius_m}
            for a in rules.areas
            if a.center is not None
        ],
        "tiles": (
            {
                "url": settings.analytics.map_tiles_url,
                "attribution": settings.analytics.map_tiles_attribution,
            }
            if settings.analytics.map_tiles_url
            else None
        ),
    }
