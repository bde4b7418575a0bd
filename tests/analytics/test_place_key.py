"""Place keys: the same place however it is written, different places apart."""

from __future__ import annotations

import pytest

from integrations.analytics.text import normalized_location
from policies.place_key import (
    cells_around,
    distance_m,
    grid_cell,
    place_key,
    place_names,
    strip_places,
)

CROSSING = "crossing:中山街×解放路"


@pytest.mark.parametrize(
    "text",
    [
        "解放路与中山街路口",
        "中山街解放路口东侧",
        "解放路中山街交叉口北侧",
        "解放路/中山街十字路口",
        "中山街和解放路交汇处",
        "在解放路和中山街路口",
        "解放路、中山街路口西南角",
        "滨河区解放路与中山街路口",
        "临江市滨河区望江街道中山街解放路口",
        "解放路靠近中山街路口",
    ],
)
def test_a_crossing_has_one_key_in_any_order_and_wording(text: str) -> None:
    key = place_key(text)
    assert key.keys == (CROSSING,)
    assert key.kind == "crossing"


def test_traditional_characters_and_full_width_digits_are_normalised_first() -> None:
    assert place_key(normalized_location("解放路與中山街路口東側")).keys == (CROSSING,)
    key = place_key(normalized_location("解放路８８號"))
    assert key.keys == ("road:解放路",)
    assert key.number == 88


@pytest.mark.parametrize(
    ("text", "key", "building"),
    [
        ("幸福家园", "estate:幸福家园", None),
        ("幸福家园小区3号楼2单元502室", "estate:幸福家园", "3"),
        ("幸福家园东门", "estate:幸福家园", None),
        ("朝阳区望京街道幸福家园北门对面", "estate:幸福家园", None),
        ("幸福家园三栋楼下", "estate:幸福家园", "3"),
        ("幸福家园3-2-502", "estate:幸福家园", "3"),
        ("解放路88号幸福家园里面", "estate:幸福家园", None),
        ("幸福小区门口", "estate:幸福小区", None),
        ("和平里小区12幢", "estate:和平里", "12"),
        ("名都新村西门", "estate:名都新村", None),
    ],
)
def test_estates_drop_buildings_gates_and_prefixes(
    text: str, key: str, building: str | None
) -> None:
    parsed = place_key(text)
    assert parsed.keys[0] == key
    assert parsed.building == building


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("人民公园东门", "poi:人民公园"),
        ("地铁望京站A口", "poi:望京地铁站"),
        ("望京地铁站b口", "poi:望京地铁站"),
        ("第一中学门口", "poi:第一中学"),
        ("沃尔玛超市门口", "poi:沃尔玛超市"),
        ("李家村村委会旁边", "village:李家村"),
        ("王家庄村口", "village:王家庄"),
        ("马村村口", "village:马村"),
        ("临江市滨河区湖滨街道马村7组", "village:马村"),
        ("中山市场", "poi:中山市场"),
        ("城市花园小区", "estate:城市花园"),
    ],
)
def test_landmarks_and_villages(text: str, key: str) -> None:
    assert place_key(text).keys[0] == key


def test_a_road_keeps_its_house_number_apart_from_the_key() -> None:
    a, b = place_key("解放路88号门口"), place_key("解放路90号对面")
    assert a.keys == b.keys == ("road:解放路",)
    assert (a.number, b.number) == (88, 90)
    assert place_key("解放路上").number is None
    # A named road is not 马路 / 修路 / 十字路: those are words.
    assert place_key("马路上").empty
    assert place_key("十字路口").empty


def test_different_places_have_different_keys() -> None:
    assert place_key("解放路与中山街路口").keys != place_key("解放路与和平路路口").keys
    assert place_key("幸福家园").keys != place_key("幸福里").keys
    assert place_key("解放路").keys != place_key("解放北路").keys
    assert place_key("和平路").keys == ("road:和平路",)  # 和 starts a name here


@pytest.mark.parametrize("text", ["我家楼下", "小区门口", "楼下", "", "路口", "农村", "进村的路口"])
def test_vague_locations_have_no_key(text: str) -> None:
    assert place_key(text).empty


def test_an_area_alone_is_kept_for_display_but_is_no_key() -> None:
    key = place_key("幸福社区")
    assert key.empty
    assert key.area == "幸福社区"


def test_strip_places_removes_only_the_locations_own_names() -> None:
    names = place_names("解放路与中山街路口")
    assert names == ["解放路", "中山街"]
    assert strip_places("解放路中山街路口的井盖丢了", names) == "  路口的井盖丢了"
    # Words that only look like places stay: they describe the problem.
    assert "堵路" in strip_places("路边乱停车堵路", place_names("南湖路"))


def test_grid_cells_cover_every_point_within_the_cell_size() -> None:
    lat, lon = 30.25, 120.16
    assert grid_cell(lat, lon) in cells_around(lat, lon)
    for north, east in [(140, 0), (0, 140), (-100, 100), (100, -100), (-140, 0)]:
        p_lat = lat + north / 111_320
        p_lon = lon + east / (111_320 * 0.8645)  # cos(30.25°)
        assert distance_m(lat, lon, p_lat, p_lon) < 150
        assert grid_cell(p_lat, p_lon) in cells_around(lat, lon)


def test_distance_and_bad_coordinates() -> None:
    assert distance_m(30.0, 120.0, 30.0, 120.0) == 0.0
    assert distance_m(30.0, 120.0, 30.001, 120.0) == pytest.approx(111.2, abs=0.5)
    with pytest.raises(ValueError, match="not a coordinate"):
        grid_cell(91.0, 0.0)
