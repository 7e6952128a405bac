"""Lenient parsing of the timestamps hotline exports hold."""

from __future__ import annotations

import re

import pandas as pd

from nlp.text import normalize_text

_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_CN_TIME = re.compile(r"(\d{1,2})\s*[时點点]\s*(?:(\d{1,2})\s*分)?\s*(?:(\d{1,2})\s*秒)?")
_NUMERIC = re.compile(r"^\d+(?:\.\d+)?$")


def _clean_time_string(value: str) -> str:
    s = normalize_text(value)
    s = _CN_DATE.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d} ", s)
    s = _CN_TIME.sub(lambda m: f"{int(m[1]):02d}:{int(m[2] or 0):02d}:{int(m[3] or 0):02d}", s)
    return s.strip()


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Leniently parse a column of timestamps.

    Accepts ISO and slash dates (``2019/2/28 11:25:05``), Chinese dates (``2026年5月3日 14时5分``),
    Excel serial day numbers and Unix seconds/milliseconds. Returns the parsed, timezone-naive
    timestamps and a boolean mask of values that were present but could not be parsed.
    """
    present = values.notna() & (values.astype("string").str.strip() != "")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if not present.any():
        return out, present & False
    sub = values[present]
    is_dt = sub.map(lambda v: isinstance(v, (pd.Timestamp,)) or hasattr(v, "isoformat"))
    if is_dt.any():
        out[is_dt[is_dt].index] = pd.to_datetime(sub[is_dt], errors="coerce").dt.tz_localize(None)
    rest = sub[~is_dt].astype(str).map(_clean_time_string)
    numeric = rest.str.match(_NUMERIC)
    if numeric.any():
        num = rest[numeric].astype(float)
        parsed = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns]")
        excel = num.between(20000, 80000)
        unix_s = num.between(1e8, 4e9)
        unix_ms = num.between(1e11, 4e12)
        parsed[excel] = pd.to_datetime(num[excel], unit="D", origin="1899-12-30")
        parsed[unix_s] = pd.to_datetime(num[unix_s], unit="s")
        parsed[unix_ms] = pd.to_datetime(num[unix_ms], unit="ms")
        out[parsed.index] = parsed
    textual = rest[~numeric]
    if len(textual):
        parsed = pd.to_datetime(textual, errors="coerce", format="mixed")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out[textual.index] = parsed
    bad = present & out.isna()
    return out, bad
