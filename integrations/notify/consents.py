"""Residents' consents to subscription messages (订阅通知), as WeChat told us or staff recorded.

WeChat reports a resident's choice in the subscribe popup (``subscribe_msg_popup_event``:
accept or reject per template), a later refusal in their settings
(``subscribe_msg_change_event``) and each send's result (``subscribe_msg_sent_event``);
the bot records them here (:class:`SubscriptionConsents`), and so does the staff API for
consent given another way. A ``one_time`` consent allows one send per accept and is used up
by it; a ``long_term`` one (长期订阅) stays until revoked. The push sender takes a consent in
the transaction that starts the send (:func:`take_consent`), gives it back when the send
certainly did not go out (:func:`give_back_consent`) and drops it when WeChat answers that
there is none (:func:`drop_consent`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import IntakeError
from integrations.db.models import SubscriptionConsentRow
from policies.pushes import CONSENT_KINDS
from privacy import mask_openid

if TYPE_CHECKING:
    from integrations.tickets.core import Core

__all__ = [
    "Consent",
    "InvalidConsent",
    "SubscriptionConsents",
    "drop_consent",
    "give_back_consent",
    "take_consent",
]

log = logging.getLogger("integrations.notify")

#: More one-time sends than this per template are not kept (WeChat caps them too).
_MAX_REMAINING = 1000


class InvalidConsent(IntakeError):
    """A consent that cannot be recorded (unknown kind, empty template, bad count)."""


@dataclass(frozen=True, slots=True)
class Consent:
    """A resident's consent to one subscription template (``remaining``: one-time sends
    left; meaningless for ``long_term``)."""

    openid: str
    template_id: str
    kind: str
    remaining: int
    source: str
    granted_at: datetime
    updated_at: datetime


def _snapshot(row: SubscriptionConsentRow) -> Consent:
    return Consent(
        row.openid, row.template_id, row.kind, row.remaining, row.source, row.granted_at,
        row.updated_at,
    )


async def _locked(
    session: AsyncSession, openid: str, template_id: str
) -> SubscriptionConsentRow | None:
    statement = (
        select(SubscriptionConsentRow)
        .where(
            SubscriptionConsentRow.openid == openid,
            SubscriptionConsentRow.template_id == template_id,
        )
        .with_for_update()
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _grant(
    session: AsyncSession,
    openid: str,
    template_id: str,
    *,
    kind: str,
    count: int,
    source: str,
    now: datetime,
) -> SubscriptionConsentRow:
    row = await _locked(session, openid, template_id)
    if row is None:
        row = SubscriptionConsentRow(
            openid=openid, template_id=template_id, kind=kind, remaining=0, source=source,
            granted_at=now, updated_at=now,
        )
        session.add(row)
    elif row.kind != kind:
        # The newer choice decides (a long-term consent replaces one-time sends left).
        row.remaining = 0
    row.kind = kind
    row.remaining = min(_MAX_REMAINING, row.remaining + count) if kind == "one_time" else 0
    row.source = source
    row.updated_at = now
    return row


async def take_consent(
    session: AsyncSession, openid: str, template_id: str, now: datetime
) -> str | None:
    """Use the resident's consent for one send (in the caller's transaction); the kind
    taken, or ``None`` when there is none. A one-time consent's last send deletes it."""
    row = await _locked(session, openid, template_id)
    if row is None:
        return None
    if row.kind == "one_time":
        if row.remaining <= 1:
            await session.delete(row)
        else:
            row.remaining -= 1
            row.updated_at = now
    return row.kind


async def give_back_consent(
    session: AsyncSession, openid: str, template_id: str, kind: str, now: datetime
) -> None:
    """The send a one-time consent was taken for certainly did not go out: keep it."""
    if kind == "one_time":
        await _grant(
            session, openid, template_id, kind="one_time", count=1, source="kept", now=now
        )


async def drop_consent(session: AsyncSession, openid: str, template_id: str) -> None:
    """WeChat says the resident has no subscription (43101): forget ours."""
    await session.execute(
        delete(SubscriptionConsentRow).where(
            SubscriptionConsentRow.openid == openid,
            SubscriptionConsentRow.template_id == template_id,
        )
    )


class SubscriptionConsents:
    """Recording and reading consents (table ``subscription_consents``)."""

    def __init__(self, core: Core, *, default_kind: str = "one_time") -> None:
        if default_kind not in CONSENT_KINDS:
            raise InvalidConsent(f"unknown consent kind {default_kind!r}")
        self.core = core
        self.default_kind = default_kind

    async def grant(
        self,
        openid: str,
        template_id: str,
        *,
        kind: str | None = None,
        count: int = 1,
        source: str = "wechat",
    ) -> Consent:
        """The resident accepted ``template_id``: one more one-time send (``count``), or
        a long-term consent. ``kind`` defaults to ``INTAKE_SUBSCRIBE_KIND``."""
        kind = kind or self.default_kind
        if kind not in CONSENT_KINDS:
            raise InvalidConsent(f"unknown consent kind {kind!r}; one of {CONSENT_KINDS}")
        if not openid or not template_id or len(template_id) > 128 or len(openid) > 64:
            raise InvalidConsent("openid and template id are required (≤ 64 / 128 chars)")
        if not 1 <= count <= _MAX_REMAINING:
            raise InvalidConsent(f"count must be 1–{_MAX_REMAINING}")
        now = self.core.now()
        async with self.core.write() as session:
            row = await _grant(
                session, openid, template_id, kind=kind, count=count, source=source[:32],
                now=now,
            )
            consent = _snapshot(row)
        log.info("subscription consent %s (%s) recorded for %s from %s", template_id, kind,
                 mask_openid(openid), source)
        return consent

    async def revoke(self, openid: str, template_id: str, *, source: str = "wechat") -> bool:
        """The resident refused ``template_id``; ``True`` if a consent was on record."""
        async with self.core.write() as session:
            result = await session.execute(
                delete(SubscriptionConsentRow).where(
                    SubscriptionConsentRow.openid == openid,
                    SubscriptionConsentRow.template_id == template_id,
                )
            )
            removed = bool(getattr(result, "rowcount", 0))
        log.info("subscription consent %s revoked for %s from %s", template_id,
                 mask_openid(openid), source)
        return removed

    async def of(self, openid: str) -> list[Consent]:
        """The resident's consents, by template id."""
        async with self.core.read() as session:
            rows = (
                await session.execute(
                    select(SubscriptionConsentRow)
                    .where(SubscriptionConsentRow.openid == openid)
                    .order_by(SubscriptionConsentRow.template_id)
                )
            ).scalars()
            return [_snapshot(row) for row in rows]
