"""The 推送情况 section of a ticket's console page: each status push and its fallback chain.

Staff read where each push went (客服消息 → 模板消息 → 订阅通知 → 短信) and, when none
delivered it, why each step did not; the wording is :mod:`policies.pushes`'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from integrations.tickets import PushFate
from policies.pushes import fate_label, step_summary
from policies.tickets import status_label
from privacy import mask_openid

__all__ = ["push_fate_rows"]


def push_fate_rows(
    fates: Sequence[PushFate],
    *,
    when: Callable[[datetime | None], str],
    ticket_openid: str | None,
    revealed: bool,
) -> list[dict[str, Any]]:
    """One row per push, newest first, ready for ``ticket_detail.html``."""
    rows = []
    for fate in reversed(fates):
        push = fate.push
        follower = push.openid != ticket_openid
        rows.append(
            {
                "id": push.id,
                "status": status_label(push.ticket_status),
                "fate": fate_label(push.status, push.via),
                "undelivered": push.status == "failed",
                "created": when(push.created_at),
                "sent": when(push.sent_at) if push.sent_at else "",
                "to": (
                    "关注者 " + (push.openid if revealed else mask_openid(push.openid))
                    if follower
                    else "提交人"
                ),
                "steps": [
                    step_summary(step.channel, step.outcome, step.errcode, step.detail)
                    for step in fate.attempts
                ],
            }
        )
    return rows
