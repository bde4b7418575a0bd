"""Issue 14: database errors are translated where they enter (``integrations/db``), so
callers catch the project's family (``core.errors``), never SQLAlchemy's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from core.errors import ConfigurationError, DatabaseError, DatabaseUnavailable, IntakeError
from integrations.db import create_engine
from integrations.db.migrate import upgrade_database

#: nothing listens there: the connection is refused at once
REFUSED = "postgresql://intake@127.0.0.1:1/intake"


async def test_an_unreachable_database_is_database_unavailable() -> None:
    engine = create_engine(REFUSED)
    try:
        with pytest.raises(DatabaseUnavailable, match="cannot be reached") as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert isinstance(caught.value, IntakeError)
        assert "Connection refused" in str(caught.value.__cause__)  # kept for the logs
    finally:
        await engine.dispose()


def test_migrating_an_unreachable_database_names_it_without_its_password() -> None:
    with pytest.raises(DatabaseUnavailable) as caught:
        upgrade_database("postgresql://intake:s3cret@127.0.0.1:1/intake")
    assert "127.0.0.1:1/intake" in str(caught.value) and "s3cret" not in str(caught.value)


async def test_a_faulty_statement_is_database_error_and_a_constraint_stays_itself(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
        # A fault of ours (no such table) is not an outage: nothing should wait and retry it.
        with pytest.raises(DatabaseError) as caught:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
        assert not isinstance(caught.value, DatabaseUnavailable)
        # Services catch constraint violations themselves, to detect races.
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (id) VALUES (1)"))
    finally:
        await engine.dispose()


def test_postgres_without_its_driver_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    expected = r"driver \(psycopg\) is not installed: pip install 'intake\[postgres\]'"
    with pytest.raises(ConfigurationError, match=expected):
        create_engine("postgresql://intake@127.0.0.1:5432/intake")
    with pytest.raises(ConfigurationError, match=expected):
        upgrade_database("postgresql://intake@127.0.0.1:5432/intake")
