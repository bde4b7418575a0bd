"""Messages the bot was unsure about, and what led to a handoff, reach the admins' review
queue through the real path (signed /wechat → NLU → policy → review table)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from integrations.training.review import ReviewQueue
from tests.bot.wechat_harness import RunningApp, running_app


def _open_items(app: RunningApp, at_least: int) -> list[tuple[str, str]]:
    """The open items, once the bot's batch (written once a second) has landed."""
    deadline = time.monotonic() + 10
    while True:
        items = asyncio.run(ReviewQueue(app.runtime.engine).list("open"))
        if len(items) >= at_least or time.monotonic() > deadline:
            return [(item.text, item.reason) for item in items]
        time.sleep(0.1)


def test_unclear_messages_and_handoffs_are_queued_for_review(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        app.post(app.signer.text("o-review-1", "阿巴阿巴阿巴"))
        app.post(app.signer.text("o-review-2", "我家那个补贴的事情到底归谁管，电话13812345678"))
        app.post(app.signer.text("o-review-2", "我要找人工客服"))
        app.post(app.signer.text("o-review-3", "医保电子凭证怎么激活"))  # understood: not queued
        items = _open_items(app, at_least=2)
        texts = [text for text, _ in items]
        assert ("阿巴阿巴阿巴", "fallback") in items or ("阿巴阿巴阿巴", "low_confidence") in items
        assert any("补贴" in text for text in texts)
        assert not any("13812345678" in text for text in texts)  # masked
        assert "我要找人工客服" not in texts  # the request itself is not the problem
        assert "医保电子凭证怎么激活" not in texts


def test_answers_to_the_bots_own_questions_are_not_queued(tmp_path: Path) -> None:
    """An address or phone number given because the bot asked for it was understood in its
    context: the review queue must not offer it as "not understood"."""
    with running_app(tmp_path) as app:
        openid = "o-review-answers"
        for text in ("路灯坏了好几天了", "星河湾B区12栋", "139 0000 2468", "没问题"):
            app.post(app.signer.text(openid, text))
        app.post(app.signer.text("o-review-marker", "阿巴阿巴阿巴"))
        # The unclear message of another resident lands; the answers above never do.
        items = _open_items(app, at_least=1)
        texts = [text for text, _ in items]
        assert any("阿巴" in text for text in texts)
        assert not any("星河湾" in text or "0000" in text or "没问题" in text for text in texts)
