"""Alembic environment: runs on the connection :mod:`integrations.db.migrate` passes in.

No ``alembic.ini`` and no URL here: the caller opens a synchronous connection (sqlite3 or
psycopg) and hands it over in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from integrations.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # One transaction for the whole upgrade, on SQLite too (Alembic's default there is
        # one per migration): the write lock is then held from reading the current revision
        # to the last step, so a second process starting at the same moment waits and finds
        # the database up to date instead of re-running a step between two of ours.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through integrations.db.migrate (it passes the connection in)"
    )
run_migrations(connection)
