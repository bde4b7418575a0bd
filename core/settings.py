"""Every setting of the product: one pydantic-settings class, read once at start-up.

A setting has one name, its environment variable (``WECHAT_TOKEN``); code reaches it
through its section (``settings.wechat.token``). :meth:`Settings.read` takes the
environment (plus overrides by the same names, from the command line or a test), validates
every value and remembers where each came from (default, environment, override, generated)
for ``intake config check``. A renamed variable keeps working for one release under its
old name, with a warning in the log (:data:`RENAMED`).

The README's configuration table is generated from the fields below (``intake config
table``), and a test fails when the two differ. Whether a configuration is safe enough for
production is judged in ``bot/config.py``; this module only reads and validates values.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.errors import ConfigurationError

__all__ = [
    "RENAMED",
    "SUBSCRIPTION_FIELD_SOURCES",
    "DispatchSettings",
    "IPNetwork",
    "NLUSettings",
    "Open311Settings",
    "OutboxSettings",
    "PrivacySettings",
    "PushSettings",
    "ServerSettings",
    "SettingSpec",
    "Settings",
    "TicketSettings",
    "WeChatSettings",
    "default_of",
    "export_for_child_processes",
    "parse_networks",
    "resolve_timezone",
    "section_titles",
    "setting_specs",
    "spec_of",
    "unknown_variables",
]

log = logging.getLogger(__name__)

#: old variable name → the setting's one name; the old name still works for one release
RENAMED: Mapping[str, str] = {
    # Two variables used to exist for one interval; only this one was ever read.
    "OPEN311_POLL_SECONDS": "INTAKE_DISPATCH_POLL_SECONDS",
}

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: what may fill a subscription message's keys (``WECHAT_SUBSCRIBE_FIELDS``)
SUBSCRIPTION_FIELD_SOURCES = ("ticket", "status", "remark", "first")

_CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def setting(
    default: Any,
    env: str,
    doc: str,
    *,
    secret: bool = False,
    shown: str | None = None,
    keep_empty: bool = False,
    **constraints: Any,
) -> Any:
    """A field read from the variable ``env``.

    ``doc`` is the README's "meaning" column, ``shown`` its "default" column when the
    default value itself says little (``generated in development``). ``secret`` values are
    masked by ``intake config check``. An empty variable counts as unset unless
    ``keep_empty`` (where the empty value means something).
    """
    extra: dict[str, Any] = {"secret": secret, "keep_empty": keep_empty}
    if shown is not None:
        extra["shown"] = shown
    return Field(default, alias=env, description=doc, json_schema_extra=extra, **constraints)


def parse_networks(value: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.5, 172.30.80.0/24"`` → networks; raises ``ValueError`` naming a bad entry."""
    networks = []
    for item in value.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network") from None
    return tuple(networks)


def resolve_timezone(name: str) -> tzinfo:
    """The zone called ``name``; raises ``ValueError`` for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == "Asia/Shanghai":
            return _CHINA  # no tz database installed; China has no DST
        raise ValueError(f"unknown time zone {name!r}") from None


class _Section(BaseModel):
    """A group of settings; fields are validated by their variable names or their own."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ServerSettings(_Section):
    """`intake serve`: address, the APIs' token, reverse proxies."""

    host: str = setting("127.0.0.1", "INTAKE_HOST", "bind address of `intake serve`")
    port: int = setting(8000, "INTAKE_PORT", "port of `intake serve`", ge=1, le=65535)
    admin_token: str | None = setting(
        None,
        "INTAKE_ADMIN_TOKEN",
        "bearer token for `/api/*`, and for `/model/parse` in production (at least 16 random "
        "characters in production)",
        secret=True,
        shown="generated in development",
    )
    api_docs: bool | None = setting(
        None,
        "INTAKE_API_DOCS",
        "`/api/docs`, `/redoc` and `/openapi.json`",
        shown="on in development, off in production",
    )
    trusted_proxies: str = setting(
        "",
        "INTAKE_TRUSTED_PROXIES",
        "comma-separated addresses or networks of reverse proxies (e.g. `172.30.80.10` or "
        "`10.0.0.0/8`); `X-Forwarded-For` is believed only from them, else the TCP peer is "
        "the client (login limits, audit log). The compose file sets it to its load balancer",
    )
    inprocess_worker: bool = setting(
        True,
        "INTAKE_INPROCESS_WORKER",
        "`intake serve` runs the outbox worker too (`--no-worker` sets it off)",
    )

    _proxy_networks: tuple[IPNetwork, ...] = PrivateAttr(default=())

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        parse_networks(value)
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._proxy_networks = parse_networks(self.trusted_proxies)

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """The parsed ``INTAKE_TRUSTED_PROXIES`` (empty: X-Forwarded-For is never believed)."""
        return self._proxy_networks


class WeChatSettings(_Section):
    """The Official Account and its callback."""

    token: str | None = setting(
        None,
        "WECHAT_TOKEN",
        "the callback token set in the WeChat admin console (3–32 letters/digits; in "
        "production at least 16, random)",
        secret=True,
        shown="generated in development",
    )
    app_id: str | None = setting(
        None, "WECHAT_APP_ID", "AppID of the Official Account", shown="generated in development"
    )
    app_secret: str | None = setting(
        None,
        "WECHAT_APP_SECRET",
        "AppSecret (used for `/cgi-bin/stable_token`)",
        secret=True,
        shown="generated in development",
    )
    encoding_aes_key: str | None = setting(
        None,
        "WECHAT_ENCODING_AES_KEY",
        "43-character EncodingAESKey; when set, safe (AES) and compatible mode are accepted; "
        "**required in production** unless `INTAKE_ALLOW_PLAIN_MODE=true`",
        secret=True,
    )
    allow_plain_mode: bool = setting(
        False,
        "INTAKE_ALLOW_PLAIN_MODE",
        "production only: accept plain-mode messages (their signature does not cover the "
        "body; a loud warning at every start)",
    )
    api_base_url: str = setting(
        "https://api.weixin.qq.com",
        "WECHAT_API_BASE_URL",
        "scheme and host that `/cgi-bin/...` paths are appended to (tests point it at a "
        "local fake)",
    )
    reply_deadline: float = setting(
        4.0,
        "INTAKE_REPLY_DEADLINE",
        "seconds to answer WeChat passively; later replies go through the customer-service API",
        gt=0,
        le=4.8,
    )
    timestamp_window: float = setting(
        300.0,
        "INTAKE_TIMESTAMP_WINDOW",
        "accepted clock skew of callback timestamps, seconds (replay protection)",
        gt=0,
    )
    max_body_bytes: int = setting(
        64 * 1024, "INTAKE_MAX_BODY_BYTES", "larger callback bodies are refused with 413", gt=0
    )


class PushSettings(_Section):
    """Status pushes to residents."""

    template_status_id: str | None = setting(
        None,
        "WECHAT_TEMPLATE_STATUS_ID",
        "template for status pushes outside WeChat's 48-hour window",
    )
    cs_quota: int = setting(
        5,
        "INTAKE_CS_QUOTA",
        "customer-service texts per resident per window (status pushes, late and staff replies "
        "alike); beyond it status pushes fall back to the template, other texts are not sent",
        ge=0,
    )
    cs_window_hours: float = setting(
        48.0, "INTAKE_CS_WINDOW_HOURS", "the window of `INTAKE_CS_QUOTA`, hours", gt=0
    )
    max_attempts: int = setting(
        6,
        "INTAKE_PUSH_MAX_ATTEMPTS",
        "failed pushes before they are marked failed (visible at `/api/pushes`)",
        ge=1,
    )
    subscription_template_id: str | None = setting(
        None,
        "WECHAT_SUBSCRIBE_TEMPLATE_ID",
        "subscription message (订阅通知) template tried when the template message is refused, "
        "only for residents whose consent is recorded (unset: step skipped)",
    )
    subscription_kind: Literal["one_time", "long_term"] = setting(
        "one_time",
        "INTAKE_SUBSCRIBE_KIND",
        "what a consent from WeChat's subscribe popup allows: `one_time` (one send per "
        "accept) or `long_term` (长期订阅, public-service accounts only)",
    )
    subscription_fields: str = setting(
        "character_string1=ticket,phrase2=status,thing3=remark",
        "WECHAT_SUBSCRIBE_FIELDS",
        "the subscription template's keys and what fills them (`ticket`, `status`, `remark`, "
        "`first`), comma-separated `key=what`; values are cut to the key type's length",
    )
    subscription_page: str | None = setting(
        None,
        "WECHAT_SUBSCRIBE_PAGE",
        "web page a subscription message opens when tapped (unset: none)",
    )
    sms_hook_url: str | None = setting(
        None,
        "INTAKE_SMS_HOOK_URL",
        "last step of a status push: posted as JSON (ticket, phone, text) to an operator's SMS "
        "gateway when no WeChat channel delivered it (unset: off)",
    )
    sms_hook_secret: str | None = setting(
        None,
        "INTAKE_SMS_HOOK_SECRET",
        "signs each SMS hook request (`X-Intake-Signature: sha256=<HMAC of the body>`); unset: "
        "unsigned",
        secret=True,
    )

    @field_validator("subscription_fields")
    @classmethod
    def _fields_are_pairs(cls, value: str) -> str:
        # (the same rule as policies.pushes.parse_subscription_fields; core imports no policy)
        for item in value.split(","):
            key, _, what = item.strip().partition("=")
            if not key.strip() or what.strip() not in SUBSCRIPTION_FIELD_SOURCES:
                raise ValueError(
                    f"{item.strip()!r} is not key=what with what one of "
                    f"{', '.join(SUBSCRIPTION_FIELD_SOURCES)}"
                )
        return value

    @field_validator("sms_hook_url")
    @classmethod
    def _hook_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s):// URL")
        return value


class PrivacySettings(_Section):
    """Residents' personal data."""

    key: str | None = setting(
        None,
        "INTAKE_PERSONAL_DATA_KEY",
        "seals the phone number a conversation keeps in Redis (AES-GCM); **required in "
        "production** (at least 16 random characters)",
        secret=True,
        shown="generated in development",
    )
    previous_key: str | None = setting(
        None,
        "INTAKE_PERSONAL_DATA_PREVIOUS_KEY",
        "the previous key, still opening what it sealed while the key changes "
        "(docs/security.md)",
        secret=True,
    )
    chat_retention_days: int = setting(
        180,
        "INTAKE_CHAT_RETENTION_DAYS",
        "chat text (the chat kept with tickets, handoff lines, review items) older than this "
        "is purged by the worker; `0` keeps it",
        ge=0,
    )
    retention_check_seconds: float = setting(
        3600.0,
        "INTAKE_RETENTION_CHECK_SECONDS",
        "how often the worker looks for chat text past the retention period",
        gt=0,
    )


class DispatchSettings(_Section):
    """Handing tickets to the dispatch system and hearing back."""

    backend: Literal["embedded", "open311"] = setting(
        "embedded", "DISPATCH_BACKEND", "`embedded` (the built-in desk) or `open311`"
    )
    poll_seconds: float = setting(
        300.0,
        "INTAKE_DISPATCH_POLL_SECONDS",
        "how often the dispatch system is asked for status changes (formerly also "
        "`OPEN311_POLL_SECONDS`)",
        gt=0,
    )
    token_max_age: float = setting(
        3 * 24 * 3600.0,
        "INTAKE_DISPATCH_TOKEN_MAX_AGE",
        "seconds after which a dispatch system is no longer asked to turn a token into an id",
        gt=0,
    )
    callback_secret: str | None = setting(
        None,
        "INTAKE_DISPATCH_CALLBACK_SECRET",
        "HMAC secret of `POST /api/dispatch/callback` (the route exists only when set; at "
        "least 16 random characters in production; see `docs/dispatch.md`)",
        secret=True,
    )
    callback_previous_secret: str | None = setting(
        None,
        "INTAKE_DISPATCH_CALLBACK_PREVIOUS_SECRET",
        "the previous callback secret, still accepted while the sender switches (rotation, "
        "`docs/security.md`)",
        secret=True,
    )


class OutboxSettings(_Section):
    """Retries of deliveries to the dispatch system (the outbox worker)."""

    max_attempts: int = setting(
        8, "INTAKE_OUTBOX_MAX_ATTEMPTS", "failed deliveries before a job is parked for staff", ge=1
    )
    backoff_base: float = setting(
        5.0,
        "INTAKE_OUTBOX_BACKOFF_BASE",
        "retry n waits `min(max, base × 2^(n−1))` seconds",
        ge=0,
    )
    backoff_max: float = setting(
        900.0, "INTAKE_OUTBOX_BACKOFF_MAX", "the longest wait between retries, seconds", ge=0
    )
    backoff_jitter: float = setting(
        0.2, "INTAKE_OUTBOX_BACKOFF_JITTER", "± share of each wait, random", ge=0, le=1
    )
    lease_seconds: float = setting(
        60.0,
        "INTAKE_OUTBOX_LEASE_SECONDS",
        "a claimed job returns to the queue after this (a worker died)",
        gt=0,
    )
    batch_size: int = setting(
        20, "INTAKE_OUTBOX_BATCH_SIZE", "jobs a worker claims at once", ge=1
    )
    worker_interval: float = setting(
        1.0,
        "INTAKE_WORKER_INTERVAL",
        "seconds the worker sleeps when it found nothing to do",
        gt=0,
    )

    heartbeat_file: Path | None = setting(
        None,
        "INTAKE_WORKER_HEARTBEAT_FILE",
        "`intake worker` touches this file every 5 s; a liveness probe reads its age "
        "([docs/deployment.md](docs/deployment.md))",
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> OutboxSettings:
        if self.backoff_max < self.backoff_base:
            raise ValueError(
                "INTAKE_OUTBOX_BACKOFF_MAX must not be below INTAKE_OUTBOX_BACKOFF_BASE"
            )
        return self


class Open311Settings(_Section):
    """The city's Open311 (GeoReport v2) server, when `DISPATCH_BACKEND=open311`."""

    url: str | None = setting(
        None, "OPEN311_URL", "GeoReport v2 endpoint base, ending before `requests.json`"
    )
    api_key: str | None = setting(None, "OPEN311_API_KEY", "the Open311 API key", secret=True)
    jurisdiction_id: str | None = setting(
        None, "OPEN311_JURISDICTION_ID", "optional jurisdiction id"
    )
    service_map: Path | None = setting(
        None,
        "OPEN311_SERVICE_MAP",
        "YAML file: taxonomy id → service code (default: the taxonomy id)",
    )
    format: Literal["json"] = setting("json", "OPEN311_FORMAT", "only `json` is supported")
    ticket_attribute: str | None = setting(
        "intake_ticket_id",
        "OPEN311_TICKET_ATTRIBUTE",
        "the custom attribute carrying our ticket id; empty: not sent (for servers that "
        "refuse unknown attributes)",
        keep_empty=True,
    )

    @field_validator("format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("ticket_attribute")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class TicketSettings(_Section):
    """Tickets: deadlines, grids, the time zone."""

    sla_file: Path | None = setting(
        None, "INTAKE_SLA_FILE", "SLA hours by category and urgency (YAML)", shown="packaged"
    )
    grid_rules_file: Path | None = setting(
        None, "INTAKE_GRID_RULES_FILE", "location keywords → grid (YAML)", shown="packaged"
    )
    timezone: str = setting(
        "Asia/Shanghai", "INTAKE_TIMEZONE", "day of ticket ids and times in the API"
    )
    sla_check_seconds: float = setting(
        60.0,
        "INTAKE_SLA_CHECK_SECONDS",
        "how often the worker records due warnings (预警), escalates embedded-desk tickets "
        "past their 办结 deadline and sends due 回访 questions",
        gt=0,
    )

    workday_calendar_file: Path | None = setting(
        None,
        "INTAKE_WORKDAY_CALENDAR_FILE",
        "YAML/JSON of holidays and 调休 working days laid over the `chinesecalendar` package's, "
        "e.g. next year's as soon as the State Council publishes it "
        "([docs/tickets.md](docs/tickets.md#working-day-clocks)); a bad file stops start-up "
        "naming the entry",
    )
    office_hours_file: Path | None = setting(
        None,
        "INTAKE_OFFICE_HOURS_FILE",
        "office hours per department for the working-day clocks "
        "(`policies/data/office_hours.yaml`: 09:00–12:00, 13:30–18:00 unless listed)",
        shown="packaged",
    )
    warning_webhook_url: str | None = setting(
        None,
        "INTAKE_WARNING_WEBHOOK_URL",
        "warnings (预警) before 签收/办结 deadlines are posted here as JSON, one per request "
        "(unset: console only)",
    )
    warning_webhook_secret: str | None = setting(
        None,
        "INTAKE_WARNING_WEBHOOK_SECRET",
        "signs each warning (`X-Intake-Signature: sha256=<HMAC of the body>`); unset: unsigned",
        secret=True,
    )
    follow_up_days: int = setting(
        14,
        "INTAKE_FOLLOW_UP_DAYS",
        "days after closing that residents are asked again (回访) about the problem classes "
        "that tend to come back (`follow_up_categories` in the SLA file); 0: no 回访",
        ge=0,
        le=365,
    )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        resolve_timezone(value)  # fail at start-up, not on the first ticket
        return value


class NLUSettings(_Section):
    """Understanding residents' messages."""

    model_dir: Path | None = setting(
        None,
        "INTAKE_MODEL_DIR",
        "NLU model artifacts (`<version>/`, `LATEST`); `intake nlu` uses it too",
        shown="`<data dir>/models`",
    )
    eval_set: Path | None = setting(
        None,
        "INTAKE_NLU_EVAL_SET",
        "labelled TSV (`label<TAB>text`) on which the console scores a new model against the "
        "running one; unset: a stratified 20 % hold-out of the curated examples",
    )
    jieba_cache_dir: Path | None = setting(
        None,
        "INTAKE_JIEBA_CACHE_DIR",
        "where the word segmenter keeps its dictionary cache",
        shown="`<temp dir>/intake-jieba-<uid>`",
    )


class AnalyticsSettings(_Section):
    """Problem clusters, 未诉先办 alerts and the console's map."""

    cluster_notice: bool = setting(
        True,
        "INTAKE_CLUSTER_NOTICE",
        "the chat tells a resident when an open ticket already covers their problem and "
        "offers to follow it",
    )
    webhook_url: str | None = setting(
        None,
        "INTAKE_ANALYTICS_WEBHOOK_URL",
        "surge and hot-spot alerts are posted here as JSON (unset: console only)",
    )
    webhook_secret: str | None = setting(
        None,
        "INTAKE_ANALYTICS_WEBHOOK_SECRET",
        "signs each alert (`X-Intake-Signature: sha256=<HMAC of the body>`); unset: unsigned",
        secret=True,
    )
    check_seconds: float = setting(
        3600.0,
        "INTAKE_ANALYTICS_CHECK_SECONDS",
        "how often surges and hot spots are looked for, seconds",
        gt=0,
    )
    map_tiles_url: str | None = setting(
        None,
        "INTAKE_MAP_TILES_URL",
        "base tiles of the console's map, e.g. `https://tiles.example/{z}/{x}/{y}.png` (unset: "
        "no tiles, areas and points on a plain background; works offline)",
    )
    map_tiles_attribution: str = setting(
        "", "INTAKE_MAP_TILES_ATTRIBUTION", "the tiles' attribution line shown on the map"
    )


class Settings(BaseSettings):
    """Every setting of the product, in sections; build it with :meth:`read`."""

    model_config = SettingsConfigDict(populate_by_name=True, extra="forbid")

    env: Literal["development", "production"] = setting(
        "development",
        "INTAKE_ENV",
        "`production` refuses to start (one clear line) when a secret is missing, weak or a "
        "published example, without `REDIS_URL`, or in plain mode without "
        "`INTAKE_ALLOW_PLAIN_MODE=true`; see [docs/security.md](docs/security.md). "
        "`intake config check` tells in advance",
    )
    data_dir: Path = setting(
        Path("data"),
        "INTAKE_DATA_DIR",
        "SQLite file, development secrets, NLU models (created owner-only: directory 0700, "
        "files 0600)",
    )
    database_url: str | None = setting(
        None,
        "DATABASE_URL",
        "tickets; `postgresql://user@host:5432/db` in production (needs "
        "`pip install 'intake[postgres]'`)",
        shown="`sqlite:///<data dir>/intake.db`",
    )
    redis_url: str | None = setting(
        None,
        "REDIS_URL",
        "dialogue state, dedup, locks, sessions, token cache, shared by all processes; "
        "**required in production**",
        shown="unset (in-memory state)",
    )
    log_level: str = setting(
        "INFO",
        "INTAKE_LOG_LEVEL",
        "log level; personal data is masked in every log line (uvicorn's and tracebacks "
        "included)",
    )
    dialogue_ttl: float = setting(
        24 * 3600.0,
        "INTAKE_DIALOGUE_TTL",
        "seconds after which an abandoned conversation state expires",
        gt=0,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    wechat: WeChatSettings = Field(default_factory=WeChatSettings)
    pushes: PushSettings = Field(default_factory=PushSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    open311: Open311Settings = Field(default_factory=Open311Settings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    nlu: NLUSettings = Field(default_factory=NLUSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)

    #: setting name → where its value came from ("env", "env OLD_NAME", "override", …)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)
    _notes: list[str] = PrivateAttr(default_factory=list)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``Settings()`` reads the same variables as :meth:`read` (which tracks origins)."""
        return init_settings, EnvironmentSource(settings_cls, os.environ)

    @classmethod
    def read(
        cls, environ: Mapping[str, str] | None = None, /, **overrides: object
    ) -> Settings:
        """The settings from ``environ`` (default: the process environment), with
        ``overrides`` by setting name (``INTAKE_PORT=8001``; ``None``: unset).

        Raises :class:`ConfigurationError` naming the first invalid setting. An old name of
        a renamed setting is logged as a warning (:data:`RENAMED`).
        """
        source = EnvironmentSource(cls, os.environ if environ is None else environ)
        values = source()
        origins = {name: source.origin(name) for name in source.found}
        for name, value in overrides.items():
            spec_of(name).put(values, value)
            if value is None:
                origins.pop(name, None)
            else:
                origins[name] = "override"
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(_explain(exc)) from None
        settings._origins = origins
        settings._notes = source.notes
        for note in source.notes:
            log.warning("%s", note)
        return settings

    # -- where values came from ----------------------------------------------------------

    def origin(self, name: str) -> str:
        """Where the setting ``name`` came from: ``default``, ``env`` (``env OLD_NAME``
        when an old name set it), ``override`` or ``generated``."""
        return self._origins.get(name, "default")

    def value_of(self, name: str) -> Any:
        """The value of the setting called ``name`` (``settings.value_of("WECHAT_TOKEN")``)."""
        return spec_of(name).value(self)

    def assign(self, name: str, value: object, origin: str) -> None:
        """Set the setting ``name`` after reading (development secrets are generated)."""
        spec = spec_of(name)
        setattr(spec.owner(self), spec.attr, value)
        self._origins[name] = origin

    @property
    def notes(self) -> list[str]:
        """Warnings about the variables read (old names in use)."""
        return list(self._notes)

    @property
    def generated_secrets(self) -> list[str]:
        """Names of the development secrets generated rather than configured."""
        return [name for name, origin in self._origins.items() if origin == "generated"]

    # -- derived values -------------------------------------------------------------------

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'intake.db').as_posix()}"

    @property
    def model_dir(self) -> Path:
        """Where NLU model artifacts live (``<data dir>/models`` unless overridden)."""
        return self.nlu.model_dir or self.data_dir / "models"

    @property
    def plain_mode_accepted(self) -> bool:
        """Whether ``/wechat`` accepts plain-mode messages (their signature covers token,
        timestamp and nonce only): always in development; in production only with
        ``INTAKE_ALLOW_PLAIN_MODE=true`` (without it production requires the AES key)."""
        return not self.production or self.wechat.allow_plain_mode

    @property
    def api_docs_enabled(self) -> bool:
        docs = self.server.api_docs
        return docs if docs is not None else not self.production


# -- the environment -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One setting: its name (the variable), where it lives, how it is documented."""

    env: str
    #: the section's field name on :class:`Settings` (``None``: a field of Settings itself)
    section: str | None
    attr: str
    field: FieldInfo

    @property
    def path(self) -> str:
        """``wechat.token``: how code reaches it from a :class:`Settings`."""
        return f"{self.section}.{self.attr}" if self.section else self.attr

    @property
    def doc(self) -> str:
        return self.field.description or ""

    def _extra(self, key: str) -> Any:
        extra = self.field.json_schema_extra
        return extra.get(key) if isinstance(extra, dict) else None

    @property
    def secret(self) -> bool:
        return bool(self._extra("secret"))

    @property
    def keep_empty(self) -> bool:
        return bool(self._extra("keep_empty"))

    @property
    def shown_default(self) -> str | None:
        shown = self._extra("shown")
        return str(shown) if shown is not None else None

    @property
    def default(self) -> Any:
        return self.field.default

    @property
    def old_names(self) -> tuple[str, ...]:
        return tuple(old for old, new in RENAMED.items() if new == self.env)

    def owner(self, settings: Settings) -> BaseModel:
        """The object holding this setting's attribute."""
        return getattr(settings, self.section) if self.section else settings

    def value(self, settings: Settings) -> Any:
        return getattr(self.owner(settings), self.attr)

    def put(self, values: dict[str, Any], value: object) -> None:
        """Place ``value`` into the nested input of :class:`Settings` (``None``: remove)."""
        target = values.setdefault(self.section, {}) if self.section else values
        if value is None:
            target.pop(self.env, None)
        else:
            target[self.env] = value


@cache
def setting_specs() -> tuple[SettingSpec, ...]:
    """Every setting, in the order of the README's table."""
    specs: list[SettingSpec] = []
    sections: list[tuple[str, type[BaseModel]]] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            sections.append((name, annotation))
        else:
            specs.append(SettingSpec(str(field.alias), None, name, field))
    for section, model in sections:
        for name, field in model.model_fields.items():
            specs.append(SettingSpec(str(field.alias), section, name, field))
    return tuple(specs)


@cache
def _specs_by_name() -> dict[str, SettingSpec]:
    return {spec.env: spec for spec in setting_specs()}


def spec_of(name: str) -> SettingSpec:
    """The setting called ``name``; :class:`ConfigurationError` when there is none."""
    spec = _specs_by_name().get(name)
    if spec is None:
        raise ConfigurationError(f"{name} is not a setting")
    return spec


def default_of(name: str) -> Any:
    """The default value of the setting ``name`` (for objects built without settings, such
    as a ticket configuration in a test, so that defaults live here only)."""
    return spec_of(name).default


#: prefixes of this project's variables (others in the environment are not ours to judge)
_OUR_PREFIXES = ("INTAKE_", "WECHAT_", "OPEN311_")
#: our prefixes, but read by the compose file or the tests, not by the product
_NOT_SETTINGS = frozenset(
    {
        "INTAKE_WEB_WORKERS",
        "INTAKE_LB_ADDRESS",
        "INTAKE_NETWORK_SUBNET",
        "INTAKE_TEST_REDIS_URL",
        "INTAKE_TEST_POSTGRES_URL",
    }
)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables with this project's prefixes that are no setting (typos, most likely)."""
    env = os.environ if environ is None else environ
    known = set(_specs_by_name()) | set(RENAMED) | _NOT_SETTINGS
    return sorted(name for name in env if name.startswith(_OUR_PREFIXES) and name not in known)


def export_for_child_processes(**values: str) -> None:
    """Put settings into this process's environment, for the processes it starts (uvicorn's
    ``--workers`` start fresh interpreters, which read the environment again)."""
    for name, value in values.items():
        spec_of(name)
        os.environ[name] = value


def section_titles() -> Iterator[tuple[str | None, str]]:
    """``(section, title)`` in table order; the title is the section class's first line."""
    yield None, "The process"
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            yield name, (annotation.__doc__ or name).strip().splitlines()[0].rstrip(".")


class EnvironmentSource(PydanticBaseSettingsSource):
    """Reads each setting's variable (or an old name of it) from an environment mapping.

    Values are stripped; an empty one counts as unset (compose files write ``VAR: ""`` for
    "not set") unless the setting gives the empty value a meaning.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ
        #: setting name → the variable that gave its value
        self.found: dict[str, str] = {}
        self.notes: list[str] = []

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        # Unused: __call__ walks the sections itself (pydantic-settings' own sources only
        # see top-level fields, and the variables here are flat).
        return None, field_name, False

    def origin(self, name: str) -> str:
        variable = self.found[name]
        return "env" if variable == name else f"env {variable}"

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for spec in setting_specs():
            for variable in (spec.env, *spec.old_names):
                raw = self._environ.get(variable)
                if raw is None or (not raw.strip() and not spec.keep_empty):
                    continue
                if spec.env in self.found:
                    self.notes.append(
                        f"{variable} is ignored: it is the old name of {spec.env}, which is set"
                    )
                    continue
                if variable != spec.env:
                    self.notes.append(
                        f"{variable} is deprecated and stops working in the next release: "
                        f"rename it to {spec.env}"
                    )
                self.found[spec.env] = variable
                spec.put(values, raw.strip())
        return values


def _explain(error: ValidationError) -> str:
    """One line about the first problem, naming the variable; a secret is never echoed."""
    first = error.errors()[0]
    specs = _specs_by_name()
    message = str(first["msg"]).removeprefix("Value error, ")
    loc = [str(part) for part in first["loc"]]
    name = next((part for part in reversed(loc) if part in specs), None)
    if name is None:
        return f"invalid setting: {message}"
    spec = specs[name]
    given = first.get("input")
    shown = "" if spec.secret or isinstance(given, dict) else f" (got {given!r})"
    return f"invalid setting {name}: {message}{shown}"
