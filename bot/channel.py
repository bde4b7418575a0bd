"""The WeChat callback, independent of the web framework: verify, parse, dispatch, answer.

A POST is authenticated (signature and timestamp window, or ``msg_signature`` and AES in safe
mode), parsed safely, handed to the dispatcher, and answered passively when the reply is
ready within the deadline. Otherwise the answer is ``success`` and the reply is pushed
through the customer-service API when it is ready (the slow path, a first-class branch).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bot.delivery import PASSIVE, PUSH, DeliveryContext, DeliveryLedger
from bot.dispatcher import Dispatcher
from bot.replies import Reply
from bot.wechat.limits import check_message
from bot.wechat.messages import IncomingMessage, message_from_fields
from bot.wechat.security import (
    AESEnvelope,
    InvalidSignature,
    StaleTimestamp,
    check_timestamp,
    verify_signature,
)
from bot.wechat.xml import MalformedXML, parse_xml, render_text_reply
from core.errors import StateBackendError
from integrations.notify.customer_service import CustomerServiceRefused
from policies.messages import MESSAGE_TOO_LONG, STATE_UNAVAILABLE
from privacy import mask_openid

__all__ = ["ChannelResponse", "Pusher", "WeChatChannel"]

log = logging.getLogger(__name__)

SUCCESS = "success"


class Pusher(Protocol):
    """Sends a text to a resident outside the passive reply (customer-service message).

    ``resident_wrote_at``: the resident's message the text answers (it opens their window).
    Raises :class:`~core.errors.IntakeError` when the text does not go out (e.g.
    :class:`~integrations.notify.customer_service.CustomerServiceRefused`).
    """

    async def push_text(
        self, openid: str, text: str, *, resident_wrote_at: datetime | None = None
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ChannelResponse:
    """Status code and body of the HTTP answer to WeChat."""

    status: int
    body: str
    media_type: str = "text/plain"

    @classmethod
    def error(cls, status: int, reason: str) -> ChannelResponse:
        return cls(status, reason)


class WeChatChannel:
    """One Official Account's callback endpoint."""

    def __init__(
        self,
        *,
        token: str,
        app_id: str,
        dispatcher: Dispatcher,
        ledger: DeliveryLedger,
        pusher: Pusher,
        envelope: AESEnvelope | None = None,
        allow_plain: bool = True,
        reply_deadline: float = 4.0,
        timestamp_window: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``allow_plain=False`` (production in safe mode) refuses messages that are not
        AES-encrypted: plain mode's signature does not cover the body."""
        self.token = token
        self.app_id = app_id
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.pusher = pusher
        self.envelope = envelope
        self.allow_plain = allow_plain
        self.reply_deadline = reply_deadline
        self.timestamp_window = timestamp_window
        self.clock = clock
        self._background: set[asyncio.Task[None]] = set()

    # -- authentication -------------------------------------------------------------------

    def _check_plain(self, params: Mapping[str, str]) -> None:
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        verify_signature((self.token, timestamp, nonce), params.get("signature"))
        check_timestamp(timestamp, now=self.clock(), window=self.timestamp_window)

    def verify_url(self, params: Mapping[str, str]) -> ChannelResponse:
        """GET: WeChat checks the server with ``echostr`` (plain, or encrypted in safe mode)."""
        echostr = params.get("echostr")
        if echostr is None:
            return ChannelResponse.error(400, "missing echostr")
        try:
            if "msg_signature" in params and self.envelope is not None:
                echostr = self._decrypt(self.envelope, params, echostr)
            else:
                self._check_plain(params)
        except (InvalidSignature, StaleTimestamp) as exc:
            return ChannelResponse.error(403, str(exc))
        return ChannelResponse(200, echostr)

    def _open(self, params: Mapping[str, str], body: bytes) -> tuple[dict[str, object], bool]:
        """Authenticate and parse the body; returns the fields and whether it was encrypted."""
        fields = parse_xml(body)
        encrypted = params.get("encrypt_type", "raw").lower() == "aes" or (
            "Encrypt" in fields and "MsgType" not in fields
        )
        if not encrypted:
            if not self.allow_plain:
                raise InvalidSignature("plain-mode message refused: this account runs safe mode")
            self._check_plain(params)
            return fields, False
        if self.envelope is None:
            raise InvalidSignature("encrypted message but no EncodingAESKey is configured")
        encrypt = fields.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise MalformedXML("encrypted message without <Encrypt>")
        # Compatible mode also signs plainly: either way the AES envelope is authoritative.
        return parse_xml(self._decrypt(self.envelope, params, encrypt)), True

    def _decrypt(self, envelope: AESEnvelope, params: Mapping[str, str], ciphertext: str) -> str:
        """Safe mode: a fresh timestamp, then ``msg_signature`` and the AES envelope."""
        timestamp = params.get("timestamp", "")
        check_timestamp(timestamp, now=self.clock(), window=self.timestamp_window)
        return envelope.decrypt(
            ciphertext,
            msg_signature=params.get("msg_signature"),
            timestamp=timestamp,
            nonce=params.get("nonce", ""),
        )

    # -- messages -------------------------------------------------------------------------

    async def handle(self, params: Mapping[str, str], body: bytes) -> ChannelResponse:
        """POST: one message from WeChat."""
        started = time.monotonic()
        try:
            fields, encrypted = self._open(params, body)
        except MalformedXML as exc:
            return ChannelResponse.error(400, str(exc))
        except (InvalidSignature, StaleTimestamp) as exc:
            return ChannelResponse.error(403, str(exc))
        message = message_from_fields(fields)
        violation = check_message(message)
        if violation is not None:
            log.info("callback refused: %s", violation.reason)
            if not violation.too_long:
                return ChannelResponse.error(violation.status, violation.reason)
            # Not handled, not stored: the resident is asked to send it in parts.
            return self._passive(message, MESSAGE_TOO_LONG, params, encrypted=encrypted)
        delivery = DeliveryContext(deadline=started + self.reply_deadline)
        arrived = datetime.now(UTC)
        try:
            reply = await self._dispatch_within_deadline(message, delivery, arrived)
            claimed = reply is not None and await self.ledger.claim_delivery(
                delivery.key, PASSIVE
            )
        except StateBackendError as exc:
            # The shared state (Redis) is away for a moment: without it the conversation
            # cannot go on safely, so the resident is asked to say it again shortly.
            log.warning("shared state unavailable, holding reply: %s", exc)
            reply, claimed = Reply(STATE_UNAVAILABLE), True
        if reply is None or not claimed:
            return ChannelResponse(200, SUCCESS)
        return self._passive(message, reply.text, params, encrypted=encrypted)

    def _passive(
        self, message: IncomingMessage, text: str, params: Mapping[str, str], *, encrypted: bool
    ) -> ChannelResponse:
        xml = render_text_reply(message.from_user, message.to_user, text)
        if encrypted and self.envelope is not None:
            xml = self.envelope.encrypt(xml, nonce=params.get("nonce") or None)
        return ChannelResponse(200, xml, "application/xml")

    async def _dispatch_within_deadline(
        self, message: IncomingMessage, delivery: DeliveryContext, arrived: datetime
    ) -> Reply | None:
        task = asyncio.create_task(self.dispatcher.feed_update(message, delivery=delivery))
        # asyncio.wait, unlike wait_for, never cancels the task: past the deadline it goes on.
        done, _ = await asyncio.wait((task,), timeout=delivery.remaining())
        if done:
            return task.result()
        # Past the deadline the handling goes on and its reply is pushed: for a retry, that
        # is the first arrival's reply if that one did not deliver it (its process died).
        # The delivery claim keeps it from reaching the resident twice.
        log.info(
            "reply to %s is late: answering success, pushing later", mask_openid(message.openid)
        )
        late = asyncio.create_task(self._push_when_ready(message, delivery, task, arrived))
        self._background.add(late)
        late.add_done_callback(self._background.discard)
        return None

    async def _push_when_ready(
        self,
        message: IncomingMessage,
        delivery: DeliveryContext,
        task: asyncio.Task[Reply | None],
        arrived: datetime,
    ) -> None:
        try:
            reply = await task
        except Exception:
            # Deliberately broad: nobody else awaits this background task, so its fault would
            # otherwise vanish; it is logged with its traceback.
            log.exception("late handler failed")
            return
        if reply is None or not await self.ledger.claim_delivery(delivery.key, PUSH):
            return
        who = mask_openid(message.openid)
        try:
            await self.pusher.push_text(message.openid, reply.text, resident_wrote_at=arrived)
        except CustomerServiceRefused as exc:
            # Counted like every text to the resident: over the quota it does not go out.
            log.warning("late reply to %s not pushed: %s", who, exc)
        except Exception:
            # Deliberately broad, for the same reason (a background task).
            log.exception("pushing a late reply to %s failed", who)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for late replies still being pushed (shutdown and tests)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=timeout)
