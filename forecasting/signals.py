"""Daily signals: reading, checking and aggregating them into the series the heads forecast.

The signals contract (written by ``events``, read here) is one row per date × category ×
district, zero-filled over the date range, with columns ``date`` (YYYY-MM-DD), ``category``,
``district``, ``calls``, ``incidents``, ``new_incidents``, ``weekday``, ``is_holiday``,
``is_workday`` and ``holiday_name``. Only ``date``, ``category``, ``district`` and the target
count are required here; the calendar columns are recomputed from the date by
:mod:`forecasting.calendar` so that history and future days are described the same way.

Series are named like the alerts' ``series_key``: ``total``, ``category=供水``,
``district=江北区`` and ``category=供水|district=江北区``.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from events.calendar import day_calendar
from forecasting.config import LEVELS
from forecasting.errors import SignalsError, UnknownSeriesError

logger = logging.getLogger(__name__)

SIGNAL_COLUMNS = (
    "date",
    "category",
    "district",
    "calls",
    "incidents",
    "new_incidents",
    "weekday",
    "is_holiday",
    "is_workday",
    "holiday_name",
)
COUNT_COLUMNS = ("calls", "incidents", "new_incidents")
TOTAL = "total"


def series_key(category: str | None = None, district: str | None = None) -> str:
    """Name of a series: ``total``, ``category=X``, ``district=Y`` or ``category=X|district=Y``."""
    parts = []
    if category is not None:
        parts.append(f"category={category}")
    if district is not None:
        parts.append(f"district={district}")
    return "|".join(parts) or TOTAL


def parse_series_key(key: str) -> dict[str, str]:
    """Inverse of :func:`series_key`: ``{"category": ..., "district": ...}`` (absent keys omitted)."""
    key = key.strip()
    if key == TOTAL:
        return {}
    out: dict[str, str] = {}
    for part in key.split("|"):
        name, sep, value = part.partition("=")
        if not sep or name not in ("category", "district") or not value:
            raise UnknownSeriesError(
                f"malformed series name {key!r}: use 'total', 'category=NAME', 'district=NAME' or "
                "'category=NAME|district=NAME'"
            )
        out[name] = value
    return out


def series_level(key: str) -> str:
    parts = parse_series_key(key)
    if not parts:
        return "total"
    if len(parts) == 2:
        return "category_district"
    return next(iter(parts))


def suggest_series(key: str, known: list[str], n: int = 5) -> str:
    """An error message for an unknown series name with the closest known names."""
    close = difflib.get_close_matches(key, known, n=n, cutoff=0.3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
    sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
    return f"unknown series {key!r}{hint} Known series ({len(known)}): {sample}"


def read_signals_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a signals table (CSV/TSV/Parquet/JSONL) written by ``hotline events`` or by hand."""
    p = Path(path)
    if not p.exists():
        raise SignalsError(
            "signals file not found; write one with the events pipeline or pass --store URL", path=str(p)
        )
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(p)
        elif name.endswith((".jsonl", ".ndjson", ".json")):
            frame = pd.read_json(p, lines=True, dtype={"category": str, "district": str, "date": str})
        else:
            from ingest.formats import detect_encoding

            sep = "\t" if name.endswith(".tsv") else ","
            frame = pd.read_csv(
                p,
                sep=sep,
                encoding=detect_encoding(p),
                dtype={"category": str, "district": str, "date": str, "holiday_name": str},
                keep_default_na=False,
            )
    except (ValueError, OSError) as exc:
        raise SignalsError(f"cannot read signals: {exc}", path=str(p)) from exc
    return validate_signals(frame, source=str(p))


def validate_signals(
    frame: pd.DataFrame, *, source: str = "signals", target: str = "calls", gaps: str = "zero"
) -> pd.DataFrame:
    """Check a signals table against the contract and return a clean copy.

    Dates are parsed (one bad value is an error that names the row), counts must be
    non-negative integers, and a date × category × district pair may appear only once. Missing
    dates inside the range are zero-filled with a warning (``gaps="zero"``, the contract's own
    convention) or rejected (``gaps="error"``).
    """
    if gaps not in ("zero", "error"):
        raise ValueError(f"gaps must be 'zero' or 'error', got {gaps!r}")
    missing = [c for c in ("date", target) if c not in frame.columns]
    if missing:
        raise SignalsError(
            f"missing column(s) {', '.join(missing)}; the signals contract has "
            f"{', '.join(SIGNAL_COLUMNS)} (one row per date × category × district)",
            path=source,
        )
    out = frame.copy()
    for col in ("category", "district"):
        if col not in out.columns:
            out[col] = "all"
        out[col] = out[col].fillna("").astype(str).str.strip().replace("", "unknown")
    dates = pd.to_datetime(out["date"], errors="coerce")
    bad = dates.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SignalsError(
            f"unparseable date {out['date'].iloc[i]!r} ({int(bad.sum())} bad value(s)); expected YYYY-MM-DD",
            path=source,
            row=i + 1,
            column="date",
        )
    out["date"] = dates.dt.normalize()
    for col in COUNT_COLUMNS:
        if col not in out.columns:
            continue
        values = pd.to_numeric(out[col], errors="coerce")
        wrong = values.isna() | (values < 0)
        if wrong.any():
            i = int(np.flatnonzero(wrong.to_numpy())[0])
            raise SignalsError(
                f"{col} must be a non-negative count, got {out[col].iloc[i]!r}",
                path=source,
                row=i + 1,
                column=col,
            )
        out[col] = values.round().astype(np.int64)
    dup = out.duplicated(["date", "category", "district"], keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise SignalsError(
            f"duplicate rows for date {out['date'].iloc[i]:%Y-%m-%d}, category {out['category'].iloc[i]!r}, "
            f"district {out['district'].iloc[i]!r}: the contract has one row per date × category × district "
            "(aggregate the rows first)",
            path=source,
            row=i + 1,
        )
    if out.empty:
        raise SignalsError("no rows", path=source)
    full = pd.date_range(out["date"].min(), out["date"].max(), freq="D")
    absent = full.difference(pd.DatetimeIndex(out["date"].unique()))
    if len(absent):
        msg = (
            f"{len(absent)} date(s) between {full[0]:%Y-%m-%d} and {full[-1]:%Y-%m-%d} have no rows "
            f"(first: {absent[0]:%Y-%m-%d})"
        )
        if gaps == "error":
            raise SignalsError(msg + "; the signals contract zero-fills every date", path=source)
        logger.warning("%s: %s; counting them as zero calls", source, msg)
    return out.sort_values(["date", "category", "district"]).reset_index(drop=True)


@dataclass
class SeriesSet:
    """Every series the forecaster knows, as daily float series on one shared date index."""

    values: pd.DataFrame  # index: dates (daily, gap-free); one column per series key
    # What the values were built from (a signal source's change token and the day they end):
    # kept forecasts are keyed by it, so a table rebuilt from unchanged data is not hashed.
    # None: the forecaster keys by the values themselves.
    token: Hashable | None = None

    @property
    def keys(self) -> list[str]:
        return list(self.values.columns)

    @property
    def dates(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.values.index)

    def __getitem__(self, key: str) -> pd.Series:
        if key not in self.values.columns:
            raise UnknownSeriesError(suggest_series(key, self.keys))
        return self.values[key]

    def __contains__(self, key: str) -> bool:
        return key in self.values.columns


def build_series(
    signals: pd.DataFrame, *, target: str = "calls", levels: tuple[str, ...] = LEVELS
) -> SeriesSet:
    """Aggregate clean signals (see :func:`validate_signals`) into total/category/district series."""
    unknown = set(levels) - set(LEVELS)
    if unknown:
        raise ValueError(f"unknown series level(s) {sorted(unknown)}; choose from {', '.join(LEVELS)}")
    dates = pd.date_range(signals["date"].min(), signals["date"].max(), freq="D")
    cols: dict[str, pd.Series] = {}
    if "total" in levels:
        cols[TOTAL] = signals.groupby("date")[target].sum()
    for level, by in (("category", ["category"]), ("district", ["district"])):
        if level in levels and signals[by[0]].nunique() > 1:
            for name, grp in signals.groupby(by[0]):
                cols[series_key(**{level: str(name)})] = grp.groupby("date")[target].sum()
    if "category_district" in levels:
        for (cat, dist), grp in signals.groupby(["category", "district"]):
            cols[series_key(str(cat), str(dist))] = grp.set_index("date")[target]
    frame = pd.DataFrame({k: v.reindex(dates, fill_value=0) for k, v in cols.items()}, index=dates)
    return SeriesSet(frame.fillna(0).astype(float))


def signals_from_complaints(
    complaints: pd.DataFrame,
    *,
    time_column: str = "time",
    category_column: str = "label",
    district_column: str = "district",
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Daily signals in the contract's shape from a complaint table (no incident grouping).

    For logs that have not been through the events pipeline (the benchmark's real messages):
    every complaint counts as its own incident, so ``incidents`` = ``new_incidents`` = ``calls``.
    """
    frame = complaints.copy()
    t = pd.to_datetime(frame[time_column], errors="coerce")
    frame = frame[t.notna()].assign(date=t[t.notna()].dt.normalize())
    for col, src in (("category", category_column), ("district", district_column)):
        frame[col] = (
            frame[src].fillna("").astype(str).str.strip().replace("", "unknown") if src in frame else "all"
        )
    lo = pd.Timestamp(start).normalize() if start is not None else frame["date"].min()
    hi = pd.Timestamp(end).normalize() if end is not None else frame["date"].max()
    frame = frame[(frame["date"] >= lo) & (frame["date"] <= hi)]
    dates = pd.date_range(lo, hi, freq="D")
    pairs = frame[["category", "district"]].drop_duplicates().sort_values(["category", "district"])
    grid = pd.MultiIndex.from_tuples(
        [(d, c, s) for d in dates for c, s in pairs.itertuples(index=False)],
        names=["date", "category", "district"],
    )
    counts = frame.groupby(["date", "category", "district"]).size().reindex(grid, fill_value=0)
    out = counts.rename("calls").reset_index()
    out["incidents"] = out["calls"]
    out["new_incidents"] = out["calls"]
    cal = day_calendar(dates)
    out = out.join(cal[["weekday", "is_holiday", "is_workday", "holiday_name"]], on="date")
    out["date"] = out["date"].dt.strftime("%Y-%m-%d")
    return out[list(SIGNAL_COLUMNS)]
