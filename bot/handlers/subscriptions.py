"""Residents' answers to the subscribe popup (订阅通知), recorded as consents.

First in line (a resident talking to staff still answers popups): the popup's accept or
reject, a refusal in WeChat's settings and a send's report each change the consent on
record (:func:`policies.pushes.consent_change`); the status pushes use it for their third
step. Nothing is said back: these are not messages.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.dispatcher import Router
from bot.wechat.messages import SubscriptionEvent
from policies.pushes import consent_change
from privacy import mask_openid

__all__ = ["ConsentRecorder", "build_subscription_router"]

log = logging.getLogger(__name__)


class ConsentRecorder(Protocol):
    """What the router needs of :class:`integrations.notify.consents.SubscriptionConsents`."""

    async def grant(self, openid: str, template_id: str, *, source: str = ...) -> object: ...

    async def revoke(self, openid: str, template_id: str, *, source: str = ...) -> bool: ...


def build_subscription_router(consents: ConsentRecorder) -> Router:
    """The router recording subscription events (and only those)."""
    router = Router(name="subscriptions")

    @router.event(lambda message: isinstance(message, SubscriptionEvent))
    async def on_subscription_event(message: SubscriptionEvent) -> None:
        for choice in message.choices:
            change = consent_change(
                message.event, choice.status, choice.error_code, choice.error_status
            )
            if change == "grant":
                await consents.grant(message.openid, choice.template_id, source=message.event)
            elif change == "revoke":
                await consents.revoke(message.openid, choice.template_id, source=message.event)
        log.info("%s from %s: %d template(s)", message.event, mask_openid(message.openid),
                 len(message.choices))
        return None

    return router
