"""Async SQLAlchemy engines from ``DATABASE_URL``.

``DATABASE_URL`` accepts the plain forms people write (``postgresql://user@host:5432/db``,
``sqlite:///data/intake.db``); the async drivers (psycopg 3, aiosqlite) are chosen here.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from integrations.errors import ConfigurationError
from integrations.private_files import private_file

__all__ = [
    "create_engine",
    "database_reachable",
    "normalize_database_url",
    "prepare_sqlite_file",
]

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


def create_engine(url: str) -> AsyncEngine:
    """An async engine; creates a SQLite file owner-only (:func:`prepare_sqlite_file`)."""
    async_url = normalize_database_url(url)
    parsed = make_url(async_url)
    if parsed.get_backend_name() == "sqlite":
        prepare_sqlite_file(url)
        return create_async_engine(async_url)
    # A database that does not answer must fail fast (a holding reply), not hang the turn.
    return create_async_engine(
        async_url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=3,
        connect_args={"connect_timeout": 3},
    )


async def database_reachable(engine: AsyncEngine) -> bool:
    """Whether ``SELECT 1`` succeeds (``/healthz``)."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached right now (refused or dropped
    connections, a pool timeout), as opposed to a bug or a constraint violation."""
    return isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError)
