"""Retrain → evaluate → publish the NLU model from the console.

One training job runs at a time across all app processes: a lock key in the shared state
store. The job's progress (stage, percent, message) is kept under another key, so the page
of any process can show it. The heavy steps (training, evaluation, the confusion-matrix
plot) run in worker threads; the event loop keeps answering residents.

What the figures are measured on:

* the labelled TSV (``label<TAB>text``) named by the environment variable
  ``INTAKE_NLU_EVAL_SET``, if set: the new model (trained on all curated examples) and the
  running model are scored on it;
* otherwise a deterministic, stratified 20 % hold-out of the curated examples: an
  evaluation model is trained on the other 80 % and scored with the running model on the
  hold-out; the artifact that can be published is then trained on 100 %. (The running model
  may have seen the hold-out sentences in its own training, so its figures are optimistic.)

The artifact is saved with ``publish=False``; a :class:`ModelReleaseRow` keeps the metrics
(accuracy, macro-F1, per intent P/R/F1/support for both models), and the candidate's
confusion matrix is saved next to the artifact as ``confusion.png``. Publishing writes
``LATEST`` (:func:`nlu.model.publish_model`) and tells every process through
:class:`~integrations.training.sync.KnowledgeSync`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sklearn.model_selection import train_test_split
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from integrations.db.models import ModelReleaseRow, utcnow
from integrations.faq import FAQStore
from integrations.state import KeyValueStore
from integrations.training.examples import TrainingExampleStore
from nlu.evaluation import (
    EvaluationResult,
    evaluate_model,
    evaluate_predictions,
    plot_confusion,
    read_labelled_tsv,
)
from nlu.features import prepare
from nlu.model import IntentModel, publish_model, save_model, train_model
from nlu.parser import NLUService
from nlu.training_data import TrainingData

__all__ = [
    "CONFUSION_PNG",
    "JOB_KEY",
    "LOCK_KEY",
    "MIN_EXAMPLES",
    "ModelReleases",
    "Release",
    "TrainingJobs",
    "holdout_split",
    "trainable",
]

log = logging.getLogger(__name__)

JOB_KEY = "nlu:train-job"
LOCK_KEY = "nlu:train-job:lock"
#: The candidate's confusion matrix, next to the artifact.
CONFUSION_PNG = "confusion.png"
#: Share of the curated examples held out when there is no evaluation file.
HOLDOUT_SHARE = 0.2
HOLDOUT_SEED = 20240601
#: Intents with fewer examples are left out of training: they cannot be calibrated or
#: split, and would weaken the calibration of every other intent. (A FAQ topic left out is
#: still found by the FAQ retrieval, which does not need training.)
MIN_EXAMPLES = 5
#: Artifacts kept in the model directory (older unpublished ones are pruned).
KEEP_ARTIFACTS = 10



def trainable(
    data: TrainingData, minimum: int = MIN_EXAMPLES
) -> tuple[TrainingData, dict[str, int]]:
    """``data`` without the intents that have fewer than ``minimum`` examples, and those
    intents with their counts."""
    counts = Counter(ex.intent for ex in data.examples)
    skipped = {intent: n for intent, n in sorted(counts.items()) if n < minimum}
    keep = [i for i, ex in enumerate(data.examples) if ex.intent not in skipped]
    return data.filter(keep), skipped


def holdout_split(data: TrainingData, share: float = HOLDOUT_SHARE) -> tuple[list[int], list[int]]:
    """Deterministic stratified split of the example indices: ``(train, held out)``."""
    indices = list(range(len(data.examples)))
    labels = [ex.intent for ex in data.examples]
    train, test = train_test_split(
        indices, test_size=share, stratify=labels, random_state=HOLDOUT_SEED, shuffle=True
    )
    return sorted(int(i) for i in train), sorted(int(i) for i in test)


def _metrics(result: EvaluationResult, version: str) -> dict[str, Any]:
    return {
        "version": version,
        "n": len(result.y_true),
        "accuracy": round(result.accuracy, 4),
        "macro_f1": round(result.macro_f1, 4),
        "per_intent": [
            {
                "intent": m.intent,
                "precision": round(m.precision, 4),
                "recall": round(m.recall, 4),
                "f1": round(m.f1, 4),
                "support": m.support,
            }
            for m in result.per_intent
        ],
        "confused_pairs": [list(p) for p in result.confused_pairs[:15]],
    }


@dataclass(frozen=True, slots=True)
class Release:
    """A trained model with its evaluation (``metrics`` as stored, see the module doc)."""

    version: str
    trained_at: datetime
    trained_by: str
    examples: int
    metrics: dict[str, Any]
    published_at: datetime | None
    published_by: str | None

    @property
    def candidate(self) -> dict[str, Any]:
        return dict(self.metrics.get("candidate") or {})

    @property
    def current(self) -> dict[str, Any] | None:
        current = self.metrics.get("current")
        return dict(current) if current else None


def _release(row: ModelReleaseRow) -> Release:
    return Release(
        row.version,
        row.trained_at,
        row.trained_by,
        row.examples,
        dict(row.metrics or {}),
        row.published_at,
        row.published_by,
    )


class ModelReleases:
    """The ``model_releases`` table."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def recent(self, limit: int = 50) -> list[Release]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(ModelReleaseRow).order_by(ModelReleaseRow.trained_at.desc()).limit(limit)
            )
            return [_release(row) for row in rows.scalars()]

    async def get(self, version: str) -> Release | None:
        async with self._sessions() as session:
            row = await session.get(ModelReleaseRow, version)
            return _release(row) if row is not None else None

    async def record(
        self, version: str, *, trained_by: str, examples: int, metrics: dict[str, Any]
    ) -> Release:
        """Add a release, or refresh one retrained from the same data (same version); an
        earlier publication of that version is kept."""
        async with self._sessions() as session, session.begin():
            row = await session.get(ModelReleaseRow, version)
            if row is None:
                row = ModelReleaseRow(version=version, published_at=None, published_by=None)
                session.add(row)
            row.trained_at = self._clock()
            row.trained_by = trained_by[:64]
            row.examples = examples
            row.metrics = metrics
            await session.flush()
            return _release(row)

    async def mark_published(self, version: str, actor: str) -> bool:
        async with self._sessions() as session, session.begin():
            row = await session.get(ModelReleaseRow, version)
            if row is None:
                return False
            row.published_at = self._clock()
            row.published_by = actor[:64]
            return True


class TrainingJobs:
    """Start a training job (one at a time across processes), follow it, publish results."""

    def __init__(
        self,
        *,
        store: KeyValueStore,
        engine: AsyncEngine,
        nlu: NLUService,
        faq_store: FAQStore,
        examples: TrainingExampleStore | None = None,
        eval_set: Path | None = None,
        lock_ttl: float = 30 * 60.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self._nlu = nlu
        self._faq = faq_store
        self.examples = examples or TrainingExampleStore(engine, clock=clock)
        self.releases = ModelReleases(engine, clock=clock)
        #: a labelled TSV new models are scored on (``INTAKE_NLU_EVAL_SET``; ``None``: a
        #: hold-out of the curated examples)
        self.eval_set = eval_set
        self._lock_ttl = lock_ttl
        self._clock = clock
        #: the job running in this process (kept so it is not garbage-collected)
        self.task: asyncio.Task[None] | None = None

    @property
    def model_dir(self) -> Path:
        return self._nlu.model_dir

    def confusion_path(self, version: str) -> Path:
        return self.model_dir / version / CONFUSION_PNG

    def artifact_exists(self, version: str) -> bool:
        return (self.model_dir / version / "model.pkl").is_file()

    # -- job state ---------------------------------------------------------------------

    async def state(self) -> dict[str, Any] | None:
        """The last job's state; a running job whose lock is gone (its process died) is
        reported as failed."""
        raw = await self._store.get(JOB_KEY)
        if raw is None:
            return None
        state: dict[str, Any] = json.loads(raw)
        if state.get("status") == "running":
            owner = await self._store.get(LOCK_KEY)
            if owner is None or owner.decode() != state.get("id"):
                state.update(
                    status="failed",
                    stage="failed",
                    message="训练中断了（服务可能重启过），请重新开始",
                )
        return state

    async def _update(self, state: dict[str, Any], **changes: Any) -> None:
        state.update(changes)
        await self._store.set(
            JOB_KEY, json.dumps(state, ensure_ascii=False).encode(), ttl=7 * 24 * 3600.0
        )
        if state["status"] == "running":
            # Heartbeat: a long job keeps its lock, a dead one loses it within lock_ttl.
            owner = await self._store.get(LOCK_KEY)
            if owner is not None and owner.decode() == state["id"]:
                await self._store.set(LOCK_KEY, owner, ttl=self._lock_ttl)

    async def start(self, actor: str) -> str | None:
        """Start a job in this process; its id, or ``None`` when one is already running."""
        job_id = uuid.uuid4().hex
        if not await self._store.set(
            LOCK_KEY, job_id.encode(), ttl=self._lock_ttl, only_if_absent=True
        ):
            return None
        state: dict[str, Any] = {
            "id": job_id,
            "status": "running",
            "stage": "queued",
            "percent": 0,
            "message": "已开始，正在准备",
            "started_by": actor,
            "started_at": self._clock().isoformat(timespec="seconds"),
            "finished_at": None,
            "version": None,
        }
        try:
            await self._update(state)
        except BaseException:
            await self._store.delete(LOCK_KEY)
            raise
        self.task = asyncio.create_task(self._run(state, actor), name=f"nlu-train-{job_id}")
        return job_id

    async def _run(self, state: dict[str, Any], actor: str) -> None:
        try:
            version = await self._train(state, actor)
            await self._update(
                state,
                status="done",
                stage="done",
                percent=100,
                message=f"训练完成：新模型 {version}，请查看评估结果后决定是否发布",
                version=version,
                finished_at=self._clock().isoformat(timespec="seconds"),
            )
        except Exception as exc:
            log.exception("NLU training job failed")
            detail = str(exc) if isinstance(exc, ValueError) else type(exc).__name__
            await self._update(
                state,
                status="failed",
                stage="failed",
                message=f"训练没有成功：{detail}",
                finished_at=self._clock().isoformat(timespec="seconds"),
            )
        finally:
            owner = await self._store.get(LOCK_KEY)
            if owner is not None and owner.decode() == state["id"]:
                await self._store.delete(LOCK_KEY)

    async def _train(self, state: dict[str, Any], actor: str) -> str:
        started = time.perf_counter()
        await self._update(state, stage="prepare", percent=3, message="正在读取例句")
        data, skipped = trainable(await self.examples.training_data())
        if len(data.intents) < 2:
            raise ValueError("可以训练的意图不到两个，请先补充例句")
        topics = await self._faq.enabled_topics()
        current = self._nlu.model
        config = self._nlu.model_config
        parser_config = self._nlu.parser_config
        eval_file = str(self.eval_set) if self.eval_set else ""

        if eval_file:
            try:
                rows = await asyncio.to_thread(read_labelled_tsv, eval_file)
            except OSError as exc:
                raise ValueError(f"读不到评估集文件 {Path(eval_file).name}") from exc
            except ValueError as exc:
                raise ValueError(f"评估集格式不对（{exc}）") from exc
            if not rows:
                raise ValueError("评估集是空的")
            evaluation = {"kind": "file", "name": Path(eval_file).name, "size": len(rows)}
            await self._update(state, stage="train", percent=10, message="正在用全部例句训练新模型")
            final = await asyncio.to_thread(train_model, data, config)
            scored = final
        else:
            train_idx, test_idx = holdout_split(data)
            rows = [(data.examples[i].intent, data.examples[i].text) for i in test_idx]
            evaluation = {
                "kind": "holdout",
                "name": "20% 留出集",
                "size": len(rows),
                "share": HOLDOUT_SHARE,
            }
            await self._update(
                state, stage="train", percent=10, message="正在用 80% 的例句训练评估用的模型"
            )
            scored = await asyncio.to_thread(train_model, data.filter(train_idx), config)

        await self._update(state, stage="evaluate", percent=45, message="正在评估新模型和当前模型")
        candidate_result = await asyncio.to_thread(
            evaluate_model,
            "candidate",
            scored,
            rows,
            topics=topics,
            parser_config=parser_config,
        )
        current_result = await asyncio.to_thread(
            evaluate_model,
            "current",
            current,
            rows,
            topics=topics,
            parser_config=parser_config,
        )

        unseen = await asyncio.to_thread(
            _unseen_comparison, current, rows, candidate_result, current_result
        )

        if not eval_file:
            await self._update(
                state, stage="train_final", percent=60, message="正在用全部例句训练要发布的模型"
            )
            final = await asyncio.to_thread(train_model, data, config)

        await self._update(state, stage="save", percent=90, message="正在保存模型和混淆矩阵")
        folder = await asyncio.to_thread(
            save_model, final, self.model_dir, publish=False, keep=KEEP_ARTIFACTS
        )
        png = await asyncio.to_thread(plot_confusion, candidate_result, folder / CONFUSION_PNG)
        metrics: dict[str, Any] = {
            "evaluation": evaluation,
            "candidate": _metrics(candidate_result, scored.version),
            "current": _metrics(current_result, current.version),
            # The running model may have learnt some of the evaluation sentences: its
            # figures on those are memory, not understanding. The fair comparison is on
            # the sentences it never saw (e.g. the examples added since it was trained).
            "current_seen": len(rows) - (unseen["n"] if unseen else 0),
            "unseen": unseen,
            "skipped_intents": skipped,
            "confusion": CONFUSION_PNG if png is not None else None,
            "base_version": current.version,
            "seconds": round(time.perf_counter() - started, 1),
        }
        await self.releases.record(
            final.version, trained_by=actor, examples=len(data.examples), metrics=metrics
        )
        return final.version

    # -- publishing --------------------------------------------------------------------

    async def publish(self, version: str, actor: str) -> Release:
        """Write ``LATEST`` for a saved release and mark it published (the caller announces
        it to every process). Raises :class:`~nlu.model.ModelError` / ``LookupError``."""
        release = await self.releases.get(version)
        if release is None:
            raise LookupError(version)
        await asyncio.to_thread(publish_model, self.model_dir, version)
        await self.releases.mark_published(version, actor)
        published = await self.releases.get(version)
        assert published is not None
        return published


def _unseen_comparison(
    current: IntentModel,
    rows: Sequence[tuple[str, str]],
    candidate: EvaluationResult,
    running: EvaluationResult,
) -> dict[str, Any] | None:
    """Both models' accuracy and macro-F1 on the evaluation sentences the running model
    was not trained on (``None`` when it saw them all)."""
    seen = set(current.knn.texts)
    keep = [i for i, (_, text) in enumerate(rows) if prepare(text).compact not in seen]
    if not keep:
        return None

    def subset(result: EvaluationResult) -> dict[str, float]:
        sub = evaluate_predictions(
            result.name,
            [result.texts[i] for i in keep],
            [result.y_true[i] for i in keep],
            [result.y_pred[i] for i in keep],
        )
        return {"accuracy": round(sub.accuracy, 4), "macro_f1": round(sub.macro_f1, 4)}

    return {"n": len(keep), "candidate": subset(candidate), "current": subset(running)}
