"""nlu.normalize: canonical text for classification and the aligned form for entities."""

from __future__ import annotations

import time

import pytest

from nlu.normalize import AlignedText, normalize, normalize_aligned, to_simplified


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # full-width → half-width: digits, letters, punctuation, ideographic space
        ("１３８１２３４５６７８", "13812345678"),
        ("ＡＢＣａｂｃ", "abcabc"),
        ("（０２１）", "(021)"),
        ("你好，请问？", "你好,请问?"),
        ("路灯\u3000坏了", "路灯 坏了"),
        # traditional → simplified (phrase-aware OpenCC t2s)
        ("我們這裡的路燈壞了", "我们这里的路灯坏了"),
        ("頭髮", "头发"),
        ("臺灣", "台湾"),
        # Latin lower-cased
        ("WiFi 密码", "wifi 密码"),
        ("ÀÉÎ", "àéî"),
        # emoji and pictographs → space, then spaces collapsed
        ("路灯坏了😡😡", "路灯坏了"),
        ("我在😊幸福小区", "我在 幸福小区"),
        ("👍🏻好的", "好的"),
        ("⭐☀️✅ok", "ok"),
        ("👨\u200d👩\u200d👧一家人", "一家人"),
        # WeChat face codes, in either client language
        ("太吵了[捂脸][捂脸]", "太吵了"),
        ("[Facepalm]ok", "ok"),
        ("[图片]", "[图片]"),  # not a face name: kept
        # repeated punctuation collapsed
        ("！！！", "!"),
        ("真的吗？？？", "真的吗?"),
        ("什么?!?!", "什么?"),
        ("好的。。。", "好的。"),
        ("等等……", "等等。"),
        ("然后...", "然后。"),
        ("嗯~~~~", "嗯~"),
        ("——", "—"),
        ("好,,,", "好,"),
        # a single dot or middle dot is not an ellipsis
        ("3.5元", "3.5元"),
        ("a.b", "a.b"),
        ("约翰·史密斯", "约翰·史密斯"),
        ("好的。", "好的。"),
        # whitespace collapsed and stripped; zero-width and format characters removed
        ("  路灯 \t\n 坏了  ", "路灯 坏了"),
        ("138\u200b1234\u200c5678\ufeff", "13812345678"),
        ("\u00ad软\u2060连字", "软连字"),
        ("", ""),
        ("   ", ""),
        # ASCII-only messages take the fast path but get the same treatment
        ("HELLO!!!   World???", "hello! world?"),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_docstring_example() -> None:
    assert normalize("  ＡＢＣ電話１３８！！！😀 [捂脸]  ") == "abc电话138!"


@pytest.mark.parametrize(
    "raw",
    [
        "我們社區門口的路燈壞了兩個禮拜了😡😡！！！",
        "  ＡＢＣ電話１３８！！！😀 [捂脸]  ",
        "好的。。。真的……?!?!  a.b 3.5 ·",
        "幸福小区3号楼2单元502室",
    ],
)
def test_normalize_is_idempotent(raw: str) -> None:
    once = normalize(raw)
    assert normalize(once) == once


@pytest.mark.parametrize(
    "digit",
    ["٣", "३", "৩", "３", "𝟑"],  # Arabic-Indic, Devanagari, Bengali, full-width, math bold
)
def test_every_unicode_decimal_digit_becomes_ascii(digit: str) -> None:
    assert normalize(f"a{digit}b") == "a3b"
    assert normalize_aligned(f"a{digit}b").text == "a3b"


def test_to_simplified() -> None:
    assert to_simplified("電話號碼") == "电话号码"
    assert to_simplified("ascii only") == "ascii only"


# --------------------------------------------------------------------------- aligned


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("１３８１２３４５６７８", "13812345678"),
        ("朝陽區望京街道", "朝阳区望京街道"),
        ("兩個月了", "两个月了"),
        ("ABC Ｄ", "abc d"),
        ("好😀的！！", "好😀的!!"),  # emoji and punctuation runs are left alone
        ("", ""),
    ],
)
def test_aligned_is_length_preserving_without_invisible_characters(raw: str, text: str) -> None:
    aligned = normalize_aligned(raw)
    assert aligned.text == text
    assert aligned.offsets == list(range(len(raw) + 1))


def test_aligned_drops_invisible_characters_and_maps_offsets_back() -> None:
    raw = "电\u200b话\ufe0f138\u200d1234"
    aligned = normalize_aligned(raw)
    assert aligned.text == "电话1381234"
    assert aligned.offsets == [0, 2, 4, 5, 6, 8, 9, 10, 11, len(raw)]
    # a span of the normalised text maps to the original span, invisible chars included
    start = aligned.text.index("1381234")
    assert aligned.original_span(start, start + 7) == (4, 12)
    assert raw[4:12] == "138\u200d1234"


def test_original_span_of_an_empty_span() -> None:
    aligned = normalize_aligned("a\u200bb")
    assert aligned.original_span(1, 1) == (2, 2)


def test_aligned_text_is_a_tuple() -> None:
    text, offsets = normalize_aligned("ＡＢ")
    assert (text, offsets) == ("ab", [0, 1, 2])
    assert isinstance(normalize_aligned("x"), AlignedText)


def test_aligned_t2s_keeps_one_character_per_character() -> None:
    raw = "這裡發現了乾隆年間的錢幣，還有麵條和鬆餅"
    aligned = normalize_aligned(raw)
    assert len(aligned.text) == len(raw)
    assert aligned.text == "这里发现了乾隆年间的钱币,还有面条和松饼"


# --------------------------------------------------------------------------- speed


def test_normalize_is_fast() -> None:
    """A generous bound that only catches pathological regressions (e.g. backtracking)."""
    message = "我們社區門口的路燈壞了兩個禮拜了😡😡！！！電話１３８１２３４５６７８"
    normalize(message)
    started = time.perf_counter()
    for _ in range(2000):
        normalize(message)
        normalize_aligned(message)
    assert (time.perf_counter() - started) / 2000 < 0.0005


def test_long_adversarial_input_is_linear() -> None:
    started = time.perf_counter()
    normalize("。." * 20000 + "!?" * 20000 + "~-" * 20000 + " \t" * 20000)
    assert time.perf_counter() - started < 1.0
