"""Decisions *as of* a date: the reference day, and where reliable data ends.

Every decision (alerts, hot issues, outlook, cases at risk) is taken as of a day. By default
that day is the latest complaint time in the store, and the output always says which day it
used. A log that stops (an export cut short, a feed that died) ends with days of near-zero
volume: fitting or forecasting on those days reads the outage as a real collapse of demand
(the Teddy messages end about 2020-01-08 with stragglers to 01-26, and a model fitted on
them forecast 0 calls a day). :func:`reliable_end` finds that collapse so callers can cut it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from forecasting.sources import SOURCE_CACHE, SignalSource

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)

WEEK = 7


@dataclass(frozen=True)
class DataEnd:
    """Where a daily series ends, and where its reliable part ends."""

    data_end: pd.Timestamp
    reliable_end: pd.Timestamp
    observed_after: float = 0.0  # calls on the cut days
    expected_after: float = 0.0  # calls those days would have had at the usual level

    @property
    def trimmed_days(self) -> int:
        return int((self.data_end - self.reliable_end).days)

    @property
    def trimmed(self) -> bool:
        return self.trimmed_days > 0

    def describe(self) -> str:
        """One line for a duty manager; empty when nothing was cut."""
        if not self.trimmed:
            return ""
        return (
            f"the data runs to {self.data_end:%Y-%m-%d} but volume collapses after "
            f"{self.reliable_end:%Y-%m-%d} ({self.observed_after:.0f} calls in the last "
            f"{self.trimmed_days} days against about {self.expected_after:.0f} expected): those days "
            f"look like missing data, not quiet days, and are left out"
        )


def reliable_end(
    total: pd.Series,
    *,
    ratio: float = 0.25,
    min_days: int = 3,
    baseline_days: int = 56,
    max_tail_days: int = 90,
) -> DataEnd:
    """Find the end of reliable data in a daily count series (a volume collapse at its end).

    For each candidate start ``s`` of the tail (from ``min_days`` to ``max_tail_days`` days
    before the end) the tail's calls are compared with what the ``baseline_days`` before ``s``
    predict, day of week by day of week (weekends are quiet on their own: a plain mean would
    flag a Sunday). The tail is unreliable when it holds less than ``ratio`` of the expected
    calls, and so do its first day and its first ``min_days`` days (a collapse starts collapsed;
    a long empty tail alone would also dilute a few normal days before it). The earliest such
    start wins; the day before it is the reliable end (the last day when nothing collapsed).
    """
    s = pd.Series(total, dtype=float).sort_index()
    if len(s) == 0:
        raise ValueError("reliable_end: empty series")
    s.index = pd.DatetimeIndex(s.index)
    end = pd.Timestamp(s.index[-1])
    values = s.to_numpy()
    weekdays = s.index.dayofweek.to_numpy()
    n = len(values)
    best: DataEnd | None = None
    for tail in range(min_days, min(max_tail_days, n - 14) + 1):
        start = n - tail
        base = slice(max(0, start - baseline_days), start)
        if start - base.start < 14:  # two weekly cycles at least to know the usual level
            break
        bv, bw = values[base], weekdays[base]
        level = {d: float(bv[bw == d].mean()) if np.any(bw == d) else float(bv.mean()) for d in range(7)}
        exp_days = np.array([level[d] for d in weekdays[start:]])
        expected = float(exp_days.sum())
        observed = float(values[start:].sum())
        # The tail must also *start* collapsed (its first day and its first min_days days):
        # otherwise a long empty tail would swallow the last normal days before it.
        head = values[start : start + min_days].sum() < ratio * exp_days[:min_days].sum()
        first = values[start] < ratio * exp_days[0]
        # 'expected >= 2 * min_days': a series of ~0 calls a day has nothing to collapse from.
        if expected >= 2 * min_days and observed < ratio * expected and head and first:
            best = DataEnd(end, pd.Timestamp(s.index[start - 1]), observed, expected)
    if best is None:
        return DataEnd(end, end)
    logger.warning("%s", best.describe())
    return best


def latest_complaint_time(source: SignalSource) -> pd.Timestamp | None:
    """The latest complaint time in the store (the default as-of), or ``None`` when empty.

    Reads the last day of the daily signals, then the complaints of that day only, so that a
    big store is not read whole (the store has no max-time query).
    """
    signals = source.signals.read()
    if signals is None or len(signals) == 0:
        return None
    frame = signals[pd.to_numeric(signals["calls"], errors="coerce").fillna(0) > 0]
    if len(frame) == 0:
        return None
    last_day = pd.Timestamp(frame["date"].max())
    if source.complaints is None:  # a signals-only store: the end of its last day
        return last_day + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    # Signals written from another source may run past the complaints: widen the look back.
    for since in (last_day, last_day - pd.Timedelta(days=60), None):
        recent = source.complaints.read(since=since)
        times = pd.to_datetime(recent["time"], errors="coerce").dropna() if len(recent) else pd.Series([])
        if len(times):
            return pd.Timestamp(times.max())
    return last_day


def resolve_as_of(
    as_of: str | pd.Timestamp | None, source: SignalSource | None = None
) -> tuple[pd.Timestamp, str]:
    """The as-of time and how it was chosen (``"given"`` or ``"latest complaint"``).

    A bare date means the end of that day: decisions "as of 2020-01-07" see that day's calls.
    """
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        if ts == ts.normalize() and (not isinstance(as_of, str) or len(as_of.strip()) <= 10):
            ts = ts + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        return ts, "given"
    latest = latest_complaint_time(source) if source is not None else None
    if latest is None:
        raise ValueError("no as-of date given and the store has no complaints to take the latest time from")
    return latest, "latest complaint"


@dataclass
class AsOf:
    """The as-of time of a view and how it was chosen."""

    ts: pd.Timestamp
    source: str

    @property
    def day(self) -> pd.Timestamp:
        return self.ts.normalize()

    @property
    def week_start(self) -> pd.Timestamp:
        return self.day - pd.Timedelta(days=WEEK - 1)

    @property
    def text(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M}"

    @property
    def date(self) -> str:
        return f"{self.day:%Y-%m-%d}"


def resolve(value: str | None, source: SignalSource | None, forecaster: Forecaster | None) -> AsOf:
    """The as-of time: given, else the latest complaint, else the forecaster's last day, else now."""
    if value:
        ts, how = resolve_as_of(value)
        return AsOf(ts, how)
    if source is not None:
        # Finding the latest complaint reads every signal row (seconds on a real city, on every
        # page without ?as_of=): kept while the source's change token is the same.
        ts_how = SOURCE_CACHE.get(source, ("latest complaint",), lambda _key: _latest_or_none(source))
        if ts_how[0] is not None:
            return AsOf(ts_how[0], ts_how[1])
    if forecaster is not None:
        return AsOf(forecaster.end_date + pd.Timedelta(days=1) - pd.Timedelta(seconds=1), "forecaster end")
    return AsOf(pd.Timestamp.now().floor("s"), "now")


def _latest_or_none(source: SignalSource) -> tuple[pd.Timestamp | None, str]:
    try:
        return resolve_as_of(None, source)
    except ValueError:
        return None, ""  # an empty store: fall through to the forecaster's data
