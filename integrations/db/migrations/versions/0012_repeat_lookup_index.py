"""The lookup of the complaint a new one repeats (same resident, category and place within
30 days) reads by place and category: an index, so filing does not scan every ticket of
the category as tickets accumulate (issue 16).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_place_category", "tickets", ["place", "category"])


def downgrade() -> None:
    op.drop_index("ix_tickets_place_category", table_name="tickets")
