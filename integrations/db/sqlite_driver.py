"""aiosqlite connections that cost one thread hop per statement instead of three or four.

aiosqlite runs every call of a connection on the connection's own thread and hands the
answer back to the event loop: a wake-up of the loop (a write to its self-pipe, a pass of
``epoll``) each time. SQLAlchemy's adapter makes one call to open a cursor, one to execute,
one to fetch the rows and one to close the cursor, so a ``SELECT`` cost four hops, ~0.4 ms
of CPU for a statement SQLite itself runs in a few microseconds: the embedded default's
largest cost after the NLU (issue 16).

:class:`OneHopConnection` keeps aiosqlite's thread and queue (so SQLite never blocks the
event loop, not even while it waits for another process's write lock) but runs a whole
statement in one hop: execute, then fetch every row (or note the row count and the last
row id), then close the sqlite3 cursor. Its cursors answer from what that hop brought back.
Streaming results (server-side cursors) are fetched whole as well, as SQLAlchemy's default
cursor does anyway. The pool's rollback of a connection handed back after a commit costs no
hop at all.

A transaction's ``BEGIN`` (the project issues it itself, :mod:`integrations.db.migrate`)
costs no hop of its own either: it is kept and run in the hop of the transaction's first
statement, just before it. A transaction that ends before any statement never began in
SQLite, and its commit or rollback costs nothing. (A ``BEGIN IMMEDIATE`` that has to wait
for another process's write lock waits there, on the connection's thread, as before; if it
gives up, the first statement reports the error.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

__all__ = ["OneHopConnection", "OneHopCursor", "connect"]

_Description = tuple[tuple[Any, ...], ...] | None
_Answer = tuple[_Description, int, int | None, list[Any]]


#: The statements that open a transaction, kept for the next statement's hop.
_BEGINS = frozenset({"BEGIN", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "BEGIN DEFERRED"})


def _run(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool, begin: str | None
) -> _Answer:
    """On the connection's thread: the transaction's ``begin`` (if still to run), then the
    statement and everything it answered."""
    if begin is not None:
        connection.execute(begin)
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description is not None else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor:
    """The part of aiosqlite's cursor SQLAlchemy uses, answered from one hop per statement."""

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []
        self._next = 0

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneHopCursor:
        connection = self._connection
        if not parameters and sql in _BEGINS and connection._begin is None:
            connection._begin = sql  # run with the next statement (module docstring)
            self._take((None, -1, None, []))
            return self
        answer: _Answer = await connection._execute(  # type: ignore[no-untyped-call]
            _run, connection._conn, sql, parameters if parameters is not None else (),
            False, connection._take_begin(),
        )
        self._take(answer)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneHopCursor:
        connection = self._connection
        answer: _Answer = await connection._execute(  # type: ignore[no-untyped-call]
            _run, connection._conn, sql, parameters, True, connection._take_begin()
        )
        self._take(answer)
        return self

    def _take(self, answer: _Answer) -> None:
        self.description, self.rowcount, self.lastrowid, self._rows = answer
        self._next = 0

    async def fetchone(self) -> Any | None:
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        rows = self._rows[self._next : self._next + size]
        self._next += len(rows)
        return rows

    async def fetchall(self) -> Sequence[Any]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    async def close(self) -> None:
        """The sqlite3 cursor was closed in the hop that ran the statement."""
        self._rows = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose cursors run a statement in one hop (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: a ``BEGIN`` not yet run: it goes with the next statement's hop
        self._begin: str | None = None

    def _take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    async def commit(self) -> None:
        if self._take_begin() is not None:
            return  # no statement ran: SQLite never began, there is nothing to commit
        await super().commit()

    async def rollback(self) -> None:
        self._begin = None  # a transaction that never began has nothing to undo
        # The pool rolls back every connection it gets back, even after a commit: with no
        # transaction open there is nothing to undo, and no hop to pay. (Read here, on the
        # loop: the connection is between statements, its thread idle.)
        connection = self._connection
        if connection is not None and not connection.in_transaction:
            return
        await super().rollback()

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        # No hop (SQLAlchemy enters it with ``async with``): the sqlite3 cursor is opened
        # and closed by each statement's hop.
        return OneHopCursor(self)


def connect(database: str, **kwargs: Any) -> OneHopConnection:
    """Like :func:`aiosqlite.connect` (await it), with :class:`OneHopConnection`."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(database, **kwargs)
        return connection

    connection = OneHopConnection(connector, iter_chunk_size=64)
    # As SQLAlchemy does for aiosqlite's own: a connection never closed must not keep the
    # interpreter from exiting.
    connection._thread.daemon = True
    return connection
