"""Schema migrations at start-up, and the SQLite settings the ticket store relies on.

:func:`upgrade_database` runs ``alembic upgrade head`` programmatically on a synchronous
connection (sqlite3, or psycopg 3 in its sync mode) with the migrations shipped in
``integrations/db/migrations`` — no ``alembic.ini`` at run time. Several processes starting
together are safe: PostgreSQL serialises them on an advisory lock, SQLite on its write lock
(and threads of one process on a lock of their own).

:func:`enable_sqlite_transactions` makes SQLite behave under concurrency: Python's sqlite3
module starts transactions lazily (``DEFERRED``), so two connections that read and then
write deadlock into ``database is locked`` instead of waiting. Every write transaction is
therefore opened with ``BEGIN IMMEDIATE`` (takes the write lock up front, waits up to
``busy_timeout``); sessions bound with the ``READONLY`` execution option use a plain
``BEGIN``. The database runs in WAL mode, so readers never wait for the writer. Within one
process, writers also queue on :func:`sqlite_writer_lock` (an asyncio lock): SQLite's
busy handler waits by sleeping up to 100 ms at a time, so connections of one process
competing for the write lock would spend most of their time asleep.

Command line (uses ``DATABASE_URL``, else the SQLite file in ``INTAKE_DATA_DIR``)::

    python -m integrations.db.migrate upgrade
    python -m integrations.db.migrate current
    python -m integrations.db.migrate revision -m "add a column" [--autogenerate]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from core.errors import ConfigurationError, DatabaseUnavailable, IntakeError
from core.settings import Settings
from integrations.db.engine import (
    normalize_database_url,
    prepare_sqlite_file,
    require_driver,
    translate_errors,
)
from integrations.db.writer_lock import WriterLock

__all__ = [
    "MIGRATIONS_DIR",
    "READONLY",
    "alembic_config",
    "enable_sqlite_transactions",
    "main",
    "sqlite_writer_lock",
    "sync_database_url",
    "upgrade_database",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Execution option: this connection only reads (SQLite then opens a deferred transaction).
READONLY = "intake_readonly"
#: How long a SQLite writer waits for the write lock before ``database is locked``.
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Any constant works; it only has to be the same in every process migrating this database.
_ADVISORY_LOCK_KEY = 0x1A7A_4E00
# Alembic's ``context`` and ``op`` are module-level proxies: two upgrades in one process at
# once (threads) would run on each other's state. Between processes the database locks.
_PROCESS_LOCK = threading.Lock()


def sync_database_url(url: str) -> str:
    """The synchronous-driver form of ``url`` (``sqlite://…`` with sqlite3, or psycopg)."""
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    # psycopg 3 speaks both modes under the same dialect name.
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL loses nothing when the process dies, only on power loss, and
        # saves an fsync per transaction.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # Autocommit at the driver level: the "begin" listener issues BEGIN itself.
    dbapi_connection.isolation_level = None
    _sqlite_pragmas(dbapi_connection)


def _on_begin(conn: Connection) -> None:
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is not None and dbapi_connection.isolation_level is not None:
        # A connection pooled before the listeners were installed.
        dbapi_connection.isolation_level = None
        _sqlite_pragmas(dbapi_connection)
    readonly = bool(conn.get_execution_options().get(READONLY))
    conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def enable_sqlite_transactions(engine: Engine) -> None:
    """Install the SQLite transaction handling described above on ``engine`` (the
    ``sync_engine`` of an async one); does nothing for other databases or when installed."""
    if engine.dialect.name != "sqlite" or event.contains(engine, "begin", _on_begin):
        return
    database = engine.url.database
    if not database or database == ":memory:":
        raise ConfigurationError("the ticket store needs a SQLite file, not an in-memory one")
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)


_WRITER_LOCKS: weakref.WeakKeyDictionary[
    Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriterLock]
] = weakref.WeakKeyDictionary()


def sqlite_writer_lock(engine: Engine) -> WriterLock | None:
    """The lock this process's writers of a SQLite database queue on (one per engine and
    event loop; residents' turns before background passes, see
    :mod:`integrations.db.writer_lock`); ``None`` for other databases, where row locks do
    the job."""
    if engine.dialect.name != "sqlite":
        return None
    loop = asyncio.get_running_loop()
    per_loop = _WRITER_LOCKS.setdefault(engine, weakref.WeakKeyDictionary())
    lock = per_loop.get(loop)
    if lock is None:
        lock = per_loop[loop] = WriterLock()
    return lock


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no ``alembic.ini``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_connection(url: str) -> Iterator[Connection]:
    sync_url = sync_database_url(url)
    require_driver(url)
    prepare_sqlite_file(url)
    engine = create_sync_engine(sync_url, poolclass=NullPool)
    translate_errors(engine)
    enable_sqlite_transactions(engine)
    try:
        with _where(url), engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Outside any transaction: held across Alembic's own transaction.
                connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
                connection.commit()
                try:
                    yield connection
                finally:
                    connection.rollback()
                    connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY}
                    )
                    connection.commit()
            else:
                yield connection
    finally:
        engine.dispose()


@contextmanager
def _where(url: str) -> Iterator[None]:
    """Name the database (without its password) when it cannot be reached."""
    try:
        yield
    except DatabaseUnavailable as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"{exc}: {shown}") from exc


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (all by default) to the database at ``url``.

    ``url`` is a ``DATABASE_URL`` in any accepted form (``postgresql://…``,
    ``sqlite:///data/intake.db``). Synchronous: call it before the event loop starts or
    through ``asyncio.to_thread``.
    """
    with _PROCESS_LOCK, _migration_connection(url) as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def _current(url: str) -> None:
    with _PROCESS_LOCK, _migration_connection(url) as connection:
        command.current(alembic_config(connection), verbose=True)


def _revision(url: str, message: str, autogenerate: bool) -> None:
    with _PROCESS_LOCK, _migration_connection(url) as connection:
        config = alembic_config(connection)
        command.revision(config, message=message, autogenerate=autogenerate)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m integrations.db.migrate {upgrade,current,revision}``."""
    parser = argparse.ArgumentParser(prog="python -m integrations.db.migrate")
    parser.add_argument("--url", default=None, help="database URL (default: DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("upgrade", help="apply all migrations")
    sub.add_parser("current", help="show the applied revision")
    revision = sub.add_parser("revision", help="write a new migration script")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    args = parser.parse_args(argv)
    try:
        url = args.url or Settings.read().effective_database_url
        if args.command == "upgrade":
            upgrade_database(url)
        elif args.command == "current":
            _current(url)
        else:
            _revision(url, args.message, args.autogenerate)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except IntakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
