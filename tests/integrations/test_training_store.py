"""Curated training examples, the review queue, the training helpers and the cross-process
model switch, against a real (migrated SQLite) database and the real state stores."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from integrations.db import create_engine
from integrations.db.migrate import upgrade_database
from integrations.db.models import TrainingExampleRow
from integrations.faq import FAQStore
from integrations.state.redis import RedisStore
from integrations.training.examples import TrainingExampleStore, seed_packaged_examples
from integrations.training.jobs import holdout_split, trainable
from integrations.training.review import ReviewQueue
from integrations.training.sync import KnowledgeSync
from nlu.faq_retrieval import DEFAULT_KB_PATH, FAQTopic, load_knowledge_base
from nlu.model import ModelError, latest_model_path, publish_model, save_model, train_model
from nlu.parser import NLUService
from nlu.training_data import annotate, load_training_data, load_training_data_from_string
from tests.bot.wechat_harness import shared_model_dir
from tests.conftest import REDIS_TEST_URL


async def _database(path: Path) -> AsyncEngine:
    url = f"sqlite:///{(path / 'intake.db').as_posix()}"
    await asyncio.to_thread(upgrade_database, url)
    engine = create_engine(url)
    await FAQStore(engine).seed_if_empty(load_knowledge_base(DEFAULT_KB_PATH))
    return engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _database(tmp_path)
    yield engine
    await engine.dispose()


def _packaged_pairs() -> list[tuple[str, str]]:
    return sorted({(ex.intent, annotate(ex)) for ex in load_training_data().examples})


async def test_seed_once_then_export_and_import_round_trip(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    store = TrainingExampleStore(engine)
    packaged = _packaged_pairs()
    assert await seed_packaged_examples(engine) == len(packaged)
    assert await seed_packaged_examples(engine) == 0  # the table is the truth from now on
    assert await store.count() == len(packaged)
    counts = await store.counts()
    assert counts["report.streetlight"] == sum(1 for i, _ in packaged if i == "report.streetlight")

    exported = await store.export_yaml()
    data = load_training_data_from_string(exported)
    assert sorted((ex.intent, annotate(ex)) for ex in data.examples) == packaged
    # Entity annotations survive the trip.
    assert any(ex.entities for ex in data.examples)

    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = await _database(other_dir)
    try:
        fresh = TrainingExampleStore(other)
        report = await fresh.import_yaml(exported, "li.admin")
        assert (report.added, report.duplicates, report.errors) == (len(packaged), 0, [])
        assert await fresh.counts() == counts
        again = await fresh.import_yaml(exported, "li.admin")
        assert (again.added, again.duplicates) == (0, len(packaged))
        rows = await fresh.examples_of("report.streetlight")
        assert {r.source for r in rows} == {"import"} and {r.created_by for r in rows} == {
            "li.admin"
        }
    finally:
        await other.dispose()


async def test_a_new_packaged_release_adds_its_new_examples_but_not_deleted_ones(
    engine: AsyncEngine,
) -> None:
    """An installation seeded by an older release learns the new release's examples (new
    intents) on upgrade; what admins added or deleted stays as they left it."""
    store = TrainingExampleStore(engine)
    old_release = load_training_data_from_string(
        'version: "3.1"\nnlu:\n- intent: report.streetlight\n  examples: |\n'
        "    - 路灯坏了\n    - 路灯不亮\n"
    )
    assert await store.seed_release(old_release) == 2
    assert await store.seed_release(old_release) == 0  # once per release
    lamp = next(r for r in await store.examples_of("report.streetlight") if r.text == "路灯不亮")
    await store.delete(lamp.id, actor="li.admin")
    added = await store.add("report.streetlight", "灯杆歪了", actor="li.admin")
    assert added.ok

    new_release = load_training_data_from_string(
        'version: "3.1"\nnlu:\n- intent: report.streetlight\n  examples: |\n'
        "    - 路灯坏了\n    - 路灯不亮\n    - 灯杆歪了\n"
        "- intent: report.traffic_signal\n  examples: |\n    - 红绿灯坏了\n"
    )
    assert await store.seed_release(new_release) == 1  # only 红绿灯坏了 is new
    texts = {(r.intent, r.text, r.source) for r in await store.records()}
    assert ("report.traffic_signal", "红绿灯坏了", "seed") in texts
    assert not any(text == "路灯不亮" for _, text, _ in texts)  # deleted stays deleted
    assert ("report.streetlight", "灯杆歪了", "admin") in texts  # the admin's stays theirs


async def test_add_validates_intent_text_and_duplicates(engine: AsyncEngine) -> None:
    store = TrainingExampleStore(engine)
    await seed_packaged_examples(engine)

    added = await store.add(
        "report.streetlight", "  [望京西园](address)北门   路灯全黑了 ", actor="li"
    )
    assert added.ok and added.record is not None
    assert added.record.text == "[望京西园](address)北门 路灯全黑了"
    assert added.record.source == "admin" and added.record.created_by == "li"

    duplicate = await store.add(
        "report.streetlight", "[望京西园](address)北门 路灯全黑了", actor="li"
    )
    assert duplicate.status == "duplicate"
    # The same sentence under another intent would contradict the first.
    conflict = await store.add("report.road_damage", "望京西园北门 路灯全黑了", actor="li")
    assert conflict.status == "error" and "路灯" in conflict.message
    conflict = await store.add("report.noise", "[望京西园](address)北门 路灯全黑了", actor="li")
    assert conflict.status == "error"

    assert (await store.add("report.unknown", "路灯坏了吗", actor="li")).status == "error"
    assert (await store.add("report.streetlight", "   ", actor="li")).status == "error"
    assert (await store.add("report.streetlight", "路" * 501, actor="li")).status == "error"
    assert (await store.add("report.streetlight", '[x]{"role": 1}', actor="li")).status == "error"

    # FAQ topics are intents, including one an admin created at run time.
    assert (await store.add("faq.medical.e_voucher", "医保码在哪里领啊", actor="li")).ok
    await FAQStore(engine).upsert(
        FAQTopic(id="faq.local.library", title="图书馆开放时间", answer="周二至周日 9:00-17:00")
    )
    assert (await store.add("faq.local.library", "图书馆几点开门", actor="li")).ok

    before = await store.count()
    assert added.record is not None
    removed = await store.delete(added.record.id)
    assert removed is not None and removed.intent == "report.streetlight"
    assert await store.delete(added.record.id) is None
    assert await store.count() == before - 1


async def test_import_reports_problems_with_line_numbers(engine: AsyncEngine) -> None:
    store = TrainingExampleStore(engine)
    text = (
        'version: "3.1"\n'  # 1
        "nlu:\n"  # 2
        "- intent: report.streetlight\n"  # 3
        "  examples: |\n"  # 4
        "    - 北门路灯一闪一闪的\n"  # 5
        "    - 北门路灯一闪一闪的\n"  # 6 duplicate within the file
        "\n"  # 7
        "    - [坏的标注]{not json}\n"  # 8
        "- intent: report.nonexistent\n"  # 9
        "  examples: |\n"  # 10
        "    - 随便说一句\n"  # 11
        "- synonym: 医保电子凭证\n"  # 12
        "  examples: |\n"  # 13
        "    - 医保码\n"  # 14
        "- intent: faq.medical.e_voucher\n"  # 15
        "  examples:\n"  # 16
        "    - text: 医保码丢了怎么找回\n"  # 17
        f"    - {'很' * 501}\n"  # 18
    )
    report = await store.import_yaml(text, "li.admin")
    assert report.added == 2, report
    assert any(e.startswith("第 8 行") and "标注" in e for e in report.errors)
    assert report.duplicates == 1 and report.duplicate_lines[0].startswith("第 6 行")
    assert any(e.startswith("第 11 行") and "report.nonexistent" in e for e in report.errors)
    assert any(e.startswith("第 18 行") and "太长" in e for e in report.errors)
    assert report.ignored and report.ignored[0].startswith("第 12 行")
    assert {r.text for r in await store.examples_of("faq.medical.e_voucher")} == {
        "医保码丢了怎么找回"
    }

    broken = await store.import_yaml("nlu:\n- intent: greet\n  examples: [unclosed\n", "li")
    assert broken.added == 0 and broken.errors and "第" in broken.errors[0]
    assert (await store.import_yaml("just text", "li")).errors


async def test_training_data_adds_synonyms_and_faq_variants(engine: AsyncEngine) -> None:
    store = TrainingExampleStore(engine)
    await seed_packaged_examples(engine)
    packaged = load_training_data()
    faq = FAQStore(engine)
    voucher = next(t for t in await faq.enabled_topics() if t.id == "faq.medical.e_voucher")
    from dataclasses import replace

    await faq.upsert(replace(voucher, questions=(*voucher.questions, "电子医保卡咋个激活嘛")))
    await faq.set_enabled("faq.civil.funeral", False)

    data = await store.training_data()
    assert data.synonyms == packaged.synonyms and data.lookups == packaged.lookups
    assert data.regexes == packaged.regexes
    pairs = {(ex.intent, ex.text) for ex in data.examples}
    assert ("faq.medical.e_voucher", "电子医保卡咋个激活嘛") in pairs
    assert {(ex.intent, ex.text) for ex in packaged.examples} <= pairs
    funeral = next(t for t in load_knowledge_base(DEFAULT_KB_PATH) if t.id == "faq.civil.funeral")
    extra = [
        q
        for q in funeral.questions
        if ("faq.civil.funeral", q) not in {(ex.intent, ex.text) for ex in packaged.examples}
    ]
    assert not any(("faq.civil.funeral", q) in pairs for q in extra)  # disabled topic


async def test_review_queue_masks_skips_repeats_and_assigns(engine: AsyncEngine) -> None:
    queue = ReviewQueue(engine)
    first = await queue.add(
        openid="o-resident-1",
        text="我电话13812345678，门口那个东西又坏了",
        reason="low_confidence",
        guess="report.streetlight",
        confidence=0.31,
    )
    assert first is not None
    repeat = await queue.add(
        openid="o-resident-1", text="我电话13812345678，门口那个东西又坏了", reason="fallback"
    )
    assert repeat is None
    second = await queue.add(openid="o-resident-2", text="x" * 900, reason="handoff")
    assert second is not None

    items = await queue.list()
    assert [i.id for i in items] == [first, second]
    assert items[0].text == "我电话138****5678，门口那个东西又坏了"
    assert "13812345678" not in items[0].text
    assert len(items[1].text) == 500

    assert not (await queue.assign(first, "report.nonexistent", "li")).ok
    result = await queue.assign(first, "report.streetlight", "li")
    assert result.ok and result.example is not None and result.example.status == "added"
    assert not (await queue.assign(first, "report.streetlight", "li")).ok  # already closed
    examples = await TrainingExampleStore(engine).examples_of("report.streetlight")
    assert [(e.text, e.source, e.created_by) for e in examples] == [
        ("我电话138****5678，门口那个东西又坏了", "review", "li")
    ]
    assert await queue.dismiss(second, "li")
    assert not await queue.dismiss(second, "li")
    assert await queue.list() == []
    done = await queue.list("assigned")
    assert done[0].resolved_intent == "report.streetlight" and done[0].resolved_by == "li"
    assert (await queue.list("dismissed"))[0].id == second


def test_holdout_is_stratified_deterministic_and_small_intents_are_left_out() -> None:
    data = load_training_data()
    from nlu.training_data import Example

    data.examples.append(Example("图书馆几点开门", "faq.local.library"))
    kept, skipped = trainable(data)
    assert skipped == {"faq.local.library": 1}
    train, test = holdout_split(kept)
    assert (train, test) == holdout_split(kept)
    assert not set(train) & set(test) and len(train) + len(test) == len(kept.examples)
    assert abs(len(test) - 0.2 * len(kept.examples)) <= len(kept.intents)
    by_intent = Counter(kept.examples[i].intent for i in test)
    assert set(by_intent) == set(kept.intents)  # every intent is evaluated


def _small_model_version(model_dir: Path) -> str:
    """A model other than the published one, saved without publishing."""
    data = load_training_data()
    keep = [i for i, ex in enumerate(data.examples) if i % 3 != 0]
    model = train_model(data.filter(keep))
    save_model(model, model_dir, publish=False)
    return model.version


def test_publish_model_writes_latest_only_for_a_sound_artifact(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(shared_model_dir(), models)
    published = latest_model_path(models)
    assert published is not None
    version = _small_model_version(models)
    assert latest_model_path(models) == published  # saving did not publish
    with pytest.raises(ModelError):
        publish_model(models, "../escape")
    with pytest.raises(ModelError):
        publish_model(models, "0000000000000000")
    (models / version / "model.pkl").write_bytes(b"tampered")
    with pytest.raises(ModelError):
        publish_model(models, version)
    assert latest_model_path(models) == published


async def test_knowledge_sync_switches_every_process(
    redis_store: RedisStore, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(shared_model_dir(), models)
    old = NLUService(models, train_if_missing=False)
    first, second = (
        NLUService(models, train_if_missing=False),
        NLUService(models, train_if_missing=False),
    )
    assert first.version == second.version == old.version
    version = await asyncio.to_thread(_small_model_version, models)
    assert version != first.version

    # Two processes: two connections to the same Redis, each with its own sync loop.
    other_store = RedisStore.from_url(REDIS_TEST_URL, namespace="intake-test")
    sync_a = KnowledgeSync(redis_store, first, FAQStoreless.topics, interval=0.05)
    sync_b = KnowledgeSync(other_store, second, FAQStoreless.topics, interval=0.05)
    stop = asyncio.Event()
    follower = asyncio.create_task(sync_b.run(stop))
    try:
        await asyncio.to_thread(publish_model, models, version)
        await sync_a.model_published(version)
        assert first.version == version  # the publisher at once
        for _ in range(100):  # the other within a second
            if second.version == version:
                break
            await asyncio.sleep(0.02)
        assert second.version == version
        assert second.parse("路灯坏了")["model_version"] == version
        # A process started later loads the published artifact.
        assert NLUService(models, train_if_missing=False).version == version
    finally:
        stop.set()
        await follower
        await other_store.close()


class FAQStoreless:
    """The FAQ side of the sync is not under test here."""

    @staticmethod
    async def topics() -> list[FAQTopic]:
        return []


async def test_seeding_skips_when_another_process_seeded(engine: AsyncEngine) -> None:
    store = TrainingExampleStore(engine)
    data = load_training_data()
    results = await asyncio.gather(store.seed_release(data), store.seed_release(data))
    assert sorted(results)[0] == 0
    async with engine.connect() as conn:
        rows = (await conn.execute(select(TrainingExampleRow.id))).all()
    assert len(rows) == len(_packaged_pairs())
