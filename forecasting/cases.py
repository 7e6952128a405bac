"""Reply logs as time-to-reply cases: durations, censoring and covariates for the survival model.

Durations run from submission to the government's reply, in **working days** by default
(Chinese calendar, 调休 aware, fractional: each working day counts one unit spread over its 24
hours, days off count zero - the unit of the 12345 reply deadlines) or in wall-clock hours
(``unit="hours"``). Cases without a reply, and replies after the analysis date, are
right-censored at the analysis date (default: the latest timestamp in the data).

Covariates: category, district (categorical), text length (log of characters), urgency (0 一般,
1 较急, 2 紧急; from the log's column, else from :func:`nlp.urgency.assess_urgency`), weekday of
submission (categorical) and the request type (咨询/投诉/举报/建议/... from the title,
:func:`request_type`). A log without a category column gets one from a keyword rule
(:func:`keyword_category`, words in ``keyword_categories.json``; the CLI can use a trained
classifier instead).
"""

from __future__ import annotations

import json
import logging
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from events.calendar import working_clock
from forecasting.config import SurvivalConfig
from forecasting.errors import SurvivalDataError

logger = logging.getLogger(__name__)

OTHER = "other"
URGENCY_LEVELS = {"一般": 0.0, "较急": 1.0, "紧急": 2.0}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_DURATION = 1e-3
# First-level categories of the 12345 / 问政 taxonomy and words that mark them; a fallback for
# logs without a category column when no trained classifier is given.
KEYWORD_CATEGORIES_FILE = Path(__file__).with_name("keyword_categories.json")
# Anonymised place names of the real reply data (A市, A7县, K2区); real names come from a column.
_DISTRICT_RE = re.compile(r"([A-Z]\d{0,2}[区县市])")
# What the citizen asks for, from the title: consultations are answered faster than complaints.
REQUEST_TYPES = ("咨询", "投诉", "举报", "建议", "求助", "反映", "请求", "希望")


@cache
def keyword_categories() -> dict[str, tuple[str, ...]]:
    """Category -> the words that mark it (``keyword_categories.json``)."""
    data = json.loads(KEYWORD_CATEGORIES_FILE.read_text(encoding="utf-8"))
    return {str(cat): tuple(words) for cat, words in data.items()}


def request_type(title: str) -> str:
    """The first request verb found in a title (``other`` when none)."""
    return next((w for w in REQUEST_TYPES if w in title), OTHER)


def keyword_category(text: str) -> str:
    """The category whose keywords occur most often in ``text`` (``other`` when none does)."""
    best, hits = OTHER, 0
    for cat, words in keyword_categories().items():
        n = sum(text.count(w) for w in words)
        if n > hits:
            best, hits = cat, n
    return best


def _column(frame: pd.DataFrame, *names: str) -> pd.Series | None:
    for n in names:
        if n in frame.columns:
            return frame[n]
    return None


def prepare_cases(
    frame: pd.DataFrame,
    config: SurvivalConfig | None = None,
    *,
    analysis_date: str | pd.Timestamp | None = None,
    source: str = "cases",
) -> pd.DataFrame:
    """Durations, events and covariates from a complaint/reply log.

    ``frame`` needs ``time`` (submission) and, for answered cases, ``reply_time``; ``id``,
    ``title``, ``text``, ``category`` (or ``label``), ``district``, ``urgency`` are used when
    present. Returns one row per usable case with ``duration`` (in ``config.unit``), ``event``
    (replied by the analysis date), ``open`` and the covariates.
    """
    config = config or SurvivalConfig()
    if "time" not in frame.columns:
        raise SurvivalDataError(
            f"no 'time' column (submission time); the file has: {', '.join(map(str, frame.columns))}",
            path=source,
        )
    from ingest.times import parse_times

    out = pd.DataFrame(index=frame.index)
    out["id"] = (frame["id"] if "id" in frame.columns else pd.Series(frame.index, index=frame.index)).astype(
        str
    )
    t, _ = parse_times(frame["time"])
    if "reply_time" in frame.columns:
        r, bad_r = parse_times(frame["reply_time"])
    else:
        r, bad_r = (
            pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"),
            pd.Series(False, index=frame.index),
        )
    out["time"], out["reply_time"] = t, r
    drop = t.isna() | bad_r | (r.notna() & (r < t))
    if drop.any():
        logger.warning(
            "%s: %d row(s) skipped (missing/unparseable submission time, unparseable reply time, or a reply "
            "before the submission)",
            source,
            int(drop.sum()),
        )
    out = out[~drop].copy()
    frame = frame.loc[out.index]
    if out.empty:
        raise SurvivalDataError("no usable rows (every row lacks a valid submission time)", path=source)
    asof = pd.Timestamp(
        analysis_date or config.analysis_date or max(out["time"].max(), out["reply_time"].max())
    )
    if pd.isna(asof):
        asof = out["time"].max()
    out = out[out["time"] <= asof]
    frame = frame.loc[out.index]
    replied = out["reply_time"].notna() & (out["reply_time"] <= asof)
    end = out["reply_time"].where(replied, asof)
    out["event"] = replied.to_numpy()
    out["open"] = out["reply_time"].isna().to_numpy()
    out["duration"] = np.maximum(duration_between(out["time"], end, config.unit), MIN_DURATION)
    text = _text_of(frame)
    cat = _column(frame, "category", "label")
    if cat is None or cat.fillna("").astype(str).str.strip().eq("").all():
        out["category"] = text.map(keyword_category).to_numpy()
        out.attrs["category_source"] = "keyword rule"
    else:
        out["category"] = cat.fillna("").astype(str).str.strip().replace("", OTHER).to_numpy()
        out.attrs["category_source"] = "column"
    dist = _column(frame, "district")
    if dist is None or dist.fillna("").astype(str).str.strip().eq("").all():
        found = text.str.extract(_DISTRICT_RE, expand=False)
        out["district"] = found.fillna(OTHER).to_numpy()
    else:
        out["district"] = dist.fillna("").astype(str).str.strip().replace("", OTHER).to_numpy()
    out["text_length"] = np.log1p(text.str.len().to_numpy(dtype=float))
    out["urgency"] = _urgency(frame, text).to_numpy()
    out["weekday"] = [WEEKDAYS[d] for d in out["time"].dt.dayofweek]
    title = frame["title"].fillna("").astype(str) if "title" in frame.columns else text.str.slice(0, 30)
    out["request_type"] = title.map(request_type).to_numpy()
    out.attrs["analysis_date"] = f"{asof:%Y-%m-%d %H:%M:%S}"
    return out.reset_index(drop=True)


EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "reply_time": ("reply_time", "replytime", "答复时间", "回复时间", "办结时间", "处理时间", "回复日期"),
    "urgency": ("urgency", "紧急程度", "紧急度", "缓急程度"),
    "status": ("status", "办理状态", "工单状态", "状态"),
    "category": ("category",),
}


def read_cases(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    rejects: Any = None,
    require_reply: bool = True,
) -> pd.DataFrame:
    """Read a complaint/reply log (CSV/TSV/JSONL/XLSX/Parquet, UTF-8 or GBK) for the survival model.

    The canonical columns (masked title/text, time, district, label) come from
    :class:`ingest.readers.ComplaintReader`; ``reply_time``, ``urgency`` and ``status`` are taken from
    the source columns by name (English or Chinese headers). Fitting needs the reply time;
    scoring open cases does not (``require_reply=False``: every case without one is open).
    """
    from ingest.options import ReaderOptions
    from ingest.readers import ComplaintReader

    def _header_key(name: object) -> str:  # the matching rule of ingest's column detection
        return re.sub(r"[\s_\-]", "", str(name).replace("\ufeff", "")).lower()

    reader = ComplaintReader(path, ReaderOptions(encoding=encoding), rejects=rejects)
    frames = []
    for chunk in reader:
        rec = chunk.records.copy()
        keys = {_header_key(c): c for c in chunk.source.columns}
        for name, candidates in EXTRA_COLUMNS.items():
            src = next((keys[_header_key(c)] for c in candidates if _header_key(c) in keys), None)
            if src is not None and src not in reader.mapping.values():
                rec[name] = chunk.source[src].to_numpy()
        frames.append(rec)
    if not frames:
        raise SurvivalDataError("no usable rows", path=str(path))
    out = pd.concat(frames, ignore_index=True)
    if "reply_time" not in out.columns and require_reply:
        raise SurvivalDataError(
            "no reply-time column (looked for reply_time, 答复时间, 回复时间, 办结时间 ...): durations cannot be "
            "measured; export the log with the reply time",
            path=str(path),
        )
    return out


def _text_of(frame: pd.DataFrame) -> pd.Series:
    title = frame["title"].fillna("").astype(str) if "title" in frame.columns else ""
    text = frame["text"].fillna("").astype(str) if "text" in frame.columns else ""
    return (title + "。" + text) if isinstance(title, pd.Series) else pd.Series(text, index=frame.index)


def _urgency(frame: pd.DataFrame, text: pd.Series) -> pd.Series:
    col = _column(frame, "urgency")
    if col is not None:
        num = pd.to_numeric(col, errors="coerce")
        mapped = col.astype(str).str.strip().map(URGENCY_LEVELS)
        values = num.where(num.notna(), mapped)
        if values.notna().mean() > 0.5:
            return values.fillna(0.0).astype(float)
    from nlp.urgency import assess_urgency

    return text.map(lambda s: URGENCY_LEVELS.get(assess_urgency(s).level, 0.0)).astype(float)


def duration_between(start: pd.Series, end: pd.Series | pd.Timestamp, unit: str) -> np.ndarray:
    """Time from each ``start`` to ``end`` in ``unit`` (working days on the Chinese calendar, or hours)."""
    start = pd.Series(pd.to_datetime(start)).reset_index(drop=True)
    end = pd.Series(pd.to_datetime(end)).reset_index(drop=True)
    if len(end) == 1 and len(start) > 1:
        end = pd.Series([end.iloc[0]] * len(start))
    if unit == "hours":
        return ((end - start) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    origin = min(start.min(), end.min()).normalize()
    return working_clock(end, origin=origin) - working_clock(start, origin=origin)
