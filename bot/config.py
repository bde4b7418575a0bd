"""Start-up configuration: read :class:`core.settings.Settings` once, make it safe to run.

On the embedded default (``INTAKE_ENV=development``) nothing needs to be set: missing WeChat
secrets, the admin token and the personal-data key are generated once, kept in
``data/dev-secrets.json`` and printed. With ``INTAKE_ENV=production`` whatever is unsafe
stops start-up with one clear line (:class:`~core.errors.ConfigurationError`): a missing,
weak or example secret (:mod:`bot.secret_strength`), no ``REDIS_URL``, and plain mode (no
``WECHAT_ENCODING_AES_KEY``) unless ``INTAKE_ALLOW_PLAIN_MODE=true`` says it is meant.
``intake config check`` lists every such problem at once (:func:`production_problems`).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping
from pathlib import Path

from bot.secret_strength import secret_problem
from bot.wechat.security import decode_aes_key
from core.errors import ConfigurationError
from core.settings import Settings
from integrations.private_files import write_private_file
from policies.workdays import load_calendar_overrides, load_department_hours
from privacy import Sealer

__all__ = [
    "DEV_SECRETS",
    "Settings",
    "aes_key_problem",
    "load_settings",
    "production_problems",
    "read_settings",
    "sealer",
    "stored_dev_secrets",
]

_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")

#: key in ``data/dev-secrets.json`` → the setting it fills (the keys predate the names)
DEV_SECRETS: Mapping[str, str] = {
    "wechat_token": "WECHAT_TOKEN",
    "wechat_app_id": "WECHAT_APP_ID",
    "wechat_app_secret": "WECHAT_APP_SECRET",
    "admin_token": "INTAKE_ADMIN_TOKEN",
    "personal_data_key": "INTAKE_PERSONAL_DATA_KEY",
}


def read_settings(environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
    """The settings as configured, judged on nothing: no secrets generated, no production
    refusal (``intake nlu`` and ``intake config check`` need no more)."""
    return Settings.read(environ, **overrides)


def load_settings(environ: Mapping[str, str] | None = None, /, **overrides: object) -> Settings:
    """The settings a process runs with, read once at start-up.

    ``overrides`` are by setting name (``INTAKE_DATA_DIR=...``). In production, raises
    :class:`ConfigurationError` with the first problem of :func:`production_problems`;
    in development fills unset secrets from ``data/dev-secrets.json`` (made once).
    """
    settings = Settings.read(environ, **overrides)
    check_clock_files(settings)
    if settings.production:
        problems = production_problems(settings)
        if problems:
            raise ConfigurationError(problems[0])
    else:
        problem = aes_key_problem(settings)
        if problem:
            raise ConfigurationError(problem)
        _fill_dev_secrets(settings)
    return settings


def check_clock_files(settings: Settings) -> None:
    """Read the working-day calendar and office-hours files once, so a typo stops start-up
    with one line naming the variable, the file and the entry (not the first deadline)."""
    tickets = settings.tickets
    for name, path, load in (
        ("INTAKE_WORKDAY_CALENDAR_FILE", tickets.workday_calendar_file, load_calendar_overrides),
        ("INTAKE_OFFICE_HOURS_FILE", tickets.office_hours_file, load_department_hours),
    ):
        if path is not None:
            try:
                load(path)
            except ValueError as exc:
                raise ConfigurationError(f"invalid setting {name}: {exc}") from None


def production_problems(settings: Settings) -> list[str]:
    """Every reason production would refuse ``settings``, one line each, most basic first."""
    wechat, server, privacy = settings.wechat, settings.server, settings.privacy
    problems: list[str] = []
    for name, value in (
        ("WECHAT_TOKEN", wechat.token),
        ("WECHAT_APP_ID", wechat.app_id),
        ("WECHAT_APP_SECRET", wechat.app_secret),
        ("INTAKE_ADMIN_TOKEN", server.admin_token),
    ):
        if not value:
            problems.append(f"{name} is not set (required when INTAKE_ENV=production)")
    if wechat.token and not _TOKEN_RE.match(wechat.token):
        problems.append("WECHAT_TOKEN must be 3-32 letters or digits")
    if server.admin_token and len(server.admin_token) < 16:
        problems.append("INTAKE_ADMIN_TOKEN must be at least 16 characters")
    aes_problem = aes_key_problem(settings)
    if aes_problem:
        problems.append(aes_problem)
    if not privacy.key:
        problems.append(
            "INTAKE_PERSONAL_DATA_KEY is not set (required when INTAKE_ENV=production: it "
            "seals the phone numbers conversations keep in Redis)"
        )
    for name, secret in (
        ("WECHAT_TOKEN", wechat.token),
        ("WECHAT_APP_SECRET", wechat.app_secret),
        ("INTAKE_ADMIN_TOKEN", server.admin_token),
        ("WECHAT_ENCODING_AES_KEY", wechat.encoding_aes_key),
        ("INTAKE_DISPATCH_CALLBACK_SECRET", settings.dispatch.callback_secret),
        ("INTAKE_PERSONAL_DATA_KEY", privacy.key),
        ("INTAKE_ANALYTICS_WEBHOOK_SECRET", settings.analytics.webhook_secret),
        ("INTAKE_SMS_HOOK_SECRET", settings.pushes.sms_hook_secret),
        ("INTAKE_WARNING_WEBHOOK_SECRET", settings.tickets.warning_webhook_secret),
    ):
        problem = secret_problem(name, secret) if secret else None
        if problem and not (name == "WECHAT_ENCODING_AES_KEY" and aes_problem):
            problems.append(problem)
    hook = settings.pushes.sms_hook_url
    if hook and not hook.startswith("https://"):
        # The hook carries residents' phone numbers and what happened to their tickets.
        problems.append("INTAKE_SMS_HOOK_URL must be https:// in production (it carries phones)")
    if not settings.redis_url:
        # Sessions, dedup, locks and replay ledgers must outlive a process and be shared.
        problems.append(
            "REDIS_URL is not set (required when INTAKE_ENV=production: dialogue state, "
            "dedup and sessions must be shared and survive a restart)"
        )
    if not wechat.encoding_aes_key and not wechat.allow_plain_mode:
        problems.append(
            "WECHAT_ENCODING_AES_KEY is not set: production runs WeChat's safe (AES) mode; "
            "set INTAKE_ALLOW_PLAIN_MODE=true to accept plain mode, whose signature does "
            "not cover the message body"
        )
    return problems


def aes_key_problem(settings: Settings) -> str | None:
    """Why ``WECHAT_ENCODING_AES_KEY`` cannot be used (``None``: unset or fine)."""
    key = settings.wechat.encoding_aes_key
    if not key:
        return None
    try:
        decode_aes_key(key)
    except ValueError as exc:
        return f"WECHAT_ENCODING_AES_KEY is invalid: {exc}"
    return None


def sealer(settings: Settings) -> Sealer:
    """Seals personal data kept in the state store (``INTAKE_PERSONAL_DATA_KEY``, the
    previous key still opening what it sealed)."""
    key, previous = settings.privacy.key, settings.privacy.previous_key
    assert key, "load_settings fills or requires the key"
    return Sealer(key, [previous] if previous else [])


def _dev_secrets_path(settings: Settings) -> Path:
    return settings.data_dir / "dev-secrets.json"


def stored_dev_secrets(settings: Settings) -> dict[str, str]:
    """What ``data/dev-secrets.json`` holds, by setting name (empty when not made yet)."""
    path = _dev_secrets_path(settings)
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} cannot be read ({exc.__class__.__name__})") from None
    return {DEV_SECRETS[key]: str(value) for key, value in stored.items() if key in DEV_SECRETS}


def _generate_dev_secrets() -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "wechat_token": "".join(secrets.choice(alphabet) for _ in range(24)),
        "wechat_app_id": "wxdev" + secrets.token_hex(6),
        "wechat_app_secret": secrets.token_hex(16),
        "admin_token": secrets.token_urlsafe(24),
        "personal_data_key": secrets.token_urlsafe(32),
    }


def _fill_dev_secrets(settings: Settings) -> None:
    """Fill unset secrets from ``data/dev-secrets.json`` (created once)."""
    missing = [
        key for key, name in DEV_SECRETS.items() if settings.origin(name) == "default"
    ]
    if not missing:
        return
    path = _dev_secrets_path(settings)
    stored: dict[str, str] = {}
    if path.exists():
        stored = json.loads(path.read_text())
    if any(key not in stored for key in missing):
        stored = {**_generate_dev_secrets(), **stored}
        write_private_file(path, json.dumps(stored, indent=2))  # the data directory too
    for key in missing:
        settings.assign(DEV_SECRETS[key], stored[key], "generated")
