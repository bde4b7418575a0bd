"""What the ticket store, the outbox worker and status pushes need of the settings.

A frozen dataclass (tests and benchmarks build one directly, with the settings' defaults);
running processes build it from the one :class:`core.settings.Settings`, which reads and
validates the variables (:meth:`TicketConfig.from_settings`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigurationError
from core.settings import default_of, resolve_timezone

if TYPE_CHECKING:
    from datetime import tzinfo

    from core.settings import Settings

__all__ = ["TicketConfig"]


@dataclass(frozen=True, slots=True)
class TicketConfig:
    """Every knob of tickets, outbox, worker and pushes (variables: README, core/settings.py)."""

    #: a job failing this many times is parked for staff
    outbox_max_attempts: int = default_of("INTAKE_OUTBOX_MAX_ATTEMPTS")
    #: retry n waits ``min(backoff_max, backoff_base * 2**(n-1))`` seconds, ± jitter
    backoff_base: float = default_of("INTAKE_OUTBOX_BACKOFF_BASE")
    backoff_max: float = default_of("INTAKE_OUTBOX_BACKOFF_MAX")
    backoff_jitter: float = default_of("INTAKE_OUTBOX_BACKOFF_JITTER")
    #: a claimed job is another worker's after this long (longer than a submit may take)
    lease_seconds: float = default_of("INTAKE_OUTBOX_LEASE_SECONDS")
    batch_size: int = default_of("INTAKE_OUTBOX_BATCH_SIZE")
    #: the worker sleeps this long when it found nothing to do
    worker_interval: float = default_of("INTAKE_WORKER_INTERVAL")
    #: ask the dispatch system for status changes this often
    poll_interval: float = default_of("INTAKE_DISPATCH_POLL_SECONDS")
    #: look for tickets past their SLA this often (embedded desk)
    escalation_interval: float = default_of("INTAKE_SLA_CHECK_SECONDS")
    #: stop asking a dispatch system to resolve a token after this long
    token_max_age: float = default_of("INTAKE_DISPATCH_TOKEN_MAX_AGE")
    push_max_attempts: int = default_of("INTAKE_PUSH_MAX_ATTEMPTS")
    #: template for status pushes outside the 48-hour window (None: customer service only)
    template_status_id: str | None = default_of("WECHAT_TEMPLATE_STATUS_ID")
    #: customer-service pushes per resident per window (WeChat refuses beyond its own cap)
    cs_quota: int = default_of("INTAKE_CS_QUOTA")
    cs_window_hours: float = default_of("INTAKE_CS_WINDOW_HOURS")
    #: the subscription message (订阅通知) tried after the template (None: step skipped)
    subscription_template_id: str | None = default_of("WECHAT_SUBSCRIBE_TEMPLATE_ID")
    #: what a consent from WeChat's popup allows: ``one_time`` or ``long_term``
    subscription_kind: str = default_of("INTAKE_SUBSCRIBE_KIND")
    subscription_fields: str = default_of("WECHAT_SUBSCRIBE_FIELDS")
    subscription_page: str | None = default_of("WECHAT_SUBSCRIBE_PAGE")
    #: the operator's SMS gateway hook, the last step of a push (None: off)
    sms_hook_url: str | None = default_of("INTAKE_SMS_HOOK_URL")
    sms_hook_secret: str | None = default_of("INTAKE_SMS_HOOK_SECRET")
    # Computed once at import, which is fine: the defaults are immutable.
    sla_file: Path | None = default_of("INTAKE_SLA_FILE")  # noqa: RUF009
    grid_rules_file: Path | None = default_of("INTAKE_GRID_RULES_FILE")  # noqa: RUF009
    #: the day of a ticket id and the times in the API are in this zone
    timezone: str = default_of("INTAKE_TIMEZONE")
    #: chat text older than this many days is purged (integrations/retention.py); 0: kept
    chat_retention_days: int = default_of("INTAKE_CHAT_RETENTION_DAYS")
    #: how often the worker looks for chat text past the retention period
    retention_interval: float = default_of("INTAKE_RETENTION_CHECK_SECONDS")
    #: holidays and 调休 working days laid over chinesecalendar's (policies/workdays.py)
    workday_calendar_file: Path | None = default_of("INTAKE_WORKDAY_CALENDAR_FILE")  # noqa: RUF009
    #: office hours per department (None: the packaged policies/data/office_hours.yaml)
    office_hours_file: Path | None = default_of("INTAKE_OFFICE_HOURS_FILE")  # noqa: RUF009
    #: warnings (预警) are also posted here as JSON (None: console only)
    warning_webhook_url: str | None = default_of("INTAKE_WARNING_WEBHOOK_URL")
    #: signs those posts (HMAC-SHA256 of the body, as analytics alerts are signed)
    warning_webhook_secret: str | None = default_of("INTAKE_WARNING_WEBHOOK_SECRET")
    #: 回访 this many days after closing, for the follow-up categories (0: none)
    follow_up_days: int = default_of("INTAKE_FOLLOW_UP_DAYS")

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds before retry number ``attempt`` (1 for the first retry)."""
        nominal = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempt - 1))
        return nominal * (1 + self.backoff_jitter * (2 * rand() - 1))

    def tzinfo(self) -> tzinfo:
        try:
            return resolve_timezone(self.timezone)
        except ValueError as exc:
            raise ConfigurationError(f"INTAKE_TIMEZONE: {exc}") from None

    @classmethod
    def from_settings(cls, settings: Settings) -> TicketConfig:
        """The values of the settings' dispatch, outbox, pushes, tickets and privacy
        sections (validated there)."""
        dispatch, outbox, pushes = settings.dispatch, settings.outbox, settings.pushes
        tickets, privacy = settings.tickets, settings.privacy
        return cls(
            outbox_max_attempts=outbox.max_attempts,
            backoff_base=outbox.backoff_base,
            backoff_max=outbox.backoff_max,
            backoff_jitter=outbox.backoff_jitter,
            lease_seconds=outbox.lease_seconds,
            batch_size=outbox.batch_size,
            worker_interval=outbox.worker_interval,
            poll_interval=dispatch.poll_seconds,
            escalation_interval=tickets.sla_check_seconds,
            token_max_age=dispatch.token_max_age,
            push_max_attempts=pushes.max_attempts,
            template_status_id=pushes.template_status_id,
            cs_quota=pushes.cs_quota,
            cs_window_hours=pushes.cs_window_hours,
            subscription_template_id=pushes.subscription_template_id,
            subscription_kind=pushes.subscription_kind,
            subscription_fields=pushes.subscription_fields,
            subscription_page=pushes.subscription_page,
            sms_hook_url=pushes.sms_hook_url,
            sms_hook_secret=pushes.sms_hook_secret,
            sla_file=tickets.sla_file,
            grid_rules_file=tickets.grid_rules_file,
            timezone=tickets.timezone,
            chat_retention_days=privacy.chat_retention_days,
            retention_interval=privacy.retention_check_seconds,
            workday_calendar_file=tickets.workday_calendar_file,
            office_hours_file=tickets.office_hours_file,
            warning_webhook_url=tickets.warning_webhook_url,
            warning_webhook_secret=tickets.warning_webhook_secret,
            follow_up_days=tickets.follow_up_days,
        )
