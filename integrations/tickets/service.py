"""The ticket services wired on one shared :class:`~integrations.tickets.core.Core`.

Each service has one job and its own module: :mod:`.filing` (the one place a ticket is
filed), :mod:`.queries` (reading), :mod:`.lookups` (the lean read a resident's chat
makes), :mod:`.status` (the status machine), :mod:`.assignment` (department and grid),
:mod:`.escalation` (督办, overdue tickets), :mod:`.returns` (退单 and 审定),
:mod:`.warnings` (预警 before the working-day deadlines), :mod:`.rating` (解决 and 满意
after 办结), :mod:`.reports` (statuses a dispatch system reports), :mod:`.outbox`
(deliveries), :mod:`.pushes` (status pushes, for staff) and
:class:`~integrations.notify.customer_service.ResidentWindows` (when residents wrote).
Callers take the one they need: ``tickets.filing.file(...)``,
``tickets.status.transition(...)``.

Every write is one transaction and writes its timeline entry and the resident's push job
with the change. Free text is redacted before it is stored (:mod:`.fields`); logs name
tickets by id and residents by masked openid only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.analytics.areas import AreaLocator
from integrations.notify.consents import SubscriptionConsents
from integrations.notify.customer_service import ResidentWindows
from integrations.tickets.assignment import Assignment
from integrations.tickets.clocks import TicketClocks
from integrations.tickets.config import TicketConfig
from integrations.tickets.core import Core
from integrations.tickets.escalation import Escalation
from integrations.tickets.filing import TicketFiling
from integrations.tickets.lookups import ResidentLookups
from integrations.tickets.outbox import Outbox
from integrations.tickets.pushes import PushJobs
from integrations.tickets.queries import TicketQueries
from integrations.tickets.rating import Rating
from integrations.tickets.reports import StatusReports
from integrations.tickets.returns import Returns
from integrations.tickets.sql import Clock, utcnow
from integrations.tickets.status import StatusChanges
from integrations.tickets.warnings import ClockWarnings
from policies.taxonomy import Taxonomy, load_taxonomy
from policies.tickets import SlaRules, load_sla_rules

__all__ = ["TicketService"]


class TicketService:
    """The ticket services on the database at ``engine`` (SQLite or PostgreSQL, migrated).

    ``clock`` returns aware UTC datetimes (tests move time with it); ``clocks`` are the
    working-day clocks (default: from ``config``'s SLA, calendar and office-hours files).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        config: TicketConfig | None = None,
        taxonomy: Taxonomy | None = None,
        sla: SlaRules | None = None,
        clock: Clock = utcnow,
        clocks: TicketClocks | None = None,
    ) -> None:
        config = config or TicketConfig()
        self.core = Core(
            engine,
            config=config,
            taxonomy=taxonomy or load_taxonomy(),
            sla=sla or load_sla_rules(config.sla_file),
            clock=clock,
            clocks=clocks,
        )
        #: the street and community of a new ticket (analytics: 三率 and surges by area)
        self.areas = AreaLocator.from_file(config.grid_rules_file)
        self.filing = TicketFiling(self.core, self.areas)
        self.queries = TicketQueries(self.core)
        self.lookups = ResidentLookups(self.core)
        self.status = StatusChanges(self.core)
        self.assignment = Assignment(self.core)
        self.escalation = Escalation(self.core)
        self.rating = Rating(self.core)
        self.reports = StatusReports(self.core)
        self.outbox = Outbox(self.core)
        self.pushes = PushJobs(self.core)
        self.windows = ResidentWindows(self.core)
        #: residents' consents to subscription messages (the third step of a push)
        self.consents = SubscriptionConsents(self.core, default_kind=config.subscription_kind)
        self.warnings = ClockWarnings(self.core)
        self.returns = Returns(self.core)

    @property
    def config(self) -> TicketConfig:
        return self.core.config

    @property
    def engine(self) -> AsyncEngine:
        return self.core.engine

    def now(self) -> datetime:
        return self.core.now()
