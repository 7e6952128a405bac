"""The Chinese working calendar: public holidays, 调休 make-up working days, working-day clocks.

Call volumes and reply times follow the working calendar, not the weekday alone: offices are
closed for 春节 and 国庆 for a week, and a Saturday can be a make-up working day (调休). The
``chinese_calendar`` package knows the State Council schedule for the years it ships (2004 to
2026 in version 1.11). Outside those years the schedule is not published yet (or not packaged),
so :func:`day_calendar` falls back to weekends plus the fixed-date statutory holidays (元旦 1/1,
劳动节 5/1-5/2, 国庆 10/1-10/3) and logs one warning per year; the lunar holidays (春节, 清明,
端午, 中秋) and their 调休 days are then unknown and treated as ordinary days.

One module serves the daily signals (``events.signals``) and the forecasting and survival
models (``forecasting``), so that both agree on what a working day is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

# Features derived from the calendar, in the order the learned heads use them.
CALENDAR_FEATURES = ("offday", "holiday", "makeup", "pre_holiday", "post_holiday")

# chinese_calendar names holidays in English; the signals carry the Chinese names.
HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}
_FIXED_HOLIDAYS = {
    (1, 1): "元旦",
    (5, 1): "劳动节",
    (5, 2): "劳动节",
    (10, 1): "国庆节",
    (10, 2): "国庆节",
    (10, 3): "国庆节",
}
_warned_years: set[int] = set()


@lru_cache(maxsize=1)
def covered_years() -> tuple[int, int]:
    """First and last year for which ``chinese_calendar`` knows the official schedule."""
    try:
        import chinese_calendar as cc
    except ImportError:  # pragma: no cover - a declared dependency
        return (0, -1)
    years = [d.year for d in cc.holidays]
    return (min(years), max(years))


@lru_cache(maxsize=20000)
def _day(date: dt.date) -> tuple[bool, bool, str]:
    """(is_workday, is_holiday, holiday_name) of one date."""
    lo, hi = covered_years()
    if lo <= date.year <= hi:
        import chinese_calendar as cc

        _, holiday = cc.get_holiday_detail(date)
        workday = bool(cc.is_workday(date))
        is_holiday = (not workday) and holiday is not None
        # chinese_calendar also names the holiday on its 调休 make-up days; the signals name it
        # only on the days off.
        name = HOLIDAY_NAMES_ZH.get(str(holiday), str(holiday)) if is_holiday else ""
        return workday, is_holiday, name
    if date.year not in _warned_years:
        _warned_years.add(date.year)
        logger.warning(
            "chinese_calendar has no official holiday schedule for %d (covers %d-%d): using weekends and "
            "fixed-date holidays only; lunar holidays and 调休 days of that year are not known",
            date.year,
            lo,
            hi,
        )
    name = _FIXED_HOLIDAYS.get((date.month, date.day), "")
    holiday = bool(name)
    return (date.weekday() < 5 and not holiday), holiday, name


def day_calendar(dates: Iterable[object]) -> pd.DataFrame:
    """Calendar columns of the signals contract, one row per date (index: the normalised dates).

    Columns: ``weekday`` (0=Mon), ``is_holiday`` (a statutory holiday day off), ``is_workday``
    (True on 调休 make-up days, False on weekends and holidays), ``holiday_name`` (the Chinese
    name on holiday days off, else ""), plus the model features ``offday`` (not a working
    day), ``holiday``, ``makeup`` (a weekend working day), ``pre_holiday`` / ``post_holiday``
    (the last working day before / first working day after a block of 3 or more days off, when
    backlogs build up and are cleared).
    """
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates))).normalize()
    if len(idx) == 0:
        return pd.DataFrame(
            columns=["weekday", "is_holiday", "is_workday", "holiday_name", *CALENDAR_FEATURES], index=idx
        )
    # Look a week either side so that pre/post-holiday flags are right at the edges.
    span = pd.date_range(idx.min() - pd.Timedelta(days=8), idx.max() + pd.Timedelta(days=8), freq="D")
    rows = [_day(d.date()) for d in span]
    work = np.array([r[0] for r in rows], dtype=bool)
    hol = np.array([r[1] for r in rows], dtype=bool)
    names = [r[2] for r in rows]
    off = ~work
    # Length of the run of days off that each day belongs to (0 on working days).
    run = np.zeros(len(span), dtype=int)
    i = 0
    while i < len(span):
        if off[i]:
            j = i
            while j < len(span) and off[j]:
                j += 1
            run[i:j] = j - i
            i = j
        else:
            i += 1
    long_off = run >= 3
    pre = np.zeros(len(span), dtype=bool)
    post = np.zeros(len(span), dtype=bool)
    pre[:-1] = work[:-1] & long_off[1:]
    post[1:] = work[1:] & long_off[:-1]
    full = pd.DataFrame(
        {
            "weekday": span.dayofweek.astype(int),
            "is_holiday": hol,
            "is_workday": work,
            "holiday_name": names,
            "offday": off.astype(float),
            "holiday": hol.astype(float),
            "makeup": (work & (span.dayofweek >= 5)).astype(float),
            "pre_holiday": pre.astype(float),
            "post_holiday": post.astype(float),
        },
        index=span,
    )
    return full.loc[idx]


def calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """Model features of each date: weekday one-hot (7) then :data:`CALENDAR_FEATURES`."""
    cal = day_calendar(dates)
    onehot = np.eye(7)[cal["weekday"].to_numpy(dtype=int)]
    return np.hstack([onehot, cal[list(CALENDAR_FEATURES)].to_numpy(dtype=float)])


def working_clock(times: pd.Series | pd.DatetimeIndex, origin: pd.Timestamp | None = None) -> np.ndarray:
    """Working days elapsed since ``origin`` at each timestamp (fractional, calendar aware).

    A working day counts as one unit spread evenly over its 24 hours; days off count zero. The
    difference of two clock readings is the working time between two timestamps: a complaint
    filed on Friday 18:00 and answered on Monday 09:00 took 0.25 + 0.375 = 0.625 working days.
    NaT gives NaN.
    """
    ts = pd.DatetimeIndex(pd.to_datetime(times))
    out = np.full(len(ts), np.nan)
    valid = ~ts.isna()
    if not valid.any():
        return out
    days = ts[valid].normalize()
    origin = pd.Timestamp(origin).normalize() if origin is not None else days.min()
    span = pd.date_range(min(origin, days.min()), days.max(), freq="D")
    work = day_calendar(span)["is_workday"].to_numpy(dtype=float)
    before = np.concatenate([[0.0], np.cumsum(work)[:-1]])  # working days before each date
    pos = (days - span[0]).days.to_numpy()
    frac = ((ts[valid] - days) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    base = before[(origin - span[0]).days]
    out[np.asarray(valid)] = before[pos] + work[pos] * frac - base
    return out


def add_working_days(start: pd.Series | pd.DatetimeIndex, days: float) -> pd.DatetimeIndex:
    """The timestamp ``days`` working days after each start (inverse of :func:`working_clock`)."""
    ts = pd.DatetimeIndex(pd.to_datetime(start))
    if len(ts) == 0 or ts.isna().all():
        return ts
    lo = ts.min().normalize()
    # 15 working days never span more than ~5 weeks, even across 春节; leave generous room.
    hi = ts.max().normalize() + pd.Timedelta(days=int(days * 3) + 30)
    span = pd.date_range(lo, hi, freq="D")
    work = day_calendar(span)["is_workday"].to_numpy(dtype=float)
    end_clock = np.cumsum(work)  # working days completed by the end of each date
    start_clock = working_clock(ts, origin=lo)
    target = start_clock + days
    out = []
    for t, s in zip(target, ts, strict=True):
        if np.isnan(t):
            out.append(pd.NaT)
            continue
        i = int(np.searchsorted(end_clock, t - 1e-9))
        i = min(i, len(span) - 1)
        before = end_clock[i] - work[i]
        frac = (t - before) / work[i] if work[i] > 0 else 0.0
        # Rounded to the second: the fractional clock would otherwise land on 09:59:59.999.
        out.append(max(s, (span[i] + pd.Timedelta(days=float(np.clip(frac, 0.0, 1.0)))).round("s")))
    return pd.DatetimeIndex(out)
