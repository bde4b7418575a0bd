"""The embedded dispatch desk: the default :class:`DispatchBackend`, in our own database.

``submit`` routes a ticket by category to the taxonomy's department (or the department the
ticket already carries, e.g. after staff reassigned it) and by location keywords to a grid
(``policies/data/grid_rules.yaml``, default 街道网格化指挥中心), records the assignment
(one per idempotency key: a retried submit returns the same assignment) and answers with
the grid, which the outbox puts on the ticket as it records the delivery. The submits the
worker makes together (one pass's batch, started in the same turn of the event loop) are
recorded in one transaction: a transaction costs far more than its one-row statement, on
SQLite above all (one writer, a lock handed over each time). The ticket then
sits at the desk: staff move it through its statuses with the ticket API, so there is
nothing to ``poll`` and no token to resolve.

Escalation is the desk's too, carried out by the ticket services and triggered by the
worker: a ticket past its SLA deadline goes one level up with a new deadline, and a
department returning a ticket escalates it instead of ending it (both in
:mod:`integrations.tickets.escalation`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from core.errors import DatabaseError, DatabaseUnavailable
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
        #: assignments submitted in this turn of the event loop, waiting for their write
        self._pending: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        self._writes: set[asyncio.Task[None]] = set()

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
        assignment = await self._record(
            {
                "idempotency_key": request.idempotency_key,
                "external_id": external_id,
                "ticket_id": request.ticket_id,
                "department": department,
                "grid": grid,
                "level": request.level,
                "created_at": self.clock(),
            }
        )
        return DispatchReceipt(
            external_id=assignment.external_id,
            # On the ticket with the delivery (Outbox.record updates the row anyway): one
            # statement less than an UPDATE of our own here (issue 16).
            grid=assignment.grid,
            note=timeline_desk_assignment(
                assignment.department, assignment.grid, assignment.level
            ),
        )

    async def _record(self, values: dict[str, Any]) -> Any:
        """The assignment as stored (the first one for a key submitted again), written with
        the others submitted in the same turn of the event loop."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        self._pending.append((values, answer))
        if len(self._pending) == 1:
            # After the other submits already scheduled in this turn have queued theirs.
            loop.call_soon(self._write_pending)
        return await answer

    def _write_pending(self) -> None:
        batch, self._pending = self._pending, []
        task = asyncio.ensure_future(self._write(batch))
        self._writes.add(task)  # (a task nobody references may be collected mid-way)
        task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[Any]]]) -> None:
        try:
            rows = await self._insert([values for values, _ in batch])
        except (DatabaseError, SQLAlchemyError) as exc:
            if len(batch) > 1 and not isinstance(exc, DatabaseUnavailable):
                # One assignment the database refuses must not hold back the others: each
                # on its own, so that only that job waits for its retry. (A database that
                # cannot be reached fails them all at once, not one after the other.)
                for item in batch:
                    await self._write([item])
                return
            rows = [DispatchUnavailable(f"desk database: {type(exc).__name__}") for _ in batch]
        except asyncio.CancelledError:  # shutting down: so is every submit waiting
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:  # a bug: every caller hears of it, as if it were its own
            rows = [exc] * len(batch)
        for (_, answer), row in zip(batch, rows, strict=True):
            if answer.done():
                continue  # its caller gave up
            if isinstance(row, BaseException):
                answer.set_exception(row)
            else:
                answer.set_result(row)

    async def _insert(self, batch: list[dict[str, Any]]) -> list[Any]:
        lock = sqlite_writer_lock(self._engine.sync_engine) or contextlib.nullcontext()
        async with lock, self._sessions() as session, session.begin():
            statement = _assign(insert_for(session))
            # One statement each: a second delivery of the same key (a retry after a lost
            # answer) updates nothing and returns the first assignment.
            return [(await session.execute(statement, values)).one() for values in batch]

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
