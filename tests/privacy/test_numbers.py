"""privacy.numbers: phones, ID numbers and bank cards in every spelling, and what is not one."""

from __future__ import annotations

import pytest

from nlu.entities import extract_entities
from privacy import find_numbers, is_valid_id_number, luhn_valid, mask_id_number
from tests.nlu.test_entities import PHONES
from tests.privacy.spellings import (
    ID_15,
    ID_18,
    ID_18X,
    ID_SPELLINGS,
    MISTYPED,
    PHONE,
    PHONE_SPELLINGS,
)


def kinds(text: str) -> list[tuple[str, str, bool]]:
    return [(f.kind, f.value, f.certain) for f in find_numbers(text)]


@pytest.mark.parametrize("name", sorted(ID_SPELLINGS))
def test_every_spelling_of_an_id_number(name: str) -> None:
    spelled = ID_SPELLINGS[name]
    [found] = find_numbers(f"我的身份证是{spelled}，麻烦查一下")
    assert found.kind == "id_number"
    assert (found.start, found.end) == (6, 6 + len(spelled))
    mistyped = "mistyped" in name
    assert found.certain is not mistyped
    assert found.value == (MISTYPED if mistyped else ID_18X)


@pytest.mark.parametrize("name", sorted(PHONE_SPELLINGS))
def test_every_spelling_of_a_phone_number(name: str) -> None:
    spelled = PHONE_SPELLINGS[name]
    [found] = find_numbers(f"电话{spelled}谢谢")
    assert (found.kind, found.value, found.certain) == ("phone", PHONE, True)
    assert (found.start, found.end) == (2, 2 + len(spelled))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("010-12345678", [("phone", "01012345678", True)]),
        ("(021)12345678", [("phone", "02112345678", True)]),
        ("0755 8888 6666", [("phone", "075588886666", True)]),
        ("400-810-8888", [("phone", "4008108888", True)]),
        ("008613912345678", [("phone", "13912345678", True)]),
        (
            "13812345678 13987654321",
            [("phone", "13812345678", True), ("phone", "13987654321", True)],
        ),
        (ID_15, [("id_number", ID_15, True)]),
        (ID_18, [("id_number", ID_18, True)]),
        # an ID glued to a phone number
        (ID_18 + "13812345678", [("id_number", ID_18, True), ("phone", "13812345678", True)]),
        # a phone and an ID one space apart are two numbers, not one
        (f"13812345678 {ID_18}", [("phone", "13812345678", True), ("id_number", ID_18, True)]),
        ("幺幺零幺零五幺九九零零幺零幺幺二三二", [("id_number", ID_18, True)]),
        # bank cards: Luhn decides; a failing run in one piece or fours is a likely card
        ("6222021234567890128", [("bank_card", "6222021234567890128", True)]),
        ("6222 0212 3456 7890", [("bank_card", "6222021234567890", False)]),
    ],
)
def test_numbers(text: str, expected: list[tuple[str, str, bool]]) -> None:
    assert kinds(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23 19:42:01,123 INFO intake.updates: text from oWx1***abcd",
        "工单20261123-0042",
        "20261123",
        "2026年11月23日",
        "房租5000元",
        "邮编100000",
        "12345",
        "138123456789",  # 12 digits
        "1381234567",  # 10 digits
        "12345678901",  # not 1[3-9]
        "一二三四五六七八九十",
        "编号 12 34 56 78 90",
        "127.0.0.1:8000",
        "3-2-502",
    ],
)
def test_not_personal_numbers(text: str) -> None:
    assert find_numbers(text) == []


def test_every_phone_the_nlu_reads_is_found_here() -> None:
    """The phone the conversation takes from a message (nlu.entities) is one the redaction
    masks in that message's words: otherwise it would be stored whole with them."""
    for text, expected in PHONES:
        entities = [e for e in extract_entities(text) if e.entity == "phone"]
        found = [f for f in find_numbers(text) if f.kind == "phone"]
        assert len(found) == len(expected) == len(entities), text
        for entity, number in zip(entities, found, strict=True):
            assert entity.value.split("-")[0] == number.value, text
            assert number.start <= entity.start < entity.end <= number.end + 8, text


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (ID_18, True),
        (ID_18X, True),
        (ID_18X.lower(), True),
        (ID_15, True),
        (MISTYPED, False),
        ("110105209901011232", False),  # born in the future
        ("990105199001011232", False),  # no such province
        ("abc", False),
    ],
)
def test_is_valid_id_number(number: str, valid: bool) -> None:
    assert is_valid_id_number(number) is valid


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        (ID_18, "110105********1232"),
        (ID_18X.lower(), "110105********103X"),
        (ID_15, "130503*****1001"),
        ("110105–19900101–1232", "110105********1232"),
        ("１１０１０５１９９００１０１１２３２", "110105********1232"),
        ("12345", "*****"),
    ],
)
def test_mask_id_number(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


def test_the_runs_read_on_the_text_are_the_runs_of_the_shadow() -> None:
    # find_numbers finds the runs of digits on the text itself and reads them in the
    # shadow copy (every digit folded to ASCII, every separator to "-", brackets to "()",
    # the check character to "X"): the runs must be those of the folded text, or a number
    # would go unmasked.
    import random
    import re

    from privacy import numbers

    runs_of_the_shadow = re.compile(r"[0-9](?<![0-9][0-9])(?:[-()]{0,3}[0-9])*X?")

    alphabet = "0123456789０１２３４５６７８９٣३" + numbers.SEPARATORS + "()（）xXＸｘ+＋号码电话a"
    rng = random.Random(16)
    texts = [*ID_SPELLINGS.values(), *PHONE_SPELLINGS.values()]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    for text in texts:
        shadow = text.translate(numbers._SHADOW)
        assert [m.span() for m in numbers._TEXT_RUN_RE.finditer(text)] == [
            m.span() for m in runs_of_the_shadow.finditer(shadow)
        ], text
