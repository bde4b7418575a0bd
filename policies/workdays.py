"""Working days and office hours: China's official calendar and when a department is at work.

A 12345 centre counts its limits (签收 and 办结, :mod:`policies.deadlines`) in *working*
time: Monday to Friday, except the public holidays of the State Council's yearly notice
(国务院办公厅关于部分节假日安排的通知), plus the weekend days that notice makes working days
(调休上班, e.g. Sunday 2026-09-20 and Saturday 2026-10-10 for 国庆), and within each day only
the department's office hours (by default 09:00–12:00 and 13:30–18:00).

The calendar comes from the ``chinesecalendar`` package (it knows every year up to the one
after its release). The notice for next year appears each November, usually before a new
release: :func:`load_calendar_overrides` reads a small YAML/JSON file of holidays and
make-up working days that is laid over the package's data, so next year is loaded without
a release of this product. A year neither knows is counted Monday to Friday, and
:meth:`WorkCalendar.covers` tells the caller so (a deadline reaching into it is provisional).

Pure: nothing here reads the environment or the clock; the override and office-hours files
are read only by the ``load_*`` functions, from paths the caller passes (settings).

Override file (``INTAKE_WORKDAY_CALENDAR_FILE``)::

    holidays:                       # 放假: every day off, by festival
      元旦: 2027-01-01
      春节: 2027-02-06/2027-02-12   # FIRST/LAST, both included
    workdays:                       # 调休上班: weekend days that are working days
      春节: [2027-02-20]

Office hours (``INTAKE_OFFICE_HOURS_FILE``, else the packaged ``policies/data/office_hours.yaml``)::

    default: ["09:00-12:00", "13:30-18:00"]
    departments:
      消防救援站: {periods: ["00:00-24:00"], every_day: true}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

import chinese_calendar
import yaml

__all__ = [
    "DEFAULT_PERIODS",
    "CalendarOverrides",
    "DepartmentHours",
    "OfficeHours",
    "WorkCalendar",
    "WorkingClock",
    "load_calendar_overrides",
    "load_department_hours",
    "official_calendar",
    "parse_calendar_overrides",
    "parse_department_hours",
]

#: 09:00–12:00 and 13:30–18:00, in minutes after midnight.
DEFAULT_PERIODS: tuple[tuple[int, int], ...] = ((9 * 60, 12 * 60), (13 * 60 + 30, 18 * 60))
_DAY_MINUTES = 24 * 60
#: No limit in this product spans years; a search longer than this is a configuration error
#: (a department that is never open).
_MAX_DAYS = 3 * 366


# -- the calendar --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CalendarOverrides:
    """Holidays and make-up working days laid over the package's calendar (per date)."""

    holidays: Mapping[date, str] = field(default_factory=dict)
    workdays: Mapping[date, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a working day")

    @property
    def years(self) -> frozenset[int]:
        return frozenset(day.year for day in (*self.holidays, *self.workdays))


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which days are working days: Monday to Friday, less ``days_off``, plus
    ``make_up_days`` (调休); ``years`` are those the official data covers."""

    days_off: Mapping[date, str]
    make_up_days: Mapping[date, str]
    years: frozenset[int]

    def is_workday(self, day: date) -> bool:
        if day in self.make_up_days:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < 5

    def covers(self, year: int) -> bool:
        """Whether ``year``'s holidays are known (else it is counted Monday to Friday)."""
        return year in self.years

    def holiday_name(self, day: date) -> str | None:
        """``国庆节`` for 2026-10-03, ``None`` on an ordinary day (a make-up working day
        carries the name of the holiday it makes up for)."""
        return self.days_off.get(day) or self.make_up_days.get(day)


def _chinese_name(english: str) -> str:
    for holiday in chinese_calendar.Holiday:
        if holiday.value == english:
            return str(holiday.chinese)
    return english


def official_calendar(overrides: CalendarOverrides | None = None) -> WorkCalendar:
    """The package's calendar with ``overrides`` laid over it, date by date."""
    days_off = {day: _chinese_name(name) for day, name in chinese_calendar.holidays.items()}
    make_up = {day: _chinese_name(name) for day, name in chinese_calendar.workdays.items()}
    known = [*days_off, *make_up]
    years = set(range(min(known).year, max(known).year + 1))
    if overrides is not None:
        for day, name in overrides.holidays.items():
            make_up.pop(day, None)
            days_off[day] = name
        for day, name in overrides.workdays.items():
            days_off.pop(day, None)
            make_up[day] = name
        years |= overrides.years
    return WorkCalendar(days_off, make_up, frozenset(years))


def _dates(value: object, where: str) -> Iterator[date]:
    """A date, ``FIRST/LAST`` (both included), or a list of these."""
    if isinstance(value, list):
        for item in value:
            yield from _dates(item, where)
        return
    if isinstance(value, datetime):
        raise ValueError(f"{where}: {value} has a time; give a date (YYYY-MM-DD)")
    if isinstance(value, date):
        yield value
        return
    text = str(value).strip()
    first_text, _, last_text = text.partition("/")
    try:
        first = date.fromisoformat(first_text.strip())
        last = date.fromisoformat(last_text.strip()) if last_text else first
    except ValueError:
        raise ValueError(
            f"{where}: {text!r} is not a date (YYYY-MM-DD) or a range (FIRST/LAST)"
        ) from None
    if last < first:
        raise ValueError(f"{where}: the range {text!r} ends before it starts")
    if (last - first).days > 31:
        raise ValueError(f"{where}: the range {text!r} is longer than a month")
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _named_dates(document: Mapping[str, Any], key: str, source: str) -> dict[date, str]:
    section = document.get(key) or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{source}: {key} must map a holiday's name to its dates")
    named: dict[date, str] = {}
    for name, value in section.items():
        for day in _dates(value, f"{source}: {key} {name}"):
            named[day] = str(name)
    return named


def parse_calendar_overrides(
    document: Mapping[str, Any], source: str = "calendar overrides"
) -> CalendarOverrides:
    """``{"holidays": {name: dates}, "workdays": {name: dates}}`` → overrides; raises
    ``ValueError`` naming ``source`` and the entry at fault."""
    unknown = sorted(set(document) - {"holidays", "workdays"})
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r} (holidays, workdays)")
    try:
        return CalendarOverrides(
            holidays=_named_dates(document, "holidays", source),
            workdays=_named_dates(document, "workdays", source),
        )
    except ValueError as exc:
        if str(exc).startswith(source):
            raise
        raise ValueError(f"{source}: {exc}") from None


class _TextDatesLoader(yaml.SafeLoader):
    """YAML's safe loader leaving dates as text, so that a wrong one (2027-02-30) is
    reported with its entry rather than as a bare ``day is out of range``."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_mapping(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: is not UTF-8 text") from None
    try:
        document = yaml.load(text, Loader=_TextDatesLoader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: is not valid YAML or JSON ({exc})") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return document


def load_calendar_overrides(path: str | Path) -> CalendarOverrides:
    """The overrides file at ``path`` (YAML, or JSON, which YAML reads too)."""
    path = Path(path)
    return parse_calendar_overrides(_read_mapping(path), str(path))


# -- office hours ----------------------------------------------------------------------------


def _minutes(text: str, where: str) -> int:
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{where}: {text!r} is not a time (HH:MM)")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) >= 60 or value > _DAY_MINUTES:
        raise ValueError(f"{where}: {text!r} is not a time of day (00:00 to 24:00)")
    return value


@dataclass(frozen=True, slots=True)
class OfficeHours:
    """When a department works: ``periods`` (minutes after midnight, ``(540, 720)`` is
    09:00–12:00) on working days, or on every day when ``every_day`` (a duty desk)."""

    periods: tuple[tuple[int, int], ...] = DEFAULT_PERIODS
    every_day: bool = False

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period")
        previous_end = 0
        for start, end in self.periods:
            if not 0 <= start < end <= _DAY_MINUTES:
                raise ValueError(f"office period {_hhmm(start)}-{_hhmm(end)} is not a period")
            if start < previous_end:
                raise ValueError("office periods must be in order and not overlap")
            previous_end = end

    @classmethod
    def parse(cls, periods: object, *, every_day: bool = False, where: str = "") -> OfficeHours:
        """From ``["09:00-12:00", "13:30-18:00"]``."""
        where = where or "office hours"
        if isinstance(periods, str) or not isinstance(periods, list):
            raise ValueError(f'{where}: give a list of periods such as ["09:00-12:00"]')
        parsed = []
        for item in periods:
            start, sep, end = str(item).partition("-")
            if not sep:
                raise ValueError(f"{where}: {item!r} is not a period (HH:MM-HH:MM)")
            parsed.append((_minutes(start, where), _minutes(end, where)))
        try:
            return cls(tuple(parsed), every_day)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    @property
    def minutes_per_day(self) -> int:
        return sum(end - start for start, end in self.periods)

    def describe(self) -> str:
        """``09:00-12:00, 13:30-18:00`` (``每天`` first for a duty desk)."""
        text = ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in self.periods)
        return f"每天 {text}" if self.every_day else text


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class DepartmentHours:
    """Office hours by department name; ``default`` for the departments not listed."""

    default: OfficeHours = field(default_factory=OfficeHours)
    departments: Mapping[str, OfficeHours] = field(default_factory=dict)

    def for_department(self, department: str | None) -> OfficeHours:
        return self.departments.get(department or "", self.default)


def _hours_entry(value: object, where: str) -> OfficeHours:
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"periods", "every_day"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r} (periods, every_day)")
        every_day = value.get("every_day", False)
        if not isinstance(every_day, bool):
            raise ValueError(f"{where}: every_day must be true or false")
        return OfficeHours.parse(value.get("periods"), every_day=every_day, where=where)
    return OfficeHours.parse(value, where=where)


def parse_department_hours(
    document: Mapping[str, Any], source: str = "office hours"
) -> DepartmentHours:
    unknown = sorted(set(document) - {"default", "departments"})
    if unknown:
        raise ValueError(f"{source}: unknown key {unknown[0]!r} (default, departments)")
    default = (
        _hours_entry(document["default"], f"{source}: default")
        if document.get("default") is not None
        else OfficeHours()
    )
    section = document.get("departments") or {}
    if not isinstance(section, Mapping):
        raise ValueError(f"{source}: departments must map a department's name to its hours")
    departments = {
        str(name): _hours_entry(value, f"{source}: {name}") for name, value in section.items()
    }
    return DepartmentHours(default, departments)


def load_department_hours(path: str | Path | None = None) -> DepartmentHours:
    """Office hours from ``path``, or the packaged ``policies/data/office_hours.yaml``."""
    if path is None:
        text = resources.files("policies").joinpath("data/office_hours.yaml").read_text("utf-8")
        document = yaml.safe_load(text) or {}
        return parse_department_hours(document, "policies/data/office_hours.yaml")
    return parse_department_hours(_read_mapping(Path(path)), str(path))


# -- working time -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkingClock:
    """Working-time arithmetic for one department: its office hours on the calendar's
    working days, in the zone ``tz`` (times given in any zone; results in ``tz``).

    Times must be timezone-aware: a naive time has no single meaning here.
    """

    calendar: WorkCalendar
    hours: OfficeHours
    tz: tzinfo

    def is_working_day(self, day: date) -> bool:
        return self.hours.every_day or self.calendar.is_workday(day)

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the clock's zone; a naive time is refused."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{moment.isoformat()} has no timezone")
        return moment.astimezone(self.tz)

    def _periods_on(self, day: date) -> Iterator[tuple[datetime, datetime]]:
        midnight = datetime.combine(day, time(0), self.tz)
        for start, end in self.hours.periods:
            yield midnight + timedelta(minutes=start), midnight + timedelta(minutes=end)

    def _periods_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Office periods ending after ``moment``, the first one cut to start at it."""
        day = moment.date()
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                for start, end in self._periods_on(day):
                    if end > moment:
                        yield max(start, moment), end
            day += timedelta(days=1)
        raise ValueError(f"no office hours within {_MAX_DAYS} days of {moment.date()}")

    def is_open(self, moment: datetime) -> bool:
        local = self.local(moment)
        if not self.is_working_day(local.date()):
            return False
        return any(start <= local < end for start, end in self._periods_on(local.date()))

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` itself when the office is open, else when it next opens."""
        start, _ = next(self._periods_from(self.local(moment)))
        return start

    def add_working_time(self, start: datetime, amount: timedelta) -> datetime:
        """The moment when ``amount`` of office time has passed since ``start`` (a deadline
        landing on a period's end stays there: 18:00, not the next morning)."""
        if amount < timedelta(0):
            raise ValueError("working time to add must not be negative")
        if amount == timedelta(0):
            return self.local(start)
        remaining = amount
        for period_start, period_end in self._periods_from(self.local(start)):
            available = period_end - period_start
            if remaining <= available:
                return period_start + remaining
            remaining -= available
        raise AssertionError("unreachable: _periods_from raises first")  # pragma: no cover

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        return self.add_working_time(start, timedelta(hours=hours))

    def close_of_working_day(self, start: datetime, days: int) -> datetime:
        """The close of office on the ``days``-th working day *after* the day of ``start``.

        The day the clock starts is not counted (as periods are counted in Chinese law,
        民法典 第二百零一条): filed on Monday at 10:00, "1 working day" ends on Tuesday at
        18:00; filed on the Friday before a holiday week, it ends on the first working day
        after it.
        """
        if days < 1:
            raise ValueError("a limit in working days must be at least 1 day")
        day = self.local(start).date()
        counted = 0
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    *_, (_, close) = self._periods_on(day)
                    return close
        raise ValueError(f"no {days} working days within {_MAX_DAYS} days of {start.date()}")

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Office time between ``start`` and ``end`` (zero when ``end`` is not later)."""
        start, end = self.local(start), self.local(end)
        total = timedelta(0)
        if end <= start:
            return total
        for period_start, period_end in self._periods_from(start):
            if period_start >= end:
                break
            total += min(period_end, end) - period_start
        return total

    def years_between(self, start: datetime, end: datetime) -> range:
        return range(self.local(start).year, self.local(end).year + 1)

    def covers(self, start: datetime, end: datetime) -> bool:
        """Whether the official calendar is known for every year from ``start`` to ``end``
        (a duty desk working every day needs no calendar)."""
        if self.hours.every_day:
            return True
        return all(self.calendar.covers(year) for year in self.years_between(start, end))
