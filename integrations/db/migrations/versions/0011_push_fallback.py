"""Pushes that arrive (issue 17): each channel tried for a status push and its outcome
(customer service → template → subscription message → SMS hook), and residents' consents
to subscription messages (订阅通知).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "push_attempts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("push_id", BIG_ID, nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["push_id"],
            ["push_jobs.id"],
            name=op.f("fk_push_attempts_push_id_push_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_push_attempts_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_attempts")),
    )
    op.create_index(op.f("ix_push_attempts_push_id"), "push_attempts", ["push_id"])
    op.create_index(op.f("ix_push_attempts_ticket_id"), "push_attempts", ["ticket_id"])
    op.create_table(
        "subscription_consents",
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("template_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("granted_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("openid", "template_id", name=op.f("pk_subscription_consents")),
    )


def downgrade() -> None:
    op.drop_table("subscription_consents")
    op.drop_index(op.f("ix_push_attempts_ticket_id"), table_name="push_attempts")
    op.drop_index(op.f("ix_push_attempts_push_id"), table_name="push_attempts")
    op.drop_table("push_attempts")
