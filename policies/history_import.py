"""How a 12345 hotline's export of past tickets is read (``intake tickets import``).

Pure rules: which column headers mean what (Chinese or English, as exports name them),
how times, statuses, satisfaction and categories are written, and what makes a row
unusable. ``integrations/analytics/importer.py`` reads the file and stores the tickets.

Columns (the first header row; names compared without spaces, case-insensitively):

========== ================================================================= ==========
field      headers accepted                                                  required
========== ================================================================= ==========
time       时间 受理时间 来电时间 登记时间 创建时间 工单时间 time created_at       yes
category   类别 分类 问题类别 问题分类 诉求类别 诉求分类 category                 yes
address    地址 地点 事发地址 发生地址 诉求地址 问题地址 address location          yes
content    内容 诉求内容 问题描述 描述 来电内容 content description               yes
department 部门 承办单位 承办部门 责任部门 办理部门 department                     no
status     状态 办理状态 工单状态 status                                         no
rating     满意度 评价 回访结果 满意情况 satisfaction rating                       no
phone      电话 来电号码 联系电话 phone                                          no
signed_at  签收时间 signed_at                                                    no
resolved_at 办结时间 办结日期 resolved_at                                        no
========== ================================================================= ==========

A category is matched to the taxonomy by its id, by its Chinese label or one of the label's
parts (``路灯不亮/损坏`` → ``路灯不亮``, ``损坏``), or by a part of a label it contains
(or that contains it) when only one category fits; otherwise the ticket is kept under
``report.other`` with a warning naming the line — never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from policies.taxonomy import Taxonomy
from policies.tickets import short_category_label

__all__ = [
    "FIELDS",
    "REQUIRED",
    "CategoryMatcher",
    "header_fields",
    "parse_rating",
    "parse_status",
    "parse_time",
]

#: field → header names that mean it (compared without spaces, lower-cased)
FIELDS: Mapping[str, tuple[str, ...]] = {
    "time": ("时间", "受理时间", "来电时间", "登记时间", "创建时间", "工单时间", "诉求时间",
             "time", "created_at", "created"),
    "category": ("类别", "分类", "问题类别", "问题分类", "诉求类别", "诉求分类", "类型",
                 "category"),
    "address": ("地址", "地点", "事发地址", "发生地址", "诉求地址", "问题地址", "address",
                "location"),
    "content": ("内容", "诉求内容", "问题描述", "描述", "来电内容", "content", "description"),
    "department": ("部门", "承办单位", "承办部门", "责任部门", "办理部门", "department"),
    "status": ("状态", "办理状态", "工单状态", "status"),
    "rating": ("满意度", "评价", "回访结果", "满意情况", "satisfaction", "rating"),
    "phone": ("电话", "来电号码", "联系电话", "phone"),
    "signed_at": ("签收时间", "signed_at"),
    "resolved_at": ("办结时间", "办结日期", "resolved_at"),
}
REQUIRED = ("time", "category", "address", "content")

_STATUS_WORDS: Mapping[str, str] = {
    **dict.fromkeys(("received", "已受理", "受理", "待派单", "待处理", "新建"), "received"),
    **dict.fromkeys(("dispatched", "已派单", "派单", "待签收", "已转办", "转办"), "dispatched"),
    **dict.fromkeys(
        ("in_progress", "办理中", "处理中", "已签收", "签收", "正在办理", "正在处理"), "in_progress"
    ),
    **dict.fromkeys(
        ("resolved", "已办结", "办结", "已解决", "已处理", "已完成", "完成"), "resolved"
    ),
    **dict.fromkeys(
        ("closed", "已关闭", "关闭", "已回访", "已评价", "已归档", "归档", "结案", "已结案"),
        "closed",
    ),
    **dict.fromkeys(("rejected", "已退回", "退回", "不予受理", "已驳回", "驳回"), "rejected"),
    **dict.fromkeys(("reopened", "重新办理", "重办", "已重办"), "reopened"),
}
_RATING_WORDS: Mapping[str, str | None] = {
    **dict.fromkeys(("satisfied", "满意", "非常满意", "很满意"), "satisfied"),
    **dict.fromkeys(
        ("basically_satisfied", "基本满意", "比较满意", "一般", "还行"), "basically_satisfied"
    ),
    **dict.fromkeys(("unsatisfied", "不满意", "很不满意", "非常不满意"), "unsatisfied"),
    **dict.fromkeys(("", "未评价", "未回访", "无", "-", "–", "—", "none", "null"), None),
}
_TIME_RE = re.compile(
    r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
    r"(?:[ T]*(\d{1,2})[:：时点](\d{1,2})分?(?:[:：]?(\d{1,2})秒?)?)?$"
)


def _key(header: str) -> str:
    return re.sub(r"\s+", "", header).lower().lstrip("\ufeff")


def header_fields(headers: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """Column index of each field found, and the required fields missing."""
    names = {name: field for field, names in FIELDS.items() for name in names}
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        field = names.get(_key(header))
        if field and field not in found:
            found[field] = index
    return found, [f for f in REQUIRED if f not in found]


def parse_time(text: str, tz: tzinfo) -> datetime:
    """``2026-07-01 08:30[:00]``, ``2026/7/1 8:30``, ``2026年7月1日 8时30分``, a date
    alone, or ISO 8601 (local time unless it says otherwise); ``ValueError`` if none."""
    text = text.strip()
    match = _TIME_RE.match(text)
    if match:
        year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=tz)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"时间“{text}”看不懂（例：2026-07-01 08:30）") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def parse_status(text: str) -> str:
    """A status as exports write it → ours (empty: 已办结, the usual state of history)."""
    key = _key(text)
    if not key:
        return "resolved"
    status = _STATUS_WORDS.get(key)
    if status is None:
        raise ValueError(f"状态“{text}”不认识（例：已受理、办理中、已办结、已回访、已退回）")
    return status


def parse_rating(text: str) -> str | None:
    key = _key(text)
    if key not in _RATING_WORDS:
        raise ValueError(f"满意度“{text}”不认识（例：满意、基本满意、不满意，或留空）")
    return _RATING_WORDS[key]


@dataclass(frozen=True, slots=True)
class CategoryMatcher:
    """Category texts of an export → taxonomy report ids (see the module docstring)."""

    exact: Mapping[str, str]
    parts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> CategoryMatcher:
        exact: dict[str, str] = {}
        parts: list[tuple[str, str]] = []
        for intent in taxonomy.of_kind("report"):
            exact[_key(intent.id)] = intent.id
            exact[_key(intent.zh)] = intent.id
            for part in short_category_label(intent.zh).split("/"):
                if part:
                    exact.setdefault(_key(part), intent.id)
                    parts.append((_key(part), intent.id))
        return cls(exact, tuple(parts))

    def match(self, text: str) -> str | None:
        """The report id, or None when no single category fits."""
        key = _key(text)
        if not key:
            return None
        if key in self.exact:
            return self.exact[key]
        fits = {cid for part, cid in self.parts if len(part) >= 2 and (part in key or key in part)}
        return fits.pop() if len(fits) == 1 else None
