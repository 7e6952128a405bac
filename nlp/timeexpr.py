"""Time mentions in complaint text, resolved against the complaint's own timestamp.

Citizens say *when* in relative terms: 昨晚十点, 今天凌晨, 上周五, 3月5日起, 半个月来, 连续三天,
每天凌晨两点. :func:`extract_times` finds these and, given the time the complaint was made
(``ref``), turns each into an absolute point or range:

* ``point``: a day or a moment (昨晚十点 -> ref's previous day 22:00-23:00, 3月5日 -> that day);
* ``range``: from a start to an end (3月5日起 -> 3月5日 .. ref; 3月1日至3月5日);
* ``duration``: a span that ends at ``ref`` (半个月来 -> ref - 15 days .. ref; 近期 ~ 30 days,
  marked ``approximate``);
* ``recurring``: 每天凌晨两点, 天天, 经常, 一直 - ``recurring=True``; the time of day, if said, is
  in ``time_of_day`` (``"02:00"`` or a part of day such as ``"00:00-05:59"``).

A date without a year takes ``ref``'s year, or the year before when that would put it after
``ref`` (complaints are about the past). Without ``ref`` only dates that carry their year are
resolved; the rest keep ``start``/``end`` as ``None`` but are still reported. Every mention
keeps its text span so callers can highlight it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_NUM = r"(?:\d{1,4}|[零〇一二两三四五六七八九十百]{1,5})"

# Part of day -> (start hour, end hour inclusive); 晚上十点 is 22:00, 下午三点 is 15:00.
_PARTS: dict[str, tuple[int, int]] = {
    "凌晨": (0, 5), "清晨": (5, 7), "早晨": (6, 8), "早上": (6, 9), "上午": (8, 11), "中午": (11, 13),
    "午后": (13, 15), "下午": (13, 17), "傍晚": (17, 19), "晚上": (19, 23), "晚间": (19, 23),
    "夜里": (21, 23), "夜间": (20, 23), "深夜": (23, 23), "半夜": (0, 3), "午夜": (0, 1), "夜晚": (19, 23),
    "晚": (19, 23), "早": (6, 9), "夜": (21, 23),
}  # fmt: skip
_PART_RE = "|".join(sorted(_PARTS, key=len, reverse=True))
# Single characters are parts of day only right after a date or before a clock time (三月二日晚九点);
# on their own they are too common (很晚, 早就).
_PART_ALONE_RE = "|".join(sorted((p for p in _PARTS if len(p) > 1), key=len, reverse=True))

# Relative day words -> (day offset, part of day or None).
_DAYS: dict[str, tuple[int, str | None]] = {
    "今天": (0, None), "今日": (0, None), "今早": (0, "早上"), "今晨": (0, "早上"), "今晚": (0, "晚上"),
    "今夜": (0, "晚上"), "昨天": (-1, None), "昨日": (-1, None), "昨晚": (-1, "晚上"), "昨夜": (-1, "晚上"),
    "前天": (-2, None), "前晚": (-2, "晚上"), "前日": (-2, None), "大前天": (-3, None), "明天": (1, None),
    "明早": (1, "早上"), "明晚": (1, "晚上"), "后天": (2, None), "当天": (0, None), "当晚": (0, "晚上"),
}  # fmt: skip
_DAY_RE = "|".join(sorted(_DAYS, key=len, reverse=True))

_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}

_UNITS_DAYS = {"小时": 1 / 24, "天": 1, "日": 1, "晚": 1, "夜": 1, "周": 7, "星期": 7, "个星期": 7, "礼拜": 7,
               "个礼拜": 7, "个月": 30, "月": 30, "年": 365}  # fmt: skip
_UNIT_RE = "个星期|个礼拜|星期|礼拜|小时|个月|天|日|晚|夜|周|月|年"

# Vague spans ending at the complaint time: (days, recurring).
_VAGUE: dict[str, tuple[int, bool]] = {
    "这几天": (3, False), "近几天": (3, False), "这两天": (2, False), "近两天": (2, False), "近日": (3, False),
    "连日来": (3, True), "连日": (3, True), "近期": (30, False), "最近": (30, False), "近来": (30, False),
    "这段时间": (14, False), "一段时间": (30, False), "长期": (365, True), "长年": (365, True),
    "常年": (365, True), "多年": (730, True), "多年来": (730, True), "一直以来": (365, True),
}  # fmt: skip
_VAGUE_RE = "|".join(sorted(_VAGUE, key=len, reverse=True))

_RECUR_WORDS = (
    "每天晚上|每天早上|每天凌晨|每天夜里|每天|每日|每晚|每夜|每到晚上|每到夜里|每到周末|每到|天天|夜夜|"
    "每周|每个周末|每逢|经常|时常|常常|总是|反复|频繁|时不时|"
    "二十四小时|24小时|日夜|昼夜|通宵"
)


def cn_to_int(s: str) -> int | None:
    """``"十二"`` -> 12, ``"两"`` -> 2, ``"二十三"`` -> 23, ``"2019"`` -> 2019; ``None`` if not a number."""
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if all(c in _CN_DIGITS for c in s) and len(s) > 1:  # 二〇一九
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, current = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            current = _CN_DIGITS[c]
        elif c in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[c]
            current = 0
        else:
            return None
    return total + current


@dataclass
class TimeMention:
    """One time expression found in a text."""

    text: str
    start_pos: int
    end_pos: int
    kind: str  # point | range | duration | recurring | time_of_day
    start: datetime | None = None
    end: datetime | None = None
    recurring: bool = False
    approximate: bool = False
    time_of_day: str = ""  # "02:00" or "00:00-05:59" when said

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start_pos": self.start_pos,
            "end_pos": self.end_pos,
            "kind": self.kind,
            "start": self.start.isoformat(timespec="minutes") if self.start else None,
            "end": self.end.isoformat(timespec="minutes") if self.end else None,
            "recurring": self.recurring,
            "approximate": self.approximate,
            "time_of_day": self.time_of_day,
        }


@dataclass
class TimeInfo:
    """All time mentions of a complaint and what they add up to."""

    mentions: list[TimeMention] = field(default_factory=list)

    @property
    def recurring(self) -> bool:
        return any(m.recurring for m in self.mentions)

    @property
    def start(self) -> datetime | None:
        starts = [m.start for m in self.mentions if m.start is not None]
        return min(starts) if starts else None

    @property
    def end(self) -> datetime | None:
        ends = [m.end for m in self.mentions if m.end is not None]
        return max(ends) if ends else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mentions": [m.to_dict() for m in self.mentions],
            "recurring": self.recurring,
            "start": self.start.isoformat(timespec="minutes") if self.start else None,
            "end": self.end.isoformat(timespec="minutes") if self.end else None,
        }


# -- patterns -------------------------------------------------------------------------------------

# Whitespace between the parts of one expression (3月 5日, 晚上 十点). Bounded, like every other
# repetition here, so that each start position costs a constant: two unbounded \s* around an
# optional part retried every split of a whitespace run (1,000 spaces took 16 s). Normalised
# text has single spaces anyway; a longer gap does not join two parts into one expression.
_S = r"\s{0,3}"
_CLOCK = rf"(?P<hour>\d{{1,2}}|[零一二两三四五六七八九十]{{1,3}}){_S}(?:点|时)(?:{_S}(?P<half>半|一刻|三刻)|{_S}(?P<minute>\d{{1,2}}|[零一二三四五六七八九十]{{1,3}}){_S}分?)?"
_CLOCK_COLON = r"(?P<chour>[01]?\d|2[0-4])[:：](?P<cmin>[0-5]\d)(?!\d)"
_TOD = rf"(?:(?P<part>{_PART_RE}){_S})?(?:{_CLOCK}|{_CLOCK_COLON})"
_YEAR = rf"(?:(?P<yrel>去年|今年|前年)|(?P<year>(?:19|20)\d{{2}}|[二〇零一九]{{4}}){_S}年)"
_DATE_CN = rf"(?:{_YEAR}{_S})?(?P<month>\d{{1,2}}|[一二三四五六七八九十]{{1,3}}){_S}月{_S}(?P<day>\d{{1,2}}|[一二三四五六七八九十]{{1,3}}){_S}[日号]"
_DATE_NUM = r"(?P<nyear>(?:19|20)\d{2})[-/.](?P<nmonth>\d{1,2})[-/.](?P<nday>\d{1,2})(?!\d)"
_MONTH_ONLY = rf"(?:{_YEAR}{_S})?(?P<monly>\d{{1,2}}|[一二三四五六七八九十]{{1,3}}){_S}月份?(?![日号\d])"
_REL_MONTH = (
    r"(?P<relm>上上个月|上个月|上月|本月|这个月|当月|去年|今年|前年|年初|年底|月初|月底|上半年|下半年)"
)
_START_WORD = r"(?P<since>起|开始|以来|至今|到现在|到今天|后)?"

_RE_DATE = re.compile(
    rf"(?:{_DATE_NUM}|{_DATE_CN})(?:{_S}(?:的)?{_S}{_TOD.replace('?P<', '?P<d_')}|{_S}(?P<dpart>{_PART_RE}))?{_S}{_START_WORD}"
)
_RE_RANGE_SEP = re.compile(rf"{_S}(?:至|到|~|～|—|-|－){_S}")
_RE_RELDAY = re.compile(
    rf"(?P<rel>{_DAY_RE}){_S}(?:(?:的)?(?P<rpart>{_PART_RE}))?{_S}(?:{_TOD.replace('?P<', '?P<r_')})?{_S}{_START_WORD.replace('?P<since>', '?P<rsince>')}"
)
_RE_WEEKDAY = re.compile(
    rf"(?P<wrel>上上个?|上个?|本|这个?|下个?)?{_S}(?:周|星期|礼拜)(?P<wd>[一二三四五六日天末])"
    rf"(?:{_S}(?P<wpart>{_PART_RE}))?{_S}{_START_WORD.replace('?P<since>', '?P<wsince>')}"
)
_RE_DURATION = re.compile(
    rf"(?P<pre>近|最近|这|过去|前|连续|已经|已有|已|长达|将近|持续|整整|足足|快)?{_S}了?{_S}(?P<n>半|{_NUM}){_S}(?:个)?{_S}(?P<more>多)?{_S}"
    rf"(?P<unit>{_UNIT_RE}){_S}(?P<more2>多)?{_S}(?P<post>以来|来|之久|了|左右|有余|前|之前|以前)?"
)
_RE_VAGUE = re.compile(rf"(?P<vague>{_VAGUE_RE})")
_RE_RECUR = re.compile(
    rf"(?P<recur>{_RECUR_WORDS})(?:{_S}(?:的)?{_S}{_TOD.replace('?P<', '?P<c_')}|{_S}(?P<cpart>{_PART_RE}))?"
)
_RE_TOD = re.compile(_TOD.replace("?P<", "?P<t_"))
_RE_PART = re.compile(rf"(?P<ppart>{_PART_ALONE_RE})")
_RE_MONTH = re.compile(
    _MONTH_ONLY.replace("?P<year>", "?P<myear>").replace("?P<yrel>", "?P<myrel>")
    + rf"{_S}{_START_WORD.replace('?P<since>', '?P<msince>')}"
)
_RE_YEAR = re.compile(
    rf"(?P<yonly>(?:19|20)\d{{2}}){_S}年(?!{_S}\d|{_S}[一二三四五六七八九十]{{1,3}}月|度)"
    + _START_WORD.replace("?P<since>", "?P<ysince>")
)
_RE_RELMONTH = re.compile(_REL_MONTH + rf"{_S}{_START_WORD.replace('?P<since>', '?P<rmsince>')}")

# A number before these is not a time: 5号楼, 3月份的电费 is fine, 2点 in 2点意见 is rare.
# Matched at a position (``match(text, pos)``), not on a slice: a slice per date copied the rest
# of the text each time (quadratic in a text of many dates).
_NOT_AFTER_DAY = re.compile(rf"{_S}(?:楼|栋|线|院|门|口|店|床|房|地块|窗口|单元)")


def _part_range(part: str) -> str:
    a, b = _PARTS[part]
    return f"{a:02d}:00-{b:02d}:59"


def _hour(part: str | None, hour: int) -> int:
    """24-hour clock from a part of day and a 12-hour figure (晚上十点 -> 22, 凌晨两点 -> 2)."""
    evening = ("下午", "傍晚", "晚上", "晚间", "夜里", "夜间", "夜晚", "午后", "晚", "夜")
    if part in evening and hour == 12 and part != "下午":
        return 0  # 晚上12点 is midnight
    if part in evening and hour < 12 and not (part in ("夜里", "夜间", "夜") and hour < 5):
        return hour + 12
    if part == "中午" and hour < 6:
        return hour + 12
    if part == "深夜" and 6 < hour < 12:
        return hour + 12
    if part in ("凌晨", "半夜", "午夜") and hour == 12:
        return 0
    return hour


def _clock(groups: dict[str, str | None], prefix: str, implied: str | None = None) -> tuple[int, int] | None:
    g = {k[len(prefix) :]: v for k, v in groups.items() if k.startswith(prefix)}
    part = g.get("part") or implied
    if g.get("hour"):
        h = cn_to_int(g["hour"])
        if h is None or h > 24:
            return None
        minute = 0
        if g.get("half") == "半":
            minute = 30
        elif g.get("half") == "一刻":
            minute = 15
        elif g.get("half") == "三刻":
            minute = 45
        elif g.get("minute"):
            minute = cn_to_int(g["minute"]) or 0
        return _hour(part, h) % 24, min(minute, 59)
    if g.get("chour"):
        return int(g["chour"]) % 24, int(g["cmin"])
    return None


def _day_bounds(d: date, clock: tuple[int, int] | None, part: str | None) -> tuple[datetime, datetime]:
    if clock is not None:
        t = datetime.combine(d, time(clock[0], clock[1]))
        return t, t + timedelta(minutes=59 if clock[1] == 0 else 0)
    if part:
        a, b = _PARTS[part]
        return datetime.combine(d, time(a)), datetime.combine(d, time(b, 59))
    return datetime.combine(d, time(0)), datetime.combine(d, time(23, 59))


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _infer_year(month: int, day: int, ref: datetime | None) -> date | None:
    if ref is None:
        return None
    d = _safe_date(ref.year, month, day)
    if d is not None and d > ref.date() + timedelta(days=1):
        d = _safe_date(ref.year - 1, month, day)
    return d


def _reference(ref: object) -> datetime | None:
    """``ref`` as a naive datetime, or ``None`` when the complaint has no (valid) timestamp."""
    if ref is None or (isinstance(ref, float) and ref != ref):
        return None
    if not isinstance(ref, date):
        raise TypeError(f"ref must be a datetime, a date or None, not {type(ref).__name__}")
    # pandas' NaT is a datetime subclass whose fields are NaN (ref.year + 1 raised TypeError
    # deep in the date arithmetic); it is the only date that differs from itself.
    if ref != ref:
        return None
    if not isinstance(ref, datetime):
        return datetime.combine(ref, time(12))
    return ref.replace(tzinfo=None) if ref.tzinfo is not None else ref


def extract_times(text: str, ref: datetime | date | None = None) -> TimeInfo:
    """Time mentions in ``text`` resolved against ``ref`` (the complaint's timestamp).

    A missing ``ref`` (``None``, pandas' ``NaT``, a NaN from an empty time cell) resolves only
    the dates that carry their year, as documented above.
    """
    ref = _reference(ref)
    mentions: list[TimeMention] = []
    taken = bytearray(len(text))

    def free(a: int, b: int) -> bool:
        return not any(taken[a:b])

    def add(m: TimeMention) -> None:
        mentions.append(m)
        taken[m.start_pos : m.end_pos] = b"\x01" * (m.end_pos - m.start_pos)

    def add_match(
        m: re.Match[str], since: str, start: datetime | None, end: datetime | None, time_of_day: str = ""
    ) -> None:
        # 起/以来/至今 after the mention (group ``since``) make it a range up to the complaint;
        # 后 ("after") does not.
        word = m.group(since)
        kind, end = ("range", ref) if word and word != "后" else ("point", end)
        add(TimeMention(m.group().strip(), m.start(), m.end(), kind, start, end, time_of_day=time_of_day))

    # 1. Absolute dates (with an optional clock time), and ranges between two of them.
    dates = list(_RE_DATE.finditer(text))
    i = 0
    while i < len(dates):
        m = dates[i]
        if _NOT_AFTER_DAY.match(text, m.end()) or not free(m.start(), m.end()):
            i += 1
            continue
        d0, clock0, part0 = _date_of(m, ref)
        nxt = dates[i + 1] if i + 1 < len(dates) else None
        if nxt is not None and _RE_RANGE_SEP.fullmatch(text, m.end(), nxt.start()):
            d1, clock1, part1 = _date_of(nxt, ref, fallback_year=d0.year if d0 else None)
            start = _day_bounds(d0, clock0, part0)[0] if d0 else None
            end = _day_bounds(d1, clock1, part1)[1] if d1 else None
            add(TimeMention(text[m.start() : nxt.end()].strip(), m.start(), nxt.end(), "range", start, end))
            i += 2
            continue
        start = end = None
        if d0 is not None:
            start, end = _day_bounds(d0, clock0, part0)
        add_match(m, "since", start, end)
        i += 1

    # 2. 昨晚十点, 今天凌晨, 前天.
    for m in _RE_RELDAY.finditer(text):
        if not free(m.start(), m.end()):
            continue
        offset, implied = _DAYS[m.group("rel")]
        part = m.group("rpart") or m.group("r_part") or implied
        clock = _clock(m.groupdict(), "r_", part)
        start = end = None
        if ref is not None:
            start, end = _day_bounds(ref.date() + timedelta(days=offset), clock, part)
        tod = f"{clock[0]:02d}:{clock[1]:02d}" if clock else (_part_range(part) if part else "")
        add_match(m, "rsince", start, end, tod)

    # 3. 上周五, 周末, 本周三晚上.
    for m in _RE_WEEKDAY.finditer(text):
        if not free(m.start(), m.end()):
            continue
        start = end = None
        rel = (m.group("wrel") or "").rstrip("个")
        wd = _WEEKDAYS[m.group("wd")]
        if ref is not None:
            monday = ref.date() - timedelta(days=ref.weekday())
            if rel in ("上", "上上"):
                day = monday - timedelta(days=7 * len(rel)) + timedelta(days=wd)
            elif rel == "下":
                day = monday + timedelta(days=7 + wd)
            elif rel in ("本", "这"):
                day = monday + timedelta(days=wd)
            else:  # bare 周五: the latest one on or before the complaint
                day = monday + timedelta(days=wd)
                if day > ref.date():
                    day -= timedelta(days=7)
            start, end = _day_bounds(day, None, m.group("wpart"))
            if m.group("wd") == "末":
                end = datetime.combine(day + timedelta(days=1), time(23, 59))
        add_match(m, "wsince", start, end)

    # 4. 3月份, 去年, 上个月 (+ 起/以来).
    for m in _RE_MONTH.finditer(text):
        if not free(m.start(), m.end()) or text[m.end() : m.end() + 1] in ("个",):
            continue
        month = cn_to_int(m.group("monly"))
        if month is None or not 1 <= month <= 12:
            continue
        year = cn_to_int(m.group("myear") or "") if m.group("myear") else None
        if m.group("myrel") and ref is not None:
            year = ref.year - {"今年": 0, "去年": 1, "前年": 2}[m.group("myrel")]
        start = end = None
        if year is None and ref is not None:
            year = ref.year if month <= ref.month else ref.year - 1
        if year is not None:
            start = datetime(year, month, 1)
            end = datetime(year + (month == 12), month % 12 + 1, 1) - timedelta(minutes=1)
        add_match(m, "msince", start, end)
    for m in _RE_YEAR.finditer(text):
        if not free(m.start(), m.end()):
            continue
        y = int(m.group("yonly"))
        start, end = datetime(y, 1, 1), datetime(y, 12, 31, 23, 59)
        add_match(m, "ysince", start, end)
    for m in _RE_RELMONTH.finditer(text):
        if not free(m.start(), m.end()):
            continue
        start = end = None
        if ref is not None:
            start, end = _rel_month(m.group("relm"), ref)
        add_match(m, "rmsince", start, end)

    # 5. Recurring: 每天凌晨两点, 天天, 经常 (before durations: 每天 is not "one day").
    for m in _RE_RECUR.finditer(text):
        if not free(m.start(), m.end()):
            continue
        word = m.group("recur")
        implied = next((p for p in _PARTS if p in word), None) or (
            "晚上" if "晚" in word or "夜" in word else None
        )
        clock = _clock(m.groupdict(), "c_", implied)
        part = m.group("cpart") or m.group("c_part")
        tod = f"{clock[0]:02d}:{clock[1]:02d}" if clock else (_part_range(part) if part else "")
        if not tod:
            for p in _PARTS:
                if p in word:
                    tod = _part_range(p)
            if word == "通宵":
                tod = "22:00-05:59"
        add(TimeMention(m.group().strip(), m.start(), m.end(), "recurring", recurring=True, time_of_day=tod))

    # 6. Spans that end now: 半个月来, 连续三天, 两年多了, 近期.
    for m in _RE_DURATION.finditer(text):
        if not free(m.start(), m.end()):
            continue
        if not (m.group("pre") or m.group("post")):
            continue  # "三天" alone may be a plan or a deadline, not the problem's duration
        n = 0.5 if m.group("n") == "半" else cn_to_int(m.group("n"))
        if not n:
            continue
        unit = m.group("unit")
        more = bool(m.group("more") or m.group("more2"))
        if (
            unit in ("日", "月", "年")
            and m.group("pre") in (None, "这", "前")
            and not more
            and not m.group("post")
        ):
            continue  # 5日/3月/2019年 are dates, handled above
        days = n * _UNITS_DAYS[unit]
        if days > 36500:
            continue  # not a duration (an amount or a count that happens to precede 年/天)
        start = end = None
        ago = m.group("post") in ("前", "之前", "以前")
        if ref is not None:
            start, end = ref - timedelta(days=days * (1.25 if more else 1.0)), ref
            if ago:  # 3个月前: around one moment in the past, not a span up to now
                start, end = _day_bounds(start.date(), None, None)
        recurring = m.group("pre") == "连续" or unit in ("晚", "夜")
        add(
            TimeMention(
                m.group().strip(),
                m.start(),
                m.end(),
                "point" if ago else "duration",
                start,
                end,
                recurring=recurring,
                approximate=more or ago,
            )
        )
    for m in _RE_VAGUE.finditer(text):
        if not free(m.start(), m.end()):
            continue
        days, recurring = _VAGUE[m.group("vague")]
        start = end = None
        if ref is not None:
            start, end = ref - timedelta(days=days), ref
        add(
            TimeMention(
                m.group(), m.start(), m.end(), "duration", start, end, recurring=recurring, approximate=True
            )
        )

    # 7. A clock time or part of day on its own: 晚上十点 (the complaint's day or the day before).
    for m in _RE_TOD.finditer(text):
        if not free(m.start(), m.end()):
            continue
        clock = _clock(m.groupdict(), "t_")
        if clock is None:
            continue
        start = end = None
        if ref is not None:
            t = datetime.combine(ref.date(), time(*clock))
            if t > ref + timedelta(minutes=30):
                t -= timedelta(days=1)
            start, end = t, t + timedelta(minutes=59 if clock[1] == 0 else 0)
        tod = f"{clock[0]:02d}:{clock[1]:02d}"
        add(TimeMention(m.group().strip(), m.start(), m.end(), "point", start, end, time_of_day=tod))
    for m in _RE_PART.finditer(text):
        if free(m.start(), m.end()):
            part = m.group("ppart")
            add(TimeMention(part, m.start(), m.end(), "time_of_day", time_of_day=_part_range(part)))

    mentions.sort(key=lambda x: x.start_pos)
    return TimeInfo(mentions)


def _date_of(
    m: re.Match[str], ref: datetime | None, fallback_year: int | None = None
) -> tuple[date | None, tuple[int, int] | None, str | None]:
    g = m.groupdict()
    if g.get("nyear"):
        d = _safe_date(int(g["nyear"]), int(g["nmonth"]), int(g["nday"]))
    else:
        month, day = cn_to_int(g["month"] or ""), cn_to_int(g["day"] or "")
        if month is None or day is None or not (1 <= month <= 12 and 1 <= day <= 31):
            return None, None, None
        year = cn_to_int(g["year"]) if g.get("year") else None
        if g.get("yrel") and ref is not None:
            year = ref.year - {"今年": 0, "去年": 1, "前年": 2}[g["yrel"]]
        if year is not None:
            d = _safe_date(year, month, day)
        elif fallback_year is not None:
            d = _safe_date(fallback_year, month, day)
        else:
            d = _infer_year(month, day, ref)
    clock = _clock(g, "d_")
    part = g.get("dpart") or g.get("d_part")
    return d, clock, part


def _rel_month(word: str, ref: datetime) -> tuple[datetime, datetime]:
    y, mo = ref.year, ref.month

    def month_span(year: int, month: int) -> tuple[datetime, datetime]:
        while month < 1:
            month += 12
            year -= 1
        start = datetime(year, month, 1)
        end = datetime(year + (month == 12), month % 12 + 1, 1) - timedelta(minutes=1)
        return start, end

    if word in ("上个月", "上月"):
        return month_span(y, mo - 1)
    if word == "上上个月":
        return month_span(y, mo - 2)
    if word in ("本月", "这个月", "当月"):
        return month_span(y, mo)
    if word == "月初":
        return datetime(y, mo, 1), datetime(y, mo, 10, 23, 59)
    if word == "月底":
        _, e = month_span(y, mo)
        return e - timedelta(days=9), e
    if word == "去年":
        return datetime(y - 1, 1, 1), datetime(y - 1, 12, 31, 23, 59)
    if word == "前年":
        return datetime(y - 2, 1, 1), datetime(y - 2, 12, 31, 23, 59)
    if word == "年初":
        return datetime(y, 1, 1), datetime(y, 2, 28, 23, 59)
    if word == "年底":
        return datetime(y, 12, 1), datetime(y, 12, 31, 23, 59)
    if word == "上半年":
        return datetime(y, 1, 1), datetime(y, 6, 30, 23, 59)
    if word == "下半年":
        return datetime(y, 7, 1), datetime(y, 12, 31, 23, 59)
    return datetime(y, 1, 1), datetime(y, 12, 31, 23, 59)  # 今年
