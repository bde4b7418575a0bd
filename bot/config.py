"""Typed settings from environment variables, built once at start-up (never at import).

On the embedded default (``INTAKE_ENV=development``) nothing needs to be set: missing WeChat
secrets and the admin token are generated once, kept in ``data/dev-secrets.json`` and
printed. With ``INTAKE_ENV=production`` whatever is unsafe stops start-up with one clear line
(:class:`~integrations.errors.ConfigurationError`): a missing, weak or example secret
(:mod:`bot.secret_strength`), no ``REDIS_URL``, and plain mode (no
``WECHAT_ENCODING_AES_KEY``) unless ``INTAKE_ALLOW_PLAIN_MODE=true`` says it is meant.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.secret_strength import secret_problem
from bot.wechat.security import decode_aes_key
from integrations.errors import ConfigurationError
from integrations.private_files import write_private_file
from privacy import Sealer

__all__ = ["Settings", "load_settings"]

_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
_DEV_SECRET_FIELDS = (
    "wechat_token",
    "wechat_app_id",
    "wechat_app_secret",
    "admin_token",
    "personal_data_key",
)


class Settings(BaseSettings):
    """Every setting of the product; the README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    env: Literal["development", "production"] = Field("development", alias="INTAKE_ENV")
    host: str = Field("127.0.0.1", alias="INTAKE_HOST")
    port: int = Field(8000, alias="INTAKE_PORT", ge=1, le=65535)
    data_dir: Path = Field(Path("data"), alias="INTAKE_DATA_DIR")
    model_dir_override: Path | None = Field(None, alias="INTAKE_MODEL_DIR")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")

    wechat_token: str | None = Field(None, alias="WECHAT_TOKEN")
    wechat_app_id: str | None = Field(None, alias="WECHAT_APP_ID")
    wechat_app_secret: str | None = Field(None, alias="WECHAT_APP_SECRET")
    wechat_encoding_aes_key: str | None = Field(None, alias="WECHAT_ENCODING_AES_KEY")
    wechat_api_base_url: str = Field("https://api.weixin.qq.com", alias="WECHAT_API_BASE_URL")
    admin_token: str | None = Field(None, alias="INTAKE_ADMIN_TOKEN")
    #: seals the phone number a conversation holds in the state store (privacy.Sealer)
    personal_data_key: str | None = Field(None, alias="INTAKE_PERSONAL_DATA_KEY")
    #: the previous key, still opening what it sealed while the key changes
    personal_data_previous_key: str | None = Field(
        None, alias="INTAKE_PERSONAL_DATA_PREVIOUS_KEY"
    )
    #: days after which chat text (ticket chats, handoff lines, review items) is purged
    chat_retention_days: int = Field(180, alias="INTAKE_CHAT_RETENTION_DAYS", ge=0)

    reply_deadline: float = Field(4.0, alias="INTAKE_REPLY_DEADLINE", gt=0, le=4.8)
    timestamp_window: float = Field(300.0, alias="INTAKE_TIMESTAMP_WINDOW", gt=0)
    max_body_bytes: int = Field(64 * 1024, alias="INTAKE_MAX_BODY_BYTES", gt=0)
    dialogue_ttl: float = Field(24 * 3600.0, alias="INTAKE_DIALOGUE_TTL", gt=0)
    log_level: str = Field("INFO", alias="INTAKE_LOG_LEVEL")
    inprocess_worker: bool = Field(True, alias="INTAKE_INPROCESS_WORKER")
    dispatch_callback_secret: str | None = Field(None, alias="INTAKE_DISPATCH_CALLBACK_SECRET")
    #: still accepted while the dispatch system moves to a new secret (docs/security.md)
    dispatch_callback_previous_secret: str | None = Field(
        None, alias="INTAKE_DISPATCH_CALLBACK_PREVIOUS_SECRET"
    )
    #: plain mode in production (its signature does not cover the message body)
    allow_plain_mode: bool = Field(False, alias="INTAKE_ALLOW_PLAIN_MODE")
    #: ``/api/docs``, ``/redoc`` and ``/openapi.json``; unset: on in development only
    api_docs: bool | None = Field(None, alias="INTAKE_API_DOCS")
    #: addresses or networks of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: str = Field("", alias="INTAKE_TRUSTED_PROXIES")

    _generated: list[str] = PrivateAttr(default_factory=list)
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

    @property
    def generated_secrets(self) -> list[str]:
        """Names of the development secrets that were generated rather than configured."""
        return list(self._generated)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def model_dir(self) -> Path:
        """Where NLU model artifacts live (``<data dir>/models`` unless overridden)."""
        return self.model_dir_override or self.data_dir / "models"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'intake.db').as_posix()}"

    @property
    def safe_mode(self) -> bool:
        return bool(self.wechat_encoding_aes_key)

    @property
    def plain_mode_accepted(self) -> bool:
        """Whether ``/wechat`` accepts plain-mode messages (their signature covers token,
        timestamp and nonce only): always in development; in production only with
        ``INTAKE_ALLOW_PLAIN_MODE=true`` (without it production requires the AES key)."""
        return not self.production or self.allow_plain_mode

    def sealer(self) -> Sealer:
        """Seals personal data kept in the state store (``INTAKE_PERSONAL_DATA_KEY``, the
        previous key still opening what it sealed)."""
        assert self.personal_data_key, "load_settings fills or requires the key"
        previous = [self.personal_data_previous_key] if self.personal_data_previous_key else []
        return Sealer(self.personal_data_key, previous)

    @property
    def api_docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else not self.production

    def require_secrets(self) -> None:
        """Raise :class:`ConfigurationError` naming the first missing, weak or unsafe
        production setting."""
        for name, value in (
            ("WECHAT_TOKEN", self.wechat_token),
            ("WECHAT_APP_ID", self.wechat_app_id),
            ("WECHAT_APP_SECRET", self.wechat_app_secret),
            ("INTAKE_ADMIN_TOKEN", self.admin_token),
        ):
            if not value:
                raise ConfigurationError(f"{name} is not set (required when INTAKE_ENV=production)")
        assert self.wechat_token is not None and self.admin_token is not None
        assert self.wechat_app_secret is not None
        if not _TOKEN_RE.match(self.wechat_token):
            raise ConfigurationError("WECHAT_TOKEN must be 3-32 letters or digits")
        if len(self.admin_token) < 16:
            raise ConfigurationError("INTAKE_ADMIN_TOKEN must be at least 16 characters")
        self.check_aes_key()
        if not self.personal_data_key:
            raise ConfigurationError(
                "INTAKE_PERSONAL_DATA_KEY is not set (required when INTAKE_ENV=production: it "
                "seals the phone numbers conversations keep in Redis)"
            )
        secrets_to_check = [
            ("WECHAT_TOKEN", self.wechat_token),
            ("WECHAT_APP_SECRET", self.wechat_app_secret),
            ("INTAKE_ADMIN_TOKEN", self.admin_token),
            ("WECHAT_ENCODING_AES_KEY", self.wechat_encoding_aes_key),
            ("INTAKE_DISPATCH_CALLBACK_SECRET", self.dispatch_callback_secret),
            ("INTAKE_PERSONAL_DATA_KEY", self.personal_data_key),
        ]
        for name, secret in secrets_to_check:
            problem = secret_problem(name, secret) if secret else None
            if problem:
                raise ConfigurationError(problem)
        if not self.redis_url:
            # Sessions, dedup, locks and replay ledgers must outlive a process and be shared.
            raise ConfigurationError(
                "REDIS_URL is not set (required when INTAKE_ENV=production: dialogue state, "
                "dedup and sessions must be shared and survive a restart)"
            )
        if not self.safe_mode and not self.allow_plain_mode:
            raise ConfigurationError(
                "WECHAT_ENCODING_AES_KEY is not set: production runs WeChat's safe (AES) mode; "
                "set INTAKE_ALLOW_PLAIN_MODE=true to accept plain mode, whose signature does "
                "not cover the message body"
            )

    def check_aes_key(self) -> None:
        if self.wechat_encoding_aes_key:
            try:
                decode_aes_key(self.wechat_encoding_aes_key)
            except ValueError as exc:
                raise ConfigurationError(f"WECHAT_ENCODING_AES_KEY is invalid: {exc}") from None


def _generate_dev_secrets() -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "wechat_token": "".join(secrets.choice(alphabet) for _ in range(24)),
        "wechat_app_id": "wxdev" + secrets.token_hex(6),
        "wechat_app_secret": secrets.token_hex(16),
        "admin_token": secrets.token_urlsafe(24),
        "personal_data_key": secrets.token_urlsafe(32),
    }


def _fill_dev_secrets(settings: Settings) -> list[str]:
    """Fill unset secrets from ``data/dev-secrets.json`` (created once); return what was filled."""
    missing = [name for name in _DEV_SECRET_FIELDS if not getattr(settings, name)]
    if not missing:
        return []
    path = settings.data_dir / "dev-secrets.json"
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if any(name not in stored for name in missing):
        stored = {**_generate_dev_secrets(), **stored}
        write_private_file(path, json.dumps(stored, indent=2))  # the data directory too
    for name in missing:
        setattr(settings, name, stored[name])
    return missing


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus ``overrides``, by field name), validate, fill dev secrets.

    Raises :class:`ConfigurationError` with one line per problem a person can act on.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"invalid setting {where}: {first['msg']}") from None
    if settings.production:
        settings.require_secrets()
    else:
        settings.check_aes_key()
        settings._generated = _fill_dev_secrets(settings)
    return settings
