"""privacy.masking: what logs and console pages show (mask_text), what is stored (redact),
and the fields shown before a reveal."""

from __future__ import annotations

import time

import pytest

import privacy.masking
from privacy import mask_address, mask_openid, mask_phone, mask_text, redact
from tests.privacy.spellings import (
    ID_15,
    ID_18,
    ID_18X,
    ID_SPELLINGS,
    PHONE,
    PHONE_SPELLINGS,
    holds,
)


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        # mobiles: first 3 and last 4 digits, a country code kept
        ("电话13812345678", "电话138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("+86 13812345678", "+86 138****5678"),
        ("8613912345678", "86139****5678"),
        ("１３８１２３４５６７８", "１３８****５６７８"),
        ("我的电话13812345678，我老婆13987654321", "我的电话138****5678，我老婆139****4321"),
        ("幺三八一二三四五六七八", "幺三八****五六七八"),
        ("一三九，八七六五，四三二一", "一三九****四三二一"),
        # landlines and service numbers
        ("010-12345678", "010****5678"),
        ("(021)12345678", "021****5678"),
        ("010-12345678转123", "010****5678转123"),
        ("400-810-8888", "400****8888"),
        # ID numbers: first 6 and last 4, valid or mistyped, any spelling
        (f"身份证{ID_18}", "身份证110105********1232"),
        ("110105–19900101–103X", "110105********103X"),
        ("110105199001011234", "110105********1234"),
        (ID_15, "130503*****1001"),
        ("全角１１０１０５１９９００３０７１２３４", "全角１１０１０５********１２３４"),
        # bank cards, checksum or not
        ("卡号6222021234567890123", "卡号6222****0123"),
        ("6222 0212 3456 7890", "6222****7890"),
        # addresses: names kept, numbers masked
        ("幸福小区3号楼2单元502室", "幸福小区*号楼*单元*室"),
        ("幸福路88号", "幸福路*号"),
        ("长乐路123弄4号", "长乐路*弄*号"),
        ("三号楼二单元", "*号楼*单元"),
        ("朝阳区花家地社区3-2-502", "朝阳区花家地社区*-*-*"),
        ("住3楼", "住*楼"),
        (
            f"张三 13812345678 身份证{ID_18} 住幸福小区3号楼2单元502室",
            "张三 138****5678 身份证110105********1232 住幸福小区*号楼*单元*室",
        ),
    ],
)
def test_mask_text(line: str, masked: str) -> None:
    assert mask_text(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-23 19:42:01,123 INFO intake.updates: text from oWx1***abcd 'hi' → reply",
        "resident lock busy for 4s",
        "11月20号晚上十点",
        "房租5000元",
        "工单20261123-0042",
        "一直没人管，一点用都没有",
        "3楼下面",
        "sent template tpl_1 to oWx1***abcd, msgid 24612345678901234567",
        "msgid 6222021234567890123",  # a WeChat message id, not a card
        "",
    ],
)
def test_lines_without_personal_data_are_unchanged(line: str) -> None:
    assert mask_text(line) == line


@pytest.mark.parametrize("name", sorted(ID_SPELLINGS))
def test_no_spelling_of_an_id_survives(name: str) -> None:
    line = f"身份证{ID_SPELLINGS[name]}办低保"
    for out in (mask_text(line), redact(line), redact(line, keep_phones=True)):
        assert not holds(out, ID_SPELLINGS[name]), out
        assert "19900101" not in out.replace("-", "")


@pytest.mark.parametrize("name", sorted(PHONE_SPELLINGS))
def test_no_spelling_of_a_phone_survives(name: str) -> None:
    line = f"有事打{PHONE_SPELLINGS[name]}找我"
    assert not holds(mask_text(line), PHONE)
    assert not holds(redact(line), PHONE)
    assert redact(line, keep_phones=True) == line


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("身份证11010519900307123x。", "身份证110105********123x。"),
        ("老身份证110105900307123", "老身份证110105*****7123"),
        ("110105 19900307 123X", "110105********123X"),
        ("电话13800138000", "电话138****8000"),
        ("卡号6222021234567890128", "卡号6222****0128"),  # passes Luhn: a card
        ("订单6222021234567890123", "订单6222021234567890123"),  # fails it: an order number
        ("幸福小区3号楼2单元502室", "幸福小区3号楼2单元502室"),  # staff need the address
        ("", ""),
    ],
)
def test_redact(text: str, stored: str) -> None:
    assert redact(text) == stored


def test_redact_keeps_other_phones_but_hides_given_ones() -> None:
    note = "已电话联系居民13812345678，另请联系物业010-62345678"
    assert redact(note, keep_phones=True) == note
    assert (
        redact(note, keep_phones=True, hide_phones=["138 1234 5678"])
        == "已电话联系居民138****5678，另请联系物业010-62345678"
    )


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("01012345678-123", "010****5678-123"),
        ("+86 138 1234 5678", "+86 138****5678"),
        ("联系物业 62345678", "联系物业 623****5678"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(phone: str | None, masked: str) -> None:
    assert mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("北京市朝阳区幸福路88号幸福小区3号楼502", "北京市朝阳区幸福路****"),
        ("幸福小区3号楼2单元502", "幸福小区****"),
        ("北京市朝阳区", "北京市朝阳区"),
        ("", ""),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


@pytest.mark.parametrize(
    ("openid", "masked"),
    [("oWx1234567890abcd", "oWx1***abcd"), ("short", "***"), ("", "***")],
)
def test_mask_openid(openid: str, masked: str) -> None:
    assert mask_openid(openid) == masked


@pytest.mark.parametrize(
    ("weird", "masked"),
    [
        (None, "None"),
        (13812345678, "138****5678"),
        (b"13812345678", "b'138****5678'"),
        ("\ud800\udfff13812345678", "\ud800\udfff138****5678"),
        ("\x00" * 10, "\x00" * 10),
    ],
)
def test_mask_text_never_raises_on_odd_input(weird: object, masked: str) -> None:
    assert mask_text(weird) == masked  # type: ignore[arg-type]


def test_a_failure_withholds_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> list[object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(privacy.masking, "find_numbers", boom)
    masked = mask_text("电话13812345678")
    assert "13812345678" not in masked
    assert masked == privacy.masking.WITHHELD


def test_long_digit_runs_are_linear() -> None:
    started = time.perf_counter()
    masked = mask_text("1" * 50000 + " " + "1-" * 20000 + "幺" * 20000 + "3号" * 10000)
    assert time.perf_counter() - started < 2.0
    assert isinstance(masked, str)
    glued = ID_18X * 3000
    assert ID_18X not in mask_text(glued)
