"""Console accounts can be managed: an epoch that ends an account's sessions when it is
disabled or its password changes, and an admin-issued one-time password-reset code (its
SHA-256 and expiry).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("reset_code_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reset_expires_at", TIME, nullable=True))
        batch.create_unique_constraint(op.f("uq_users_reset_code_hash"), ["reset_code_hash"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("uq_users_reset_code_hash"), type_="unique")
        batch.drop_column("reset_expires_at")
        batch.drop_column("reset_code_hash")
        batch.drop_column("session_epoch")
