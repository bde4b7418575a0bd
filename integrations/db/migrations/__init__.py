"""Alembic migrations of the ticket store, shipped inside the package (no alembic.ini).

Apply them with :func:`integrations.db.migrate.upgrade_database`; write a new one with
``python -m integrations.db.migrate revision -m "what changes"``.
"""
