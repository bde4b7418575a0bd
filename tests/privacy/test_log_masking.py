"""Issue 13: personal data masked in every log line — our loggers, uvicorn's access and
error loggers (run by a real uvicorn server with the configuration ``intake serve`` gives
it), exception messages and formatted tracebacks, and handlers added by others."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import bot.app
import bot.balancer
import bot.cli
from bot.logs import configure_logging, logging_config
from tests.privacy.spellings import ID_SPELLINGS, PHONE, PHONE_SPELLINGS, holds

ID = ID_SPELLINGS["en dash"]
pytestmark = pytest.mark.usefixtures("restore_logging")


def _assert_clean(output: str) -> None:
    assert not holds(output, ID), output
    assert "19900101" not in output.replace("-", "").replace("–", ""), output
    assert not holds(output, PHONE), output


def test_messages_arguments_and_tracebacks_are_masked() -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("intake.test")

    log.info("resident said %s, call %s", f"身份证{ID}", PHONE_SPELLINGS["+86"])
    log.info(f"careless f-string: {PHONE_SPELLINGS['Chinese digits']}")
    try:
        raise ValueError(f"cannot file: parameters ('{ID}', '{PHONE}')")
    except ValueError:
        log.exception("creating a ticket failed")
    log.warning("with a stack", stack_info=True, extra={"note": PHONE})

    output = stream.getvalue()
    _assert_clean(output)
    assert "resident said 身份证110105********103X, call +86 158****2041" in output
    assert "幺五八****二零四幺" in output
    assert "Traceback (most recent call last)" in output
    assert "ValueError: cannot file: parameters ('110105********103X', '158****2041')" in output


def test_a_handler_added_later_receives_masked_records() -> None:
    """A library's or a test's own handler has no filter of ours: records are masked when
    they are created."""
    configure_logging("INFO", stream=io.StringIO())
    foreign = io.StringIO()
    handler = logging.StreamHandler(foreign)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("intake.test")
    logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"ID {ID}")
        except RuntimeError:
            logger.exception("phone %s", PHONE)
    finally:
        logger.removeHandler(handler)
    output = foreign.getvalue()
    _assert_clean(output)
    assert "phone 158****2041" in output and "RuntimeError: ID 110105********103X" in output


@contextmanager
def _serve(app: FastAPI, config: dict[str, Any]) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=config, access_log=True, log_level="info"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_uvicorn_access_and_error_lines_are_masked() -> None:
    """uvicorn with our configuration: its access line (the path carries a phone) and the
    traceback of an unhandled exception (the message carries an ID) come out masked."""
    app = FastAPI()

    @app.get("/boom")
    async def boom(phone: str) -> None:
        raise RuntimeError(f"resident {ID} ({phone}) broke it")

    stream = io.StringIO()
    with _serve(app, logging_config("INFO", stream=stream)) as url:
        response = httpx.get(f"{url}/boom", params={"phone": PHONE})
        assert response.status_code == 500
    output = stream.getvalue()
    _assert_clean(output)
    assert "Exception in ASGI application" in output
    assert "RuntimeError: resident 110105********103X (158****2041) broke it" in output
    assert '"GET /boom?phone=158****2041 HTTP/1.1" 500' in output


def test_serve_gives_uvicorn_the_masking_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """``intake serve`` hands uvicorn our configuration, in one process and with
    ``--workers N`` (each worker process applies it)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    # --workers N: the balancer hands the same configuration to each web process
    monkeypatch.setattr(bot.balancer, "serve_balanced", lambda **kw: calls.append(kw))
    monkeypatch.setattr(bot.cli, "_print_demo_admin", lambda settings: None)
    monkeypatch.setattr(bot.app, "create_app", lambda settings: FastAPI())
    monkeypatch.setenv("INTAKE_DATA_DIR", str(tmp_path))
    # --no-worker writes INTAKE_INPROCESS_WORKER=0 for worker processes: undone afterwards
    monkeypatch.setenv("INTAKE_INPROCESS_WORKER", "1")
    assert bot.cli.main(["serve", "--no-worker", "--port", "8123"]) == 0
    assert bot.cli.main(["serve", "--no-worker", "--workers", "2"]) == 0
    assert len(calls) == 2
    for kwargs in calls:
        config = kwargs["log_config"]
        assert config["root"]["handlers"] == ["default"]
        assert config["handlers"]["default"]["filters"] == ["personal_data"]
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            assert config["loggers"][name] == {"handlers": [], "propagate": True, "level": "INFO"}
