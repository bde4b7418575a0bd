"""Migrations at start-up, the ticket settings, and ``run_worker`` as ``intake worker`` runs it."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect, text

from integrations.db import create_engine
from integrations.db.migrate import (
    alembic_config,
    enable_sqlite_transactions,
    main,
    sync_database_url,
    upgrade_database,
)
from integrations.dispatch.worker import create_backend, run_worker
from integrations.errors import ConfigurationError
from integrations.tickets import TicketConfig, TicketService
from tests.conftest import POSTGRES_TEST_URL, require_server
from tests.tickets.conftest import create_ticket

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


def test_config_from_environment() -> None:
    config = TicketConfig.from_environ(
        {
            "DISPATCH_BACKEND": "open311",
            "INTAKE_OUTBOX_MAX_ATTEMPTS": "5",
            "INTAKE_OUTBOX_BACKOFF_BASE": "2.5",
            "WECHAT_TEMPLATE_STATUS_ID": "tpl-1",
            "INTAKE_SLA_FILE": "/etc/intake/sla.yaml",
            "INTAKE_CS_QUOTA": "",  # empty: the default
        }
    )
    assert config.dispatch_backend == "open311" and config.outbox_max_attempts == 5
    assert config.backoff_base == 2.5 and config.template_status_id == "tpl-1"
    assert config.sla_file == Path("/etc/intake/sla.yaml") and config.cs_quota == 5
    with pytest.raises(ConfigurationError, match="INTAKE_OUTBOX_MAX_ATTEMPTS"):
        TicketConfig.from_environ({"INTAKE_OUTBOX_MAX_ATTEMPTS": "many"})
    with pytest.raises(ConfigurationError, match="INTAKE_TIMEZONE"):
        TicketConfig(timezone="Mars/Olympus")
    with pytest.raises(ConfigurationError):
        TicketConfig(backoff_base=10, backoff_max=1)
    with pytest.raises(ConfigurationError, match="INTAKE_OUTBOX_LEASE_SECONDS"):
        TicketConfig(lease_seconds=0)


def test_config_from_a_settings_object() -> None:
    settings = SimpleNamespace(wechat_template_status_id="tpl-9", outbox_max_attempts=3)
    config = TicketConfig.from_settings(settings, environ={"INTAKE_CS_QUOTA": "2"})
    assert config.template_status_id == "tpl-9"
    assert config.outbox_max_attempts == 3 and config.cs_quota == 2


async def test_backends_by_name(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    service = TicketService(engine)
    assert create_backend("embedded", service=service).name == "embedded"
    with pytest.raises(ConfigurationError, match="OPEN311_URL"):
        create_backend("open311", service=service, environ={})
    open311 = create_backend(
        "open311",
        service=service,
        environ={"OPEN311_URL": "http://127.0.0.1:9/v2", "OPEN311_API_KEY": "k"},
    )
    assert open311.name == "open311"
    await open311.aclose()  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="embedded or open311"):
        create_backend("fax", service=service)
    await engine.dispose()


class _Messenger:
    def __init__(self) -> None:
        self.texts: list[tuple[str, str]] = []

    async def send_text(self, openid: str, content: str) -> None:
        self.texts.append((openid, content))

    async def send_template(
        self, openid: str, template_id: str, data: Any, url: str | None = None
    ) -> int:
        raise AssertionError("inside the window: no template")


async def test_run_worker_delivers_and_pushes_until_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    settings = SimpleNamespace(
        effective_database_url=url,
        redis_url=None,
        wechat_app_id=None,
        wechat_app_secret=None,
        wechat_api_base_url="https://api.weixin.qq.com",
        worker_interval=0.05,
    )
    messenger = _Messenger()
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop, messenger=messenger))
    # A separate engine and service: the web process, which only writes to the database.
    for _ in range(100):
        await asyncio.sleep(0.02)
        if "tickets" in await asyncio.to_thread(_tables, url):
            break
    engine = create_engine(url)
    try:
        web = TicketService(engine)
        await web.record_inbound("oResident0000000000000001")
        ticket = await create_ticket(web)
        for _ in range(250):
            if messenger.texts:
                break
            await asyncio.sleep(0.02)
        assert (await web.get(ticket.id)).status == "dispatched"
        assert messenger.texts and "已派单至市政照明管理处" in messenger.texts[0][1]
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
