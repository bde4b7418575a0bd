"""China's official calendar, make-up working days, office hours and working-time arithmetic
(policies/workdays.py), on the real 2026 calendar of the ``chinesecalendar`` package.

2026 around 国庆 (国务院办公厅 notice for 2026): 中秋 Fri 25 – Sun 27 September off;
国庆 Thu 1 – Wed 7 October off; Sunday 20 September and Saturday 10 October are working days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policies.workdays import (
    CalendarOverrides,
    DepartmentHours,
    OfficeHours,
    WorkCalendar,
    WorkingClock,
    load_calendar_overrides,
    load_department_hours,
    official_calendar,
    parse_calendar_overrides,
    parse_department_hours,
)

CN = ZoneInfo("Asia/Shanghai")
CALENDAR = official_calendar()


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CN)


def clock(hours: OfficeHours | None = None, calendar: WorkCalendar | None = None) -> WorkingClock:
    return WorkingClock(calendar or CALENDAR, hours or OfficeHours(), CN)


def test_the_2026_national_day_calendar() -> None:
    working = [d for d in range(18, 31) if CALENDAR.is_workday(date(2026, 9, d))]
    assert working == [18, 20, 21, 22, 23, 24, 28, 29, 30]  # Sat 19 off, Sun 20 worked
    october = [d for d in range(1, 13) if CALENDAR.is_workday(date(2026, 10, d))]
    assert october == [8, 9, 10, 12]  # Sat 10 worked (调休), Sun 11 off
    assert CALENDAR.holiday_name(date(2026, 10, 3)) == "国庆节"
    assert CALENDAR.holiday_name(date(2026, 9, 25)) == "中秋"
    assert CALENDAR.holiday_name(date(2026, 10, 10)) == "国庆节"  # the day it makes up for
    assert CALENDAR.holiday_name(date(2026, 9, 24)) is None
    assert CALENDAR.covers(2026)


def test_a_year_without_data_is_counted_monday_to_friday_and_said_so() -> None:
    assert not CALENDAR.covers(2027)
    assert CALENDAR.is_workday(date(2027, 1, 1))  # a Friday; 元旦 unknown without overrides
    assert not CALENDAR.is_workday(date(2027, 1, 2))
    assert not clock().covers(at(12, 31, 10), at(1, 4, 18, year=2027))
    assert clock().covers(at(9, 25, 10), at(10, 10, 18))


def test_office_hours_bound_working_hours() -> None:
    c = clock()
    # Thursday 24 September 11:00 + 2 h: one hour before lunch, one after.
    assert c.add_working_hours(at(9, 24, 11), 2) == at(9, 24, 14, 30)
    # Ending exactly at the close stays there, not the next morning.
    assert c.add_working_hours(at(9, 24, 16), 2) == at(9, 24, 18)
    # Received at lunch or in the evening: the clock starts when the office opens.
    assert c.add_working_hours(at(9, 24, 12, 30), 1) == at(9, 24, 14, 30)
    assert c.add_working_hours(at(9, 24, 20), 1) == at(9, 28, 10)  # over 中秋 to Monday
    assert c.is_open(at(9, 24, 11, 59)) and not c.is_open(at(9, 24, 12))
    assert c.next_opening(at(9, 24, 12, 15)) == at(9, 24, 13, 30)
    assert c.next_opening(at(9, 24, 10)) == at(9, 24, 10)


def test_make_up_saturdays_and_sundays_are_working_days() -> None:
    c = clock()
    # Friday 18 September 17:00 + 2 working hours: 1 h on Friday, then Sunday 20 (调休), not
    # Monday 21.
    assert c.add_working_hours(at(9, 18, 17), 2) == at(9, 20, 10)
    assert c.is_open(at(9, 20, 10)) and not c.is_open(at(9, 19, 10))
    # Friday 9 October 17:00 + 1 working day → the close of Saturday 10 October (调休).
    assert c.close_of_working_day(at(10, 9, 17), 1) == at(10, 10, 18)
    assert c.is_open(at(10, 10, 9, 30)) and not c.is_open(at(10, 11, 9, 30))


def test_working_days_do_not_count_the_first_day_and_skip_the_holidays() -> None:
    c = clock()
    assert c.close_of_working_day(at(9, 21, 10), 1) == at(9, 22, 18)
    # Filed on Friday 25 September (中秋, a holiday): Mon 28, Tue 29, Wed 30, then 国庆 …
    assert c.close_of_working_day(at(9, 25, 10), 3) == at(9, 30, 18)
    assert c.close_of_working_day(at(9, 25, 10), 4) == at(10, 8, 18)
    assert c.close_of_working_day(at(9, 25, 10), 6) == at(10, 10, 18)  # Saturday, 调休
    assert c.close_of_working_day(at(9, 25, 10), 7) == at(10, 12, 18)
    with pytest.raises(ValueError, match="at least 1"):
        c.close_of_working_day(at(9, 25, 10), 0)


def test_working_time_between_two_moments() -> None:
    c = clock()
    assert c.working_time(at(9, 24, 11), at(9, 24, 14, 30)) == timedelta(hours=2)
    # Thursday 9:00 → Monday 28 12:00: a full day (7.5 h) and Monday's morning (3 h).
    assert c.working_time(at(9, 24, 9), at(9, 28, 12)) == timedelta(hours=10.5)
    assert c.working_time(at(9, 28, 12), at(9, 24, 9)) == timedelta(0)
    # Adding what lies between lands on the end again (the two are inverses).
    start = at(9, 29, 15, 17)
    for hours in (0.25, 1, 7.5, 13, 30):
        end = c.add_working_hours(start, hours)
        assert c.working_time(start, end) == timedelta(hours=hours)


def test_times_in_other_zones_and_naive_times() -> None:
    c = clock()
    utc = datetime(2026, 9, 24, 3, 0, tzinfo=UTC)  # 11:00 in Beijing
    assert c.add_working_hours(utc, 2) == at(9, 24, 14, 30)
    with pytest.raises(ValueError, match="no timezone"):
        c.add_working_hours(datetime(2026, 9, 24, 11), 2)


def test_a_duty_desk_works_every_day() -> None:
    desk = clock(OfficeHours(((0, 24 * 60),), every_day=True))
    assert desk.add_working_hours(at(10, 3, 23), 2) == at(10, 4, 1)  # in 国庆, at night
    assert desk.close_of_working_day(at(10, 3, 23), 1) == datetime(2026, 10, 5, tzinfo=CN)
    assert desk.covers(at(12, 31, 10), at(1, 4, 18, year=2027))


def test_the_overrides_file_adds_next_years_holidays(tmp_path: Path) -> None:
    path = tmp_path / "calendar-2027.yaml"
    path.write_text(
        "# 2027: only what the test needs\n"
        "holidays:\n"
        "  元旦: 2027-01-01\n"
        "  春节: 2027-02-06/2027-02-12\n"
        "workdays:\n"
        "  春节: [2027-02-20]\n",
        encoding="utf-8",
    )
    calendar = official_calendar(load_calendar_overrides(path))
    assert calendar.covers(2027) and calendar.covers(2026)
    assert not calendar.is_workday(date(2027, 1, 1))
    assert calendar.holiday_name(date(2027, 2, 10)) == "春节"
    assert calendar.is_workday(date(2027, 2, 20))  # a Saturday made a working day
    c = clock(calendar=calendar)
    # Thursday 31 December 2026, 17:00, one working day → Monday 4 January 2027, not Friday 1.
    assert c.close_of_working_day(at(12, 31, 17), 1) == at(1, 4, 18, year=2027)
    assert clock().close_of_working_day(at(12, 31, 17), 1) == at(1, 1, 18, year=2027)
    assert c.covers(at(12, 31, 17), at(1, 4, 18, year=2027))


def test_overrides_correct_the_package_and_json_works_too(tmp_path: Path) -> None:
    path = tmp_path / "fix.json"
    # Say 24 September 2026 became a day off and Saturday 26 September a working day.
    path.write_text('{"holidays": {"调整": "2026-09-24"}, "workdays": {"调整": ["2026-09-26"]}}')
    calendar = official_calendar(load_calendar_overrides(path))
    assert not calendar.is_workday(date(2026, 9, 24))
    assert calendar.is_workday(date(2026, 9, 26))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"holidays": {"元旦": "2027-13-01"}}, "holidays 元旦: '2027-13-01' is not a date"),
        ({"holidays": {"春节": "2027-02-12/2027-02-06"}}, "ends before it starts"),
        ({"holidays": {"春节": "2027-01-01/2027-03-01"}}, "longer than a month"),
        ({"holidays": ["2027-01-01"]}, "holidays must map"),
        ({"holiday": {"元旦": "2027-01-01"}}, "unknown key 'holiday'"),
        (
            {"holidays": {"元旦": "2027-01-02"}, "workdays": {"元旦": "2027-01-02"}},
            "2027-01-02 is both a holiday and a working day",
        ),
        ({"holidays": {"元旦": datetime(2027, 1, 1, 9)}}, "has a time"),
    ],
)
def test_a_bad_overrides_file_is_refused_naming_the_entry(
    document: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError) as error:
        parse_calendar_overrides(document, "calendar-2027.yaml")
    assert str(error.value).startswith("calendar-2027.yaml: ")
    assert problem in str(error.value)


def test_department_office_hours_from_the_packaged_file_and_overrides(tmp_path: Path) -> None:
    packaged = load_department_hours()
    assert packaged.for_department("市政管理处") == OfficeHours()
    assert packaged.for_department(None).describe() == "09:00-12:00, 13:30-18:00"
    assert packaged.for_department("消防救援站").every_day
    path = tmp_path / "hours.yaml"
    path.write_text(
        'default: ["08:30-12:00", "14:00-17:30"]\n'
        "departments:\n"
        '  司法所: ["09:00-12:00"]\n'
        '  值班室: {periods: ["00:00-24:00"], every_day: true}\n',
        encoding="utf-8",
    )
    hours = load_department_hours(path)
    assert hours.default.describe() == "08:30-12:00, 14:00-17:30"
    assert hours.for_department("司法所").minutes_per_day == 180
    assert hours.for_department("值班室").describe() == "每天 00:00-24:00"
    # Another department's hours move its deadlines.
    morning_only = clock(hours.for_department("司法所"))
    assert morning_only.add_working_hours(at(9, 24, 11), 2) == at(9, 28, 10)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"default": "09:00-18:00"}, "give a list of periods"),
        ({"default": ["9-18"]}, "not a time (HH:MM)"),
        ({"default": ["09:00-25:00"]}, "not a time of day"),
        ({"default": ["13:00-12:00"]}, "is not a period"),
        ({"default": ["09:00-12:00", "11:00-18:00"]}, "not overlap"),
        ({"default": []}, "at least one period"),
        ({"departments": {"司法所": {"periods": ["09:00-12:00"], "days": 5}}}, "unknown key"),
        ({"departments": {"司法所": {"periods": ["09:00-12:00"], "every_day": "yes"}}}, "true"),
        ({"weekend": []}, "unknown key 'weekend'"),
    ],
)
def test_bad_office_hours_are_refused(document: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_department_hours(document, "hours.yaml")
    assert str(error.value).startswith("hours.yaml: ")
    assert problem in str(error.value)


def test_department_hours_default() -> None:
    assert DepartmentHours().for_department("任何部门") == OfficeHours()
    assert CalendarOverrides().years == frozenset()
