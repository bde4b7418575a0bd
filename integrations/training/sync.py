"""Every app process follows the published NLU model and the FAQ topics without restart.

Publishing writes the model version (and, for FAQ edits, a new FAQ revision) under two keys
of the shared state store; each process checks those keys every ``interval`` seconds and
swaps in what changed: the model from the shared model directory, the topics from the
database. On the embedded default (memory store, one process) the publisher refreshes
itself at once. A lost key (Redis restarted) changes nothing: processes keep what they run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

from core import heap
from core.errors import StateBackendError
from integrations.state import KeyValueStore
from nlu.faq_retrieval import FAQTopic
from nlu.model import ModelError
from nlu.parser import NLUService

__all__ = ["FAQ_KEY", "MODEL_KEY", "KnowledgeSync"]

log = logging.getLogger(__name__)

MODEL_KEY = "nlu:published-model"
FAQ_KEY = "nlu:faq-revision"


class KnowledgeSync:
    """Announce and follow model publications and FAQ edits across processes."""

    def __init__(
        self,
        store: KeyValueStore,
        nlu: NLUService,
        load_faq: Callable[[], Awaitable[list[FAQTopic]]],
        *,
        interval: float = 1.0,
    ) -> None:
        self._store = store
        self._nlu = nlu
        self._load_faq = load_faq
        self.interval = interval
        self._faq_seen: bytes | None = None
        self._failed_version: str | None = None
        self._lock = asyncio.Lock()

    async def model_published(self, version: str) -> None:
        """Tell every process to use ``version`` (already saved in the model directory)."""
        await self._store.set(MODEL_KEY, version.encode())
        await self.refresh()

    async def faq_changed(self) -> None:
        """Tell every process to reload the FAQ topics from the database."""
        await self._store.set(FAQ_KEY, uuid.uuid4().hex.encode())
        await self.refresh()

    async def refresh(self) -> None:
        """Apply whatever was published since the last check."""
        async with self._lock:
            model = await self._store.get(MODEL_KEY)
            version = model.decode() if model is not None else None
            if version and version not in (self._nlu.version, self._failed_version):
                try:
                    await asyncio.to_thread(self._nlu.reload, version)
                    log.info("now using published NLU model %s", version)
                    heap.settle()  # the new model lives long, the old one goes (core/heap.py)
                except ModelError as exc:
                    # Logged once per version, not every second.
                    self._failed_version = version
                    log.error("cannot load published model %s: %s", version, exc)
            faq = await self._store.get(FAQ_KEY)
            if faq is not None and faq != self._faq_seen:
                self._nlu.set_faq_topics(await self._load_faq())
                self._faq_seen = faq
                log.info("reloaded FAQ topics")

    async def run(self, stop: asyncio.Event) -> None:
        """Check every ``interval`` seconds until ``stop`` is set; errors are logged, never
        fatal (a Redis restart only delays the next pick-up)."""
        while not stop.is_set():
            try:
                await self.refresh()
            except (StateBackendError, OSError) as exc:
                log.warning("knowledge sync check failed: %s", exc)
            except Exception:
                log.exception("knowledge sync check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
