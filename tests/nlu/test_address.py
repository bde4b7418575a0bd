"""nlu.address: places in free text, their name spans, and answers to "where?".

The answers table is tests/data/location_answers.tsv (answer, verdict, stored value); the
free-text tests check what the classifier's masking and the address entity rely on:
spans that do not swallow words, the district kept, the resident's casing kept, unseen
names found with their name spans, and ordinary words not taken as places.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from pathlib import Path

import pytest

import nlu.address as address_module
import nlu.entities as entities_module
from nlu.address import (
    LocationAnswer,
    Place,
    Specificity,
    address_specificity,
    find_places,
    is_specific_location,
    place_name_spans,
    read_location_answer,
)
from nlu.entities import extract_entities

TABLE = Path(__file__).resolve().parents[1] / "data" / "location_answers.tsv"


def _answers() -> list[tuple[str, str, str | None]]:
    rows = []
    for line in TABLE.read_text("utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("answer\t"):
            continue
        answer, verdict, *rest = line.split("\t")
        value = rest[0] if rest and rest[0] else None
        if value is None and verdict != "not_place":
            value = answer.strip()
        rows.append((answer, verdict, value))
    return rows


ANSWERS = _answers()


def test_table_is_large_and_covers_every_verdict() -> None:
    assert len(ANSWERS) >= 400
    verdicts = [verdict for _, verdict, _ in ANSWERS]
    assert {"place", "vague", "not_place"} == set(verdicts)
    assert min(verdicts.count(v) for v in ("place", "vague", "not_place")) >= 30
    assert len({answer for answer, _, _ in ANSWERS}) == len(ANSWERS), "duplicate answers"


@pytest.mark.parametrize(("answer", "verdict", "value"), ANSWERS)
def test_location_answer(answer: str, verdict: str, value: str | None) -> None:
    result = read_location_answer(answer)
    assert (result.verdict, result.value) == (verdict, value)
    if verdict == "place":
        assert result.specificity >= Specificity.AREA
    if verdict == "not_place":
        assert result.specificity == Specificity.NONE


@pytest.mark.parametrize(("answer", "verdict", "value"), ANSWERS)
def test_stored_value_is_never_a_number_and_is_the_residents_text(
    answer: str, verdict: str, value: str | None
) -> None:
    result = read_location_answer(answer)
    if result.value is None:
        return
    assert not re.search(r"\d{7,}", result.value.replace(" ", "").replace("-", ""))
    assert result.value in answer  # the resident's own characters, never normalised


@pytest.mark.parametrize("text", ["", "   ", "\n", "。"])
def test_empty_answer_is_not_a_place(text: str) -> None:
    assert read_location_answer(text) == LocationAnswer("not_place", None, Specificity.NONE)


def test_answer_carries_its_places() -> None:
    result = read_location_answer("就在绿地香树花城7栋那边，电话13912345678")
    assert result == LocationAnswer("place", "绿地香树花城7栋", Specificity.SPECIFIC)
    (place,) = result.places
    assert place.kind == "estate"
    assert [place.text[a - place.start : b - place.start] for a, b in place.names] == [
        "绿地香树花城"
    ]


def test_answer_value_is_the_residents_whole_words() -> None:
    """Every clause holding the place, not only the best span; no filler, number or
    closing question."""
    result = read_location_answer("我家在阳光100国际新城，3栋2单元，电话13912345678")
    assert result == LocationAnswer("place", "阳光100国际新城，3栋2单元", Specificity.EXACT)
    result = read_location_answer("嗯，就在佳家超市红星店门口吧，你们什么时候来？")
    assert (result.verdict, result.value) == ("place", "佳家超市红星店门口")


def test_dataclasses_are_frozen_with_slots() -> None:
    place = Place("解放路88号", 0, 6, Specificity.SPECIFIC, ((0, 2),), "road")
    answer = LocationAnswer("place", "解放路88号", Specificity.SPECIFIC)
    for obj in (place, answer):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.specificity = Specificity.NONE  # type: ignore[misc]
        assert not hasattr(obj, "__dict__")


# =========================================================================== free text


def texts(text: str) -> list[str]:
    return [p.text for p in find_places(text)]


def names(text: str) -> list[str]:
    return [text[a:b] for a, b in place_name_spans(text)]


@pytest.mark.parametrize(
    ("text", "places"),
    [
        # the examples: a span must not swallow the words around it
        ("实验小学饱受附近工地噪音", ["实验小学"]),
        ("居民饱受解放路施工噪音困扰", ["解放路"]),
        ("业主反映绿地香树花城7栋电梯坏了", ["绿地香树花城7栋"]),
        ("每天路过锦程路的时候都很堵", ["锦程路"]),
        ("孩子在城南实验小学读书，门口天天堵车", ["城南实验小学"]),
        ("我家住在铂金湾5栋顶层下面一层", ["铂金湾5栋"]),
        ("骑电瓶车下班路上被小汽车刮倒了", []),
        ("送外卖路上电动车翻了", []),
        ("该路段是居民下班回家的必经之路", []),
    ],
)
def test_spans_do_not_swallow_words(text: str, places: list[str]) -> None:
    assert texts(text) == places


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("我住在高新区桂花苑9栋，楼道灯坏了", "高新区桂花苑9栋"),
        ("高新区创业大厦门口的井盖丢了", "高新区创业大厦门口"),
        ("长沙市岳麓区麓谷街道白鹤社区", "长沙市岳麓区麓谷街道白鹤社区"),
        ("朝阳区望京街道花家地社区3号楼2单元", "朝阳区望京街道花家地社区3号楼2单元"),
    ],
)
def test_the_district_is_kept(text: str, place: str) -> None:
    assert texts(text) == [place]


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("C5栋漏水", "C5栋"),
        ("碧桂园C5栋楼下", "碧桂园C5栋楼下"),
        ("星河湾Ｂ区１２栋", "星河湾Ｂ区１２栋"),
        ("万达广场A座12楼", "万达广场A座12楼"),
        ("金茂大厦b座1501", "金茂大厦b座1501"),
        ("我住在朝陽區望京街道花家地社區3號樓", "朝陽區望京街道花家地社區3號樓"),
    ],
)
def test_the_residents_characters_are_kept(text: str, place: str) -> None:
    assert texts(text) == [place]


def test_entity_value_keeps_casing_and_width() -> None:
    values = [
        e.value
        for e in extract_entities("碧桂园C5栋漏水，星河湾Ｂ区１２栋也漏")
        if e.entity == "address"
    ]
    assert values == ["碧桂园C5栋", "星河湾Ｂ区１２栋"]


def test_three_unseen_places_in_one_complaint() -> None:
    text = (
        "我住在翠湖湾二期，每天去锦程路上的博文实验学校接孩子，"
        "校门口和鑫源大厦之间的路灯都不亮，电话13900001234"
    )
    assert texts(text) == ["翠湖湾二期", "锦程路上", "博文实验学校", "鑫源大厦"]
    assert names(text) == ["翠湖湾", "锦程", "博文实验", "鑫源"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("云栖湾三期电梯频繁困人", ["云栖湾"]),
        ("桃源村三组的水渠堵了到底归谁管？", ["桃源"]),
        ("保利心语二期15栋楼下天天有人烧烤", ["保利心语"]),
        ("龙湖春江郦城东门的垃圾没人收", ["龙湖春江郦城"]),
        ("书院路和韶山路交叉口红绿灯坏了", ["书院", "韶山"]),
        ("枫林绿洲3号楼楼下井盖松了", ["枫林绿洲"]),
        ("城南实验小学门口乱停车", ["城南实验"]),
        ("高新区创业大厦电梯坏了", ["高新", "创业"]),
        ("地铁3号线五一广场站B出口有人摆摊", ["五一"]),
        ("万象汇东门的路灯不亮", ["万象汇"]),
    ],
)
def test_name_spans_cover_names_not_type_words(text: str, expected: list[str]) -> None:
    assert names(text) == expected


# Places inside realistic complaints: the span is exactly what the resident typed, no
# word of the sentence more or less.  One group per kind of place the component used to
# cut or refuse (names invented).
COMPLAINTS: list[tuple[str, list[str]]] = [
    # names holding digits or Latin letters
    ("阳光100国际新城3栋电梯又坏了", ["阳光100国际新城3栋"]),
    ("我住万科2049城，小区门口天天占道经营", ["万科2049城", "小区门口"]),
    ("请问万科2049城二期的学位划片什么时候公布", ["万科2049城二期"]),
    ("反映一下SOHO现代城B座楼下的油烟问题", ["SOHO现代城B座楼下"]),
    ("SOHO现代城B座地下车库积水严重，车都泡了", ["SOHO现代城B座地下车库"]),
    ("举报华润24城9栋有人在楼顶违建", ["华润24城9栋"]),
    ("我们金地9号院东门每天晚上都有大车进出，噪音太大", ["金地9号院东门"]),
    ("融创1号院二期地下室漏水", ["融创1号院二期"]),
    ("业主反映星悦188小区2栋楼顶漏水", ["星悦188小区2栋楼顶"]),
    ("K11购物中心附近违停严重", ["K11购物中心附近"]),
    ("在远洋5A写字楼上班，楼下施工太吵", ["远洋5A写字楼"]),
    ("住在金科10年城3期的居民投诉物业", ["金科10年城3期"]),
    ("住了10年幸福小区的房子", ["幸福小区"]),
    # names holding common words, brands before a name
    ("孩子在育才幼儿园上学，门口天天堵车", ["育才幼儿园"]),
    ("育才幼儿园门口早上送孩子的车把路都堵死了", ["育才幼儿园门口"]),
    ("湿地公园东门那里有人非法捕鸟，希望管一管", ["湿地公园东门"]),
    ("每天在希望小学门口接孩子都堵得走不动", ["希望小学门口"]),
    ("孩子在希望小学读三年级，学校周边有流动摊贩", ["希望小学", "学校周边"]),
    ("梦想城9栋电梯困人，物业半小时都没来", ["梦想城9栋"]),
    ("新华联广场的喷泉晚上太吵了", ["新华联广场"]),
    ("美的时代城16栋楼下的垃圾桶一周没人清", ["美的时代城16栋楼下"]),
    ("中建凤凰湖12栋外墙瓷砖脱落，差点砸到人", ["中建凤凰湖12栋"]),
    ("保利时代C区的垃圾好几天没人清运", ["保利时代C区"]),
    ("我们在向阳小区住了十年，下水道一直堵", ["向阳小区"]),
    ("会展中心北门出租车乱停乱放还拒载", ["会展中心北门"]),
    ("在英才实验学校对面的工地晚上施工，孩子没法睡觉", ["英才实验学校对面"]),
    # numbered roads, ring roads and their crossings
    ("远航一路和创新二路交叉口的红绿灯坏了两天", ["远航一路和创新二路交叉口"]),
    ("东三环三段188号门口的行道树倒了压着电线", ["东三环三段188号门口"]),
    ("南二环辅路上有个大坑", ["南二环辅路上"]),
    ("每天经过南二环辅路都要堵半个小时", ["南二环辅路"]),
    ("科技五路的路灯晚上十点就全灭了", ["科技五路"]),
    ("经五路与纬二路交叉口一下雨就积水", ["经五路与纬二路交叉口"]),
    ("北四环东路辅路天天堵车", ["北四环东路辅路"]),
    ("二环线与桐梓坡路路口的公交站牌被撞倒了", ["二环线与桐梓坡路路口"]),
    ("工业三路88号的厂房噪音扰民", ["工业三路88号"]),
    ("道外区靖安街与十四道街交口的井盖丢了", ["道外区靖安街与十四道街交口"]),
    ("观音亭步行街八一路口有人发小广告", ["观音亭步行街八一路口"]),
    ("桐梓湾北路6号附1号门口的化粪池冒水", ["桐梓湾北路6号附1号门口"]),
    # waters and their stretches
    ("龙王港河枫林桥段有人偷倒建筑垃圾，河水都变色了", ["龙王港河枫林桥段"]),
    ("湘江大道靠近鹭鸣石大桥那段晚上有人飙车", ["湘江大道靠近鹭鸣石大桥那段"]),
    ("清溪河柳坡岭村段河面漂浮大量死鱼", ["清溪河柳坡岭村段"]),
    ("圭塘河边上有人电鱼，请派人制止", ["圭塘河边上"]),
    ("汉阳江滩二期晚上广场舞太吵", ["汉阳江滩二期"]),
    # divisions down to the village group, and their offices
    ("金井镇双溪村五组的自来水已经停了三天", ["金井镇双溪村五组"]),
    ("白沙镇青山村三组的村道被大货车压坏了", ["白沙镇青山村三组"]),
    ("我是花桥乡新建村7组的村民，反映饮水安全问题", ["花桥乡新建村7组"]),
    ("赵家堡村5社的低保评定不公平", ["赵家堡村5社"]),
    ("石门坎村4社到镇上的路塌方了", ["石门坎村4社"]),
    ("城西街道办事处门口有人拉横幅", ["城西街道办事处门口"]),
    ("大湾村村委会旁边的垃圾池满了", ["大湾村村委会旁边"]),
    # wards, garages, sites, branches, exits, zones and gates after a named place
    ("我母亲在康华二医院住院部，电梯等了半个小时都上不去", ["康华二医院住院部"]),
    ("市中心医院门诊楼前面乱停车，救护车都进不来", ["市中心医院门诊楼前面"]),
    ("县医院的急诊室晚上只有一个医生", ["县医院"]),
    ("万达广场地下车库B2层漏水，地面全是积水", ["万达广场地下车库B2层"]),
    ("德润园项目工地晚上十二点还在打桩，严重扰民", ["德润园项目工地"]),
    ("佳家超市红星店卖过期食品，要求查处", ["佳家超市红星店"]),
    ("家和多超市井湾子店门口的人行道被占了", ["家和多超市井湾子店门口"]),
    ("青禾路步行街南口有人强行乞讨", ["青禾路步行街南口"]),
    ("鹭鸣石大桥下有人钓鱼还乱扔垃圾", ["鹭鸣石大桥下"]),
    ("芙蓉小区7片3栋的化粪池满了，臭气熏天", ["芙蓉小区7片3栋"]),
    ("望江工业园东门的货车乱停，堵住了公交车道", ["望江工业园东门"]),
    ("天盛苑东三区12号楼的供暖不热", ["天盛苑东三区12号楼"]),
    ("曲江湖遗址公园南门的厕所太脏了", ["曲江湖遗址公园南门"]),
    ("沪宁康城87号楼的业主投诉物业乱收费", ["沪宁康城87号楼"]),
    ("猎鹰村复建房B5栋有人群租", ["猎鹰村复建房B5栋"]),
    (
        "尊敬的领导：我是阳光100国际新城3栋的业主，小区东门外的排水沟堵了一个多月",
        ["阳光100国际新城3栋", "小区东门"],
    ),
]


@pytest.mark.parametrize(("text", "places"), COMPLAINTS)
def test_places_inside_complaints(text: str, places: list[str]) -> None:
    assert texts(text) == places


def test_complaints_cover_every_class() -> None:
    assert len(COMPLAINTS) >= 40


def filed_location(text: str) -> str | None:
    """What the dialogue files as a first message's location without asking: the first
    address entity that ``read_location_answer`` judges a place (policies.dialogue)."""
    for entity in extract_entities(text):
        if entity.entity == "address":
            reading = read_location_answer(entity.value)
            if reading.verdict == "place":
                return reading.value
    return None


# First messages: the places found (exactly as typed) and the location filed without
# asking.  A false place here is costly — the resident is never asked where — so each
# group is a class of words that used to be read as a place, with the real places of the
# same shape that must still be found (names invented).
FIRST_MESSAGES: list[tuple[str, list[str], str | None]] = [
    # a connector is no part of a name: 和/与/跟/及/或 join two things (和平, 协和, 颐和
    # and a clause-starting X和 are names)
    ("物业把小区广告位和停车场的收入全拿走了，账目从来不公开", [], None),
    ("小区的快递柜和垃圾站都挨着住户窗户，夏天臭得开不了窗", [], None),
    ("绿化带和停车场都被改成了菜地", [], None),
    ("小区里的凉亭和儿童游乐园年久失修", ["小区里"], None),
    ("投诉了好多次，教育局和学校都不回复", [], None),
    ("村里和镇里都签了字，县里还是不批", [], None),
    ("门卫室和垃圾房之间的路灯不亮", [], None),
    ("我是和畅家园8栋的业主，楼道灯坏了半个月", ["和畅家园8栋"], "和畅家园8栋"),
    ("协和医院门口黄牛太多，挂个号要加价三百", ["协和医院门口"], "协和医院门口"),
    ("颐和花园东门的垃圾三天没人收", ["颐和花园东门"], "颐和花园东门"),
    ("住在佳和苑3栋，楼下烧烤摊太吵", ["佳和苑3栋"], "佳和苑3栋"),
    ("和平小区的下水道又堵了", ["和平小区"], "和平小区"),
    ("有家商铺在和兴路那边占道经营", ["和兴路"], None),
    ("东方鑫和家园3栋的外墙瓷砖掉了", ["东方鑫和家园3栋"], "东方鑫和家园3栋"),
    ("东方和鑫家园3栋的电梯又坏了", ["东方和鑫家园3栋"], "东方和鑫家园3栋"),
    ("物业把广告位和小区停车场都承包出去了", [], None),
    ("四时花园东门有人占道摆摊", ["四时花园东门"], "四时花园东门"),  # 四时: no "when"
    # a numeral and a measure word, or a verb, are no name (五棵松, 三家村 are)
    ("要走两站路才有超市，老人买菜太不方便", [], None),
    ("孩子上学要坐五站公交，建议增开校车", [], None),
    ("坐两站地铁就到的地方打车要八十", [], None),
    ("这条街上开了三家酒吧，晚上吵得睡不着", [], None),
    ("跑了三家医院都说没床位", [], None),
    ("走了好几站路都没看到一个公交站", [], None),
    ("开了两家诊所都没有资质", [], None),
    ("建议修一座人行天桥方便老人过马路", [], None),
    ("五棵松地铁站B口有人发小广告", ["五棵松地铁站B口"], "五棵松地铁站B口"),
    ("三家村村委会门口的垃圾没人清", ["三家村村委会门口"], "三家村村委会门口"),
    # a generic modifier is no name: such a place is vague unless a named one precedes it
    ("人行天桥上的灯不亮，晚上过桥很危险", [], None),
    ("过街天桥的电梯坏了一个月", [], None),
    ("临时停车场没有灯，晚上车被刮了", [], None),
    ("小区临时停车场被人用地锁占了", [], None),
    ("公共厕所太脏，一直没人打扫", [], None),
    ("露天停车场乱收费，一小时十块", [], None),
    ("儿童游乐园的滑梯坏了", [], None),
    ("立体停车场建好两年了一直不开放", [], None),
    ("无障碍厕所一直锁着", [], None),
    ("新开的地下停车场收费太贵", [], None),
    ("地下通道里积水很深", ["地下通道里"], None),
    ("那个公共厕所旁边的垃圾没人收", ["公共厕所旁边"], None),
    ("五一大道人行天桥的电梯坏了", ["五一大道人行天桥"], "五一大道人行天桥"),
    ("芙蓉路过街天桥上有人摆摊", ["芙蓉路过街天桥"], "芙蓉路过街天桥"),
    ("湘江中路人行天桥下面有人睡觉", ["湘江中路人行天桥下面"], "湘江中路人行天桥下面"),
    ("幸福小区露天停车场乱收费", ["幸福小区露天停车场"], "幸福小区露天停车场"),
    ("人民公园公共厕所太脏", ["人民公园公共厕所"], "人民公园公共厕所"),
    ("万家丽路临时菜市场占道经营", ["万家丽路临时菜市场"], "万家丽路临时菜市场"),
    ("红星农贸市场门口占道经营", ["红星农贸市场门口"], "红星农贸市场门口"),
    ("城市花园南门外的人行道被车停满了", ["城市花园南门"], "城市花园南门"),
    # a village, a town or an office needs a name that looks like one, not the noun
    # closing the clause before (voice input runs clauses together)
    ("等了半年也没有动静村里也不管", [], None),
    ("申请了低保结果村里不给批", [], None),
    ("下大雨村里的路全淹了", [], None),
    ("年年打报告村里从来不理", [], None),
    ("没有回音镇里也不管，我们该找谁", [], None),
    ("一直没有下文村委会也不给说法", [], None),
    ("找了好几次没有结果居委会说不归他们管", [], None),
    ("等了半年没有动静村三组的路还是坏的", [], None),
    ("我们去问村里村里也说不知道", [], None),
    ("刚下完雨村口的路就烂了", [], None),
    ("一直没有回应派出所也不出警", [], None),
    ("王家村村口的桥塌了", ["王家村村口"], "王家村村口"),
    ("每天路过黄土村三组都要绕路", ["黄土村三组"], "黄土村三组"),  # 黄土: a noun, confirmed
    ("在杨柳村里有人乱倒垃圾", ["杨柳村里"], None),  # a village alone: ask which part
    # two-character names made of word characters before a school, a hospital or an
    # estate, after 在/到/去/的/门口 or at a clause's start
    ("建议在博雅小学门口装个红绿灯", ["博雅小学门口"], "博雅小学门口"),
    ("博才小学门口的人行道被小摊占了", ["博才小学门口"], "博才小学门口"),
    ("孩子在求是中学读书，门口天天堵车", ["求是中学"], "求是中学"),
    ("孩子读书的自强小学门口有人卖辣条", ["自强小学门口"], "自强小学门口"),
    ("勤奋幼儿园门口早上乱停车", ["勤奋幼儿园门口"], "勤奋幼儿园门口"),
    ("到聪明幼儿园接孩子要排很久", ["聪明幼儿园"], "聪明幼儿园"),
    ("希望小学门口的减速带坏了", ["希望小学门口"], "希望小学门口"),
    ("学校门口天使幼儿园旁边有人摆摊", ["学校门口天使幼儿园旁边"], "学校门口天使幼儿园旁边"),
    ("规范医院收费", [], None),
    ("加强小区管理，不要让外卖车进来", [], None),
    ("安全小区建设还要加强", [], None),  # an adjective at a clause's start describes
    ("干净医院才让人放心", [], None),
    ("整洁小区门口却堆满垃圾", ["小区门口"], None),
    ("男厕所没有灯，晚上很吓人", [], None),
    ("三家人共用一个厨房", [], None),
    ("我和邻居都反映过好几次", [], None),
    # a river and a named section
    ("湘江猴子山段有人游泳，很危险", ["湘江猴子山段"], "湘江猴子山段"),
    ("浏阳河榔梨垸段有人非法挖沙", ["浏阳河榔梨垸段"], "浏阳河榔梨垸段"),
    ("湘江三汊矶码头段有人在江边洗车", ["湘江三汊矶码头段"], "湘江三汊矶码头段"),
    ("捞刀河白沙洲段漂着很多死鱼", ["捞刀河白沙洲段"], "捞刀河白沙洲段"),
    ("沩水河双江口段晚上有人电鱼", ["沩水河双江口段"], "沩水河双江口段"),
    ("龙王港河金星路段有人倒建筑垃圾", ["龙王港河金星路段"], "龙王港河金星路段"),
    ("浏阳河黄兴镇段河面有大片垃圾", ["浏阳河黄兴镇段"], "浏阳河黄兴镇段"),
    ("关于清溪河下游河段发黑发臭的问题", ["清溪河"], None),
    ("湘江这段时间水位很高", ["湘江"], None),
    # a time inside an estate's name gives way to the estate
    ("住在金科10年城3期的居民投诉物业", ["金科10年城3期"], "金科10年城3期"),
    ("金科10年城东门天天堵车", ["金科10年城东门"], "金科10年城东门"),
    ("我在这住了10年城管从来不管", [], None),
    ("去年3月幸福小区门口修了减速带", ["幸福小区门口"], "幸福小区门口"),
]


@pytest.mark.parametrize(("text", "places", "filed"), FIRST_MESSAGES)
def test_first_messages(text: str, places: list[str], filed: str | None) -> None:
    assert texts(text) == places
    assert filed_location(text) == filed


def test_first_messages_are_many() -> None:
    assert len(FIRST_MESSAGES) >= 60
    assert len({text for text, _, _ in FIRST_MESSAGES}) == len(FIRST_MESSAGES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("湘江猴子山段有人游泳", ["湘", "猴子山"]),
        ("浏阳河黄兴镇段河面有垃圾", ["浏阳", "黄兴"]),  # the section's name, not 镇
        ("湘江三汊矶码头段有人洗车", ["湘", "三汊矶"]),
        ("五一大道人行天桥的电梯坏了", ["五一"]),  # 人行 is no name
        ("幸福小区露天停车场乱收费", ["幸福"]),
        ("建议在博雅小学门口装个红绿灯", ["博雅"]),
        ("博才小学门口的人行道被占了", ["博才"]),
        ("我是和畅家园8栋的业主", ["和畅"]),
        ("颐和花园东门的垃圾没人收", ["颐和"]),
        ("五棵松地铁站B口有人发小广告", ["五棵松"]),
    ],
)
def test_name_spans_of_sections_modifiers_and_connectors(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("阳光100国际新城3栋电梯又坏了", ["阳光100国际"]),  # 新城 is a type word
        ("美的时代城16栋楼下有人烧垃圾", ["美的时代城"]),
        ("孩子在育才幼儿园上学", ["育才"]),
        ("远航一路和创新二路交叉口的红绿灯坏了", ["远航一", "创新二"]),
        ("东三环三段188号门口的树倒了", ["东三环"]),
        ("圭塘河边上有人电鱼", ["圭塘"]),
        ("金井镇双溪村五组的自来水停了", ["金井", "双溪"]),
    ],
)
def test_name_spans_of_new_kinds_of_names(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "下单",
        "学习",
        "开门",
        "出口转内销",
        "上门服务",
        "门诊怎么挂号",
        "城乡居民养老保险怎么交",
        "城乡居民养老保险政府给补贴多少",
        # 医保局, 社保局 are organisations a resident deals with, not places to send someone
        "医保局在哪",
        "去医保局办要带什么",
        "社保卡丢了",
        "12345",
        "家里困难怎么申请低保",
        "跨省异地就医定点医院怎么查",
        "在国外定居的老人怎么认证养老金",
        "我在外地上大学医保能用吗",
        "老板跑路了",
        "新生儿证件一站式办理",
        "帮孩子开居住证明入园用",
        "我家上个月房子着火了",
        "开证明找居委会还是街道",
        "社区日间照料中心",
        "一楼私自开后门建院子",
        "办了慢病以后门诊报销比例是多少",
        "我们都在等",
        "路灯坏了三天了",
        "2",
        "13912345678",
        "昨天晚上",
        # a sentence's verb, a time word or a count before a type word names nothing
        "希望社区多组织一些老年人活动",
        "建议小区装电动车充电桩",
        "感谢政府感谢社区",
        "夜里工地打混凝土声音很大",
        "楼下新开的早餐店油烟很大",
        "这家店卖假货",
        "占绿地盖车库",
        "污水直排进河",
        "昨晚湖人赢了没",
        "去年12月开始就一直施工",
        # bus lines and "all the way" are no numbered roads
        "坐三路公交车要等很久",
        "建议延长26路公交末班时间",
        "司机一路都在玩手机",
        "这一路上坑坑洼洼的",
        "一环扣一环的手续太麻烦",
        "一片狼藉没人管",
        "市中心",
    ],
)
def test_ordinary_words_are_not_places(text: str) -> None:
    assert find_places(text) == []


# =========================================================================== specificity


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("", Specificity.NONE),
        ("社保", Specificity.NONE),
        ("小区门口", Specificity.VAGUE),
        ("我家楼下", Specificity.VAGUE),
        ("7栋2单元", Specificity.VAGUE),
        ("高新区", Specificity.AREA),
        ("人民路", Specificity.AREA),
        ("绿地香树花城", Specificity.AREA),
        ("桃源村", Specificity.AREA),
        ("绿地香树花城7栋", Specificity.SPECIFIC),
        ("星河湾B区12栋", Specificity.SPECIFIC),
        ("保利心语二期", Specificity.SPECIFIC),
        ("龙湖春江郦城东门", Specificity.SPECIFIC),
        ("书院路和韶山路交叉口", Specificity.SPECIFIC),
        ("解放路88号", Specificity.SPECIFIC),
        ("高新区创业大厦", Specificity.SPECIFIC),
        ("桃源村三组", Specificity.SPECIFIC),
        ("地铁3号线五一广场站B出口", Specificity.SPECIFIC),
        ("绿地香树花城7栋2单元", Specificity.EXACT),
        ("金域蓝湾3-2-502", Specificity.EXACT),
        # ring roads and waters are lines like roads; a stretch, a gate or a group pins them
        ("东三环", Specificity.AREA),
        ("龙王港河", Specificity.AREA),
        ("东三环三段188号", Specificity.SPECIFIC),
        ("龙王港河枫林桥段", Specificity.SPECIFIC),
        ("远航一路和创新二路交叉口", Specificity.SPECIFIC),
        ("金井镇双溪村", Specificity.AREA),
        ("金井镇双溪村五组", Specificity.SPECIFIC),
        ("城西街道办事处", Specificity.SPECIFIC),
        ("望江工业园", Specificity.AREA),
        ("望江工业园东门", Specificity.SPECIFIC),
        ("佳家超市红星店", Specificity.SPECIFIC),
        ("芙蓉小区7片3栋", Specificity.SPECIFIC),
        # a generic modifier names nothing; after a named place it is part of it
        ("人行天桥下面", Specificity.VAGUE),
        ("公共厕所旁边", Specificity.VAGUE),
        ("五一大道人行天桥", Specificity.SPECIFIC),
        # a river and a named section; "in the village" is no more than the village
        ("湘江猴子山段", Specificity.SPECIFIC),
        ("浏阳河榔梨垸段", Specificity.SPECIFIC),
        ("湘江", Specificity.AREA),
        ("桃源村里", Specificity.AREA),
        ("桃源村口", Specificity.SPECIFIC),
    ],
)
def test_specificity(value: str, level: Specificity) -> None:
    assert address_specificity(value) == level
    assert is_specific_location(value) is (level >= Specificity.SPECIFIC)


def test_entities_reexports_the_address_api() -> None:
    assert entities_module.Specificity is Specificity
    assert entities_module.address_specificity is address_specificity
    assert entities_module.is_specific_location is is_specific_location


def test_common_words_resource_holds_words_only() -> None:
    words = address_module._common_words()
    assert "饱受" in words and "频繁" in words
    # names of places were removed from it, and the header's words are not loaded
    assert not {"解放", "幸福", "胜利", "五一", "三角"} & words
    # the nouns it lists are apart: they only stop the name of a village or an office
    nouns = address_module._common_nouns()
    assert {"动静", "结果", "报告", "大雨", "荷花"} <= nouns
    assert not {"动静", "结果", "报告", "大雨", "荷花"} & words
    assert address_module._lexicon()["动静"] == "n"


# =========================================================================== invariants

CORPUS = [answer for answer, _, _ in ANSWERS] + [
    "我住在翠湖湾二期，每天去锦程路上的博文实验学校接孩子，校门口和鑫源大厦之间的路灯都不亮",
    "尊敬的市长：您好！我是蓝湾半岛的业主，现反映小区东侧滨河路约300米路段路灯长期不亮的问题。",
    "喂你好那个我想说一下就是我们那个嘉禾苑东门出来那个路啊路灯坏了好几天了",
    "\u200b绿地\u200b香树花城７栋２单元",
]


@pytest.mark.parametrize("text", CORPUS)
def test_places_are_sorted_non_overlapping_and_exact(text: str) -> None:
    places = find_places(text)
    for place in places:
        assert 0 <= place.start < place.end <= len(text)
        assert text[place.start : place.end] == place.text
        assert place.text == place.text.strip()
        for a, b in place.names:
            assert place.start <= a < b <= place.end
    for left, right in itertools.pairwise(places):
        assert left.end <= right.start


def test_extraction_stays_fast() -> None:
    """docs/address.md gives the measured figure (~0.16 ms); this bound only catches
    pathological regressions on a shared machine."""
    text = (
        "喂你好，我住在高新区桂花苑9栋，就是书院路和韶山路交叉口往北那个小区，楼下的路灯"
        "坏了三天了，晚上黑乎乎的，昨天还有人摔倒了，你们尽快派人来看看，电话13912345678"
    )
    extract_entities(text)
    started = time.perf_counter()
    for _ in range(300):
        extract_entities(text)
    assert (time.perf_counter() - started) / 300 < 0.002


@pytest.mark.parametrize(
    "text",
    ["绿地" * 3000 + "7栋", "7栋" * 2000, "路口" * 2000, "解放路" * 2000, "东门" * 3000],
)
def test_long_adversarial_input_is_linear(text: str) -> None:
    started = time.perf_counter()
    find_places(text)
    read_location_answer(text[:2000])
    assert time.perf_counter() - started < 2.0
