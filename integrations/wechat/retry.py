"""How often and how patiently the client retries a transient WeChat failure."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all, sleeping ``base_delay * 2**n`` (capped, with jitter) between.

    Jitter keeps many processes that failed together from retrying in lockstep.
    """

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy delays must be >= 0 and jitter within [0, 1]")

    def delay(self, retry: int) -> float:
        """Seconds to sleep before retry number ``retry`` (1 for the first retry)."""
        nominal = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        return nominal * (1 + random.uniform(-self.jitter, self.jitter))
