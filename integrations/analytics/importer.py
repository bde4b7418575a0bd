"""Importing past tickets from a 12345 export (CSV), so analytics have a history on day one.

``intake tickets import FILE.csv`` calls :func:`import_tickets`. The rules of the file
(headers, times, statuses, ratings, categories) are :mod:`policies.history_import`.

* Every row is either imported, recognised as already imported (the same row imported
  before: its ``source_key`` is ``import:`` + a hash of its time, category, address,
  content and phone), or reported as a **problem** with its line number and the reason —
  none is dropped silently. A row whose category is unknown is imported under
  ``report.other`` and reported as a **warning**.
* Imported tickets are history: no delivery to the dispatch system, no push to anyone.
  Their timeline has the filing, and the signing and finishing at the export's 签收时间
  and 办结时间 when given; a status reached at an unknown time is recorded by
  ``import:untimed`` (those tickets are not judged on response or lateness).
* The street and community are set from the address like any new ticket; the phone is
  kept (a hotline caller counts once however often they called) and the free text is
  redacted like the bot's (ID and card numbers, phones in the words).

The file is read as UTF-8 (with or without BOM), else GB18030 (Excel in China saves it).
Rows are written in transactions of a few hundred.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from integrations.analytics.store import UNTIMED_ACTOR
from integrations.db.models import TicketRow, TimelineRow
from integrations.tickets import TicketService
from integrations.tickets.core import next_ticket_id
from policies.history_import import (
    CategoryMatcher,
    header_fields,
    parse_rating,
    parse_status,
    parse_time,
)
from policies.tickets import DEFAULT_GRID
from privacy import redact

__all__ = ["ImportProblem", "ImportResult", "import_tickets", "read_csv_text"]

_BATCH = 300
_MAX_TEXT = 4000
ACTOR = "import"


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """A row not imported (or imported with a warning): its line in the file and why."""

    line: int
    reason: str


@dataclass(slots=True)
class ImportResult:
    """What an import did."""

    rows: int = 0
    imported: int = 0
    already: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    warnings: list[ImportProblem] = field(default_factory=list)
    ticket_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    created_at: datetime
    category: str
    address: str
    content: str
    department: str
    status: str
    rating: str | None
    phone: str
    signed_at: datetime | None
    resolved_at: datetime | None
    source_key: str


def read_csv_text(path: str | Path) -> str:
    """The file's text: UTF-8 (BOM or not), else GB18030."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _cell(cells: Sequence[str], index: int | None) -> str:
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _parse_rows(
    text: str, service: TicketService, result: ImportResult
) -> list[_Row]:
    tz = service.core.tz
    taxonomy = service.core.taxonomy
    matcher = CategoryMatcher.of(taxonomy)
    reader = csv.reader(io.StringIO(text))
    try:
        headers = next(reader)
    except StopIteration:
        result.problems.append(ImportProblem(1, "文件是空的"))
        return []
    columns, missing = header_fields(headers)
    if missing:
        result.problems.append(
            ImportProblem(1, f"表头缺少必需的列：{'、'.join(missing)}（见 docs/analytics.md）")
        )
        return []
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue  # an empty line is not a row
        result.rows += 1
        problems: list[str] = []

        def get(name: str, cells: Sequence[str] = cells) -> str:
            return _cell(cells, columns.get(name))

        created = signed = resolved = None
        try:
            created = parse_time(get("time"), tz) if get("time") else None
            if created is None:
                problems.append("时间为空")
        except ValueError as exc:
            problems.append(str(exc))
        for name, label in (("signed_at", "签收时间"), ("resolved_at", "办结时间")):
            if get(name):
                try:
                    value = parse_time(get(name), tz)
                except ValueError as exc:
                    problems.append(f"{label}：{exc}")
                    continue
                if name == "signed_at":
                    signed = value
                else:
                    resolved = value
        address, content = get("address"), get("content")
        if not address:
            problems.append("地址为空")
        if not content:
            problems.append("内容为空")
        if len(address) > _MAX_TEXT or len(content) > _MAX_TEXT:
            problems.append(f"地址或内容超过{_MAX_TEXT}字")
        status = "resolved"
        try:
            status = parse_status(get("status"))
        except ValueError as exc:
            problems.append(str(exc))
        rating = None
        try:
            rating = parse_rating(get("rating"))
        except ValueError as exc:
            problems.append(str(exc))
        if rating is not None and status not in ("resolved", "closed", "reopened"):
            problems.append(f"未办结的工单不会有满意度（状态：{get('status') or '空'}）")
        for moment, label in ((signed, "签收时间"), (resolved, "办结时间")):
            if moment is not None and created is not None and moment < created:
                problems.append(f"{label}早于受理时间")
        if problems or created is None:
            result.problems.append(ImportProblem(line, "；".join(problems)))
            continue
        category = matcher.match(get("category"))
        if category is None:
            category = "report.other"
            result.warnings.append(
                ImportProblem(line, f"类别“{get('category')}”对应不上，已按“其他诉求”导入")
            )
        phone = get("phone")[:64]
        digest = hashlib.sha256(
            "\x1f".join(
                (created.isoformat(), get("category"), address, content, phone)
            ).encode("utf-8")
        ).hexdigest()[:32]
        key = f"import:{digest}"
        if key in seen:
            result.warnings.append(ImportProblem(line, f"与第{seen[key]}行完全相同，未重复导入"))
            result.already += 1
            continue
        seen[key] = line
        rows.append(
            _Row(
                line=line,
                created_at=created,
                category=category,
                address=address,
                content=content,
                department=get("department")[:64]
                or (taxonomy.department(category) or DEFAULT_GRID),
                status=status,
                rating=rating,
                phone=phone,
                signed_at=signed,
                resolved_at=resolved,
                source_key=key,
            )
        )
    return rows


async def import_tickets(
    service: TicketService, text: str, *, dry_run: bool = False
) -> ImportResult:
    """Import the CSV ``text`` (see the module docstring); ``dry_run``: check only."""
    result = ImportResult()
    rows = _parse_rows(text, service, result)
    if dry_run or not rows:
        return result
    for start in range(0, len(rows), _BATCH):
        await _store(service, rows[start : start + _BATCH], result)
    return result


async def _store(service: TicketService, rows: Sequence[_Row], result: ImportResult) -> None:
    core = service.core
    async with core.write() as session:
        existing = set(
            (
                await session.execute(
                    select(TicketRow.source_key).where(
                        TicketRow.source_key.in_([r.source_key for r in rows])
                    )
                )
            ).scalars()
        )
        for row in rows:
            if row.source_key in existing:
                result.already += 1
                continue
            created = row.created_at
            area = service.areas.locate(row.address)
            urgent = core.taxonomy.is_urgent(row.category)
            ticket = TicketRow(
                id=await next_ticket_id(session, core.local_day(created)),
                openid=None,
                category=row.category,
                description=redact(row.content, keep_phones=False),
                location=redact(row.address, keep_phones=False),
                phone=redact(row.phone, keep_phones=True),
                photos=[],
                chat=None,
                source_key=row.source_key,
                latitude=None,
                longitude=None,
                urgent=urgent,
                department=row.department,
                grid=None,
                street=area.street,
                community=area.community,
                level=core.sla.initial_level,
                status=row.status,
                sla_due_at=core.sla.due_at(row.category, urgent, created),
                rating=row.rating,
                rating_reason=None,
                channel="phone",
                generation=1,
                polled_at=None,
                created_at=created,
                updated_at=row.resolved_at or created,
            )
            session.add(ticket)
            await session.flush()
            for at, actor, before, after, note in _timeline(row):
                session.add(
                    TimelineRow(
                        ticket_id=ticket.id, at=at, actor=actor, from_status=before,
                        to_status=after, note=note,
                    )
                )
            result.imported += 1
            result.ticket_ids.append(ticket.id)


def _timeline(row: _Row) -> list[tuple[datetime, str, str | None, str, str | None]]:
    """(at, actor, from, to, note) entries of an imported ticket."""
    filed = row.created_at
    entries: list[tuple[datetime, str, str | None, str, str | None]] = [
        (filed, ACTOR, None, "received", f"历史工单导入（第{row.line}行）"),
    ]
    status = row.status
    current = "received"
    if status == "received":
        return entries
    if status == "dispatched":
        entries.append((filed, ACTOR, current, "dispatched", None))
        return entries
    if row.signed_at is not None:
        entries.append((row.signed_at, ACTOR, current, "in_progress", "签收"))
        current = "in_progress"
    elif status == "in_progress":
        entries.append((filed, UNTIMED_ACTOR, current, "in_progress", "签收时间不详"))
        return entries
    if status == "in_progress":
        return entries
    final = "resolved" if status in ("closed", "reopened") else status
    when = row.resolved_at or filed
    actor = ACTOR if row.resolved_at is not None else UNTIMED_ACTOR
    entries.append((when, actor, current, final, None if row.resolved_at else "办结时间不详"))
    if status in ("closed", "reopened"):
        entries.append((when, actor, final, status, "历史评价" if row.rating else None))
    return entries
