"""The curated FAQ answers live in the database: seeded from the YAML, edits are answered."""

from __future__ import annotations

import asyncio
from pathlib import Path

from integrations.db import create_engine
from integrations.faq import FAQStore
from nlu.faq_retrieval import DEFAULT_KB_PATH, load_knowledge_base
from tests.bot.wechat_harness import running_app


async def _edit(url: str) -> None:
    engine = create_engine(url)
    try:
        store = FAQStore(engine)
        topics = {t.id: t for t in await store.enabled_topics()}
        assert len(topics) == len(load_knowledge_base(DEFAULT_KB_PATH))  # seeded whole
        voucher = topics["faq.medical.e_voucher"]
        from dataclasses import replace

        await store.upsert(replace(voucher, answer="请到街道便民服务中心三号窗口现场激活。"))
        await store.set_enabled("faq.civil.funeral", False)
        assert "faq.civil.funeral" not in {t.id for t in await store.enabled_topics()}
    finally:
        await engine.dispose()


def test_seeded_once_and_admin_edits_are_answered(tmp_path: Path) -> None:
    with running_app(tmp_path) as app:
        before = app.reply(app.post(app.signer.text("o-faq-1", "医保电子凭证怎么激活")))
        assert before is not None and "三号窗口" not in before
        url = app.settings.effective_database_url
    asyncio.run(_edit(url))
    with running_app(tmp_path) as app:
        after = app.reply(app.post(app.signer.text("o-faq-1", "医保电子凭证怎么激活")))
        assert after is not None and "三号窗口" in after
