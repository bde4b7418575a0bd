"""Tests of tickets: store, outbox, desk, pushes, API (SQLite and PostgreSQL)."""
