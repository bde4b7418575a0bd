"""The conversation's :class:`~bot.dialogue.ports.ProblemClusters` on the analytics.

Before a confirmed case is filed, the case is compared with the open problem clusters the
process's cluster keeper holds (without joining it: the engine's ``similar``). Nothing
here may keep a resident from filing: while the clusters are being built, or when the
database cannot be reached, there is simply no notice.
"""

from __future__ import annotations

import logging

from integrations.analytics.facts import TicketFact
from integrations.analytics.service import Analytics
from integrations.analytics.store import resident_key
from policies.dialogue import NearbyProblem
from policies.state import Case
from privacy import redact

__all__ = ["ServiceProblemClusters"]

log = logging.getLogger(__name__)


class ServiceProblemClusters:
    """Nearby open problems and follows, on :class:`Analytics`."""

    def __init__(self, analytics: Analytics) -> None:
        self.analytics = analytics

    def _fact(self, openid: str, case: Case) -> TicketFact:
        area = self.analytics.tickets.areas.locate(case.location or "")
        taxonomy = self.analytics.tickets.core.taxonomy
        latitude, longitude = case.latitude, case.longitude
        if latitude is None or longitude is None:
            latitude = longitude = None
        return TicketFact(
            id=f"case:{openid}",
            openid=resident_key(openid, None),
            category=case.category,
            department=taxonomy.department(case.category) or "",
            street=area.street,
            community=area.community,
            location=case.location or "",
            description=case.description or "",
            latitude=latitude,
            longitude=longitude,
            created_at=self.analytics.store.now(),
        )

    async def nearby(self, openid: str, case: Case) -> NearbyProblem | None:
        if not case.location or not case.description:
            return None
        try:
            found = await self.analytics.keeper.nearby(self._fact(openid, case))
        except Exception:
            log.exception("looking for a nearby open problem failed; filing as usual")
            return None
        if found is None:
            return None
        return NearbyProblem(found.ticket_id, found.residents, found.status, found.mine)

    async def follow(self, openid: str, ticket_id: str, case: Case) -> bool:
        followed = await self.analytics.store.follow(
            ticket_id,
            openid,
            description=redact(case.description or ""),
            location=redact(case.location or ""),
        )
        self.analytics.keeper.wake()
        return followed
