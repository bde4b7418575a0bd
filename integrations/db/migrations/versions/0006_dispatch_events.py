"""Status events pushed by dispatch systems are recorded in the database, in the
transaction that applies them, so a replayed or retried event is recognised after a
restart and whether or not Redis kept its keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "dispatch_events",
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_dispatch_events")),
    )
    op.create_index(op.f("ix_dispatch_events_received_at"), "dispatch_events", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dispatch_events_received_at"), table_name="dispatch_events")
    op.drop_table("dispatch_events")
