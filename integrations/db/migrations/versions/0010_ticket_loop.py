"""The 12345 ticket loop (issue 17): working-day clocks on tickets (签收 and 办结 deadlines,
when they were met, the next warning, overdue counts) and the warnings sent (预警); the
resident's 解决 answer, the supervisor review of a dissatisfied one, the 回访 and repeat
complaints; departments' returns (退单) and their reviews (审定).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("clock_started_at", TIME, nullable=True))
        batch.add_column(sa.Column("sign_due_at", TIME, nullable=True))
        batch.add_column(sa.Column("signed_at", TIME, nullable=True))
        batch.add_column(sa.Column("completed_at", TIME, nullable=True))
        batch.add_column(sa.Column("next_warning_at", TIME, nullable=True))
        batch.add_column(
            sa.Column("overdue_count", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("solved", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("supervision", sa.String(16), nullable=True))
        batch.add_column(sa.Column("follow_up_at", TIME, nullable=True))
        batch.add_column(sa.Column("follow_up", sa.String(16), nullable=True))
        batch.add_column(sa.Column("repeat_of", sa.String(16), nullable=True))
        batch.add_column(sa.Column("place", sa.String(200), nullable=True))
        batch.create_index(op.f("ix_tickets_next_warning_at"), ["next_warning_at"])
        batch.create_index(op.f("ix_tickets_follow_up_at"), ["follow_up_at"])
        batch.create_index(op.f("ix_tickets_repeat_of"), ["repeat_of"])
    op.create_table(
        "ticket_warnings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("clock", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("deadline", TIME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("webhook_status", sa.String(16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_next_at", TIME, nullable=True),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_warnings_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_warnings")),
        sa.UniqueConstraint("ticket_id", "key", name=op.f("uq_ticket_warnings_ticket_id_key")),
    )
    op.create_index(op.f("ix_ticket_warnings_ticket_id"), "ticket_warnings", ["ticket_id"])
    op.create_index(op.f("ix_ticket_warnings_department"), "ticket_warnings", ["department"])
    op.create_index(
        "ix_ticket_warnings_webhook_status_webhook_next_at",
        "ticket_warnings",
        ["webhook_status", "webhook_next_at"],
    )
    op.create_table(
        "routing_disputes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("from_department", sa.String(64), nullable=False),
        sa.Column("suggested_department", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("returned_by", sa.String(128), nullable=False),
        sa.Column("returned_at", TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("to_department", sa.String(64), nullable=True),
        sa.Column("to_category", sa.String(64), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.String(128), nullable=True),
        sa.Column("reviewed_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_routing_disputes_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_disputes")),
    )
    op.create_index(op.f("ix_routing_disputes_ticket_id"), "routing_disputes", ["ticket_id"])
    op.create_index(
        op.f("ix_routing_disputes_from_department"), "routing_disputes", ["from_department"]
    )
    op.create_index(op.f("ix_routing_disputes_status"), "routing_disputes", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_routing_disputes_status"), table_name="routing_disputes")
    op.drop_index(op.f("ix_routing_disputes_from_department"), table_name="routing_disputes")
    op.drop_index(op.f("ix_routing_disputes_ticket_id"), table_name="routing_disputes")
    op.drop_table("routing_disputes")
    op.drop_index("ix_ticket_warnings_webhook_status_webhook_next_at", table_name="ticket_warnings")
    op.drop_index(op.f("ix_ticket_warnings_department"), table_name="ticket_warnings")
    op.drop_index(op.f("ix_ticket_warnings_ticket_id"), table_name="ticket_warnings")
    op.drop_table("ticket_warnings")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index(op.f("ix_tickets_repeat_of"))
        batch.drop_index(op.f("ix_tickets_follow_up_at"))
        batch.drop_index(op.f("ix_tickets_next_warning_at"))
        for column in (
            "place", "repeat_of", "follow_up", "follow_up_at", "supervision", "solved",
            "overdue_count", "next_warning_at", "completed_at", "signed_at", "sign_due_at",
            "clock_started_at",
        ):
            batch.drop_column(column)
