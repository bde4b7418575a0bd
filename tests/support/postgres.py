"""A PostgreSQL schema of a test's own in the test database, dropped afterwards."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from tests.conftest import POSTGRES_TEST_URL, require_server

__all__ = ["own_schema"]


@contextmanager
def own_schema(prefix: str) -> Iterator[str]:
    """Yields the schema's name (use it as ``options=-csearch_path=<name>``)."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
