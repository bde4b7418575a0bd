"""Normalised place keys: where a ticket's problem is, however the resident wrote it.

:func:`place_key` reads a free-text location (``解放路与中山街路口``, ``中山街解放路口东侧``,
``解放路中山街交叉口北侧``…) and returns a :class:`PlaceKey` whose ``keys`` are equal for
the same place:

* a **crossing** of two roads, order-independent: ``crossing:中山街×解放路``;
* an **estate** (小区, 花园, 家园, 苑, 里…), with a trailing ``小区`` dropped when another
  estate word precedes it (``幸福家园小区`` == ``幸福家园``): ``estate:幸福家园``;
* a **landmark** (地铁站, 公园, 医院, 超市…; ``地铁望京站`` == ``望京地铁站``): ``poi:人民公园``;
* a **village** (村, 庄, 屯, 寨): ``village:李家村``;
* otherwise a **road** (``road:解放路``) with its house number, if any, kept apart in
  ``number`` (the clustering rule decides how far apart two numbers may be).

Building / unit / room numbers and relational words (东侧, 门口, 对面, 东门…) are dropped;
administrative prefixes (省, 市, 区/县, 街道/镇/乡, 社区) are optional: they are removed
when something more specific follows and kept in ``area`` for display.

The input should already be normalised (simplified characters, half-width digits; the
engine in ``integrations/analytics`` does that with ``nlu.normalize``); this module is
pure and imports nothing from ``nlu`` or ``integrations``.

It also bins coordinates into a square grid (:func:`grid_cell`, :func:`cells_around`) and
measures distances (:func:`distance_m`), for tickets that carry a location message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "PlaceKey",
    "admin_parts",
    "cells_around",
    "distance_m",
    "grid_cell",
    "place_key",
    "place_names",
    "strip_places",
]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CROSSING: Final = "crossing"
ESTATE: Final = "estate"
POI: Final = "poi"
VILLAGE: Final = "village"
ROAD: Final = "road"
NONE: Final = "none"

#: The kinds that locate a spot on their own; a road without a number is a whole line.
SPECIFIC_KINDS: Final = (CROSSING, ESTATE, POI, VILLAGE)

_ROAD_SUFFIXES: Final = ("大道", "大街", "胡同", "路", "街", "巷")
_POI_SUFFIXES: Final = _words(
    "地铁站 公交站 公交车站 火车站 高铁站 汽车站 客运站 菜市场 农贸市场 "
    "市场 超市 商场 购物中心 步行街 幼儿园 小学 中学 大学 学院 学校 医院 "
    "卫生院 卫生服务中心 公园 广场 银行 派出所 体育馆 体育场 图书馆 停车场 "
    "加油站 充电站 垃圾站 立交桥 天桥 大桥 酒店 宾馆 政府 街道办事处 "
    "居委会 服务中心 桥 站 "
)
_ESTATE_SUFFIXES: Final = _words(
    "家属院 家属楼 小区 花园 家园 新村 公寓 大厦 嘉园 名苑 华府 公馆 "
    "山庄 大院 宿舍 苑 里 城 府 园 庭 湾 邸 "
)
_VILLAGE_SUFFIXES: Final = ("村委会", "村", "庄", "屯", "寨")

_KIND_OF: Final[dict[str, str]] = {
    **{s: VILLAGE for s in _VILLAGE_SUFFIXES},
    **{s: ESTATE for s in _ESTATE_SUFFIXES},
    **{s: POI for s in _POI_SUFFIXES},
    **{s: ROAD for s in _ROAD_SUFFIXES},
}
# One alternation, longest suffix first, so 公园 wins over 园 and 大街 over 街.
_SUFFIX_RE: Final = re.compile(
    "|".join(re.escape(s) for s in sorted(_KIND_OF, key=lambda s: (-len(s), s)))
)

# Characters that must not follow a suffix for it to end a place name (路灯, 街道, 站在…).
_NOT_BEFORE: Final[dict[str, str]] = {
    "路": "灯费线由途程况政障基肩沿网标径子数牌",
    "街": "道坊头舞区",
    "巷": "子战",
    "站": "着住起在岗长点台出立",
    "桥": "梁牌",
}
# One-character estate suffixes are common in plain words (水管里, 城管, 花园里): they end a
# name only before the end, a space, a digit, a gate or side, or another estate word.
_WEAK_SUFFIXES: Final = frozenset("苑里城府园庭湾邸")
_AFTER_WEAK_RE: Final = re.compile(
    r"$|[\s\d小社东西南北正门对旁附周楼栋幢单内外前后一二三四五六七八九十a-z]"
)
# A name never contains these: it stops before them when read leftwards from its suffix.
# Function words only; characters common in names (都 in 名都, 才 in 育才, 向 in 向阳, 会 in
# 会展, 能 in 能源, 为 in 为民) are left out even though they are also function words.
_STOP_CHARS: Final = frozenset(
    "在住是到的我你他她它从往去了就也还很说问请帮要想把被让给对没不吗呢吧啊呀哦嗯"
    "这那哪咱有个些么什啥谁怎因所但却又再刚已得着过与及或跟并该每号栋幢座室层楼近旁"
)
# Words inside a candidate name: the name starts after the last of them (对面幸福家园 → 幸福).
_STOP_WORDS_RE: Final = re.compile(
    "门口|对面|旁边|附近|周边|周围|隔壁|楼下|楼上|[东西南北](?:侧|边|面|门|角)|大门|路口|"
    "交叉口|靠近|位于|就在|我家|我们|这边|那边|这里|那里|小区|一带|前面|后面|里面|外面|"
    "沿线|地址|位置|家住|上面|下面|拐角|单元|出口|入口|门前|对过|斜对面"
)
# A leading connector belongs to the sentence, not to the name (和中山街 → 中山街).
_LEADING_CONNECTOR_RE: Final = re.compile("[和与跟及同、]+")
_MAX_NAME: Final = 6
# Names that are common nouns with a place suffix (楼道里, 十字路, 马路).
_NOT_NAMES: Final = frozenset(
    _words(
        "十字 丁字 马 公 铁 小 岔 土 水泥 柏油 楼道 院子 屋子 房子 家里 "
        "村子 城里 单元 电梯 车库 地下室 家 老家 菜 停车 人行 非机动车 "
        "机动车 快车 慢车 过 一条 这条 那条 门口 出租 网约 公交 地铁 大 "
        "高速 国 省 县 乡 环城 城管 "
    )
)
# Villages are often one surname and 村/庄 (马村, 李庄) — but not 农村, 本村, 进村.
_SHORT_VILLAGE_SUFFIXES: Final = frozenset({"村", "庄", "屯", "寨"})
_NOT_VILLAGE_NAMES: Final = frozenset("农乡本全该进出回一这那此外他她我你山渔邻同")
# A place name never contains an administrative unit (街道, 社区, 区, 县…).
_ADMIN_IN_NAME_RE: Final = re.compile(
    "(?<=.)(?:街道|社区|(?<![小园校景厂营社])区|县|(?<![城超菜夜集街门花])市)"
)
# A 路 after one of these is a word, not a road name (马路, 修路, 堵路, 铁路, 网路…).
_GENERIC_ROAD_PREV: Final = frozenset(
    "马道铁线电思出走迷修退问带让绕挡断短套岔弯近半活死网土小公末歧夜赶引拦堵封抢挖铺筑改上"
)
# Markers that make two roads a crossing rather than two mentions.
_CROSSING_MARKER_RE: Final = re.compile("路口|交叉|交口|十字|丁字|交汇|交界|靠近|[与和跟及/、x×]")
# Crossing words that hide a road suffix (十字路口 → 十字 + 路 + 口): removed before scanning.
_CROSSING_WORDS_RE: Final = re.compile("十字路口|丁字路口|交叉路口|十字路|丁字路|交叉口|交汇处")
_HOUSE_NUMBER_RE: Final = re.compile(r"\s*(\d{1,5})(?:[-之]\d{1,4})?号(?![楼房])")
_BUILDING_RE: Final = re.compile(
    r"(\d{1,3}|[一二三四五六七八九十]{1,3})(?:号楼|栋|幢|座|号院)|(?<!\d)(\d{1,3})-\d{1,2}-\d{2,4}"
)
_CN_DIGITS: Final = {c: i for i, c in enumerate("零一二三四五六七八九")}
_METRO_RE: Final = re.compile(r"地铁([\u4e00-\u9fff]{2,6}?)站")
_SPACE_RE: Final = re.compile(r"[\s,，。;；:：!！?？()（）\[\]【】\"'“”‘’<>《》]+")

# Administrative prefixes, outermost first; each part is optional.  The lookbehinds keep
# 超市 / 菜市 (markets) and 小区 / 园区 / 校区 / 社区 (places) from reading as 市 or 区.
_ADMIN_PREFIX_RE: Final = re.compile(
    r"^(?P<admin>"
    r"(?:[\u4e00-\u9fff]{2,7}?(?:省|自治区))?"
    r"(?:[\u4e00-\u9fff]{2,7}?(?:自治州|地区|盟|(?<![超菜夜集街门花])市))?"
    r"(?:[\u4e00-\u9fff]{1,6}?(?:新区|(?<![小园校景厂营社])区|县|旗))?"
    r"(?P<street>[\u4e00-\u9fff]{2,6}?(?:街道办事处|街道办|街道|镇|乡))?"
    r"(?P<community>[\u4e00-\u9fff]{2,6}?(?:社区居委会|居委会|社区))?"
    r")"
)
_STREET_SUFFIX_RE: Final = re.compile("(?:街道办事处|街道办)$")
_COMMUNITY_SUFFIX_RE: Final = re.compile("(?:社区居委会|居委会)$")


@dataclass(frozen=True, slots=True)
class PlaceKey:
    """The normalised place of a location text.

    ``keys`` are the comparable keys, most specific first (``crossing:中山街×解放路``,
    ``estate:幸福家园``…); two locations are at the same place when they share one (see
    :func:`policies.clusters.place_match`). A road appears in ``keys`` only when nothing
    more specific was found; ``number`` is then its house number, if given. ``building`` is
    the building (楼/栋/幢/座) of an estate or village, if given (``3`` for 3号楼, 三栋 and
    3-2-502). ``name`` is a display form, ``area`` the administrative prefix that was
    removed, ``names`` every named place as written (for :func:`strip_places`).
    """

    keys: tuple[str, ...] = ()
    kind: str = NONE
    name: str = ""
    number: int | None = None
    area: str = ""
    building: str | None = None
    names: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.keys

    @property
    def specific(self) -> bool:
        """A spot rather than a line: a crossing, estate, landmark or village."""
        return self.kind in SPECIFIC_KINDS

    def shares(self, other: PlaceKey) -> bool:
        """Whether the two locations have a key in common."""
        return not set(self.keys).isdisjoint(other.keys)

    def __str__(self) -> str:
        return self.keys[0] if self.keys else NONE


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    name: str  # with its suffix: 解放路, 幸福家园, 人民公园
    start: int
    end: int


def _clean(text: str) -> str:
    text = _SPACE_RE.sub(" ", text.strip().lower())
    text = _CROSSING_WORDS_RE.sub(" 路口 ", text)
    return _METRO_RE.sub(r"\1地铁站", text)


def _name_start(s: str, start: int, taken: list[bool]) -> int:
    """Walk left from a suffix over the characters that can form its place name."""
    i = start
    while i > 0 and start - i < _MAX_NAME:
        ch = s[i - 1]
        if taken[i - 1] or ch in _STOP_CHARS or not ("\u4e00" <= ch <= "\u9fff" or ch.isalpha()):
            break
        i -= 1
    last = None
    for last in _STOP_WORDS_RE.finditer(s, i, start):  # noqa: B007 - we want the last one
        pass
    if last is not None:
        i = last.end()
    connector = _LEADING_CONNECTOR_RE.match(s, i, start)
    if connector and start - connector.end() >= 2:
        i = connector.end()
    return i


def _tokens(s: str) -> list[_Token]:
    """Named places in ``s`` (left to right), each a name of two or more characters plus its
    suffix. A road suffix right after a landmark or estate makes one road (花园路, 学院路)."""
    taken = [False] * len(s)
    tokens: list[_Token] = []
    for m in _SUFFIX_RE.finditer(s):
        start, end = m.span()
        word = m.group()
        kind = _KIND_OF[word]
        follower = s[end : end + 1]
        if follower and follower in _NOT_BEFORE.get(word, ""):
            continue
        if word in _WEAK_SUFFIXES and not _AFTER_WEAK_RE.match(s, end):
            continue
        name_start = _name_start(s, start, taken)
        previous = tokens[-1] if tokens else None
        if (
            kind == ROAD
            and name_start == start
            and previous
            and previous.end == start
            and previous.kind != ROAD
        ):
            tokens.pop()  # 花园 + 路 → 花园路
            name_start = previous.start
        name = s[name_start:start]
        if kind == ROAD and word == "路" and name and name[-1] in _GENERIC_ROAD_PREV:
            continue  # 堵路, 修路, 过马路: a verb or a common noun, not a road name
        if _ADMIN_IN_NAME_RE.search(name):
            continue  # 湖滨街道马村: the name ran into an administrative prefix
        if (
            len(name) == 1
            and word in _SHORT_VILLAGE_SUFFIXES
            and (name_start == 0 or s[name_start - 1] == " ")
            and name not in _NOT_VILLAGE_NAMES
        ):
            pass  # 马村, 李庄: a village named by one surname, at the start of the text
        elif len(name) < 2 or name in _NOT_NAMES:
            continue  # also 幸福家园小区: 小区 right after an estate has no name of its own
        tokens.append(_Token(kind, name + word, name_start, end))
        for k in range(name_start, end):
            taken[k] = True
    return tokens


def _estate_name(name: str) -> str:
    # 幸福家园小区 → 幸福家园; 幸福小区 stays (the suffix is all that marks it as an estate).
    if name.endswith("小区") and len(name) > 4 and _SUFFIX_RE.search(name[:-2]):
        return name[:-2]
    return name


def _cn_number(text: str) -> str:
    """``3`` → ``3``; ``十二`` → ``12``; ``二十`` → ``20`` (building numbers only)."""
    if text.isdigit():
        return str(int(text))
    if "十" in text:
        tens, _, ones = text.partition("十")
        return str(_CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(ones, 0))
    return "".join(str(_CN_DIGITS.get(c, 0)) for c in text)


def _building(s: str) -> str | None:
    m = _BUILDING_RE.search(s)
    if m is None:
        return None
    return _cn_number(m.group(1) or m.group(2))


def _village_name(name: str) -> str:
    return name[: -len("委会")] if name.endswith("村委会") else name


def _parse(s: str) -> tuple[list[_Token], int | None]:
    tokens = _tokens(s)
    number = None
    for token in tokens:
        if token.kind == ROAD:
            m = _HOUSE_NUMBER_RE.match(s, token.end)
            if m:
                number = int(m.group(1))
                break
    return tokens, number


def place_key(text: str) -> PlaceKey:
    """The :class:`PlaceKey` of a free-text location (see the module docstring).

    >>> place_key("解放路与中山街路口").keys == place_key("中山街解放路口东侧").keys
    True
    """
    s = _clean(text)
    if not s:
        return PlaceKey()
    area = ""
    tokens, number = _parse(s)
    admin = _ADMIN_PREFIX_RE.match(s)
    if admin and admin.group("admin"):
        rest_tokens, rest_number = _parse(s[admin.end() :])
        if rest_tokens:  # strip the prefix only when a named place remains
            area = admin.group("admin")
            tokens, number = rest_tokens, rest_number
            s = s[admin.end() :]
        elif not tokens:  # 幸福社区, 朝阳区: an area and nothing in it
            area = admin.group("admin")
    if not tokens:
        return PlaceKey(area=area)
    written = tuple(dict.fromkeys(t.name for t in tokens))

    roads = [t for t in tokens if t.kind == ROAD]
    keys: list[str] = []
    names: list[str] = []
    kind = NONE
    if len(roads) >= 2:
        a, b = roads[0], roads[1]
        between = s[a.end : b.start]
        after = s[b.end : b.end + 4]
        if _CROSSING_MARKER_RE.search(between) or between.strip() == "" or "口" in after[:3]:
            first, second = sorted((a.name, b.name))
            keys.append(f"{CROSSING}:{first}×{second}")
            names.append(f"{a.name}与{b.name}路口")
            kind = CROSSING
    for token in tokens:
        if token.kind in (ESTATE, POI, VILLAGE):
            name = token.name
            if token.kind == ESTATE:
                name = _estate_name(name)
            elif token.kind == VILLAGE:
                name = _village_name(name)
            key = f"{token.kind}:{name}"
            if key not in keys:
                keys.append(key)
                names.append(name)
                if kind == NONE:
                    kind = token.kind
    if not keys and roads:
        keys.append(f"{ROAD}:{roads[0].name}")
        names.append(roads[0].name + (f"{number}号" if number is not None else ""))
        kind = ROAD
    if kind != ROAD:
        number = None
    building = _building(s) if kind in (ESTATE, VILLAGE) else None
    return PlaceKey(
        keys=tuple(keys),
        kind=kind,
        name="".join(names[:1]),
        number=number,
        area=area,
        building=building,
        names=written,
    )


def admin_parts(text: str) -> tuple[str | None, str | None]:
    """The street (街道/镇/乡) and community (社区) a location names in its administrative
    prefix (``朝阳区望京街道幸福社区3号楼`` → ``("望京街道", "幸福社区")``), in their
    short forms (``望京街道办事处`` → ``望京街道``, ``幸福社区居委会`` → ``幸福社区``)."""
    admin = _ADMIN_PREFIX_RE.match(_clean(text))
    if admin is None:
        return None, None
    street = admin.group("street")
    community = admin.group("community")
    if street:
        street = _STREET_SUFFIX_RE.sub("街道", street)
    if community:
        community = _COMMUNITY_SUFFIX_RE.sub("社区", community)
    return street or None, community or None


def place_names(text: str) -> list[str]:
    """The named places in a location text as written (``解放路``, ``中山街``,
    ``幸福家园``…), after the same cleaning as :func:`place_key`."""
    return [t.name for t in _tokens(_clean(text))]


def strip_places(text: str, names: Iterable[str]) -> str:
    """``text`` without the place ``names`` (those of the ticket's location, from
    :func:`place_names`): what is left describes the problem
    (``解放路中山街路口的井盖丢了`` → ``路口的井盖丢了``). Only the location's own names
    are removed, so words that merely look like places (堵路, 楼道里) stay."""
    for name in sorted(set(names), key=len, reverse=True):
        text = text.replace(name, " ")
    return text


# -- coordinates -------------------------------------------------------------------------------

_EARTH_RADIUS_M: Final = 6_371_008.8
_M_PER_DEG_LAT: Final = 111_320.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _check(lat: float, lon: float, size_m: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or math.isnan(lat + lon):
        raise ValueError(f"not a coordinate: {lat!r}, {lon!r}")
    if size_m <= 0:
        raise ValueError("grid cell size must be positive")


def _row_col(lat: float, lon: float, size_m: float) -> tuple[int, int]:
    dlat = size_m / _M_PER_DEG_LAT
    row = math.floor(lat / dlat)
    # Every cell of a row has the same width in degrees (that of the row's centre).
    centre = (row + 0.5) * dlat
    dlon = size_m / (_M_PER_DEG_LAT * max(math.cos(math.radians(centre)), 1e-6))
    return row, math.floor(lon / dlon)


def grid_cell(lat: float, lon: float, size_m: float = 150.0) -> str:
    """The square grid cell (about ``size_m`` on a side) that holds the point:
    ``g150:<row>:<col>``. Deterministic and dependency-free, like a geohash."""
    _check(lat, lon, size_m)
    row, col = _row_col(lat, lon, size_m)
    return f"g{size_m:g}:{row}:{col}"


def cells_around(lat: float, lon: float, size_m: float = 150.0) -> tuple[str, ...]:
    """The cell of the point and its eight neighbours: every point within ``size_m`` of
    (``lat``, ``lon``) lies in one of them."""
    _check(lat, lon, size_m)
    dlat = size_m / _M_PER_DEG_LAT
    cells: list[str] = []
    for dr in (-1, 0, 1):
        row, col = _row_col(lat + dr * dlat, lon, size_m)
        cells.extend(f"g{size_m:g}:{row}:{col + dc}" for dc in (-1, 0, 1))
    return tuple(dict.fromkeys(cells))
