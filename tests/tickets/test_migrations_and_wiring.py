"""Migrations at start-up, the ticket settings, and ``run_worker`` as ``intake worker`` runs it."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import load_settings
from core.errors import ConfigurationError
from core.settings import Settings
from integrations.db import create_engine
from integrations.db.migrate import (
    alembic_config,
    enable_sqlite_transactions,
    main,
    sync_database_url,
    upgrade_database,
)
from integrations.dispatch import ExternalStatus
from integrations.dispatch.worker import create_backend, run_worker
from integrations.tickets import TicketConfig, TicketService
from integrations.wechat.fake_server import FakeWeChatAPI
from testing.servers import serve_wechat_fake
from tests.conftest import POSTGRES_TEST_URL, require_server
from tests.tickets.conftest import MakeWorker, create_ticket

TABLES = {
    "alembic_version",
    "tickets",
    "ticket_events",
    "ticket_counters",
    "dispatch_jobs",
    "dispatch_events",
    "push_jobs",
    "residents",
    "desk_assignments",
    "handoffs",
    "handoff_messages",
    "faq_topics",
    "users",
    "audit_log",
    "training_examples",
    "training_seed_releases",
    "training_seed_removals",
    "review_items",
    "model_releases",
    "ticket_warnings",
    "routing_disputes",
    "ticket_clusters",
    "clusters",
    "cluster_corrections",
    "analytics_alerts",
    "ticket_followers",
    "analytics_leases",
    "push_attempts",
    "subscription_consents",
}


def _tables(url: str) -> set[str]:
    engine = create_sync_engine(sync_database_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_sync_urls() -> None:
    assert sync_database_url("sqlite:///data/x.db") == "sqlite:///data/x.db"
    assert sync_database_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    with pytest.raises(ConfigurationError):
        sync_database_url("mysql://u@h/db")


def test_upgrade_creates_the_file_and_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'intake.db'}"
    upgrade_database(url)
    upgrade_database(url)
    assert _tables(url) == TABLES
    assert main(["--url", url, "upgrade"]) == 0
    assert main(["--url", url, "current"]) == 0


def _start_processes(url: str, count: int = 3) -> list[subprocess.CompletedProcess[str]]:
    """``count`` processes running ``upgrade_database(url)`` at the same time."""
    code = "import sys; from integrations.db.migrate import upgrade_database as u; u(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_concurrent_start_ups_on_sqlite_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    for result in _start_processes(url):
        assert result.returncode == 0, result.stderr
    assert _tables(url) == TABLES


def test_concurrent_upgrades_in_one_process_are_serialised(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade_database(url)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert _tables(url) == TABLES


@pytest.mark.postgres
def test_concurrent_start_ups_on_postgres_migrate_once() -> None:
    require_server("PostgreSQL", "127.0.0.1", 5432)
    schema = f"intake_migrate_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{POSTGRES_TEST_URL}?options={quote(f'-csearch_path={schema}')}"
    try:
        for result in _start_processes(url):
            assert result.returncode == 0, result.stderr
        assert _tables(url) == TABLES
    finally:
        with psycopg.connect(POSTGRES_TEST_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_downgrade_removes_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade_database(url)
    engine = create_sync_engine(sync_database_url(url))
    enable_sqlite_transactions(engine)
    try:
        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), "base")
            connection.commit()
            remaining = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
            ).scalars().all()
    finally:
        engine.dispose()
    assert set(remaining) == {"alembic_version"}


def test_sqlite_in_memory_is_refused() -> None:
    engine = create_sync_engine("sqlite://")
    with pytest.raises(ConfigurationError, match="in-memory"):
        enable_sqlite_transactions(engine)
    engine.dispose()


# -- settings -----------------------------------------------------------------------------------


def test_config_from_the_settings() -> None:
    settings = Settings.read(
        {
            "INTAKE_OUTBOX_MAX_ATTEMPTS": "5",
            "INTAKE_OUTBOX_BACKOFF_BASE": "2.5",
            "WECHAT_TEMPLATE_STATUS_ID": "tpl-1",
            "INTAKE_SLA_FILE": "/etc/intake/sla.yaml",
            "INTAKE_CS_QUOTA": "",  # empty: the default
        }
    )
    config = TicketConfig.from_settings(settings)
    assert config.outbox_max_attempts == 5
    assert config.backoff_base == 2.5 and config.template_status_id == "tpl-1"
    assert config.sla_file == Path("/etc/intake/sla.yaml") and config.cs_quota == 5
    # The defaults of a configuration built without settings are the settings' defaults.
    assert TicketConfig.from_settings(Settings.read({})) == TicketConfig()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"INTAKE_OUTBOX_MAX_ATTEMPTS": "many"}, "INTAKE_OUTBOX_MAX_ATTEMPTS: .*valid integer"),
        ({"INTAKE_OUTBOX_MAX_ATTEMPTS": "0"}, "INTAKE_OUTBOX_MAX_ATTEMPTS: .*greater than or"),
        ({"INTAKE_TIMEZONE": "Mars/Olympus"}, "INTAKE_TIMEZONE: unknown time zone"),
        (
            {"INTAKE_OUTBOX_BACKOFF_BASE": "10", "INTAKE_OUTBOX_BACKOFF_MAX": "1"},
            "INTAKE_OUTBOX_BACKOFF_MAX must not be below INTAKE_OUTBOX_BACKOFF_BASE",
        ),
        ({"INTAKE_OUTBOX_LEASE_SECONDS": "0"}, "INTAKE_OUTBOX_LEASE_SECONDS: .*greater than 0"),
        ({"INTAKE_OUTBOX_BACKOFF_JITTER": "2"}, "INTAKE_OUTBOX_BACKOFF_JITTER"),
        ({"DISPATCH_BACKEND": "fax"}, "DISPATCH_BACKEND: Input should be 'embedded' or 'open311'"),
    ],
)
def test_bad_ticket_settings_stop_start_up(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.read(environ)


async def test_open311_poll_seconds_sets_how_often_statuses_are_polled(
    engine: AsyncEngine,
    clock: Any,
    backend: Any,
    make_worker: MakeWorker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 14: ``OPEN311_POLL_SECONDS`` (documented, validated) was read by nothing; it is
    now the old name of ``INTAKE_DISPATCH_POLL_SECONDS``, with a warning."""
    monkeypatch.delenv("INTAKE_DISPATCH_POLL_SECONDS", raising=False)
    monkeypatch.setenv("OPEN311_POLL_SECONDS", "120")
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    settings = load_settings()  # as `intake serve` and `intake worker` read them
    service = TicketService(engine, config=TicketConfig.from_settings(settings), clock=clock)
    worker = make_worker(service, backend)
    ticket = await create_ticket(service)
    await worker.run_once()  # delivers, and polls (first pass): nothing to report yet
    backend.statuses["EXT-1"] = ExternalStatus("EXT-1", "in_progress", "已派工")
    clock.advance(119)
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).status == "dispatched"
    clock.advance(1)
    await worker.run_once()
    assert (await service.queries.get(ticket.id)).status == "in_progress"
    assert "OPEN311_POLL_SECONDS is deprecated" in caplog.text
    assert "rename it to INTAKE_DISPATCH_POLL_SECONDS" in caplog.text


async def test_backends_by_name(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    service = TicketService(engine)
    assert create_backend(Settings.read({}), service=service).name == "embedded"
    with pytest.raises(ConfigurationError, match="OPEN311_URL"):
        create_backend(Settings.read({"DISPATCH_BACKEND": "open311"}), service=service)
    open311 = create_backend(
        Settings.read(
            {
                "DISPATCH_BACKEND": "open311",
                "OPEN311_URL": "http://127.0.0.1:9/v2",
                "OPEN311_API_KEY": "k",
            }
        ),
        service=service,
    )
    assert open311.name == "open311"
    await open311.aclose()  # type: ignore[attr-defined]
    await engine.dispose()


async def test_run_worker_delivers_and_pushes_until_stopped(tmp_path: Path) -> None:
    """The worker builds its own WeChat client from the settings and pushes through it."""
    fake = FakeWeChatAPI(app_id="wxworkertest0001", app_secret="worker-test-secret")
    with serve_wechat_fake(fake) as fake_url:
        await _worker_delivers_and_pushes(tmp_path, fake, fake_url)


async def _worker_delivers_and_pushes(tmp_path: Path, fake: FakeWeChatAPI, fake_url: str) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    settings = Settings.read(
        {},
        DATABASE_URL=url,
        WECHAT_APP_ID=fake.app_id,
        WECHAT_APP_SECRET=fake.app_secret,
        WECHAT_API_BASE_URL=fake_url,
        INTAKE_WORKER_INTERVAL=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    # A separate engine and service: the web process, which only writes to the database.
    for _ in range(100):
        await asyncio.sleep(0.02)
        if "tickets" in await asyncio.to_thread(_tables, url):
            break
    engine = create_engine(url)
    try:
        web = TicketService(engine)
        await web.windows.record_inbound("oResident0000000000000001")
        ticket = await create_ticket(web)
        for _ in range(250):
            if fake.custom_messages:
                break
            await asyncio.sleep(0.02)
        assert (await web.queries.get(ticket.id)).status == "dispatched"
        [pushed] = fake.custom_messages  # inside the 48-hour window: no template
        assert pushed.json["touser"] == "oResident0000000000000001"
        assert "已派单至市政照明管理处" in pushed.json["text"]["content"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await engine.dispose()


async def test_processes_starting_together_seed_the_knowledge_once(db_url: str) -> None:
    """`intake serve --workers N` on an empty database: every process seeds at the same
    moment; one copy lands and nobody fails to start."""
    from integrations.db import create_engine
    from integrations.faq import FAQStore
    from integrations.training.examples import TrainingExampleStore
    from nlu.faq_retrieval import DEFAULT_KB_PATH, load_knowledge_base
    from nlu.training_data import DEFAULT_DATA_DIR, load_training_data

    topics = load_knowledge_base(DEFAULT_KB_PATH)
    data = load_training_data(DEFAULT_DATA_DIR)
    engines = [create_engine(db_url) for _ in range(4)]
    try:
        faq_added = await asyncio.gather(*(FAQStore(e).seed_if_empty(topics) for e in engines))
        examples_added = await asyncio.gather(
            *(TrainingExampleStore(e).seed_release(data) for e in engines)
        )
        assert sorted(faq_added)[-1] == len(topics) and sum(faq_added) == len(topics)
        assert sum(1 for n in examples_added if n) == 1
        assert len(await FAQStore(engines[0]).enabled_topics()) == len(topics)
    finally:
        for engine in engines:
            await engine.dispose()


def test_appended_rows_carry_every_column_themselves() -> None:
    """``insert_appended`` writes timeline entries, push jobs and push attempts with Core,
    from the attributes the code set: a column default there would be skipped (NULL)
    instead of applied, so none of them may have one."""
    from integrations.tickets.core import _APPENDED

    defaults = [
        f"{row.__name__}.{column.key}"
        for row in _APPENDED
        for column in row.__table__.c
        if column.key != "id" and (column.default is not None or column.server_default)
    ]
    assert defaults == []
