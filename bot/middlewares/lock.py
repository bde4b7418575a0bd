"""One message of a resident at a time, in order, across every process."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from bot.dispatcher import NextHandler
from bot.replies import Reply
from bot.wechat.messages import IncomingMessage
from integrations.state import Claim, KeyValueStore, LockTimeout
from integrations.state.lease import renewing
from policies.messages import BUSY_REPLY

__all__ = ["LOCK_CLAIM", "ResidentLockMiddleware"]

#: ``data`` entry where an outer middleware leaves a :class:`Claim` for the lock to make in
#: its first round trip (the dedup ledger's first-arrival claim): taken out of ``data`` here
LOCK_CLAIM = "lock_claim"

log = logging.getLogger(__name__)


class ResidentLockMiddleware:
    """Holds ``resident:{openid}`` in the shared store while the message is handled.

    The live holder renews its ``hold``-second lease every ``hold / 3`` seconds, so a
    process that dies holding it blocks the resident for at most ``hold`` seconds; ``wait``
    is how long a message queues behind the previous one before the resident is asked to
    resend. A :class:`Claim` left in ``data[LOCK_CLAIM]`` is made before queueing; a refused
    one raises :class:`~integrations.state.ClaimRefused` to the middleware that left it,
    without queueing.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        hold: float = 10.0,
        wait: float = 30.0,
        prefetch: Callable[[str], Sequence[str]] | None = None,
    ) -> None:
        self.store = store
        self.hold = hold
        self.wait = wait
        #: the store keys a turn of the resident reads (dialogue state, chat, handoff): read
        #: as the lock is taken, in the same round trip (``prefetch`` of
        #: :meth:`KeyValueStore.lock`)
        self.prefetch = prefetch

    async def __call__(
        self, handler: NextHandler, event: IncomingMessage, data: dict[str, Any]
    ) -> Any:
        reads = self.prefetch(event.openid) if self.prefetch is not None else ()
        claim: Claim | None = data.pop(LOCK_CLAIM, None)
        try:
            async with self.store.lock(
                f"resident:{event.openid}",
                timeout=self.hold,
                blocking_timeout=self.wait,
                prefetch=reads,
                claim=claim,
            ) as lock, renewing(lock.extend, self.hold / 3):
                return await handler(event, data)
        except LockTimeout:
            log.warning("resident lock busy for %.0fs", self.wait)
            return Reply(BUSY_REPLY)
