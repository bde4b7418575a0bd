"""Async SQLAlchemy engines from ``DATABASE_URL``, and the boundary of database errors.

``DATABASE_URL`` accepts the plain forms people write (``postgresql://user@host:5432/db``,
``sqlite:///data/intake.db``); the async drivers (psycopg 3, aiosqlite) are chosen here,
and a missing driver is a :class:`~core.errors.ConfigurationError` saying what to install.

Engines made by :func:`create_engine` raise the project's errors instead of SQLAlchemy's:
a connection refused or lost, a locked or unreachable database, no free connection in time
→ :class:`~core.errors.DatabaseUnavailable`; any other failure of the database →
:class:`~core.errors.DatabaseError` (the original attached as ``__cause__``). Constraint
violations (``IntegrityError``) stay as they are: the services catch them to detect races.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, Dialect, Engine, ExceptionContext, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from core.errors import ConfigurationError, DatabaseError, DatabaseUnavailable
from integrations.db import sqlite_driver
from integrations.private_files import private_file

__all__ = [
    "create_engine",
    "database_reachable",
    "normalize_database_url",
    "ping_idle_connections",
    "prepare_sqlite_file",
    "require_driver",
    "translate_errors",
]

#: What to install for PostgreSQL (psycopg 3 is an optional dependency).
POSTGRES_EXTRA = "pip install 'intake[postgres]'"

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def normalize_database_url(url: str) -> str:
    """The async-driver form of ``url``; raises :class:`ConfigurationError` when unsupported."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"DATABASE_URL is not a database URL: {exc}") from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigurationError(
            f"DATABASE_URL scheme {parsed.drivername!r} is not supported (postgresql or sqlite)"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def prepare_sqlite_file(url: str) -> None:
    """For a SQLite file URL: create its directory (``0700``) and the file itself (``0600``)
    before SQLite does, since SQLite would create it readable by everyone (umask 022);
    its ``-wal`` and ``-shm`` files take the database file's mode. Other URLs: nothing."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith(
        "file:"
    ):
        private_file(Path(parsed.database))


def require_driver(url: str) -> None:
    """Raise :class:`ConfigurationError` when the driver ``url`` needs is not installed."""
    if make_url(normalize_database_url(url)).get_backend_name() != "postgresql":
        return  # sqlite3 and aiosqlite are always installed
    try:
        importlib.import_module("psycopg")
    except ImportError:
        raise ConfigurationError(
            f"DATABASE_URL is a PostgreSQL database, but its driver (psycopg) is not "
            f"installed: {POSTGRES_EXTRA}"
        ) from None


class _Pool(AsyncAdaptedQueuePool):
    """The default pool of async engines, whose "no free connection in time" is
    :class:`DatabaseUnavailable` (the pool raises it outside the ``handle_error`` event)."""

    def _do_get(self) -> Any:
        try:
            return super()._do_get()
        except PoolTimeout as exc:
            raise DatabaseUnavailable("no free database connection in time") from exc


#: SQLite's result codes meaning "not now" (busy past the wait, cannot open the file, disk
#: trouble); its other OperationalErrors (no such table, syntax) are faults of ours.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
)


def _unavailable(context: ExceptionContext) -> bool:
    error, original = context.sqlalchemy_exception, context.original_exception
    if context.is_disconnect or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    sqlite_code = getattr(original, "sqlite_errorname", None)
    return sqlite_code is None or sqlite_code.startswith(_SQLITE_UNAVAILABLE)


def _translate(context: ExceptionContext) -> BaseException | None:
    """``handle_error`` listener: SQLAlchemy's errors → the project's (see the module)."""
    error = context.sqlalchemy_exception
    if isinstance(error, IntegrityError) or not isinstance(error, DBAPIError):
        return None
    # The driver's class name only: its message may quote statements and their values.
    cause = type(context.original_exception).__name__
    if _unavailable(context):
        return DatabaseUnavailable(f"the database cannot be reached ({cause})")
    return DatabaseError(f"the database failed a statement ({cause})")


def translate_errors(engine: Engine) -> None:
    """Make ``engine`` (a sync engine, or an async engine's ``sync_engine``) raise the
    project's errors; installed once."""
    if not event.contains(engine, "handle_error", _translate):
        event.listen(engine, "handle_error", _translate, retval=True)


#: PostgreSQL connections per process, at most (a turn or a delivery waits for a free one).
DATABASE_POOL_SIZE = 20

#: A pooled PostgreSQL connection unused for longer than this is pinged before it is handed
#: out, so a restarted server or a dropped link is found there (and the connection replaced)
#: rather than in a resident's statement. One back in use sooner is not: under load the
#: pool hands the same connections out again within milliseconds, and a ping on every
#: checkout (SQLAlchemy's ``pool_pre_ping``) cost a round trip per transaction (issue 16).
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "intake_idle_since"


def ping_idle_connections(engine: Engine) -> None:
    """Install the ping of :data:`PING_AFTER_IDLE_SECONDS` on ``engine``'s pool (a sync
    engine, or an async engine's ``sync_engine``)."""
    dialect: Dialect = engine.dialect

    def note_idle(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or just handed back
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError("a pooled connection no longer answers") from exc

    event.listen(engine, "checkin", note_idle)
    event.listen(engine, "checkout", ping_if_idle)


def _one_hop_creator(url: URL) -> Callable[[], Awaitable[Any]]:
    """Connections of :mod:`integrations.db.sqlite_driver` with the arguments SQLAlchemy's
    aiosqlite dialect would give aiosqlite for ``url``."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(url)

    async def creator() -> Any:
        return await sqlite_driver.connect(*args, **kwargs)

    return creator


def create_engine(url: str) -> AsyncEngine:
    """An async engine raising the project's errors; creates a SQLite file owner-only
    (:func:`prepare_sqlite_file`). :class:`ConfigurationError` when the URL is unsupported
    or its driver missing."""
    async_url = normalize_database_url(url)
    parsed = make_url(async_url)
    if parsed.get_backend_name() == "sqlite":
        prepare_sqlite_file(url)
        engine = create_async_engine(
            async_url, poolclass=_Pool, async_creator=_one_hop_creator(parsed)
        )
    else:
        require_driver(url)
        # A database that does not answer must fail fast (a holding reply), not hang the
        # turn.
        engine = create_async_engine(
            async_url,
            poolclass=_Pool,
            # Up to 20 connections, each kept once opened. (Ten kept and ten "overflow"
            # ones closed again on return made the outbox worker, whose batch delivers
            # concurrently, open and close a PostgreSQL connection — a server process —
            # for one checkout in six under load.)
            pool_size=DATABASE_POOL_SIZE,
            max_overflow=0,
            pool_timeout=3,
            connect_args={"connect_timeout": 3},
        )
        ping_idle_connections(engine.sync_engine)
    translate_errors(engine.sync_engine)
    return engine


async def database_reachable(engine: AsyncEngine) -> bool:
    """Whether ``SELECT 1`` succeeds (``/healthz``)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (DatabaseError, SQLAlchemyError, OSError):
        return False
    return True
