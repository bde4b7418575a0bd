"""Packaged training data follows upgrades: the versions already seeded, and the packaged
examples admins deleted (so a new release adds its new examples, never the deleted ones).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "training_seed_releases",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("seeded_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_training_seed_releases")),
    )
    op.create_table(
        "training_seed_removals",
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("removed_by", sa.String(64), nullable=True),
        sa.Column("removed_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("intent", "text", name=op.f("pk_training_seed_removals")),
    )


def downgrade() -> None:
    op.drop_table("training_seed_removals")
    op.drop_table("training_seed_releases")
