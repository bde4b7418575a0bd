"""Fixtures of the analytics integration tests: the ticket tests' databases (SQLite and
the real PostgreSQL), clock and services, plus the analytics built on them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integrations.analytics.service import Analytics, AnalyticsConfig
from integrations.tickets import TicketService
from tests.tickets import conftest as tickets

# The ticket tests' fixtures, for this directory's tests.
clock = tickets.clock
db_url = tickets.db_url
engine = tickets.engine
engines = tickets.engines
make_service = tickets.make_service
postgres_schema_url = tickets.postgres_schema_url
service = tickets.service
sqlite_template = tickets.sqlite_template
sqlite_url = tickets.sqlite_url

MakeAnalytics = Callable[..., Analytics]


@pytest.fixture
def make_analytics() -> MakeAnalytics:
    def make(service: TicketService, **config: object) -> Analytics:
        return Analytics(service, AnalyticsConfig(**config))  # type: ignore[arg-type]

    return make


@pytest.fixture
def analytics(service: TicketService, make_analytics: MakeAnalytics) -> Analytics:
    return make_analytics(service)
