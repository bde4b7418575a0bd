"""The address component: where a resident's place is, and whether it can be found.

Three jobs, one parser:

* :func:`find_places` — the places in free text ("云栖湾三期电梯频繁困人" → 云栖湾三期), with
  the spans of their proper-name parts (:func:`place_name_spans`, used to mask unseen names
  before intent classification) and how precisely each pins down a spot
  (:class:`Specificity`).  ``nlu.entities`` reports them as ``address`` entities.
* :func:`read_location_answer` — judges a resident's answer to "请问具体在什么位置？":
  ``place`` (a dispatcher can drive there), ``vague`` (ask once more) or ``not_place``
  (digits, a phone number, "好的", "不知道", a question …), and what to store.
* :func:`address_specificity` / :func:`is_specific_location` for older callers.

How a place is read (docs/address.md has the details): the text is normalised character
for character (:func:`nlu.normalize.normalize_aligned`), then COMPONENTS are found in a
fixed order, each claiming its characters:

1. administrative divisions from the gazetteer written in full (长沙市, 朝阳区), and bare
   province / prefecture names (长沙, 北京); ring roads (东三环, 南二环, 二环线);
2. numbered parts: 7栋, C5栋, A座, B馆, 3号楼, 2单元, 502室, 3楼, 二期, B区, 7片, 三组,
   5社, 88号, 9号院, 123弄, 3-2-502, 地铁3号线, B出口;
3. a NAME followed by a TYPE WORD: roads (解放路, 中山东路, 远航一路, 南锣鼓巷), estates
   (桂花苑, 星河湾, 幸福小区), named buildings and landmarks (创业大厦, 育才幼儿园,
   五一广场站, 城西街道办事处, 佳家超市红星店), divisions (望京街道, 桃源村, 城关镇), and
   last waters (圭塘河, 湘江), lines like roads — first of all a river and a named section
   (湘江猴子山段, 浏阳河榔梨垸段).  A generic modifier names nothing (人行天桥, 临时停车场:
   vague; 五一大道人行天桥 is the road's);
4. an unknown name directly before a numbered part or a gate (绿地香树花城7栋,
   保利心语二期, 枫林绿洲3号楼, 万象汇东门, 金地9号院): an estate, whatever it is called;
5. nameless crossings (路口, 十字路口) and bare district names (朝阳, 西湖), both weak;
6. relational words glued to the right of a component (门口, 东门, 南口, 楼下, 交叉口,
   北侧, 往北200米, 段, 桥下 …) — attached after step 3 already, so that
   人民医院住院部后面 is one landmark and not an estate called 院部.

A name is the run of characters left of its type word — CJK, letters and digits
(阳光100国际新城, SOHO现代城) — stopped by punctuation, function characters (在, 的, 了 …;
not inside a name word of nlu/resources/name_words.txt: 育才, 向阳, 美的), filler words
(反映, 附近 …), another component, and in free text the last COMMON WORD in it
(nlu/resources/common_words.txt: verbs, adverbs, adjectives … from jieba's dictionary):
"饱受解放路" → 解放, "连接路" has no name.  Nor does it run over a connector (广告位和
停车场), a count (走两站路, 三家医院) or a clause ending in 时 (放学时门口); and in free text
a village's or an office's name must not be the noun that closes the clause before
(没有动静村里也不管: voice input runs clauses together).  In an answer to "where?" (a
place by construction) common words do not cut a name: 湿地公园东门, 希望小学.  Adjacent
components (or places joined by 和/与, or a line and a place joined by 靠近) form one place.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from functools import cache
from importlib import resources
from typing import Final, Literal, NamedTuple

from nlu.normalize import AlignedText, normalize_aligned

__all__ = [
    "LocationAnswer",
    "LocationVerdict",
    "MessagePlaces",
    "Place",
    "PlaceSpan",
    "Specificity",
    "address_specificity",
    "find_places",
    "is_specific_location",
    "may_hold_time",
    "place_name_spans",
    "read_location_answer",
    "scan_places",
    "trie_regex",
]


class Specificity(IntEnum):
    """How precisely a location pins down a place."""

    NONE = 0  # not a location
    VAGUE = 1  # a place without a name: 小区门口, 我家楼下, 马路上, 3号楼2单元
    AREA = 2  # a named area or line: 朝阳区, 望京街道, 幸福路, 幸福小区, 桃源村
    SPECIFIC = 3  # someone can be sent: 幸福路88号, 幸福小区3号楼, 创业大厦, 桃源村三组
    EXACT = 4  # down to the door: 幸福小区3号楼2单元502室


@dataclass(frozen=True, slots=True)
class Place:
    """One place found in a text; offsets and characters are the ORIGINAL text's."""

    text: str
    start: int
    end: int
    specificity: Specificity
    names: tuple[tuple[int, int], ...]  # proper-name parts (解放, 绿地香树花城), no type words
    # what anchors it: estate, poi (named building or landmark), crossing (two roads, or a
    # road with 口 / 段 / 往北200米), road, village, admin, vague, part (7栋 alone)
    kind: str = ""


LocationVerdict = Literal["place", "vague", "not_place"]


@dataclass(frozen=True, slots=True)
class LocationAnswer:
    """The reading of a resident's answer to "where?"."""

    verdict: LocationVerdict
    value: str | None  # what to store as the ticket's location (the resident's characters)
    specificity: Specificity
    places: tuple[Place, ...] = field(default=(), compare=False, repr=False)


class PlaceSpan(NamedTuple):
    """A place in NORMALISED text (what :func:`scan_places` returns to ``nlu.entities``)."""

    start: int
    end: int
    specificity: Specificity
    names: tuple[tuple[int, int], ...]
    kind: str


# =========================================================================== helpers

_Trie = dict[str, "_Trie"]


def trie_regex(words: Iterable[str]) -> str:
    """An alternation of ``words`` factored into a trie, longest match first.

    Python's ``re`` tries alternatives one by one; with hundreds of words a flat
    alternation costs tens of microseconds per message, the trie form about one.
    """
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return build(trie)


def _words(text: str) -> list[str]:
    return text.split()


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _free(taken: bytearray, start: int, end: int) -> bool:
    return not any(taken[start:end])


def _claim(taken: bytearray, start: int, end: int) -> None:
    taken[start:end] = b"\x01" * (end - start)


# =========================================================================== resources


@dataclass(frozen=True, slots=True)
class _Gazetteer:
    names_re: re.Pattern[str]  # every full name and alias, longest match first
    full: dict[str, int]  # full name → length of its name part (北京市 → 2)
    weak_bare: frozenset[str]  # aliases that are places only next to another component


@cache
def _gazetteer() -> _Gazetteer:
    """Load the administrative-division names once (on first use)."""
    text = resources.files("nlu.resources").joinpath("admin_divisions.txt").read_text("utf-8")
    full: dict[str, int] = {}
    strong: set[str] = set()
    weak: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        level, name, *aliases = parts
        bares = [alias.lstrip("~") for alias in aliases]
        # The name part of 北京市 is 北京: the longest alias that starts the full name.
        prefix = max((b for b in bares if name.startswith(b)), key=len, default=name)
        full[name] = len(prefix)
        for alias, bare in zip(aliases, bares, strict=True):
            if level == "D" or alias.startswith("~"):
                weak.add(bare)
            else:
                strong.add(bare)
    weak -= strong
    return _Gazetteer(
        names_re=re.compile(trie_regex(set(full) | strong | weak)),
        full=full,
        weak_bare=frozenset(weak - set(full)),
    )


# Everyday nouns that are never a place's name on their own: "电梯3楼", "公司大门",
# "邻居楼下", "外地医院", "定点医院" do not name an estate or a hospital.
_GENERIC_NOUNS: Final = frozenset(
    _words(
        "电梯 公司 单位 学校 医院 邻居 朋友 老人 孩子 小孩 同事 亲戚 父母 爸妈 老婆 老公 业主 住户 "
        "居民 人家 别人 我妈 我爸 家里 家门 房子 房屋 楼房 楼栋 楼层 大楼 宿舍 车库 仓库 地库 食堂 "
        "办公室 教室 操场 楼顶 天台 屋顶 地下室 院子 院里 工地 工厂 厂房 店铺 门店 商铺 地铁 工程 "
        "项目 小时 分钟 时间 问题 情况 东西 垃圾 车辆 车子 汽车 电动车 路灯 水管 管道 下水道 "
        "窨井 井盖 噪音 油烟 污水 物业 保安 门卫 楼上 楼下 对门 隔壁 后面 前面 里面 外面 上面 "
        "下面 这栋 那栋 哪栋 整栋 每栋 这期 那期 一期 本期 分期 延期 到期 工期 学期 假期 日期 "
        "星期 周期 长期 短期 近期 同期 后期 前期 初期 中期 末期 晚期 早期 定期 过期 逾期 "
        "房间 卧室 客厅 厨房 厕所 卫生间 阳台 楼梯 楼道 走廊 大厅 大堂 门口 窗户 窗口 "
        # modifiers of a landmark that are not its name: 外地医院, 定点医院, 私立医院
        "外地 外省 外市 本地 本市 本省 本区 本县 当地 市里 县里 省里 镇上 城里 乡下 老家 附近 "
        "周边 国外 国内 定点 指定 公立 私立 民营 三甲 二甲 三级 二级 一级 几家 这家 那家 "
        "哪家 照料 养老 居家 证明 社区 街道 网上 手机 农村 城乡 县城 家乡 大医院 小医院 "
        "小区 单元 本单元 水泥 柏油 石子 沥青 泥巴 主干 老旧 废品 部门 有关部门 相关部门 "
        "地面 地下 一家 两家 一所 一座 一栋 "
        # "the village / the town" (问村里村里也说不知道): not a village called 村里
        "村里 镇里 乡里 村上 村头 本村 全村 邻村 外村 各村 本镇 全镇 各镇 本乡 全乡"
    )
)
# Words of a complaint's sentence that end a name in free text ("建议小区…", "希望政府…")
# but that do name places after 在/到 or a division (希望小学, 新建村): common words, not
# refused names.
_SENTENCE_WORDS: Final = frozenset(
    _words(
        "建议 希望 要求 请求 恳请 偷挖 占用 封闭 清理 整治 检查 进入 离开 回到 来到 新建 "
        "规范 整顿 督促 监管 查处 取缔 严查 彻查 整改 加强 改善 治理 关闭 拆除 曝光"
    )
)


# Time nouns that end a clause ("周末的时候东门…", "放学时门口…"): never a name.
_TIME_NOUNS: Final = frozenset(_words("时候 时间 时刻 期间 当时 那时 这时 此时 平时 同时 临时"))
# jieba parts of speech of the nouns in common_words.txt (listed apart: 荷花小区 is a name)
_NOUN_POS: Final = frozenset(_words("n vn"))
# … and of the words that may name a school at a clause's start (勤奋幼儿园门口…);
# adverbs, conjunctions, pronouns, verbs … there are the sentence's words.
_ADJECTIVE_POS: Final = frozenset(_words("a an"))
# … and right after 的 or 门口 (孩子读书的自强小学): adjectives and verbs.
_AFTER_DE_POS: Final = frozenset(_words("a an v vi"))


@cache
def _lexicon() -> dict[str, str]:
    """``resources/common_words.txt``: every listed word and its jieba part of speech."""
    text = resources.files("nlu.resources").joinpath("common_words.txt").read_text("utf-8")
    lexicon = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, _, pos = line.partition(" ")
            lexicon[word] = pos
    return lexicon


@cache
def _common_words() -> frozenset[str]:
    """Common words that are not place names (see the resource file's header); not the
    nouns, which may name places (荷花小区)."""
    words = {word for word, pos in _lexicon().items() if pos not in _NOUN_POS}
    return frozenset((words | _GENERIC_NOUNS | _SENTENCE_WORDS | _TIME_NOUNS) - _name_words().words)


@cache
def _common_nouns() -> frozenset[str]:
    """Common nouns (动静, 结果, 报告, 大雨): where a place must look like a name — a village
    or an office after a clause — they are not one ("没有动静村里也不管")."""
    nouns = {word for word, pos in _lexicon().items() if pos in _NOUN_POS}
    return frozenset(nouns - _name_words().words)


@dataclass(frozen=True, slots=True)
class _NameWords:
    words: frozenset[str]  # 育才, 向阳, 会展: names holding a stop character
    brands: frozenset[str]  # 万科, 美的: developers' brands before an estate's name
    chars: frozenset[str]  # the characters of the words (a quick test before a look-up)
    brand_ends: frozenset[str]  # the last characters of the brands


@cache
def _name_words() -> _NameWords:
    """Load ``resources/name_words.txt`` once (see its header)."""
    text = resources.files("nlu.resources").joinpath("name_words.txt").read_text("utf-8")
    words: set[str] = set()
    brands: set[str] = set()
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] == "brand":
            brands.add(parts[1].lower())
        else:
            words.add(parts[0])
    return _NameWords(
        frozenset(words),
        frozenset(brands),
        frozenset("".join(words)),
        frozenset(brand[-1] for brand in brands),
    )


# =========================================================================== components

_ADMIN = "admin"  # 北京市, 朝阳区, 望京街道, 花家地社区, 城关镇, 高新区
_VILLAGE = "village"  # 桃源村, 王家庄
_GROUP = "group"  # 三组, 5组, 二队 (village groups)
_ROAD = "road"
_WATER = "water"  # 圭塘河, 龙王港河: a line, like a road
_HOUSE = "house"  # 88号, 120号院
_LANE = "lane"  # 123弄
_ESTATE = "estate"  # a residential estate: 幸福小区, 桂花苑, 星河湾, 绿地香树花城
_POI = "poi"  # a named building or landmark: 创业大厦, 人民医院, 五一广场站
_VAGUE = "vague"  # 我家, 马路: places only with a relational word
_CORNER = "corner"  # 路口, 十字路口: a crossing without a name
_BUILDING = "building"
_UNIT = "unit"
_ROOM = "room"
_FLOOR = "floor"
_PERIOD = "period"  # 二期
_ZONE = "zone"  # B区, 东区
_SHORTHAND = "shorthand"  # 3-2-502
_LINE = "line"  # 地铁3号线
_EXIT = "exit"  # B出口, 3号口, 2号门

_PART_KINDS: Final = frozenset(
    {
        _BUILDING,
        _UNIT,
        _ROOM,
        _FLOOR,
        _PERIOD,
        _ZONE,
        _SHORTHAND,
        _HOUSE,
        _LANE,
        _GROUP,
        _EXIT,
        _LINE,
    }
)
# Parts that make an unknown name before them an estate: 绿地香树花城7栋, 保利心语二期.
_ESTATE_PARTS: Final = frozenset({_BUILDING, _UNIT, _ROOM, _FLOOR, _PERIOD, _ZONE, _SHORTHAND})


@dataclass(frozen=True, slots=True)
class _Type:
    """A type word that follows a place name (路, 小区, 大厦 …)."""

    kind: str
    min_name: int  # name length needed; 0: the word is a place on its own (高新区)
    bare: bool  # kept without a name, as a nameless place (小区 → 小区门口)
    not_before: str = ""  # characters that must not follow (路灯, 广场舞, 村民)
    max_name: int = 6
    weak: bool = False  # a place only next to another component
    in_name: bool = False  # the type word belongs to the proper name (桂花苑, 星河湾)
    not_after: str = ""  # last name characters that make an everyday word (城乡, 农村, 邻居)
    generic_stem: bool = False  # reject 地区, 城市, 郊区 (a one-character stem + 区/市)


# Last characters of a "name" that is a verb phrase: 直排进河, 跳到湖, 倒入江.
_VERB_ENDS: Final = "进入到排往下过跳倒流向在"


def _types() -> dict[str, _Type]:
    road = _Type(_ROAD, 2, False)
    admin = _Type(_ADMIN, 2, True)
    area = _Type(_ADMIN, 2, True)
    estate = _Type(_ESTATE, 2, False)
    estate_bare = _Type(_ESTATE, 2, True)
    poi = _Type(_POI, 2, True)
    types: dict[str, _Type] = {
        # roads
        "路": _Type(_ROAD, 2, False, "灯费线由途程况政障基肩沿网标径子数牌面过人"),
        **dict.fromkeys(_words("大道 大街 胡同 高速公路 高架 国道 省道 环路 辅路"), road),
        "街": _Type(_ROAD, 2, False, "坊头舞区上办", not_after="炸逛上扫沿临满过整条当"),
        "巷": _Type(_ROAD, 2, False, "子战尾"),
        "高速": _Type(_ROAD, 2, False, "费度发路"),
        "里": _Type(_ESTATE, 2, False, "面边头外屋", weak=True, not_after="公"),  # 一公里内
        # divisions written with a type word
        **dict.fromkeys(_words("街道 社区"), admin),
        # the offices of a division are landmarks: 城西街道办事处, 李家村村委会
        **dict.fromkeys(
            _words(
                "街道办事处 街道办 办事处 社区居委会 居委会 村委会 社区服务中心 管委会 "
                "党群服务中心 社区服务站"
            ),
            poi,
        ),
        "镇": _Type(_ADMIN, 2, False, "压静定长痛守", not_after="城乡小本各集"),
        "乡": _Type(_ADMIN, 2, False, "下村亲音镇愁里", not_after="城家老故他异下回返同水思"),
        "县": _Type(_ADMIN, 2, False, "长委", not_after="郡各本该外"),
        "市": _Type(
            _ADMIN, 2, False, "场民区委长中内里值面容貌政", 3, weak=True, generic_stem=True
        ),
        "省": _Type(_ADMIN, 2, False, "钱事心力会长委内外级", 4, weak=True, generic_stem=True),
        "区": _Type(_ADMIN, 2, False, "别域块分间", 4, weak=True, generic_stem=True),
        **dict.fromkeys(_words("开发区 高新区 经开区"), _Type(_ADMIN, 0, True)),
        "新区": _Type(_ADMIN, 2, False),
        **dict.fromkeys(
            _words("工业园区 工业园 工业区 产业园 科技园 园区 保税区 风景区 度假区 片区"), area
        ),
        "景区": _Type(_ADMIN, 2, False),
        "村部": _Type(_POI, 2, True, "门"),  # not 农业农村部门
        "村": _Type(_VILLAGE, 2, False, "民委长干支级务规镇庄", not_after="农乡山渔进回"),
        "庄": _Type(_VILLAGE, 2, False, "稼重严园", not_after="村农饭钱山"),
        "寨": _Type(_VILLAGE, 2, False),
        "屯": _Type(_VILLAGE, 2, False, "积"),
        "堡": _Type(_VILLAGE, 2, False, "垒"),
        # estates
        **dict.fromkeys(
            _words(
                "小区 花园 公寓 别墅区 大院 家属院 家属区 家属楼 宿舍楼 宿舍 住宅楼 安置房 "
                "安置小区 公租房 廉租房"
            ),
            estate_bare,
        ),
        **dict.fromkeys(_words("家园 新村 山庄 公馆 别墅 街区"), estate),
        "新城": _Type(_ESTATE, 2, False, "市区"),
        "苑": _Type(_ESTATE, 2, False, max_name=8, in_name=True),
        "华庭": _Type(_ESTATE, 2, False, max_name=8, in_name=True),
        "城": _Type(
            _ESTATE,
            2,
            False,
            "管市区里外乡中墙门楼际镇投建",
            8,
            in_name=True,
            not_after="县进全满京省围长老出",
        ),
        "府": _Type(_ESTATE, 2, False, "上里", 8, in_name=True, not_after="政首官"),
        "园": _Type(_ESTATE, 2, False, "区长林艺丁地", 8, in_name=True, not_after="入校果菜墓陵进"),
        "湾": _Type(_ESTATE, 2, False, "区", 8, in_name=True),
        "郡": _Type(_ESTATE, 2, False, "县", 8, in_name=True),
        "阁": _Type(_ESTATE, 2, False, "楼下", 8, in_name=True),
        "居": _Type(
            _ESTATE,
            2,
            False,
            "民委住家室然所中多",
            8,
            in_name=True,
            not_after="邻定民故新旧同安蜗移家寡独起隐",
        ),
        "坊": _Type(_ESTATE, 2, False, "间", 8, in_name=True),
        # named buildings and landmarks: someone can be sent to 创业大厦 or 人民医院
        **dict.fromkeys(
            _words(
                "大厦 商厦 大楼 写字楼 办公楼 教学楼 综合楼 商务楼 科技楼 商城 商场 购物中心 "
                "购物广场 步行街 商业街 美食街 酒吧街 小吃街 市场 菜市场 农贸市场 菜场 超市 百货 "
                "地铁站 地铁口 公交站 公交车站 公交总站 公交站台 站台 车站 火车站 高铁站 "
                "汽车站 客运站 "
                "长途汽车站 南站 北站 东站 西站 加油站 充电站 垃圾站 垃圾中转站 变电站 "
                "学校 小学 中学 大学 学院 "
                "幼儿园 医院 中医院 妇幼保健院 卫生院 卫生服务中心 诊所 药店 药房 "
                "公园 游园 派出所 警务室 服务中心 便民服务中心 停车场 体育馆 "
                "体育场 体育中心 图书馆 博物馆 纪念馆 科技馆 文化馆 电影院 影院 影城 剧院 大剧院 "
                "酒店 大酒店 宾馆 饭店 餐厅 立交桥 立交 高架桥 天桥 大桥 隧道 地下通道 "
                "工地 工厂 码头 "
                "少年宫 文化宫 夜市 检察院 供电所 卫生所 司法所 研究所 研究院 设计院 "
                "祠堂 宗祠 "
                "机场 邮局 营业厅 售楼部 售楼处 菜鸟驿站 驿站 快递站 球场 篮球场 游泳馆 "
                "书店 便利店 专卖店 健身房 网吧 酒吧 ktv 寺 庙 教堂 动物园 植物园 游乐园 景点 "
                "养老院 敬老院 "
                "福利院 殡仪馆 火葬场 墓园 陵园 水库 公厕 厕所 收费站 服务区 汽修厂 洗车店"
            ),
            poi,
        ),
        "广场": _Type(_POI, 2, True, "舞"),
        "塔": _Type(_POI, 2, False, "吊楼基里", not_after="铁灯水"),
        "法院": _Type(_POI, 2, True, not_after="上去到进告找回"),
        # parts of a named place, never named themselves: 万达广场地下车库, 德润园项目工地
        # (下暴雨地下车库, 私建车库 name nothing)
        **dict.fromkeys(
            _words("车库 地下车库 地库 地下停车场 项目工地 项目部"), _Type(_POI, 99, True)
        ),
        "江滩": _Type(_POI, 2, False),
        "中心": _Type(_POI, 2, True, "思点城区线"),  # 中心思想, 市中心城区
        "银行": _Type(_POI, 2, True, "卡账"),
        # 长沙市政府, 城关镇政府: a government is named by the division before it
        "政府": _Type(_POI, 99, True),
        "人民政府": _Type(_POI, 99, True),
        # 市政府, 区政府: every resident's city has exactly one
        **dict.fromkeys(_words("市政府 区政府 县政府 镇政府 省政府 乡政府"), _Type(_POI, 0, True)),
        "站": _Type(_POI, 2, False, "着住起在岗长点台出立稳队式", not_after="车网一基"),
        # a shop's branch after its name (佳家超市红星店, 家润多井湾子店): weak, since
        # 早餐店 alone is a kind of shop, not a place
        "店": _Type(_POI, 2, False, "铺面员主长家门里内外", weak=True, not_after="商书花小分门该"),
        "分店": _Type(_POI, 2, False, weak=True),
        # waters, read after every other type word (龙湖春江郦城 is an estate, 圭塘河 a
        # river): named waters are lines like roads (龙王港河枫林桥段, 圭塘河边上)
        "河": _Type(_WATER, 2, False, "南北水流床蟹豚马粉沙面", not_after=_VERB_ENDS),
        "江": _Type(_WATER, 2, False, "南北苏西东湖山景滩面", not_after=_VERB_ENDS),
        "湖": _Type(_WATER, 2, False, "南北州水面畔心光人", not_after=_VERB_ENDS),
        "溪": _Type(_WATER, 2, False, "水流", not_after=_VERB_ENDS),
        "渠": _Type(_WATER, 2, False, "道", not_after=_VERB_ENDS + "沟"),
        **dict.fromkeys(_words("河道 水渠 河堤 江堤 湖堤"), _Type(_WATER, 2, False)),
        "桥": _Type(_POI, 2, False, "梁牌头", not_after="过"),
        "厂": _Type(_POI, 2, False, "家商长房区子里", not_after="工"),
        # vague anchors: places only with a relational word (我家楼下, 马路上)
        **dict.fromkeys(
            _words("我家 我们家 咱家 俺家 他家 她家 你家 家 马路 大马路 单位 公司"),
            _Type(_VAGUE, 0, True),
        ),
    }
    return types


_TYPES: Final = _types()
_TYPE_RE = re.compile(trie_regex(_TYPES))
# Roads whose name ends like this are common nouns, not names (过马路, 高速公路, 修路).
_GENERIC_ROAD_PREV: Final = frozenset(
    "马道铁线电思出走迷修退问带让绕挡断短套岔弯近半活死网土小公末歧夜赶引拦堵封抢挖铺筑改上"
    "水陆航心门销财后前对顺一来去跑字之"
)
# Generic 区/市/省 words with a one-character stem (地区, 城市 …): never a named division.
_GENERIC_AREA_PREV: Final = frozenset(
    "地山郊灾城辖片禁病专误校厂营湾选时分街矿牧林盲老社小园景学军战考服赛展市县住商生"
    "超菜夜股上门花黑都海闹震疫风外本全各该客车息公活宅业工候烟览货物餐售育险危游乐户"
)
# Characters that never belong to a place name: a name stops before them.
_STOP_CHARS: Final = frozenset(
    "在住是到的我你他她它们从于往去向了就也还很说问请帮要想能会把被让给对没不吗呢吧啊呀哦嗯叫"
    "这那哪咱有个条些么什啥谁怎为因所但而却又再才刚已得着过与及或跟并该每比将喺嘅咗啲"
)
# Verbs of a complaint or a request: even in an answer to "where?" a name does not reach
# over them (路灯坏了幸福小区, 快来幸福小区) unless they are in a name word (未来城).
_ANSWER_STOP_CHARS: Final = frozenset("坏堵漏吵臭脏塌裂淹烧砸偷抢骂来看修找查管停")
# 段 closing a river's named section (湘江猴子山段), not 段时间, 段落, 段子.
_SECTION_END_RE = re.compile(r"段(?![时落子位])")
_SECTION_NOT_NAMES: Final = tuple(
    _words("上游 中游 下游 沿岸 两岸 沿线 流域 水域 岸边 附近 城区 市区")
)
# Generic modifiers before a landmark's type word name nothing: 人行天桥, 临时停车场 and
# 公共厕所 are vague (which one?); after a named place they are its part (五一大道人行天桥).
# (这个/那个 and 附近/周边 already stop a name walk: 那个停车场, 星光路周边酒吧.)
_GENERIC_MODIFIERS: Final = frozenset(
    _words(
        "人行 过街 地下 露天 临时 公共 公用 小区 社区 儿童 免费 收费 立体 室内 室外 户外 "
        "街心 口袋 简易 流动 移动 临街 沿街 共享 无障碍 "
        "自助 无人 私人 公办 民办 公立 私立 民营 普通 正规 大型 小型 新建 老旧 农村 乡村 "
        "乡镇 村级 镇级 县级 市级 区级 省级 内部 专用 地面 生鲜 平价 便民 城市 社会 公益 "
        "新开 附属 城区 郊区 市区 室内外 24小时"
    )
)
# Schools, hospitals and estates: a common word may name one after 的/门口 (孩子读书的
# 自强小学) and a school at a clause's start (勤奋幼儿园门口); a two-character name may
# hold a stop character (博才小学, 求是中学).
_SCHOOL_WORDS: Final = frozenset(_words("小学 中学 幼儿园 医院 小区 学校"))
_SCHOOLS: Final = frozenset(_words("小学 中学 幼儿园"))
# Stop characters that do occur in such names (博才, 求是, 有为, 向阳 …).
_NAME_STOP_CHARS: Final = frozenset("才是有为向能将会得和")
_AFTER_PLACE_WORD: Final = frozenset("在到去的往从于住")
_CLAUSE_BREAKS: Final = frozenset("，,。.!！?？;；:：、 \n~～")
# What may precede a village's or an office's name (place_boundary): not 有, 了, 也 …
_BEFORE_NAME: Final = frozenset("在到去往从于住向至的们是叫近靠临")
# Divisions and offices whose name must look like a name in free text (looks_like_name).
_TOWN_WORDS: Final = frozenset(_words("镇 乡 街道 社区"))
_OFFICE_WORDS: Final = frozenset(
    _words(
        "村委会 居委会 社区居委会 村部 街道办事处 街道办 办事处 管委会 派出所 "
        "社区服务中心 社区服务站 党群服务中心"
    )
)
# Last characters of nouns that name villages (黄土坡, 石门坎, 荷塘): landforms.
_LANDFORMS: Final = frozenset(
    "山水河江湖塘湾冲坪岭坡溪洲港田铺坝岗垸圩桥岩坎井泉林园屋台沟峪嘴垭埠渡滩源"
)
_SURNAMES: Final = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜"
    "叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史"
    "陶贺毛郝顾龚邵万覃武钱戴严莫孔向常汤康易乔赖文"
)
# What may stand right before one common word that alone names a place (在希望小学);
# not the text's start nor a comma: 希望社区多组织…, 最近公交站…, 夜里工地….
_NAME_BOUNDARY: Final = frozenset("在到从往于住去")
# Units after a number that make it a date, a count or a duration, not part of a name.
_NUMBER_UNITS: Final = frozenset("年月日天号点时分秒周个次岁元块米层楼栋幢座室期区组队")
# A numeral and a measure word inside a name make a count (走两站路, 三家医院, 好几趟).
_COUNT_NUMERALS: Final = frozenset("一二两三四五六七八九十几")
_MEASURES: Final = "家站间位趟次遍件辆只块棵排处名户张台回份顿场座片"
# The last numeral + measure word of a name (greedy: the right-most one).
_LAST_COUNT_RE = re.compile(f"(?s:.*)[{''.join(_COUNT_NUMERALS)}][{_MEASURES}]")
# 时 starts these name words; anywhere else X时 is "when X" (放学时门口).
_SHI_NAMES: Final = frozenset(_words("时代 时光 时尚 时空 时珍"))
# Rivers named by one character (湘江, 漓江, 汾河, 淮河); 长江 and 黄河 too.
_RIVER_STEMS: Final = frozenset("湘漓赣珠闽汉岷沱邕浦黄淮汾渭泾洛沅澧资颍瓯椒钱松嫩渌涟潇")
_ONE_CHAR_DIVISIONS: Final = frozenset("市县区镇乡")
# … and the institutions every division has one of (县医院, 市图书馆; not 市中心)
_DIVISION_INSTITUTIONS: Final = frozenset(
    _words(
        "医院 中医院 妇幼保健院 卫生院 图书馆 体育馆 博物馆 文化馆 科技馆 少年宫 文化宫 "
        "汽车站 客运站 火车站 法院 检察院 体育中心 政务中心 养老院 敬老院 殡仪馆 公园 广场"
    )
)
# What follows a road called X一路 (远航一路和…, 龙华一路88号); anything else after 一路
# says "all the way" (司机一路都在玩手机, 一路上).
_YILU_NEXT_RE = re.compile(r"$|[\d和与跟及、口边旁的段号东西南北交十辅中,.。!?;:\s]")
_ROAD_NUMERALS: Final = frozenset("一二三四五六七八九十")
_STOP_WORDS_RE = re.compile(
    "一下|一趟|附近|旁边|对面|门口|楼下|楼上|隔壁|里面|外面|上面|下面|前面|后面|关于|反映|"
    "投诉|举报|咨询|地址|位置|住址|现在|目前|今天|昨天|晚上|早上|情况|问题|一直|经常|总是|"
    "老是|所在|居住|家住|位于|搬到|市民|居民|业主|老人|孩子|小孩|物业|一个|一条|一栋|整个|"
    "本人系|"
    "这边|那边|这里|那里|哪里|东西|所有|全部|我家|家里|本人|你好|您好|另外|然后|其实|比如|"
    "例如|包括|尤其|特别|好像|如果|虽然|同时|之前|之后|以前|以后|顺便|麻烦|谢谢|帮忙|报修|"
    "处理|解决|看看|小区|还有|以及|靠近|临近|紧挨|挨着|对着|路过|经过|楼道|电梯|噪音|施工|"
    "[东西南北]门外?|门外|门前|[东西南北]侧|路口|大概|大约|应该|可能|差不多|估计|反正|"
    "具体|详细|地点|貌似|似乎|也许|或许|快点|赶紧|尽快|马上|赶快|名字|名称|"
    "左手边?|右手边?|左边|右边|左侧|右侧|进去|进门|往前"
)
_CONNECTORS: Final = "和与跟及、"
_LINES: Final = frozenset({_ROAD, _WATER})
_NEAR_GAPS: Final = frozenset(_words("靠近 临近 近 挨着 紧挨着 靠"))
_DIRECTIONS: Final = frozenset("东西南北中")
_CN_DIGITS: Final = frozenset("零〇一二两三四五六七八九十")
_PLACE_PREPOSITIONS: Final = frozenset("在到从往向于住去")
# Verbs that start an activity, not a road name: 送外卖路上, 骑车路上, 回家路上.
_VERB_LEADS: Final = frozenset("交找送接领办开用买卖看上下去来回进出骑坐搭乘拉跑赶逛走")

_NUM = r"(?:\d{1,5}|[零〇一二两三四五六七八九十百]{1,4})"
_SMALL_NUM = r"(?:\d{1,3}|[一二两三四五六七八九十]{1,3})"
_PART_RE = re.compile(
    r"(?<![\d.a-z#-])(?:"
    r"(?P<shorthand>\d{1,3}-\d{1,2}-\d{2,4}(?:室|号)?)(?![\d-])"
    rf"|(?P<line>(?:地铁)?{_SMALL_NUM}号线)"
    rf"|(?P<building>(?:{_NUM}号楼|\d{{1,4}}#楼?"
    rf"|(?:\d{{1,4}}[a-z]?|[a-z]{{1,2}}-?\d{{0,3}}|[零〇一二两三四五六七八九十百]{{1,4}})"
    r"(?:栋|幢|座|号栋|号幢|号座)|[a-z]\d{0,2}(?:馆|塔楼|塔(?!吊))))"
    rf"|(?P<unit>{_NUM}单元|\d{{1,2}}门(?=\d{{3,4}}(?!\d)))"
    rf"|(?P<room>(?:{_NUM}|[a-z]\d{{2,4}})(?:室|号房|房间))"
    rf"|(?P<floor>(?:负|地下|b)?{_NUM}(?:层|楼(?![道梯顶房下上前后里门盘市价主宇]))"
    r"|(?<=车库|地库|车场)(?:b|负)\d(?:层|楼)?)"
    rf"|(?P<period>{_SMALL_NUM}期)"
    rf"|(?P<zone>(?:[a-z]\d{{0,2}}|\d{{1,2}}|[一二三四五六七八九十]{{1,2}})区"
    rf"|{_SMALL_NUM}组团|\d{{1,2}}片区?(?![刻子儿剂药])"
    r"|(?<=新村)[一二三四五六七八九十]{1,2}村(?![民委]))"  # 曹杨新村七村
    rf"|(?P<group>{_SMALL_NUM}(?:组|队)(?![织长员合成件团])|\d{{1,2}}社(?![区会保员长团交]))"
    rf"|(?P<exit>{_SMALL_NUM}号(?:出入口|出口|入口|口|门(?![诊票口前]))"
    r"|[a-z]\d{0,2}(?:出入口|出口|入口|口))"
    r"|(?P<lane>\d{1,4}(?:弄|支弄|巷))"
    r"|(?P<house>\d{1,5}(?:[-之]\d{1,4})?号(?:附\d{1,3}号)?(?:院)?(?![线码房楼]|门(?!口|前))"
    rf"|{_NUM}号院"
    # a house number in words right after a road: 松雅湖南路一号
    r"|(?<=[路街巷])[一二三四五六七八九十百零]{1,4}号(?![线码房楼门]))"
    r")"
)
# Ring roads: 东三环, 南二环辅路 (辅路 then extends it), 二环线, 内环路, 绕城高速.
_RING_RE = re.compile(
    r"(?P<ring>[东西南北]?(?:[二三四五六七八九]|\d)环|一环(?=路|线)|[内外中]环(?=路|线|高架)"
    r"|绕城(?=高速|公路|大道))(?:路|线)?(?![境保卫节球岛比形状])"
)
_PART_TRIGGER_RE = re.compile(r"[\d零〇一二两三四五六七八九十百a-z负地]")
_BARE_ROOM_RE = re.compile(r"(?:\d{1,2}-)?\d{3,4}(?![\d号楼栋层室单元a-z-])")
# Words before a number that make it a date or a rank, not a house or a floor: 11月20号.
_NOT_HOUSE_PREV: Final = frozenset("月第周")

# Relational words after a component.  POINT words make a road a spot (解放路口,
# 交叉口北侧, 往北200米); NEAR words only say "around" (人民路边上).
_DISTANCE = (
    r"(?:往|向|朝)?[东西南北]{1,2}(?:方向)?(?:走)?(?:大概|大约|约)?"
    r"(?:\d{1,4}|[一二两三四五六七八九十百几]{1,4})多?(?:米|公里)(?:左右|处)?"
)
_REL_POINT = (
    rf"{_DISTANCE}|交叉路口|交叉口|十字路口|丁字路口|交汇处|交界处|交界|交口|路口|拐角处|拐角|转角|"
    r"十字口|十字(?![架绣])|"
    r"[东西南北中]段|(?:\d{1,2}|[二三四五六七八九十])段|[东西南北中]区|大门口|大门|门口|门前|"
    r"[东西南北]{1,2}门|正门|后门|侧门|出入口|出口|入口|"
    r"[东西南北]{1,2}(?:侧|角)|斜对面|村口|单元门口|单元门|楼门口|出站口|进站口|"
    r"住院部|门诊部|门诊楼|门诊大厅|住院楼|住院大楼|急诊楼|急诊科|急诊|发热门诊|"
    r"[东西南北]口(?![罩腔袋红味])|[东西南北]大门口?"
)
_REL_NEAR = (
    r"旁边|边上|附近|对面|周边|周围|隔壁|里面|外面|前面|后面|背后|底下|下面|楼下|楼上|"
    r"楼道里|楼道口|楼道|楼顶|楼后|楼前|[东西南北]{1,2}(?:边|面|头)|一带|"
    r"(?:那|这)一?段(?!时间|日子|时期)|(?:那|这)一?块|[东西南北]岸"
)
_REL_RE = re.compile(f"(?P<point>{_REL_POINT})|(?P<near>{_REL_NEAR})")
_REL_AT_END_RE = re.compile(f"(?:{_REL_POINT}|{_REL_NEAR})$")
_REL_SINGLE: Final[dict[str, str]] = {
    _ROAD: "上边口旁",
    _VAGUE: "上边",
    _ESTATE: "里内旁",
    _POI: "里内旁段",  # 枫林桥段: the stretch of a river or road at a bridge
    _ADMIN: "里",
    _VILLAGE: "里口头段",  # 马坡岭村段
    _WATER: "边里畔岸段上",
}
_NOT_AFTER_SHANG: Final = frozenset("个次周月年午班学网课来去面述报访门")
_NOT_AFTER_XIA: Final = frozenset("个次周月年午班学网课来去面雨车")
# Gates and stair words that make an unknown name before them an estate (万象汇东门).
_GATE_RE = re.compile(
    r"(?:[东西南北]门|正门|后门|侧门|大门口|大门|门口)(?![诊票槛户面卫禁铃锁把牌框窗帘店市])"
    r"|楼下|楼道"
)
# In an answer to "where?" a name before 旁边 / 对面 is a place too: 肯德基旁边.
_ANSWER_GATE_RE = re.compile(
    _GATE_RE.pattern + r"|旁边|对面|斜对面|附近|后面|前面|隔壁|边上|里面|楼上|地下车库|地库|车库"
)
_CORNER_RE = re.compile(r"(?:十字|丁字|红绿灯)?路口|红绿灯")
_VAGUE_HOME_PREV: Final = frozenset("大回全国专作商店住老管农酒买卖厂人东船行私娘婆搬离成安")


@dataclass(slots=True)
class _Comp:
    start: int
    end: int
    kind: str
    names: list[tuple[int, int]]
    weak: bool = False
    rel: bool = False  # a relational word is attached
    point: bool = False  # … and it names a spot (口, 交叉口, 东门, 往北200米)


def _name_start(
    s: str,
    end: int,
    taken: bytearray,
    max_len: int,
    adjacent_ok: bool = False,
    road: bool = False,
    answer: bool = False,
    keep_word: Callable[[int, int], bool] | None = None,
    counts: bool = True,
    estate: bool = False,
) -> int:
    """Where the place name ending at ``end`` starts (``end`` itself: no name).

    Walks left over CJK characters, letters and digits (阳光100国际新城, SOHO现代城) until
    a stop character (unless it is inside a name word: 育才, 向阳), another component or
    ``max_len`` characters (a run of digits or letters counts as one); then cuts after the
    last filler word and, in free text, after the last common word (饱受解放 → 解放;
    连接路 has no name; with ``adjacent_ok`` a common word right before the type word
    stays: 星月湾, and before a numeral in a road's name: 远航一路), and never starts
    inside a word (异地就医定点 → not 医定点) nor, in free text, on a number (住了10年幸福
    小区 → 幸福).  A brand right before the name joins it (美的时代城).

    ``answer``: reading an answer to "where?", which is a place by construction: the name
    may reach back to the clause's start over common words (湿地公园, 远航一路) as long as
    the characters are name-like (no stop character, no complaint verb such as 坏 or 堵).
    ``keep_word``: in free text, whether one common word that alone makes the name and
    starts at the given position is kept (after 在 or a division: 在希望小学, 花桥乡新建村).

    Whatever the text, a name does not run over a connector (广告位和停车场, 教育局和学校:
    no name; 和平, 协和, 颐和 are name words, and 佳和苑 starts a clause with X和), over a
    clause ending in 时 (放学时门口) nor over a count (走两站路, 三家医院, 坐了好几趟; with
    ``counts`` false — divisions, villages, waters — 三家村 and 五台县 keep their names).
    Right before the type word of a named ``estate`` (家园, 苑, 花园 …; not 小区) 和 is
    the name's unless a common word ends before it (东方鑫和家园; not 学校和…).
    """
    lexicon = _name_words()
    i, count, digits = end, 0, False
    while i > 0 and count < max_len:
        ch = s[i - 1]
        if taken[i - 1]:
            break
        if ch == "和" and not (estate and i == end and not _ends_in_noun(s, i - 1)):
            # 和 joins two things (广告位和停车场) unless it is in a name word (和平,
            # 协和, 颐和) or ends a two-character name that starts a clause (佳和苑).
            word_start = _name_word_start(s, i - 1, end, taken, lexicon.words)
            if word_start is not None:
                i, count = word_start, count + (i - word_start)
                continue
            if i >= 2 and _x_he_name(s, i - 2, taken):
                i, count = i - 2, count + 2
            elif i == 1 or _boundary_char(s, i - 2, taken) or end - i == 1:
                # 是和畅家园, 在和兴路: nothing to join; 东方和鑫苑: no one-character thing
                i, count = i - 1, count + 1
                continue
            break
        if ch in _STOP_CHARS or (answer and ch in _ANSWER_STOP_CHARS):
            # 育才, 梦想, 美的, 向阳, 会展, 好又多: a name word holding the stop character
            word_start = None
            if ch in lexicon.chars:
                word_start = _name_word_start(s, i - 1, end, taken, lexicon.words)
            if word_start is None:
                break
            i, count = word_start, count + (i - word_start)
            continue
        if ch.isascii() and ch.isalnum():
            j = i - 1  # a run of digits and letters is one unit of the name: 2049, soho, k11
            while j > 0 and i - j < 8 and s[j - 1].isascii() and s[j - 1].isalnum():
                j -= 1
            if taken[j:i].count(1) or (j > 0 and s[j - 1].isascii() and s[j - 1].isalnum()):
                break  # a long number (a phone, a date) is no name
            i, count, digits = j, count + 1, True
            continue
        if not _is_cjk(ch):
            break
        i, count = i - 1, count + 1
    if i == end:
        return end
    last = None
    for last in _STOP_WORDS_RE.finditer(s, i, end):  # noqa: B007 - we want the last
        pass
    if last is not None:
        i = last.end()
    common = _common_words()
    if not answer:
        chunk = i
        i = _cut_common_words(s, i, end, common, adjacent_ok, road)
        if (
            keep_word is not None
            and end - i < 2
            and s[chunk:end] in common
            and keep_word(chunk, end)
        ):
            i = chunk  # 在希望小学: one word between a preposition and the type word
    # 都 may end a name (丽都, 名都) but not start one: "垃圾都堆在…".
    while i < end and s[i] in "都":
        i += 1
    # (Not after 在/到/从 …: "在建国路" is 建国路, although 在建 is a word.)
    while (
        0 < i < end
        and not taken[i - 1]
        and s[i - 1] not in _PLACE_PREPOSITIONS
        and s[i - 1 : i + 1] in common
    ):
        i += 1
    # A number with a unit inside the name is a date or a count: 去年12月幸福家园 → 幸福
    # (but 金科10年城 keeps its name: the unit touches the type word; not a road: 约300米路).
    for j in range(end - 1 if road else end - 2, i, -1) if digits else ():
        if s[j] in _NUMBER_UNITS and s[j - 1].isdigit():
            i = j + 1
            break
    # A number starts no name in free text: 住了10年幸福小区, 去年3月幸福小区 → 幸福.
    if digits and i < end and s[i].isdigit():
        j = i
        while j < end and s[j].isdigit():
            j += 1
        if not answer or (j < end and s[j] in _NUMBER_UNITS):
            i = j + 1 if j < end and s[j] in _NUMBER_UNITS else j
            i = min(i, end)
    # A brand right before the name belongs to it: 美的时代城 (的 stopped the walk).
    if 0 < i < end and s[i - 1] in lexicon.brand_ends:
        for length in (3, 2, 4, 5):
            if length <= i and s[i - length : i] in lexicon.brands:
                if not taken[i - length : i].count(1):
                    i -= length
                break
    i = _after_time_clause(s, i, end)
    if counts:
        i = _after_count(s, i, end)
    # A road's name does not hold another road word: 锦龙路沿街 is not a street 锦龙路沿.
    for j in range(end - 1, i - 1, -1):
        if s[j] in "路街区":
            return j + 1
    return i


def _section_name(section: str) -> bool:
    """Whether the text between a water and 段 names a section (猴子山, 榔梨垸, 三汊矶码头):
    2-8 name characters, not a common word (这, 河, 下游, 码头 alone are not)."""
    return (
        2 <= len(section) <= 8
        and all(_is_cjk(ch) and ch not in _STOP_CHARS for ch in section)
        and section[-1] not in "江河溪渠湖"  # 下游河段, 城区江段: a stretch of the river
        and not section.startswith(_SECTION_NOT_NAMES)
        and section not in _common_words()
        and section not in _common_nouns()
        and section not in _TYPES
    )


def _surname_home(name: str) -> bool:
    """王家, 周家: a family's name, which names villages (王家村) though jieba lists it."""
    return len(name) == 2 and name[0] in _SURNAMES and name[1] == "家"


def _ends_in_noun(s: str, end: int) -> bool:
    """Whether ``s[:end]`` ends with a common noun or word (广告位和小区: 广告 is one thing
    and 小区 another; 东方鑫和家园 is one name)."""
    return any(
        s[end - length : end] in words
        for length in (2, 3)
        for words in (_common_nouns(), _common_words())
        if end >= length
    )


def _boundary_char(s: str, at: int, taken: bytearray) -> bool:
    """Whether ``s[at]`` ends what comes before a name: a component, punctuation, a stop
    character."""
    return bool(taken[at]) or not _is_cjk(s[at]) or s[at] in _STOP_CHARS


def _x_he_name(s: str, at: int, taken: bytearray) -> bool:
    """Whether ``s[at]`` + 和 is a two-character name's start (佳和苑, 在鑫和家园): a name
    character right after a clause's start, a stop character or another component."""
    ch = s[at]
    if taken[at] or not _is_cjk(ch) or ch in _STOP_CHARS:
        return False
    return at == 0 or _boundary_char(s, at - 1, taken)


def _after_time_clause(s: str, i: int, end: int) -> int:
    """Where a name starts after a clause ending in 时 ("放学时门口", "下班时小区门口"):
    X时 is "when X", not a name (时代, 时光, 时尚 are)."""
    j = s.rfind("时", i + 1, end)
    while j > i:
        if (
            _is_cjk(s[j - 1])
            and s[j : j + 2] not in _SHI_NAMES
            and s[j - 1 : j + 1] not in _name_words().words  # 与时
        ):
            return j + 1
        j = s.rfind("时", i + 1, j)
    return i


def _after_count(s: str, i: int, end: int) -> int:
    """Where a name starts after a count inside it: 走两站路, 好几站路, 三家医院, 坐了
    好几趟 — a numeral and a measure word.  A count that starts the name and is followed by
    more of it is a name (五棵松, 四块玉, 八间房).  The type word may be the measure: 坐三站
    (but 五一站: a name of numerals only)."""
    if end < len(s) and s[end] == "站" and i < end and s[end - 1] in _COUNT_NUMERALS:
        k = end - 1
        while k > i and s[k - 1] in _COUNT_NUMERALS:
            k -= 1
        if k > i or s[k] == "几":
            return end
    count = _LAST_COUNT_RE.match(s, i, end)
    if count is not None:
        j = count.end() - 1
        if j > i:
            k = j - 1
            while k > i and s[k - 1] in _COUNT_NUMERALS:
                k -= 1
            if k == i and j + 1 < end and s[k] != "几":
                return i  # 五棵松地铁站: the count names the place
            return j + 1
    return i


def _name_word_start(
    s: str, at: int, end: int, taken: bytearray, words: frozenset[str]
) -> int | None:
    """The start of a name word (育才, 向阳, 好又多) holding ``s[at]`` and ending at or
    before ``end``, if there is one."""
    for length in (2, 3):
        for start in range(max(0, at - length + 1), at + 1):
            stop = start + length
            if stop <= end and s[start:stop] in words and not taken[start:at].count(1):
                return start
    return None


def _cut_common_words(
    s: str, i: int, end: int, common: frozenset[str], adjacent_ok: bool, road: bool
) -> int:
    """Where the name starts once the last common word in ``s[i:end]`` is cut off."""
    high = end - 1 if adjacent_ok else end
    if road:
        # 远航一路, 创新二路: a common word touching the numeral stays.
        k = end
        while k > i and (s[k - 1] in _ROAD_NUMERALS or s[k - 1].isdigit()):
            k -= 1
        if i < k < end:
            cut = _last_common_word_end(s, i, k - 1, common)
            return i if cut is None else cut
    cut = _last_common_word_end(s, i, high, common, road)
    return i if cut is None else cut


def _last_common_word_end(
    s: str, low: int, high: int, common: frozenset[str], keep_one: bool = False
) -> int | None:
    """The end of the right-most common word inside ``s[low:high]``, if any.

    With ``keep_one`` a word that would leave a one-character name is passed over: in a
    road's name it is more likely a false split (新开铺路 holds 新开) than a verb.
    """
    for stop in range(high, low + 1, -1):
        if keep_one and high - stop == 1:
            continue
        for length in (4, 3, 2):
            if stop - length >= low and s[stop - length : stop] in common:
                return stop
    return None


def _activity(name: str) -> bool:
    """Whether the "name" before 路上 is an activity (下班, 送外卖, 骑车), not a road's."""
    if name[0] in _VERB_LEADS:
        return True
    return _last_common_word_end(name, 0, len(name), _common_words()) is not None


def _connector_start(s: str, name_start: int, end: int, taken: bytearray) -> int:
    """Skip a 和/与 that joins this place to the one before it: 书院路和韶山路 → 韶山,
    校门口和鑫源大厦 → 鑫源 (but 和平路, 和平里 keep their names)."""
    if end - name_start < 3 or s[name_start] not in _CONNECTORS or name_start == 0:
        return name_start
    before = s[max(0, name_start - 3) : name_start]
    if taken[name_start - 1] or _REL_AT_END_RE.search(before):
        return name_start + 1
    return name_start


class _Parser:
    """Finds the components of one normalised text (see the module docstring)."""

    def __init__(self, s: str, claimed: bytearray, answer: bool = False) -> None:
        self.s = s
        self.answer = answer  # reading an answer to "where?": 肯德基旁边 is a place
        self.taken = bytearray(claimed)
        self.comps: list[_Comp] = []
        self.by_end: dict[int, _Comp] = {}

    def add(self, comp: _Comp) -> None:
        self.comps.append(comp)
        self.by_end[comp.end] = comp
        _claim(self.taken, comp.start, comp.end)

    def run(self) -> list[_Comp]:
        bare = self.admin_full_names()
        self.bare_admin_names(bare, strong=True)
        self.ring_roads()
        self.parts()
        self.typed_names()
        # Relational words first, so that 人民医院住院部后面 does not become an estate 院部.
        self.attach_relational(0)
        known = len(self.comps)
        self.unknown_estates()
        self.corners()
        self.bare_admin_names(bare)
        self.attach_relational(known)
        self.comps.sort(key=lambda c: c.start)
        return self.comps

    def attach_relational(self, first: int) -> None:
        for comp in sorted(self.comps[first:], key=lambda c: c.start):
            self.relational(comp)

    # 1. 北京市, 朝阳区, 浦东新区; bare names are returned: province and prefecture names
    #    (长沙, 北京) are claimed right after, district names (朝阳, 中山) only at the end
    #    (中山路 is a road before 中山 is a city).
    def admin_full_names(self) -> list[tuple[int, int, str]]:
        s, gaz = self.s, _gazetteer()
        bare: list[tuple[int, int, str]] = []
        for m in gaz.names_re.finditer(s):
            start, end = m.span()
            name = m.group()
            if end == start or not _free(self.taken, start, end):
                continue
            if name not in gaz.full or (name[-1] == "市" and s[end : end + 1] in ("场", "民")):
                bare.append((start, end, name))  # 南京市场, 北京市民: maybe the bare name
                continue
            self.add(_Comp(start, end, _ADMIN, [(start, start + gaz.full[name])]))
        return bare

    # 1b. 东三环, 南二环, 二环线, 内环路: ring roads are named by their number
    def ring_roads(self) -> None:
        s = self.s
        if "环" not in s and "绕城" not in s:
            return
        for m in _RING_RE.finditer(s):
            start, end = m.span()
            if _free(self.taken, start, end):
                self.add(_Comp(start, end, _ROAD, [(start, m.end("ring"))]))

    # 2. 7栋 2单元 502室 二期 B区 三组 88号 3-2-502 地铁3号线 B出口
    def parts(self) -> None:
        s, taken = self.s, self.taken
        pos, n = 0, len(s)
        while pos < n:
            hit = _PART_TRIGGER_RE.search(s, pos)
            if hit is None:
                return
            at = hit.start()
            m = None if taken[at] else _PART_RE.match(s, at)
            if m is None or m.end() == at or not _free(taken, at, m.end()):
                pos = at + 1
                continue
            kind = m.lastgroup or _HOUSE
            start, end = m.span()
            if kind == _ZONE and start > 0 and s[start - 1] in _DIRECTIONS and not taken[start - 1]:
                start -= 1  # 天通苑东三区
            if kind in (_HOUSE, _FLOOR) and start > 0 and s[start - 1] in _NOT_HOUSE_PREV:
                pos = end
                continue
            weak = kind in (_UNIT, _FLOOR, _LANE, _HOUSE, _PERIOD, _ZONE, _GROUP, _EXIT, _LINE)
            if kind == _HOUSE and s.endswith("院", start, end):
                weak = False
            if kind == _BUILDING and not s[start].isascii():
                weak = True  # 一座小山, 两栋楼: a count unless an estate is named next to it
            self.add(_Comp(start, end, kind, [], weak=weak))
            if kind in (_BUILDING, _UNIT):
                room = _BARE_ROOM_RE.match(s, end)
                if room and _free(taken, room.start(), room.end()):
                    self.add(_Comp(room.start(), room.end(), _ROOM, []))
            pos = self.comps[-1].end

    # 3. 解放路, 幸福小区, 创业大厦, 桃源村 …
    def typed_names(self) -> None:
        self.river_sections()
        matches = [m for m in _TYPE_RE.finditer(self.s) if m.end() > m.start()]
        # Waters last: 龙湖春江郦城 is an estate before 春江 can be a river.
        self.typed(m for m in matches if _TYPES[m.group()].kind != _WATER)
        self.typed(m for m in matches if _TYPES[m.group()].kind == _WATER)

    # 3a. 湘江猴子山段, 浏阳河榔梨垸段, 湘江三汊矶码头段: a river and a named section
    def river_sections(self) -> None:
        """A named water followed by a named section and 段 is one stretch someone can
        find; read before other type words, whose names would swallow the river
        (浏阳河黄兴镇 is not a town's name)."""
        s, taken = self.s, self.taken
        for m in _SECTION_END_RE.finditer(s):
            end = m.start()  # the 段
            for water in range(end - 3, max(end - 10, 0), -1):
                if s[water] not in "江河溪渠" or taken[water]:
                    continue
                section = s[water + 1 : end]
                if not _section_name(section) or not _free(taken, water + 1, end + 1):
                    continue
                name_start = self.water_name(water)
                if name_start is None:
                    continue
                name_end = end
                for length in (4, 3, 2, 1):  # 三汊矶码头段, 黄兴镇段: not the type word
                    if end - length - (water + 1) >= 2 and s[end - length : end] in _TYPES:
                        name_end = end - length
                        break
                self.add(_Comp(name_start, water + 1, _WATER, [(name_start, water)]))
                self.add(
                    _Comp(water + 1, end + 1, _POI, [(water + 1, name_end)], rel=True, point=True)
                )
                break

    def water_name(self, water: int) -> int | None:
        """Where the name of the water whose type word is at ``water`` starts (湘江: 湘;
        浏阳河: 浏阳), or None."""
        s = self.s
        start = _name_start(s, water, self.taken, 6, answer=self.answer, counts=False)
        name = s[start:water]
        if s[water] in "江河" and name[-1:] in _RIVER_STEMS:
            return water - 1
        if len(name) < 2 or name[-1] in _VERB_ENDS or name in _common_words():
            return None
        return start

    def typed(self, matches: Iterable[re.Match[str]]) -> None:
        s, taken = self.s, self.taken
        for m in matches:
            start, end = m.span()
            if not _free(taken, start, end):
                continue
            word = m.group()
            typ = _TYPES[word]
            if (
                typ.not_before
                and s[end : end + 1]
                and s[end] in typ.not_before
                and not self.modifier_follows(end)
            ):
                continue  # 路灯, 广场舞, 村民 (but 芙蓉路过街天桥, 五一路人行天桥)
            if typ.kind == _VAGUE:
                self.vague_anchor(word, start, end)
                continue
            if word == "路" and s[end : end + 1] == "口" and start > 0 and taken[start - 1]:
                continue  # 桐梓坡路路口: the crossing of the road before, a relational word
            name_start = _name_start(
                s,
                start,
                taken,
                max(typ.max_name, 12) if self.answer else typ.max_name,
                typ.in_name,
                typ.kind == _ROAD,
                answer=self.answer,
                keep_word=functools.partial(self.word_may_name, word=word)
                if typ.kind != _WATER and (typ.kind != _ROAD or len(word) > 1)
                else None,
                counts=typ.kind in (_POI, _ESTATE, _ROAD),
                estate=typ.kind == _ESTATE and not typ.bare,  # 鑫和家园, not 和小区
            )
            name_start = _connector_start(s, name_start, start, taken)
            if name_start == start and word in _SCHOOL_WORDS:
                name_start = self.stop_char_name(start)  # 在博才小学, 求是中学
            # A generic modifier names nothing (人行天桥, 临时停车场: vague); after a named
            # place it is a part of it (五一大道人行天桥, 幸福小区露天停车场).
            mod_start = self.modifier_start(start, typ)
            name_start = min(name_start, mod_start)
            name = s[name_start:mod_start]
            previous = self.by_end.get(name_start)
            if name in _DIRECTIONS and previous and self.merges(previous, typ, True):
                self.extend(previous, end, typ.kind)  # 创智园北路, 火车站南广场
                continue
            if not name and previous is not None and self.merges(previous, typ, word=word):
                # 中山路小学, 五一广场站, 长沙市政府, 李家村村委会, 花园路: one place.
                self.extend(previous, end, typ.kind)
                continue
            if typ.min_name == 0:  # 高新区, 市政府: a place on its own; 高新, 市 name it
                name_end = start + 1 if typ.kind == _POI else end - 1
                self.add(_Comp(start, end, typ.kind, [(start, name_end)]))
                continue
            if typ.kind == _ROAD and s[end : end + 1] in ("上", "边") and name and _activity(name):
                continue  # 下班路上, 送外卖路上: on the way, not a road called 下班
            if typ.kind == _ROAD and name[-1:].isdigit():
                continue  # 26路, 坐K5路: a bus line
            if word == "路" and name.endswith("一") and not self.road_goes_on(end):
                continue  # 司机一路都在玩手机, 一路上: "all the way"
            # A part after it or a division before it confirms a name that looks like an
            # everyday word: 青山村三组 (山村), 花桥乡新建村 (新建).
            confirmed = self.answer or (end < len(s) and bool(taken[end]))
            division = self.by_end.get(name_start)
            confirmed = confirmed or (division is not None and division.kind == _ADMIN)
            if typ.kind == _WATER and word in ("江", "河") and name[-1:] in _RIVER_STEMS:
                name_start = start - 1  # 湘江, 赣江, 汾河: the great rivers have one character
                self.add(_Comp(name_start, end, typ.kind, [(name_start, start)]))
                continue
            if (
                name_start >= start - 1
                and word in _DIVISION_INSTITUTIONS
                and s[start - 1 : start] in _ONE_CHAR_DIVISIONS
                and not taken[start - 1]
                and (
                    start < 2
                    or taken[start - 2]
                    or not _is_cjk(s[start - 2])
                    or s[start - 2] in _STOP_CHARS
                )
            ):
                name_start = start - 1  # 县医院, 市妇幼保健院, 镇卫生院: the division's own
                self.add(_Comp(name_start, end, typ.kind, [(name_start, start)]))
                continue
            if name in _SENTENCE_WORDS and not (
                confirmed or self.word_may_name(name_start, mod_start, word)
            ):
                continue  # 整治城北…, 建议小区…: the sentence's verb, not a name
            if not self.good_name(typ, word, name, confirmed) or not self.looks_like_name(
                typ, word, name_start, mod_start, confirmed
            ):
                if typ.bare and (not name or name == "口" or _REL_AT_END_RE.fullmatch(name)):
                    # 五一路口公交站: the name walk only met the relational word before
                    self.add(_Comp(mod_start, end, typ.kind, [], weak=True))
                elif typ.bare and mod_start < start:
                    self.add(_Comp(mod_start, end, typ.kind, [], weak=True))  # 修人行天桥
                continue
            name_end = end if typ.in_name else mod_start
            self.add(_Comp(name_start, end, typ.kind, [(name_start, name_end)], weak=typ.weak))

    def modifier_follows(self, pos: int) -> bool:
        """Whether a generic modifier and a type word follow ``pos`` (过街天桥, 人行天桥)."""
        s = self.s
        if s[pos : pos + 2] not in _GENERIC_MODIFIERS:
            return False
        typed = _TYPE_RE.match(s, pos + 2)
        return typed is not None and typed.end() > pos + 2

    def modifier_start(self, start: int, typ: _Type) -> int:
        """Where a generic modifier right before a type word starts (人行 of 人行天桥, 临时
        of 临时停车场), or ``start``."""
        if typ.in_name or typ.kind not in (_POI, _ESTATE):
            return start
        s, taken = self.s, self.taken
        for length in (3, 2):
            at = start - length
            if at >= 0 and s[at:start] in _GENERIC_MODIFIERS and _free(taken, at, start):
                if s[at:start] == "城市" and (typ.kind != _POI or s[start : start + 2] == "广场"):
                    return start  # 城市花园, 城市广场 are names
                return at
        return start

    def stop_char_name(self, start: int) -> int:
        """The start of a two-character name holding a stop character right before a
        school, a hospital or an estate (博才小学, 求是中学, 有为小区) after 在/到/去/的/门口
        or at a clause's start, or ``start``."""
        s, taken = self.s, self.taken
        at = start - 2
        if at < 0 or not _free(taken, at, start):
            return start
        pair = s[at:start]
        stops = [ch for ch in pair if ch in _STOP_CHARS]
        if (
            not all(_is_cjk(ch) for ch in pair)
            or len(stops) != 1
            or stops[0] not in _NAME_STOP_CHARS
            or s[at] in _NAME_BOUNDARY
            or (pair in _common_words() and _lexicon().get(pair) not in _ADJECTIVE_POS)
        ):
            return start
        if self.clause_start(at) or s[at - 1] in _AFTER_PLACE_WORD or s[at - 2 : at] == "门口":
            return at
        return start

    def clause_start(self, pos: int) -> bool:
        """Whether ``pos`` starts the text or a clause (after punctuation or a space)."""
        return pos == 0 or (not self.taken[pos - 1] and self.s[pos - 1] in _CLAUSE_BREAKS)

    def place_boundary(self, pos: int) -> bool:
        """Whether what precedes ``pos`` may precede a place's name: a clause's start, a
        component, a place preposition, 的, 是, 我们 … — not 没有 or 了 (没有动静村里)."""
        s = self.s
        if pos == 0 or self.taken[pos - 1] or not _is_cjk(s[pos - 1]):
            return True
        return s[pos - 1] in _BEFORE_NAME or s[pos - 2 : pos] in ("这个", "那个", "哪个")

    def looks_like_name(
        self, typ: _Type, word: str, name_start: int, name_end: int, confirmed: bool
    ) -> bool:
        """In free text the name of a village, a town or an office must look like one: not
        a common noun closing the clause before (没有动静村里, 没有回音居委会) nor a phrase
        ending in one (低保结果村里, 下大雨村里) — unless a division precedes it or a
        numbered part confirms it (石门坎村4社, 路过黄土村三组; not after 有/没: 没有动静
        村三组).  Any other place's name may not
        be a common noun cut out of a longer run (相关部门规范小区周边)."""
        if self.answer or name_start >= name_end or typ.kind in _LINES:
            return True
        s, nouns = self.s, _common_nouns()
        name = s[name_start:name_end]
        strict = typ.kind == _VILLAGE or word in _TOWN_WORDS or word in _OFFICE_WORDS
        if name in nouns and not _surname_home(name):
            if strict and confirmed:  # 路过黄土村三组; but 没有动静村三组
                return name_start == 0 or s[name_start - 1] not in "有没无"
            if strict:
                return self.place_boundary(name_start)
            # Any other place: a noun cut out of a longer run is the sentence's word
            # (相关部门规范小区周边); after a stop character it may name one (去了荷花小区).
            before = s[name_start - 1] if name_start > 0 else ""
            return not (
                _is_cjk(before)
                and before not in _STOP_CHARS
                and before not in _ONE_CHAR_DIVISIONS  # 区行政服务中心, 市中心医院
                and not self.taken[name_start - 1]
                and not _REL_AT_END_RE.search(s, max(0, name_start - 4), name_start)
            )  # (学校门口天使幼儿园旁边: after a relational word a name starts)
        if not strict:
            return True
        if "完" in name:
            return False  # 刚下完雨村口: a finished action, not a village
        if confirmed or s[name_end - 1] in _LANDFORMS:
            return True
        return not any(
            name_end - length > name_start and s[name_end - length : name_end] in nouns
            for length in (2, 3)
        )

    def road_goes_on(self, end: int) -> bool:
        """Whether what follows X一路 continues a road's name (远航一路和…, 龙华一路88号,
        龙华一路公交站) rather than "all the way" (司机一路都在玩手机)."""
        if _YILU_NEXT_RE.match(self.s, end) or self.modifier_follows(end):
            return True
        typed = _TYPE_RE.match(self.s, end)
        return typed is not None and typed.end() > end

    def word_may_name(self, pos: int, end: int, word: str = "") -> bool:
        """Whether a lone common word ``s[pos:end]`` may be a name: after a place preposition
        (在希望小学) or a division (花桥乡新建村), not at a sentence's start (希望社区…).

        Before a school, a hospital or an estate (``word``) an adjective or a verb may be a
        name after 的 or 门口 (孩子读书的自强小学); at a clause's start an adjective, or
        希望, may name a school before a gate or a side (勤奋幼儿园门口…, 希望小学门口的
        减速带坏了)."""
        s = self.s
        if pos > 0 and s[pos - 1] in _NAME_BOUNDARY:
            return True
        division = self.by_end.get(pos)
        if division is not None and division.kind == _ADMIN and not division.weak:
            return True
        if word not in _SCHOOL_WORDS or self.answer:
            return False
        candidate = s[pos:end]
        pos_tag = _lexicon().get(candidate)
        if pos > 0 and (s[pos - 1] in _AFTER_PLACE_WORD or s[pos - 2 : pos] == "门口"):
            return pos_tag in _AFTER_DE_POS
        # At a clause's start only a school's name, and only before a gate or a side: an
        # adjective there usually describes (安全小区建设, 干净医院才让人放心).
        after = end + len(word)
        if (
            not self.clause_start(pos)
            or word not in _SCHOOLS
            or not _REL_RE.match(s, after)
            or s[after : after + 1] == "里"
        ):
            return False
        return candidate == "希望" or (
            pos_tag in _ADJECTIVE_POS and candidate not in _SENTENCE_WORDS
        )

    @staticmethod
    def merges(previous: _Comp, typ: _Type, direction: bool = False, word: str = "") -> bool:
        """Whether a type word right after ``previous`` (no name of its own) extends it."""
        if typ.weak or previous.kind in _PART_KINDS or previous.kind in (_VAGUE, _CORNER):
            return False
        # A nameless 花园 / 学院 names a road (花园路) and a nameless 文化宫 a station
        # (文化宫站); 社区医院 stays two nameless parts.
        station = word.endswith("站") and previous.kind == _POI
        return bool(previous.names) or typ.kind == _ROAD or direction or station

    @staticmethod
    def good_name(typ: _Type, word: str, name: str, confirmed: bool = False) -> bool:
        if len(name) < max(typ.min_name, 1) or not name.strip("x某*"):
            return False  # xx小区, 某某路: a name withheld
        if name.isdigit() and not (confirmed and len(name) >= 3 and typ.kind == _ESTATE):
            return False  # 88小区 is no name; 1912街区 after a city or in an answer is
        if typ.not_after and name[-1] in typ.not_after and not (confirmed and len(name) >= 2):
            return False
        numeral_name = len(name) >= 2 and _CN_DIGITS.issuperset(name)  # 五一路, 八一路
        if typ.kind == _ROAD and not numeral_name:
            stem = name.rstrip("一二三四五六七八九十0123456789")
            if stem != name:  # 远航一路, 科技五路, 经五路; not 坐三路, 这一路
                return len(stem) >= 2 or stem in ("经", "纬")
        if (
            typ.kind == _ROAD
            and word == "路"
            and name[-1] in _GENERIC_ROAD_PREV
            and not numeral_name
        ):
            return False
        if typ.generic_stem and (name[-1] in _GENERIC_AREA_PREV or name in _common_words()):
            return False  # generic 市/区/省: 浏阳市, 雨花区 but not 城市, 地区, 郊区
        return confirmed or name not in _GENERIC_NOUNS

    def extend(self, previous: _Comp, end: int, kind: str) -> None:
        if not previous.names:
            previous.names = [(previous.start, previous.end)]
        _claim(self.taken, previous.end, end)
        del self.by_end[previous.end]
        previous.end = end
        previous.kind = kind
        previous.weak = False
        self.by_end[end] = previous

    def vague_anchor(self, word: str, start: int, end: int) -> None:
        s = self.s
        if word == "家" and start > 0 and s[start - 1] in _VAGUE_HOME_PREV:
            return
        if self.relational_end(end, _VAGUE) is None:
            return
        self.add(_Comp(start, end, _VAGUE, []))

    # 4. an unknown name right before 7栋 / 二期 / B区 / 东门: 绿地香树花城7栋, 万象汇东门
    def unknown_estates(self) -> None:
        s, taken = self.s, self.taken
        anchors = [
            (c.start, False)
            for c in self.comps
            if c.kind in _ESTATE_PARTS or (c.kind == _HOUSE and "号院" in s[c.start : c.end])
        ]  # 金地9号院: a compound named by its brand and number
        gates = _ANSWER_GATE_RE if self.answer else _GATE_RE
        anchors += [
            (m.start(), True) for m in gates.finditer(s) if _free(taken, m.start(), m.end())
        ]
        common = _common_words()
        for at, gate in anchors:
            if at == 0 or taken[at - 1] or s[at - 1 : at + 1] in common:
                continue  # 然后门都打不开: the gate word starts inside 然后
            name_start = _name_start(s, at, taken, 12 if self.answer else 8, answer=self.answer)
            if self.answer and name_start == at and not gate and self.name_clause(at - 1):
                continue  # 万科城市之光，8栋2单元: the estate's name is the clause before
            name = s[name_start:at]
            # A gate, 楼下 or a floor after a two-character word is usually no estate
            # (关好大门, 沿街一楼); 东门 and numbered buildings are (万达东门, 星河湾B区).
            if gate:
                min_len = 2 if s[at] in "东西南北" or self.answer else 3
            elif self.by_start_kind(at) == _FLOOR:
                if not s[at].isdigit():
                    continue  # 往外冒水一楼: a floor in words is no building part
                min_len = 3
            else:
                min_len = 2
            if len(name) < min_len or name in _GENERIC_NOUNS or name.isdigit():
                continue
            if name in _TYPES and not (name_start > 0 and taken[name_start - 1]):
                continue  # 家园3栋: the type word of a name cut short (中海8号公馆 is one)
            if name_start > 0 and s[name_start - 1] == "和" and not taken[name_start - 1]:
                continue  # 东方和鑫家园3栋: a name cut at 和 is not sure enough to file
            self.add(_Comp(name_start, at, _ESTATE, [(name_start, at)]))

    def name_clause(self, comma: int) -> bool:
        """In an answer, a clause made only of an unknown name right before ``comma`` and
        a numbered part: that name is an estate ("万科城市之光，8栋2单元")."""
        s, taken = self.s, self.taken
        if comma < 2 or s[comma] not in ",、 " or taken[comma - 1]:
            return False
        start = _name_start(s, comma, taken, 12, answer=True)
        if start == comma or (
            start > 0
            and not taken[start - 1]
            and s[start - 1] not in _STOP_CHARS
            and s[start - 1] not in _NAME_BOUNDARY
        ):
            return False  # the name must be the whole clause (after 在, 那个 …)
        if not _unknown_name(s[start:comma]):
            return False
        self.add(_Comp(start, comma, _ESTATE, [(start, comma)]))
        return True

    def by_start_kind(self, at: int) -> str | None:
        return next((c.kind for c in self.comps if c.start == at), None)

    # 5a. 路口往北200米, 十字路口: a crossing without a name (a place only with more)
    def corners(self) -> None:
        for m in _CORNER_RE.finditer(self.s):
            if _free(self.taken, m.start(), m.end()):
                self.add(_Comp(m.start(), m.end(), _CORNER, [], weak=True))

    # 5b. bare gazetteer names: 北京, 长沙 (places), 朝阳, 西湖 (only next to another part)
    def bare_admin_names(self, bare: list[tuple[int, int, str]], strong: bool = False) -> None:
        """``strong``: only the province/prefecture names, claimed before type words so
        that a name walk cannot cut one in half (长沙火车南站 is not 沙火车南站)."""
        gaz, common, s = _gazetteer(), _common_words(), self.s
        for start, end, name in bare:
            if strong and (name in gaz.weak_bare or name[:-1] in gaz.weak_bare):
                continue
            if name in gaz.full:  # 北京市 in 北京市民: keep only 北京
                name = name[:-1]
                end -= 1
            if s[start - 1 : start + 1] in common or s[end - 1 : end + 1] in common:
                continue  # 这几天水里: 天水 is not the city here
            if (
                start > 0
                and _is_cjk(s[start - 1])
                and s[start - 1] not in _STOP_CHARS
                and not self.taken[start - 1]
                and s[end : end + 1] in ("路", "街", "巷", "大")
            ):
                continue  # 松雅湖南路: a road's name that holds a province's
            if s[end - 1 : end + 1] in _TYPES:
                continue  # 市中心: not the district 市中
            if _free(self.taken, start, end):
                weak = name in gaz.weak_bare
                if weak and not (end < len(s) and self.taken[end]):
                    continue  # a district's bare name only prefixes a place: 朝阳望京街道
                self.add(_Comp(start, end, _ADMIN, [(start, end)], weak=weak))

    # 6. 门口, 对面, 东门, 交叉口北侧, 往北200米 … glued to a component
    def relational(self, comp: _Comp) -> None:
        for _ in range(3):
            found = self.relational_end(comp.end, comp.kind)
            if found is None:
                return
            rel_end, point = found
            # 桃源村里, 青山镇里: "in the village" is no more precise than the village
            inside = rel_end == comp.end + 1 and self.s[comp.end] in "里内"
            _claim(self.taken, comp.end, rel_end)
            comp.end = rel_end
            comp.rel = comp.rel or not (inside and comp.kind in (_VILLAGE, _ADMIN))
            comp.point = comp.point or point
            comp.weak = False

    def relational_end(self, pos: int, kind: str) -> tuple[int, bool] | None:
        s, taken = self.s, self.taken
        m = _REL_RE.match(s, pos)
        if m and _free(taken, pos, m.end()):
            return m.end(), m.lastgroup == "point"
        singles = _REL_SINGLE.get(kind, "")
        if (
            s[pos : pos + 1] == "下"
            and pos > 0
            and s[pos - 1] in "桥架"
            and not taken[pos]
            and s[pos + 1 : pos + 2] not in _NOT_AFTER_XIA
        ):
            return pos + 1, False  # 猴子石大桥下, 二环高架下
        if singles and s[pos : pos + 1] and s[pos] in singles and not taken[pos]:
            if s[pos] == "上" and s[pos + 1 : pos + 2] in _NOT_AFTER_SHANG:
                return None  # 我家上个月, 马路上班
            return pos + 1, s[pos] == "口"
        return None


def _joinable(s: str, left: _Comp, right: _Comp, answer: bool = False) -> bool:
    gap = s[left.end : right.start]
    if gap in ("", " "):
        return True
    if answer and gap.strip() in (",", "、", ""):
        return True  # an answer's clauses describe one place: 阳光100国际新城，3栋2单元
    if gap == "的":
        return right.kind in _PART_KINDS or right.rel
    if len(gap) == 1 and gap in _CONNECTORS:
        return left.kind in _LINES and right.kind in _LINES
    if gap in _NEAR_GAPS:  # 湘江大道靠近猴子石大桥那段: one place described by two
        return left.kind in _LINES and bool(right.names)
    return False


def _groups(s: str, comps: list[_Comp], keep_weak: bool) -> list[list[_Comp]]:
    """Maximal runs of adjacent components; without ``keep_weak`` each needs a strong one."""
    groups: list[list[_Comp]] = []
    for comp in comps:
        if groups and _joinable(s, groups[-1][-1], comp, keep_weak):
            groups[-1].append(comp)
        else:
            groups.append([comp])
    kept = []
    for group in groups:
        # 中建凤凰湖12栋, 滨江港3期: a "water" with the parts of an estate is an estate.
        for left, right in itertools.pairwise(group) if len(group) > 1 else ():
            if left.kind == _WATER and right.kind in _ESTATE_PARTS:
                left.kind = _ESTATE
        # 我们小区云栖湾三期: the nameless 小区 before a named estate adds nothing.
        while (
            len(group) > 1
            and group[0].kind in (_ESTATE, _ADMIN, _POI)
            and not group[0].names
            and not group[0].rel
            and group[1].names
        ):
            group = group[1:]
        if keep_weak or any(not c.weak for c in group):
            kept.append(group)
    return kept


def _specificity(group: list[_Comp]) -> Specificity:
    kinds = {c.kind for c in group}
    named = {c.kind for c in group if c.names}
    roads = sum(1 for c in group if c.kind in _LINES and c.names)  # roads and waters
    estate = _ESTATE in named
    poi = _POI in named
    village = _VILLAGE in named
    # 花家地社区, 望京街道: a typed division (not a bare 北京), which may hold buildings.
    admin_unit = any(
        c.kind == _ADMIN and c.names and c.end - c.start >= 3 and c.end > c.names[-1][1]
        for c in group
    )
    building = bool(kinds & {_BUILDING, _SHORTHAND})
    detail = bool(kinds & {_UNIT, _ROOM, _FLOOR, _SHORTHAND})
    house = bool(kinds & {_HOUSE, _LANE})
    parts = bool(kinds & _ESTATE_PARTS) or house
    point = any(c.point for c in group if c.kind in _LINES)
    rel = any(c.rel for c in group if c.kind in (_ESTATE, _POI, _VILLAGE))
    # 望城工业园东门, 城西街道门口: the gate of a division or a park can be found
    gate = admin_unit and any(c.point for c in group if c.kind == _ADMIN)
    if (estate or village or admin_unit or (roads and house)) and building and detail:
        return Specificity.EXACT
    if estate and _ROOM in kinds:
        return Specificity.EXACT
    if (
        poi
        or roads >= 2
        or (roads and (house or point or building or estate or village))
        or (estate and (parts or rel))
        or gate
        or (village and (parts or rel or _GROUP in kinds))
        or (admin_unit and (building or house or _GROUP in kinds))
        or (_LINE in kinds and _EXIT in kinds)
    ):
        return Specificity.SPECIFIC
    if named:
        return Specificity.AREA
    return Specificity.VAGUE


def _kind(group: list[_Comp]) -> str:
    """What anchors a place, the most findable first."""
    named = {c.kind for c in group if c.names}
    roads = sum(1 for c in group if c.kind in _LINES and c.names)
    if roads >= 2 or any(c.kind in _LINES and c.point for c in group):
        return "crossing"
    for kind in (_POI, _ESTATE, _VILLAGE, _ROAD, _WATER, _ADMIN):
        if kind in named:
            return kind
    if any(c.kind in (_VAGUE, _CORNER, _ESTATE, _POI, _ADMIN) for c in group):
        return "vague"
    return "part"


def _scan(s: str, claimed: bytearray | None, keep_weak: bool) -> list[PlaceSpan]:
    if claimed is None:
        claimed = bytearray(len(s))
    comps = _Parser(s, claimed, answer=keep_weak).run()
    spans = []
    for group in _groups(s, comps, keep_weak):
        names = tuple(span for comp in group for span in comp.names)
        spec = _specificity(group)
        spans.append(PlaceSpan(group[0].start, group[-1].end, spec, names, _kind(group)))
    return spans


class MessagePlaces:
    """One message's aligned normalisation and its places with nothing claimed, computed
    at most once and shared by everyone who reads the message's places.

    A parse needs the places twice: entity extraction scans the message (after claiming
    phones and times) and the classifier masks place names (:func:`place_name_spans`).
    When extraction has claimed nothing, both run the same scan of the same text: the
    parser copies what is claimed and never writes to it, so an all-clear ``claimed`` finds
    what no ``claimed`` finds. Build one per message; not for sharing between threads
    (it fills itself in lazily).
    """

    __slots__ = ("_spans", "aligned", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.aligned: AlignedText = normalize_aligned(text)
        self._spans: list[PlaceSpan] | None = None

    def spans(self) -> list[PlaceSpan]:
        """The places in the normalised text, nothing claimed (scanned on first use)."""
        if self._spans is None:
            self._spans = _scan(self.aligned.text, None, keep_weak=False)
        return self._spans

    def places(self) -> list[Place]:
        """:func:`find_places` of the message."""
        if not self.text:
            return []
        return _as_places(self.text, self.aligned, self.spans())


def scan_places(
    s: str, claimed: bytearray, message: MessagePlaces | None = None
) -> list[PlaceSpan]:
    """Places in the NORMALISED text ``s`` outside ``claimed``, which they then claim.

    The hook for ``nlu.entities``: it claims ID numbers, tickets, phones and times first.
    ``message`` (whose normalised text is ``s``) lends its scan when nothing is claimed.
    """
    if message is not None and not any(claimed):
        assert message.aligned.text == s, "the message's places are of another text"
        spans = message.spans()
    else:
        spans = _scan(s, claimed, keep_weak=False)
    for span in spans:
        _claim(claimed, span.start, span.end)
    return spans


def may_hold_time(s: str, start: int, end: int) -> bool:
    """Whether a time found at ``s[start:end]`` (NORMALISED text) may sit inside a place's
    name: a name character right before it and a type word right after (金科10年城3期).
    ``nlu.entities`` then lets :func:`scan_places` decide."""
    if start == 0 or end >= len(s):
        return False
    before = s[start - 1]
    if not (_is_cjk(before) or before.isalpha()) or before in _STOP_CHARS:
        return False
    typed = _TYPE_RE.match(s, end)
    return typed is not None and typed.end() > end and _TYPES[typed.group()].kind != _VAGUE


def _to_places(
    text: str, keep_weak: bool = False, claimed: Iterable[tuple[int, int]] = ()
) -> list[Place]:
    """The places of ``text``; ``claimed`` spans (original offsets) hold none."""
    if not text:
        return []
    aligned = normalize_aligned(text)
    taken = None
    spans = list(claimed)
    if spans:
        taken = bytearray(len(aligned.text))
        for i, pos in enumerate(aligned.offsets[:-1]):
            if any(a <= pos < b for a, b in spans):
                taken[i] = 1
    return _as_places(text, aligned, _scan(aligned.text, taken, keep_weak))


def _as_places(text: str, aligned: AlignedText, spans: Iterable[PlaceSpan]) -> list[Place]:
    """Places of the normalised text as :class:`Place` objects in ``text``'s offsets."""
    places = []
    for span in spans:
        start, end = aligned.original_span(span.start, span.end)
        names = tuple(aligned.original_span(a, b) for a, b in span.names)
        places.append(Place(text[start:end], start, end, span.specificity, names, span.kind))
    return places


def find_places(text: str) -> list[Place]:
    """The places in free text, sorted and non-overlapping, in the original characters.

    >>> [(p.text, p.specificity.name) for p in find_places("云栖湾三期电梯频繁困人")]
    [('云栖湾三期', 'SPECIFIC')]
    """
    return _to_places(text)


def place_name_spans(text: str, message: MessagePlaces | None = None) -> list[tuple[int, int]]:
    """The proper-name parts of every place in ``text`` (original offsets), for masking.

    ``message``, when given, holds ``text``'s places already (or will keep them for the
    next reader).

    >>> text = "桃源村三组的水渠堵了"
    >>> [text[a:b] for a, b in place_name_spans(text)]
    ['桃源']
    """
    if message is None:
        places = find_places(text)
    else:
        assert message.text == text, "the message's places are of another text"
        places = message.places()
    return [span for place in places for span in place.names]


def address_specificity(value: str) -> Specificity:
    """Grade how precisely ``value`` (an address entity's value, or any text) locates a place.

    >>> address_specificity("小区门口"), address_specificity("幸福小区门口")
    (<Specificity.VAGUE: 1>, <Specificity.SPECIFIC: 3>)
    """
    places = _to_places(value)
    return max((p.specificity for p in places), default=Specificity.NONE)


def is_specific_location(value: str) -> bool:
    """Whether a location is precise enough to send someone there.

    True for a named road with a house number or a crossing, an estate with a building
    or a gate (幸福小区门口), a named building or landmark (创业大厦, 望京地铁站), a village
    group (桃源村三组); False for 小区门口, 我家楼下, a district, a road or an estate alone.
    """
    return address_specificity(value) >= Specificity.SPECIFIC


# =========================================================================== answers

_PUNCT = "，,。.!！~～、;；:： \n"
_CLAUSE_END = "，,。.!！?？;；\n"
# Words a resident wraps an answer in: "就在…", "地址是…", "…那边吧".
_LEAD_FILLER_RE = re.compile(
    r"(?:(?:嗯+|恩+|哦+|噢|呃|额|啊|好的|好|对的|对|是的|喂|你好|您好)[,，。.!！\s]+"
    r"|(?:具体|详细)?(?:地址|位置|地点|住址)(?:是|在|:|：)?|(?:我家|我们家|我|我们|家)(?:住)?在"
    r"|住在|位于|大概|大约|应该|可能|差不多|估计|就是|就在|就|是在|是|在|那个|这个)"
    r"[,，:：\s]*"
)
_TAIL_FILLER_RE = re.compile(
    r"(?:[,，。.!！~～、\s]|吧|哈|呀|啊|啦|呢|哦|噢|了|的位置|的地方|这边|那边|这里|那里|这儿"
    r"|那儿|这块|那块)+$"
)
_CLAUSE_SPLIT_RE = re.compile(f"[{_CLAUSE_END}]+")
_QUESTION_RE = re.compile(
    r"[?？]|吗|么$|呢$|在哪|哪里|哪儿|哪个|哪边|什么|怎么|为什么|为啥|是不是|能不能|可不可以|谁"
)
# An answer made only of these is a place with nothing to find it by (at least one of
# the words, not only the filler around them).
_VAGUE_WORDS = (
    r"我家|我们家|家里|家门口|小区|楼|单位|公司|学校|村|镇|这边|那边|这里|那里|这儿|那儿|这块|"
    r"那块|附近|周边|旁边|对面|隔壁|楼下|楼上|楼道|门口|大门口|外面|里面|路上|路边|马路|街上|"
    r"路口|十字路口|红绿灯|村里|镇上|院子|院里|一楼|楼里|边上|上|里|家|河边|江边|湖边|桥下|"
    r"桥头|亭子|住院部|门诊|[东西南北]门|大门|后门|侧门|停车场|车库|地下车库|[这那]一?段"
)
_VAGUE_FILLER = r"就|在|是|我|我们|咱|咱们|那个|这个|的|了|吧|哈|呀|啊|[,，。.!！\s]"
_VAGUE_ANSWER_RE = re.compile(
    f"(?:{_VAGUE_FILLER})*(?:{_VAGUE_WORDS})(?:{_VAGUE_WORDS}|{_VAGUE_FILLER})*"
)
# Answers that are no place at all: yes/no/thanks, "don't know", greetings.
_NON_ANSWER_RE = re.compile(
    r"(?:[,，。.!！~～\s]|嗯|恩|哦|噢|呃|额|啊|好的|好|对的|对|是的|是|行|可以|没有|没|不是|不|"
    r"谢谢|谢了|多谢|辛苦了|辛苦|麻烦了|收到|知道了|ok|okay|好吧|你好|您好|喂|在吗|"
    r"不知道|不清楚|忘了|忘记了|记不清了?|说不清|不记得了?|我也|也|就|那个|这个|了|吧|呢|啦)+"
)
# A name withheld: xx小区, 某某路, **花园.
_WITHHELD_RE = re.compile(r"[x某*]{1,4}(.+)")
_CONTACT_WORDS_RE = re.compile(r"(?:我的|联系)?(?:电话|手机号?|号码|联系方式)(?:是|:|：)?")
# A description continuing a named place: 人民公园南门进去左手边厕所旁边.
_DIRECTION_RE = re.compile(
    r"(?:的|那个|这个|再)?(?:进去|进门|进来|往|向|朝|沿着|顺着|左手|右手|左边|右边|左拐|右拐|拐|"
    r"直走|走|过|旁边|对面|附近|尽头|里面|里头|楼下|楼上|后面|前面|隔壁|门口|边上|[东西南北]侧)"
)
# Between two places of one answer: "7栋2单元，绿地香树花城" is one location.
_GAP_RE = re.compile(r"[,，、 ]?(?:的|就在|在|就是|是|靠近|挨着|近|那个|这个)?[,，、 ]?")
# A clause of its own continues a place only with a way word: "人民公园南门，进去左手边".
_WAY_CLAUSE_RE = re.compile(
    r"(?:然后|再)?(?:进去|进门|进来|往|向[东西南北前后左右里]|朝[东西南北前后左右]|沿着|顺着|"
    r"左手|右手|左拐|右拐|直走|过了|[东西南北]侧)"
)
_CONTACT_LEAD_RE = re.compile(
    r"(?:我的|联系)?(?:电话|手机号?|号码|联系方式|身份证号?)(?:是|:|：)?\s*$"
)
_NAME_CHAR_RE = re.compile(r"[\u4e00-\u9fffa-z]")


def read_location_answer(text: str) -> LocationAnswer:
    """Judge a resident's answer to "请问具体在什么位置？".

    ``place``: something a dispatcher can find — any named anchor with a type word, a
    part, a gate or a section (an estate with a building, unit, gate or just its name, a
    crossing, a road with a number, a named building, landmark, shop branch or office, a
    village group, a river's stretch, a description anchored on one).  ``vague``: a
    place with nothing to find it by (这边, 小区门口, 高新区, 人民路 or 龙王港河 alone, an
    unknown bare name) — ask once more.  ``not_place``: digits, a phone or ID number,
    yes/no/thanks, "不知道", a time, a question, anything else.  ``value`` is the
    resident's whole words for the place: every clause of it joined by punctuation or
    filler only (阳光100国际新城，3栋2单元), without lead/tail filler, phone or ID numbers,
    contact words and a closing question.

    >>> read_location_answer("就在绿地香树花城7栋那边")
    LocationAnswer(verdict='place', value='绿地香树花城7栋', specificity=<Specificity.SPECIFIC: 3>)
    >>> read_location_answer("我家在阳光100国际新城，3栋2单元，电话13912345678").value
    '阳光100国际新城，3栋2单元'
    """
    from nlu.entities import extract_entities  # nlu.entities imports this module

    stripped = text.strip()
    if not stripped:
        return LocationAnswer("not_place", None, Specificity.NONE)
    # Phone and ID numbers split the answer; only the segments between them may hold it.
    entities = extract_entities(stripped)
    blocked = [
        (e.start, e.end) for e in entities if e.entity in ("phone", "id_number", "ticket_id")
    ]
    times = [(e.start, e.end) for e in entities if e.entity == "time"]
    # A time ends a name (三天前幸福小区门口 → 幸福小区门口) unless it sits inside one
    # (金科10年城: a name character right before it).
    loose_times = [
        (a, b)
        for a, b in times
        if a == 0 or not _NAME_CHAR_RE.match(stripped[a - 1]) or stripped[a - 1] in _STOP_CHARS
    ]
    places = tuple(
        p
        for p in _to_places(stripped, keep_weak=True, claimed=blocked + loose_times)
        if not any(p.start < b and a < p.end for a, b in blocked)
    )
    question = _question_start(stripped)
    if question is not None:
        # "人民医院在哪里" asks; "在绿地香树花城7栋，你们什么时候来？" answers, then asks.
        places = tuple(p for p in places if p.end <= question)
        if not places:
            return LocationAnswer("not_place", None, Specificity.NONE)
        stripped = stripped[:question]
    if not places:
        return _without_place(_remove_spans(stripped, blocked + times))
    best = max(places, key=lambda p: (p.specificity, p.end - p.start))
    verdict = _verdict(best)
    # vague: the resident's whole clauses (我们小区, 我家门口), to take if asked twice
    value = _answer_value(
        stripped, places, best, blocked, whole_clauses=verdict == "vague", times=loose_times
    )
    return LocationAnswer(verdict, value, best.specificity, places)


def _segment_bounds(text: str, place: Place, blocked: list[tuple[int, int]]) -> tuple[int, int]:
    low, high = 0, len(text)
    for a, b in blocked:
        if b <= place.start:
            low = max(low, b)
        elif a >= place.end:
            high = min(high, a)
    return low, high


def _question_start(text: str) -> int | None:
    """Where the answer's closing question starts, if it ends with one."""
    body = text.rstrip(_PUNCT + "?？")
    start = max((body.rfind(ch) for ch in _CLAUSE_END), default=-1) + 1
    if text.rstrip(_PUNCT).endswith(("?", "？")) or _QUESTION_RE.search(body[start:]):
        return start
    return None


def _verdict(best: Place) -> LocationVerdict:
    if best.specificity >= Specificity.SPECIFIC:
        return "place"
    if best.specificity == Specificity.AREA and best.kind == _ESTATE:
        return "place"  # 绿地香树花城: findable; the confirmation lets the resident add detail
    return "vague"


def _without_place(text: str) -> LocationAnswer:
    """An answer with no place in it: vague words, an unknown name, or not a place."""
    whole = _CONTACT_WORDS_RE.sub("", text).strip(_PUNCT)
    norm = normalize_aligned(whole).text
    if not norm or _NON_ANSWER_RE.fullmatch(norm):
        return LocationAnswer("not_place", None, Specificity.NONE)
    if _VAGUE_ANSWER_RE.fullmatch(norm):  # 这边, 就在这里, 我家楼下那边
        return LocationAnswer("vague", _strip_filler(whole) or whole, Specificity.VAGUE)
    rest = _strip_filler(whole)
    norm_rest = normalize_aligned(rest).text
    if rest and _unknown_name(norm_rest):  # 保利心语: ask for more
        return LocationAnswer("vague", rest, Specificity.VAGUE)
    withheld = _WITHHELD_RE.fullmatch(norm_rest)
    if withheld and (_TYPE_RE.fullmatch(withheld[1]) or _VAGUE_ANSWER_RE.fullmatch(withheld[1])):
        return LocationAnswer("vague", rest, Specificity.VAGUE)  # xx小区, 某某路: which?
    return LocationAnswer("not_place", None, Specificity.NONE)


def _unknown_name(s: str) -> bool:
    """Whether ``s`` could be a place name we do not know: 2-8 name characters, none of
    them a function character, no common word (好的谢谢, 路灯坏了 and 不清楚 are not)."""
    if not 2 <= len(s) <= 8 or not all(_NAME_CHAR_RE.match(ch) for ch in s):
        return False
    if any(ch in _STOP_CHARS for ch in s) or s.isascii():
        return False
    return _last_common_word_end(s, 0, len(s), _common_words()) is None and not any(
        ch in "坏堵漏吵臭脏乱修谢好行" or ch in _ANSWER_STOP_CHARS for ch in s
    )


def _remove_spans(text: str, spans: list[tuple[int, int]]) -> str:
    for a, b in sorted(spans, reverse=True):
        text = text[:a] + "，" + text[b:]
    return text


def _strip_filler(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        lead = _LEAD_FILLER_RE.match(text)  # at the start only: 幸福小区在3栋 keeps 在
        if lead:
            text = text[lead.end() :]
        text = _TAIL_FILLER_RE.sub("", text).strip(_PUNCT)
    return text


def _answer_value(
    text: str,
    places: tuple[Place, ...],
    best: Place,
    blocked: list[tuple[int, int]],
    whole_clauses: bool = False,
    times: list[tuple[int, int]] | None = None,
) -> str:
    """The resident's whole words for the place: the best place and every place joined to
    it in its segment (between phone/ID numbers) by punctuation, filler or 的/在/靠近 only
    (阳光100国际新城，3栋2单元), the unparsed start of its clause (东二环和人民路交叉口), a
    way description after it in its clause or the next (人民公园南门，进去左手边), without
    lead/tail filler and contact words."""
    low, high = _segment_bounds(text, best, blocked)
    mine = [p for p in places if p.start >= low and p.end <= high]
    first = last = mine.index(best)
    while first > 0 and _connects(text[mine[first - 1].end : mine[first].start]):
        first -= 1
    while last + 1 < len(mine) and _connects(text[mine[last].end : mine[last + 1].start]):
        last += 1
    start, end = mine[first].start, mine[last].end
    # The clause's start when nothing but name characters precede the place.
    clause_start = start
    while clause_start > low and text[clause_start - 1] not in _CLAUSE_END + " ":
        clause_start -= 1
    head = _strip_filler(text[clause_start:start])
    norm_head = normalize_aligned(head).text if head else ""
    if (
        head
        and text.endswith(head, 0, start)
        and not any(a < start and start - len(head) < b for a, b in times or ())
        and not any(c in _STOP_CHARS or c in _ANSWER_STOP_CHARS for c in norm_head)
        and not _STOP_WORDS_RE.search(norm_head)
    ):
        start -= len(head)
    elif whole_clauses:
        start = clause_start
    # A way description after it, in the same clause (人民公园南门进去左手边厕所旁边) or
    # in the clauses right after (人民公园南门，进去左手边，厕所旁边).
    clause_end = end
    while clause_end < high and text[clause_end] not in _CLAUSE_END:
        clause_end += 1
    tail = text[end:clause_end]
    if tail and _DIRECTION_RE.match(tail) and not _CONTACT_LEAD_RE.search(tail):
        end = clause_end
    elif tail and _name_tail(normalize_aligned(tail).text):
        end = clause_end  # 观音桥九街: more of the name, which no type word closes
    while end < high and text[end] in _CLAUSE_END:
        nxt = end
        while nxt < high and text[nxt] in _CLAUSE_END + " ":
            nxt += 1
        clause_end = nxt
        while clause_end < high and text[clause_end] not in _CLAUSE_END:
            clause_end += 1
        if nxt == clause_end or not _way_clause(text[nxt:clause_end]):
            break
        end = clause_end
    value = _CONTACT_LEAD_RE.sub("", text[start:end])
    return _strip_filler(value) or best.text


def _name_tail(tail: str) -> bool:
    """Whether the rest of an answer's clause is a short name (九街, 厕所), not a complaint
    (的路灯坏了, 停水) nor filler (那边吧)."""
    return (
        len(tail) <= 6
        and all(_NAME_CHAR_RE.match(ch) or ch.isdigit() for ch in tail)
        and not any(ch in _STOP_CHARS or ch in _ANSWER_STOP_CHARS for ch in tail)
        and not _TAIL_FILLER_RE.search(tail)
        and not _STOP_WORDS_RE.search(tail)
        and _last_common_word_end(tail, 0, len(tail), _common_words()) is None
    )


def _way_clause(clause: str) -> bool:
    """Whether a clause of its own goes on describing the place before it: a way word
    first (进去左手边, 往北走50米) or a relational word last (厕所旁边), nothing else."""
    if _CONTACT_LEAD_RE.search(clause):
        return False
    if _WAY_CLAUSE_RE.match(clause):
        return True
    norm = normalize_aligned(clause).text
    return (
        len(norm) <= 12
        and bool(_REL_AT_END_RE.search(norm))
        and not any(c in _ANSWER_STOP_CHARS or c in "我你他她了吗呢吧" for c in norm)
        and not _QUESTION_RE.search(norm)
    )


def _connects(gap: str) -> bool:
    """Whether two places of an answer with ``gap`` between them describe one place:
    punctuation, filler and 的/在/靠近 only ("7栋2单元，在绿地香树花城")."""
    for piece in _CLAUSE_SPLIT_RE.split(gap):
        piece = piece.strip(_PUNCT)
        if piece and not _GAP_RE.fullmatch(piece) and _strip_filler(piece):
            return False
    return True
