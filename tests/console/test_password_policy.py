"""The password policy: length, common passwords (also decorated), repeated or sequential
characters, keyboard walks, the username; every refusal a Chinese sentence."""

from __future__ import annotations

import pytest

from integrations.accounts import AccountError, check_password, password_problem
from integrations.accounts.users import generate_password


@pytest.mark.parametrize(
    ("password", "username", "reason"),
    [
        ("abc12", "", "至少 10 位"),
        ("x" * 257, "", "最多"),
        ("aaaaaaaaaa", "", "重复或连续"),  # the ten identical characters
        ("ababababab", "", "重复或连续"),
        ("abcdefghijk", "", "重复或连续"),
        ("0987654321x", "", "重复或连续"),
        ("1qaz2wsx3edc", "", "重复或连续"),  # keyboard columns
        ("lkjhgfdsazx", "", "重复或连续"),  # a keyboard row, backwards
        ("k3j9mk3j9mk3", "", "重复或连续"),  # a unit repeated
        ("password123", "", "太常见"),
        ("P@ssw0rd2024!", "", "太常见"),
        ("!!Qwerty123456", "", "太常见"),
        ("woaini1314520", "", "太常见"),
        ("5201314520", "", "太常见"),
        ("iloveyou-1234", "", "太常见"),
        ("zhang.wei2024!", "zhang.wei", "用户名"),
        ("ZhangWei-Lamp-7", "zhang.wei", "用户名"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(
    password: str, username: str, reason: str
) -> None:
    problem = password_problem(password, username=username)
    assert problem and reason in problem
    with pytest.raises(AccountError, match=reason):
        check_password(password, username=username)


@pytest.mark.parametrize(
    ("password", "username"),
    [
        ("Lantern-harbor-42", "zhang.wei"),
        ("月光下的老槐树-1987", "li"),
        ("oliver-delight-77", "li"),  # a two-letter username is not searched for
        ("vK8pLq2mZr", ""),
        ("staff-password-123", "zhang.staff"),
    ],
)
def test_reasonable_passwords_pass(password: str, username: str) -> None:
    assert password_problem(password, username=username) is None


def test_generated_passwords_always_pass() -> None:
    for _ in range(200):
        assert password_problem(generate_password()) is None
