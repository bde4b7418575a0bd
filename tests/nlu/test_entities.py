"""nlu.entities: exact spans into the original text, normalised values, no false positives.

Each expectation is ``(entity, value, start, end, surface)``; ``surface`` is
``text[start:end]`` of the ORIGINAL message and is checked too, so a wrong offset shows
up as a readable diff.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time

import pytest

import nlu.entities as entities_module
from nlu.entities import (
    EXTRACTOR,
    Entity,
    Specificity,
    address_specificity,
    extract_entities,
    is_specific_location,
    is_valid_id_number,
)
from nlu.normalize import normalize_aligned

Expected = tuple[str, str, int, int, str]

# Valid ID numbers (GB 11643 checksums), fictitious people.
ID_18 = "110105199001011232"
ID_18X = "11010519900101103X"
ID_15 = "130503670401001"


def found(text: str, kind: str | None = None) -> list[Expected]:
    result = []
    for e in extract_entities(text):
        if kind is None or e.entity == kind:
            result.append((e.entity, e.value, e.start, e.end, text[e.start : e.end]))
    return result


def check(text: str, expected: list[Expected], kind: str | None = None) -> None:
    for _, _, start, end, surface in expected:
        assert text[start:end] == surface, "bad test data"
    assert found(text, kind) == expected


# =========================================================================== Entity


def test_entity_shape() -> None:
    entity = Entity("phone", "13812345678", 2, 13)
    assert entity.as_dict() == {"entity": "phone", "value": "13812345678", "start": 2, "end": 13}
    assert entity.extractor == EXTRACTOR
    with pytest.raises(dataclasses.FrozenInstanceError):
        entity.value = "x"  # type: ignore[misc]
    assert not hasattr(entity, "__dict__")  # slots


def test_empty_text() -> None:
    assert extract_entities("") == []
    assert extract_entities("   ") == []


# =========================================================================== phone

PHONES: list[tuple[str, list[Expected]]] = [
    ("13812345678", [("phone", "13812345678", 0, 11, "13812345678")]),
    ("我的电话是13812345678", [("phone", "13812345678", 5, 16, "13812345678")]),
    ("电话：138 1234 5678", [("phone", "13812345678", 3, 16, "138 1234 5678")]),
    ("电话138-1234-5678。", [("phone", "13812345678", 2, 15, "138-1234-5678")]),
    ("+86 13812345678", [("phone", "13812345678", 0, 15, "+86 13812345678")]),
    ("+86-139-0000-1111", [("phone", "13900001111", 0, 17, "+86-139-0000-1111")]),
    ("8613812345678", [("phone", "13812345678", 0, 13, "8613812345678")]),
    ("(+86)13812345678", [("phone", "13812345678", 0, 16, "(+86)13812345678")]),
    # full-width digits, reported at the original (full-width) positions
    ("电话１３８１２３４５６７８", [("phone", "13812345678", 2, 13, "１３８１２３４５６７８")]),
    ("１３８－１２３４－５６７８", [("phone", "13812345678", 0, 13, "１３８－１２３４－５６７８")]),
    # traditional characters around it
    ("我的電話號碼是13812345678", [("phone", "13812345678", 7, 18, "13812345678")]),
    # zero-width characters inside the number (copy-paste from web pages)
    ("138\u200b1234\u200b5678", [("phone", "13812345678", 0, 13, "138\u200b1234\u200b5678")]),
    # emoji before it shift nothing
    ("😀😀电话13812345678", [("phone", "13812345678", 4, 15, "13812345678")]),
    # landlines with area code, optional extension
    ("010-12345678", [("phone", "01012345678", 0, 12, "010-12345678")]),
    ("0755 8888 6666", [("phone", "075588886666", 0, 14, "0755 8888 6666")]),
    ("0755-8888-6666", [("phone", "075588886666", 0, 14, "0755-8888-6666")]),
    ("(021)12345678", [("phone", "02112345678", 0, 13, "(021)12345678")]),
    ("（０２１）１２３４５６７８", [("phone", "02112345678", 0, 13, "（０２１）１２３４５６７８")]),
    ("01065432100", [("phone", "01065432100", 0, 11, "01065432100")]),
    ("0571-8765432", [("phone", "05718765432", 0, 12, "0571-8765432")]),
    ("010-12345678转123", [("phone", "01012345678-123", 0, 16, "010-12345678转123")]),
    ("010-12345678-8001", [("phone", "01012345678-8001", 0, 17, "010-12345678-8001")]),
    # service numbers
    ("客服400-810-8888", [("phone", "4008108888", 2, 14, "400-810-8888")]),
    ("8008208820", [("phone", "8008208820", 0, 10, "8008208820")]),
    ("４００８１０８８８８", [("phone", "4008108888", 0, 10, "４００８１０８８８８")]),
    # two phones in one message
    (
        "我的号码13812345678，我老婆的号码是13987654321",
        [
            ("phone", "13812345678", 4, 15, "13812345678"),
            ("phone", "13987654321", 23, 34, "13987654321"),
        ],
    ),
    (
        "13812345678 13987654321",
        [
            ("phone", "13812345678", 0, 11, "13812345678"),
            ("phone", "13987654321", 12, 23, "13987654321"),
        ],
    ),
    (
        "手机13812345678或者座机010-87654321都行",
        [
            ("phone", "13812345678", 2, 13, "13812345678"),
            ("phone", "01087654321", 17, 29, "010-87654321"),
        ],
    ),
    # spoken (voice input) numbers in Chinese digits
    ("幺三八一二三四五六七八", [("phone", "13812345678", 0, 11, "幺三八一二三四五六七八")]),
    (
        "我的电话是一三九八七六五四三二一你们尽快",
        [("phone", "13987654321", 5, 16, "一三九八七六五四三二一")],
    ),
    (
        "电话一三八，一二三四，五六七八",
        [("phone", "13812345678", 2, 15, "一三八，一二三四，五六七八")],
    ),
    ("号码幺五零零零零零幺幺幺幺", [("phone", "15000001111", 2, 13, "幺五零零零零零幺幺幺幺")]),
    # phone inside a long voice-style message
    (
        "喂你好我想反映一下我们小区门口那个路灯已经坏了好几天了晚上黑乎乎的很危险"
        "我的电话是13812345678你们尽快派人来看看谢谢",
        [("phone", "13812345678", 41, 52, "13812345678")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), PHONES)
def test_phone(text: str, expected: list[Expected]) -> None:
    check(text, expected, "phone")


NOT_PHONES = [
    "工单号20261123-0042",
    "20261123-0042",
    f"身份证{ID_18}",
    f"身份证{ID_18X}",
    f"老身份证{ID_15}",
    "110105199001011234",  # ID-shaped with a bad checksum: not an ID, still not a phone
    "2026年11月23日",
    "20261123",
    "房租5000元",
    "押金15000元，月租3800元",
    "3栋502室",
    "88号",
    "幸福路88号院",
    "2026年",
    "1998年出生",
    "邮编100000",
    "银行卡6222021234567890123",
    "卡号6217001381234567890",  # mobile-looking digits embedded in a card number
    "卡号6222 0213 8123 4567 890",
    "6222 138 1234 5678 9012",
    "12345678901",  # 11 digits, not 1[3-9]
    "10012345678",
    "23812345678",
    "138123456789",  # 12 digits
    "1381234567",  # 10 digits
    "订单号138123456789",
    "13812345678-9",  # glued to another number by a dash
    "20261123-13812345678",
    "1.3812345678",
    "今天上午10点半",
    "12345",  # the hotline itself, not a resident's number
    "幺三八一二三四五六七八九",  # 12 spoken digits: not a mobile
    "一二三四五六七八九十",
    "二零二六年十一月",
]


@pytest.mark.parametrize("text", NOT_PHONES)
def test_not_a_phone(text: str) -> None:
    assert found(text, "phone") == []


# =========================================================================== id_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"身份证{ID_18}", [("id_number", "110105********1232", 3, 21, ID_18)]),
        (f"身份证号 {ID_18X}", [("id_number", "110105********103X", 5, 23, ID_18X)]),
        (f"{ID_18X.lower()}", [("id_number", "110105********103X", 0, 18, ID_18X.lower())]),
        (f"老身份证{ID_15}", [("id_number", "130503*****1001", 4, 19, ID_15)]),
        (
            "110105 19900101 1232",
            [("id_number", "110105********1232", 0, 20, "110105 19900101 1232")],
        ),
        (
            "身份证１１０１０５１９９００１０１１２３２",
            [("id_number", "110105********1232", 3, 21, "１１０１０５１９９００１０１１２３２")],
        ),
        (
            f"ID {ID_18}，手机 +86 139-0000-1111",
            [
                ("id_number", "110105********1232", 3, 21, ID_18),
                ("phone", "13900001111", 25, 42, "+86 139-0000-1111"),
            ],
        ),
    ],
)
def test_id_number(text: str, expected: list[Expected]) -> None:
    check(text, expected)


@pytest.mark.parametrize("number", [ID_18, ID_18X, ID_15])
def test_full_id_number_appears_nowhere_in_the_entity(number: str) -> None:
    (entity,) = extract_entities(f"我的身份证是{number}")
    assert entity.entity == "id_number"
    for exposed in (entity.value, repr(entity), str(entity.as_dict())):
        assert number not in exposed
        assert number[6:-4] not in exposed  # the birth date and sequence stay hidden


@pytest.mark.parametrize(
    "text",
    [
        "110105199001011234",  # bad checksum
        "110105199013011231",  # month 13
        "110105190002301234",  # 30 February
        "990105199001011232",  # no such province code
        "110105 1990 0101 1232",
        "130503671301001",  # 15-digit form with month 13
    ],
)
def test_invalid_id_numbers_are_not_extracted(text: str) -> None:
    assert found(text, "id_number") == []


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (ID_18, True),
        (ID_18X, True),
        (ID_18X.lower(), True),
        (ID_15, True),
        ("440306198512310022", True),
        ("110105199001011234", False),
        ("11010519900101123", False),
        ("1101051990010112321", False),
        ("110105209901011232", False),  # born in the future
        ("abc", False),
    ],
)
def test_is_valid_id_number(number: str, valid: bool) -> None:
    assert is_valid_id_number(number) is valid


# =========================================================================== ticket_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20261123-0042", [("ticket_id", "20261123-0042", 0, 13, "20261123-0042")]),
        ("我的工单20261123-0042怎么样了", [("ticket_id", "20261123-0042", 4, 17, "20261123-0042")]),
        ("工单号 20261123-0042", [("ticket_id", "20261123-0042", 4, 17, "20261123-0042")]),
        ("工单号：20261123-0042", [("ticket_id", "20261123-0042", 4, 17, "20261123-0042")]),
        ("工单号：20261123 0042", [("ticket_id", "20261123-0042", 4, 17, "20261123 0042")]),
        ("单号202611230042", [("ticket_id", "20261123-0042", 2, 14, "202611230042")]),
        ("编号是 202611230042", [("ticket_id", "20261123-0042", 4, 16, "202611230042")]),
        ("工单号 202611230042 还没处理", [("ticket_id", "20261123-0042", 4, 16, "202611230042")]),
        (
            "２０２６１１２３－００４２",
            [("ticket_id", "20261123-0042", 0, 13, "２０２６１１２３－００４２")],
        ),
        ("20261123—0042", [("ticket_id", "20261123-0042", 0, 13, "20261123—0042")]),
        (
            "20261123-0042和20261124-0007",
            [
                ("ticket_id", "20261123-0042", 0, 13, "20261123-0042"),
                ("ticket_id", "20261124-0007", 14, 27, "20261124-0007"),
            ],
        ),
    ],
)
def test_ticket_id(text: str, expected: list[Expected]) -> None:
    check(text, expected, "ticket_id")


@pytest.mark.parametrize(
    "text",
    [
        "202611230042",  # no dash and no 工单/单号/编号 before it
        "订单号202611230042",  # an order number, not a ticket
        "编号138123456789",  # dashless form must start with a date
        "120261123-0042",
        "20261123-00421",
        "2026-11-23",
    ],
)
def test_not_a_ticket(text: str) -> None:
    assert found(text, "ticket_id") == []


# =========================================================================== time

TIMES: list[tuple[str, list[tuple[str, int, int]]]] = [
    ("三天了", [("三天了", 0, 3)]),
    ("路灯坏了三天了", [("三天了", 4, 7)]),
    ("好几天了", [("好几天了", 0, 4)]),
    ("一个多星期", [("一个多星期", 0, 5)]),
    ("已经一个多星期了", [("一个多星期了", 2, 8)]),
    ("两个月了", [("两个月了", 0, 4)]),
    ("兩個月了", [("两个月了", 0, 4)]),
    ("昨晚十点", [("昨晚十点", 0, 4)]),
    ("昨天晚上", [("昨天晚上", 0, 4)]),
    ("今天早上8点", [("今天早上8点", 0, 6)]),
    ("今天早上８点", [("今天早上8点", 0, 6)]),
    ("上周三", [("上周三", 0, 3)]),
    ("前天", [("前天", 0, 2)]),
    ("刚才", [("刚才", 0, 2)]),
    ("每天晚上", [("每天晚上", 0, 4)]),
    ("凌晨两三点", [("凌晨两三点", 0, 5)]),
    ("11月20号", [("11月20号", 0, 6)]),
    ("2026年11月20日", [("2026年11月20日", 0, 11)]),
    ("晚上十点以后", [("晚上十点以后", 0, 6)]),
    ("晚上十点到凌晨两点", [("晚上十点到凌晨两点", 0, 9)]),
    ("晚上十点到十二点", [("晚上十点到十二点", 0, 8)]),
    ("上周三下午3点", [("上周三下午3点", 0, 7)]),
    ("2026年11月20日上午", [("2026年11月20日上午", 0, 13)]),
    ("请于2026年11月23日前办理", [("2026年11月23日", 2, 13)]),
    ("2026年11月23日以前", [("2026年11月23日以前", 0, 13)]),
    ("10:30左右", [("10:30左右", 0, 7)]),
    ("三点钟", [("三点钟", 0, 3)]),
    ("两点多", [("两点多", 0, 3)]),
    ("八点半", [("八点半", 0, 3)]),
    ("十点十五分", [("十点十五分", 0, 5)]),
    ("最近很吵", [("最近", 0, 2)]),
    ("半夜三更", [("半夜三更", 0, 4)]),
    ("深夜施工", [("深夜", 0, 2)]),
    ("周末", [("周末", 0, 2)]),
    ("下个月初", [("下个月初", 0, 4)]),
    ("好几个月了", [("好几个月了", 0, 5)]),
    ("一年多了", [("一年多了", 0, 4)]),
    ("大半年", [("大半年", 0, 3)]),
    ("半个月", [("半个月", 0, 3)]),
    ("三天前", [("三天前", 0, 3)]),
    ("2026-11-20", [("2026-11-20", 0, 10)]),
    ("每周一", [("每周一", 0, 3)]),
    ("星期天早上", [("星期天早上", 0, 5)]),
    # an expression closed by 了 does not run into the next one
    ("好几天了晚上黑乎乎的", [("好几天了", 0, 4), ("晚上", 4, 6)]),
    (
        "我家楼下昨晚十点以后一直很吵",
        [("昨晚十点以后", 4, 10)],
    ),
    (
        "从上周三开始，每天晚上十点以后都有噪音，已经一个多星期了",
        [("上周三", 1, 4), ("每天晚上十点以后", 7, 15), ("一个多星期了", 22, 28)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_time(text: str, expected: list[tuple[str, int, int]]) -> None:
    check(text, [("time", v, s, e, text[s:e]) for v, s, e in expected], "time")


@pytest.mark.parametrize(
    "text",
    [
        "快一点处理",  # "a bit faster"
        "有两点建议",  # "two points"
        "一点多米",
        "最近的医院在哪",  # "the nearest hospital"
        "三年级",
        "五一路",
        "我想问一下社保",
        "3栋502室",
        "房租5000元",
    ],
)
def test_not_a_time(text: str) -> None:
    assert found(text, "time") == []


def _first_chars_of_trie(words: frozenset[str]) -> set[str]:
    return {word[0] for word in words}


def test_time_trigger_covers_every_word() -> None:
    """The fast scan only tries positions whose character is in _TIME_FIRST_CHARS."""
    first = _first_chars_of_trie(entities_module._DAY_WORDS)
    first |= _first_chars_of_trie(entities_module._PART_WORDS)
    first |= {"最", "五"}  # the two words outside the trie
    assert first <= set(entities_module._TIME_FIRST_CHARS)


@pytest.mark.parametrize(
    "text",
    [t for t, _ in TIMES] + [t for t, _ in PHONES] + NOT_PHONES,
)
def test_time_scan_equals_plain_finditer(text: str) -> None:
    """_scan must find exactly what finditer would: a missing trigger char would show."""
    s = normalize_aligned(text).text
    fast = [
        m.span()
        for m in entities_module._scan(
            entities_module._TIME_TRIGGER_RE, entities_module._TIME_RE, s
        )
    ]
    slow = [m.span() for m in entities_module._TIME_RE.finditer(s) if m.end() > m.start()]
    assert fast == slow


# =========================================================================== address

ADDRESSES: list[tuple[str, list[Expected]]] = [
    (
        "朝阳区望京街道花家地社区3号楼2单元",
        [
            (
                "address",
                "朝阳区望京街道花家地社区3号楼2单元",
                0,
                18,
                "朝阳区望京街道花家地社区3号楼2单元",
            )
        ],
    ),
    (
        "我住在朝陽區望京街道花家地社區3號樓2單元，謝謝",
        [
            (
                "address",
                "朝阳区望京街道花家地社区3号楼2单元",
                3,
                21,
                "朝陽區望京街道花家地社區3號樓2單元",
            )
        ],
    ),
    (
        "我在北京市海淀区中关村大街27号",
        [("address", "北京市海淀区中关村大街27号", 2, 16, "北京市海淀区中关村大街27号")],
    ),
    (
        "上海市浦東新區世紀大道100號",
        [("address", "上海市浦东新区世纪大道100号", 0, 15, "上海市浦東新區世紀大道100號")],
    ),
    ("我家住在幸福路88号", [("address", "幸福路88号", 4, 10, "幸福路88号")]),
    (
        "幸福小区3号楼2单元502室",
        [("address", "幸福小区3号楼2单元502室", 0, 14, "幸福小区3号楼2单元502室")],
    ),
    ("幸福小区3号楼1502", [("address", "幸福小区3号楼1502", 0, 11, "幸福小区3号楼1502")]),
    ("幸福小区的3号楼", [("address", "幸福小区的3号楼", 0, 8, "幸福小区的3号楼")]),
    ("3栋502室漏水", [("address", "3栋502室", 0, 6, "3栋502室")]),
    ("3号楼2单元", [("address", "3号楼2单元", 0, 6, "3号楼2单元")]),
    ("幸福小区门口", [("address", "幸福小区门口", 0, 6, "幸福小区门口")]),
    ("小区门口的路灯", [("address", "小区门口", 0, 4, "小区门口")]),
    ("我家楼下很吵", [("address", "我家楼下", 0, 4, "我家楼下")]),
    ("在我家对面的工地", [("address", "我家对面", 1, 5, "我家对面")]),
    ("马路上有个坑", [("address", "马路上", 0, 3, "马路上")]),
    ("望京地铁站a口附近", [("address", "望京地铁站a口附近", 0, 9, "望京地铁站a口附近")]),
    # the value keeps the resident's letters and widths (was lower-cased: "望京地铁站a口")
    ("望京地铁站Ａ口", [("address", "望京地铁站Ａ口", 0, 7, "望京地铁站Ａ口")]),
    ("海淀黄庄地铁站", [("address", "海淀黄庄地铁站", 0, 7, "海淀黄庄地铁站")]),
    ("人民医院对面", [("address", "人民医院对面", 0, 6, "人民医院对面")]),
    ("在人民公园东门", [("address", "人民公园东门", 1, 7, "人民公园东门")]),
    ("朝阳公园南门附近", [("address", "朝阳公园南门附近", 0, 8, "朝阳公园南门附近")]),
    ("学校门口", [("address", "学校门口", 0, 4, "学校门口")]),
    ("菜市场旁边", [("address", "菜市场旁边", 0, 5, "菜市场旁边")]),
    ("公交站对面有垃圾", [("address", "公交站对面", 0, 5, "公交站对面")]),
    (
        "幸福路和平路交叉口的下水道堵了",
        [("address", "幸福路和平路交叉口", 0, 9, "幸福路和平路交叉口")],
    ),
    ("和平路与解放路交叉口", [("address", "和平路与解放路交叉口", 0, 10, "和平路与解放路交叉口")]),
    ("幸福路口", [("address", "幸福路口", 0, 4, "幸福路口")]),
    ("滨河路边上", [("address", "滨河路边上", 0, 5, "滨河路边上")]),
    ("解放路东段", [("address", "解放路东段", 0, 5, "解放路东段")]),
    ("深圳市南山区科技园", [("address", "深圳市南山区科技园", 0, 9, "深圳市南山区科技园")]),
    ("长安街88号3号楼", [("address", "长安街88号3号楼", 0, 9, "长安街88号3号楼")]),
    ("东城区和平里街道", [("address", "东城区和平里街道", 0, 8, "东城区和平里街道")]),
    ("安贞里3号楼", [("address", "安贞里3号楼", 0, 6, "安贞里3号楼")]),
    ("花园路", [("address", "花园路", 0, 3, "花园路")]),
    ("学院路的共享单车", [("address", "学院路", 0, 3, "学院路")]),
    ("中山路小学门口", [("address", "中山路小学门口", 0, 7, "中山路小学门口")]),
    ("万达广场b座12层", [("address", "万达广场b座12层", 0, 9, "万达广场b座12层")]),
    ("幸福家园小区", [("address", "幸福家园小区", 0, 6, "幸福家园小区")]),
    ("长乐路123弄4号", [("address", "长乐路123弄4号", 0, 9, "长乐路123弄4号")]),
    ("幸福小区3-2-502", [("address", "幸福小区3-2-502", 0, 11, "幸福小区3-2-502")]),
    ("杭州西湖", [("address", "杭州西湖", 0, 4, "杭州西湖")]),
    ("北京西站", [("address", "北京西站", 0, 4, "北京西站")]),
    ("中山大学的老师说", [("address", "中山大学", 0, 4, "中山大学")]),
    ("另外幸福小区也有", [("address", "幸福小区", 2, 6, "幸福小区")]),
    ("我在北京工作", [("address", "北京", 2, 4, "北京")]),
    ("李家村村委会门口", [("address", "李家村村委会门口", 0, 8, "李家村村委会门口")]),
    ("反映一下幸福路的路灯", [("address", "幸福路", 4, 7, "幸福路")]),
    ("我们小区3号楼", [("address", "小区3号楼", 2, 7, "小区3号楼")]),
    # names holding digits and letters, brands, offices, branches, parts after a place
    (
        "阳光100国际新城3栋电梯坏了",
        [("address", "阳光100国际新城3栋", 0, 11, "阳光100国际新城3栋")],
    ),
    (
        "ＳＯＨＯ現代城Ｂ座樓下很吵",
        [("address", "ＳＯＨＯ现代城Ｂ座楼下", 0, 11, "ＳＯＨＯ現代城Ｂ座樓下")],
    ),
    ("美的时代城16栋", [("address", "美的时代城16栋", 0, 8, "美的时代城16栋")]),
    ("金井镇双溪村五组停水", [("address", "金井镇双溪村五组", 0, 8, "金井镇双溪村五组")]),
    ("城西街道办事处门口", [("address", "城西街道办事处门口", 0, 9, "城西街道办事处门口")]),
    ("佳家超市红星店卖过期食品", [("address", "佳家超市红星店", 0, 7, "佳家超市红星店")]),
    (
        "万达广场地下车库B2层漏水",
        [("address", "万达广场地下车库B2层", 0, 11, "万达广场地下车库B2层")],
    ),
    ("东三环三段188号", [("address", "东三环三段188号", 0, 9, "东三环三段188号")]),
    ("圭塘河边上有人电鱼", [("address", "圭塘河边上", 0, 5, "圭塘河边上")]),
    (
        "朝阳区望京街道花家地社区3号楼2单元楼道的灯坏了，电话13812345678",
        [
            (
                "address",
                "朝阳区望京街道花家地社区3号楼2单元楼道",
                0,
                20,
                "朝阳区望京街道花家地社区3号楼2单元楼道",
            )
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), ADDRESSES)
def test_address(text: str, expected: list[Expected]) -> None:
    check(text, expected, "address")


@pytest.mark.parametrize(
    "text",
    [
        "我想问一下社保",
        "路灯",
        "路灯坏了",
        "路灯不亮",
        "我在路上",
        "过马路的时候",
        "修路修了半年",
        "网站打不开",
        "去医院",
        "在电梯里",
        "小区广场舞太吵了",
        "我们社区的书记",
        "社区",
        "88号",
        "11月20号",
        "我住在海淀",  # a bare district name alone is not taken
        "他上大学了",
        "大家门口见",
        "公交线路调整",
        "这条街",
        "我把东西弄坏了",
        "坐26路公交",
        "司机一路都在玩手机",
        "希望社区多组织活动",
    ],
)
def test_not_an_address(text: str) -> None:
    assert found(text, "address") == []


# =========================================================================== specificity


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("社保", Specificity.NONE),
        ("", Specificity.NONE),
        ("小区门口", Specificity.VAGUE),
        ("我家楼下", Specificity.VAGUE),
        ("马路上", Specificity.VAGUE),
        ("学校门口", Specificity.VAGUE),
        ("3号楼2单元502室", Specificity.VAGUE),  # which estate?
        ("朝阳区", Specificity.AREA),
        ("北京", Specificity.AREA),
        ("花家地社区", Specificity.AREA),
        ("幸福路", Specificity.AREA),
        ("幸福小区", Specificity.AREA),
        ("幸福小区门口", Specificity.SPECIFIC),
        ("幸福小区3号楼", Specificity.SPECIFIC),
        ("幸福路88号", Specificity.SPECIFIC),
        ("幸福路口", Specificity.SPECIFIC),
        ("和平路与解放路交叉口", Specificity.SPECIFIC),
        ("望京地铁站", Specificity.SPECIFIC),
        ("人民医院对面", Specificity.SPECIFIC),
        ("幸福小区3号楼2单元502室", Specificity.EXACT),
        ("幸福小区3-2-502", Specificity.EXACT),
        ("朝阳区望京街道花家地社区3号楼2单元", Specificity.EXACT),
        ("幸福小區3號樓2單元", Specificity.EXACT),
    ],
)
def test_address_specificity(value: str, level: Specificity) -> None:
    assert address_specificity(value) == level
    assert is_specific_location(value) is (level >= Specificity.SPECIFIC)


def test_specificity_of_extracted_values() -> None:
    text = "小区门口的灯坏了，另外幸福小区3号楼2单元的楼道也黑"
    values = [e.value for e in extract_entities(text) if e.entity == "address"]
    assert values == ["小区门口", "幸福小区3号楼2单元"]
    assert [is_specific_location(v) for v in values] == [False, True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a time inside an estate's name gives way to the estate (金科10年城 is a name)
        (
            "住在金科10年城3期的居民投诉物业",
            [("address", "金科10年城3期", 2, 10, "金科10年城3期")],
        ),
        (
            "金科10年城东门昨天晚上又堵了",
            [
                ("address", "金科10年城东门", 0, 8, "金科10年城东门"),
                ("time", "昨天晚上", 8, 12, "昨天晚上"),
            ],
        ),
        # … but a time before a place, or before a word that only looks like a type word,
        # stays a time
        (
            "我在这住了10年城管从来不管",
            [("time", "10年", 5, 8, "10年")],
        ),
        (
            "去年3月幸福小区门口修了减速带",
            [
                ("time", "去年3月", 0, 4, "去年3月"),
                ("address", "幸福小区门口", 4, 10, "幸福小区门口"),
            ],
        ),
        (
            "住了10年幸福小区的房子漏水",
            [("time", "10年", 2, 5, "10年"), ("address", "幸福小区", 5, 9, "幸福小区")],
        ),
    ],
)
def test_time_inside_a_place_name(text: str, expected: list[Expected]) -> None:
    check(text, expected)


# =========================================================================== messages


def test_full_message() -> None:
    text = (
        "你好！！我家楼下的路灯壞了三天了😡，晚上很黑，地址是朝阳区望京街道花家地社区3号楼，"
        "电话１３８ １２３４ ５６７８，工单号20261123-0042"
    )
    check(
        text,
        [
            ("address", "我家楼下", 4, 8, "我家楼下"),
            ("time", "三天了", 13, 16, "三天了"),
            ("time", "晚上", 18, 20, "晚上"),
            ("address", "朝阳区望京街道花家地社区3号楼", 26, 41, "朝阳区望京街道花家地社区3号楼"),
            ("phone", "13812345678", 44, 57, "１３８ １２３４ ５６７８"),
            ("ticket_id", "20261123-0042", 61, 74, "20261123-0042"),
        ],
    )


CORPUS = (
    [t for t, _ in PHONES]
    + NOT_PHONES
    + [t for t, _ in TIMES]
    + [t for t, _ in ADDRESSES]
    + [
        "上周三晚上十点以后工地一直在施工，吵得睡不着，在幸福路88号附近",
        "我的电话是幺三八一二三四五六七八，住在人民医院对面",
        "我們社區門口的路燈壞了兩個禮拜了😡😡",
    ]
)


@pytest.mark.parametrize("text", CORPUS)
def test_results_are_sorted_non_overlapping_and_in_bounds(text: str) -> None:
    result = extract_entities(text)
    for entity in result:
        assert 0 <= entity.start < entity.end <= len(text)
        assert entity.entity in {"phone", "address", "time", "ticket_id", "id_number"}
    for left, right in itertools.pairwise(result):
        assert left.end <= right.start


def test_spans_never_start_or_end_inside_whitespace() -> None:
    for text in CORPUS:
        for entity in extract_entities(text):
            surface = text[entity.start : entity.end]
            assert surface == surface.strip(), (text, entity)


# =========================================================================== speed


def test_extraction_is_fast() -> None:
    """Generous bound (the real figure is ~50-150 µs); catches pathological regressions."""
    text = "你好，我家楼下的路灯坏了三天了，地址是朝阳区望京街道花家地社区3号楼，电话13812345678"
    extract_entities(text)
    started = time.perf_counter()
    for _ in range(500):
        extract_entities(text)
    assert (time.perf_counter() - started) / 500 < 0.002


@pytest.mark.parametrize(
    "text",
    [
        "1" * 5000,
        "1-" * 3000,
        "一" * 5000,
        "幸福" * 2000 + "路",
        "小区门口" * 1000,
        "三天了" * 1000,
        "3号楼" * 1000,
        re.sub(r"\s", "", "上周三 晚上 十点 " * 500),
    ],
)
def test_long_adversarial_input_is_linear(text: str) -> None:
    started = time.perf_counter()
    extract_entities(text)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("text", "value", "specific"),
    [
        ("建设路100号门口", "建设路100号门口", True),  # 号 then 门口 is a house number's door
        ("人民路88号门前", "人民路88号门前", True),
        ("阳光花园小区北门", "阳光花园小区北门", True),  # 北门 on the 小区 after the name
        ("小区北门", "小区北门", False),
    ],
)
def test_door_words_after_numbers_and_estates(text: str, value: str, specific: bool) -> None:
    assert [(e.entity, e.value) for e in extract_entities(text)] == [("address", value)]
    assert is_specific_location(text) is specific
