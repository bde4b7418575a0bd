"""Pure rules of tickets (工单): statuses, levels, SLA deadlines, routing, push wording.

Nothing here does I/O beyond reading the packaged YAML rule files; the ticket store in
``integrations/tickets`` applies these rules and turns a refusal into a typed error.

Status machine (``received`` 已受理 → ``dispatched`` 已派单 → ``in_progress`` 处理中 →
``resolved`` 已办结 → ``closed`` 已评价, plus ``reopened``, ``returned`` 退单待审定 and
``rejected``)::

    received    → dispatched, in_progress, resolved*, rejected*
    dispatched  → in_progress, resolved*, rejected*, returned (a department's return)
    in_progress → resolved*, rejected*, returned (a department's return)
    returned    → dispatched (the review: re-routed or sent back), resolved*, rejected*
    reopened    → dispatched, in_progress, resolved*, rejected*
    resolved    → closed (solved, and the satisfaction answer given),
                  reopened (not solved)                — only through the resident's answers
    closed, rejected: final

``*`` staff may resolve or reject from any open status; ``rejected`` needs a note (the reason
the resident is told). A department *returning* a ticket (退单) is not a rejection: it waits
for the dispatch level above to review it (审定, :func:`review_refusal`), which re-routes it
to another department or sends it back. Who may make which change is :data:`Via`.

Every refusal is a :class:`Refusal`: the reason in English for the API and logs, the same
in Chinese for staff. The timeline notes and the pushes residents read are worded here too
(``timeline_*``, :func:`status_push_text`), and the customer-service quota that every text
to a resident is counted against (:func:`customer_service_refusal`).
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
    "AT_DEPARTMENT",
    "CHANNELS",
    "CHANNEL_LABELS",
    "CLOCK_STATUSES",
    "DEFAULT_GRID",
    "DISPATCH_DONE",
    "LEVELS",
    "LEVEL_LABELS",
    "OPEN_STATUSES",
    "RATINGS",
    "RATING_LABELS",
    "RATING_PROMPT",
    "REPEAT_WINDOW",
    "REVIEW_DECISIONS",
    "REVIEW_LABELS",
    "SOLVED_PROMPT",
    "STATUSES",
    "STATUS_LABELS",
    "TERMINAL_STATUSES",
    "TICKET_ID_RE",
    "TIMELINE_REQUEUED",
    "UNDISPATCHED",
    "UNSTATED_REASON",
    "WORKING_STATUSES",
    "CustomerServiceRefusal",
    "GridRule",
    "GridRules",
    "Refusal",
    "ReportedChange",
    "ReviewDecision",
    "SlaRules",
    "Via",
    "assignment_refusal",
    "customer_service_refusal",
    "escalation_refusal",
    "escalation_wording",
    "follow_up_push_text",
    "format_ticket_id",
    "level_label",
    "load_grid_rules",
    "load_sla_rules",
    "next_level",
    "parse_grid_rules",
    "parse_sla_rules",
    "rating_outcome",
    "rating_refusal",
    "repeat_place",
    "reported_change",
    "return_refusal",
    "review_refusal",
    "short_category_label",
    "staff_status_choices",
    "status_label",
    "status_locked_text",
    "status_push_text",
    "status_template_fields",
    "timeline_assigned",
    "timeline_delivered",
    "timeline_delivered_too_late",
    "timeline_department_return",
    "timeline_desk_assignment",
    "timeline_downstream_return",
    "timeline_external_id",
    "timeline_filed",
    "timeline_follow_up",
    "timeline_overdue",
    "timeline_parked",
    "timeline_rated",
    "timeline_repeat",
    "timeline_review",
    "timeline_solved",
    "timeline_staff_escalation",
    "timeline_supervised",
    "timeline_warning",
    "transition_refusal",
]

STATUSES: tuple[str, ...] = (
    "received",
    "dispatched",
    "in_progress",
    "resolved",
    "closed",
    "reopened",
    "rejected",
    "returned",
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
    "returned": "退单待审定",
}
TERMINAL_STATUSES = frozenset({"closed", "rejected"})
#: Not finished for the resident (``resolved`` still waits for their rating).
OPEN_STATUSES = frozenset(STATUSES) - TERMINAL_STATUSES
#: Work is still owed: the SLA clock runs, a passed deadline makes the ticket overdue.
WORKING_STATUSES = frozenset({"received", "dispatched", "in_progress", "reopened"})
#: The ticket sits at a department: it can be returned (退单), and it escalates when overdue.
AT_DEPARTMENT = frozenset({"dispatched", "in_progress"})
#: A department's working-day clocks (签收, 办结) run and warn (预警): not while a return
#: waits for its review (no department holds the ticket then).
CLOCK_STATUSES = WORKING_STATUSES
#: Not yet (or no longer) at a department: the next delivery makes them ``dispatched``.
UNDISPATCHED = frozenset({"received", "reopened"})
#: Finished by staff or downstream: deliveries still waiting are cancelled.
DISPATCH_DONE = frozenset({"resolved", "rejected"})

_ALLOWED: Mapping[str, frozenset[str]] = {
    "received": frozenset({"dispatched", "in_progress", "resolved", "rejected"}),
    "dispatched": frozenset({"in_progress", "resolved", "rejected", "returned"}),
    "in_progress": frozenset({"resolved", "rejected", "returned"}),
    "returned": frozenset({"dispatched", "resolved", "rejected"}),
    "reopened": frozenset({"dispatched", "in_progress", "resolved", "rejected"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}
#: Who makes a change: staff by hand, the resident's answers after 办结 (``feedback``, or
#: staff recording them on a call-back), a department's return (退单), the review of a
#: return (审定).
Via = Literal["staff", "feedback", "return", "review"]
#: Changes only one of them makes (everything else only staff make).
_ONLY_VIA: Mapping[str, Via] = {
    "closed": "feedback",
    "reopened": "feedback",
    "returned": "return",
}
_ONLY_VIA_FROM: Mapping[tuple[str, str], Via] = {("returned", "dispatched"): "review"}
_VIA_TEXTS: Mapping[Via, str] = {
    "staff": "",
    "feedback": "“{then}”只能由群众评价产生，不能手动设置。",
    "return": "退单请使用“部门退单”，并写明原因。",
    "review": "退单需经审定后重新派单，请在“退单审定”中处理。",
}
_VIA_NAMES: Mapping[Via, str] = {
    "staff": "staff",
    "feedback": "the resident's rating (their answers after it was resolved)",
    "return": "a department's return",
    "review": "the review of the return",
}

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
#: Asked first after 办结; satisfaction (:data:`RATING_PROMPT`) is asked after it.
SOLVED_PROMPT = "请问问题解决了吗？请回复：已解决 / 没解决"

DEFAULT_GRID = "街道网格化指挥中心"

#: A complaint from the same resident about the same kind of problem at the same place
#: within this long is a repeat, linked to the first ticket.
REPEAT_WINDOW = timedelta(days=30)

#: Where a ticket came from, as staff read it.
CHANNEL_LABELS: Mapping[str, str] = {
    "wechat": "微信公众号",
    "phone": "电话",
    "walk_in": "现场",
    "web": "网站",
    "app": "App",
    "email": "邮件",
    "other": "其他渠道",
}
CHANNELS = frozenset(CHANNEL_LABELS)

#: ``20261123-0042``: the local date the ticket was received, then a per-day counter.
TICKET_ID_RE = re.compile(r"^\d{8}-\d{4,}$")



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


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the rules refuse a change to a ticket.

    ``reason`` is English (the API's ``detail``, logs), ``text`` the same in polite Chinese
    for staff; ``incomplete``: the request lacks something (a known status, a reason) — with
    it the change would be allowed.
    """

    reason: str
    text: str
    incomplete: bool = False


def transition_refusal(
    current: str, target: str, *, note: str | None = None, via: Via = "staff"
) -> Refusal | None:
    """Why ``current → target`` is refused, or ``None`` when it is allowed.

    ``via``: who makes the change. The resident's answers after 办结 (``feedback``) are the
    only way out of ``resolved``; only a department's return makes ``returned``, and only
    the review of the return (审定) dispatches it again.
    """
    if target not in _ALLOWED:
        return Refusal(
            f"unknown status {target!r}; one of {', '.join(STATUSES)}",
            "请从列表中选择一个状态。",
            incomplete=True,
        )
    if current not in _ALLOWED:
        return Refusal(
            f"ticket has unknown status {current!r}", f"工单状态“{current}”无法识别，请联系管理员。"
        )
    now, then = status_label(current), status_label(target)
    if current in TERMINAL_STATUSES:
        return Refusal(
            f"cannot change a {current} ticket (to {target}): it is final",
            f"工单已是“{now}”，不能再更改状态。",
        )
    only = _ONLY_VIA_FROM.get((current, target)) or _ONLY_VIA.get(target)
    if only is not None and via != only:
        return Refusal(
            f"{current} → {target} happens only through {_VIA_NAMES[only]}",
            _VIA_TEXTS[only].format(then=then),
        )
    if target not in _ALLOWED[current]:
        if current == "resolved":
            text = "工单已办结，正在等待群众评价，不能再更改状态。"
        elif target == current:
            text = f"工单已经是“{now}”了。"
        else:
            text = f"工单当前是“{now}”，不能改为“{then}”。"
        return Refusal(f"cannot change a ticket from {current} to {target}", text)
    if target == "rejected" and not (note and note.strip()):
        return Refusal(
            "rejecting a ticket needs a note: the reason the resident is told",
            "退回工单需要填写原因，原因会告知群众。",
            incomplete=True,
        )
    return None


def staff_status_choices(current: str) -> tuple[str, ...]:
    """The statuses staff may move a ``current`` ticket to (given a note where needed)."""
    return tuple(s for s in STATUSES if transition_refusal(current, s, note="-") is None)


def status_locked_text(current: str) -> str:
    """Why staff have no status to choose for a ``current`` ticket."""
    if current == "resolved":
        return "工单已办结，正在等待群众评价。"
    return "工单已结束，不能再更改状态。"


def return_refusal(status: str) -> Refusal | None:
    """Why a department cannot return (退单) a ticket now, or ``None``: only a ticket it
    holds (dispatched, in progress), at any level — the level above reviews the return."""
    if status not in AT_DEPARTMENT:
        return Refusal(
            f"only a dispatched or in-progress ticket can be returned (it is {status})",
            "只有“已派单”或“处理中”的工单可以退单，"
            f"这张工单当前是“{status_label(status)}”。",
        )
    return None


#: What the review of a department's return (审定) decides.
ReviewDecision = Literal["reroute", "send_back"]
REVIEW_DECISIONS: tuple[ReviewDecision, ...] = ("reroute", "send_back")
REVIEW_LABELS: Mapping[str, str] = {
    "reroute": "改派其他部门",
    "send_back": "退单不成立，退回原部门",
}


def review_refusal(
    status: str, decision: str, *, current_department: str, department: str | None
) -> Refusal | None:
    """Why a return cannot be decided this way now, or ``None``: the ticket must wait for
    review; re-routing needs another department."""
    if status != "returned":
        return Refusal(
            f"only a returned ticket can be reviewed (it is {status})",
            f"这张工单当前是“{status_label(status)}”，没有待审定的退单。",
        )
    if decision not in REVIEW_DECISIONS:
        return Refusal(
            f"unknown decision {decision!r}; one of {', '.join(REVIEW_DECISIONS)}",
            "请选择审定结果：改派其他部门，或退回原部门。",
            incomplete=True,
        )
    if decision == "reroute" and (not department or department == current_department):
        return Refusal(
            "re-routing needs another department",
            "改派需要选择另一个承办部门。",
            incomplete=True,
        )
    return None


def escalation_refusal(status: str, level: str) -> Refusal | None:
    """Why staff cannot escalate (督办) a ticket now, or ``None``."""
    if status not in WORKING_STATUSES or next_level(level) is None:
        return Refusal(
            "only an open ticket below the city level can be escalated",
            "这张工单已办结或已在市级办理，不能再升级。",
        )
    return None


def assignment_refusal(status: str) -> Refusal | None:
    """Why staff cannot change who works on a ticket now, or ``None``."""
    if status not in WORKING_STATUSES:
        return Refusal(
            f"only an open ticket still being worked on can be assigned (it is {status})",
            f"工单已是“{status_label(status)}”，不能再指派。",
        )
    return None


def rating_refusal(status: str) -> Refusal | None:
    """Why a ticket cannot be rated now, or ``None``."""
    if status != "resolved":
        return Refusal(
            f"only a resolved ticket can be rated (it is {status})",
            f"只有已办结的工单可以评价，这张工单当前是“{status_label(status)}”。",
        )
    return None


#: What a dispatch system's status report does to a ticket (:func:`reported_change`).
ReportedChange = Literal["apply", "return", "note_return", "ignore"]


def reported_change(current: str, reported: str) -> ReportedChange:
    """What a status reported by a dispatch system does to a ``current`` ticket.

    ``reported`` is already in our vocabulary (``closed`` read as ``resolved``: closing is
    the resident's rating). ``rejected`` is a department return (退单, reviewed above it)
    while the ticket sits at a department, else only noted for staff on an open ticket.
    Repeats, statuses only we set and changes the status machine refuses are ignored
    (stale or out of order).
    """
    if reported == "rejected":
        if return_refusal(current) is None:
            return "return"
        return "note_return" if current in OPEN_STATUSES else "ignore"
    if reported == current or reported in UNDISPATCHED or reported == "returned":
        return "ignore"
    return "apply" if transition_refusal(current, reported, note="-") is None else "ignore"


def rating_outcome(rating: str) -> str:
    """The status a rating leads to: ``closed``, or ``reopened`` when unsatisfied."""
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
    return "reopened" if rating == "unsatisfied" else "closed"


def repeat_place(keys: tuple[str, ...], number: int | None) -> str | None:
    """What two complaints must share to be at the same place: the most specific place
    key (:func:`policies.place_key.place_key`), with the house number on a road."""
    if not keys:
        return None
    place = keys[0] if number is None or not keys[0].startswith("road:") else f"{keys[0]}#{number}"
    return place[:200]


def format_ticket_id(day: str, number: int) -> str:
    """``format_ticket_id("20261123", 42)`` → ``20261123-0042`` (five digits past 9999)."""
    return f"{day}-{number:04d}"


# -- SLA ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaRules:
    """Hours a ticket may stay open, by category and urgency (calendar hours).

    ``urgent_hours`` caps the deadline of urgent tickets; ``escalation_hours`` is the new
    deadline after an escalation (``None``: the ticket's own hours again). These calendar
    hours now serve only imported history without clocks; tickets run on the working-day
    clocks of the same file (:mod:`policies.deadlines`). ``follow_up_categories``: the
    problem classes that tend to come back, asked about again (回访) after closing.
    """

    default_hours: float = 72.0
    urgent_hours: float = 24.0
    categories: Mapping[str, float] = field(default_factory=dict)
    escalation_hours: float | None = None
    initial_level: str = "community"
    follow_up_categories: frozenset[str] = frozenset()

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
        follow_up_categories=frozenset(
            str(c) for c in document.get("follow_up_categories") or ()
        ),
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


#: Why a customer-service text cannot go to a resident now (:func:`customer_service_refusal`).
CustomerServiceRefusal = Literal["window_closed", "over_quota"]


def customer_service_refusal(
    *,
    last_inbound_at: datetime | None,
    now: datetime,
    sent_in_window: int,
    quota: int,
    window: timedelta = timedelta(hours=48),
) -> CustomerServiceRefusal | None:
    """WeChat takes customer-service texts to a resident only within ``window`` of their
    last message, and we send at most ``quota`` of them per window (every text counts:
    status pushes, late replies, staff replies). ``None``: one more may go out."""
    if last_inbound_at is None or now - last_inbound_at >= window:
        return "window_closed"
    if sent_in_window >= quota:
        return "over_quota"
    return None


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
    rerouted: bool = False,
) -> str:
    """The short, polite message telling a resident their ticket changed.

    ``note`` is used only where it is meant for the resident (the outcome of ``resolved``,
    the reason of ``rejected``); other notes are staff-internal. ``rerouted``: after a
    department's return the dispatch desk gave the ticket to another department (审定).
    """
    subject = _subject(category_label, ticket_id)
    where = department or "相关部门"
    if status == "received":
        return f"{subject}已受理，我们会尽快派单处理。"
    if status == "dispatched" and rerouted:
        return f"{subject}经核定，已改由{where}办理，我们会尽快给您答复。"
    if status == "dispatched":
        if escalated:
            upper = f"{level_label(level)}级" if level else "上级"
            return f"{subject}已提交{upper}部门（{where}）继续办理，我们会尽快给您答复。"
        return f"{subject}已派单至{where}，我们会尽快处理。"
    if status == "in_progress":
        return f"{subject}正在处理中，工作人员可能会与您电话联系，请保持电话畅通。"
    if status == "resolved":
        return f"{subject}已办结{_with_note(note)}。{SOLVED_PROMPT}"
    if status == "closed":
        return f"{subject}已完成评价，感谢您的支持！"
    if status == "reopened":
        return f"{subject}已重新交由{where}办理，我们会尽快给您答复。"
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
        remark = f"问题解决了吗？请回复公众号：{SOLVED_PROMPT.rsplit('：', 1)[-1]}。"
    else:
        # The push text without its subject (which keyword1/first already carry).
        remark = text.split("）", 1)[-1].lstrip("，,") or text
    return {
        "first": f"您反映的“{short_category_label(category_label)}”问题有新进展",
        "keyword1": ticket_id,
        "keyword2": status_label(status),
        "remark": remark[:200],
    }


# -- timeline notes (staff read them with the ticket; the API shows them) ---------------------

#: Said when a department or a dispatch system gives no reason.
UNSTATED_REASON = "未说明原因"
TIMELINE_REQUEUED = "重新派单（人工重试）"


def escalation_wording(upper: str | None) -> str:
    """What an escalation did: one level up to ``upper``, or nothing above the city."""
    return f"升级至{level_label(upper)}级办理" if upper else "已在市级，由市级督办"


def timeline_filed(channel: str) -> str:
    return f"渠道：{CHANNEL_LABELS.get(channel, channel)}"


def timeline_rated(rating: str, reason: str | None, escalation: str | None = None) -> str:
    note = f"评价：{RATING_LABELS.get(rating, rating)}" + (f"（{reason}）" if reason else "")
    return f"{note}；{escalation}" if escalation else note


def timeline_repeat(first_id: str) -> str:
    return f"重复投诉：30天内同一群众在同一地点反映同类问题，首次工单{first_id}"


def timeline_solved(solved: bool, words: str | None) -> str:
    """The resident's answer to "was it solved?" (with their own words, if any)."""
    said = f"（群众原话：{words}）" if words else ""
    if solved:
        return f"群众反馈：问题已解决{said}"
    return f"群众反馈：问题没有解决{said}；重新交原部门办理"


def timeline_supervised(note: str) -> str:
    return f"督办复核：{note}"


def timeline_follow_up(state: str, words: str | None = None) -> str:
    """The 回访: asked, or the resident's answer (``ok``, ``recurred``)."""
    said = f"（群众原话：{words}）" if words else ""
    return {
        "asked": "回访：已询问群众问题是否再次出现",
        "ok": f"回访：群众表示问题没有再出现{said}",
        "recurred": f"回访：群众表示问题再次出现{said}，已重新立单",
    }.get(state, f"回访：{state}")


def follow_up_push_text(*, ticket_id: str, category_label: str) -> str:
    """The 回访 question, some days after closing."""
    return (
        f"回访：{_subject(category_label, ticket_id)}办结已有一段时间，问题有没有再出现？"
        "请回复：没再出现 / 又出现了"
    )


def timeline_assigned(department: str | None, grid: str | None, note: str | None) -> str:
    changes = [f"责任部门：{department}"] if department else []
    changes += [f"网格：{grid}"] if grid else []
    return "指派 " + "，".join(changes) + (f"（{note}）" if note else "")


def timeline_staff_escalation(reason: str, escalation: str) -> str:
    return f"人工升级：{reason}；{escalation}"


def timeline_department_return(department: str, note: str, suggested: str | None = None) -> str:
    """A department returned the ticket (退单): it waits for the review above."""
    hint = f"（建议改派{suggested}）" if suggested else ""
    return f"{department}退单：{note}{hint}；等待审定"


def timeline_review(
    decision: str,
    *,
    from_department: str,
    to_department: str,
    note: str | None,
    category_label: str | None = None,
) -> str:
    """The review of a return (审定): re-routed to ``to_department``, or sent back."""
    why = f"（{note}）" if note else ""
    if decision == "reroute":
        category = f"，类别改为“{category_label}”" if category_label else ""
        return f"审定：改派{to_department}办理（原{from_department}）{category}{why}"
    return f"审定：退单不成立，仍由{from_department}办理{why}"


def timeline_warning(department: str, text: str) -> str:
    """A warning (预警) sent to the department (``text``:
    :func:`policies.deadlines.warning_text`)."""
    return f"向{department}发出预警：{text}"


def timeline_downstream_return(note: str | None) -> str:
    """A dispatch system returned a ticket that cannot go further up: staff decide."""
    return f"下游退回：{note or UNSTATED_REASON}；需人工处理"


def timeline_overdue(deadline: str, escalation: str) -> str:
    return f"超过办理时限（{deadline}）；{escalation}"


def timeline_delivered(department: str, reference: str | None, note: str | None) -> str:
    """A delivery reached the dispatch system (``note``: what it said, if anything)."""
    text = note or f"已派单至{department}"
    return text + (f"（编号{reference}）" if reference else "")


def timeline_delivered_too_late(generation: int, reference: str | None) -> str:
    return f"第{generation}次派单已送达（{reference or '无编号'}），但已不再需要"


def timeline_parked(permanent: bool, attempts: int, error: str) -> str:
    why = "下游拒收" if permanent else f"连续{attempts}次派单失败"
    return f"{why}，已转人工处理：{error}"


def timeline_external_id(token: str, external_id: str | None) -> str:
    """What a dispatch system's token resolved into (``None``: it never did)."""
    if external_id is None:
        return f"下游长期未分配编号（token {token}），需人工核实"
    return f"下游编号：{external_id}"


def timeline_desk_assignment(department: str, grid: str, level: str) -> str:
    """The embedded desk's receipt: where the ticket went."""
    return f"已派单至{department}（{grid}，{level_label(level)}级）"
