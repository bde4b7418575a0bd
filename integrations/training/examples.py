"""Curated NLU training examples in the database.

The packaged Rasa YAML (``nlu/data/nlu``) is copied into the ``training_examples`` table on
first start; from then on the table is the truth and admins add, delete, import and export
examples in the console. An upgrade that ships new packaged examples (new intents, new
styles) adds them once, on its first start: the versions already seeded are recorded
(``training_seed_releases``), and so are the packaged examples admins deleted
(``training_seed_removals``), which no release brings back.
:meth:`TrainingExampleStore.training_data` is what a retrain learns from: the table's
examples, the packaged synonyms/regexes/lookup tables (they are code-like resources, not
curated here) and the question variants of the enabled FAQ topics, so a variant an admin
adds to a topic is learnt on the next retrain.

Texts are stored in Rasa's annotated form (``[幸福小区](address)的路灯坏了``), normalised by
:func:`nlu.training_data.annotate` so the same example is stored one way only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from integrations.db.models import (
    FAQTopicRow,
    TrainingExampleRow,
    TrainingSeedReleaseRow,
    TrainingSeedRemovalRow,
    utcnow,
)
from nlu.training_data import (
    DEFAULT_DATA_DIR,
    Example,
    TrainingData,
    TrainingDataError,
    annotate,
    dump_rasa_yaml,
    load_training_data,
    parse_annotated,
)
from policies.taxonomy import load_taxonomy

__all__ = [
    "MAX_IMPORT_CHARS",
    "MAX_TEXT_CHARS",
    "SOURCES",
    "AddResult",
    "ExampleRecord",
    "ImportReport",
    "IntentInfo",
    "TrainingExampleStore",
    "seed_packaged_examples",
]

log = logging.getLogger(__name__)

#: Where an example came from.
SOURCES = ("seed", "admin", "review", "import")
#: Longest example (the column holds 500 characters, annotations included).
MAX_TEXT_CHARS = 500
#: Largest YAML document the import accepts (about 40 000 short examples).
MAX_IMPORT_CHARS = 2_000_000



@dataclass(frozen=True, slots=True)
class ExampleRecord:
    """One stored example."""

    id: int
    intent: str
    text: str
    source: str
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class IntentInfo:
    """An intent examples may be given to: a taxonomy intent or a FAQ topic."""

    id: str
    label: str
    kind: str  # control | report | faq
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class AddResult:
    """What became of one example: ``added``, ``duplicate`` or ``error`` (with ``message``)."""

    status: str
    message: str = ""
    record: ExampleRecord | None = None

    @property
    def ok(self) -> bool:
        return self.status == "added"


@dataclass(slots=True)
class ImportReport:
    """Summary of a YAML import: counts, and the problems with their line numbers."""

    added: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    duplicate_lines: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"added={self.added} duplicates={self.duplicates} errors={len(self.errors)}"


def _record(row: TrainingExampleRow) -> ExampleRecord:
    return ExampleRecord(row.id, row.intent, row.text, row.source, row.created_by, row.created_at)


def normalise_text(raw: str) -> tuple[str, str]:
    """``(annotated, plain)`` of an example as typed, or :class:`ValueError` (Chinese)."""
    raw = " ".join(raw.split())  # one line: a Rasa example block has one example per line
    if not raw:
        raise ValueError("例句不能为空")
    try:
        plain, entities = parse_annotated(raw)
    except TrainingDataError as exc:
        raise ValueError(f"实体标注格式不对：{exc}") from exc
    if not plain.strip():
        raise ValueError("例句不能为空")
    # Re-annotating gives the canonical form, so one example is stored one way only.
    annotated = annotate(Example(plain, "-", tuple(entities)))
    if len(annotated) > MAX_TEXT_CHARS:
        raise ValueError(f"例句太长了（最多 {MAX_TEXT_CHARS} 个字）")
    return annotated, plain


def _keys(stored: str) -> set[str]:
    """A stored example's annotated and plain forms (an example is the same sentence
    whether or not its entities are marked)."""
    try:
        plain, _entities = parse_annotated(stored)
    except TrainingDataError:
        return {stored}
    return {stored, plain.strip()}


class TrainingExampleStore:
    """Read, seed, edit, import and export the curated training examples."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        data_dir: str | Path = DEFAULT_DATA_DIR,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._data_dir = Path(data_dir)
        self._clock = clock

    # -- seeding -----------------------------------------------------------------------

    async def count(self) -> int:
        async with self._sessions() as session:
            return int(
                (
                    await session.execute(select(func.count()).select_from(TrainingExampleRow))
                ).scalar_one()
            )

    async def seed_release(self, data: TrainingData) -> int:
        """Copy in the examples of this packaged release that the table lacks (all of them on
        a first start), except those admins deleted; once per release. Returns how many
        were added."""
        fingerprint = data.fingerprint()
        now = self._clock()
        try:
            async with self._sessions() as session, session.begin():
                # The release row first: of processes starting together, one seeds and the
                # others fail on its primary key (and find it done next time).
                claimed = await session.get(TrainingSeedReleaseRow, fingerprint)
                if claimed is not None:
                    return 0
                release = TrainingSeedReleaseRow(fingerprint=fingerprint, added=0, seeded_at=now)
                session.add(release)
                await session.flush()
                present = {
                    (intent, text)
                    for intent, text in await session.execute(
                        select(TrainingExampleRow.intent, TrainingExampleRow.text)
                    )
                }
                present |= {
                    (intent, text)
                    for intent, text in await session.execute(
                        select(TrainingSeedRemovalRow.intent, TrainingSeedRemovalRow.text)
                    )
                }
                rows: list[dict[str, Any]] = []
                for example in data.examples:
                    text = annotate(example)
                    key = (example.intent, text)
                    if key in present or len(text) > MAX_TEXT_CHARS:
                        continue
                    present.add(key)
                    rows.append(
                        {
                            "intent": example.intent,
                            "text": text,
                            "source": "seed",
                            "created_by": None,
                            "created_at": now,
                        }
                    )
                if rows:
                    # One executemany: first start stays fast (thousands of rows).
                    await session.execute(insert(TrainingExampleRow), rows)
                release.added = len(rows)
        except IntegrityError:
            # Another process seeded this release at the same moment: its copy is ours.
            return 0
        return len(rows)

    # -- reading -----------------------------------------------------------------------

    async def intents(self) -> dict[str, IntentInfo]:
        """Every intent examples may be given to: the taxonomy's, then the FAQ topics not in
        it (admins add those at run time)."""
        taxonomy = load_taxonomy()
        out = {i.id: IntentInfo(i.id, i.zh, i.kind, True) for i in taxonomy.intents.values()}
        async with self._sessions() as session:
            rows = await session.execute(
                select(FAQTopicRow.id, FAQTopicRow.title, FAQTopicRow.enabled).order_by(
                    FAQTopicRow.id
                )
            )
            for topic_id, title, enabled in rows:
                out[topic_id] = IntentInfo(topic_id, title or topic_id, "faq", bool(enabled))
        return out

    async def counts(self) -> dict[str, int]:
        """Examples per intent (only intents that have some)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(TrainingExampleRow.intent, func.count()).group_by(TrainingExampleRow.intent)
            )
            return {intent: int(n) for intent, n in rows}

    async def examples_of(self, intent: str) -> list[ExampleRecord]:
        """The examples of one intent, oldest first."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(TrainingExampleRow)
                .where(TrainingExampleRow.intent == intent)
                .order_by(TrainingExampleRow.id)
            )
            return [_record(row) for row in rows.scalars()]

    async def get(self, example_id: int) -> ExampleRecord | None:
        async with self._sessions() as session:
            row = await session.get(TrainingExampleRow, example_id)
            return _record(row) if row is not None else None

    # -- editing -----------------------------------------------------------------------

    async def add(
        self, intent: str, text: str, *, actor: str | None, source: str = "admin"
    ) -> AddResult:
        """Validate and add one example; duplicates and problems are reported, not raised."""
        try:
            results = await self._add_many([(intent, text)], actor=actor, source=source)
        except IntegrityError:
            # Someone added the very same example a moment ago.
            return AddResult("duplicate", "这条例句已经有了")
        return results[0]

    async def _add_many(
        self, entries: Sequence[tuple[str, str]], *, actor: str | None, source: str
    ) -> list[AddResult]:
        """Add ``(intent, text)`` pairs in one transaction, each validated on its own."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}")
        known = await self.intents()
        now = self._clock()
        results: list[AddResult] = []
        async with self._sessions() as session, session.begin():
            # stored text -> its intents: the same sentence under two intents teaches the
            # classifier a contradiction, so that is refused like a duplicate is.
            taken: dict[str, set[str]] = {}
            rows = await session.execute(select(TrainingExampleRow.intent, TrainingExampleRow.text))
            for row_intent, row_text in rows.all():
                for key in _keys(row_text):
                    taken.setdefault(key, set()).add(row_intent)
            new_rows: list[TrainingExampleRow] = []
            for intent, text in entries:
                if intent not in known:
                    results.append(AddResult("error", f"没有这个意图：{intent}"))
                    continue
                try:
                    annotated, plain = normalise_text(text)
                except ValueError as exc:
                    results.append(AddResult("error", str(exc)))
                    continue
                owners = taken.get(annotated, set()) | taken.get(plain, set())
                if intent in owners:
                    results.append(AddResult("duplicate", "这条例句已经有了"))
                    continue
                if owners:
                    other = sorted(owners)[0]
                    label = known[other].label if other in known else other
                    results.append(AddResult("error", f"这句话已经是「{label}」（{other}）的例句"))
                    continue
                row = TrainingExampleRow(
                    intent=intent,
                    text=annotated,
                    source=source,
                    created_by=(actor or None) and actor[:64],
                    created_at=now,
                )
                new_rows.append(row)
                for key in (annotated, plain):
                    taken.setdefault(key, set()).add(intent)
                results.append(AddResult("added"))
            session.add_all(new_rows)
            await session.flush()
            # Ids are known after the flush; attach the records to their results.
            pending = iter(new_rows)
            results = [
                AddResult("added", record=_record(next(pending))) if r.ok else r for r in results
            ]
        return results

    async def delete(self, example_id: int, actor: str | None = None) -> ExampleRecord | None:
        """Remove one example; returns what was removed (``None`` if there was none). A
        packaged example stays removed: later releases do not bring it back."""
        async with self._sessions() as session, session.begin():
            row = await session.get(TrainingExampleRow, example_id)
            if row is None:
                return None
            record = _record(row)
            await session.execute(
                delete(TrainingExampleRow).where(TrainingExampleRow.id == example_id)
            )
            if row.source == "seed":
                key = (row.intent, row.text)
                if await session.get(TrainingSeedRemovalRow, key) is None:
                    session.add(
                        TrainingSeedRemovalRow(
                            intent=row.intent,
                            text=row.text,
                            removed_by=actor,
                            removed_at=self._clock(),
                        )
                    )
            return record

    # -- import / export ---------------------------------------------------------------

    async def import_yaml(self, text: str, actor: str | None) -> ImportReport:
        """Add the ``intent`` examples of a Rasa NLU YAML document (source ``import``).

        Synonyms, regexes and lookup tables are not curated here and are skipped (named in
        ``ignored``). Problems are reported with their line numbers; nothing raises.
        """
        report = ImportReport()
        if len(text) > MAX_IMPORT_CHARS:
            report.errors.append(f"文件太大了（最多 {MAX_IMPORT_CHARS // 1_000_000} MB 文字）")
            return report
        try:
            entries = _yaml_examples(text, report)
        except ValueError as exc:
            report.errors.append(str(exc))
            return report
        try:
            results = await self._add_many(
                [(intent, raw) for _line, intent, raw in entries], actor=actor, source="import"
            )
        except IntegrityError:
            report.errors.append("导入时有人同时在改例句，什么也没有导入，请再试一次")
            return report
        for (line, _intent, raw), result in zip(entries, results, strict=True):
            if result.status == "added":
                report.added += 1
            elif result.status == "duplicate":
                report.duplicates += 1
                if len(report.duplicate_lines) < 50:
                    report.duplicate_lines.append(f"第 {line} 行：{raw}")
            else:
                report.errors.append(f"第 {line} 行：{result.message}")
        return report

    async def records(self) -> list[ExampleRecord]:
        """All examples, by intent then age (the export and training order)."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(TrainingExampleRow).order_by(
                    TrainingExampleRow.intent, TrainingExampleRow.id
                )
            )
            return [_record(row) for row in rows.scalars()]

    async def curated_data(self) -> TrainingData:
        """The table's examples alone, as training data."""
        data = TrainingData()
        for record in await self.records():
            try:
                plain, entities = parse_annotated(record.text)
            except TrainingDataError:
                # Stored texts were validated on the way in; an odd row is skipped, not fatal.
                log.warning("skipping unparsable training example %d", record.id)
                continue
            if plain.strip():
                data.examples.append(Example(plain.strip(), record.intent, tuple(entities)))
        return data

    async def export_yaml(self) -> str:
        """The curated examples as a Rasa 3.x NLU YAML document."""
        return dump_rasa_yaml(await self.curated_data())

    async def training_data(self) -> TrainingData:
        """What a retrain learns from: the curated examples, the packaged synonyms, regexes
        and lookup tables, and the enabled FAQ topics' question variants."""
        data = await self.curated_data()
        packaged = load_training_data(self._data_dir)
        data.synonyms = packaged.synonyms
        data.regexes = packaged.regexes
        data.lookups = packaged.lookups
        taken = {ex.text: ex.intent for ex in data.examples}
        async with self._sessions() as session:
            rows = await session.execute(
                select(FAQTopicRow.id, FAQTopicRow.questions)
                .where(FAQTopicRow.enabled.is_(True))
                .order_by(FAQTopicRow.id)
            )
            topics: Sequence[tuple[str, Any]] = [(r[0], r[1]) for r in rows.all()]
        for topic_id, questions in topics:
            for question in questions or ():
                text = " ".join(str(question).split())
                # A variant already given to another intent stays with that one.
                if text and text not in taken:
                    taken[text] = topic_id
                    data.examples.append(Example(text, topic_id))
        return data


def _yaml_examples(text: str, report: ImportReport) -> list[tuple[int, str, str]]:
    """``(line, intent, raw example)`` of a Rasa NLU document, 1-based line numbers.

    Walks the composed YAML node tree (not the loaded values) because only nodes know where
    they stand in the file.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行：" if mark is not None else ""
        raise ValueError(f"{where}YAML 格式不对") from exc
    if root is None:
        raise ValueError("文件是空的")
    if not isinstance(root, yaml.MappingNode):
        raise ValueError("第 1 行：顶层应当是映射（version / nlu）")
    nlu = _value(root, "nlu")
    if nlu is None:
        raise ValueError("文件里没有 nlu: 部分")
    if not isinstance(nlu, yaml.SequenceNode):
        raise ValueError(f"第 {nlu.start_mark.line + 1} 行：nlu 应当是列表")
    out: list[tuple[int, str, str]] = []
    for item in nlu.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            report.errors.append(f"第 {line} 行：nlu 的每一项应当是映射")
            continue
        intent_node = _value(item, "intent")
        if intent_node is None:
            kinds = [k.value for k, _ in item.value if isinstance(k, yaml.ScalarNode)]
            kind = next((k for k in kinds if k in ("synonym", "regex", "lookup")), None)
            if kind is not None:
                report.ignored.append(f"第 {line} 行：{kind}（同义词、正则和词表不在这里维护）")
            else:
                report.errors.append(f"第 {line} 行：缺少 intent")
            continue
        intent = str(intent_node.value).strip() if isinstance(intent_node, yaml.ScalarNode) else ""
        if not intent:
            report.errors.append(f"第 {line} 行：intent 不能为空")
            continue
        examples = _value(item, "examples")
        if examples is None:
            report.errors.append(f"第 {line} 行：意图「{intent}」没有 examples")
            continue
        out.extend((n, intent, raw) for n, raw in _node_examples(examples, report))
    return out


def _value(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found: yaml.Node = value_node
            return found
    return None


def _node_examples(node: yaml.Node, report: ImportReport) -> Iterable[tuple[int, str]]:
    if isinstance(node, yaml.ScalarNode):
        # A "|" block starts on the line after its indicator; other styles on their own.
        first = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
        for offset, line in enumerate(str(node.value).splitlines()):
            stripped = line.strip()
            if not stripped:
                continue
            if not stripped.startswith("-"):
                report.errors.append(f"第 {first + offset} 行：例句应当以“- ”开头")
                continue
            raw = stripped[1:].strip()
            if raw:
                yield first + offset, raw
        return
    if isinstance(node, yaml.SequenceNode):
        for entry in node.value:
            line = entry.start_mark.line + 1
            if isinstance(entry, yaml.ScalarNode):
                yield line, str(entry.value).strip()
            elif isinstance(entry, yaml.MappingNode):
                text = _value(entry, "text")
                if isinstance(text, yaml.ScalarNode):
                    yield line, str(text.value).strip()
                else:
                    report.errors.append(f"第 {line} 行：例句缺少 text")
            else:
                report.errors.append(f"第 {line} 行：看不懂的例句写法")
        return
    report.errors.append(f"第 {node.start_mark.line + 1} 行：examples 应当是文字块或列表")


async def seed_packaged_examples(engine: AsyncEngine) -> int:
    """Bring the packaged Rasa YAML's examples into the table: all of them on first start,
    the new ones of a new release on its first start (see the module docstring)."""
    store = TrainingExampleStore(engine)
    seeded = await store.seed_release(load_training_data(DEFAULT_DATA_DIR))
    if seeded:
        log.info("seeded %d NLU training examples from the packaged data", seeded)
    return seeded
