"""An admin in a real browser teaches the bot a new way of asking: add a question variant
to a FAQ topic, retrain, publish, and the simulator (signed /wechat path) answers it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.bot.wechat_harness import RunningApp, running_app
from tests.browser.conftest import log_in
from tests.console.harness import ADMIN, create_accounts, database_url, own_model

#: A colloquial way of asking about funeral subsidies the shipped model gets wrong.
VARIANT = "老人走了那笔钱找谁要"
ANSWER_SNIPPET = "开具死亡证明"


@pytest.fixture
def own_model_app(tmp_path: Path) -> Iterator[RunningApp]:
    """This test publishes a model: it gets a copy of the shared one, never the original."""
    create_accounts(database_url(tmp_path))
    with running_app(tmp_path, nlu=own_model(tmp_path)) as app:
        yield app


def _ask_simulator(page: Page, base_url: str, text: str) -> str:
    page.goto(base_url + "/simulator")
    answers = page.locator("#sim-messages li.bot")
    before = answers.count()
    page.fill("#sim-input", text)
    page.click("#sim-send")
    expect(answers).to_have_count(before + 1, timeout=15_000)
    return answers.last.inner_text()


def test_admin_adds_a_variant_retrains_publishes_and_the_bot_answers_it(
    own_model_app: RunningApp, page: Page
) -> None:
    app = own_model_app
    assert ANSWER_SNIPPET not in _ask_simulator(page, app.url, VARIANT)
    old_version = app.runtime.nlu.version if app.runtime.nlu else ""

    log_in(page, app.url, *ADMIN)
    page.goto(app.url + "/console/admin/faq")
    page.click("a.faq-link:has-text('殡葬服务与丧葬补助')")
    questions = page.locator("#faq-form textarea[name=questions]")
    questions.fill(questions.input_value().rstrip() + "\n" + VARIANT)
    page.click("#faq-save")
    expect(page.locator(".flash")).to_be_visible()

    page.goto(app.url + "/console/admin/model")
    page.click("#train-start")
    # model.js follows the job and reloads the page when it is done: a release to publish.
    publish = page.locator("#publish")
    expect(publish).to_be_visible(timeout=120_000)
    expect(page.locator("#per-intent")).to_contain_text("faq.civil.funeral")
    expect(page.locator("img.confusion")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    publish.click()
    expect(page.locator("#current-version")).not_to_have_text(old_version)
    assert app.runtime.nlu is not None and app.runtime.nlu.version != old_version

    assert ANSWER_SNIPPET in _ask_simulator(page, app.url, VARIANT)
