"""What production accepts as a secret: long enough, varied enough, not a known example.

``INTAKE_ENV=production`` refuses to start with one line naming the variable when a secret
fails :func:`secret_problem`. The rules are deliberately simple, so an operator can tell in
advance whether a value passes: at least ``min_length`` characters, at least
:data:`MIN_DISTINCT` different characters (``aaaaaaaaaaaaaaaa`` or ``abababab…`` are
refused), and neither a value published in documentation or examples nor a placeholder
(``changeme``, ``your-secret``, ``example``…). Generate secrets with
``python -c "import secrets; print(secrets.token_urlsafe(32))"``.
"""

from __future__ import annotations

__all__ = ["KNOWN_EXAMPLE_VALUES", "MIN_DISTINCT", "PLACEHOLDER_WORDS", "secret_problem"]

#: A random 16-character secret has far more; a repeated pattern has fewer.
MIN_DISTINCT = 6

#: Values printed in WeChat's and wechatpy's documentation and samples, in this project's
#: docs, and the usual defaults. Compared case-insensitively.
KNOWN_EXAMPLE_VALUES = frozenset(
    value.lower()
    for value in (
        # WeChat's and wechatpy's sample EncodingAESKeys and tokens
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
        "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
        "QDG6eK",
        "spamtest",
        "weixin",
        # this project's documentation
        "the-shared-secret",
        # the usual defaults
        "password",
        "password123",
        "secret",
        "token",
        "admin",
        "administrator",
        "0123456789abcdef",
        "1234567890abcdef",
        "abcdef0123456789",
        "abcdefghijklmnop",
        "qwertyuiopasdfgh",
    )
)

#: Parts of placeholder values people forget to replace.
PLACEHOLDER_WORDS = (
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "example",
    "placeholder",
    "your-",
    "your_",
    "yoursecret",
    "yourtoken",
    "xxxxxx",
    "todo",
)


def secret_problem(name: str, value: str, *, min_length: int = 16) -> str | None:
    """Why ``value`` is not acceptable as the secret ``name`` in production, or ``None``."""
    if len(value) < min_length:
        return f"{name} is too short: use at least {min_length} random characters"
    if len(set(value)) < MIN_DISTINCT:
        return (
            f"{name} is too repetitive (fewer than {MIN_DISTINCT} different characters): "
            "use a random value"
        )
    lowered = value.lower()
    if lowered in KNOWN_EXAMPLE_VALUES:
        return f"{name} is a published example or default value: use a random value of your own"
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return f"{name} looks like a placeholder: use a random value of your own"
    return None
