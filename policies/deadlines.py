"""签收 and 办结 limits in working time, their deadlines, and the warnings (预警) before them.

A 12345 centre gives the department a ticket is dispatched to (派单) two limits, both
counted from the dispatch in working time (:mod:`policies.workdays`): to *sign for* it
(签收, e.g. within 2 working hours) and to *complete* it (办结, e.g. within 3 working days).
The limits per category live in ``policies/data/sla.yaml`` under ``clocks`` (the file of the
other SLA rules, overridden as a whole by ``INTAKE_SLA_FILE``).

Before a deadline the department is warned: yellow when ``yellow`` (75 %) of the allowed
working time is used, red at ``red`` (90 %), and once more when it has passed (overdue).
:func:`due_warnings` says which warning is due now; each has a :attr:`ClockWarning.key`, so a
caller that records the keys it has sent sends each warning once. A re-dispatched ticket
starts new clocks, whose keys differ.

Pure: no clock, no environment; the caller passes the ticket's times and ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from policies.workdays import WorkingClock

__all__ = [
    "CLOCKS",
    "CLOCK_LABELS",
    "LEVELS",
    "LEVEL_LABELS",
    "ClockLimits",
    "ClockRules",
    "ClockStatus",
    "ClockWarning",
    "Limit",
    "TicketDeadlines",
    "TicketTimes",
    "clock_statuses",
    "due_warnings",
    "load_clock_rules",
    "next_warning_at",
    "parse_clock_rules",
    "ticket_deadlines",
    "warning_text",
]

Clock = Literal["sign_for", "completion"]
Level = Literal["yellow", "red", "overdue"]

CLOCKS: tuple[Clock, ...] = ("sign_for", "completion")
CLOCK_LABELS: Mapping[str, str] = {"sign_for": "签收", "completion": "办结"}
#: In the order they come; each later one is more pressing.
LEVELS: tuple[Level, ...] = ("yellow", "red", "overdue")
LEVEL_LABELS: Mapping[str, str] = {"yellow": "黄色预警", "red": "红色预警", "overdue": "已超时"}

_LIMIT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([hd])\s*$")


@dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` working hours, or working days (a whole number) ending at the close of
    office (see :meth:`policies.workdays.WorkingClock.close_of_working_day`)."""

    amount: float
    unit: Literal["hours", "days"]

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError("a limit must be positive")
        if self.unit == "days" and self.amount != int(self.amount):
            raise ValueError("a limit in working days must be a whole number of days")

    @classmethod
    def parse(cls, value: object) -> Limit:
        """``"2h"``, ``"0.5h"`` (working hours) or ``"3d"`` (working days)."""
        match = _LIMIT_RE.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a limit: write e.g. 2h (working hours) or 3d")
        return cls(float(match[1]), "hours" if match[2] == "h" else "days")

    def deadline(self, clock: WorkingClock, start: datetime) -> datetime:
        if self.unit == "hours":
            return clock.add_working_hours(start, self.amount)
        return clock.close_of_working_day(start, int(self.amount))

    def label(self) -> str:
        """``2个工作小时``, ``30分钟`` (of working time), ``3个工作日``."""
        if self.unit == "days":
            return f"{int(self.amount)}个工作日"
        if self.amount < 1:
            return f"{round(self.amount * 60)}分钟"
        return f"{self.amount:g}个工作小时"


@dataclass(frozen=True, slots=True)
class ClockLimits:
    """The two limits of one kind of ticket."""

    sign_for: Limit
    completion: Limit

    def of(self, clock: Clock) -> Limit:
        return self.sign_for if clock == "sign_for" else self.completion


@dataclass(frozen=True, slots=True)
class ClockRules:
    """Limits by category and urgency, and the warning thresholds (shares of the allowed
    working time). Urgent tickets get ``urgent`` (or their category's ``urgent_categories``
    entry); others their category's entry, else ``default``."""

    default: ClockLimits = field(
        default_factory=lambda: ClockLimits(Limit(2, "hours"), Limit(3, "days"))
    )
    urgent: ClockLimits = field(
        default_factory=lambda: ClockLimits(Limit(0.5, "hours"), Limit(1, "days"))
    )
    categories: Mapping[str, ClockLimits] = field(default_factory=dict)
    urgent_categories: Mapping[str, ClockLimits] = field(default_factory=dict)
    yellow: float = 0.75
    red: float = 0.9

    def __post_init__(self) -> None:
        if not 0 < self.yellow < self.red < 1:
            raise ValueError("warnings must satisfy 0 < yellow < red < 1 (shares of the limit)")

    def limits(self, category: str, urgent: bool) -> ClockLimits:
        if urgent:
            return self.urgent_categories.get(category, self.urgent)
        return self.categories.get(category, self.default)

    def threshold(self, level: Level) -> float:
        return {"yellow": self.yellow, "red": self.red, "overdue": 1.0}[level]


def _limits(entry: object, base: ClockLimits, where: str) -> ClockLimits:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected {{sign_for: 2h, completion: 3d}}")
    unknown = sorted(set(entry) - {"sign_for", "completion", "urgent"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (sign_for, completion, urgent)")
    try:
        return ClockLimits(
            Limit.parse(entry["sign_for"]) if "sign_for" in entry else base.sign_for,
            Limit.parse(entry["completion"]) if "completion" in entry else base.completion,
        )
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def parse_clock_rules(document: Mapping[str, Any], source: str = "sla.yaml") -> ClockRules:
    """The ``clocks`` section of an SLA document (defaults when it has none); raises
    ``ValueError`` naming ``source`` and the entry at fault."""
    section = document.get("clocks") or {}
    where = f"{source}: clocks"
    if not isinstance(section, Mapping):
        raise ValueError(f"{where}: expected a mapping")
    unknown = sorted(set(section) - {"sign_for", "completion", "urgent", "warnings", "categories"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    builtin = ClockRules()
    default = _limits(
        {k: v for k, v in section.items() if k in ("sign_for", "completion")},
        builtin.default,
        where,
    )
    urgent = _limits(section.get("urgent") or {}, builtin.urgent, f"{where}: urgent")
    categories: dict[str, ClockLimits] = {}
    urgent_categories: dict[str, ClockLimits] = {}
    raw_categories = section.get("categories") or {}
    if not isinstance(raw_categories, Mapping):
        raise ValueError(f"{where}: categories must map a category id to its limits")
    for category, entry in raw_categories.items():
        at = f"{where}: {category}"
        categories[str(category)] = _limits(entry, default, at)
        if entry.get("urgent") is not None:
            urgent_categories[str(category)] = _limits(entry["urgent"], urgent, f"{at}: urgent")
    warnings = section.get("warnings") or {}
    if not isinstance(warnings, Mapping) or set(warnings) - {"yellow", "red"}:
        raise ValueError(f"{where}: warnings takes yellow and red (shares such as 0.75)")
    try:
        return ClockRules(
            default=default,
            urgent=urgent,
            categories=categories,
            urgent_categories=urgent_categories,
            yellow=float(warnings.get("yellow", builtin.yellow)),
            red=float(warnings.get("red", builtin.red)),
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_clock_rules(path: str | Path | None = None) -> ClockRules:
    """The clocks of the SLA file at ``path`` (``INTAKE_SLA_FILE``), or of the packaged
    ``policies/data/sla.yaml``."""
    if path is None:
        text = resources.files("policies").joinpath("data/sla.yaml").read_text("utf-8")
        source = "policies/data/sla.yaml"
    else:
        source = str(path)
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise ValueError(f"{source}: cannot be read ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: is not valid YAML ({exc})") from None
    if not isinstance(document, Mapping):
        raise ValueError(f"{source}: expected a mapping at the top level")
    return parse_clock_rules(document, source)


# -- one ticket's clocks ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketTimes:
    """When the clocks started (the dispatch, 派单) and stopped: the department signed for
    the ticket (签收) and completed it (办结; completing also stops the sign-for clock)."""

    started_at: datetime
    signed_at: datetime | None = None
    completed_at: datetime | None = None

    def stopped_at(self, clock: Clock) -> datetime | None:
        if clock == "completion":
            return self.completed_at
        stops = [t for t in (self.signed_at, self.completed_at) if t is not None]
        return min(stops) if stops else None


@dataclass(frozen=True, slots=True)
class TicketDeadlines:
    """Both deadlines; ``provisional`` when they reach into a year whose official calendar
    is not loaded (counted Monday to Friday: load the year's overrides)."""

    sign_for: datetime
    completion: datetime
    provisional: bool


def ticket_deadlines(
    rules: ClockRules,
    clock: WorkingClock,
    *,
    category: str,
    urgent: bool,
    started_at: datetime,
) -> TicketDeadlines:
    """The 签收 and 办结 deadlines of a ticket dispatched at ``started_at`` to the
    department whose office hours ``clock`` follows."""
    limits = rules.limits(category, urgent)
    sign_for = limits.sign_for.deadline(clock, started_at)
    completion = limits.completion.deadline(clock, started_at)
    latest = max(sign_for, completion)
    return TicketDeadlines(sign_for, completion, not clock.covers(started_at, latest))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """One clock of one ticket at ``now``: its deadline, the moments each warning falls
    due (:data:`LEVELS`), whether it has stopped, and the level reached while running."""

    clock: Clock
    limit: Limit
    started_at: datetime
    deadline: datetime
    level_at: Mapping[Level, datetime]
    stopped_at: datetime | None
    #: the most pressing level reached by ``now`` (or by the stop), ``None`` before yellow
    level: Level | None
    provisional: bool

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def overdue(self) -> bool:
        """Past the deadline: still running after it, or stopped after it (late)."""
        return self.level == "overdue"

    def key(self, level: Level) -> str:
        """``completion:red:20260925T020000Z``: unique per clock run (the start in UTC)."""
        return f"{self.clock}:{level}:{_utc(self.started_at)}"


def clock_statuses(
    rules: ClockRules,
    clock: WorkingClock,
    *,
    category: str,
    urgent: bool,
    times: TicketTimes,
    now: datetime,
) -> tuple[ClockStatus, ClockStatus]:
    """The 签收 and 办结 clocks of a ticket at ``now``."""
    limits = rules.limits(category, urgent)
    statuses = []
    for name in CLOCKS:
        limit = limits.of(name)
        deadline = limit.deadline(clock, times.started_at)
        allowed = clock.working_time(times.started_at, deadline)
        level_at: dict[Level, datetime] = {
            level: clock.add_working_time(times.started_at, allowed * rules.threshold(level))
            for level in LEVELS[:-1]
        }
        level_at["overdue"] = deadline
        stopped = times.stopped_at(name)
        if stopped is not None and stopped > now:
            stopped = None  # recorded ahead of ``now``: not stopped yet as far as now goes
        until = stopped or now
        reached: Level | None = None
        for level in LEVELS:
            at = level_at[level]
            # Overdue is strictly after the deadline; a warning from the moment it is due.
            if until > at or (level != "overdue" and until >= at):
                reached = level
        statuses.append(
            ClockStatus(
                clock=name,
                limit=limit,
                started_at=clock.local(times.started_at),
                deadline=deadline,
                level_at=level_at,
                stopped_at=stopped,
                level=reached,
                provisional=not clock.covers(times.started_at, deadline),
            )
        )
    return statuses[0], statuses[1]


@dataclass(frozen=True, slots=True)
class ClockWarning:
    """A warning to send: the ``level`` the ``clock`` has reached; ``key`` to dedupe."""

    key: str
    clock: Clock
    level: Level
    deadline: datetime
    due_at: datetime
    limit: Limit


def due_warnings(
    rules: ClockRules,
    clock: WorkingClock,
    *,
    category: str,
    urgent: bool,
    times: TicketTimes,
    now: datetime,
    sent: Collection[str] = (),
) -> list[ClockWarning]:
    """The warnings to send now: for each running clock, the most pressing level it has
    reached, unless its key is in ``sent``.

    Record the keys of what you send and pass them back: each warning then fires once. A
    level passed over (nobody looked between 75 % and 90 %) is not sent late: red says more
    than yellow would. A stopped clock (signed for, completed) warns no more.
    """
    warnings = []
    for status in clock_statuses(
        rules, clock, category=category, urgent=urgent, times=times, now=now
    ):
        if not status.running or status.level is None:
            continue
        key = status.key(status.level)
        if key in sent:
            continue
        warnings.append(
            ClockWarning(
                key=key,
                clock=status.clock,
                level=status.level,
                deadline=status.deadline,
                due_at=status.level_at[status.level],
                limit=status.limit,
            )
        )
    return warnings


#: Overdue is strictly after the deadline: a look this long after it sees it.
_JUST_AFTER = timedelta(seconds=1)


def next_warning_at(
    rules: ClockRules,
    clock: WorkingClock,
    *,
    category: str,
    urgent: bool,
    times: TicketTimes,
    now: datetime,
    sent: Collection[str] = (),
) -> datetime | None:
    """When :func:`due_warnings` will next have something to send: ``now`` when a warning
    is due already, else the moment the next level falls due, or ``None`` when every clock
    has stopped or warned its last (overdue). The caller looks only when it matters."""
    moments = []
    for status in clock_statuses(
        rules, clock, category=category, urgent=urgent, times=times, now=now
    ):
        if not status.running:
            continue
        if status.level is not None and status.key(status.level) not in sent:
            return clock.local(now)
        reached = LEVELS.index(status.level) if status.level is not None else -1
        if reached + 1 < len(LEVELS):
            level = LEVELS[reached + 1]
            at = status.level_at[level]
            moments.append(at + _JUST_AFTER if level == "overdue" else at)
    return min(moments) if moments else None


def _when(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日{moment:%H:%M}"


def warning_text(warning: ClockWarning, ticket_id: str) -> str:
    """The line the department sees in the console or a webhook (short, polite Chinese)."""
    act = CLOCK_LABELS[warning.clock]
    if warning.level == "overdue":
        return f"工单{ticket_id}已超过{act}时限（{_when(warning.deadline)}），请尽快{act}。"
    return (
        f"工单{ticket_id}{act}时限将至（{LEVEL_LABELS[warning.level]}）："
        f"请于{_when(warning.deadline)}前{act}。"
    )
