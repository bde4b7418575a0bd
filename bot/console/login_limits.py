"""Login throttling that holds under concurrency and cannot be turned against an account's
owner.

An attempt must be *admitted* before its password is checked, under every key that
concerns it:

- ``pair`` — this account from this address: the attacker's own key;
- ``address`` — every account from this address (one client trying many names);
- ``account`` — this account from every address it has never logged in from (many
  addresses guessing one password); addresses the account logged in from within 30 days
  skip this key, so an attack from elsewhere never slows its owner down.

Each key allows ``free`` failures within ``window``; after that, attempts are admitted one at
a time, each only once a delay has passed since the last failure, and the delay doubles with
every further failure (1 s, 2 s, 4 s … at most 15 minutes). Nothing is locked: a guesser's
failures slow the guesser's keys, so the right password from another address (or for
another account) gets in. The one exception is by design: while many addresses guess one
account, a login to it from a brand-new address waits like theirs.

A key's record (the times of its recent failures and the attempts in flight) is read and
written under the state store's named lock (an ``asyncio`` lock on the embedded default, the
fair Redis lock in production), held only for those few store calls, never during the
password check. So fifteen concurrent wrong passwords for one account are fifteen turns at
the lock: five are admitted and checked, the rest refused without a check. Attempts in
flight count against ``free`` until they end; one whose process died expires after
``in_flight_timeout``.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from integrations.state import KeyValueStore, Lock, LockTimeout

__all__ = ["Admission", "LoginLimiter", "LoginLimits", "Outcome"]


class Outcome(Enum):
    """How an admitted attempt ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    UNCHECKED = "unchecked"  # never checked (the hashing pool was full): no failure counted


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The thresholds; the defaults are the product's."""

    per_pair: int = 5
    per_address: int = 30
    per_account: int = 50
    first_delay: float = 1.0
    max_delay: float = 15 * 60.0
    #: failures older than this are forgotten
    window: float = 3600.0
    #: how long a successful login makes its address "known" to the account
    known_for: float = 30 * 24 * 3600.0
    in_flight_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    free: int
    forgive_on_success: bool


@dataclass(slots=True)
class Admission:
    """The answer to :meth:`LoginLimiter.admit`: whether to check the password, or how many
    seconds to wait. Pass an admitted one to :meth:`LoginLimiter.conclude`."""

    allowed: bool
    retry_after: int = 0
    username: str = ""
    address: str = ""
    _held: list[tuple[_Key, str]] = field(default_factory=list)


def _digest(value: str) -> str:
    # Keys never hold what was typed: a password typed as a username must not sit in Redis.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginLimiter:
    """Admit or refuse login attempts; record how admitted ones ended."""

    def __init__(
        self,
        store: KeyValueStore,
        limits: LoginLimits | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self.limits = limits or LoginLimits()
        self._clock = clock

    # -- public -----------------------------------------------------------------------------

    async def admit(self, username: str, address: str) -> Admission:
        """Reserve a turn under every key of this attempt, or refuse with a wait."""
        user, addr = _digest(username.lower()), _digest(address)
        limits = self.limits
        keys = [
            _Key(f"pair:{user}:{addr}", limits.per_pair, True),
            _Key(f"address:{addr}", limits.per_address, False),
        ]
        if await self._store.get(self._known_key(user, addr)) is None:
            keys.append(_Key(f"account:{user}", limits.per_account, False))
        admission = Admission(True, username=username, address=address)
        for key in keys:
            ticket = secrets.token_hex(8)
            try:
                wait = await self._reserve(key, ticket)
            except LockTimeout:  # a flood on this key: its own turns are the bottleneck
                wait = 1
            if wait:
                await self._release(admission, Outcome.UNCHECKED)
                return Admission(False, retry_after=wait, username=username, address=address)
            admission._held.append((key, ticket))
        return admission

    async def conclude(self, admission: Admission, outcome: Outcome) -> None:
        """Record how an admitted attempt ended: a failure counts under every key; a
        success forgives the pair's failures and makes the address known to the account."""
        await self._release(admission, outcome)
        if outcome is Outcome.SUCCESS:
            user, addr = _digest(admission.username.lower()), _digest(admission.address)
            await self._store.set(self._known_key(user, addr), b"1", ttl=self.limits.known_for)

    def delay_after(self, failures: int, free: int) -> float:
        """Seconds between attempts once ``failures`` (≥ ``free``) have been recorded."""
        exponent = min(failures - free, 30)
        return float(min(self.limits.max_delay, self.limits.first_delay * 2**exponent))

    # -- records ----------------------------------------------------------------------------

    @staticmethod
    def _known_key(user: str, addr: str) -> str:
        return f"console:login:known:{user}:{addr}"

    @staticmethod
    def _record_key(key: _Key) -> str:
        return f"console:login:{key.name}"

    async def _load(self, key: _Key, now: float) -> tuple[list[float], dict[str, float]]:
        raw = await self._store.get(self._record_key(key))
        data = json.loads(raw) if raw else {}
        horizon = now - self.limits.window
        failures = [t for t in data.get("failures", []) if t > horizon]
        in_flight = {k: v for k, v in data.get("in_flight", {}).items() if v > now}
        return failures, in_flight

    async def _save(self, key: _Key, failures: list[float], in_flight: dict[str, float]) -> None:
        if not failures and not in_flight:
            await self._store.delete(self._record_key(key))
            return
        # Beyond this many the delay is at its maximum anyway: the record stays small.
        kept = failures[-(key.free + 32) :]
        value = json.dumps({"failures": kept, "in_flight": in_flight}).encode()
        await self._store.set(
            self._record_key(key), value, ttl=self.limits.window + self.limits.max_delay
        )

    async def _reserve(self, key: _Key, ticket: str) -> int:
        """0 when a turn was reserved under ``key``, else the seconds to wait."""
        async with self._lock(key):
            now = self._clock()
            failures, in_flight = await self._load(key, now)
            if len(failures) + len(in_flight) < key.free:
                pass  # still within the free failures
            elif len(failures) >= key.free and not in_flight:
                opens = failures[-1] + self.delay_after(len(failures), key.free)
                if now < opens:
                    return max(1, math.ceil(opens - now))
            else:  # the last free turns are being checked right now
                return 1
            in_flight[ticket] = now + self.limits.in_flight_timeout
            await self._save(key, failures, in_flight)
            return 0

    async def _release(self, admission: Admission, outcome: Outcome) -> None:
        held, admission._held = admission._held, []
        for key, ticket in held:
            try:
                await self._release_one(key, ticket, outcome)
            except LockTimeout:  # the turn lapses by itself after in_flight_timeout
                continue

    async def _release_one(self, key: _Key, ticket: str, outcome: Outcome) -> None:
        async with self._lock(key):
            if outcome is Outcome.SUCCESS and key.forgive_on_success:
                await self._store.delete(self._record_key(key))
                return
            now = self._clock()
            failures, in_flight = await self._load(key, now)
            in_flight.pop(ticket, None)
            if outcome is Outcome.FAILURE:
                failures.append(now)
            await self._save(key, failures, in_flight)

    def _lock(self, key: _Key) -> Lock:
        # Held for a few store calls only; a holder that died frees it after ``timeout``.
        return self._store.lock(self._record_key(key), timeout=5.0, blocking_timeout=5.0)
