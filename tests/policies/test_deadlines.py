"""签收/办结 deadlines in working time and their warnings (policies/deadlines.py), with a
frozen clock (``now`` is passed in) on the real 2026 calendar: 中秋 Fri 25 – Sun 27
September and 国庆 Thu 1 – Wed 7 October off; Sunday 20 September and Saturday 10 October
are working days (调休). Default office hours 09:00–12:00 and 13:30–18:00."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies.deadlines import (
    ClockRules,
    Limit,
    TicketTimes,
    clock_statuses,
    due_warnings,
    load_clock_rules,
    parse_clock_rules,
    ticket_deadlines,
    warning_text,
)
from policies.workdays import (
    WorkCalendar,
    WorkingClock,
    load_calendar_overrides,
    load_department_hours,
    official_calendar,
)

CN = ZoneInfo("Asia/Shanghai")
RULES = load_clock_rules()  # the packaged policies/data/sla.yaml
HOURS = load_department_hours()  # the packaged policies/data/office_hours.yaml
CALENDAR = official_calendar()


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CN)


def clock_of(department: str = "市政照明管理处", calendar: WorkCalendar = CALENDAR) -> WorkingClock:
    return WorkingClock(calendar, HOURS.for_department(department), CN)


def deadlines(
    category: str,
    started: datetime,
    *,
    urgent: bool = False,
    department: str = "市政照明管理处",
    calendar: WorkCalendar = CALENDAR,
) -> tuple[datetime, datetime, bool]:
    d = ticket_deadlines(
        RULES,
        clock_of(department, calendar),
        category=category,
        urgent=urgent,
        started_at=started,
    )
    return d.sign_for, d.completion, d.provisional


# -- deadlines ---------------------------------------------------------------------------------


def test_filed_on_the_friday_before_the_national_day_week() -> None:
    friday = at(9, 25, 10)  # 中秋 already: a holiday, the office is closed
    # Default (路灯): sign for within 2 working hours, complete within 3 working days.
    assert deadlines("report.streetlight", friday) == (at(9, 28, 11), at(9, 30, 18), False)
    # 5 working days: Mon 28, Tue 29, Wed 30, then over 国庆 to Thu 8 and Fri 9 October.
    assert deadlines("report.illegal_construction", friday)[1] == at(10, 9, 18)
    # 10 working days: … Fri 9, Sat 10 (调休), Mon 12 … Thu 15.
    assert deadlines("report.housing_land", friday)[1] == at(10, 15, 18)
    # An urgent category: half an hour to sign for, one working day to complete.
    assert deadlines("report.elevator", friday)[:2] == (at(9, 28, 9, 30), at(9, 28, 18))


def test_filed_on_the_last_afternoon_before_the_break() -> None:
    thursday = at(9, 24, 17)  # one office hour left before 中秋 and the weekend
    sign_for, completion, _ = deadlines("report.streetlight", thursday)
    assert sign_for == at(9, 28, 10)  # 17:00–18:00, then Monday 09:00–10:00
    assert completion == at(9, 30, 18)  # the day of dispatch does not count
    # Any category marked urgent gets the urgent limits.
    urgent = deadlines("report.noise", thursday, urgent=True)
    assert urgent[:2] == (at(9, 24, 17, 30), at(9, 28, 18))


def test_make_up_working_days_count() -> None:
    # Dispatched on Friday 9 October at 17:00: the clock goes on on Saturday 10 (调休).
    assert deadlines("report.streetlight", at(10, 9, 17))[0] == at(10, 10, 10)
    assert deadlines("report.manhole", at(10, 9, 17))[1] == at(10, 10, 18)
    # Saturday 19 September is a rest day but Sunday 20 a working day.
    assert deadlines("report.streetlight", at(9, 19, 10))[0] == at(9, 20, 11)
    # An ordinary Saturday is not: dispatched on Friday 16 October at 17:00 → Monday.
    assert deadlines("report.streetlight", at(10, 16, 17))[0] == at(10, 19, 10)


def test_a_duty_desk_keeps_its_own_hours() -> None:
    # 消防救援站 works around the clock, holidays included (office_hours.yaml).
    night = at(10, 3, 23)
    sign_for, completion, _ = deadlines("report.ebike_charging", night, department="消防救援站")
    assert sign_for == at(10, 3, 23, 30)
    assert completion == datetime(2026, 10, 5, tzinfo=CN)  # the end of Sunday 4 October
    # The same ticket at an ordinary department waits for the office after 国庆.
    assert deadlines("report.ebike_charging", night)[0] == at(10, 8, 9, 30)


def test_deadlines_into_an_unknown_year_are_provisional_until_it_is_loaded(
    tmp_path: Path,
) -> None:
    new_year_eve = at(12, 31, 10)
    assert deadlines("report.streetlight", new_year_eve) == (
        at(12, 31, 12),
        at(1, 5, 18, year=2027),  # Fri 1, Mon 4, Tue 5: counted as plain weekdays
        True,
    )
    path = tmp_path / "2027.yaml"
    path.write_text("holidays:\n  元旦: 2027-01-01\n", encoding="utf-8")
    calendar = official_calendar(load_calendar_overrides(path))
    assert deadlines("report.streetlight", new_year_eve, calendar=calendar) == (
        at(12, 31, 12),
        at(1, 6, 18, year=2027),  # 元旦 is a holiday now: Mon 4, Tue 5, Wed 6
        False,
    )


# -- warnings --------------------------------------------------------------------------------


def run_worker(
    times: TicketTimes, start: datetime, end: datetime, *, step_minutes: int = 5
) -> list[tuple[datetime, str]]:
    """What a worker checking every few minutes sends, recording the keys it sent."""
    sent: list[str] = []
    log: list[tuple[datetime, str]] = []
    now = start
    while now <= end:
        for warning in due_warnings(
            RULES,
            clock_of(),
            category="report.streetlight",
            urgent=False,
            times=times,
            now=now,
            sent=sent,
        ):
            sent.append(warning.key)
            log.append((now, warning.key))
        now += timedelta(minutes=step_minutes)
    return log


def test_each_warning_fires_once_in_order() -> None:
    monday = at(9, 21, 9)
    stamp = "20260921T010000Z"  # the dispatch in UTC: a new dispatch gives new keys
    log = run_worker(TicketTimes(monday), monday, at(9, 28, 12))
    assert log == [
        # 签收 within 2 h: yellow at 1.5 h, red at 1.8 h (10:48, seen at 10:50), overdue after 11:00
        (at(9, 21, 10, 30), f"sign_for:yellow:{stamp}"),
        (at(9, 21, 10, 50), f"sign_for:red:{stamp}"),
        (at(9, 21, 11, 5), f"sign_for:overdue:{stamp}"),
        # 办结 within 3 working days (Thu 24 18:00): 30 office hours from Monday 09:00;
        # yellow at 22.5 h (the close on Wednesday), red at 27 h (Thursday 15:00)
        (at(9, 23, 18), f"completion:yellow:{stamp}"),
        (at(9, 24, 15), f"completion:red:{stamp}"),
        (at(9, 24, 18, 5), f"completion:overdue:{stamp}"),
    ]


def test_signing_and_completing_stop_the_clocks() -> None:
    monday = at(9, 21, 9)
    times = TicketTimes(monday, signed_at=at(9, 21, 10, 40))
    keys = [key.rsplit(":", 1)[0] for _, key in run_worker(times, monday, at(9, 28, 12))]
    assert keys == ["sign_for:yellow", "completion:yellow", "completion:red", "completion:overdue"]
    # Completed on Wednesday at 17:00, an hour before the completion clock's yellow.
    done = TicketTimes(monday, signed_at=at(9, 21, 10, 40), completed_at=at(9, 23, 17))
    assert [key for _, key in run_worker(done, monday, at(9, 28, 12))] == [
        "sign_for:yellow:20260921T010000Z"
    ]
    # Completing without signing first stops both.
    skipped = TicketTimes(monday, completed_at=at(9, 21, 10))
    assert run_worker(skipped, monday, at(9, 28, 12)) == []


def test_a_level_passed_over_is_not_sent_late() -> None:
    monday = at(9, 21, 9)
    [warning] = due_warnings(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=TicketTimes(monday),
        now=at(9, 21, 10, 55),  # nobody looked between 10:30 and 10:48
    )
    assert (warning.clock, warning.level) == ("sign_for", "red")
    assert warning.due_at == at(9, 21, 10, 48) and warning.deadline == at(9, 21, 11)
    assert warning_text(warning, "20260921-0007") == (
        "工单20260921-0007签收时限将至（红色预警）：请于9月21日11:00前签收。"
    )


def test_no_warning_at_night_or_over_a_holiday() -> None:
    # Dispatched on Thursday 24 September at 17:00; the sign-for clock runs 17:00–18:00,
    # then only from Monday 28 at 09:00: nothing is sent over 中秋.
    thursday = at(9, 24, 17)
    log = run_worker(TicketTimes(thursday), thursday, at(9, 28, 10, 30), step_minutes=15)
    assert [(when, key.rsplit(":", 1)[0]) for when, key in log] == [
        (at(9, 28, 9, 30), "sign_for:yellow"),
        (at(9, 28, 10), "sign_for:red"),  # due at 09:48
        (at(9, 28, 10, 15), "sign_for:overdue"),
    ]


def test_a_new_dispatch_starts_new_clocks_with_new_keys() -> None:
    first = due_warnings(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=TicketTimes(at(9, 21, 9)),
        now=at(9, 21, 10, 31),
    )
    again = due_warnings(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=TicketTimes(at(9, 22, 9)),
        now=at(9, 22, 10, 31),
        sent=[w.key for w in first],
    )
    assert [w.level for w in first] == [w.level for w in again] == ["yellow"]
    assert first[0].key != again[0].key


def test_statuses_say_late_or_on_time_for_the_rates() -> None:
    monday = at(9, 21, 9)
    late = TicketTimes(monday, signed_at=at(9, 21, 11, 30), completed_at=at(9, 24, 17))
    sign_for, completion = clock_statuses(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=late,
        now=at(9, 30, 9),
    )
    assert sign_for.overdue and not sign_for.running
    assert not completion.overdue and completion.level == "red"
    assert completion.deadline == at(9, 24, 18) and not completion.provisional
    # A stop recorded after ``now`` has not happened yet.
    early, _ = clock_statuses(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=late,
        now=at(9, 21, 10),
    )
    assert early.running and early.level is None


def test_overdue_text() -> None:
    monday = at(9, 21, 9)
    [warning] = due_warnings(
        RULES,
        clock_of(),
        category="report.streetlight",
        urgent=False,
        times=TicketTimes(monday, signed_at=at(9, 21, 9, 30)),
        now=at(9, 25, 9),
    )
    assert warning_text(warning, "20260921-0007") == (
        "工单20260921-0007已超过办结时限（9月24日18:00），请尽快办结。"
    )


# -- rules -----------------------------------------------------------------------------------


def test_packaged_rules() -> None:
    assert RULES.limits("report.streetlight", urgent=False).completion == Limit(3, "days")
    assert RULES.limits("report.elevator", urgent=False).sign_for == Limit(0.5, "hours")
    # a category entry that gives only the completion limit keeps the default sign-for one
    assert RULES.limits("report.housing_land", urgent=False).sign_for == Limit(2, "hours")
    assert RULES.limits("report.housing_land", urgent=True) == RULES.urgent
    assert (RULES.yellow, RULES.red) == (0.75, 0.9)


def test_rules_from_another_file(tmp_path: Path) -> None:
    path = tmp_path / "sla.yaml"
    path.write_text(
        "default_hours: 72\n"
        "clocks:\n"
        "  sign_for: 1h\n"
        "  warnings: {yellow: 0.5, red: 0.8}\n"
        "  categories:\n"
        "    report.noise: {completion: 7d, urgent: {completion: 2d}}\n",
        encoding="utf-8",
    )
    rules = load_clock_rules(path)
    assert rules.limits("report.other", False) == rules.default
    assert rules.default.sign_for == Limit(1, "hours")
    assert rules.default.completion == ClockRules().default.completion
    assert rules.limits("report.noise", False).completion == Limit(7, "days")
    assert rules.limits("report.noise", True).completion == Limit(2, "days")
    assert rules.limits("report.noise", True).sign_for == ClockRules().urgent.sign_for
    assert (rules.yellow, rules.red) == (0.5, 0.8)
    # A file without clocks keeps the built-in ones.
    assert parse_clock_rules({"default_hours": 72}) == ClockRules()


@pytest.mark.parametrize(
    ("clocks", "problem"),
    [
        ({"sign_for": "2 hours"}, "'2 hours' is not a limit"),
        ({"completion": "1.5d"}, "whole number of days"),
        ({"completion": "0d"}, "must be positive"),
        ({"warnings": {"yellow": 0.9, "red": 0.75}}, "0 < yellow < red < 1"),
        ({"warnings": {"orange": 0.8}}, "warnings takes yellow and red"),
        ({"categories": {"report.noise": "3d"}}, "report.noise: expected"),
        ({"categories": {"report.noise": {"done": "3d"}}}, "unknown key 'done'"),
        ({"deadline": "3d"}, "unknown key 'deadline'"),
    ],
)
def test_bad_rules_are_refused_naming_the_entry(clocks: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_clock_rules({"clocks": clocks}, "my-sla.yaml")
    assert str(error.value).startswith("my-sla.yaml: clocks")
    assert problem in str(error.value)


def test_limit_labels() -> None:
    assert Limit.parse("2h").label() == "2个工作小时"
    assert Limit.parse("0.5h").label() == "30分钟"
    assert Limit.parse(" 5d ").label() == "5个工作日"
