"""Settings of the ticket store, the outbox worker and status pushes.

A frozen dataclass with sensible defaults, built from environment variables
(:meth:`TicketConfig.from_environ`) or from a settings object carrying fields of the same
names (:meth:`TicketConfig.from_settings`), so ``bot/config.py`` can adopt them one by one.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from integrations.errors import ConfigurationError

__all__ = ["ENV_NAMES", "TicketConfig"]

#: field → environment variable
ENV_NAMES: Mapping[str, str] = {
    "dispatch_backend": "DISPATCH_BACKEND",
    "outbox_max_attempts": "INTAKE_OUTBOX_MAX_ATTEMPTS",
    "backoff_base": "INTAKE_OUTBOX_BACKOFF_BASE",
    "backoff_max": "INTAKE_OUTBOX_BACKOFF_MAX",
    "backoff_jitter": "INTAKE_OUTBOX_BACKOFF_JITTER",
    "lease_seconds": "INTAKE_OUTBOX_LEASE_SECONDS",
    "batch_size": "INTAKE_OUTBOX_BATCH_SIZE",
    "worker_interval": "INTAKE_WORKER_INTERVAL",
    "poll_interval": "INTAKE_DISPATCH_POLL_SECONDS",
    "escalation_interval": "INTAKE_SLA_CHECK_SECONDS",
    "token_max_age": "INTAKE_DISPATCH_TOKEN_MAX_AGE",
    "push_max_attempts": "INTAKE_PUSH_MAX_ATTEMPTS",
    "template_status_id": "WECHAT_TEMPLATE_STATUS_ID",
    "cs_quota": "INTAKE_CS_QUOTA",
    "cs_window_hours": "INTAKE_CS_WINDOW_HOURS",
    "sla_file": "INTAKE_SLA_FILE",
    "grid_rules_file": "INTAKE_GRID_RULES_FILE",
    "timezone": "INTAKE_TIMEZONE",
    "chat_retention_days": "INTAKE_CHAT_RETENTION_DAYS",
    "retention_interval": "INTAKE_RETENTION_CHECK_SECONDS",
}
_CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class TicketConfig:
    """Every knob of tickets, outbox, worker and pushes (env names in :data:`ENV_NAMES`)."""

    #: ``embedded`` (the desk in our database) or ``open311``
    dispatch_backend: str = "embedded"
    #: a job failing this many times is parked for staff
    outbox_max_attempts: int = 8
    #: retry n waits ``min(backoff_max, backoff_base * 2**(n-1))`` seconds, ± jitter
    backoff_base: float = 5.0
    backoff_max: float = 900.0
    backoff_jitter: float = 0.2
    #: a claimed job is another worker's after this long (longer than a submit may take)
    lease_seconds: float = 60.0
    batch_size: int = 20
    #: the worker sleeps this long when it found nothing to do
    worker_interval: float = 1.0
    #: ask the dispatch system for status changes this often
    poll_interval: float = 300.0
    #: look for tickets past their SLA this often (embedded desk)
    escalation_interval: float = 60.0
    #: stop asking a dispatch system to resolve a token after this long
    token_max_age: float = 3 * 24 * 3600.0
    push_max_attempts: int = 6
    #: template for status pushes outside the 48-hour window (None: customer service only)
    template_status_id: str | None = None
    #: customer-service pushes per resident per window (WeChat refuses beyond its own cap)
    cs_quota: int = 5
    cs_window_hours: float = 48.0
    sla_file: Path | None = None
    grid_rules_file: Path | None = None
    #: the day of a ticket id and the times in the API are in this zone
    timezone: str = "Asia/Shanghai"
    #: chat text older than this many days is purged (integrations/retention.py); 0: kept
    chat_retention_days: int = 180
    #: how often the worker looks for chat text past the retention period
    retention_interval: float = 3600.0

    def __post_init__(self) -> None:
        if self.outbox_max_attempts < 1 or self.push_max_attempts < 1:
            raise ConfigurationError("outbox and push max attempts must be at least 1")
        if self.backoff_base < 0 or self.backoff_max < self.backoff_base:
            raise ConfigurationError("backoff must satisfy 0 <= base <= max")
        if not 0 <= self.backoff_jitter <= 1:
            raise ConfigurationError("backoff jitter must be within [0, 1]")
        positive = (
            "lease_seconds",
            "worker_interval",
            "poll_interval",
            "escalation_interval",
            "retention_interval",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"{ENV_NAMES[name]} must be positive")
        if self.batch_size < 1 or self.cs_quota < 0:
            raise ConfigurationError("batch size must be >= 1 and the CS quota >= 0")
        if self.chat_retention_days < 0:
            raise ConfigurationError("INTAKE_CHAT_RETENTION_DAYS must be 0 (keep) or more")
        self.tzinfo()  # fail at start-up, not on the first ticket

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds before retry number ``attempt`` (1 for the first retry)."""
        nominal = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempt - 1))
        return nominal * (1 + self.backoff_jitter * (2 * rand() - 1))

    def tzinfo(self) -> tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            if self.timezone == "Asia/Shanghai":
                return _CHINA  # no tz database installed; China has no DST
            raise ConfigurationError(f"INTAKE_TIMEZONE: unknown zone {self.timezone!r}") from None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> TicketConfig:
        """Defaults overridden by the variables of :data:`ENV_NAMES` that are set."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(ENV_NAMES[item.name], "").strip()
            if raw:
                values[item.name] = _convert(item.name, raw, item.type)
        return cls(**values)

    @classmethod
    def from_settings(
        cls, settings: object, environ: Mapping[str, str] | None = None
    ) -> TicketConfig:
        """From a settings object's attributes of the same names (``template_status_id``
        also as ``wechat_template_status_id``); unset ones come from the environment."""
        base = cls.from_environ(environ)
        values: dict[str, Any] = {}
        for item in fields(cls):
            value = getattr(settings, item.name, None)
            if value is None and item.name == "template_status_id":
                value = getattr(settings, "wechat_template_status_id", None)
            if value is not None:
                values[item.name] = value
        return replace(base, **values)


def _convert(name: str, raw: str, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
    except ValueError:
        raise ConfigurationError(f"{ENV_NAMES[name]} is not a number: {raw!r}") from None
    if "Path" in kind:
        return Path(raw)
    return raw
