"""The embedded dispatch desk: the default :class:`DispatchBackend`, in our own database.

``submit`` routes a ticket by category to the taxonomy's department (or the department the
ticket already carries, e.g. after staff reassigned it) and by location keywords to a grid
(``policies/data/grid_rules.yaml``, default 街道网格化指挥中心), records the assignment
(one per idempotency key: a retried submit returns the same assignment) and answers with
the grid, which the outbox puts on the ticket as it records the delivery. The ticket then
sits at the desk: staff move it through its statuses with the ticket API, so there is
nothing to ``poll`` and no token to resolve.

Escalation is the desk's too, carried out by the ticket services and triggered by the
worker: a ticket past its SLA deadline goes one level up with a new deadline, and a
department returning a ticket escalates it instead of ending it (both in
:mod:`integrations.tickets.escalation`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.errors import DatabaseError
from integrations.db.migrate import enable_sqlite_transactions, sqlite_writer_lock
from integrations.db.models import DeskAssignmentRow
from integrations.dispatch.base import (
    DispatchBackend,
    DispatchReceipt,
    DispatchRequest,
    DispatchUnavailable,
    ExternalStatus,
)
from integrations.tickets.sql import Clock, insert_for, utcnow
from policies.taxonomy import Taxonomy, load_taxonomy
from policies.tickets import DEFAULT_GRID, GridRules, load_grid_rules, timeline_desk_assignment

__all__ = ["EmbeddedDesk"]

log = logging.getLogger(__name__)


class EmbeddedDesk(DispatchBackend):
    """Dispatch into our own database (the desk staff work from)."""

    name = "embedded"
    #: staff change statuses in our database directly: polling would find nothing
    needs_polling = False

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        taxonomy: Taxonomy | None = None,
        grid_rules: GridRules | None = None,
        clock: Clock = utcnow,
    ) -> None:
        enable_sqlite_transactions(engine.sync_engine)
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.taxonomy = taxonomy or load_taxonomy()
        self.grid_rules = grid_rules or load_grid_rules()
        self.clock = clock

    def __repr__(self) -> str:
        return "EmbeddedDesk()"

    def route(self, request: DispatchRequest) -> tuple[str, str]:
        """``(department, grid)`` for a ticket."""
        department = (
            request.department or self.taxonomy.department(request.category) or DEFAULT_GRID
        )
        return department, self.grid_rules.route(request.location, request.category)

    async def submit(self, request: DispatchRequest) -> DispatchReceipt:
        """Assign the ticket to its department and grid (idempotent per key)."""
        department, grid = self.route(request)
        external_id = "DESK-" + request.idempotency_key.replace(":", "-")
        now = self.clock()
        lock = sqlite_writer_lock(self._engine.sync_engine) or contextlib.nullcontext()
        try:
            async with lock, self._sessions() as session, session.begin():
                # One statement: a second delivery of the same key (a retry after a lost
                # answer) updates nothing and returns the first assignment.
                assignment = (
                    await session.execute(
                        _assign(insert_for(session)),
                        {
                            "idempotency_key": request.idempotency_key,
                            "external_id": external_id,
                            "ticket_id": request.ticket_id,
                            "department": department,
                            "grid": grid,
                            "level": request.level,
                            "created_at": now,
                        },
                    )
                ).one()
        except (DatabaseError, SQLAlchemyError) as exc:
            raise DispatchUnavailable(f"desk database: {type(exc).__name__}") from exc
        return DispatchReceipt(
            external_id=assignment.external_id,
            # On the ticket with the delivery (Outbox.record updates the row anyway): one
            # statement less than an UPDATE of our own here (issue 16).
            grid=assignment.grid,
            note=timeline_desk_assignment(
                assignment.department, assignment.grid, assignment.level
            ),
        )

    async def resolve_token(self, token: str) -> str | None:
        """The desk answers with ids at once; it never hands out tokens."""
        return None

    async def poll(self, external_ids: Sequence[str]) -> list[ExternalStatus]:
        """Statuses change in our own tables (staff API): nothing to report."""
        return []

    async def aclose(self) -> None:
        """Nothing to close (the engine belongs to the caller)."""


@functools.cache
def _assign(insert: Callable[..., Any]) -> Any:
    """The desk's assignment upsert, built once per dialect (building it per ticket cost
    more CPU than running it; issue 16); its values are bound per call."""
    table = cast(Table, DeskAssignmentRow.__table__)
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.idempotency_key],
        set_={"idempotency_key": statement.excluded.idempotency_key},
    ).returning(table.c.external_id, table.c.department, table.c.grid, table.c.level)
