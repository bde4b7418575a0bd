"""Wiring: everything one app process needs, built from settings.

The runtime owns the shared state store (memory or Redis), the database engine, the WeChat
API client and the dispatcher with its middlewares and routers. Tests build one with fakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channel import Pusher, WeChatChannel
from bot.config import Settings, sealer
from bot.delivery import DeliveryLedger
from bot.dialogue.clusters import ServiceProblemClusters
from bot.dialogue.desks import BufferedReview, ServiceHandoffDesk, ServiceTicketDesk
from bot.dialogue.ports import HandoffDesk, TicketDesk
from bot.dispatcher import Dispatcher, Router
from bot.fsm import FSMStorage
from bot.handlers import build_basic_router, build_subscription_router
from bot.handlers.dialogue import (
    Conversation,
    build_dialogue_router,
    build_handoff_router,
    faq_entries,
)
from bot.middlewares import (
    DedupMiddleware,
    DeferredWritesMiddleware,
    ErrorGuardMiddleware,
    FSMContextMiddleware,
    LoggingMiddleware,
    ResidentLockMiddleware,
)
from bot.middlewares.nlu import NLUMiddleware, Parser
from bot.periodic import run_every
from bot.push import CustomerServicePusher
from bot.wechat.security import AESEnvelope
from integrations.analytics.service import Analytics, AnalyticsConfig
from integrations.conversations import ChatLog
from integrations.db import create_engine, database_reachable
from integrations.db.migrate import upgrade_database
from integrations.db.writer_lock import background_writes
from integrations.dispatch import DispatchBackend
from integrations.dispatch.worker import OutboxWorker, create_backend
from integrations.faq import FAQStore
from integrations.handoffs import HandoffService, StaffReplies
from integrations.notify.customer_service import QuotaPusher
from integrations.notify.sender import PushSender
from integrations.state import KeyValueStore, create_store
from integrations.tickets import TicketConfig, TicketService
from integrations.tickets.deferred import DRAIN_ROUND_LIMIT, DeferredFilings
from integrations.tickets.model import Ticket
from integrations.training.examples import seed_packaged_examples
from integrations.training.review import ReviewQueue
from integrations.training.sync import KnowledgeSync
from integrations.wechat import DEFAULT_BASE_URL, WeChatClient
from nlu.faq_retrieval import DEFAULT_KB_PATH, load_knowledge_base
from nlu.features import set_cache_dir as set_jieba_cache_dir
from nlu.parser import NLUService
from policies import messages as msg
from policies.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from integrations.wechat.fake_server import FakeWeChatAPI

__all__ = ["Runtime", "analytics_config", "build_dispatcher"]

log = logging.getLogger(__name__)


def _development_fake(settings: Settings) -> FakeWeChatAPI | None:
    """On the embedded default with generated (not real) WeChat credentials, WeChat's API is
    out of reach and would refuse them anyway: customer-service pushes go to an in-process
    fake instead, where ``intake chat`` and the simulator show them."""
    if settings.production or "WECHAT_APP_ID" not in settings.generated_secrets:
        return None
    if settings.wechat.api_base_url.rstrip("/") != DEFAULT_BASE_URL:
        return None
    from integrations.wechat.fake_server import FakeWeChatAPI

    assert settings.wechat.app_id and settings.wechat.app_secret
    return FakeWeChatAPI(app_id=settings.wechat.app_id, app_secret=settings.wechat.app_secret)


def analytics_config(settings: Settings) -> AnalyticsConfig:
    """The analytics' settings (the alert webhook, how often to look for alerts)."""
    return AnalyticsConfig(
        webhook_url=settings.analytics.webhook_url,
        webhook_secret=settings.analytics.webhook_secret,
        check_interval=settings.analytics.check_seconds,
    )


def _turn_keys(*, handoff: bool) -> Callable[[str], tuple[str, ...]]:
    """The store keys every turn of a resident reads: dialogue state and chat, and (with
    ``handoff``) whether a person handles the chat."""

    def keys(openid: str) -> tuple[str, ...]:
        read = (FSMStorage.key(openid), ChatLog.key(openid))
        return (*read, *HandoffService.cache_keys(openid)) if handoff else read

    return keys


def build_dispatcher(
    *,
    store: KeyValueStore,
    ledger: DeliveryLedger,
    fsm_storage: FSMStorage,
    routers: Sequence[Router],
    parser: Parser | None = None,
    prefetch: Callable[[str], Sequence[str]] | None = None,
    **workflow_data: Any,
) -> Dispatcher:
    """The dispatcher with the standard outer middlewares and ``routers`` in priority order;
    ``prefetch`` names the store keys a resident's turn reads (read together, see
    :class:`ResidentLockMiddleware`)."""
    dispatcher = Dispatcher(**workflow_data)
    dispatcher.outer_middleware(LoggingMiddleware())
    dispatcher.outer_middleware(DeferredWritesMiddleware(store))
    # the dedup claim goes in the lock's first round trip: the lock runs right after it
    dispatcher.outer_middleware(DedupMiddleware(ledger, claim_in_lock=True))
    dispatcher.outer_middleware(ResidentLockMiddleware(store, prefetch=prefetch))
    dispatcher.outer_middleware(FSMContextMiddleware(fsm_storage))
    dispatcher.outer_middleware(ErrorGuardMiddleware())
    if parser is not None:
        dispatcher.outer_middleware(NLUMiddleware(parser))
    dispatcher.include_routers(*routers)
    return dispatcher


class Runtime:
    """The process's long-lived objects; :meth:`start` and :meth:`close` bracket its life."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: KeyValueStore,
        engine: AsyncEngine,
        wechat: WeChatClient,
        pusher: Pusher | None = None,
        nlu: NLUService | None = None,
        ticket_service: TicketService | None = None,
        handoff_service: HandoffService | None = None,
        backend: DispatchBackend | None = None,
        routers: Sequence[Router] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert settings.wechat.token and settings.wechat.app_id
        self.settings = settings
        self.store = store
        self.engine = engine
        self.wechat = wechat
        self.nlu = nlu
        self.ticket_service = ticket_service
        self.handoff_service = handoff_service
        self.backend = backend
        #: seals the phone numbers conversations keep in the state store
        self.sealer = sealer(settings)
        #: complaints confirmed while the database was out of reach, filed when it is back
        self.deferred = DeferredFilings(store)
        self.tickets: TicketDesk | None = (
            ServiceTicketDesk(ticket_service, self.deferred, sealer=self.sealer)
            if ticket_service
            else None
        )
        self.handoffs: HandoffDesk | None = (
            ServiceHandoffDesk(handoff_service) if handoff_service else None
        )
        #: problem clusters, hot spots, alerts (issue 15); this process keeps the clusters
        #: when it runs the outbox worker too (the embedded default)
        self.analytics: Analytics | None = (
            Analytics(
                ticket_service,
                analytics_config(settings),
                may_write=settings.server.inprocess_worker,
            )
            if ticket_service
            else None
        )
        self._analytics_task: asyncio.Task[None] | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._worker_stop = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self._deferred_task: asyncio.Task[None] | None = None
        self._inbound_task: asyncio.Task[None] | None = None
        self._review_task: asyncio.Task[None] | None = None
        self.chat_log = ChatLog(store)
        #: messages the bot was unsure about, for admins to label
        self.review_queue = ReviewQueue(engine)
        self.review_buffer = BufferedReview(self.review_queue)
        self.faq_store = FAQStore(engine)
        #: announces and follows model publications and FAQ edits (``None`` without NLU)
        self.knowledge: KnowledgeSync | None = (
            KnowledgeSync(store, nlu, self.faq_store.enabled_topics) if nlu else None
        )
        if pusher is None and isinstance(self.tickets, ServiceTicketDesk):
            # The resident's buffered message time is written first: their window must be
            # on record.
            windows = self.tickets.service.windows
            pusher = QuotaPusher(windows, wechat, before=self.tickets.flush_inbound)
        #: every customer-service text to a resident goes through it: late replies, staff
        #: replies, ticket numbers filed later (counted against the resident's quota)
        self.pusher: Pusher = pusher or CustomerServicePusher(wechat)
        #: staff answering residents in the handoff queue (console and API alike)
        self.staff_replies: StaffReplies | None = (
            StaffReplies(handoff_service, self.pusher) if handoff_service else None
        )
        self.ledger = DeliveryLedger(store)
        self.fsm_storage = FSMStorage(store, ttl=settings.dialogue_ttl)
        self.dispatcher = build_dispatcher(
            store=store,
            ledger=self.ledger,
            fsm_storage=self.fsm_storage,
            routers=routers if routers is not None else self._default_routers(),
            parser=nlu,
            prefetch=_turn_keys(handoff=handoff_service is not None),
            settings=settings,
            wechat=wechat,
            pusher=self.pusher,
        )
        envelope = None
        if settings.wechat.encoding_aes_key:
            envelope = AESEnvelope(
                settings.wechat.token, settings.wechat.encoding_aes_key, settings.wechat.app_id
            )
        self.channel = WeChatChannel(
            token=settings.wechat.token,
            app_id=settings.wechat.app_id,
            dispatcher=self.dispatcher,
            ledger=self.ledger,
            pusher=self.pusher,
            envelope=envelope,
            allow_plain=settings.plain_mode_accepted,
            reply_deadline=settings.wechat.reply_deadline,
            timestamp_window=settings.wechat.timestamp_window,
            clock=clock,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        routers: Sequence[Router] | None = None,
        nlu: NLUService | None = None,
    ) -> Runtime:
        """Everything from settings; ``nlu`` lets several runtimes share one loaded model."""
        set_jieba_cache_dir(settings.nlu.jieba_cache_dir)
        store = create_store(settings.redis_url)
        assert settings.wechat.app_id and settings.wechat.app_secret
        dev_wechat = _development_fake(settings)
        wechat = WeChatClient(
            app_id=settings.wechat.app_id,
            app_secret=settings.wechat.app_secret,
            base_url=settings.wechat.api_base_url,
            store=store,
            transport=dev_wechat.asgi_transport() if dev_wechat else None,
        )
        engine = create_engine(settings.effective_database_url)
        ticket_service = TicketService(engine, config=TicketConfig.from_settings(settings))
        runtime = cls(
            settings=settings,
            store=store,
            engine=engine,
            wechat=wechat,
            nlu=nlu or NLUService(settings.model_dir),
            ticket_service=ticket_service,
            handoff_service=HandoffService(engine, store),
            backend=create_backend(settings, service=ticket_service),
            routers=routers,
            clock=clock,
        )
        runtime.dev_wechat = dev_wechat
        return runtime

    #: the fake WeChat API the pushes go to, whose record ``intake chat`` and the simulator
    #: show: the in-process one on a development machine without WeChat credentials (or a
    #: test's); ``None`` when pushes reach WeChat's real API
    dev_wechat: FakeWeChatAPI | None = None

    def _default_routers(self) -> list[Router]:
        """Priority in one line: subscription consents → handoff → the conversation → the
        basic fallbacks."""
        consents = (
            [build_subscription_router(self.ticket_service.consents)]
            if self.ticket_service is not None
            else []
        )
        if self.nlu is None or self.tickets is None or self.handoffs is None:
            return [*consents, build_basic_router()]
        nlu = self.nlu
        conversation = Conversation(
            tickets=self.tickets,
            handoffs=self.handoffs,
            faq=lambda: faq_entries(nlu),
            taxonomy=load_taxonomy(),
            chat=self.chat_log,
            review=self.review_buffer,
            sealer=self.sealer,
            clusters=(
                ServiceProblemClusters(self.analytics)
                if self.analytics is not None and self.settings.analytics.cluster_notice
                else None
            ),
        )
        return [
            *consents,
            build_handoff_router(self.handoffs),
            build_dialogue_router(conversation),
            build_basic_router(),
        ]

    async def start(self) -> None:
        """Migrate the database, load (or on first run train) the NLU model, and start the
        in-process outbox worker, all before the first message is accepted."""
        self._worker_stop.clear()
        await asyncio.to_thread(upgrade_database, self.settings.effective_database_url)
        await seed_packaged_examples(self.engine)
        if self.nlu is not None:
            await self._load_faq(self.nlu)
            await asyncio.to_thread(self.nlu.warm_up)
        if self.knowledge is not None:
            await self.knowledge.refresh()
        # The long-lived loops write in the background: on SQLite, a resident's turn waiting
        # to write goes before them (integrations/db/writer_lock.py).
        with background_writes():
            self._start_loops()

    def _start_loops(self) -> None:
        if self.knowledge is not None:
            self._sync_task = asyncio.create_task(self.knowledge.run(self._worker_stop))
        if isinstance(self.tickets, ServiceTicketDesk):
            self._deferred_task = asyncio.create_task(self._file_deferred(self.tickets))
            self._inbound_task = asyncio.create_task(
                self.tickets.run_inbound_flusher(self._worker_stop)
            )
        self._review_task = asyncio.create_task(self.review_buffer.run(self._worker_stop))
        if self.analytics is not None:
            self._analytics_task = asyncio.create_task(self.analytics.run(self._worker_stop))
        if self.settings.server.inprocess_worker and self.ticket_service and self.backend:
            worker = OutboxWorker(
                self.ticket_service,
                self.backend,
                pusher=PushSender(self.ticket_service.core, self.wechat),
            )
            self._worker_task = asyncio.create_task(worker.run_forever(self._worker_stop))

    async def _load_faq(self, nlu: NLUService) -> None:
        """The database holds the curated answers (seeded once from the packaged YAML)."""
        seeded = await self.faq_store.seed_if_empty(load_knowledge_base(DEFAULT_KB_PATH))
        if seeded:
            log.info("seeded %d FAQ topics from the knowledge base", seeded)
        nlu.set_faq_topics(await self.faq_store.enabled_topics())

    async def health(self) -> dict[str, bool]:
        return {
            "state": await self.store.ping(),
            "database": await database_reachable(self.engine),
        }

    async def _file_deferred(self, desk: ServiceTicketDesk, interval: float = 2.0) -> None:
        """File complaints kept while the database was down, and tell each resident the
        number; every process runs this, one at a time does the work (a lock)."""

        async def announce(filing: dict[str, Any], ticket: Ticket) -> None:
            text = msg.ticket_filed_later(ticket.id, ticket.department, urgent=ticket.urgent)
            await self.pusher.push_text(str(filing["openid"]), text)

        async def drain() -> None:
            await self.deferred.drain(desk.file_deferred, announce)

        await run_every(
            interval,
            self._worker_stop,
            drain,
            "filing deferred complaints",
            limit=DRAIN_ROUND_LIMIT,
        )

    async def close(self) -> None:
        self._worker_stop.set()
        tasks = {
            t
            for t in (
                self._worker_task,
                self._sync_task,
                self._deferred_task,
                self._inbound_task,
                self._review_task,
                self._analytics_task,
            )
            if t is not None
        }
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        closer = getattr(self.backend, "aclose", None)
        if closer is not None:
            await closer()
        await self.channel.drain(timeout=5)
        if isinstance(self.tickets, ServiceTicketDesk):
            try:
                await self.tickets.flush_inbound()
            except Exception:
                # Deliberately broad: shutting down, the other resources must still close;
                # the fault is logged with its traceback.
                log.exception("writing the last inbound times failed")
        await self.wechat.aclose()
        await self.store.close()
        await self.engine.dispose()
