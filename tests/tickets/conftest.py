"""Fixtures of the ticket tests: the same suite on SQLite and on the real PostgreSQL.

PostgreSQL tests run in a schema of their own per test session (``search_path`` in the
URL), created and migrated once and dropped at the end, so concurrent test runs on the
shared ``test`` database never meet; each test starts from empty tables. SQLite tests
copy a migrated template file.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.db import create_engine
from integrations.db.migrate import upgrade_database
from integrations.dispatch.embedded import EmbeddedDesk
from integrations.dispatch.worker import OutboxWorker
from integrations.notify.sender import PushSender, StatusMessenger
from integrations.tickets import TicketConfig, TicketService
from tests.conftest import POSTGRES_TEST_URL, require_server
from tests.tickets.fakes import FakeBackend, FakeClock

TABLES = (
    "ticket_warnings",
    "routing_disputes",
    "ticket_followers",
    "ticket_clusters",
    "clusters",
    "cluster_corrections",
    "analytics_alerts",
    "analytics_leases",
    "dispatch_events",
    "push_attempts",
    "subscription_consents",
    "push_jobs",
    "desk_assignments",
    "dispatch_jobs",
    "ticket_events",
    "residents",
    "ticket_counters",
    "tickets",
    "faq_topics",
    "training_examples",
)

#: Fast and deterministic: no jitter, short backoff and lease.
TEST_CONFIG = TicketConfig(
    outbox_max_attempts=4,
    backoff_base=1.0,
    backoff_max=8.0,
    backoff_jitter=0.0,
    lease_seconds=30.0,
    worker_interval=0.05,
    push_max_attempts=3,
    template_status_id="TPL-STATUS-1",
    cs_quota=3,
)


def _psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tickets-db") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A migrated schema of this test session in database ``test``; dropped afterwards."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    schema = f"intake_tickets_{os.getpid()}_{secrets.token_hex(4)}"
    base = _psycopg_url(POSTGRES_TEST_URL)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    try:
        upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _fresh_postgres(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on the real PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "intake.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    return _fresh_postgres(request.getfixturevalue("postgres_schema_url"))


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """SQLite only (for tests whose point does not depend on the database)."""
    target = tmp_path / "intake.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def postgres_url(postgres_schema_url: str) -> str:
    """The real PostgreSQL only, empty tables."""
    return _fresh_postgres(postgres_schema_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engines() -> AsyncIterator[Callable[[str], AsyncEngine]]:
    """Builds engines (disposed after the test)."""
    made: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        engine = create_engine(url)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.dispose()


@pytest.fixture
def engine(db_url: str, engines: Callable[[str], AsyncEngine]) -> AsyncEngine:
    return engines(db_url)


MakeService = Callable[..., TicketService]


@pytest.fixture
def make_service(clock: FakeClock) -> MakeService:
    def make(engine: AsyncEngine, **config: Any) -> TicketService:
        settings = TicketConfig(**{**_config_dict(TEST_CONFIG), **config})
        return TicketService(engine, config=settings, clock=clock)

    return make


def _config_dict(config: TicketConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


@pytest.fixture
def service(engine: AsyncEngine, make_service: MakeService) -> TicketService:
    return make_service(engine)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def desk(service: TicketService, clock: FakeClock) -> EmbeddedDesk:
    return EmbeddedDesk(service.engine, clock=clock)


MakeWorker = Callable[..., OutboxWorker]


@pytest.fixture
def make_worker() -> MakeWorker:
    def make(
        service: TicketService,
        backend: Any,
        *,
        messenger: StatusMessenger | None = None,
        worker_id: str | None = None,
    ) -> OutboxWorker:
        pusher = PushSender(service.core, messenger, rand=lambda: 0.5) if messenger else None
        return OutboxWorker(service, backend, pusher=pusher, worker_id=worker_id)

    return make


async def create_ticket(service: TicketService, **fields: Any) -> Any:
    """A streetlight ticket from a WeChat resident, fields overridable."""
    values: dict[str, Any] = {
        "category": "report.streetlight",
        "description": "小区门口的路灯坏了三天了",
        "location": "幸福小区3号楼东门",
        "phone": "13800138000",
        "openid": "oResident0000000000000001",
    }
    values.update(fields)
    return await service.filing.file(**values)
