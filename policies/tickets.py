"""Pure rules of tickets (工单): statuses, levels, SLA deadlines, routing, push wording.

Nothing here does I/O beyond reading the packaged YAML rule files; the ticket store in
``integrations/tickets`` applies these rules and turns a refusal into a typed error.

Status machine (``received`` 已受理 → ``dispatched`` 已派单 → ``in_progress`` 处理中 →
``resolved`` 已办结 → ``closed`` 已评价, plus ``reopened`` and ``rejected``)::

    received    → dispatched, in_progress, resolved*, rejected*
    dispatched  → in_progress, resolved*, rejected*
    in_progress → resolved*, rejected*
    reopened    → dispatched, in_progress, resolved*, rejected*
    resolved    → closed (rating satisfied / basically satisfied),
                  reopened (rating unsatisfied)        — only through a rating
    closed, rejected: final

``*`` staff may resolve or reject from any open status; ``rejected`` needs a note (the reason
the resident is told). A department *returning* a ticket is not a rejection: it escalates
the ticket one level up (see :func:`next_level`) and keeps it open.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = [
    "DEFAULT_GRID",
    "LEVELS",
    "LEVEL_LABELS",
    "OPEN_STATUSES",
    "RATINGS",
    "RATING_LABELS",
    "RATING_PROMPT",
    "STATUSES",
    "STATUS_LABELS",
    "TERMINAL_STATUSES",
    "TICKET_ID_RE",
    "WORKING_STATUSES",
    "GridRule",
    "GridRules",
    "PushChannel",
    "SlaRules",
    "choose_push_channel",
    "format_ticket_id",
    "level_label",
    "load_grid_rules",
    "load_sla_rules",
    "next_level",
    "parse_grid_rules",
    "parse_sla_rules",
    "rating_outcome",
    "short_category_label",
    "status_label",
    "status_push_text",
    "status_template_fields",
    "transition_problem",
]

STATUSES: tuple[str, ...] = (
    "received",
    "dispatched",
    "in_progress",
    "resolved",
    "closed",
    "reopened",
    "rejected",
)
#: The labels residents and staff see (the same words as ``policies.messages.STATUS_LABELS``).
STATUS_LABELS: Mapping[str, str] = {
    "received": "已受理",
    "dispatched": "已派单",
    "in_progress": "处理中",
    "resolved": "已办结",
    "closed": "已评价",
    "reopened": "重新办理中",
    "rejected": "已退回",
}
TERMINAL_STATUSES = frozenset({"closed", "rejected"})
#: Not finished for the resident (``resolved`` still waits for their rating).
OPEN_STATUSES = frozenset(STATUSES) - TERMINAL_STATUSES
#: Work is still owed: the SLA clock runs, a passed deadline makes the ticket overdue.
WORKING_STATUSES = frozenset({"received", "dispatched", "in_progress", "reopened"})

_ALLOWED: Mapping[str, frozenset[str]] = {
    "received": frozenset({"dispatched", "in_progress", "resolved", "rejected"}),
    "dispatched": frozenset({"in_progress", "resolved", "rejected"}),
    "in_progress": frozenset({"resolved", "rejected"}),
    "reopened": frozenset({"dispatched", "in_progress", "resolved", "rejected"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}
_RATING_ONLY = frozenset({"closed", "reopened"})

LEVELS: tuple[str, ...] = ("community", "street", "district", "city")
LEVEL_LABELS: Mapping[str, str] = {
    "community": "社区",
    "street": "街道",
    "district": "区",
    "city": "市",
}

RATINGS: tuple[str, ...] = ("satisfied", "basically_satisfied", "unsatisfied")
RATING_LABELS: Mapping[str, str] = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}
RATING_PROMPT = "请回复：满意 / 基本满意 / 不满意"

DEFAULT_GRID = "街道网格化指挥中心"

#: ``20261123-0042``: the local date the ticket was received, then a per-day counter.
TICKET_ID_RE = re.compile(r"^\d{8}-\d{4,}$")

PushChannel = Literal["custom", "template", "none"]


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)


def next_level(level: str) -> str | None:
    """The level above ``level`` (社区 → 街道 → 区 → 市); ``None`` at the city level."""
    try:
        index = LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown level {level!r}; one of {', '.join(LEVELS)}") from None
    return LEVELS[index + 1] if index + 1 < len(LEVELS) else None


def transition_problem(
    current: str, target: str, *, note: str | None = None, via_rating: bool = False
) -> str | None:
    """Why ``current → target`` is refused, or ``None`` when it is allowed.

    ``via_rating``: the change comes from a rating (the only way out of ``resolved``).
    """
    if target not in _ALLOWED:
        return f"unknown status {target!r}; one of {', '.join(STATUSES)}"
    if current not in _ALLOWED:
        return f"ticket has unknown status {current!r}"
    if target not in _ALLOWED[current]:
        if current in TERMINAL_STATUSES:
            return f"cannot change a {current} ticket (to {target}): it is final"
        return f"cannot change a ticket from {current} to {target}"
    if target in _RATING_ONLY and not via_rating:
        return f"{current} → {target} happens only through the resident's rating"
    if target == "rejected" and not (note and note.strip()):
        return "rejecting a ticket needs a note: the reason the resident is told"
    return None


def rating_outcome(rating: str) -> str:
    """The status a rating leads to: ``closed``, or ``reopened`` when unsatisfied."""
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
    return "reopened" if rating == "unsatisfied" else "closed"


def format_ticket_id(day: str, number: int) -> str:
    """``format_ticket_id("20261123", 42)`` → ``20261123-0042`` (five digits past 9999)."""
    return f"{day}-{number:04d}"


# -- SLA ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaRules:
    """Hours a ticket may stay open, by category and urgency (calendar hours).

    ``urgent_hours`` caps the deadline of urgent tickets; ``escalation_hours`` is the new
    deadline after an escalation (``None``: the ticket's own hours again).
    """

    default_hours: float = 72.0
    urgent_hours: float = 24.0
    categories: Mapping[str, float] = field(default_factory=dict)
    escalation_hours: float | None = None
    initial_level: str = "community"

    def __post_init__(self) -> None:
        hours = [self.default_hours, self.urgent_hours, *self.categories.values()]
        if self.escalation_hours is not None:
            hours.append(self.escalation_hours)
        if any(h <= 0 for h in hours):
            raise ValueError("SLA hours must be positive")
        if self.initial_level not in LEVELS:
            raise ValueError(f"initial_level must be one of {', '.join(LEVELS)}")

    def hours(self, category: str, urgent: bool) -> float:
        hours = self.categories.get(category, self.default_hours)
        return min(hours, self.urgent_hours) if urgent else hours

    def due_at(self, category: str, urgent: bool, start: datetime) -> datetime:
        """The deadline of a ticket received (or re-dispatched) at ``start``."""
        return start + timedelta(hours=self.hours(category, urgent))

    def due_after_escalation(self, category: str, urgent: bool, start: datetime) -> datetime:
        if self.escalation_hours is not None:
            return start + timedelta(hours=self.escalation_hours)
        return self.due_at(category, urgent, start)


def parse_sla_rules(document: Mapping[str, Any]) -> SlaRules:
    categories = {str(k): float(v) for k, v in (document.get("categories") or {}).items()}
    escalation = document.get("escalation_hours")
    return SlaRules(
        default_hours=float(document.get("default_hours", 72)),
        urgent_hours=float(document.get("urgent_hours", 24)),
        categories=categories,
        escalation_hours=float(escalation) if escalation is not None else None,
        initial_level=str(document.get("initial_level", "community")),
    )


def _read_rules(path: str | Path | None, packaged: str) -> Any:
    if path is None:
        text = resources.files("policies").joinpath(f"data/{packaged}").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError(f"{path or packaged}: expected a mapping at the top level")
    return document


def load_sla_rules(path: str | Path | None = None) -> SlaRules:
    """The SLA rules from ``path``, or the packaged ``policies/data/sla.yaml``."""
    return parse_sla_rules(_read_rules(path, "sla.yaml"))


# -- grid routing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GridRule:
    """Locations containing any of ``keywords`` belong to ``grid`` (for ``categories`` only,
    when given)."""

    grid: str
    keywords: tuple[str, ...]
    categories: frozenset[str] = frozenset()

    def matches(self, location: str, category: str) -> bool:
        if self.categories and category not in self.categories:
            return False
        return any(keyword in location for keyword in self.keywords)


@dataclass(frozen=True, slots=True)
class GridRules:
    """Ordered rules; the first match wins, else ``default_grid``."""

    rules: tuple[GridRule, ...] = ()
    default_grid: str = DEFAULT_GRID

    def route(self, location: str, category: str = "") -> str:
        for rule in self.rules:
            if rule.matches(location, category):
                return rule.grid
        return self.default_grid


def parse_grid_rules(document: Mapping[str, Any]) -> GridRules:
    rules: list[GridRule] = []
    for index, entry in enumerate(document.get("rules") or []):
        if not isinstance(entry, dict) or not entry.get("grid") or not entry.get("keywords"):
            raise ValueError(f"grid rule {index + 1}: needs a grid and keywords")
        rules.append(
            GridRule(
                grid=str(entry["grid"]),
                keywords=tuple(str(k) for k in entry["keywords"] if str(k)),
                categories=frozenset(str(c) for c in entry.get("categories") or ()),
            )
        )
    return GridRules(tuple(rules), str(document.get("default_grid") or DEFAULT_GRID))


def load_grid_rules(path: str | Path | None = None) -> GridRules:
    """The grid rules from ``path``, or the packaged ``policies/data/grid_rules.yaml``."""
    return parse_grid_rules(_read_rules(path, "grid_rules.yaml"))


# -- pushes to the resident ----------------------------------------------------------------------


def choose_push_channel(
    *,
    last_inbound_at: datetime | None,
    now: datetime,
    sent_in_window: int,
    quota: int,
    window: timedelta = timedelta(hours=48),
    template_configured: bool,
) -> PushChannel:
    """Customer-service text while the resident wrote within ``window`` and the quota lasts,
    else the template message, else nothing can reach them."""
    if (
        last_inbound_at is not None
        and now - last_inbound_at < window
        and sent_in_window < quota
    ):
        return "custom"
    return "template" if template_configured else "none"


_PARENTHESES_RE = re.compile(r"[（(][^）)]*[）)]")


def short_category_label(label: str) -> str:
    """A category's name as said in a sentence: without its bracketed examples
    (``噪音扰民(装修/空调外机/广场舞/商铺)`` → ``噪音扰民``)."""
    return _PARENTHESES_RE.sub("", label).strip() or label


def _subject(category_label: str, ticket_id: str) -> str:
    return f"您反映的“{short_category_label(category_label)}”问题（工单号{ticket_id}）"


def _with_note(note: str | None) -> str:
    note = (note or "").strip().rstrip("。.")
    return f"，处理结果：{note}" if note else ""


def status_push_text(
    *,
    ticket_id: str,
    category_label: str,
    status: str,
    department: str | None = None,
    level: str | None = None,
    note: str | None = None,
    escalated: bool = False,
) -> str:
    """The short, polite message telling a resident their ticket changed.

    ``note`` is used only where it is meant for the resident (the outcome of ``resolved``,
    the reason of ``rejected``); other notes are staff-internal.
    """
    subject = _subject(category_label, ticket_id)
    where = department or "相关部门"
    if status == "received":
        return f"{subject}已受理，我们会尽快派单处理。"
    if status == "dispatched":
        if escalated:
            upper = f"{level_label(level)}级" if level else "上级"
            return f"{subject}已提交{upper}部门（{where}）继续办理，我们会尽快给您答复。"
        return f"{subject}已派单至{where}，我们会尽快处理。"
    if status == "in_progress":
        return f"{subject}正在处理中，工作人员可能会与您电话联系，请保持电话畅通。"
    if status == "resolved":
        return f"{subject}已办结{_with_note(note)}。请您对办理结果进行评价，{RATING_PROMPT}"
    if status == "closed":
        return f"{subject}已完成评价，感谢您的支持！"
    if status == "reopened":
        return f"{subject}已重新办理，并提交上一级部门跟进，我们会尽快给您答复。"
    if status == "rejected":
        reason = (note or "").strip().rstrip("。.")
        return (
            f"很抱歉，{subject}未能受理，原因：{reason}。如有疑问，请回复“转人工”。"
        )
    return f"{subject}状态已更新为“{status_label(status)}”。"


def status_template_fields(
    *, ticket_id: str, category_label: str, status: str, text: str
) -> dict[str, str]:
    """Data of the status template message (keys ``first``, ``keyword1`` (ticket id),
    ``keyword2`` (status), ``remark``)."""
    if status == "resolved":
        remark = f"请回复公众号对办理结果进行评价：{RATING_PROMPT.removeprefix('请回复：')}。"
    else:
        # The push text without its subject (which keyword1/first already carry).
        remark = text.split("）", 1)[-1].lstrip("，,") or text
    return {
        "first": f"您反映的“{short_category_label(category_label)}”问题有新进展",
        "keyword1": ticket_id,
        "keyword2": status_label(status),
        "remark": remark[:200],
    }

