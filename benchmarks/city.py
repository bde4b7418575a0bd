"""A synthetic city's year of tickets, with the problem clusters planted in it known.

:func:`generate_year` builds a city (districts, streets, communities, estates, roads and
their crossings, landmarks, villages, each with coordinates) and a year of tickets:

* **planted clusters** of 3–40 tickets (sizes roughly power-law): one problem (category ×
  sub-type, e.g. 井盖丢失) at one spot, reported by different residents over days to
  weeks, each writing the place in their own way (``解放路与中山街路口``,
  ``中山街解放路口东侧``, ``滨河区解放路中山街交叉口北侧``, with or without district
  prefixes, gates, buildings, house numbers a few doors apart, coordinates from a
  location message for about a quarter, a vague ``小区门口`` now and then) and the problem
  in their own words (synonyms, word order, durations, politeness, impact, the place
  repeated in the description, traditional characters, full-width digits). Some
  residents complain twice (repeat complainers);
* **noise**: single tickets of any category at any spot — including other problems at the
  planted spots (a flickering lamp where a lamp is out) — never the same problem at the
  same spot within a month of a planted one (that would be a cluster);
* **seasons and rhythms**: drainage after summer rain (storm days start many flooding
  clusters at once: surges), heating (filed as ``report.other``: the taxonomy has no
  heating class) from mid-November to March, square-dance noise in the warm months,
  fallen trees on typhoon days; fewer tickets at weekends, most by day;
* **handling**: departments (from the taxonomy) sign, resolve and are rated with their own
  habits (some slow, some disliked), so 三率 and the quadrants have something to show.

Deterministic for a seed. Nothing is written to disk.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from integrations.analytics.facts import TicketFact
from policies.taxonomy import load_taxonomy
from policies.tickets import load_sla_rules

__all__ = ["City", "Spot", "Year", "generate_city", "generate_year"]

CST = timezone(timedelta(hours=8))


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_M_PER_DEG = 111_320.0

# -- names ----------------------------------------------------------------------------------------

_ROAD_ROOTS = _words(
    "解放 中山 人民 建设 和平 胜利 长江 黄河 新华 光明 文化 青年 友谊 民主 团结 朝阳 "
    "东风 红旗 复兴 前进 健康 工农 八一 五一 南京 北京 上海 广州 天津 西安 成都 青岛 "
    "延安 湖滨 滨江 江滨 沿江 望江 临江 体育 银杏 梧桐 桂花 丁香 紫荆 玉兰 海棠 枫林 "
    "松林 柳林 凤凰 金山 银河 星光 振兴 育才 科技 创业 学府 迎宾 府前 环湖 滨河 运河 "
    "清泉 龙泉 白云 青山 秀水 春风 秋实 长安 永安 长寿 新安 兴业 富民 惠民 安康 荷花 "
    "牡丹 芙蓉 樱花 石榴 翠柳 碧波 鸿雁 鹏程 锦江 通达 宏图 东湖 西湖 南湖 北湖 东山 "
    "西山 南山 北山 东城 西城 新民 红星 卫星 建国 跃进 华山 泰山 黄山 庐山 "
)
_ROAD_SUFFIXES = (("路", 0.70), ("街", 0.15), ("大道", 0.08), ("大街", 0.07))
_DIRECTIONS = ("东", "西", "南", "北")
_ESTATE_ROOTS = _words(
    "阳光 金色 锦绣 翠湖 碧水 绿城 春晖 紫金 世纪 东方 和谐 美林 龙湖 星河 半岛 御景 "
    "君悦 泰和 康乐 安居 福寿 吉祥 如意 幸福 和美 盛世 华庭 鑫苑 金桂 银桂 丽景 雅居 "
    "怡景 馨园 宜家 欣城 嘉和 瑞祥 天和 润泽 清华 博雅 书香 翰林 尚品 名都 水岸 江畔 "
    "湖畔 滨湖 望湖 观澜 听涛 揽月 摘星 朝晖 夕阳 晨曦 曙光 红叶 绿洲 青松 翠竹 梅园 "
    "兰亭 菊香 荷塘 杏林 桃源 李园 柳岸 枫丹 香榭 维也纳 巴黎 罗马 威尼斯 剑桥 牛津 北欧 "
    "地中海 新城 新都 新港 新桥 老街 古城 铁路 电力 邮电 纺织 机械 化工 钢铁 粮食 供销 "
    "教师 医护 公安 税务 银行 石油 水利 林业 交通 建工 金茂 保利 万科 华润 融创 中海 "
    "招商 绿地 首开 远洋 金隅 旭辉 龙光 碧桂 雅苑 汇景 凯旋 "
)
_ESTATE_SUFFIXES = (
    ("家园", 0.16),
    ("花园", 0.14),
    ("小区", 0.16),
    ("新村", 0.08),
    ("苑", 0.10),
    ("里", 0.06),
    ("公寓", 0.05),
    ("嘉园", 0.05),
    ("名苑", 0.05),
    ("华府", 0.04),
    ("城", 0.04),
    ("府", 0.03),
    ("大院", 0.04),
)
_POI_KINDS = (
    ("公园", 0.12),
    ("中学", 0.08),
    ("小学", 0.10),
    ("幼儿园", 0.07),
    ("医院", 0.06),
    ("菜市场", 0.10),
    ("超市", 0.10),
    ("地铁站", 0.12),
    ("公交站", 0.10),
    ("广场", 0.08),
    ("商场", 0.04),
    ("体育馆", 0.03),
)
_POI_PREFIXES = _words(
    "第一 第二 第三 第四 第五 实验 育英 育才 明德 启明 市 区 中心 人民 儿童 妇幼 中医 "
    "联华 华联 物美 永辉 家乐 世纪联华 大润发 新天地 万达 银泰 文化 市民 体育 滨江 湖滨 "
)
_VILLAGE_SURNAMES = _words(
    "李 王 张 刘 陈 杨 赵 黄 周 吴 徐 孙 胡 朱 高 林 何 郭 马 罗 梁 宋 郑 谢 韩 唐 "
)
_VILLAGE_FORMS = (
    "{s}家村",
    "{s}庄",
    "{s}家庄",
    "{s}家屯",
    "{s}家寨",
    "{s}村",
    "{s}湾村",
    "{s}岗村",
)
_DISTRICTS = ("江北区", "江南区", "滨河区")
_STREET_ROOTS = _words(
    "望江 临江 朝阳 东湖 西湖 南湖 北湖 长安 永安 新华 光明 和平 解放 人民 文化 青年 "
    "城关 城南 城北 城东 城西 高新 经开 湖滨 "
)
_COMMUNITY_SUFFIX = "社区"
_CITY = "临江市"

# -- problems -------------------------------------------------------------------------------------

# Each problem: category (without "report."), sub-type and the kinds of spot it happens at,
# then the ways residents say it. A planted cluster is one sub-type at one spot.
_CATALOG = """
streetlight out road,crossing,estate
    路灯不亮 | 路灯坏了晚上一片黑 | 路灯晚上不亮了 | 一排路灯都不亮 | 路灯全灭了走路看不见
    晚上没有路灯太黑了 | 路灯坏掉了黑漆漆的
streetlight flicker road,crossing,estate
    路灯一闪一闪的 | 路灯忽明忽暗 | 路灯老是闪 | 灯一直在闪晃眼睛 | 路灯闪个不停
streetlight daytime road,crossing
    路灯白天也亮着 | 大白天路灯一直开着浪费电 | 路灯白天不关 | 白天路灯还亮着
streetlight pole road,crossing
    路灯杆歪了快倒了 | 灯杆倾斜有危险 | 路灯杆被车撞歪了 | 路灯杆底座松动摇晃
streetlight wire road,estate
    路灯电线裸露在外面 | 灯杆下面电线外露很危险 | 路灯检修口盖子没了电线露出来
manhole missing crossing,road,estate
    井盖丢了 | 井盖不见了 | 窨井盖没了 | 下水井盖被偷了 | 井盖缺失路人容易掉下去
    井盖没有了只剩个洞
manhole broken crossing,road,estate
    井盖破了 | 井盖碎了一块 | 井盖裂开了 | 井盖破损了
manhole noise crossing,road
    井盖松动车压过去哐当响 | 井盖有异响 | 车开过井盖咣咣响晚上睡不着 | 井盖晃动一直响
manhole sunken crossing,road
    井盖下沉比路面低一截 | 井盖周围路面塌陷 | 井盖凹下去了车经过颠得厉害
garbage overflow estate,road,village,poi
    垃圾桶满了没人清 | 垃圾堆成山没人清运 | 垃圾好几天没人收 | 垃圾清运不及时堆满了
    垃圾满地没人清理
garbage dumping estate,road,village
    有人乱倒建筑垃圾 | 装修垃圾乱堆乱放 | 建筑垃圾堆在路边 | 半夜有人偷倒渣土
garbage smell estate,poi,village
    垃圾站臭气熏天 | 垃圾房味道太大 | 垃圾站附近臭得不行招苍蝇
garbage bins estate,road
    垃圾桶坏了 | 垃圾桶被撞翻了没人管 | 分类垃圾桶缺了盖子 | 垃圾箱破了
corridor_clutter stuff estate
    楼道里堆满杂物 | 楼梯间堆了很多纸箱 | 有人在楼道里堆旧家具 | 楼道被杂物堵住了
corridor_clutter fire_exit estate
    消防通道被堵 | 安全出口堆满东西 | 消防通道堆了杂物 | 消防楼梯被杂物占了
ebike_charging flying_wire estate
    有人从楼上拉电线给电动车充电 | 飞线充电很危险 | 电线从窗户垂下来给电瓶车充电
    私拉电线给电动车充电
ebike_charging corridor estate
    电动车推进楼道充电 | 电瓶车停在楼道里充电 | 楼道里有人给电动车充电
ebike_charging lift estate
    电动车推进电梯 | 有人骑电动车进电梯上楼 | 电瓶车坐电梯上楼
illegal_construction rooftop estate
    楼顶私搭乱建 | 顶楼住户在楼顶加盖房子 | 楼顶违建阳光房 | 有人在楼顶搭棚子
illegal_construction yard estate
    一楼住户私圈院子 | 一楼扩建占用绿地 | 一楼住户把绿化带围起来盖房
illegal_construction shed road,village
    商铺违规搭建雨棚 | 店铺门前私搭棚子占道 | 门面房私自搭雨棚
noise dance estate,poi
    广场舞音响太吵 | 跳广场舞声音太大 | 每天晚上广场舞音乐震耳朵 | 广场舞扰民
    广场舞音箱开得特别响
noise renovation estate
    装修噪音太大 | 周末一大早就装修电钻声 | 中午装修吵得没法休息 | 晚上还在装修砸墙
noise construction road,crossing,poi
    工地夜间施工噪音 | 半夜工地还在打桩 | 晚上施工机器轰鸣 | 工地施工超时扰民
noise shop road,poi
    商铺喇叭循环播放太吵 | 店门口大喇叭叫卖 | 商店音响天天循环喊
noise fan estate
    空调外机噪音大 | 空调外机整夜轰轰响 | 楼上空调外机嗡嗡响吵得睡不着
water_supply outage estate,village
    停水了 | 突然停水没有通知 | 家里一滴水都没有 | 全楼停水 | 停水一整天了
water_supply pressure estate
    水压太低 | 水压小楼上没水 | 高层水压不够洗澡都难 | 水流很小
water_supply quality estate,village
    自来水发黄 | 水龙头出来的水是黄的 | 自来水浑浊发黄有沉淀
water_supply burst road,crossing,estate
    水管爆了 | 自来水管破裂往外冒水 | 地下水管漏水马路都湿了 | 供水管道爆裂
road_damage pothole road,crossing
    路面有个大坑 | 路上坑坑洼洼 | 马路上有坑车容易颠 | 路面坑洼不平
road_damage crack road,crossing
    路面开裂 | 马路裂了好几道缝 | 路面裂缝越来越大
road_damage sidewalk road,poi
    人行道砖松动 | 人行道地砖翘起来了 | 人行道破损容易绊倒 | 人行道砖块缺失
road_damage collapse road,crossing
    路面塌陷 | 马路突然塌了一块 | 路面下沉出现大坑
drainage blocked estate,road,village
    下水道堵了 | 下水道堵塞污水流不走 | 下水管道堵塞 | 排水管堵了
drainage flooding crossing,road,estate,village
    下雨积水严重 | 一下雨路上就积水 | 雨水排不出去积水到膝盖 | 积水太深车都过不去
    暴雨后积水一直不退
drainage overflow estate,road
    污水从井里冒出来 | 污水外溢臭气熏天 | 化粪池满了往外冒 | 下水道返水
drainage grate road,crossing
    雨水篦子堵了 | 雨水口被垃圾堵住 | 排水沟被树叶堵了
parking fire_lane estate
    车停在消防通道上 | 消防通道被私家车占了 | 有车长期占用消防通道
parking sidewalk road,poi,crossing
    人行道上停满了车 | 车停在人行道上行人只能走马路 | 路边乱停车堵路
parking zombie estate,road
    有辆僵尸车停了很久没人管 | 废弃车辆长期占用车位 | 一辆旧车停了半年没动过
parking gate estate,poi
    有车堵住小区大门 | 车辆堵住出入口 | 车堵在门口出不去
property_dispute service estate
    物业不作为 | 物业什么都不管 | 物业服务太差 | 物业收费不干活
property_dispute fees estate
    物业乱收费 | 物业费涨价没有公示 | 停车费乱涨价
property_dispute cleaning estate
    物业不打扫卫生 | 小区卫生没人管 | 楼道好久没人打扫
neighbor_dispute leak estate
    楼上漏水到我家 | 楼上渗水天花板发霉 | 楼上卫生间漏水
neighbor_dispute dog estate
    邻居养狗乱叫 | 邻居的狗不拴绳 | 狗在楼道大小便
neighbor_dispute space estate
    邻居占用公共楼道 | 邻居把鞋柜放在公共过道 | 邻居在楼道里堆东西占地方
elevator broken estate
    电梯坏了 | 电梯停运好几天 | 电梯不动了 | 电梯故障没人修
elevator trapped estate
    电梯困人 | 电梯突然停住把人关在里面 | 电梯经常困人
elevator shaky estate
    电梯运行有异响 | 电梯晃得厉害 | 电梯下坠感很强
elevator door estate
    电梯门关不上 | 电梯门夹人 | 电梯门开关异常
pollution fumes estate,road
    饭店油烟太大 | 楼下餐馆油烟直排 | 烧烤油烟熏得开不了窗
pollution smell road,village
    有刺鼻的气味 | 工厂排放异味 | 附近有股化学品味道
pollution river village,road,poi
    河道发黑发臭 | 河水又黑又臭 | 河道臭味很大
pollution burning village,road
    有人焚烧垃圾 | 有人露天烧垃圾浓烟滚滚 | 烧垃圾的烟很呛
group_rental partitioned estate
    有人把房子隔成很多间出租 | 群租房住了十几个人 | 房东违规隔断出租
group_rental short estate
    有人做日租房人员进出复杂 | 短租房每天换人
elderly_care alone estate
    独居老人好几天没出门 | 隔壁独居老人没人照顾 | 楼上老人一个人住身体不好
accessibility tactile road,poi
    盲道被占用 | 盲道上停满了自行车 | 盲道砖坏了
accessibility ramp poi,estate
    无障碍坡道被堵 | 没有无障碍通道轮椅进不去 | 无障碍坡道破损
greenery fallen road,estate,poi
    大树倒了 | 树被风刮倒压在路上 | 树木倒伏挡住了路
greenery branches estate
    树枝挡住窗户采光 | 树枝太长伸到阳台 | 树枝太茂盛挡住窗户
greenery damaged estate,road
    绿化带被破坏 | 绿化带被人踩坏了 | 有人把绿化带挖了种菜
greenery pests estate,road,poi
    树上有虫子掉下来 | 树上毛毛虫很多
other heating_cold estate
    暖气不热 | 暖气片是凉的 | 家里暖气温度太低 | 供暖不达标室温才十几度 | 暖气烧得不热
other heating_leak estate
    暖气管漏水 | 暖气阀门漏水 | 暖气管道滴水
other fitness estate,poi
    健身器材坏了 | 健身器材螺丝松了有危险
other bikes poi,road
    共享单车堆成堆 | 共享单车乱停挡路
"""


def _parse_catalog(text: str) -> dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]]:
    """``category sub-type kinds`` lines, each followed by indented ``phrase | phrase`` lines."""
    problems: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    category = subtype = ""
    kinds: tuple[str, ...] = ()
    phrases: list[str] = []
    for line in [*text.strip().splitlines(), "end - -"]:
        if line.startswith(" "):
            phrases += [p.strip() for p in line.split("|")]
            continue
        if phrases:
            problems.setdefault("report." + category, {})[subtype] = (tuple(phrases), kinds)
        category, subtype, kind_list = line.split()
        kinds, phrases = tuple(kind_list.split(",")), []
    return problems


_PROBLEMS = _parse_catalog(_CATALOG)

# Share of tickets by category (roughly what 12345 centres publish for urban districts).
_CATEGORY_WEIGHTS: dict[str, float] = {
    "report.garbage": 9,
    "report.noise": 10,
    "report.parking": 8,
    "report.road_damage": 6,
    "report.drainage": 6,
    "report.streetlight": 6,
    "report.water_supply": 6,
    "report.property_dispute": 8,
    "report.neighbor_dispute": 4,
    "report.corridor_clutter": 4,
    "report.ebike_charging": 3,
    "report.illegal_construction": 4,
    "report.manhole": 3,
    "report.elevator": 4,
    "report.pollution": 5,
    "report.group_rental": 2,
    "report.elderly_care": 1,
    "report.accessibility": 1,
    "report.greenery": 4,
    "report.other": 6,
}
_BUILDING_LEVEL = {
    "report.elevator",
    "report.corridor_clutter",
    "report.ebike_charging",
    "report.neighbor_dispute",
    "report.group_rental",
    "report.elderly_care",
}
_HEATING = {"heating_cold", "heating_leak"}

_OPENINGS = ("", "", "", "你好，", "您好，", "反映一下，", "我要投诉，", "麻烦问一下，", "喂，")
_DURATIONS = (
    "",
    "",
    "",
    "好几天了",
    "三天了",
    "一个多星期了",
    "快一个月了",
    "从昨天开始",
    "今天早上发现",
    "两天了",
    "很久了",
)
_IMPACTS = (
    "",
    "",
    "",
    "",
    "老人小孩经过很危险",
    "晚上走路看不清",
    "影响大家出行",
    "已经有人摔倒了",
    "大家都很有意见",
    "严重影响休息",
    "住户反映很多次了",
    "太不安全了",
)
_REQUESTS = (
    "",
    "",
    "请尽快处理",
    "麻烦派人来看看",
    "希望有关部门管一管",
    "谢谢",
    "请相关部门尽快解决",
    "赶紧修一下吧",
    "快来处理",
)
_REPEAT = ("上次反映过了还没解决，", "又来反映，", "之前打过电话没人管，", "第二次反映了，")
_RELATIONAL = ("", "", "东侧", "西侧", "南侧", "北侧", "附近", "旁边", "东北角", "西南角")
_GATES = ("东门", "西门", "南门", "北门", "大门口", "门口", "正门")
_VAGUE = ("小区门口", "我家楼下", "路口", "家门口", "楼下")


# -- the city -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Street:
    name: str
    district: str
    lat: float
    lon: float
    communities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Road:
    name: str
    lat: float
    lon: float
    bearing: float  # radians
    street: int


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a problem is: an estate (with a building for building-level problems), a
    crossing, a road near a house number, a landmark or a village."""

    kind: str
    name: str  # estate / landmark / village name; crossing "A|B"; road name
    street: int
    community: str
    lat: float
    lon: float
    number: int = 0
    building: int = 0

    def truth_keys(self) -> list[tuple[str, str, int, int]]:
        """Keys under which the same problem must not be planted twice at once: a road
        spot also blocks the neighbouring stretches (150 house numbers each side)."""
        if self.kind != "road":
            return [(self.kind, self.name, 0, self.building)]
        stretch = self.number // 150
        return [(self.kind, self.name, s, 0) for s in (stretch - 1, stretch, stretch + 1)]


@dataclass(slots=True)
class City:
    """The places of the synthetic city."""

    streets: list[Street]
    roads: list[Road]
    estates: list[Spot]
    crossings: list[Spot]
    pois: list[Spot]
    villages: list[Spot]

    def spots(self, kind: str) -> list[Spot]:
        return {
            "estate": self.estates,
            "crossing": self.crossings,
            "poi": self.pois,
            "village": self.villages,
        }[kind]


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([w for w, _ in weighted], weights=[p for _, p in weighted])[0]


def _offset(lat: float, lon: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    return (
        lat + dy_m / _M_PER_DEG,
        lon + dx_m / (_M_PER_DEG * math.cos(math.radians(lat))),
    )


def generate_city(rng: random.Random) -> City:
    """Districts of streets of communities, with named places near each street's centre."""
    streets: list[Street] = []
    street_roots = list(_STREET_ROOTS)
    rng.shuffle(street_roots)
    for d, district in enumerate(_DISTRICTS):
        for s in range(8):
            root = street_roots[d * 8 + s]
            lat, lon = _offset(30.25, 120.15, (d - 1) * 9000 + rng.gauss(0, 3000), (s - 4) * 2500)
            communities = tuple(
                f"{root}{name}{_COMMUNITY_SUFFIX}"
                for name in rng.sample("一二三四五六七八九十东西南北中新", rng.randint(6, 10))
            )
            streets.append(Street(f"{root}街道", district, lat, lon, communities))

    def near(street: int, spread: float = 1200.0) -> tuple[float, float]:
        st = streets[street]
        return _offset(st.lat, st.lon, rng.gauss(0, spread), rng.gauss(0, spread))

    def community(street: int) -> str:
        return rng.choice(streets[street].communities)

    road_names: list[str] = []
    used: set[str] = set()
    roots = list(_ROAD_ROOTS)
    while len(road_names) < 170:
        root = rng.choice(roots)
        if rng.random() < 0.12:
            root += rng.choice(_DIRECTIONS)
        name = root + _pick(rng, _ROAD_SUFFIXES)
        if name not in used and not any(name.startswith(u) or u.startswith(name) for u in used):
            used.add(name)
            road_names.append(name)
    roads = []
    for name in road_names:
        street = rng.randrange(len(streets))
        lat, lon = near(street, 1500)
        roads.append(Road(name, lat, lon, rng.uniform(0, math.pi), street))

    crossings: list[Spot] = []
    seen_pairs: set[frozenset[str]] = set()
    while len(crossings) < 360:
        a = rng.randrange(len(roads))
        # Roads of the same or a neighbouring street cross.
        candidates = [
            i for i, r in enumerate(roads) if abs(r.street - roads[a].street) <= 1 and i != a
        ]
        if not candidates:
            continue
        b = rng.choice(candidates)
        pair = frozenset((roads[a].name, roads[b].name))
        if pair in seen_pairs:
            continue
        seen_pairs.add(pair)
        street = roads[a].street
        lat, lon = near(street)
        crossings.append(
            Spot(
                "crossing", f"{roads[a].name}|{roads[b].name}", street, community(street), lat, lon
            )
        )

    estates: list[Spot] = []
    names: set[str] = set()
    while len(estates) < 720:
        name = rng.choice(_ESTATE_ROOTS) + _pick(rng, _ESTATE_SUFFIXES)
        if name in names:
            continue
        names.add(name)
        street = rng.randrange(len(streets))
        lat, lon = near(street)
        estates.append(Spot("estate", name, street, community(street), lat, lon))

    pois: list[Spot] = []
    names = set()
    while len(pois) < 220:
        kind = _pick(rng, _POI_KINDS)
        street = rng.randrange(len(streets))
        if kind in ("地铁站", "公交站"):
            base = rng.choice(road_names + [e.name for e in estates[:100]])
            base = (
                base.removesuffix("大道").removesuffix("大街").removesuffix("路").removesuffix("街")
            )
            name = base + kind
        else:
            name = rng.choice(_POI_PREFIXES) + kind
            if name in names:
                name = rng.choice(_ROAD_ROOTS) + kind
        if name in names:
            continue
        names.add(name)
        lat, lon = near(street)
        pois.append(Spot("poi", name, street, community(street), lat, lon))

    villages: list[Spot] = []
    names = set()
    outskirts = [i for i, s in enumerate(streets) if s.district == "滨河区"]
    while len(villages) < 60:
        name = rng.choice(_VILLAGE_FORMS).format(s=rng.choice(_VILLAGE_SURNAMES))
        if name in names:
            continue
        names.add(name)
        street = rng.choice(outskirts)
        lat, lon = near(street, 2500)
        villages.append(Spot("village", name, street, community(street), lat, lon))
    return City(streets, roads, estates, crossings, pois, villages)


def _road_spot(rng: random.Random, city: City) -> Spot:
    road = rng.choice(city.roads)
    number = rng.randint(1, 400)
    lat, lon = _offset(
        road.lat, road.lon, math.cos(road.bearing) * number * 8, math.sin(road.bearing) * number * 8
    )
    street = road.street
    return Spot(
        "road", road.name, street, rng.choice(city.streets[street].communities), lat, lon, number
    )


def _spot(rng: random.Random, city: City, kind: str, building_level: bool) -> Spot:
    if kind == "road":
        return _road_spot(rng, city)
    base = rng.choice(city.spots(kind))
    if building_level and kind == "estate":
        return Spot(
            base.kind,
            base.name,
            base.street,
            base.community,
            base.lat,
            base.lon,
            building=rng.randint(1, 24),
        )
    return base


# -- writing a place and a problem ----------------------------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _prefix(rng: random.Random, city: City, spot: Spot) -> str:
    street = city.streets[spot.street]
    r = rng.random()
    if r < 0.08:
        return _CITY + street.district + street.name
    if r < 0.16:
        return street.district
    if r < 0.22:
        return street.name
    if r < 0.26:
        return spot.community
    return ""


def write_location(rng: random.Random, city: City, spot: Spot) -> str:
    """The spot as one resident writes it."""
    prefix = _prefix(rng, city, spot)
    rel = rng.choice(_RELATIONAL)
    if spot.kind == "crossing":
        a, b = spot.name.split("|")
        if rng.random() < 0.5:
            a, b = b, a
        form = rng.randrange(8)
        text = (
            f"{a}与{b}路口{rel}",
            f"{a}{b}口{rel}" if b.endswith(("路", "街")) else f"{a}{b}路口{rel}",
            f"{a}{b}交叉口{rel}",
            f"{a}和{b}交汇处",
            f"{a}/{b}十字路口",
            f"{a}、{b}路口",
            f"{a}靠近{b}路口",
            f"{a}跟{b}交叉的地方",
        )[form]
        return prefix + text
    if spot.kind == "road":
        if rng.random() < 0.35:
            return prefix + spot.name + rng.choice(("", "上", "边上", "中段", "这一段"))
        number = max(1, spot.number + rng.randint(-6, 6))
        return (
            prefix
            + f"{spot.name}{number}号"
            + rng.choice(("", "门口", "附近", "对面", "旁边", "前面"))
        )
    if spot.kind == "estate":
        name = spot.name
        if not name.endswith("小区") and rng.random() < 0.3:
            name += "小区"
        building = spot.building or rng.randint(1, 24)
        form = rng.random()
        show_building = spot.building and rng.random() < 0.75
        if show_building:
            building_text = rng.choice(
                (
                    f"{building}号楼",
                    f"{building}栋",
                    f"{building}幢",
                    f"{building}号楼{rng.randint(1, 4)}单元",
                )
            )
            return prefix + name + building_text + rng.choice(("", "楼下", "门口", "楼道"))
        if form < 0.35:
            return prefix + name
        if form < 0.65:
            return prefix + name + rng.choice(_GATES)
        if form < 0.85:
            return (
                prefix
                + name
                + rng.choice((f"{building}号楼", f"{building}栋"))
                + rng.choice(("", "楼下", "旁边"))
            )
        road = rng.choice(city.roads).name if rng.random() < 0.5 else ""
        return (
            prefix
            + (f"{road}{rng.randint(1, 300)}号" if road else "")
            + name
            + rng.choice(("", "里面", "院内"))
        )
    if spot.kind == "poi":
        name = spot.name
        if name.endswith("地铁站") and rng.random() < 0.3:
            name = "地铁" + name.removesuffix("地铁站") + "站"
        return (
            prefix
            + name
            + rng.choice(("", "", "门口", "东门", "对面", "旁边", "a口", "附近", "里面"))
        )
    # village
    return (
        prefix
        + spot.name
        + rng.choice(("", "", "村委会旁边", f"{rng.randint(1, 9)}组", "村口", "里"))
    )


def write_description(
    rng: random.Random, phrases: Sequence[str], location: str, repeat: bool
) -> str:
    parts: list[str] = []
    opening = rng.choice(_OPENINGS)
    core = rng.choice(phrases)
    if rng.random() < 0.3:
        core = location + ("的" if rng.random() < 0.6 else "") + core
    duration = rng.choice(_DURATIONS)
    impact = rng.choice(_IMPACTS)
    request = rng.choice(_REQUESTS)
    if repeat:
        parts.append(rng.choice(_REPEAT))
    parts.append(opening)
    if duration and rng.random() < 0.5:
        parts.append(core + "，" + duration)
    elif duration:
        parts.append(duration + core)
    else:
        parts.append(core)
    for extra in (impact, request):
        if extra:
            parts.append("，" + extra)
    text = "".join(parts).strip("，") + rng.choice(("", "。", "！", "!!"))
    return text


# -- the year -------------------------------------------------------------------------------------


def _season(
    category: str, subtype: str, day: date, storms: set[date], typhoons: set[date]
) -> float:
    m = day.month
    if subtype in _HEATING:
        if m in (12, 1, 2) or (m == 11 and day.day >= 15) or (m == 3 and day.day <= 15):
            return 4.0 if (m == 11 or (m == 12 and day.day < 10)) else 2.0
        return 0.0
    if category == "report.drainage":
        if day in storms:
            return 12.0
        return 2.5 if m in (6, 7, 8) else (1.2 if m in (5, 9) else 0.6)
    if category == "report.greenery" and subtype == "fallen":
        return 15.0 if day in typhoons else 0.5
    if category == "report.noise" and subtype == "dance":
        return 2.0 if 4 <= m <= 10 else 0.4
    if category == "report.noise" and subtype == "renovation":
        return 1.5 if m in (3, 4, 5, 9, 10) else 0.8
    if category == "report.water_supply" and subtype == "burst":
        return 2.0 if m in (1, 2, 12) else 0.8
    if category == "report.streetlight":
        return 1.3 if m in (11, 12, 1, 2) else 0.9
    return 1.0


_WEEKDAY = (1.15, 1.10, 1.05, 1.0, 0.95, 0.82, 0.88)
_HOURS = [
    0.2,
    0.1,
    0.1,
    0.1,
    0.1,
    0.3,
    0.8,
    1.6,
    2.6,
    3.0,
    2.8,
    2.4,
    1.8,
    2.0,
    2.3,
    2.2,
    2.0,
    1.9,
    2.1,
    2.6,
    2.8,
    2.4,
    1.4,
    0.6,
]


def _moment(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), weights=_HOURS)[0]
    return datetime(
        day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=CST
    )


@dataclass(slots=True)
class _Plan:
    category: str
    subtype: str
    spot: Spot
    times: list[datetime]


@dataclass(slots=True)
class Year:
    """The generated tickets with the truth: ``truth[ticket id]`` is the planted cluster
    (``c…``) or the ticket's own id for noise."""

    city: City
    facts: list[TicketFact]
    truth: dict[str, str]
    planted: int
    storms: list[date] = field(default_factory=list)
    typhoons: list[date] = field(default_factory=list)


class _Handling:
    """How each department signs, resolves and is rated (its habits are drawn once)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taxonomy = load_taxonomy()
        self.sla = load_sla_rules()
        self.habits: dict[str, tuple[float, float, float]] = {}

    def department(self, category: str) -> str:
        return self.taxonomy.department(category) or "街道网格化指挥中心"

    def fields(self, category: str, created: datetime, end: datetime) -> dict[str, object]:
        rng = self.rng
        dept = self.department(category)
        if dept not in self.habits:
            # late signing share, late/unfinished share, unsatisfied share
            self.habits[dept] = (
                rng.uniform(0.02, 0.2),
                rng.uniform(0.05, 0.3),
                rng.uniform(0.05, 0.35),
            )
        late_sign, late_finish, unhappy = self.habits[dept]
        hours = self.sla.hours(category, self.taxonomy.is_urgent(category))
        due = created + timedelta(hours=hours)
        signed = created + timedelta(
            hours=rng.uniform(0.2, 20) if rng.random() > late_sign else rng.uniform(24, 72)
        )
        if signed > end:
            signed = None
        finished = created + timedelta(
            hours=rng.uniform(2, hours)
            if rng.random() > late_finish
            else hours * rng.uniform(1.1, 3)
        )
        status, rating, reopened, resolved_at = "in_progress", None, 0, None
        if signed is None:
            status = "received"
        elif finished <= end:
            resolved_at = finished
            status = "resolved"
            if rng.random() < 0.7:
                r = rng.random()
                if r < unhappy:
                    rating = "unsatisfied"
                    reopened = 1
                    status = "reopened"
                    refinished = finished + timedelta(hours=rng.uniform(12, 96))
                    if refinished <= end and rng.random() < 0.8:
                        status, resolved_at = "resolved", refinished
                elif r < unhappy + 0.25:
                    rating, status = "basically_satisfied", "closed"
                else:
                    rating, status = "satisfied", "closed"
        elif rng.random() < 0.01:
            status = "rejected"
        return {
            "department": dept,
            "signed_at": signed,
            "due_at": due,
            "resolved_at": resolved_at,
            "status": status,
            "reopened": reopened,
            "rating": rating,
        }


def _maybe_variant(rng: random.Random, text: str, s2t: object | None) -> str:
    r = rng.random()
    if r < 0.05 and s2t is not None:
        return str(s2t.convert(text))  # type: ignore[attr-defined]
    if r < 0.10:
        return text.translate(_FULL_WIDTH)
    return text


def generate_year(
    seed: int = 2026,
    tickets: int = 100_000,
    clustered_share: float = 0.35,
    year: int = 2026,
) -> Year:
    """A year of ``tickets`` tickets (about ``clustered_share`` of them in planted
    clusters) in a city built from ``seed``."""
    rng = random.Random(seed)
    city = generate_city(rng)
    try:
        import opencc

        s2t: object | None = opencc.OpenCC("s2t")
    except ImportError:  # pragma: no cover - opencc is a project dependency
        s2t = None
    start = date(year, 1, 1)
    days = [start + timedelta(days=i) for i in range((date(year + 1, 1, 1) - start).days)]
    end = datetime(year + 1, 1, 1, tzinfo=CST)
    summer = [d for d in days if d.month in (6, 7, 8)]
    storms = set(rng.sample(summer, 7))
    typhoons = set(rng.sample([d for d in days if d.month in (7, 8, 9)], 3))

    categories = list(_CATEGORY_WEIGHTS)
    cat_weights = [_CATEGORY_WEIGHTS[c] for c in categories]
    sizes = list(range(3, 41))
    size_weights = [s**-1.7 for s in sizes]

    # Planted clusters, until their tickets reach the share.
    plans: list[_Plan] = []
    # (truth key of the spot, category, subtype) → planted time ranges, to keep noise away
    busy: dict[tuple[object, ...], list[tuple[datetime, datetime]]] = {}
    target = int(tickets * clustered_share)
    planted = 0
    while planted < target:
        category = rng.choices(categories, weights=cat_weights)[0]
        subtypes = list(_PROBLEMS[category])
        subtype = rng.choice(subtypes)
        kinds = _PROBLEMS[category][subtype][1]
        season = [
            _season(category, subtype, d, storms, typhoons) * _WEEKDAY[d.weekday()] for d in days
        ]
        if not any(season):
            continue
        day = rng.choices(days, weights=season)[0]
        size = min(rng.choices(sizes, weights=size_weights)[0], target - planted + 3)
        if day in storms and category == "report.drainage":
            size = max(size, rng.randint(4, 12))
        spot = _spot(rng, city, rng.choice(kinds), category in _BUILDING_LEVEL)
        keys = [(k, category, subtype) for k in spot.truth_keys()]
        first = _moment(rng, day)
        mean_gap = rng.uniform(0.2, 2.5)
        times = [first]
        for _ in range(size - 1):
            gap = min(rng.expovariate(1 / mean_gap), 10.0)
            times.append(times[-1] + timedelta(days=gap, minutes=rng.randint(1, 600)))
        times = [t for t in times if t < end]
        if len(times) < 3:
            continue
        window = (times[0] - timedelta(days=35), times[-1] + timedelta(days=35))
        if any(a <= window[1] and window[0] <= b for k in keys for a, b in busy.get(k, [])):
            continue  # the same problem at the same spot again: keep episodes apart
        busy.setdefault(keys[len(keys) // 2], []).append((times[0], times[-1]))
        plans.append(_Plan(category, subtype, spot, times))
        planted += len(times)

    handling = _Handling(rng)
    residents = [f"o{rng.getrandbits(48):012x}" for _ in range(70_000)]
    facts: list[TicketFact] = []
    truth: dict[str, str] = {}

    def make(
        cid: str, category: str, subtype: str, spot: Spot, at: datetime, resident: str, repeat: bool
    ) -> None:
        phrases = _PROBLEMS[category][subtype][0]
        vague = rng.random() < 0.04
        location = rng.choice(_VAGUE) if vague else write_location(rng, city, spot)
        description = write_description(rng, phrases, location, repeat)
        point = None
        if not vague and rng.random() < 0.25:
            point = _offset(spot.lat, spot.lon, rng.gauss(0, 30), rng.gauss(0, 30))
        tid = f"t{len(facts):06d}"
        street = city.streets[spot.street]
        facts.append(
            TicketFact(
                id=tid,
                openid=resident,
                category=category,
                street=street.name,
                community=spot.community,
                location=_maybe_variant(rng, location, s2t),
                description=_maybe_variant(rng, description, s2t),
                latitude=point[0] if point else None,
                longitude=point[1] if point else None,
                created_at=at,
                **handling.fields(category, at, end),  # type: ignore[arg-type]
            )
        )
        truth[tid] = cid

    for n, plan in enumerate(plans):
        cid = f"c{n:05d}"
        reporters: list[str] = []
        for at in plan.times:
            repeat = bool(reporters) and rng.random() < 0.12
            resident = rng.choice(reporters) if repeat else rng.choice(residents)
            reporters.append(resident)
            make(cid, plan.category, plan.subtype, plan.spot, at, resident, repeat)

    day_weights = [_WEEKDAY[d.weekday()] for d in days]
    while len(facts) < tickets:
        category = rng.choices(categories, weights=cat_weights)[0]
        subtype = rng.choice(list(_PROBLEMS[category]))
        kinds = _PROBLEMS[category][subtype][1]
        weights = [
            w * _season(category, subtype, d, storms, typhoons)
            for w, d in zip(day_weights, days, strict=True)
        ]
        if not any(weights):
            continue
        day = rng.choices(days, weights=weights)[0]
        at = _moment(rng, day)
        spot = _spot(rng, city, rng.choice(kinds), category in _BUILDING_LEVEL)
        keys = [(k, category, subtype) for k in spot.truth_keys()]
        margin = timedelta(days=30)
        if any(a - margin <= at <= b + margin for k in keys for a, b in busy.get(k, [])):
            continue  # that would be a planted problem again, i.e. part of its cluster
        busy.setdefault(keys[len(keys) // 2], []).append((at, at))
        tid = f"t{len(facts):06d}"
        make(tid, category, subtype, spot, at, rng.choice(residents), False)

    order = sorted(range(len(facts)), key=lambda i: (facts[i].created_at, facts[i].id))
    facts = [facts[i] for i in order]
    return Year(city, facts, truth, len(plans), sorted(storms), sorted(typhoons))
