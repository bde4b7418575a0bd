"""模型训练 over real HTTP with real training: the background job and its progress, the
release with candidate and current metrics, the confusion matrix (admins only), publishing.

These tests train and publish, so each gets a model directory of its own (a copy of the
shared test model), never the shared one.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from integrations.db import create_engine
from integrations.training.jobs import ModelReleases, Release
from nlu.model import latest_model_path
from nlu.parser import NLUService
from nlu.training_data import load_training_data
from tests.bot.wechat_harness import RunningApp, running_app
from tests.console.harness import (
    ADMIN,
    STAFF,
    create_accounts,
    csrf_token,
    database_url,
    login,
    own_model,
)


@pytest.fixture
def model_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[RunningApp]:
    """The app with a model of its own; parametrized indirectly with a file name, it is
    configured with that evaluation set in ``tmp_path`` (``INTAKE_NLU_EVAL_SET``)."""
    create_accounts(database_url(tmp_path))
    eval_set = getattr(request, "param", None)
    overrides = {"INTAKE_NLU_EVAL_SET": tmp_path / eval_set} if eval_set else {}
    with running_app(tmp_path, nlu=own_model(tmp_path), **overrides) as app:
        yield app


@pytest.fixture
def admin_client(model_app: RunningApp) -> Iterator[httpx.Client]:
    with closing(login(model_app.url, *ADMIN)) as client:
        yield client


def _nlu(app: RunningApp) -> NLUService:
    assert app.runtime.nlu is not None
    return app.runtime.nlu


def _published(app: RunningApp) -> str:
    """The version ``LATEST`` names in the app's model directory."""
    path = latest_model_path(_nlu(app).model_dir)
    assert path is not None
    return path.name


def _release(app: RunningApp, version: str) -> Release:
    async def read() -> Release | None:
        engine = create_engine(app.settings.effective_database_url)
        try:
            return await ModelReleases(engine).get(version)
        finally:
            await engine.dispose()

    release = asyncio.run(read())
    assert release is not None
    return release


def _train(
    admin: httpx.Client, *, check_busy: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start a job from the page and follow it like model.js does; the final state and
    every state seen."""
    token = csrf_token(admin, "/console/admin/model")
    started = admin.post("/console/admin/model", data={"csrf_token": token, "action": "train"})
    assert started.status_code == 303
    assert started.headers["location"].endswith("msg=train-started")
    if check_busy:  # one job at a time (a real training takes seconds)
        busy = admin.post("/console/admin/model", data={"csrf_token": token, "action": "train"})
        assert busy.headers["location"].endswith("msg=train-busy")
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = admin.get("/console/api/model/job").json()
        seen.append(state)
        if state["status"] != "running":
            return state, seen
        time.sleep(0.2)
    raise AssertionError(f"training did not finish: {seen[-1]}")


def test_train_evaluate_and_publish(model_app: RunningApp, admin_client: httpx.Client) -> None:
    admin = admin_client
    before = _nlu(model_app).version
    page = admin.get("/console/admin/model")
    assert page.status_code == 200
    assert 'id="train-start"' in page.text and 'id="train-progress"' in page.text
    assert before in page.text and "还没有训练过" in page.text

    state, seen = _train(admin)
    assert state["status"] == "done", state
    assert state["percent"] == 100 and state["started_by"] == ADMIN[0]
    running = [s for s in seen if s["status"] == "running"]
    assert running and all(0 <= s["percent"] < 100 and s["message"] for s in running), seen
    percents = [s["percent"] for s in running]
    assert percents == sorted(percents)  # progress only moves forward
    version = state["version"]
    assert version and version != before
    assert _nlu(model_app).version == before  # trained, not yet published
    assert _published(model_app) == before

    release = _release(model_app, version)
    assert release.trained_by == ADMIN[0] and release.published_at is None
    assert release.examples >= len(load_training_data().examples)
    evaluation = release.metrics["evaluation"]
    assert evaluation["kind"] == "holdout"
    assert abs(evaluation["size"] - 0.2 * release.examples) < 60
    candidate, current = release.candidate, release.current
    assert current is not None and current["version"] == before
    for side in (candidate, current):
        assert side["n"] == evaluation["size"]
        assert 0.5 < side["accuracy"] <= 1 and 0.5 < side["macro_f1"] <= 1
        intents = {m["intent"] for m in side["per_intent"]}
        assert {"report.streetlight", "greet", "faq.medical.e_voucher"} <= intents
        assert sum(m["support"] for m in side["per_intent"]) == side["n"]
    # The figures come from the model trained on the other 80 %, not the one to publish.
    assert candidate["version"] != version
    # The running model learnt the packaged examples, so most of the hold-out is not new
    # to it; the FAQ question variants (not in the packaged examples) are.
    seen, unseen = release.metrics["current_seen"], release.metrics["unseen"]
    assert 0.5 * evaluation["size"] < seen < evaluation["size"]
    assert unseen["n"] == evaluation["size"] - seen
    assert 0 < unseen["candidate"]["accuracy"] <= 1 and 0 < unseen["current"]["accuracy"] <= 1

    detail = admin.get("/console/admin/model", params={"version": version}).text
    assert 'id="publish"' in detail and 'class="confusion"' in detail
    assert f"{candidate['accuracy'] * 100:.1f}%" in detail
    assert f"{current['accuracy'] * 100:.1f}%" in detail
    assert "80%" in detail and 'id="per-intent"' in detail and "路灯不亮/损坏" in detail
    assert 'id="seen-note"' in detail and f"见过这批评估句子中的 {seen} 句" in detail
    assert 'id="unseen-summary"' in detail and f"只看它没见过的 {unseen['n']} 句" in detail

    png_path = f"/console/admin/model/releases/{version}/confusion.png"
    assert f'src="{png_path}"' in detail
    png = admin.get(png_path)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")
    staff = login(model_app.url, *STAFF)
    try:
        assert staff.get(png_path).status_code == 403
        assert staff.get("/console/api/model/job").status_code == 403
    finally:
        staff.close()
    with httpx.Client(base_url=model_app.url) as anonymous:
        assert anonymous.get(png_path).status_code == 303
        assert anonymous.get("/console/api/model/job").status_code == 401
    assert admin.get("/console/admin/model/releases/../confusion.png").status_code == 404
    assert admin.get("/console/admin/model/releases/0000/confusion.png").status_code == 404

    token = csrf_token(admin, "/console/admin/model")

    def publish(version: str, **extra: str) -> httpx.Response:
        data = {"csrf_token": token, "action": "publish", "version": version, **extra}
        return admin.post("/console/admin/model", data=data)

    forged = admin.post("/console/admin/model", data={"action": "publish", "version": version})
    assert forged.status_code == 403  # no CSRF token
    assert _nlu(model_app).version == before
    published = publish(version)
    assert published.status_code == 303
    assert _nlu(model_app).version == version
    assert _published(model_app) == version
    parse = httpx.post(model_app.url + "/model/parse", json={"text": "小区门口的路灯坏了"}).json()
    assert parse["model_version"] == version
    assert parse["intent"]["name"] == "report.streetlight"
    release = _release(model_app, version)
    assert release.published_by == ADMIN[0] and release.published_at is not None

    after = admin.get(published.headers["location"]).text
    assert "已发布" in after and 'id="publish"' not in after
    assert re.search(r'id="current-version">' + version, after)
    audit = admin.get("/console/admin/audit", params={"action": "model."}).text
    assert f"model:{version}" in audit and "model.train" in audit and "model.publish" in audit

    # An unknown or malformed version is refused without touching LATEST.
    assert publish("ffffffffffffffff").status_code == 404
    assert publish("../../etc").status_code == 404
    assert _published(model_app) == version


@pytest.mark.parametrize("model_app", ["eval.tsv"], indirect=True)
def test_a_labelled_evaluation_file_is_used_when_configured(
    model_app: RunningApp, admin_client: httpx.Client, tmp_path: Path
) -> None:
    rows = [
        ("report.streetlight", "西门的路灯一到晚上就不亮"),
        ("report.garbage", "小区垃圾好几天没人收了"),
        ("greet", "你好呀"),
        ("faq.medical.e_voucher", "医保电子凭证怎么激活"),
        ("out_of_scope", "帮我推荐一只股票"),
    ]
    tsv = tmp_path / "eval.tsv"
    tsv.write_text("# label\ttext\n" + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")

    assert "eval.tsv" in admin_client.get("/console/admin/model").text
    state, _ = _train(admin_client)
    assert state["status"] == "done", state
    release = _release(model_app, state["version"])
    assert release.metrics["evaluation"] == {"kind": "file", "name": "eval.tsv", "size": 5}
    # With a separate evaluation set the scored model is the one to publish.
    assert release.candidate["version"] == state["version"]
    assert release.candidate["n"] == release.current["n"] == 5  # type: ignore[index]
    # Three of them are packaged examples the running model learnt; two are new to it.
    assert release.metrics["current_seen"] == 3 and release.metrics["unseen"]["n"] == 2


@pytest.mark.parametrize("model_app", ["missing.tsv"], indirect=True)
def test_a_failed_job_is_reported_and_frees_the_lock(
    model_app: RunningApp, admin_client: httpx.Client
) -> None:
    state, _ = _train(admin_client, check_busy=False)
    assert state["status"] == "failed" and "读不到评估集文件 missing.tsv" in state["message"]
    page = admin_client.get("/console/admin/model").text
    assert "训练没有成功" in page and "还没有训练过" in page
    # The lock is free again: the next job starts (and fails the same way).
    state, _ = _train(admin_client, check_busy=False)
    assert state["status"] == "failed"
