"""Generate hotline's bundled sample data. EVERYTHING IT WRITES IS SYNTHETIC.

The city (澜江市), its districts, streets, compounds and roads come from the invented
``data/gazetteer.json``; every complaint text, caller id, phone number, ID number, licence
plate, e-mail address and bank card number below is made up from templates and a seeded random
generator. No row or sentence is taken from any real complaint log.

Outputs (see ``data/README.md`` for what each file is for):

- ``samples/complaints.csv``: about 500 complaints, UTF-8, English canonical headers
- ``samples/complaints.jsonl``: the same rows as JSON lines
- ``samples/complaints_gbk.csv``: a 150-row subset as a government system exports it (GBK,
  Chinese headers, ``2026/5/3 14:05`` times, CRLF line ends)
- ``samples/complaints_malformed.csv``: ~20 rows with the faults real exports have
- ``samples/new_labels.csv`` and ``samples/label_mapping.csv``: a retraining example
- ``samples/manifest.json``: the planted surge, incident clusters, urgent rows and PII items
- ``userdict.txt``: the jieba user dictionary (city-management terms + gazetteer names)

Usage::

    python data/make_samples.py [--out DIR] [--userdict PATH] [--seed N]

The output depends only on the seed (default 12345): running the script twice gives
byte-identical files. ``tests/test_samples.py`` checks that the committed files are current.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent
GAZETTEER_PATH = DATA_DIR / "gazetteer.json"
DEFAULT_SEED = 12345

START = dt.date(2026, 5, 1)
END = dt.date(2026, 8, 31)
# The log is exported at this moment: cases not replied to by then are still 办理中.
EXPORT_TIME = dt.datetime(2026, 9, 1, 0, 0)

COLUMNS = (
    "id", "time", "caller", "title", "text", "district", "street",
    "label", "urgency", "reply_time", "status", "likes",
)  # fmt: skip
GBK_HEADERS = (
    "工单编号", "来电时间", "来电人", "留言主题", "诉求内容", "所属区县", "所属街道",
    "一级分类", "紧急程度", "办结时间", "办理状态", "点赞数",
)  # fmt: skip
GBK_ROWS = 150

URGENT, PRESSING, NORMAL = "紧急", "较急", "一般"
DONE, OPEN = "已办结", "办理中"

# Categories of the sample log (README lists what each covers).
LABELS = (
    "市容环卫", "物业管理", "道路交通", "噪音扰民", "供水供电燃气",
    "占道经营", "违章建筑", "环境污染", "园林绿化",
)  # fmt: skip
# Rows per category drawn from the ordinary background; the surge, the incident clusters and
# the urgent cases come on top (see _special_rows). Uneven on purpose, every class >= 25.
BACKGROUND_QUOTA = {
    "市容环卫": 70, "物业管理": 62, "道路交通": 55, "噪音扰民": 48, "供水供电燃气": 45,
    "占道经营": 42, "违章建筑": 38, "环境污染": 36, "园林绿化": 34,
}  # fmt: skip
# Relative call volume per district (the county is rural and calls less).
DISTRICT_WEIGHTS = {"江北区": 1.2, "城南区": 1.4, "云湖区": 1.1, "临港区": 0.8, "青山区": 0.9, "澜溪县": 0.5}

# The retraining example: a renamed category and a category the original log lacks.
RENAMED_LABEL = ("园林绿化", "绿化养护")
NEW_LABEL = "新能源充电"


# ---------------------------------------------------------------------------------------------
# Places
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a complaint is about: a compound, a road or a landmark of the gazetteer.

    ``spot`` is the place as a caller names it (``新民里小区3栋``, ``人民南路与新民路交叉口``);
    ``name`` is the bare gazetteer name used in titles.
    """

    district: str
    street: str
    kind: str  # "community", "road" or "landmark"
    name: str
    spot: str

    @property
    def full(self) -> str:
        """Operator style: district + street + spot (``城南区新民街道新民里小区3栋``)."""
        return f"{self.district}{self.street}{self.spot}"


def load_gazetteer(path: Path = GAZETTEER_PATH) -> dict:
    """The gazetteer as parsed JSON (schema in data/README.md)."""
    return json.loads(path.read_text(encoding="utf-8"))


def gazetteer_names(gazetteer: dict) -> list[str]:
    """Every name of the gazetteer, aliases included, in file order."""
    out: list[str] = [gazetteer["city"], *gazetteer.get("city_aliases", [])]
    for d in gazetteer["districts"]:
        out += [d["name"], *d["aliases"]]
        for s in d["streets"]:
            out += [s["name"], *s["aliases"]]
            for c in s["communities"]:
                out += [c["name"], *c["aliases"]]
        for entry in (*d["roads"], *d["landmarks"]):
            out += [entry["name"], *entry["aliases"]]
    return out


class PlacePicker:
    """Draws random places from the gazetteer and phrases them the way callers do."""

    def __init__(self, gazetteer: dict, rng: random.Random) -> None:
        self.rng = rng
        self.districts = {d["name"]: d for d in gazetteer["districts"]}

    def district(self) -> str:
        """A district name, weighted by call volume."""
        names = list(self.districts)
        return self.rng.choices(names, weights=[DISTRICT_WEIGHTS.get(n, 1.0) for n in names])[0]

    def pick(self, where: Sequence[str]) -> Place:
        """A place of one of the kinds in ``where`` (``community``, ``road``, ``landmark`` or
        ``landmark:公园|市场`` for landmarks of those gazetteer kinds)."""
        rng = self.rng
        d = self.districts[self.district()]
        options: list[tuple[str, dict, str]] = []  # (kind, entry, street)
        for w in where:
            kind, _, sub = w.partition(":")
            if kind == "community":
                options += [("community", c, s["name"]) for s in d["streets"] for c in s["communities"]]
            elif kind == "road":
                options += [("road", r, "") for r in d["roads"]]
            elif kind == "landmark":
                wanted = sub.split("|") if sub else None
                options += [
                    ("landmark", lm, lm["street"])
                    for lm in d["landmarks"]
                    if wanted is None or lm["kind"] in wanted
                ]
        if not options:  # e.g. no market in this district: any landmark will do
            options = [("landmark", lm, lm["street"]) for lm in d["landmarks"]]
        kind, entry, street = rng.choice(options)
        street = street or rng.choice(entry["streets"])
        return Place(d["name"], street, kind, entry["name"], self._spot(kind, entry, d, street))

    def _spot(self, kind: str, entry: dict, district: dict, street: str) -> str:
        rng = self.rng
        name = entry["name"]
        if kind == "community":
            if entry["kind"] == "社区":
                return name + rng.choice(("", "", "辖区内", "附近"))
            building, unit = rng.randint(1, 18), rng.randint(1, 4)
            forms = (
                "",
                "",
                f"{building}栋",
                f"{building}栋{unit}单元",
                f"{building}号楼",
                f"{rng.choice('ABC')}区{building}栋",
                "东门",
                "北门附近",
                "南区",
            )
            return name + rng.choice(forms)
        if kind == "road":
            others = [r["name"] for r in district["roads"] if r["name"] != name]
            marks = [lm["name"] for lm in district["landmarks"] if lm["street"] == street]
            forms = ["", "", f"{rng.randint(1, 300)}号附近", "中段", f"与{rng.choice(others)}交叉口"]
            if marks:
                forms.append(f"{rng.choice(marks)}路段")
            return name + rng.choice(forms)
        return name + rng.choice(("门口", "附近", "东侧", "西门外", "周边", "对面", ""))


# ---------------------------------------------------------------------------------------------
# Phrase banks
# ---------------------------------------------------------------------------------------------
# Sentences carry no final punctuation; the composer joins them. Slots: {p} the place (first
# mention), {d} a duration, {t} a time of day, {n} a small number.


@dataclass(frozen=True)
class Issue:
    """One kind of problem that citizens report, with the words they use for it."""

    key: str
    label: str
    where: tuple[str, ...]  # place kinds, as PlacePicker.pick takes them
    short: tuple[str, ...]  # short names of the problem (titles, short texts)
    what: tuple[str, ...]  # core descriptions; the first sentence of a complaint
    details: tuple[str, ...]  # specifics a caller adds
    impacts: tuple[str, ...]  # why it matters
    times: tuple[str, ...] = ("早上七点多", "晚上十点以后", "中午", "傍晚")
    pressing: float = 0.0  # probability that an ordinary case is graded 较急


ISSUES: tuple[Issue, ...] = (
    # 市容环卫 ------------------------------------------------------------------------------
    Issue(
        "garbage_collection", "市容环卫", ("community",),
        ("垃圾清运不及时", "垃圾桶满溢无人清运", "生活垃圾堆积"),
        ("{p}的垃圾桶已经满了{d}，一直没有人来清运，垃圾堆到了路边",
         "{p}垃圾清运不及时，垃圾桶周围堆满了生活垃圾",
         "{p}垃圾收集点的垃圾{n}天没有清运，天气热臭气熏天",
         "{p}的垃圾分类亭垃圾溢出，保洁员很久才来收一次"),
        ("垃圾桶周边污水横流，苍蝇蚊子特别多", "晚上还有野猫野狗把垃圾袋扯得到处都是",
         "垃圾车每天{t}才来，收不干净就走了", "垃圾分类桶形同虚设，厨余垃圾和其他垃圾混在一起",
         "夏天气温高，垃圾发酵后的味道隔着窗户都能闻到"),
        ("严重影响居民生活环境", "容易滋生蚊蝇传播疾病", "影响小区环境卫生和市容市貌"),
    ),
    Issue(
        "dumping", "市容环卫", ("road",),
        ("建筑垃圾乱倒", "垃圾乱堆乱放", "偷倒装修垃圾"),
        ("{p}路边有人乱倒建筑垃圾，已经堆成了小山",
         "{p}的空地上堆满了装修垃圾和废旧家具，很长时间没人清理",
         "经常有人在夜里开车到{p}偷倒建筑垃圾"),
        ("垃圾堆里有碎砖、废木板和破沙发", "风一吹灰尘满天飞",
         "垃圾占了半条人行道，行人只能走机动车道", "有居民看到是一辆三轮车半夜过来倒的"),
        ("影响市容市貌", "存在安全隐患", "影响行人通行"),
    ),
    Issue(
        "public_toilet", "市容环卫", ("landmark:公园|市场|车站|商业街|景区",),
        ("公厕卫生差", "公共厕所脏乱", "公厕无人管理"),
        ("{p}的公共厕所卫生状况很差，地面全是污水，气味刺鼻",
         "{p}的公厕经常没有水冲洗，也没有保洁人员打扫",
         "{p}公厕的门锁坏了{d}，洗手池也堵了"),
        ("蹲位堵塞没人疏通", "里面的灯也不亮，晚上根本没法用", "门口贴着开放时间，但白天经常锁门"),
        ("来往游客和市民意见很大", "有损城市形象"),
    ),
    Issue(
        "muck_spill", "市容环卫", ("road",),
        ("渣土车撒漏", "渣土车沿路抛洒", "路面泥土污染"),
        ("{p}每天晚上都有渣土车经过，沿路撒漏泥土",
         "{p}路面被渣土车带出的泥浆弄得一片狼藉",
         "附近工地的渣土车车轮带泥上路，{p}全是黄泥"),
        ("晴天尘土飞扬，雨天满地泥浆", "渣土车没有盖篷布，车速还很快",
         "洒水车冲洗过后第二天又是一样", "工地出口没有设置洗车池"),
        ("骑电动车的居民已经有人滑倒", "影响道路交通安全和环境卫生"),
    ),
    Issue(
        "small_ads", "市容环卫", ("community",),
        ("小广告乱贴乱画", "牛皮癣小广告", "乱张贴广告"),
        ("{p}的楼道和电梯里贴满了小广告，刚清理完第二天又贴上了",
         "{p}附近的电线杆和墙面上到处都是办证、开锁的小广告",
         "{p}的外墙被人用油漆喷了很多电话号码"),
        ("有的小广告直接用胶水贴在单元门上", "清理后留下的痕迹很难看",
         "晚上经常看到有人骑车挨栋发放传单"),
        ("严重影响小区环境和城市形象", "居民不胜其烦"),
    ),
    Issue(
        "street_cleaning", "市容环卫", ("road",),
        ("道路清扫不到位", "路面脏乱", "人行道狗粪"),
        ("{p}的人行道上到处是狗粪和烟头，很久没有清扫",
         "{p}路边垃圾和落叶堆积，环卫工人好几天没来打扫",
         "{p}人行道上的果皮箱坏了一直没换，垃圾散落一地"),
        ("早上跑步的人很多，经常踩到", "下雨后垃圾把雨水篦子都堵住了",
         "附近几个商铺把垃圾直接扫到马路上"),
        ("影响市容环境", "居民出行很不方便"),
    ),
    # 噪音扰民 ------------------------------------------------------------------------------
    Issue(
        "night_construction", "噪音扰民", ("road", "community"),
        ("工地夜间施工噪音", "夜间施工扰民", "工地半夜施工"),
        ("{p}附近的工地每天晚上施工到{t}，机器轰鸣声不断",
         "{p}旁边的在建工地连续{d}夜间施工，打桩声、电锯声吵得人无法入睡",
         "{p}附近的工地晚上浇筑混凝土，罐车和泵车一直响到{t}"),
        ("施工单位说有夜间施工许可，但居民从来没有看到公示", "工地照明灯直射到居民家里",
         "夜里还有渣土车进出，鸣笛声很大", "白天不见施工，一到晚上就开工"),
        ("严重影响周边居民休息", "家里老人和小孩整夜睡不着", "第二天上班没有精神"),
        times=("凌晨一两点", "晚上十一点多", "半夜十二点以后", "凌晨三点"),
    ),
    Issue(
        "square_dance", "噪音扰民", ("landmark:公园|体育场馆|商场", "community"),
        ("广场舞噪音扰民", "广场舞音响声音太大", "广场舞扰民"),
        ("{p}每天晚上都有人跳广场舞，音响开得特别大",
         "{p}的广场舞从{t}开始，音乐声震耳欲聋",
         "{p}有几支广场舞队伍同时放音乐，互相比谁的声音大"),
        ("音响就放在居民楼下", "居民下去劝说，对方态度很差",
         "社区来协调过一次，没过几天又恢复原样", "早上六点多还有人在这里打太极放音乐"),
        ("严重影响周边居民特别是学生学习和休息", "家里有高三学生，根本没法复习"),
        times=("晚上七点", "晚上七点半", "早上六点", "傍晚六点多"),
    ),
    Issue(
        "shop_noise", "噪音扰民", ("road",),
        ("商铺喇叭噪音", "商家高音喇叭扰民", "酒吧噪音扰民"),
        ("{p}的沿街商铺在门口用高音喇叭循环播放促销广告",
         "{p}的一家酒吧每天营业到{t}，音乐声和客人喧哗声很大",
         "{p}的KTV晚上声音传得很远，楼上住户整夜被吵"),
        ("喇叭内容反复就是清仓甩卖几句话", "散场时还有人在门口大声喧哗、按喇叭",
         "找过店家多次，对方说调小了但实际没有变化"),
        ("影响周边居民正常生活", "嘈杂不堪"),
        times=("凌晨两点", "凌晨三点", "半夜一点多"),
    ),
    Issue(
        "renovation_noise", "噪音扰民", ("community",),
        ("装修噪音扰民", "邻居装修噪音", "违规时间装修"),
        ("{p}有住户装修，中午和周末也在电钻、敲墙",
         "{p}楼上邻居装修已经{d}，每天早上{t}就开始砸墙",
         "{p}有业主在非规定时间装修施工，物业劝阻无效"),
        ("小区规定装修时间是工作日上午8点到12点、下午2点到6点", "物业说只能劝说，没有执法权",
         "家里有刚出生的婴儿，天天被吓醒"),
        ("严重影响邻居休息", "上夜班的居民白天根本没法睡觉"),
        times=("七点", "六点半", "七点不到"),
    ),
    Issue(
        "equipment_noise", "噪音扰民", ("community", "landmark:商场|医院"),
        ("空调外机噪音", "设备噪音扰民", "水泵房噪音"),
        ("{p}楼顶的空调外机和冷却塔日夜运转，嗡嗡声很大",
         "{p}的地下水泵房噪音很大，低楼层住户晚上睡不着",
         "{p}旁边饭店的排风机对着居民窗户，从早响到{t}"),
        ("晚上安静下来以后低频噪音特别明显", "关上双层窗户也能听到",
         "物业请人测过，说超标但一直没整改"),
        ("长期影响居民身体健康", "很多老人出现失眠"),
        times=("晚上十一点", "凌晨"),
    ),
    # 占道经营 ------------------------------------------------------------------------------
    Issue(
        "street_vendors", "占道经营", ("landmark:市场|学校|车站|商业街|医院",),
        ("流动摊贩占道经营", "摊贩占道经营", "流动摊点占道"),
        ("{p}每天都有大量流动摊贩占道经营，卖水果、蔬菜和小吃",
         "{p}的流动摊贩把人行道和一半车道都占了",
         "{p}在{t}聚集了十几个流动摊贩，卖烤肠和奶茶"),
        ("城管来了就跑，城管一走又回来", "摊贩用的煤气罐就放在路边",
         "放学时学生挤在摊位前，车辆根本过不去", "摊贩收摊后留下一地垃圾"),
        ("造成交通拥堵", "存在安全隐患", "影响市容市貌"),
        times=("下午四点半", "早上七点", "傍晚"),
    ),
    Issue(
        "shop_encroach", "占道经营", ("road",),
        ("店外经营", "商铺占道经营", "出店经营"),
        ("{p}沿街的几家商铺把货物摆到人行道上，行人只能走到马路上",
         "{p}的汽修店长期在人行道上修车、洗车",
         "{p}的餐馆把桌椅摆到店外，占用了整条人行道"),
        ("地上全是油污", "盲道也被货架压住了", "推婴儿车和坐轮椅的人根本过不去", "晚上还搭起了遮阳棚"),
        ("影响行人通行安全", "影响市容"),
    ),
    Issue(
        "night_market", "占道经营", ("road",),
        ("夜市占道经营", "烧烤摊占道", "夜宵摊占道经营"),
        ("{p}晚上摆满了烧烤摊和夜宵摊，一直营业到{t}",
         "{p}的夜市摊位越摆越多，已经占用了机动车道",
         "每天傍晚开始{p}就有人支起帐篷和桌椅做夜宵生意"),
        ("烧烤的油烟飘进居民家里", "食客喝酒划拳声音很大", "摊主收摊后路面上满是油污和竹签"),
        ("既影响交通又影响居民休息", "环境脏乱差"),
        times=("凌晨两点", "凌晨一点多", "半夜"),
    ),
    Issue(
        "road_market", "占道经营", ("landmark:市场", "road"),
        ("早市占道", "菜贩占道经营", "马路菜市场"),
        ("{p}每天早上{t}就有菜贩在路边摆摊，形成了马路市场",
         "{p}外面的马路被卖菜的三轮车占满，公交车都开不过去",
         "{p}旁边菜贩占道摆摊，菜叶和污水扔得满地都是"),
        ("市场里面的摊位空着，菜贩都跑到外面来摆", "早高峰时车辆排起长队",
         "有老人在摊位之间穿行差点被车刮到"),
        ("严重影响交通", "环境卫生很差"),
        times=("五点多", "六点", "天刚亮"),
    ),
    # 违章建筑 ------------------------------------------------------------------------------
    Issue(
        "rooftop_build", "违章建筑", ("community",),
        ("楼顶违章搭建", "楼顶违建", "顶楼加建"),
        ("{p}的顶楼住户在楼顶私自搭建了一间彩钢房",
         "{p}有住户在楼顶平台加盖了两层阳光房",
         "{p}的顶层业主把公共楼顶圈起来建了一个铁皮屋"),
        ("施工时把楼顶防水层破坏了，下面几户都漏水", "搭建用的材料全部从楼道里搬上去",
         "通往楼顶的消防通道也被堵了", "城管来看过，说要拆，但到现在也没拆"),
        ("存在严重安全隐患", "侵占了全体业主的公共空间"),
    ),
    Issue(
        "ground_floor_build", "违章建筑", ("community",),
        ("一楼私扩院子", "圈占公共绿地", "私搭乱建"),
        ("{p}的一楼住户私自打开围墙，把公共绿地圈进自家院子",
         "{p}的一楼业主在院子里砌墙加盖房屋，面积有二十多平方米",
         "{p}有住户在楼下空地上违规搭建车棚和杂物间"),
        ("物业出面制止，业主根本不理", "已经向街道综合执法队反映过", "盖起来的房子还在出租",
         "挡住了二楼住户的采光"),
        ("影响其他业主的合法权益", "破坏小区整体规划"),
    ),
    Issue(
        "green_build", "违章建筑", ("road", "community"),
        ("毁绿违建", "占用绿地违建", "违规建房"),
        ("{p}有人砍掉绿化带里的树，在上面盖了一排平房",
         "{p}旁边的空地上最近突然建起了一栋三层楼房，没看到任何规划公示",
         "{p}附近有村民在河道旁边违规建房"),
        ("晚上和周末抢建", "施工围挡上没有任何许可信息", "有人说是准备用来开饭店的"),
        ("破坏绿化", "违规建设无人监管", "影响防洪安全"),
    ),
    Issue(
        "shop_shed", "违章建筑", ("road",),
        ("商铺私搭铁皮棚", "违规搭建雨棚", "临街违建"),
        ("{p}的几家商铺在门前私自搭建铁皮棚，占用了人行道",
         "{p}的饭店在店外违规搭建了钢架雨棚",
         "{p}有商户把门面往外扩建了两三米"),
        ("棚子下面还放着煤气罐", "大风天铁皮哗哗作响，随时可能被吹落", "别的店看到了也跟着搭"),
        ("存在安全隐患", "影响市容和行人通行"),
    ),
    # 道路交通 ------------------------------------------------------------------------------
    Issue(
        "potholes", "道路交通", ("road",),
        ("路面坑洼", "道路破损", "路面坑洞"),
        ("{p}路面坑坑洼洼，有好几个大坑",
         "{p}的沥青路面破损严重，已经{d}没人修",
         "{p}路面下沉开裂，车辆经过颠簸得厉害"),
        ("下雨后坑里积满水看不清深浅", "晚上骑电动车的人经常在这里摔倒",
         "之前用沙子填过一次，没过几天又坏了", "大货车经过时震得两边房子都在抖"),
        ("存在严重安全隐患", "影响车辆和行人通行"),
        pressing=0.3,
    ),
    Issue(
        "manhole", "道路交通", ("road", "community"),
        ("井盖破损", "井盖缺失", "井盖异响"),
        ("{p}有一个井盖破损下陷，只用一根树枝插着提醒",
         "{p}的窨井盖不见了，路上留下一个大洞",
         "{p}的井盖松动，车辆压过时哐当哐当响"),
        ("晚上光线暗，行人很容易踩空", "附近是小学，学生上下学都从这里过",
         "不知道这个井盖属于哪个单位管理", "半夜车轮压过的响声特别吵"),
        ("存在极大安全隐患", "影响周边居民休息"),
        pressing=0.5,
    ),
    Issue(
        "streetlight", "道路交通", ("road",),
        ("路灯不亮", "路灯损坏", "路灯坏了"),
        ("{p}的路灯已经{d}不亮了，晚上一片漆黑",
         "{p}一整排路灯都坏了，到了晚上伸手不见五指",
         "{p}的路灯时亮时不亮，有几根灯杆还是歪的"),
        ("晚上下班回家只能打着手机电筒走", "附近女生晚上都不敢一个人经过",
         "这段路车流量大，行人过马路很危险"),
        ("存在安全隐患", "影响夜间出行安全"),
    ),
    Issue(
        "traffic_signal", "道路交通", ("road",),
        ("红绿灯故障", "信号灯设置不合理", "红绿灯时间太短"),
        ("{p}的红绿灯坏了{d}，一直黄灯闪烁",
         "{p}的行人过街绿灯只有十几秒，老人根本走不过去",
         "{p}的左转信号灯时间太短，每次只能过三四辆车"),
        ("早晚高峰车辆堵成一团", "有交警临时指挥过两天", "旁边就是学校，学生过马路非常危险"),
        ("影响交通通行效率", "容易发生交通事故"),
    ),
    Issue(
        "illegal_parking", "道路交通", ("road", "community"),
        ("车辆乱停乱放", "违停占用消防通道", "占用盲道停车"),
        ("{p}经常有车辆违停，把消防通道堵死了",
         "{p}的人行道和盲道上停满了小汽车",
         "{p}路边双排停车，一条路只剩一个车道"),
        ("有的车一停就是好几天", "打了好几次电话，交警来贴了罚单，第二天照样停",
         "救护车有一次都开不进来"),
        ("万一发生火灾后果不堪设想", "严重影响交通"),
    ),
    Issue(
        "shared_bikes", "道路交通", ("landmark:车站|商场|商业街|学校", "road"),
        ("共享单车乱停放", "共享单车堆积", "共享单车占道"),
        ("{p}的共享单车堆成了山，把人行道全占了",
         "{p}的共享单车乱停乱放，很多已经坏了也没人收",
         "{p}的共享单车和电动车停得横七竖八"),
        ("早高峰出站的人只能从车缝里挤出去", "有些坏车放了好几个月", "运营公司的调度员很少来整理"),
        ("影响行人通行", "影响市容"),
    ),
    Issue(
        "waterlogging", "道路交通", ("road",),
        ("道路积水", "雨后积水严重", "下水道排水不畅"),
        ("{p}一下雨就积水，水深到小腿",
         "{p}的雨水篦子被堵，雨停了好几个小时积水还没退",
         "{p}地势低洼，每次下大雨都变成一片汪洋"),
        ("车辆经过溅起的水花有一人多高", "附近商铺门口都用沙袋挡水", "排水管道好像很多年没有疏通过"),
        ("影响车辆和行人通行", "存在安全隐患"),
        pressing=0.4,
    ),
    # 供水供电燃气 --------------------------------------------------------------------------
    Issue(
        "water_outage", "供水供电燃气", ("community",),
        ("停水无通知", "频繁停水", "水压低"),
        ("{p}从{t}开始停水，事先没有任何通知",
         "{p}这{d}经常停水，一停就是大半天",
         "{p}的高楼层水压太低，白天水龙头只有一点点水"),
        ("打供水公司电话说在维修，问什么时候来水也说不清", "家里有老人，做饭洗澡都成了问题",
         "楼上的住户只能拿桶到楼下接水", "物业说是二次供水设备的问题"),
        ("严重影响居民正常生活",),
        times=("早上六点", "昨天晚上", "中午十二点"),
        pressing=0.4,
    ),
    Issue(
        "water_quality", "供水供电燃气", ("community",),
        ("自来水发黄", "水质浑浊", "二次供水水箱不清洗"),
        ("{p}的自来水发黄，还有一股铁锈味",
         "{p}水龙头放出来的水浑浊，烧开后壶底有很多沉淀",
         "{p}的二次供水水箱{d}没有清洗过，水里有杂质"),
        ("要放好几分钟水才会变清", "不敢给小孩喝，只能买桶装水",
         "物业说水箱归供水公司管，供水公司说归物业管"),
        ("担心影响身体健康",),
    ),
    Issue(
        "power_outage", "供水供电燃气", ("community",),
        ("频繁停电", "电压不稳", "停电时间长"),
        ("{p}最近{d}频繁停电，一天停好几次",
         "{p}天热以后电压不稳，空调开不起来",
         "{p}昨晚停电到{t}，供电部门没有任何通知"),
        ("冰箱里的东西都坏了", "家里有老人需要用制氧机", "供电所说是变压器负荷太大",
         "小区电梯也因为停电停运了"),
        ("严重影响居民生活",),
        times=("凌晨两点", "半夜", "第二天早上"),
        pressing=0.3,
    ),
    Issue(
        "utility_bills", "供水供电燃气", ("community",),
        ("水费异常", "燃气费异常", "电费不合理"),
        ("{p}这个月的水费比平时高出了好几倍，家里并没有多用水",
         "{p}燃气公司上门抄表后，燃气费突然翻了一番",
         "{p}的电费账单和电表读数对不上"),
        ("检查过家里的水管没有漏水", "营业厅的工作人员只说让用户自己找原因",
         "怀疑是表具出了问题，申请校验一直没有安排"),
        ("希望核实收费",),
    ),
    Issue(
        "gas_service", "供水供电燃气", ("community",),
        ("燃气管道改造", "天然气开通难", "燃气安检乱收费"),
        ("{p}老旧燃气管道改造开挖后，{d}没有回填",
         "{p}交了天然气开户费，到现在还没有通气",
         "燃气公司到{p}上门安检时强制推销燃气报警器"),
        ("路面被挖得坑坑洼洼", "工作人员说要等整个片区一起开通", "报警器价格比市场上贵很多"),
        ("影响居民正常生活",),
    ),
    # 园林绿化 ------------------------------------------------------------------------------
    Issue(
        "tree_trim", "园林绿化", ("road",),
        ("树枝遮挡", "行道树需修剪", "树木倒伏"),
        ("{p}的行道树枝叶太茂盛，已经伸到居民窗户里",
         "{p}的大树树枝挡住了交通信号灯和路灯",
         "前几天刮大风，{p}有一棵树倒在人行道上，到现在还没清理"),
        ("树上的虫子掉进家里", "低楼层的房间白天也要开灯", "过往车辆要绕行", "树根把人行道地砖顶起来了"),
        ("存在安全隐患", "影响采光和通行"),
        pressing=0.3,
    ),
    Issue(
        "green_upkeep", "园林绿化", ("road", "community"),
        ("绿化带杂草丛生", "绿化无人养护", "草坪枯死"),
        ("{p}的绿化带杂草长得比人还高，很久没人修剪",
         "{p}新种的草坪和灌木大面积枯死，没人浇水",
         "{p}的绿化带里堆满了垃圾，杂草丛生"),
        ("晚上蚊子特别多", "绿化带里还有蛇出没", "听说绿化养护外包给了公司，但从来没见人来"),
        ("影响城市形象", "居民意见很大"),
    ),
    Issue(
        "vegetable_plots", "园林绿化", ("community",),
        ("毁绿种菜", "公共绿地种菜", "侵占绿地"),
        ("{p}有居民把公共绿地挖开种菜",
         "{p}楼下的绿化带被人圈起来种了玉米和辣椒",
         "{p}有人在绿地里种菜，还浇粪水"),
        ("臭味很大", "种菜的人还用竹竿和旧渔网围起来", "物业劝说过，对方说空着也是空着"),
        ("破坏小区绿化", "影响环境卫生"),
    ),
    Issue(
        "tree_pests", "园林绿化", ("road", "landmark:公园"),
        ("行道树虫害", "树木病虫害", "喷洒农药不告知"),
        ("{p}的行道树长了很多毛毛虫，掉得满地都是",
         "{p}的树叶被虫子吃光了，看样子好久没打药",
         "园林工人在{p}喷洒农药时没有提前告知"),
        ("小孩被虫子蛰到起了一身红疹", "树下停的车上全是虫粪", "喷药时行人正好经过，味道很刺鼻"),
        ("影响居民健康",),
    ),
    Issue(
        "park_facilities", "园林绿化", ("landmark:公园|景区",),
        ("公园设施损坏", "公园健身器材损坏", "公园管理不善"),
        ("{p}的健身器材坏了好几件，没人维修",
         "{p}的步道地砖松动，有几处座椅也断了",
         "{p}里面的人工湖水发绿发臭"),
        ("有老人锻炼时差点受伤", "晚上公园里的灯也只亮一半", "周末来游玩的人很多"),
        ("存在安全隐患", "影响市民休闲"),
    ),
    # 物业管理 ------------------------------------------------------------------------------
    Issue(
        "property_fee", "物业管理", ("community",),
        ("物业费收费不合理", "物业乱收费", "物业费上涨"),
        ("{p}的物业公司在没有召开业主大会的情况下擅自上涨物业费",
         "{p}的物业除了物业费之外，还收取电梯费、垃圾费等各种费用",
         "{p}的物业把停车费从每月一百五涨到三百"),
        ("服务质量却越来越差，保安经常不在岗", "业主要求公示收支明细，物业一直拒绝",
         "不交费的业主家门口被贴了催费单", "物业还威胁要停水停电"),
        ("侵害业主合法权益",),
    ),
    Issue(
        "elevator", "物业管理", ("community",),
        ("电梯故障", "电梯经常坏", "电梯维修不及时"),
        ("{p}的电梯这{d}坏了好几次",
         "{p}{n}号楼的电梯经常停运，维修后没几天又坏",
         "{p}的电梯运行时抖动，还有异响"),
        ("楼里住着很多老人，上下楼非常困难", "上周还有人被困在电梯里半个多小时",
         "物业说维修要动用维修基金，需要业主签字"),
        ("存在严重安全隐患",),
        pressing=0.4,
    ),
    Issue(
        "ebike_charging", "物业管理", ("community",),
        ("电动车违规充电", "楼道堆放杂物", "飞线充电"),
        ("{p}有住户从楼上拉电线下来给电动车充电",
         "{p}的楼道里停满了电动车，晚上就在楼道里充电",
         "{p}的楼道堆满了纸箱和旧家具，物业不清理"),
        ("小区里的充电桩太少，根本不够用", "物业贴了通知，但没人理会", "电线就挂在窗户外面晃来晃去"),
        ("存在火灾隐患", "一旦着火后果不堪设想"),
    ),
    Issue(
        "estate_security", "物业管理", ("community",),
        ("小区停车管理混乱", "门禁形同虚设", "地下车库照明损坏"),
        ("{p}的外来车辆随便进出，业主回家反而没有车位",
         "{p}的门禁坏了{d}，陌生人随意进出",
         "{p}的地下车库灯坏了一大半，物业一直不修"),
        ("最近小区里发生了几起电动车电瓶被盗", "保安亭经常没人", "业主自己买的车位也被别人占了"),
        ("小区安全得不到保障",),
    ),
    Issue(
        "sewage", "物业管理", ("community",),
        ("化粪池满溢", "下水道堵塞", "污水外溢"),
        ("{p}的化粪池满了，污水从井盖里冒出来",
         "{p}下水道堵塞，一楼卫生间往上返污水",
         "{p}的污水管道破裂，楼前一片污水"),
        ("臭味整栋楼都闻得到", "物业说要业主分摊疏通费用", "已经找物业好几次，只来看了一眼"),
        ("严重影响居民生活和环境卫生",),
        pressing=0.4,
    ),
    Issue(
        "property_repairs", "物业管理", ("community",),
        ("物业不作为", "公共区域维修不及时", "外墙渗水物业不管"),
        ("{p}的外墙渗水，家里墙面发霉，找物业维修一直推脱",
         "{p}的单元门坏了{d}，物业一直说在报修",
         "{p}的楼道灯坏了很久，物业不管"),
        ("物业说要走维修基金流程，需要三分之二业主签字", "业委会也不管事", "业主都按时交了物业费"),
        ("损害业主利益",),
    ),
    # 环境污染 ------------------------------------------------------------------------------
    Issue(
        "cooking_fumes", "环境污染", ("community", "road"),
        ("油烟扰民", "餐饮油烟污染", "饭店油烟直排"),
        ("{p}楼下的饭店油烟直排，熏得楼上住户不敢开窗",
         "{p}的烧烤店没有安装油烟净化设备，浓烟直接往居民楼飘",
         "{p}的一楼商铺改成了餐馆，排烟管道就接在居民窗户边上"),
        ("衣服晾在阳台上全是油烟味", "家里的窗户和纱窗上都是一层油", "孩子有哮喘，闻到油烟就咳嗽"),
        ("严重影响居民身体健康和生活",),
    ),
    Issue(
        "factory_emissions", "环境污染", ("road", "landmark:园区"),
        ("工厂排放异味", "废气污染", "夜间偷排废气"),
        ("{p}附近的工厂晚上偷偷排放废气，气味刺鼻",
         "{p}一带每到{t}就能闻到一股化工臭味",
         "{p}的厂房烟囱冒黑烟，附近车辆上落满黑灰"),
        ("白天反而闻不到，怀疑是故意晚上排", "附近居民很多出现咽喉不适",
         "环保部门来检测过，当时没查出问题"),
        ("危害居民身体健康",),
        times=("晚上十点以后", "凌晨", "半夜"),
    ),
    Issue(
        "river_pollution", "环境污染", ("road",),
        ("河道污染", "污水直排", "河水发黑发臭"),
        ("{p}旁边的河道河水发黑发臭，水面漂着垃圾",
         "{p}有一个排污口往河里直排污水",
         "{p}的小河沟里全是生活污水，夏天臭得不行"),
        ("河里已经看不到鱼了", "不知道是哪家单位排的", "河道保洁很久才来一次"),
        ("影响周边环境和居民健康",),
    ),
    Issue(
        "open_burning", "环境污染", ("road", "community"),
        ("露天焚烧垃圾", "焚烧秸秆", "焚烧浓烟"),
        ("{p}附近有人露天焚烧垃圾，浓烟滚滚",
         "{p}一带有人在田里焚烧秸秆，烟雾很大",
         "{p}的废品收购站经常焚烧电线外皮"),
        ("烟味飘进小区，家家户户都要关窗", "气味很刺鼻，应该是烧了塑料", "附近是加油站，很危险"),
        ("污染空气，影响居民健康",),
    ),
    Issue(
        "dust", "环境污染", ("road",),
        ("工地扬尘", "扬尘污染", "砂石场扬尘"),
        ("{p}附近工地的裸土没有覆盖，一刮风满天灰尘",
         "{p}的搅拌站扬尘严重，周边房子的窗台上全是灰",
         "{p}的砂石堆场没有围挡，粉尘四处飘散"),
        ("雾炮机只在检查的时候才开", "衣服晒在外面一会儿就脏了", "附近幼儿园的孩子都不能在户外活动"),
        ("严重影响空气质量",),
    ),
)  # fmt: skip

# The category the original log lacks (new_labels.csv only).
NEW_ISSUES: tuple[Issue, ...] = (
    Issue(
        "charger_broken", NEW_LABEL, ("community", "landmark:商场|车站|体育场馆"),
        ("新能源充电桩损坏", "充电桩故障无人维修", "充电桩无法使用"),
        ("{p}的公共充电桩坏了{d}，扫码后一直显示设备故障",
         "{p}停车场的新能源汽车充电桩有一半不能用",
         "{p}的快充桩充电功率很低，充满一辆新能源车要五六个小时"),
        ("客服电话打了好几次，只说会派人来修", "充电枪头都被人弄坏了", "附近没有别的充电站"),
        ("新能源车主充电非常困难",),
    ),
    Issue(
        "charger_occupied", NEW_LABEL, ("community", "road", "landmark:商场|车站"),
        ("燃油车占用充电车位", "充电车位被占", "充电车位乱收费"),
        ("{p}的新能源充电车位经常被燃油车占着",
         "{p}的充电车位充满电后车主一直不挪车",
         "{p}充电站的停车费和充电服务费加起来比油费还贵"),
        ("管理人员说没有权力贴条", "排队等充电的车排到了路上", "收费标准也没有公示"),
        ("影响新能源车主正常充电",),
    ),
    Issue(
        "charger_install", NEW_LABEL, ("community",),
        ("小区不让安装充电桩", "私人充电桩报装难", "充电桩安装受阻"),
        ("{p}的物业以电力容量不足为由，不让业主在自己车位上安装新能源充电桩",
         "在{p}买了车位想装充电桩，物业要收几千元管理费才给盖章",
         "{p}的业主申请安装私人充电桩，供电公司和物业互相推诿"),
        ("国家鼓励新能源汽车，小区却不让装充电桩", "已经跑了三趟供电营业厅", "物业要求签很多不合理的协议"),
        ("新能源车买了却充不了电",),
    ),
)  # fmt: skip

# Urgent cases: (issue, how many rows, fixed dates or () for random days). Their texts name the
# danger (燃气泄漏, 漏电, 火灾隐患, 塌陷, 内涝, 受伤) so urgency detection has something to find.
URGENT_CASES: tuple[tuple[Issue, int, tuple[str, ...]], ...] = (
    (Issue(
        "gas_leak", "供水供电燃气", ("community",),
        ("燃气泄漏", "闻到很浓的燃气味", "燃气管道漏气"),
        ("{p}的楼道里有很浓的燃气味，怀疑燃气泄漏，已经持续半个多小时",
         "{p}的燃气管道接口处漏气，能听到嘶嘶的声音，煤气味很重",
         "{p}旁边施工挖断了燃气管道，现场燃气泄漏"),
        ("居民已经自行开窗通风，不敢开灯和开关电器", "楼里有老人和小孩", "燃气公司的电话一直占线"),
        ("随时可能发生爆炸，情况非常危险",),
    ), 3, ()),
    (Issue(
        "live_wire", "供水供电燃气", ("road", "community"),
        ("电线裸露", "漏电", "电线断落"),
        ("{p}有一根电线从电线杆上断落，裸露的电线垂到了地面",
         "{p}的配电箱门坏了，里面电线裸露在外，下雨天有漏电现象",
         "{p}的路灯杆漏电，刚才有路人摸到被电了一下"),
        ("旁边就是小学，放学时很多学生经过", "地上还有积水", "已经有居民在旁边守着提醒行人绕行"),
        ("随时可能发生触电事故",),
    ), 2, ()),
    (Issue(
        "fire_hazard", "物业管理", ("community",),
        ("火灾隐患", "楼道飞线充电冒烟", "消防通道堵塞"),
        ("{p}的楼道里有住户飞线给电动车充电，电线已经发烫冒烟，存在严重火灾隐患",
         "{p}的消防栓没有水，楼道里堆满杂物，消防通道被堵死，存在重大火灾隐患"),
        ("物业的电话没人接", "楼里住着很多老人和孩子", "去年隔壁小区就因为电动车充电着过火"),
        ("一旦起火后果不堪设想",),
    ), 2, ()),
    (Issue(
        "road_collapse", "道路交通", ("road",),
        ("路面塌陷", "道路塌陷", "路面突然塌陷"),
        ("{p}的路面突然塌陷，出现一个直径两米多的大坑",
         "{p}的路面塌陷，下面能看到被掏空的土层"),
        ("现场只放了几个锥桶", "车辆还在旁边通行", "塌陷的坑还在继续变大"),
        ("随时可能有车辆和行人掉进去",),
    ), 1, ()),
    (Issue(
        "flooding", "道路交通", ("road",),
        ("严重积水", "道路内涝", "暴雨内涝"),
        ("暴雨后{p}严重积水，水已经漫过车轮，有车辆熄火被困",
         "{p}发生内涝，积水齐腰深，有人被困在车里"),
        ("积水还在上涨", "旁边地下车库已经开始进水", "有行人蹚水时差点被冲倒"),
        ("情况十分危险",),
    ), 2, ("2026-06-23",)),
    (Issue(
        "manhole_injury", "道路交通", ("road",),
        ("井盖缺失致人受伤", "行人掉进窨井受伤", "有人受伤"),
        ("{p}的井盖缺失，刚才有一位老人掉进去受伤了，已经叫了救护车",
         "{p}的窨井盖没有盖好，一名骑电动车的市民摔倒受伤"),
        ("井口到现在还没有任何遮挡", "天黑以后根本看不清", "附近居民说这个井盖坏了好几天"),
        ("要求马上处置，防止再有人受伤",),
    ), 1, ()),
    (Issue(
        "falling_branch", "园林绿化", ("road",),
        ("树枝断落砸伤行人", "断枝伤人", "有人受伤"),
        ("{p}的一根大树枝突然断落，砸伤了一名路人",
         "{p}的行道树枯枝掉下来砸到了一位老人的头，老人受伤流血"),
        ("这棵树早就枯了，一直没人修剪", "树上还挂着几根快断的枝条", "伤者已经被送到医院"),
        ("要求立即处理，消除安全隐患",),
    ), 1, ()),
)  # fmt: skip


@dataclass(frozen=True)
class Incident:
    """Several complaints about one incident: same place, same problem, different callers.

    ``schedule`` lists ``(date, rows, (first hour, last hour))``; hours past 23 fall on the next
    day (night-noise complaints at 00:30). ``issue.what`` opens the first day's complaints and
    ``later`` the following days'. ``alt`` (label, sentences, rows) makes a few rows that an
    operator filed under another category. ``same_caller`` rows all come from one caller.
    """

    key: str
    issue: Issue
    district: str
    street: str
    name: str
    spots: tuple[str, ...]
    later: tuple[str, ...]
    schedule: tuple[tuple[str, int, tuple[int, int]], ...]
    alt: tuple[str, tuple[str, ...], int] | None = None
    same_caller: int = 0
    likes: tuple[int, int] = (0, 20)
    urgent: tuple[str, ...] = ()  # opening sentences of the rows graded 紧急
    tiers: tuple[str, ...] = ("medium", "medium", "long")
    replied: str = ""  # when the agency answered all of them at once, if it did


SURGE = Incident(
    "water_main_burst",
    Issue(
        "water_main_burst", "供水供电燃气", ("road",),
        ("供水管道爆裂", "自来水管爆管", "水管爆裂导致停水", "爆管停水"),
        ("{p}的地下供水管道爆裂，水从路面往外冒，水柱有一米多高",
         "{p}的自来水管爆了，马路上全是水",
         "早上起来家里没水了，听说是{p}的供水主管道爆裂",
         "{p}有一根大水管破裂，附近新民里小区、幸福家园都停水了",
         "{p}路面下的自来水管爆管，水流成河",
         "新民里小区从早上开始停水，物业说是{p}的供水管道破了",
         "幸福家园全小区停水，据说是{p}的自来水主管爆裂"),
        ("路面已经开始往下沉", "水漫到了人行道和旁边的商铺里", "家里有老人和小孩，做饭、上厕所都成问题",
         "供水公司的电话一直打不进去", "没有看到任何停水通知", "周边小区只能靠消防车送水",
         "附近超市的桶装水都被买光了", "抢修的工人说这段管道太老了"),
        ("严重影响周边居民生活", "附近几个小区上千户居民用水受影响", "造成交通严重堵塞"),
    ),
    "城南区", "新民街道", "人民南路",
    ("人民南路与新民路交叉口", "人民南路新民路口", "人民南路新民里小区门口路段",
     "新民里小区外面的人民南路", "人民南路靠近幸福家园一侧"),
    ("{p}供水管道爆裂到现在已经超过一天，新民里小区还是没有恢复供水",
     "{p}爆管抢修了一整天，幸福家园到现在还没来水",
     "昨天{p}水管爆裂，今天早上来水了但水是黄的",
     "{p}的爆管抢修现场晚上一直在施工，停水也没有恢复",
     "纺织厂宿舍停水一天多了，供水公司说{p}的管道还在抢修"),
    (("2026-07-14", 23, (6, 23)), ("2026-07-15", 12, (6, 22))),
    alt=("道路交通",
         ("{p}因为水管爆裂路面积水，车辆无法通行，公交车都改道了",
          "{p}爆管后封闭了一半车道，早高峰堵得一动不动",
          "{p}的路面被水泡了，有一段出现下沉，车辆经过很危险"), 3),
    likes=(20, 320),
    tiers=("short", "medium", "medium", "medium", "long", "long"),
    replied="2026-07-15 19:00",
    urgent=("{p}的供水管道爆裂后路面出现塌陷，水已经灌进旁边小区的地下车库",
            "{p}爆管的地方路面塌陷了一大块，有一辆电动车差点掉进去，情况很危险"),
)  # fmt: skip

CLUSTERS: tuple[Incident, ...] = (
    Incident(
        "night_works_jinqiao",
        Issue(
            "night_works_jinqiao", "噪音扰民", ("road",),
            ("工地夜间施工噪音", "管廊工地夜间施工扰民", "夜间施工扰民"),
            ("{p}连续几天晚上施工到凌晨，破碎锤的声音特别刺耳",
             "{p}半夜还在挖掘施工，御景湾的居民都睡不着",
             "{p}晚上十点以后还在用挖掘机和破碎锤作业"),
            ("施工单位说在赶工期", "工地门口没有张贴夜间施工许可", "施工车辆进出时还不停地鸣笛",
             "打过110，民警来了之后停了半小时又开始"),
            ("严重影响周边居民休息", "家里老人和小孩整夜睡不着"),
        ),
        "云湖区", "金桥街道", "金桥路",
        ("金桥路综合管廊工地", "御景湾小区旁边的金桥路管廊工地", "金桥路御景湾对面的施工工地",
         "金桥路地下管廊项目工地"),
        ("{p}昨天晚上又施工到凌晨一点多，投诉后没有任何改变",
         "{p}已经连续第{n}个晚上夜间施工了",
         "{p}夜间施工的问题前两天已经有邻居反映过，今晚还在施工"),
        (("2026-06-08", 1, (22, 24)), ("2026-06-09", 1, (22, 25)), ("2026-06-10", 2, (22, 25)),
         ("2026-06-11", 1, (23, 25))),
        likes=(5, 60),
    ),
    Incident(
        "streetlights_jianshe",
        Issue(
            "streetlights_jianshe", "道路交通", ("road",),
            ("路灯不亮", "一排路灯不亮", "路灯损坏"),
            ("{p}的路灯全都不亮了，大概有三四百米",
             "{p}的一排路灯坏了，晚上漆黑一片",
             "{p}路灯不亮，学生晚自习放学都摸黑走"),
            ("这段路没有人行道护栏，车开得很快", "晚上接孩子只能打手电筒", "旁边店铺关门后一点光都没有"),
            ("存在安全隐患", "影响夜间出行安全"),
        ),
        "江北区", "长宁街道", "建设北路",
        ("建设北路长宁小学门口路段", "建设北路长宁小学到锦绣家园那一段", "建设北路锦绣家园门口",
         "建设北路长宁小学附近"),
        ("{p}路灯不亮的问题之前已经反映过，到现在还没有修好",
         "{p}的路灯坏了一个多星期了，还是没人来修"),
        (("2026-05-18", 1, (19, 22)), ("2026-05-19", 1, (19, 22)), ("2026-05-22", 1, (18, 21)),
         ("2026-05-26", 1, (8, 11))),
        likes=(2, 30),
    ),
    Incident(
        "bbq_fumes_haitang",
        Issue(
            "bbq_fumes_haitang", "环境污染", ("community",),
            ("烧烤店油烟扰民", "油烟扰民", "烧烤油烟污染"),
            ("{p}每天傍晚开始烧炭烤串，油烟直接往楼上飘",
             "{p}没有装油烟净化器，烟雾熏得楼上住户不敢开窗",
             "{p}的排烟管道正对着居民窗户，油烟味非常重"),
            ("营业到凌晨两三点", "家里的窗帘和衣服都是烧烤味", "老人有慢性支气管炎，一闻到烟就咳嗽"),
            ("严重影响居民身体健康和生活",),
        ),
        "临港区", "海棠街道", "海棠湾小区",
        ("海棠湾小区临街的烧烤店", "海棠路海棠湾小区楼下的烧烤店", "海棠湾小区1栋楼下的烧烤店",
         "海棠路上海棠湾小区门口那家烧烤店"),
        ("{p}的油烟问题反映过了，这几天照样烟雾弥漫", "{p}还是天天晚上油烟直排，没有任何整改"),
        (("2026-07-20", 1, (19, 23)), ("2026-07-21", 1, (19, 23)), ("2026-07-23", 1, (19, 23)),
         ("2026-07-25", 1, (20, 23))),
        likes=(3, 40),
    ),
    Incident(
        "garbage_gongrencun",
        Issue(
            "garbage_gongrencun", "市容环卫", ("community",),
            ("垃圾清运不及时", "垃圾收集点垃圾成堆", "垃圾无人清运"),
            ("{p}的垃圾已经好几天没有清运，垃圾桶全满了",
             "{p}的垃圾堆成了小山，臭味飘得很远",
             "{p}的垃圾没人运走，污水都流到了工人巷上"),
            ("苍蝇成群", "路过都要捂着鼻子", "听说是换了保洁公司，交接没做好"),
            ("严重影响居民生活环境",),
        ),
        "青山区", "红旗街道", "工人村",
        ("工人村垃圾收集点", "工人村工人巷口的垃圾站", "工人巷工人村门口的垃圾收集点"),
        ("{p}的垃圾到今天还是没有清运", "{p}的垃圾问题昨天有人反映过了，今天还是老样子"),
        (("2026-08-10", 1, (8, 20)), ("2026-08-11", 1, (8, 20)), ("2026-08-12", 1, (8, 20))),
        likes=(1, 25),
    ),
    Incident(
        "square_dance_renmin_park",
        Issue(
            "square_dance_renmin_park", "噪音扰民", ("landmark:公园",),
            ("广场舞噪音扰民", "广场舞音响声音太大", "广场舞扰民"),
            ("{p}的广场舞音响声音太大，从晚上七点一直跳到九点多",
             "{p}每天晚上跳广场舞，音箱对着居民楼放"),
            ("家里孩子要中考", "音箱的低音震得窗户嗡嗡响", "公园管理处说管不了"),
            ("严重影响周边居民休息",),
        ),
        "城南区", "南门街道", "人民公园",
        ("人民公园东门广场", "人民公园东门", "人民公园东门的小广场"),
        ("{p}的广场舞噪音问题已经反映过很多次了，到现在还是老样子",
         "这是第{n}次反映{p}的广场舞噪音问题了",
         "上次反映{p}的广场舞噪音后安静了几天，现在又和原来一样了"),
        (("2026-05-12", 1, (19, 21)), ("2026-05-26", 1, (19, 21)), ("2026-06-09", 1, (19, 21)),
         ("2026-06-30", 1, (19, 21)), ("2026-07-07", 1, (19, 21)), ("2026-07-21", 1, (19, 21))),
        same_caller=5,
        likes=(10, 80),
    ),
)  # fmt: skip
INCIDENTS = {inc.key: inc for inc in (SURGE, *CLUSTERS)}

DURATIONS = (
    "三天", "一个星期", "半个多月", "两个星期", "一个多月", "两个多月", "半年多", "好几天",
    "快一个月", "三个多月",
)  # fmt: skip

PHONE_OPENERS = (
    "市民来电反映：", "市民来电反映，", "来电人反映：", "来电人称，", "市民反映：", "来电人表示，",
    "群众来电反映，", "来电市民反映：", "",
)  # fmt: skip
PHONE_CLOSINGS = (
    "要求相关部门尽快处理。", "来电人要求相关部门尽快核实处理。", "希望相关部门尽快解决。",
    "请相关部门予以处理并回复来电人。", "来电人要求尽快处理，处理结果请回复。",
    "要求相关部门上门查看处理。", "请尽快协调处理。", "望相关部门督促整改。",
    "来电人希望相关部门加强管理。",
)  # fmt: skip
PHONE_HISTORY = (
    "来电人称此前已多次向有关部门反映，至今未得到解决", "来电人已向社区反映过，社区称不归其管理",
    "来电人称此前拨打过12345热线，问题处理后不久又出现反弹", "来电人称该问题已持续{d}",
    "来电人表示曾向街道反映，一直没有回复", "来电人称周边居民对此意见很大",
    "来电人称曾当面找过相关负责人，对方态度敷衍",
)  # fmt: skip
PHONE_NOTES = (
    "来电人情绪较为激动", "来电人要求回访", "来电人表示愿意配合现场核查", "来电人称可提供现场照片",
    "来电人不愿透露具体门牌号",
)  # fmt: skip
WEB_OPENERS = ("尊敬的领导：您好！", "您好！", "领导好，", "市长您好！", "各位领导：", "你好，", "", "", "")
WEB_INTROS = ("我是{dn}的一名普通市民，", "我家就住在{pn}附近，", "我在{sn}上班，每天都要经过这里。", "", "")
RESIDENT_INTROS = ("我是{pn}的居民，", "本人住在{pn}，")  # compounds only
WEB_BACKGROUND = (
    "我们这一片是老城区，住的大多是老人", "附近这几年新开了很多商铺，人流量越来越大",
    "这里是上下班的必经之路，早晚高峰人特别多",
)  # fmt: skip
RESIDENT_BACKGROUND = ("{pn}有一千多户居民，周边还有学校和医院", "小区建成快二十年了，很多设施都老化了")
WEB_HISTORY = (
    "之前已经打过好几次12345，每次都说会处理，但问题一直存在", "我们找过社区和街道，都说不归他们管",
    "上个月城管来整治过一次，没几天又恢复原样了", "这个问题已经存在{d}了",
    "我们多次向街道反映，一直没有回音", "之前在网上留言过，回复说已经处理，实际上根本没有变化",
)  # fmt: skip
WEB_FEELINGS = (
    "真的是忍无可忍了", "我们实在没办法了才在这里留言", "不知道这种情况还要持续多久",
    "多次反映都没有结果，很失望", "我们的基本诉求一直得不到回应", "希望不要再互相推诿了",
)  # fmt: skip
WEB_PLEAS = (
    "希望有关部门重视一下！", "恳请领导关注此事。", "希望能尽快解决，谢谢！",
    "请问这个问题到底归哪个部门管？", "盼回复！", "麻烦领导们管一管！", "谢谢！", "期待尽快解决。",
)  # fmt: skip
WEB_NARRATIVE = (
    "刚开始大家以为只是临时的，忍一忍就过去了，没想到越来越严重",
    "我们也理解城市管理需要一个过程，但是这么长时间没有任何改善，实在说不过去",
    "现场的情况我拍了照片和视频，随时可以提供", "周围的邻居都有同样的感受，很多人已经联名签字",
    "我平时工作很忙，实在没有精力一次次地打电话",
    "每次反映之后都有人打电话回访，问满不满意，可问题根本没有解决",
    "我不知道应该找哪个部门，只好在这里给领导留言",
    "希望相关部门能到现场实地看一看，而不是只在电话里答复",
)  # fmt: skip
PHONE_NARRATIVE = (
    "来电人称已将现场情况拍照留存", "来电人表示周边多户居民有同样诉求",
    "来电人称之前的工单回复与实际情况不符", "来电人表示如问题得不到解决将继续反映",
)  # fmt: skip
WEB_SHORT_TAILS = (
    "已经{d}了，谁来管管？",
    "一直没人管，希望尽快处理！",
    "请相关部门尽快处理。",
    "什么时候能解决？",
)
DEMANDS = {
    "市容环卫": ("加强日常保洁和垃圾清运", "增加垃圾桶和清运次数", "对乱倒垃圾的行为依法处罚", "安排专人定期巡查"),
    "噪音扰民": ("依法查处噪音扰民行为", "严格限制施工和营业时间", "安装噪音监测设备", "对违规者加大处罚力度"),
    "占道经营": ("加强城管巡查，取缔占道经营", "规划固定的摊位集中经营", "对屡教不改的商户依法处罚"),
    "违章建筑": ("依法拆除违章建筑", "恢复公共空间原貌", "加强巡查，防止新的违建出现"),
    "道路交通": ("尽快修复道路设施", "加强交通管理和违停执法", "增设警示标志", "彻底疏通排水管网"),
    "供水供电燃气": ("尽快恢复正常供应", "停水停电要提前通知", "彻底更换老化的管网和设备", "核实收费是否合理"),
    "园林绿化": ("安排园林部门及时修剪和养护", "恢复被破坏的绿地", "加强绿化管护"),
    "物业管理": ("督促物业公司履行职责", "公开物业收支明细", "对物业公司进行考核", "必要时更换物业公司"),
    "环境污染": ("依法查处污染行为", "督促安装油烟净化和废气处理设施", "加强环境监测", "公开检测结果"),
    NEW_LABEL: ("督促运营企业及时维修充电设施", "规范充电车位管理", "简化私人充电桩报装流程"),
}  # fmt: skip
PHONE_TITLES = ("{pn}{s}", "关于{pn}{s}的问题", "{pn}{s}问题", "{dn}{pn}{s}", "反映{pn}{s}", "{s}")
WEB_TITLES = (
    "{pn}{s}", "{pn}{s}，请尽快处理", "投诉{pn}{s}", "{pn}{s}问题何时能解决？", "强烈要求整治{pn}{s}",
    "{dn}{pn}{s}", "关于{pn}{s}的问题", "{s}，谁来管管？",
)  # fmt: skip
URGENT_TITLES = ("{pn}{s}", "紧急：{pn}{s}", "{dn}{pn}{s}", "{pn}{s}，请马上处理", "{s}")

# Target lengths in characters (before personal data is added) of each tier; operators write
# shorter than citizens do, and only citizens write the huge letters.
TIERS = {
    "phone": {"short": (28, 60), "medium": (65, 150), "long": (150, 260), "very_long": (260, 420)},
    "web": {"short": (28, 60), "medium": (70, 170), "long": (170, 340), "very_long": (340, 500),
            "huge": (530, 680)},
}  # fmt: skip
TIER_WEIGHTS = {
    "phone": {"short": 14, "medium": 50, "long": 30, "very_long": 6},
    "web": {"short": 10, "medium": 36, "long": 34, "very_long": 14, "huge": 6},
}


@dataclass
class Text:
    """A composed complaint: title, message body and the closing sentence (kept apart so that
    noise is applied to the body only and personal data goes between body and closing)."""

    title: str
    body: str
    closing: str
    style: str  # "phone" (operator transcript) or "web" (citizen's own message)


def _fill(template: str, slots: dict[str, str]) -> str:
    return template.format(**slots)


def _sentence(s: str) -> str:
    return s if s.endswith(("。", "！", "？", "，")) else s + "。"


class Composer:
    """Builds complaint texts from an :class:`Issue` and a :class:`Place`."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_label: dict[str, list[Issue]] = {}
        for issue in ISSUES:
            self.by_label.setdefault(issue.label, []).append(issue)

    def slots(self, issue: Issue, place: Place, spot: str) -> dict[str, str]:
        """Values for the template slots of one complaint."""
        rng = self.rng
        return {
            "p": spot,
            "pn": place.name,
            "dn": place.district,
            "sn": place.street,
            "d": rng.choice(DURATIONS),
            "t": rng.choice(issue.times),
            "n": str(rng.randint(3, 9)),
        }

    def compose(
        self,
        issue: Issue,
        place: Place,
        *,
        style: str | None = None,
        tier: str | None = None,
        what: Sequence[str] | None = None,
        cross: bool = False,
        focused: bool = False,
        urgent: bool = False,
    ) -> Text:
        """One complaint about ``issue`` at ``place``.

        ``what`` overrides the opening sentences (incident follow-ups); ``cross`` adds a
        sentence about another category's problem (an ambiguous case); ``focused`` keeps to
        the problem's own details (a sudden incident has no history and no side issues);
        ``urgent`` is a focused report of a danger.
        """
        rng = self.rng
        style = style or rng.choices(("phone", "web"), weights=(60, 40))[0]
        weights = TIER_WEIGHTS[style]
        tier = tier or rng.choices(list(weights), weights=list(weights.values()))[0]
        phone = style == "phone"
        where = place.full if phone else place.spot
        slots = self.slots(issue, place, where)
        focused = focused or urgent
        short = rng.choice(issue.short)
        titles = URGENT_TITLES if urgent else PHONE_TITLES if phone else WEB_TITLES
        title = _fill(rng.choice(titles), {**slots, "s": short})
        lo, hi = TIERS[style][tier]
        target = rng.randint(lo, hi)
        if tier == "short":
            if phone:
                opener, tail = rng.choice(PHONE_OPENERS), rng.choice(PHONE_CLOSINGS)
                if len(opener + where + short + tail) < lo:
                    opener = rng.choice([o for o in PHONE_OPENERS if o])
                return Text(title, f"{opener}{where}{short}，", tail, style)
            opener, tail = "", _fill(rng.choice(WEB_SHORT_TAILS), slots)
            if len(where + short + tail) < lo:
                where = place.full
            if len(where + short + tail) < lo:
                opener = rng.choice(("您好，", "你好，", "反映一下，"))
            return Text(title, f"{opener}{where}{short}，", tail, style)

        # Each section holds (sentence, separator after it).
        sections: dict[str, list[tuple[str, str]]] = {
            k: [] for k in ("intro", "background", "what", "more", "after")
        }
        sections["what"].append((_fill(rng.choice(what or issue.what), slots), rng.choice("，。")))
        candidates = self._candidates(issue, place, slots, phone, cross, focused)
        opener = rng.choice(PHONE_OPENERS) if phone else rng.choice(WEB_OPENERS)
        if not phone:
            resident = RESIDENT_INTROS if place.kind == "community" else ()
            intro = _fill(rng.choice(WEB_INTROS + resident), slots)
            if intro:
                sections["intro"].append((intro, ""))
        closing = rng.choice(PHONE_CLOSINGS) if phone else rng.choice(WEB_PLEAS)

        def render() -> str:
            pairs = [p for k in ("intro", "background", "what", "more", "after") for p in sections[k]]
            text = opener + "".join(s + sep for s, sep in pairs[:-1]) + _sentence(pairs[-1][0])
            return text.replace("，，", "，")

        for section, sentence in candidates:
            if len(render()) + len(closing) >= target:
                break
            # Details run on with a comma now and then; everything else ends its sentence.
            sep = rng.choice("，。。") if section == "more" else "。"
            sections[section].append((sentence, sep))
        return Text(title, render(), closing, style)

    def _candidates(
        self, issue: Issue, place: Place, slots: dict[str, str], phone: bool, cross: bool, focused: bool
    ) -> list[tuple[str, str]]:
        """Sentences that may be added to a complaint, in the order they are taken."""
        rng = self.rng
        details = [_fill(s, slots) for s in rng.sample(issue.details, len(issue.details))]
        impacts = [_fill(s, slots) for s in rng.sample(issue.impacts, len(issue.impacts))]
        if focused:
            return [("more", s) for s in details] + [("after", s) for s in impacts]
        out: list[tuple[str, str]] = []
        if cross:
            other = rng.choice([i for i in ISSUES if i.label != issue.label and place.kind in _kinds(i)])
            other_slots = {**slots, "p": place.name, "t": rng.choice(other.times)}
            joiner = rng.choice(("另外，", "此外，", "同时，"))
            out.append(("more", joiner + _fill(rng.choice(other.what), other_slots)))
        # Details first, then why it matters and what was tried, then everything else.
        out += [("more", s) for s in details[:2]]
        out.append(("after", impacts[0]))
        history = PHONE_HISTORY if phone else WEB_HISTORY
        out += [("after", _fill(s, slots)) for s in rng.sample(history, 2)]
        out += [("more", s) for s in details[2:]]
        if phone:
            out.append(("after", rng.choice(PHONE_NOTES)))
        else:
            out.append(("after", rng.choice(WEB_FEELINGS)))
            resident = RESIDENT_BACKGROUND if place.kind == "community" else ()
            out.append(("background", _fill(rng.choice(WEB_BACKGROUND + resident), slots)))
        demands = rng.sample(DEMANDS[issue.label], min(3, len(DEMANDS[issue.label])))
        if phone:
            out.append(("after", "来电人建议" + "，".join(demands[:2])))
        else:
            numbered = "；".join(f"{n}是{d}" for n, d in zip("一二三", demands, strict=False))
            out.append(("after", f"具体建议如下：{numbered}"))
        out += [("after", s) for s in impacts[1:]]
        narrative = PHONE_NARRATIVE if phone else WEB_NARRATIVE
        out += [("after", s) for s in rng.sample(narrative, 2 if phone else len(narrative))]
        # Long letters go on to related problems at the same place.
        siblings = [
            i for i in self.by_label.get(issue.label, []) if i.key != issue.key and place.kind in _kinds(i)
        ]
        for sib in rng.sample(siblings, min(3, len(siblings))):
            sib_slots = {**slots, "p": place.name, "t": rng.choice(sib.times)}
            out.append(
                (
                    "more",
                    rng.choice(("另外，", "还有，", "除此之外，")) + _fill(rng.choice(sib.what), sib_slots),
                )
            )
            out += [("more", _fill(s, sib_slots)) for s in rng.sample(sib.details, 2)]
        if not phone:
            out.append(("after", rng.choice([f for f in WEB_FEELINGS if f not in {s for _, s in out}])))
        return out


def _kinds(issue: Issue) -> set[str]:
    return {w.partition(":")[0] for w in issue.where}


# ---------------------------------------------------------------------------------------------
# Personal data (all random; checksums valid where the real thing has one)
# ---------------------------------------------------------------------------------------------

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O on mainland plates
PLATE_PROVINCES = "浙苏皖赣闽沪"
MOBILE_PREFIXES = (
    "130",
    "133",
    "135",
    "136",
    "138",
    "139",
    "150",
    "152",
    "158",
    "159",
    "177",
    "181",
    "186",
    "189",
    "199",
)
AREA_CODES = ("0575", "0576", "0578")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")  # reserved for examples (RFC 2606)
SYLLABLES = (
    "zhang",
    "wang",
    "li",
    "liu",
    "chen",
    "yang",
    "hua",
    "ming",
    "xiao",
    "jun",
    "lan",
    "jiang",
    "yun",
)


@dataclass(frozen=True)
class PII:
    """One planted item of personal data: its kind (as ``nlp.pii`` names them) and its text."""

    kind: str
    value: str


def resident_id(rng: random.Random) -> str:
    """A random 18-character resident ID number with a valid ISO 7064 MOD 11-2 check character."""
    region = f"{rng.randint(1, 6)}{rng.randint(0, 99999):05d}"
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 20000))
    body = f"{region}{birth:%Y%m%d}{rng.randint(0, 999):03d}"
    return body + ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def luhn_complete(digits: str) -> str:
    """``digits`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # every second digit from the right, counting the check digit to come
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


def bank_card(rng: random.Random) -> str:
    """A random Luhn-valid 16- or 19-digit card number, sometimes grouped in fours."""
    length = rng.choice((16, 19))
    number = luhn_complete("62" + "".join(str(rng.randint(0, 9)) for _ in range(length - 3)))
    if rng.random() < 0.4:
        return " ".join(number[i : i + 4] for i in range(0, length, 4))
    return number


def mobile(rng: random.Random) -> str:
    """A random mobile number, written plain, spaced, dashed or with +86."""
    number = rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"
    form = rng.choices(("plain", "space", "dash", "+86", "+86 "), weights=(6, 1, 1, 1, 1))[0]
    if form == "space":
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if form == "dash":
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if form == "+86":
        return "+86" + number
    if form == "+86 ":
        return "+86 " + number
    return number


def landline(rng: random.Random) -> str:
    """A random landline number with area code (``0575-87654321`` or ``(0575)87654321``)."""
    number = f"{rng.randint(2, 8)}{rng.randint(0, 9_999_999):07d}"
    code = rng.choice(AREA_CODES)
    return rng.choice((f"{code}-{number}", f"({code}){number}", f"{code}-{number}"))


def plate(rng: random.Random) -> str:
    """A random mainland licence plate (``浙A·12345``, ``苏E12345``, new-energy ``浙AD12345``)."""
    head = rng.choice(PLATE_PROVINCES) + rng.choice(PLATE_LETTERS[:8])
    if rng.random() < 0.15:
        tail = rng.choice("DF") + f"{rng.randint(0, 99999):05d}"
    else:
        chars = [str(rng.randint(0, 9)) for _ in range(5)]
        if rng.random() < 0.4:
            chars[rng.randint(0, 2)] = rng.choice(PLATE_LETTERS)
        tail = "".join(chars)
    return head + rng.choice(("·", "", "")) + tail


def email(rng: random.Random) -> str:
    """A random e-mail address at a domain reserved for examples."""
    local = "".join(rng.sample(SYLLABLES, 2)) + rng.choice(("", str(rng.randint(1, 99)), "_lj"))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


PII_MAKERS = {
    "mobile": mobile, "landline": landline, "id_card": resident_id, "plate": plate,
    "email": email, "bank_card": bank_card,
}  # fmt: skip
PII_WEIGHTS = {"mobile": 36, "landline": 14, "id_card": 16, "plate": 20, "email": 9, "bank_card": 24}
# How callers give each kind, phone transcripts first, then web messages.
PII_PHRASES = {
    "mobile": (("来电人联系电话：{v}。", "来电人留下手机号{v}，要求处理后回电。", "联系方式{v}。"),
               ("我的电话是{v}，", "手机号{v}，有问题可以联系我。", "如需了解情况请拨打{v}。")),
    "landline": (("来电人留下座机号码{v}。", "联系电话：{v}。"),
                 ("我家座机{v}，", "可以打我单位电话{v}。")),
    "id_card": (("来电人提供身份证号码{v}，要求登记。", "来电人要求实名登记，身份证号{v}。"),
                ("本人实名反映，身份证号码{v}，", "实名反映，身份证号{v}。")),
    "plate": (("涉事车辆车牌号为{v}。", "来电人称现场有一辆车牌为{v}的车辆。"),
              ("其中一辆车牌是{v}的车最过分，", "我拍到了车牌号{v}，")),
    "email": (("来电人要求将处理结果发送至邮箱{v}。",),
              ("处理结果请发到我的邮箱{v}，", "我的邮箱是{v}，欢迎联系。")),
    "bank_card": (("来电人要求将多收的费用退至其银行卡{v}。",),
                  ("多收的钱请退到我的银行卡，卡号{v}，", "押金请退回本人银行卡{v}。")),
}  # fmt: skip


# Kinds that only make sense in some categories (refunds, vehicles); the others go anywhere.
PII_LABELS = {
    "bank_card": ("物业管理", "供水供电燃气", NEW_LABEL),
    "plate": ("道路交通", "市容环卫", "占道经营", "物业管理", "噪音扰民", "违章建筑", "环境污染", NEW_LABEL),
}


def pii_sentence(rng: random.Random, style: str, label: str) -> tuple[str, list[PII]]:
    """A sentence giving one (now and then two) items of personal data fitting the category."""
    kinds = [k for k in PII_WEIGHTS if label in PII_LABELS.get(k, (label,))]
    items: list[PII] = []
    parts: list[str] = []
    for _ in range(2 if rng.random() < 0.12 else 1):
        left = [k for k in kinds if k not in {i.kind for i in items}]
        kind = rng.choices(left, weights=[PII_WEIGHTS[k] for k in left])[0]
        value = PII_MAKERS[kind](rng)
        phrases = PII_PHRASES[kind][0 if style == "phone" else 1]
        parts.append(rng.choice(phrases).format(v=value))
        items.append(PII(kind, value))
    return "".join(parts), items


# ---------------------------------------------------------------------------------------------
# Export noise
# ---------------------------------------------------------------------------------------------

ZERO_WIDTH = "\u200b"
TRADITIONAL = str.maketrans(
    "扰问题处这们时间说后楼区门车来电话没环为对发现还", "擾問題處這們時間說後樓區門車來電話沒環為對發現還"
)
NOISE_KINDS = {"html": 3, "fullwidth": 2, "whitespace": 2, "zero_width": 2}  # relative frequency


def _to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def add_noise(text: str, kind: str, rng: random.Random) -> str:
    """``text`` with one kind of the debris real exports carry."""
    if kind == "html":
        text = text.replace("。", "。<br>", rng.randint(1, 3))
        return rng.choice(("&nbsp;&nbsp;", "<p>", "")) + text.replace("，", "，&nbsp;", 1)
    if kind == "fullwidth":
        return _to_fullwidth(text)
    if kind == "whitespace":
        runs = ("\n\n", "\t\t", "\r\n\r\n", " \n\t ", "\n   \n")
        return text.replace("。", "。" + rng.choice(runs), rng.randint(1, 2)) + rng.choice(("\n", "\t", ""))
    if kind == "zero_width":
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            chars.insert(rng.randint(1, len(chars) - 1), ZERO_WIDTH)
        return "".join(chars)
    if kind == "traditional":
        return text.translate(TRADITIONAL)
    raise ValueError(f"unknown noise kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# Time: weekly and daily cycles, holidays, trend
# ---------------------------------------------------------------------------------------------

WEEKDAY_FACTOR = (1.45, 1.1, 1.0, 1.0, 0.95, 0.6, 0.55)  # Monday .. Sunday
HOLIDAY_FACTOR = 0.45
AFTER_HOLIDAY_FACTOR = 1.3
TREND = 0.25  # the last day sees 25 % more calls than the first
# Relative call volume by month for categories with a season (summer nights, plum rains).
SEASON = {
    "噪音扰民": {7: 1.25, 8: 1.3}, "园林绿化": {6: 1.3, 7: 1.2}, "供水供电燃气": {7: 1.3, 8: 1.3},
    "道路交通": {6: 1.25}, "环境污染": {5: 1.2},
}  # fmt: skip
# Hour-of-day weights, 0 h .. 23 h: office hours peak; night-noise calls peak late evening.
DAY_HOURS = (0.4, 0.2, 0.1, 0.1, 0.1, 0.3, 1, 3, 6, 8, 8, 7, 5, 5, 7, 7, 6, 5, 4, 4, 4, 3, 2, 1)
NIGHT_HOURS = (4, 2, 1, 0.5, 0.2, 0.2, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 7)
NIGHT_SHARE = {"噪音扰民": 0.6, "环境污染": 0.2}


def days(start: dt.date = START, end: dt.date = END) -> list[dt.date]:
    """Every day from ``start`` to ``end`` inclusive."""
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _named_holiday(day: dt.date) -> bool:
    on_holiday, name = chinese_calendar.get_holiday_detail(day)
    return bool(on_holiday and name)


def day_weight(day: dt.date, start: dt.date = START, end: dt.date = END) -> float:
    """Relative call volume of a day: weekday cycle, statutory holidays (and the make-up
    working days and the busy first day after them, from ``chinese_calendar``), linear trend."""
    if _named_holiday(day):
        w = HOLIDAY_FACTOR
    elif day.weekday() >= 5 and chinese_calendar.is_workday(day):  # make-up working Saturday
        w = WEEKDAY_FACTOR[1]
    else:
        w = WEEKDAY_FACTOR[day.weekday()]
        if _named_holiday(day - dt.timedelta(days=1)) and chinese_calendar.is_workday(day):
            w *= AFTER_HOLIDAY_FACTOR
    return w * (1 + TREND * (day - start).days / max(1, (end - start).days))


def spread(rng: random.Random, period: Sequence[dt.date], weights: Sequence[float], n: int) -> list[dt.date]:
    """``n`` days drawn in proportion to ``weights`` by systematic sampling: the counts follow the
    weights closely (so weekly and holiday patterns show even in a small log) yet vary by run."""
    total = sum(weights)
    step = total / n
    point = rng.uniform(0, step)
    out: list[dt.date] = []
    cum = 0.0
    for day, w in zip(period, weights, strict=True):
        cum += w
        while point < cum and len(out) < n:
            out.append(day)
            point += step
    return out


def random_time(rng: random.Random, day: dt.date, hours: Sequence[float] = DAY_HOURS) -> dt.datetime:
    """A moment of ``day`` drawn from an hour-of-day profile."""
    hour = rng.choices(range(24), weights=hours)[0]
    return dt.datetime.combine(day, dt.time(hour, rng.randint(0, 59), rng.randint(0, 59)))


# Median hours to a reply per category (lognormal around it); urgent cases are answered fast.
REPLY_HOURS = {
    "供水供电燃气": 20, "道路交通": 60, "市容环卫": 40, "噪音扰民": 70, "占道经营": 70, "违章建筑": 220,
    "园林绿化": 110, "物业管理": 120, "环境污染": 140, NEW_LABEL: 100,
}  # fmt: skip


def reply_time(rng: random.Random, label: str, urgency: str, time: dt.datetime) -> dt.datetime:
    """When the government replies: hours to about 20 days, faster for urgent cases; ordinary
    replies are written in office hours."""
    if urgency == URGENT:
        hours = min(24.0, max(0.5, 3 * rng.lognormvariate(0, 0.6)))
        return time + dt.timedelta(seconds=round(hours * 3600))
    median = REPLY_HOURS.get(label, 80) * (0.5 if urgency == PRESSING else 1.0)
    hours = min(480.0, max(2.0, median * rng.lognormvariate(0, 0.8)))
    reply = time + dt.timedelta(seconds=round(hours * 3600))
    if reply.hour < 8:
        reply = reply.replace(hour=rng.randint(8, 10))
    elif reply.hour >= 20:
        reply = (reply + dt.timedelta(days=1)).replace(hour=rng.randint(8, 11))
    return reply


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One complaint. ``body``, ``pii_text`` and ``closing`` make up ``text``."""

    time: dt.datetime
    title: str
    body: str
    closing: str
    style: str
    district: str
    street: str
    label: str
    urgency: str
    caller: str = ""
    pii_text: str = ""
    pii: list[PII] = field(default_factory=list)
    reply: dt.datetime | None = None
    likes: int = 0
    group: str = ""  # the incident this row belongs to, if any
    noise: str = ""
    id: str = ""

    @property
    def text(self) -> str:
        return self.body + self.pii_text + self.closing

    @property
    def status(self) -> str:
        return DONE if self.reply is not None else OPEN


def _hours_for(rng: random.Random, label: str) -> Sequence[float]:
    return NIGHT_HOURS if rng.random() < NIGHT_SHARE.get(label, 0.0) else DAY_HOURS


def _likes(rng: random.Random, style: str) -> int:
    """Likes of an ordinary complaint: web messages collect a few, now and then very many."""
    if style == "phone":
        return 0 if rng.random() < 0.8 else rng.randint(1, 3)
    return min(500, int(rng.paretovariate(1.2)) - 1)


class LogBuilder:
    """Builds the rows of a synthetic complaint log."""

    def __init__(self, rng: random.Random, gazetteer: dict) -> None:
        self.rng = rng
        self.places = PlacePicker(gazetteer, rng)
        self.composer = Composer(rng)
        self.callers: dict[str, None] = {}  # ids handed out so far (a dict keeps them ordered)

    @staticmethod
    def _row(issue: Issue, place: Place, time: dt.datetime, urgency: str, text: Text) -> Row:
        return Row(
            time,
            text.title,
            text.body,
            text.closing,
            text.style,
            place.district,
            place.street,
            issue.label,
            urgency,
        )

    def _urgency(self, issue: Issue) -> str:
        r = self.rng.random()
        return PRESSING if r < issue.pressing or r > 0.97 else NORMAL

    def background(
        self, quota: dict[str, int], period: Sequence[dt.date], issues: dict[str, list[Issue]] | None = None
    ) -> list[Row]:
        """Ordinary complaints: ``quota[label]`` rows per category over ``period``."""
        rng = self.rng
        rows = []
        for label, n in quota.items():
            weights = [
                day_weight(d, period[0], period[-1]) * SEASON.get(label, {}).get(d.month, 1.0) for d in period
            ]
            for day in spread(rng, period, weights, n):
                issue = rng.choice((issues or self.composer.by_label)[label])
                place = self.places.pick(issue.where)
                time = random_time(rng, day, _hours_for(rng, label))
                text = self.composer.compose(issue, place, cross=rng.random() < 0.1)
                rows.append(self._row(issue, place, time, self._urgency(issue), text))
        return rows

    def urgent(self) -> list[Row]:
        """The urgent cases (紧急): gas leaks, live wires, fire hazards, collapses, floods, injuries."""
        rng = self.rng
        period = days()
        weights = [day_weight(d) for d in period]
        rows = []
        for issue, n, dates in URGENT_CASES:
            for k in range(n):
                day = (
                    dt.date.fromisoformat(dates[k % len(dates)]) if dates else rng.choices(period, weights)[0]
                )
                place = self.places.pick(issue.where)
                time = random_time(rng, day)
                text = self.composer.compose(issue, place, tier=rng.choice(("medium", "long")), urgent=True)
                rows.append(self._row(issue, place, time, URGENT, text))
        return rows

    def incident(self, inc: Incident) -> list[Row]:
        """The complaints about one incident (the surge or a small cluster)."""
        rng = self.rng
        rows: list[Row] = []
        first_day = inc.schedule[0][0]
        for date, n, (h0, h1) in inc.schedule:
            hours = list(range(h0, h1 + 1))
            for _ in range(n):
                # Calls come in fastest right after the incident starts, then taper off.
                hour = rng.choices(hours, weights=[1 / (1 + 0.15 * i) for i in range(len(hours))])[0]
                day = dt.date.fromisoformat(date) + dt.timedelta(days=hour // 24)
                time = dt.datetime.combine(day, dt.time(hour % 24, rng.randint(0, 59), rng.randint(0, 59)))
                place = Place(inc.district, inc.street, "road", inc.name, rng.choice(inc.spots))
                what = inc.issue.what if date == first_day else inc.later
                text = self.composer.compose(
                    inc.issue, place, tier=rng.choice(inc.tiers), what=what, focused=True
                )
                row = self._row(inc.issue, place, time, self._urgency(inc.issue), text)
                row.group = inc.key
                rows.append(row)
        rows.sort(key=lambda r: r.time)
        first = [r for r in rows if r.time.date().isoformat() == first_day]
        picked = rng.sample(first, len(inc.urgent) + (inc.alt[2] if inc.alt else 0))
        for row, what in zip(picked, inc.urgent, strict=False):
            row.urgency = URGENT
            self._rewrite(row, inc, inc.issue, what=(what,))
        if inc.alt:
            alt_label, alt_what, _ = inc.alt
            alt_issue = dataclasses.replace(inc.issue, label=alt_label, what=alt_what)
            for row in picked[len(inc.urgent) :]:
                self._rewrite(row, inc, alt_issue, what=alt_what)
                row.label = alt_label
        caller = ""
        for i, row in enumerate(rows):
            if i < inc.same_caller:
                caller = caller or self.new_caller()
                row.caller = caller
            lo, hi = inc.likes
            row.likes = rng.randint(lo, hi) if row.style == "web" else rng.randint(0, lo)
        return rows

    def _rewrite(self, row: Row, inc: Incident, issue: Issue, what: Sequence[str]) -> None:
        place = Place(inc.district, inc.street, "road", inc.name, self.rng.choice(inc.spots))
        text = self.composer.compose(
            issue,
            place,
            style=row.style,
            tier="medium",
            what=what,
            focused=True,
            urgent=row.urgency == URGENT,
        )
        row.title, row.body, row.closing = text.title, text.body, text.closing

    # -- callers, replies, personal data, noise -------------------------------------------

    def new_caller(self) -> str:
        """A pseudonymous caller id not used before (``C000123``)."""
        while True:
            caller = f"C{self.rng.randint(1, 999_999):06d}"
            if caller not in self.callers:
                self.callers[caller] = None
                return caller

    def assign_callers(self, rows: Sequence[Row], repeat: float = 0.08) -> None:
        """Give every row without one a caller. Some people call again about their district;
        the complaints about one incident come from different people (unless planted otherwise)."""
        rng = self.rng
        seen: dict[str, list[str]] = {}
        for row in rows:
            if row.caller:
                continue
            earlier = seen.get(row.district, [])
            if not row.group and earlier and rng.random() < repeat:
                row.caller = rng.choice(earlier)
            else:
                row.caller = self.new_caller()
            if not row.group:
                seen.setdefault(row.district, []).append(row.caller)

    def finish(self, rows: Sequence[Row], export_time: dt.datetime, pii_share: float = 0.15) -> None:
        """Replies, status, likes, planted personal data and export noise for every row."""
        rng = self.rng
        for row in rows:
            incident = INCIDENTS.get(row.group)
            if incident is not None and incident.replied and row.urgency != URGENT:
                # One answer for everyone, once the incident was over.
                row.reply = max(
                    dt.datetime.fromisoformat(incident.replied) + dt.timedelta(minutes=rng.randint(0, 180)),
                    row.time + dt.timedelta(minutes=rng.randint(120, 960)),
                )
            else:
                row.reply = reply_time(rng, row.label, row.urgency, row.time)
            if row.reply > export_time:
                row.reply = None
            if not row.group:
                row.likes = _likes(rng, row.style)
            if rng.random() < pii_share:
                row.pii_text, row.pii = pii_sentence(rng, row.style, row.label)
            if rng.random() < 0.17:
                kinds = [k for k in NOISE_KINDS if k != "html" or row.style == "web"]  # web forms only
                row.noise = rng.choices(kinds, weights=[NOISE_KINDS[k] for k in kinds])[0]
                row.body = add_noise(row.body, row.noise, rng)
            if rng.random() < 0.04:
                row.street = ""  # the operator left it blank


@dataclass
class SampleLog:
    """The generated complaint log and the newly labelled rows for the retraining example."""

    rows: list[Row]
    new_rows: list[Row]


def _assign_ids(rows: Sequence[Row]) -> None:
    """Ticket numbers ``LJ`` + date + running number of the day, in time order."""
    per_day: dict[dt.date, int] = {}
    for row in rows:
        n = per_day[row.time.date()] = per_day.get(row.time.date(), 0) + 1
        row.id = f"LJ{row.time:%Y%m%d}{n:04d}"


def _sort(rows: list[Row]) -> None:
    rows.sort(key=lambda r: (r.time, r.title, r.body))


# Rare noise that must be in the log, and which rows it fits: two messages typed in traditional
# characters (one of them 噪音擾民) and one with full-width latin letters (Ａ区, ＫＴＶ).
PLANTED_NOISE: tuple[tuple[str, Callable[[Row], bool]], ...] = (
    ("traditional", lambda r: r.label == "噪音扰民" and "噪音扰民" in r.body),
    ("traditional", lambda r: r.style == "web" and r.label != "噪音扰民"),
    ("fullwidth", lambda r: any(c.isascii() and c.isalpha() for c in r.body)),
)


def _plant_noise(rows: Sequence[Row], rng: random.Random) -> None:
    """Add the noise of PLANTED_NOISE to rows that carry none yet (incident rows excepted)."""
    for kind, fits in PLANTED_NOISE:
        row = rng.choice([r for r in rows if not r.noise and not r.group and fits(r)])
        row.noise = kind
        row.body = add_noise(row.body, kind, rng)


def build(seed: int = DEFAULT_SEED, gazetteer: dict | None = None) -> SampleLog:
    """Generate the sample log and the retraining rows; depends only on ``seed``."""
    rng = random.Random(seed)
    builder = LogBuilder(rng, gazetteer or load_gazetteer())
    rows = builder.background(BACKGROUND_QUOTA, days())
    rows += builder.urgent()
    for incident in INCIDENTS.values():
        rows += builder.incident(incident)
    _sort(rows)
    builder.assign_callers(rows)
    builder.finish(rows, EXPORT_TIME)
    _plant_noise(rows, rng)
    _assign_ids(rows)

    # Newly labelled rows (first half of September): every old category, a new one, and the
    # renamed category under its new name.
    period = days(END + dt.timedelta(days=1), END + dt.timedelta(days=14))
    quota = {label: 7 if i < 2 else 6 for i, label in enumerate(LABELS)}
    quota[NEW_LABEL] = 24
    new_rows = builder.background(quota, period, {**builder.composer.by_label, NEW_LABEL: list(NEW_ISSUES)})
    _sort(new_rows)
    builder.assign_callers(new_rows)
    builder.finish(new_rows, dt.datetime.combine(period[-1] + dt.timedelta(days=1), dt.time()))
    for row in new_rows:
        if row.label == RENAMED_LABEL[0]:
            row.label = RENAMED_LABEL[1]
    _assign_ids(new_rows)
    return SampleLog(rows, new_rows)


# ---------------------------------------------------------------------------------------------
# Writing the files
# ---------------------------------------------------------------------------------------------


def _iso(t: dt.datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else ""


def _gov_time(t: dt.datetime | None) -> str:
    """The time format of government exports and Excel: ``2026/5/3 14:05``."""
    return f"{t.year}/{t.month}/{t.day} {t:%H:%M}" if t else ""


def _record(row: Row) -> dict[str, object]:
    return {
        "id": row.id, "time": _iso(row.time), "caller": row.caller, "title": row.title, "text": row.text,
        "district": row.district, "street": row.street, "label": row.label, "urgency": row.urgency,
        "reply_time": _iso(row.reply) or None, "status": row.status, "likes": row.likes,
    }  # fmt: skip


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]], lineterminator: str = "\n") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _csv_values(row: Row) -> list[object]:
    return ["" if v is None else v for v in _record(row).values()]


def complaints_csv(rows: Sequence[Row]) -> str:
    """The log as CSV with the canonical English headers."""
    return _csv_text(COLUMNS, [_csv_values(r) for r in rows])


def complaints_jsonl(rows: Sequence[Row]) -> str:
    """The log as JSON lines (``reply_time`` is null while a case is open)."""
    return "".join(json.dumps(_record(r), ensure_ascii=False) + "\n" for r in rows)


def gbk_safe(text: str) -> str:
    """``text`` with every character GBK cannot encode dropped (zero-width) or replaced."""
    out = []
    for ch in text:
        if ch == ZERO_WIDTH:
            continue
        try:
            ch.encode("gbk")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def complaints_gbk(rows: Sequence[Row]) -> bytes:
    """A government-system export: Chinese headers, ``2026/5/3 14:05`` times, CRLF, GBK bytes."""
    values = [
        [
            r.id,
            _gov_time(r.time),
            r.caller,
            r.title,
            r.text,
            r.district,
            r.street,
            r.label,
            r.urgency,
            _gov_time(r.reply),
            r.status,
            r.likes,
        ]
        for r in rows
    ]
    text = _csv_text(GBK_HEADERS, [[gbk_safe(str(v)) for v in row] for row in values], "\r\n")
    return text.encode("gbk")


# The malformed log: (data row, what is wrong, the reason ingest gives) for rows it rejects.
MALFORMED_REJECTS = (
    (4, "text is empty", "empty text"),
    (6, "text is only whitespace", "empty text"),
    (8, "time 昨天下午", "unparseable time"),
    (10, "time 2026-13-45", "unparseable time"),
    (12, "13 fields (an unquoted comma in the text)", "expected 12 fields"),
    (14, "9 fields (the last three are missing)", "expected 12 fields"),
    (16, "label is empty (rejected only when a label is required, e.g. for training)", "empty label"),
    (20, "unclosed quote: swallows the rest of the file", "malformed CSV"),
)


def complaints_malformed(rows: Sequence[Row]) -> str:
    """Twenty rows with the faults of real exports; see MALFORMED_REJECTS for which and where."""
    good = [_csv_values(r) for r in rows]
    lines = _csv_text(COLUMNS, []).splitlines()
    body: list[list[object]] = []
    for i, values in enumerate(good[:19], start=1):
        v = list(values)
        if i == 4:
            v[4] = ""
        elif i == 6:
            v[4] = "  \t  "
        elif i == 8:
            v[1] = "昨天下午"
        elif i == 10:
            v[1] = "2026-13-45 10:00:00"
        elif i == 16:
            v[7] = ""
        elif i == 18:
            t = rows[i - 1].time
            v[1] = f"{t.year}年{t.month}月{t.day}日 {t.hour}时{t.minute}分"  # unusual but valid
        body.append(v)
    for i, v in enumerate(body, start=1):
        if i == 12:  # an unquoted comma in the text makes one field too many
            text = str(v[4]).replace("\n", " ").replace('"', "")
            cut = max(1, len(text) // 2)
            raw = [*map(str, v[:4]), text[:cut], text[cut:], *map(str, v[5:])]
            lines.append(",".join(x.replace(",", "，") for x in raw))
        elif i == 14:  # the line was cut short
            lines.append(_csv_text([str(x) for x in v[:9]], []).rstrip("\n"))
        else:
            lines.append(_csv_text([str(x) for x in v], []).rstrip("\n"))
    last = good[19]
    text = str(last[4]).replace('"', "").replace("\n", " ")
    lines.append(",".join([str(x) for x in last[:4]] + [f'"{text}', *[str(x) for x in last[5:]]]))
    return "\n".join(lines) + "\n"


def new_labels_csv(rows: Sequence[Row]) -> str:
    """Newly labelled rows for the retraining example (same columns as complaints.csv)."""
    return complaints_csv(rows)


def label_mapping_csv() -> str:
    """How the old label set maps onto the new one (a rename)."""
    return _csv_text(("old", "new"), [RENAMED_LABEL])


# ---------------------------------------------------------------------------------------------
# jieba user dictionary
# ---------------------------------------------------------------------------------------------

# City-management vocabulary that jieba's general dictionary splits. (word, part of speech):
# n noun, vn verbal noun, v verb, nz other proper noun, l fixed expression.
TERMS: tuple[tuple[str, str], ...] = tuple(
    (w, pos)
    for pos, words in (
        (
            "vn",
            "占道经营 噪音扰民 油烟扰民 垃圾清运 夜间施工 电动车充电 飞线充电 违章停车 乱停乱放 "
            "乱堆乱放 乱倒垃圾 乱张贴 乱涂乱画 私搭乱建 毁绿种菜 露天焚烧 焚烧秸秆 污水直排 油烟直排 "
            "偷排 撒漏 抛洒 出店经营 店外经营 违规装修 装修噪音 施工噪音 高空抛物 非法营运 无证经营 "
            "拆违 垃圾分类 道路清扫 停水 停电 爆管 抢修 抄表 返水 漏电 燃气泄漏 路面塌陷 树木倒伏 "
            "电梯困人 电梯故障 回访 办结 扰民",
        ),
        (
            "n",
            "违章建筑 违法建设 渣土车 渣土 井盖 窨井盖 窨井 路灯不亮 积水 内涝 物业费 共享单车 流动摊贩 "
            "广场舞 化粪池 二次供水 垃圾中转站 垃圾收集点 垃圾桶 厨余垃圾 建筑垃圾 装修垃圾 生活垃圾 "
            "小广告 牛皮癣 公厕 公共厕所 环卫工人 果皮箱 洒水车 扬尘 裸土 雾炮机 洗车池 施工围挡 "
            "夜间施工许可 打桩机 破碎锤 混凝土 泵车 罐车 高音喇叭 空调外机 冷却塔 水泵房 排风机 "
            "噪音污染 马路市场 夜市 烧烤摊 夜宵摊 早市 菜贩 摊贩 摊点 城管 城管局 综合执法 执法队 "
            "彩钢房 阳光房 铁皮棚 雨棚 违建 坑洼 沥青路面 雨水篦子 排水管网 下水道 路灯 灯杆 红绿灯 "
            "信号灯 黄灯闪烁 违停 消防通道 盲道 人行道 双排停车 停车位 电动车 电动自行车 充电桩 "
            "水压 水质 自来水 供水管道 供水主管 电压不稳 变压器 供电所 电线裸露 配电箱 燃气 天然气 "
            "燃气管道 燃气报警器 煤气罐 燃气费 水费 电费 水表 电表 绿化带 行道树 断枝 病虫害 "
            "毛毛虫 草坪 公共绿地 健身器材 物业公司 物业服务 业主大会 业委会 维修基金 专项维修资金 "
            "门禁 地下车库 楼道 堆放杂物 火灾隐患 消防栓 污水外溢 油烟 油烟净化器 废气 排污口 "
            "黑臭水体 河道 异味 砂石场 搅拌站 市民热线 来电人 工单 诉求 安全隐患 新能源汽车 "
            "充电车位 快充桩 噪声 群租房 黑车 工地 广场舞噪音 消防安全 管廊 综合管廊",
        ),
        ("nz", "12345热线 12345"),
        ("l", "占道摆摊 乱搭乱建 噪音超标 停水停电"),
    )
    for w in words.split()
)
TERM_FREQ = 2000


def userdict_text(gazetteer: dict) -> str:
    """The jieba user dictionary: terms, category names, then every gazetteer name and alias.

    One ``word freq pos`` per line; place names are ``ns``. A word appears once (first wins).
    """
    entries: dict[str, tuple[int, str]] = {}
    for word, pos in TERMS:
        entries.setdefault(word, (TERM_FREQ, pos))
    for label in (*LABELS, NEW_LABEL, RENAMED_LABEL[1]):
        entries.setdefault(label, (TERM_FREQ, "nz"))
    for name in gazetteer_names(gazetteer):
        # Short aliases (江北, 南门) are ordinary words too: a lower frequency keeps them from
        # swallowing their neighbours.
        entries.setdefault(name, (3000 if len(name) >= 3 else 800, "ns"))
    return "".join(f"{w} {freq} {pos}\n" for w, (freq, pos) in entries.items())


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def gbk_subset(rows: Sequence[Row], n: int = GBK_ROWS) -> list[Row]:
    """``n`` rows spread evenly over the log (the surge included)."""
    return [rows[i * len(rows) // n] for i in range(n)]


def malformed_source(rows: Sequence[Row]) -> list[Row]:
    """The 20 rows the malformed log is made from: the first ones without export noise."""
    return [r for r in rows if not r.noise][:20]


def manifest(log: SampleLog, seed: int) -> dict[str, object]:
    """What was planted where, for tests of event detection, PII masking and error handling."""
    rows = log.rows
    by_caller: dict[str, list[str]] = {}
    for r in rows:
        by_caller.setdefault(r.caller, []).append(r.id)
    labels: dict[str, int] = {}
    for r in rows:
        labels[r.label] = labels.get(r.label, 0) + 1

    def incident(inc: Incident) -> dict[str, object]:
        members = [r for r in rows if r.group == inc.key]
        return {
            "key": inc.key,
            "labels": sorted({r.label for r in members}),
            "district": inc.district,
            "street": inc.street,
            "place": inc.name,
            "spots": list(inc.spots),
            "dates": sorted({r.time.date().isoformat() for r in members}),
            "ids": [r.id for r in members],
            "callers": sorted({r.caller for r in members}),
        }

    noise: dict[str, list[str]] = {}
    for r in rows:
        if r.noise:
            noise.setdefault(r.noise, []).append(r.id)
    return {
        "synthetic": True,
        "note": "All data invented by data/make_samples.py; the city and every person are fictional.",
        "seed": seed,
        "period": {"start": START.isoformat(), "end": END.isoformat(), "export_time": _iso(EXPORT_TIME)},
        "rows": len(rows),
        "labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        "surge": incident(SURGE),
        "clusters": [incident(c) for c in CLUSTERS],
        "urgent_ids": [r.id for r in rows if r.urgency == URGENT],
        "repeat_callers": {c: ids for c, ids in sorted(by_caller.items()) if len(ids) > 1},
        "pii": [{"id": r.id, "kind": p.kind, "value": p.value} for r in rows for p in r.pii],
        "noise": dict(sorted(noise.items())),
        "malformed_rejects": [
            {"row": row, "problem": problem, "reason": reason} for row, problem, reason in MALFORMED_REJECTS
        ],
        "new_labels": {"renamed": {RENAMED_LABEL[0]: RENAMED_LABEL[1]}, "new_category": NEW_LABEL},
    }


def generate(out_dir: Path, userdict: Path | None = None, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every sample file into ``out_dir`` (and the jieba dictionary to ``userdict``)."""
    gazetteer = load_gazetteer()
    log = build(seed, gazetteer)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "complaints.csv": complaints_csv(log.rows).encode("utf-8"),
        "complaints.jsonl": complaints_jsonl(log.rows).encode("utf-8"),
        "complaints_gbk.csv": complaints_gbk(gbk_subset(log.rows)),
        "complaints_malformed.csv": complaints_malformed(malformed_source(log.rows)).encode("utf-8"),
        "new_labels.csv": new_labels_csv(log.new_rows).encode("utf-8"),
        "label_mapping.csv": label_mapping_csv().encode("utf-8"),
        "manifest.json": (json.dumps(manifest(log, seed), ensure_ascii=False, indent=1) + "\n").encode(
            "utf-8"
        ),
    }
    written = []
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
        written.append(out_dir / name)
    if userdict is not None:
        userdict.parent.mkdir(parents=True, exist_ok=True)
        userdict.write_bytes(userdict_text(gazetteer).encode("utf-8"))
        written.append(userdict)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python data/make_samples.py [--out DIR] [--userdict PATH] [--seed N]``."""
    parser = argparse.ArgumentParser(description="Generate hotline's synthetic sample data.")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "samples", help="sample directory")
    parser.add_argument(
        "--userdict",
        type=Path,
        default=None,
        help="where to write the jieba user dictionary (default: data/userdict.txt, or "
        "DIR/../userdict.txt when --out is given)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    userdict = args.userdict or args.out.parent / "userdict.txt"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in generate(args.out, userdict, args.seed):
        logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
