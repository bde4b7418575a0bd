"""Analytics (issue 15): the street and community of each ticket; problem clusters, staff
corrections of them and their summary; surge and hot-spot alerts; residents following a
ticket someone else filed; the lease of the one process that keeps the clusters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("street", sa.String(64), nullable=True))
        batch.add_column(sa.Column("community", sa.String(64), nullable=True))
    op.create_table(
        "ticket_clusters",
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("cluster_id", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("assigned_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_clusters_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_clusters")),
    )
    op.create_index(op.f("ix_ticket_clusters_cluster_id"), "ticket_clusters", ["cluster_id"])
    op.create_table(
        "clusters",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("place", sa.String(128), nullable=False),
        sa.Column("street", sa.String(64), nullable=True),
        sa.Column("community", sa.String(64), nullable=True),
        sa.Column("first_at", TIME, nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
    )
    op.create_index(op.f("ix_clusters_last_at"), "clusters", ["last_at"])
    op.create_table(
        "cluster_corrections",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_corrections")),
    )
    op.create_table(
        "analytics_alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("area", sa.String(64), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("cluster_id", sa.String(16), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("webhook_status", sa.String(16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column("webhook_next_at", TIME, nullable=True),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_analytics_alerts_key")),
    )
    op.create_index(op.f("ix_analytics_alerts_created_at"), "analytics_alerts", ["created_at"])
    op.create_index(
        "ix_analytics_alerts_webhook_status_webhook_next_at",
        "analytics_alerts",
        ["webhook_status", "webhook_next_at"],
    )
    op.create_table(
        "ticket_followers",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(16), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_followers_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_followers")),
        sa.UniqueConstraint(
            "ticket_id", "openid", name=op.f("uq_ticket_followers_ticket_id_openid")
        ),
    )
    op.create_index(op.f("ix_ticket_followers_openid"), "ticket_followers", ["openid"])
    op.create_table(
        "analytics_leases",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("until", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_leases")),
    )


def downgrade() -> None:
    op.drop_table("analytics_leases")
    op.drop_index(op.f("ix_ticket_followers_openid"), table_name="ticket_followers")
    op.drop_table("ticket_followers")
    op.drop_index(
        "ix_analytics_alerts_webhook_status_webhook_next_at", table_name="analytics_alerts"
    )
    op.drop_index(op.f("ix_analytics_alerts_created_at"), table_name="analytics_alerts")
    op.drop_table("analytics_alerts")
    op.drop_table("cluster_corrections")
    op.drop_index(op.f("ix_clusters_last_at"), table_name="clusters")
    op.drop_table("clusters")
    op.drop_index(op.f("ix_ticket_clusters_cluster_id"), table_name="ticket_clusters")
    op.drop_table("ticket_clusters")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("community")
        batch.drop_column("street")
