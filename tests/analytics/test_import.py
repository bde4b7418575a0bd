"""``intake tickets import``: a 12345 export loads as history; every bad row is reported with
its line number and reason; importing again adds nothing; the analytics see the history."""

# ruff: noqa: E501 - the export below is a CSV file as a hotline writes it, one row a line

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from integrations.analytics.importer import import_tickets
from integrations.analytics.service import Analytics
from integrations.tickets import TicketService

EXPORT = """\
受理时间,问题类别,事发地址,诉求内容,承办单位,办理状态,满意度,来电号码,签收时间,办结时间
2026-07-01 08:30,路灯,解放路与中山街路口,路灯不亮好几天了,,已办结,满意,13800001111,2026-07-01 10:00,2026-07-02 09:00
2026/7/2 9:15,路灯不亮,中山街解放路口东侧,晚上路灯一直不亮,,已回访,不满意,13800002222,,
2026年7月3日 10时20分,市政设施,幸福小区3号楼,楼下的灯坏了,物业,办理中,,13800003333,,
,路灯,和平路,没有时间,,已办结,,,,
2026-07-04 11:00,路灯,幸福路12号,灯坏了,,奇怪状态,满意,,,
2026-07-05 11:00,路灯,,灯坏了,,已办结,还可以吧,,,
2026-07-06 11:00,路灯,幸福路12号,灯坏了,,已受理,满意,,,
2026-07-01 08:30,路灯,解放路与中山街路口,路灯不亮好几天了,,已办结,满意,13800001111,2026-07-01 10:00,2026-07-02 09:00

2026-07-07 12:00,井盖,光明路5号,井盖破了,,已办结,,,2026-07-07 08:00,
"""


def test_import_reports_bad_rows_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path / "data"))
    for name in ("DATABASE_URL", "REDIS_URL", "INTAKE_ENV"):
        monkeypatch.delenv(name, raising=False)
    export = tmp_path / "export.csv"
    export.write_text(EXPORT, encoding="utf-8-sig")  # as Excel saves it

    assert main(["tickets", "import", str(export)]) == 1  # some rows were bad
    out = capsys.readouterr().out
    assert "共 9 行，已导入 3 行，重复（已导入过）1 行，有问题 5 行，提醒 2 条" in out
    assert "第5行：未导入：时间为空" in out
    assert "第6行：未导入：状态“奇怪状态”不认识" in out
    assert "第7行：未导入：地址为空；满意度“还可以吧”不认识" in out
    assert "第8行：未导入：未办结的工单不会有满意度" in out
    assert "第11行：未导入：签收时间早于受理时间" in out
    assert "第4行：类别“市政设施”对应不上，已按“其他诉求”导入" in out
    assert "第9行：与第2行完全相同，未重复导入" in out

    # Again: nothing new, the same report.
    assert main(["tickets", "import", str(export)]) == 1
    assert "已导入 0 行，重复（已导入过）4 行" in capsys.readouterr().out

    # The analytics see the history (the CLI built the clusters: no server runs).
    assert main(["analytics", "rates", "--group", "category", "--since", "2026-07-01",
                 "--until", "2026-07-31", "--csv", "-"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("分组,受理,按时签收,应签收,响应率")
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    lamps = rows["路灯不亮"]
    # Two lamp tickets: one signed in time (1.5 h), one imported without a signing time (not
    # judged on response); both finished; rated satisfied and unsatisfied.
    assert lamps[1:5] == ["2", "1", "1", "100.0%"]
    assert lamps[5:8] == ["2", "2", "100.0%"]
    assert lamps[8:11] == ["2", "1", "50.0%"]
    assert rows["其他诉求"][1] == "1"

    # Unknown file: a clear error.
    assert main(["tickets", "import", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


async def test_import_on_every_database(service: TicketService, analytics: Analytics) -> None:
    result = await import_tickets(service, EXPORT)
    assert (result.rows, result.imported, result.already) == (9, 3, 1)
    assert [p.line for p in result.problems] == [5, 6, 7, 8, 11]
    facts = {f.description: f for f in await analytics.store.facts(ids=result.ticket_ids)}
    first = facts["路灯不亮好几天了"]
    assert first.status == "resolved" and first.rating == "satisfied" and first.timed
    assert first.signed_at is not None and first.resolved_at is not None
    assert first.openid is not None and first.openid.startswith("tel:")
    untimed = facts["晚上路灯一直不亮"]
    assert not untimed.timed and untimed.due_at is None and untimed.signed_at is None
    # An address in the grid rules gets its street and community, as new tickets do.
    estate = facts["楼下的灯坏了"]
    assert (estate.street, estate.community, estate.category) == (
        "东城街道", "幸福社区", "report.other",
    )
    assert estate.department == "物业" and estate.status == "in_progress"
    ticket = await service.queries.get(first.id)
    assert ticket.id.startswith("20260701-") and ticket.delivery is None  # history: no dispatch
    assert [(e.actor, e.to_status) for e in ticket.history] == [
        ("import", "received"), ("import", "in_progress"), ("import", "resolved"),
    ]
    again = await import_tickets(service, EXPORT)
    assert (again.imported, again.already) == (0, 4)
    # The keeper takes the history in (older than its window: a rebuild, in time order).
    await analytics.keeper.start()
    assignments = await analytics.store.assignments()
    assert set(result.ticket_ids) <= set(assignments)
