"""privacy.sealing: the phone a conversation keeps in Redis is sealed, bound to the
resident, and still opens across a key change when the previous key is kept."""

from __future__ import annotations

import pytest

from privacy import Sealer, SealError, is_sealed

KEY = "k9Vd-2pQx_7LmN4rTs8wYb1cQ3eR5tY7uI9oP1aS"
OTHER = "Zq4wTn8uKc2hRb6yLp0xVb3nM5kJ7hG9fD1sA2q"


def test_a_sealed_phone_opens_for_its_resident_only() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("13812345678", context="o-resident-1")
    assert is_sealed(sealed) and "13812345678" not in sealed and "5678" not in sealed
    assert sealer.seal("13812345678", context="o-resident-1") != sealed  # a fresh nonce
    assert sealer.open(sealed, context="o-resident-1") == "13812345678"
    with pytest.raises(SealError):
        sealer.open(sealed, context="o-resident-2")


def test_rotation_opens_with_the_previous_key_and_seals_with_the_new() -> None:
    old = Sealer(OTHER).seal("13812345678", context="o-1")
    rotated = Sealer(KEY, previous=[OTHER])
    assert rotated.open(old, context="o-1") == "13812345678"
    assert Sealer(KEY).open(rotated.seal("x", context="o-1"), context="o-1") == "x"
    with pytest.raises(SealError, match="key"):
        Sealer(KEY).open(old, context="o-1")


@pytest.mark.parametrize(
    "token",
    ["13812345678", "sealed:v1:", "sealed:v1:abcd:", "sealed:v1:xxxxxxxx:AAAA", "sealed:v1:%s:!!"],
)
def test_what_does_not_open_raises_seal_error(token: str) -> None:
    sealer = Sealer(KEY)
    key_id = sealer.seal("x", context="o").split(":")[2]
    with pytest.raises(SealError):
        sealer.open(token.replace("%s", key_id), context="o")


def test_a_tampered_value_does_not_open() -> None:
    sealer = Sealer(KEY)
    sealed = sealer.seal("13812345678", context="o")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealError):
        sealer.open(tampered, context="o")


def test_a_key_is_required() -> None:
    with pytest.raises(ValueError):
        Sealer("")
