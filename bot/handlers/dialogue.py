"""The conversation router: every resident message goes through the NLU and the dialogue
policy; the decisions are carried out here (tickets, status, handoff, ratings)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from bot.dialogue.ports import (
    ChatLine,
    ChatMemory,
    HandoffDesk,
    ProblemClusters,
    ReviewSink,
    TicketDesk,
)
from bot.dialogue.stored_state import dump_state, load_state
from bot.dispatcher import Router
from bot.filters import EventFilter
from bot.fsm import FSMContext
from bot.wechat.messages import (
    ClickEvent,
    ImageMessage,
    IncomingMessage,
    LocationMessage,
)
from core.errors import DatabaseUnavailable
from integrations.training.review import ReviewCandidate
from nlu.address import read_location_answer
from nlu.parser import NLUService
from policies import messages as msg
from policies.dialogue import (
    AnswerFollowUp,
    AnswerSolved,
    Context,
    CreateTicket,
    Decision,
    FAQEntry,
    FollowTicket,
    LocationReading,
    QueryStatus,
    RateTicket,
    StartHandoff,
    Turn,
    decide,
    looks_like_after_closure,
)
from policies.state import DialogueState
from policies.taxonomy import Taxonomy
from policies.tickets import rating_refusal
from privacy import Sealer

__all__ = [
    "Conversation",
    "build_dialogue_router",
    "build_handoff_router",
    "faq_entries",
    "read_location",
]

log = logging.getLogger(__name__)

#: Understood messages below this confidence still go to the admins' review queue.
REVIEW_CONFIDENCE = 0.6
HANDOFF_INTENT = "human_handoff"


def faq_entries(nlu: NLUService) -> Mapping[str, FAQEntry]:
    """The curated answers the NLU's FAQ index holds right now (admins edit them live).

    Built once per FAQ index (an edit swaps in a new index), not on every message."""
    global _faq_cache
    retriever = nlu.faq
    cached = _faq_cache
    if cached is None or cached[0] is not retriever:
        entries = {topic.id: FAQEntry(topic.title, topic.answer) for topic in retriever.topics}
        _faq_cache = cached = (retriever, MappingProxyType(entries))
    return cached[1]


#: the FAQ index the entries were last built from, and the entries (read-only)
_faq_cache: tuple[object, Mapping[str, FAQEntry]] | None = None


def read_location(text: str) -> LocationReading:
    """The NLU's reading of words as a place, in the policy's terms."""
    answer = read_location_answer(text)
    return LocationReading(answer.verdict, answer.value)


def build_handoff_router(handoffs: HandoffDesk) -> Router:
    """First in line: while a person handles the chat, the bot records and stays silent."""

    async def in_handoff(message: IncomingMessage) -> bool:
        return await handoffs.active(message.openid)

    router = Router(name="handoff", filters=[in_handoff])

    @router.message()
    async def record(message: IncomingMessage) -> None:
        await handoffs.record(message.openid, "resident", _transcript_text(message))
        return None

    return router


def _transcript_text(message: IncomingMessage) -> str:
    if isinstance(message, ImageMessage):
        return f"[图片] {message.pic_url}"
    if isinstance(message, LocationMessage):
        return f"[位置] {message.label}"
    if isinstance(message, ClickEvent):
        return f"[菜单] {message.event_key}"
    return message.text or f"[{message.kind}]"


class Conversation:
    """Runs one turn: state in, policy decision, actions performed, state out."""

    def __init__(
        self,
        *,
        tickets: TicketDesk,
        handoffs: HandoffDesk,
        faq: Callable[[], Mapping[str, FAQEntry]],
        taxonomy: Taxonomy,
        read_location: Callable[[str], LocationReading] = read_location,
        sealer: Sealer,
        chat: ChatMemory | None = None,
        review: ReviewSink | None = None,
        clusters: ProblemClusters | None = None,
    ) -> None:
        self.tickets = tickets
        #: open problems others reported (the notice before filing); None: no notice
        self.clusters = clusters
        #: seals the case's phone number in the stored dialogue state
        self.sealer = sealer
        self.handoffs = handoffs
        self.chat = chat
        self.review = review
        self.faq = faq
        self.labels = {i.id: i.zh for i in taxonomy.of_kind("report")}
        self.read_location = read_location

    async def context(self, openid: str, state: DialogueState, turn: Turn) -> Context:
        """What the policy needs besides the state. The remembered phone number is looked up
        here only when the case waits on it (:meth:`decide` looks it up otherwise, if the
        decision turns out to ask for the phone)."""
        # Look tickets up only when the turn can use them: most messages need neither.
        awaiting: tuple[str, ...] = ()
        unsolved: tuple[str, ...] = ()
        follow_ups: tuple[str, ...] = ()
        if turn.text and looks_like_after_closure(turn.text):
            try:
                mine = await self.tickets.for_resident(openid, open_only=True)
            except DatabaseUnavailable:
                mine = []
            resolved = [t for t in mine if rating_refusal(t.status) is None]
            # Those the resident said were solved wait for the satisfaction answer first.
            awaiting = tuple(t.id for t in resolved if t.solved) + tuple(
                t.id for t in resolved if t.solved is None
            )
            unsolved = tuple(t.id for t in resolved if t.solved is None)
            follow_ups = tuple(await self.tickets.awaiting_follow_up(openid))
        known_phone = None
        if state.mode == "reuse_phone":
            known_phone = await self.tickets.last_phone(openid)
        nearby = None
        if (
            self.clusters is not None
            and state.mode == "confirming"
            and state.case is not None
            and not state.case.missing()
        ):
            # Only when a confirmation may file the case: the notice comes before filing.
            nearby = await self.clusters.nearby(openid, state.case)
        return Context(
            faq=self.faq(),
            category_labels=self.labels,
            known_phone=known_phone,
            awaiting_rating=awaiting,
            awaiting_solved=unsolved,
            awaiting_follow_up=follow_ups,
            # For this turn only: the policy may read the same words more than once (do
            # they answer "where?", then as the answer, and both again when the turn is
            # decided a second time with the remembered phone); the NLU reads them once.
            read_location=functools.cache(self.read_location),
            nearby=nearby,
        )

    async def decide(
        self, openid: str, state: DialogueState, turn: Turn, ctx: Context
    ) -> Decision:
        """The policy's decision. The phone of the resident's last ticket (a database read)
        changes a decision only where it asks for the phone, so it is read only then, and
        the turn decided again with it: complaints cost one read, not one per turn."""
        decision = decide(state, turn, ctx)
        asks_phone = decision.state.mode == "collecting" and decision.state.asking == "phone"
        may_use_phone = (
            turn.intent.startswith("report.")
            or turn.intent == "emergency"
            or (state.case is not None and not state.case.phone)
        )
        if ctx.known_phone is None and asks_phone and may_use_phone:
            known_phone = await self.tickets.last_phone(openid)
            if known_phone:
                decision = decide(state, turn, replace(ctx, known_phone=known_phone))
        return decision

    async def turn(self, message: IncomingMessage, fsm: FSMContext, turn: Turn) -> str | None:
        openid = message.openid
        data = await fsm.get_data()
        state = load_state(data.get("dialogue"), openid, self.sealer)
        await self.tickets.record_inbound(openid)
        # The chat is read once and written once a turn: the resident's line and the reply.
        lines: list[ChatLine] = await self.chat.recent(openid) if self.chat else []
        earlier = list(lines)
        if self.chat:
            self.chat.add(lines, "resident", _transcript_text(message))
        try:
            ctx = await self.context(openid, state, turn)
            decision = await self.decide(openid, state, turn, ctx)
            # Actions first: one that cannot be carried out may replace the planned replies.
            results = [
                await self.perform(message, decision, action, lines)
                for action in decision.actions
            ]
            texts = [*decision.replies, *results, *decision.after]
            await fsm.update_data(dialogue=dump_state(decision.state, openid, self.sealer))
            reply = "\n\n".join(t for t in texts if t)
            if self.chat and reply:
                self.chat.add(lines, "bot", reply)
        finally:
            if self.chat:
                await self.chat.save(openid, lines)
        await self._to_review(openid, turn, decision, earlier)
        return reply or None

    async def _to_review(
        self, openid: str, turn: Turn, decision: Decision, earlier: list[dict[str, str]]
    ) -> None:
        """Messages the bot was unsure about, and what led to a handoff, go to the admins'
        review queue; a failure there never costs the resident the reply."""
        if self.review is None:
            return
        items: list[tuple[str, str, str | None, float | None]] = []
        # An answer to the bot's own question (a place, a phone number, "对") was understood
        # in its context, whatever the classifier made of the words alone.
        if (
            turn.kind == "text"
            and turn.text
            and turn.intent != HANDOFF_INTENT
            and not decision.answered
        ):
            if turn.fallback is not None:
                items.append((turn.text, "fallback", turn.intent, turn.confidence))
            elif turn.confidence < REVIEW_CONFIDENCE:
                items.append((turn.text, "low_confidence", turn.intent, turn.confidence))
        if any(isinstance(a, StartHandoff) for a in decision.actions) and not items:
            # Asked for a person outright: what the bot failed with is the message before.
            said = [line["text"] for line in earlier if line.get("role") == "resident"]
            text = said[-1] if turn.intent == HANDOFF_INTENT and said else turn.text
            if text and not text.startswith("["):
                items.append((text, "handoff", None, None))
        for text, reason, guess, confidence in items:
            try:
                await self.review.add(
                    ReviewCandidate(openid, text, reason, guess, confidence, at=datetime.now(UTC))
                )
            except Exception:
                # Deliberately broad: the review queue is a by-product of the turn; its fault
                # must not cost the resident the answer. Logged with its traceback.
                log.exception("could not queue a message for review")

    async def perform(
        self,
        message: IncomingMessage,
        decision: Decision,
        action: Any,
        chat: Sequence[ChatLine] = (),
    ) -> str:
        """Carry out one action; ``chat``: the resident's recent lines, this message last."""
        openid = message.openid
        if isinstance(action, CreateTicket):
            try:
                # One ticket per confirming message, even if it is processed twice.
                source_key = f"wechat:{openid}:{message.dedup_key}"
                view = await self.tickets.create_from_case(openid, action.case, chat, source_key)
            except Exception:
                # Deliberately broad: the resident is answered within WeChat's 5 s and the case
                # is kept to confirm again (an unreachable database is handled inside, by
                # deferring the filing). The fault is logged with its traceback.
                log.exception("creating a ticket failed")
                decision.state = DialogueState(mode="confirming", case=action.case)
                return msg.ticket_failed()
            if view is None:
                return msg.ticket_deferred()
            return msg.ticket_created(view.id, view.department, urgent=view.urgent)
        if isinstance(action, FollowTicket):
            if self.clusters is None:  # pragma: no cover - the policy offers it only with them
                raise TypeError("following needs the problem clusters")
            try:
                followed = await self.clusters.follow(openid, action.ticket_id, action.case)
            except Exception:
                log.exception("following a ticket failed")
                decision.state = DialogueState(
                    mode="offer_follow", case=action.case, follow_ticket=action.ticket_id
                )
                return msg.follow_failed()
            return msg.following(action.ticket_id, already=not followed)
        if isinstance(action, QueryStatus):
            try:
                tickets = await self.tickets.for_resident(
                    openid, open_only=action.ticket_id is None
                )
            except DatabaseUnavailable:
                return msg.STATUS_UNAVAILABLE
            if action.ticket_id:
                tickets = [t for t in tickets if t.id == action.ticket_id]
            rows = [
                {
                    "id": t.id,
                    "category_label": self.labels.get(t.category, t.category),
                    "status": t.status,
                }
                for t in tickets
            ]
            return msg.status_list(rows, asked_id=action.ticket_id)
        if isinstance(action, StartHandoff):
            try:
                if self.chat is not None:
                    await self.handoffs.start(openid, action.reason, list(chat))
                else:
                    await self.handoffs.start(openid, action.reason)
                    await self.handoffs.record(openid, "resident", _transcript_text(message))
            except DatabaseUnavailable:
                decision.replies.clear()
                return msg.HANDOFF_UNAVAILABLE
            return ""
        if isinstance(action, RateTicket):
            await self.tickets.rate(openid, action.ticket_id, action.rating, action.reason)
            return ""
        if isinstance(action, AnswerSolved):
            await self.tickets.answer_solved(openid, action.ticket_id, action.solved, action.words)
            return ""
        if isinstance(action, AnswerFollowUp):
            again = await self.tickets.answer_follow_up(
                openid, action.ticket_id, action.recurred, action.words
            )
            return f"新的工单号：{again.id}。" if again is not None else ""
        raise TypeError(f"unknown action {action!r}")


def build_dialogue_router(conversation: Conversation) -> Router:
    """Text and recognised voice, locations, photos, follows and menu clicks."""
    router = Router(name="dialogue")

    @router.text()
    async def on_text(
        message: IncomingMessage, state: FSMContext, parse: dict[str, Any] | None = None
    ) -> str | None:
        if parse is None:  # an empty text: nothing to understand
            return msg.NOT_UNDERSTOOD
        return await conversation.turn(message, state, Turn.from_parse(parse))

    @router.location()
    async def on_location(message: LocationMessage, state: FSMContext) -> str | None:
        turn = Turn(
            kind="location",
            location_label=message.label,
            latitude=message.latitude,
            longitude=message.longitude,
        )
        return await conversation.turn(message, state, turn)

    @router.image()
    async def on_image(message: ImageMessage, state: FSMContext) -> str | None:
        turn = Turn(kind="image", photo=message.pic_url or message.media_id)
        return await conversation.turn(message, state, turn)

    @router.event(EventFilter("subscribe"))
    async def on_subscribe(message: IncomingMessage, state: FSMContext) -> str | None:
        return await conversation.turn(message, state, Turn(kind="subscribe"))

    @router.event(EventFilter("click"))
    async def on_click(message: ClickEvent, state: FSMContext) -> str | None:
        return await conversation.turn(
            message, state, Turn(kind="click", event_key=message.event_key)
        )

    return router
