"""When complaints come in and are answered: weekly and daily cycles, holidays, trend, replies."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

import chinese_calendar

from data.samplegen.settings import END, NEW_LABEL, PRESSING, START, URGENT

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
