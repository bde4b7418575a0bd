"""nlu.pii: personal data never reaches a log line."""

from __future__ import annotations

import time

import pytest

from nlu.pii import mask_id_number, mask_openid, mask_pii

# Valid ID numbers (GB 11643 checksums), fictitious people.
ID_18 = "110105199001011232"
ID_18X = "11010519900101103X"
ID_15 = "130503670401001"


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        # mobiles: first 3 and last 4 kept, separators and +86 kept
        ("电话13812345678", "电话138****5678"),
        ("138 1234 5678", "138 **** 5678"),
        ("138-1234-5678", "138-****-5678"),
        ("+86 13812345678", "+86 138****5678"),
        ("8613912345678", "86139****5678"),
        ("008613912345678", "0086139****5678"),
        ("１３８１２３４５６７８", "１３８****５６７８"),
        ("13812345678 13987654321", "138****5678 139****4321"),
        ("我的电话13812345678，我老婆13987654321", "我的电话138****5678，我老婆139****4321"),
        # landlines and service numbers
        ("010-12345678", "010-****5678"),
        ("0755 8888 6666", "075* **** 6666"),
        ("(021)12345678", "(021)****5678"),
        ("（０２１）１２３４５６７８", "（０２１）****５６７８"),
        ("010-12345678转123", "010-****5678转123"),
        ("400-810-8888", "400-***-8888"),
        # ID numbers: first 6 and last 4, valid or not
        (f"身份证{ID_18}", "身份证110105********1232"),
        (ID_18X, "110105********103X"),
        (ID_18X.lower(), "110105********103X"),
        ("110105199001011234", "110105********1234"),  # bad checksum: still masked
        ("110105 19900101 1232", "110105********1232"),
        (ID_15, "130503*****1001"),
        # bank cards: first 4 and last 4
        ("卡号6222021234567890123", "卡号6222***********0123"),
        ("6222 0212 3456 7890", "6222 **** **** 7890"),
        ("6222 0212 3456 7890 123", "6222 **** **** ***0 123"),
        # spoken mobile numbers
        ("幺三八一二三四五六七八", "幺三八****五六七八"),
        ("一三九，八七六五，四三二一", "一三九，****，四三二一"),
        # addresses: names kept, numbers masked
        ("幸福小区3号楼2单元502室", "幸福小区*号楼*单元*室"),
        ("幸福路88号", "幸福路*号"),
        ("长乐路123弄4号", "长乐路*弄*号"),
        ("3号楼2单元1502", "*号楼*单元*"),
        ("三号楼二单元", "*号楼*单元"),
        ("朝阳区花家地社区3-2-502", "朝阳区花家地社区*-*-*"),
        ("万达广场b座12层", "万达广场b座*层"),
        ("住3楼", "住*楼"),
        ("3栋502室", "*栋*室"),
        # everything at once
        (
            f"张三 13812345678 身份证{ID_18} 住幸福小区3号楼2单元502室",
            "张三 138****5678 身份证110105********1232 住幸福小区*号楼*单元*室",
        ),
    ],
)
def test_mask_pii(line: str, masked: str) -> None:
    assert mask_pii(line) == masked


@pytest.mark.parametrize(
    "line",
    [
        "2026-11-23 19:42:01,123 INFO intake.updates: text from oWx1***abcd 'hi' → reply in 2.3 ms",
        "resident lock busy for 4s",
        "11月20号晚上十点",
        "2026年11月23日",
        "房租5000元",
        "邮编100000",
        "工单20261123-0042",
        "一直没人管，一点用都没有",
        "3楼下面",
        "第3号",
        "sent template tpl_1 to oWx1***abcd, msgid 24612345678901234567",
        "msgid 6222021234567890123",  # a WeChat message id, not a card
        "",
    ],
)
def test_lines_without_personal_data_are_unchanged(line: str) -> None:
    assert mask_pii(line) == line


@pytest.mark.parametrize(
    "secret",
    ["13812345678", "13987654321", ID_18, ID_18X, ID_15, "6222021234567890123", "12345678"],
)
def test_no_secret_survives(secret: str) -> None:
    line = (
        "用户反映：电话13812345678或13987654321，"
        f"身份证{ID_18}/{ID_18X}/{ID_15}，卡号6222021234567890123，座机010-12345678"
    )
    assert secret not in mask_pii(line)


@pytest.mark.parametrize(
    ("weird", "masked"),
    [
        (None, "None"),
        (13812345678, "138****5678"),
        (b"13812345678", "b'138****5678'"),
        (3.5, "3.5"),
        ("\ud800\udfff13812345678", "\ud800\udfff138****5678"),
        ("\x00" * 10, "\x00" * 10),
    ],
)
def test_never_raises_on_odd_input(weird: object, masked: str) -> None:
    assert mask_pii(weird) == masked  # type: ignore[arg-type]


def test_a_failure_withholds_the_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import nlu.pii

    def boom(_: object) -> str:
        raise RuntimeError("bug")

    monkeypatch.setattr(nlu.pii, "_mask_cluster", boom)
    masked = mask_pii("电话13812345678")
    assert "13812345678" not in masked
    assert masked.startswith("<log line withheld")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        (ID_18, "110105********1232"),
        (ID_18X.lower(), "110105********103X"),
        (ID_15, "130503*****1001"),
        ("110105 19900101 1232", "110105********1232"),
        ("12345", "*****"),
    ],
)
def test_mask_id_number(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


@pytest.mark.parametrize(
    ("openid", "masked"),
    [
        ("oWx1234567890abcd", "oWx1***abcd"),
        ("oWx1234567890abcdefghijklmn", "oWx1***klmn"),
        ("short", "***"),
        ("12345678", "***"),
        ("", "***"),
    ],
)
def test_mask_openid(openid: str, masked: str) -> None:
    assert mask_openid(openid) == masked


def test_mask_openid_never_raises() -> None:
    assert mask_openid(None) == "***"  # type: ignore[arg-type]


def test_mask_pii_is_fast() -> None:
    """Runs on every log line: a generous bound that catches pathological regressions."""
    lines = [
        "2026-11-23 19:42:01,123 INFO intake.updates: text from oWx1***abcd 'hello' → reply",
        "text from oWx1***abcd '路灯坏了，电话13812345678，幸福小区3号楼2单元502室' → reply",
    ]
    started = time.perf_counter()
    for _ in range(2000):
        for line in lines:
            mask_pii(line)
    assert (time.perf_counter() - started) / 4000 < 0.0005


def test_long_digit_runs_are_linear() -> None:
    started = time.perf_counter()
    masked = mask_pii("1" * 50000 + " " + "1-" * 20000 + "幺" * 20000 + "3号" * 10000)
    assert time.perf_counter() - started < 1.0
    assert isinstance(masked, str)
