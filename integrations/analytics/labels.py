"""Names people read: categories in Chinese, and the most common value of a field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

from policies.taxonomy import load_taxonomy
from policies.tickets import short_category_label

__all__ = ["category_label", "most_common"]


@cache
def category_label(category: str) -> str:
    """``report.drainage`` → ``下水道堵塞``; an unknown id is shown as it is."""
    label = load_taxonomy().label(category)
    return short_category_label(label.split("/")[0]) if label != category else category


def most_common(values: Iterable[str | None]) -> str | None:
    """The most frequent non-empty value (ties: the alphabetically first), or None."""
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
