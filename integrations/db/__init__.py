"""Relational storage: SQLite on the embedded default, PostgreSQL in production."""

from integrations.db.engine import (
    create_engine,
    database_reachable,
    normalize_database_url,
)
from integrations.db.models import utcnow

__all__ = [
    "create_engine",
    "database_reachable",
    "normalize_database_url",
    "utcnow",
]
