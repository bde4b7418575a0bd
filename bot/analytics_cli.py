"""``intake analytics hotspots|rates|monthly`` and ``intake tickets import FILE.csv``.

The analytics commands print the same rows as ``/api/analytics/*`` as a table (``--csv
FILE`` writes CSV instead, ``-`` for standard output); ``monthly --out DIR`` also writes
the month's Markdown, CSV and bar chart. They read the database directly, so they work
without a server; when tickets were never assigned to clusters (no server has run since
they were filed or imported) and no server keeps the clusters now, they build them first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings

__all__ = ["add_analytics_parser", "add_tickets_parser"]

T = TypeVar("T")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * max(0, width - _width(text))
    return gap + text if right else text + gap


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """An aligned text table (Chinese characters count double), numbers to the right."""
    from integrations.analytics.reports import format_cell

    cells = [[format_cell(name, row.get(name)) for name, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [
        max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(headers)
    ]
    numeric = [
        all(isinstance(row.get(name), int | float) or row.get(name) is None for row in rows)
        for name, _ in columns
    ]
    lines = ["  ".join(_pad(h, w, False) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(
                _pad(c, w, n) for c, w, n in zip(row, widths, numeric, strict=True)
            ).rstrip()
        )
    return "\n".join(lines)


async def _with_analytics(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(analytics)`` on the configured database (migrated first)."""
    from bot.runtime import analytics_config
    from integrations.analytics.keeper import LEASE
    from integrations.analytics.service import Analytics
    from integrations.db import create_engine
    from integrations.db.migrate import upgrade_database
    from integrations.tickets import TicketConfig, TicketService

    url = settings.effective_database_url
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    try:
        service = TicketService(engine, config=TicketConfig.from_settings(settings))
        analytics = Analytics(service, analytics_config(settings))
        try:
            return await work(analytics)
        finally:
            if analytics.keeper.writer:
                await analytics.store.release_lease(LEASE, analytics.keeper.holder)
    finally:
        await engine.dispose()


async def _current_clusters(analytics: Any) -> None:
    """Build (and store) the clusters when tickets wait for them and no server keeps them."""
    if not await analytics.store.unassigned(1):
        return
    from integrations.analytics.keeper import LEASE

    if not await analytics.store.take_lease(LEASE, analytics.keeper.holder, 600):
        print("（服务正在运行，新工单的问题聚类由它完成，稍后数字会更新）", file=sys.stderr)
        return
    print("正在整理问题聚类……", file=sys.stderr)
    await analytics.keeper.rebuild()


def _write(text: str, target: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8-sig")  # Excel reads the BOM
        print(f"已写入 {target}", file=sys.stderr)


def cmd_analytics(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.analytics.reports import (
        HOTSPOT_COLUMNS,
        MONTHLY_COLUMNS,
        RATE_COLUMNS,
        PeriodError,
        parse_period,
        to_csv_text,
    )

    async def run(analytics: Any) -> int:
        await _current_clusters(analytics)
        reports = analytics.reports
        columns: Sequence[tuple[str, str]]
        if args.analytics_command == "hotspots":
            rows = await reports.hotspots(args.days)
            columns = HOTSPOT_COLUMNS
            title = f"热点问题（近{args.days}天，至少3位居民反映）"
        elif args.analytics_command == "rates":
            try:
                period = parse_period(
                    args.since, args.until, tz=reports.tz, now=reports.now()
                )
            except PeriodError as exc:
                print(f"intake: --{exc.field}: {exc}", file=sys.stderr)
                return 2
            rows = await reports.rates(args.group, period)
            columns = RATE_COLUMNS
            title = (
                f"三率（按{args.group}，{period.start.astimezone(reports.tz):%Y-%m-%d} 至 "
                f"{period.end.astimezone(reports.tz):%Y-%m-%d %H:%M} 受理的工单）"
            )
        else:
            try:
                ranking = await reports.monthly_rows(args.month, level=args.level)
            except ValueError as exc:
                print(f"intake: --month: {exc}", file=sys.stderr)
                return 2
            from integrations.analytics.reports import monthly_dict

            rows = [monthly_dict(r) for r in ranking]
            columns = MONTHLY_COLUMNS
            title = f"每月一题候选（{args.month}）"
            if args.out:
                _export_month(ranking, args.month, Path(args.out))
        if args.csv:
            _write(to_csv_text(rows, columns), args.csv)
        else:
            print(title)
            print(format_table(rows, columns) if rows else "（没有符合条件的数据）")
        return 0

    return asyncio.run(_with_analytics(settings, run))


def _export_month(ranking: Sequence[Any], month: str, out: Path) -> None:
    from integrations.analytics.monthly import chart_png, to_csv, to_markdown

    out.mkdir(parents=True, exist_ok=True)
    title = f"每月一题候选（{month}）"
    chart = chart_png(ranking, out / f"monthly-{month}.png", title=title)
    markdown = to_markdown(ranking, title=title, top=None) + f"\n![{title}]({chart.name})\n"
    (out / f"monthly-{month}.md").write_text(markdown, encoding="utf-8")
    (out / f"monthly-{month}.csv").write_text(to_csv(ranking), encoding="utf-8-sig")
    print(f"已导出 {out / f'monthly-{month}'}.md / .csv / .png", file=sys.stderr)


def cmd_tickets(args: argparse.Namespace, settings: Settings) -> int:
    from integrations.analytics.importer import import_tickets, read_csv_text

    try:
        text = read_csv_text(args.file)
    except OSError as exc:
        print(f"intake: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    async def run(analytics: Any) -> int:
        result = await import_tickets(analytics.tickets, text, dry_run=args.dry_run)
        if args.dry_run:
            verb, count = "可导入", result.rows - len(result.problems) - result.already
        else:
            verb, count = "已导入", result.imported
        print(
            f"{args.file}：共 {result.rows} 行，{verb} {count} 行，"
            f"重复（已导入过）{result.already} 行，有问题 {len(result.problems)} 行，"
            f"提醒 {len(result.warnings)} 条"
        )
        for problem in result.problems:
            print(f"  第{problem.line}行：未导入：{problem.reason}")
        for warning in result.warnings:
            print(f"  第{warning.line}行：{warning.reason}")
        if result.imported:
            await _current_clusters(analytics)
        return 1 if result.problems else 0

    return asyncio.run(_with_analytics(settings, run))


def add_analytics_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    analytics = sub.add_parser(
        "analytics", help="hot spots, 三率 and 每月一题 as tables or CSV"
    )
    commands = analytics.add_subparsers(dest="analytics_command", required=True)
    hot = commands.add_parser("hotspots", help="problems many residents keep reporting")
    hot.add_argument("--days", type=int, default=30, choices=range(1, 366), metavar="1-365")
    rates = commands.add_parser("rates", help="response, resolution and satisfaction rates")
    rates.add_argument(
        "--group", choices=("department", "street", "community", "category"),
        default="department",
    )
    rates.add_argument("--since", help="first day, YYYY-MM-DD (default: 30 days ago)")
    rates.add_argument("--until", help="last day, YYYY-MM-DD (default: now)")
    monthly = commands.add_parser("monthly", help="每月一题: the month's problem classes")
    monthly.add_argument("--month", required=True, help="YYYY-MM")
    monthly.add_argument("--level", choices=("street", "community"), default="street")
    monthly.add_argument("--out", help="also write monthly-YYYY-MM.md, .csv and .png here")
    for command in (hot, rates, monthly):
        command.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-': stdout)")
        command.set_defaults(func=handler)


def add_tickets_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    tickets = sub.add_parser("tickets", help="tickets: import history")
    commands = tickets.add_subparsers(dest="tickets_command", required=True)
    load = commands.add_parser(
        "import", help="load past tickets from a 12345 export (CSV); bad rows are listed"
    )
    load.add_argument("file", help="CSV with time, category, address, content, … columns")
    load.add_argument("--dry-run", action="store_true", help="check the file, import nothing")
    load.set_defaults(func=handler)
