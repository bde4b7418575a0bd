"""Tickets remember the message that filed them (``source_key``), so a message processed
twice (a WeChat retry after Redis lost its dedup keys, a deferred filing retried) files one
ticket.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("source_key", sa.String(160), nullable=True))
        batch.create_unique_constraint(op.f("uq_tickets_source_key"), ["source_key"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint(op.f("uq_tickets_source_key"), type_="unique")
        batch.drop_column("source_key")
