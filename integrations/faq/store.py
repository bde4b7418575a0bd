"""FAQ topics in the database.

The curated answers ship as ``nlu/data/faq/knowledge_base.yml``; on first start they are
copied into the ``faq_topics`` table, which is the truth from then on (admins add, edit and
disable topics there), and the NLU's FAQ index is built from the enabled rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from integrations.db.models import FAQTopicRow, utcnow
from nlu.faq_retrieval import FAQTopic

__all__ = ["FAQConflict", "FAQRecord", "FAQStore"]



def _topic(row: FAQTopicRow) -> FAQTopic:
    return FAQTopic(
        id=row.id,
        title=row.title,
        answer=row.answer,
        category=row.category,
        questions=tuple(row.questions or ()),
        keywords=tuple(row.keywords or ()),
    )


@dataclass(frozen=True, slots=True)
class FAQRecord:
    """A topic as admins see it: enabled or not, and a token of its last change (compared on
    save so that one admin does not silently overwrite another's edit)."""

    topic: FAQTopic
    enabled: bool
    updated_at: datetime

    @property
    def revision(self) -> str:
        return self.updated_at.isoformat()


class FAQConflict(Exception):
    """The topic changed since the editor loaded it; ``current`` is what is stored now."""

    def __init__(self, current: FAQRecord) -> None:
        super().__init__(current.topic.id)
        self.current = current


def _record(row: FAQTopicRow) -> FAQRecord:
    return FAQRecord(_topic(row), bool(row.enabled), row.updated_at)


class FAQStore:
    """Read, seed and edit FAQ topics."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def seed_if_empty(self, topics: Iterable[FAQTopic]) -> int:
        """Copy ``topics`` in when the table is empty; returns how many were added.

        Several app processes start together (``--workers N``): when another one seeded the
        table at the same moment, its copy is kept and this one adds nothing.
        """
        rows = [self._row(topic) for topic in topics]
        try:
            async with self._sessions() as session, session.begin():
                count = (
                    await session.execute(select(func.count()).select_from(FAQTopicRow))
                ).scalar()
                if count:
                    return 0
                session.add_all(rows)
        except IntegrityError:
            return 0
        return len(rows)

    async def enabled_topics(self) -> list[FAQTopic]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(FAQTopicRow).where(FAQTopicRow.enabled.is_(True)).order_by(FAQTopicRow.id)
            )
            return [_topic(row) for row in rows.scalars()]

    async def all_records(self) -> list[FAQRecord]:
        """Every topic, enabled or not, by id."""
        async with self._sessions() as session:
            rows = await session.execute(select(FAQTopicRow).order_by(FAQTopicRow.id))
            return [_record(row) for row in rows.scalars()]

    async def get(self, topic_id: str) -> FAQRecord | None:
        async with self._sessions() as session:
            row = await session.get(FAQTopicRow, topic_id)
            return _record(row) if row is not None else None

    async def create(self, topic: FAQTopic, *, enabled: bool = True) -> bool:
        """Add a new topic; False (nothing written) when the id is taken."""
        try:
            async with self._sessions() as session, session.begin():
                if await session.get(FAQTopicRow, topic.id) is not None:
                    return False
                session.add(self._row(topic, enabled=enabled))
        except IntegrityError:  # created by another admin in between
            return False
        return True

    async def update(self, topic: FAQTopic, *, revision: str | None = None) -> bool:
        """Replace title, category, answer, questions and keywords of an existing topic.

        With ``revision`` the write happens only if the topic is still at that revision
        (else :class:`FAQConflict`); returns False when there is no such topic.
        """
        async with self._sessions() as session, session.begin():
            row = await session.get(FAQTopicRow, topic.id, with_for_update=True)
            if row is None:
                return False
            if revision is not None and _record(row).revision != revision:
                raise FAQConflict(_record(row))
            row.title = topic.title
            row.category = topic.category
            row.answer = topic.answer
            row.questions = list(topic.questions)
            row.keywords = list(topic.keywords)
            row.updated_at = self._clock()
            return True

    async def upsert(self, topic: FAQTopic, *, enabled: bool = True) -> None:
        async with self._sessions() as session, session.begin():
            await session.merge(self._row(topic, enabled=enabled))

    async def set_enabled(self, topic_id: str, enabled: bool) -> bool:
        async with self._sessions() as session, session.begin():
            row = await session.get(FAQTopicRow, topic_id)
            if row is None:
                return False
            row.enabled = enabled
            row.updated_at = self._clock()
            return True

    def _row(self, topic: FAQTopic, *, enabled: bool = True) -> FAQTopicRow:
        return FAQTopicRow(
            id=topic.id,
            title=topic.title,
            category=topic.category,
            answer=topic.answer,
            questions=list(topic.questions),
            keywords=list(topic.keywords),
            enabled=enabled,
            updated_at=self._clock(),
        )
