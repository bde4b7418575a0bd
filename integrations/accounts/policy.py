"""What a console password must not be: short, common, made of repeated or sequential
characters, or built from the username.

The rules follow NIST SP 800-63B: a minimum length and a check against known-weak values
instead of composition rules ("one digit, one symbol"), which people satisfy with
``Password1!``. Every refusal is one Chinese sentence that says what to change.
"""

from __future__ import annotations

import itertools
import re
from functools import cache
from pathlib import Path

from integrations.accounts.errors import AccountError

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "check_password", "password_problem"]

MIN_PASSWORD = 10
MAX_PASSWORD = 256
#: fewer different characters than this is a repetition (``ababababab``, ``1212121212``)
MIN_DISTINCT = 5
#: a password whose characters are this predictable is refused (see ``_surprises``)
MIN_SURPRISES = 5

_COMMON_FILE = Path(__file__).with_name("common_passwords.txt")
#: Digits and symbols people put around a word to pass a composition rule.
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NOT_ALNUM = re.compile(r"[\W_]+")
#: Rows and columns of a keyboard: walking along one is as guessable as ``abcdef``.
_KEYBOARD = (
    "1234567890-=",
    "qwertyuiop[]",
    "asdfghjkl;'",
    "zxcvbnm,./",
    "1qaz",
    "2wsx",
    "3edc",
    "4rfv",
    "5tgb",
    "6yhn",
    "7ujm",
    "8ik,",
    "9ol.",
    "0p;/",
)


@cache
def _common() -> frozenset[str]:
    lines = _COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


@cache
def _neighbours() -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for row in _KEYBOARD:
        for a, b in itertools.pairwise(row):
            pairs.update({(a, b), (b, a)})
    return frozenset(pairs)


def _predictable(previous: str, current: str) -> bool:
    """Whether ``current`` is what a guesser tries after ``previous``: the same character,
    the next or previous one (``a``→``b``, ``5``→``4``), or its keyboard neighbour."""
    if previous == current:
        return True
    if previous.isalnum() and current.isalnum() and abs(ord(previous) - ord(current)) == 1:
        return True
    return (previous, current) in _neighbours()


def _surprises(password: str) -> int:
    """How many characters a guesser could not predict from the one before: ``aaaaaaaaaa``
    and ``1234567890`` have 1, ``qwertyuiop`` has 1, ``1qaz2wsx3edc`` has 3."""
    lowered = password.lower()
    return 1 + sum(not _predictable(a, b) for a, b in itertools.pairwise(lowered))


def _periodic(password: str) -> bool:
    """A unit repeated (``abc123abc123``, ``k3j9mk3j9mk3``): each character equals the one a
    period earlier, for a period of at most half the length."""
    size = len(password)
    return any(
        all(password[i] == password[i - period] for i in range(period, size))
        for period in range(1, size // 2 + 1)
    )


def password_problem(password: str, *, username: str = "") -> str | None:
    """Why ``password`` is refused (one Chinese sentence), or ``None`` when it is fine."""
    if len(password) < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 位，请再长一些。"
    if len(password) > MAX_PASSWORD:
        return f"密码最多 {MAX_PASSWORD} 位。"
    lowered = password.lower()
    name = _NOT_ALNUM.sub("", username.lower())
    # Two-letter names ("li") occur inside too many good passwords to refuse them.
    if len(name) >= 3 and (username.lower() in lowered or name in _NOT_ALNUM.sub("", lowered)):
        return "密码里不能包含用户名，请换一个。"
    core = _DECORATION.sub("", lowered)
    if lowered in _common() or core in _common():
        return "这个密码太常见，很容易被猜到，请换一个。"
    if (
        len(set(lowered)) < MIN_DISTINCT
        or _surprises(password) < MIN_SURPRISES
        or _periodic(lowered)
    ):
        return "密码里重复或连续的字符太多（比如 aaaa、1234、qwer），请换一个。"
    return None


def check_password(password: str, *, username: str = "") -> None:
    """Raise :class:`AccountError` with the reason when ``password`` is too weak."""
    problem = password_problem(password, username=username)
    if problem:
        raise AccountError(problem)
