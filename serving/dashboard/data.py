"""What each dashboard view shows, computed from the store, forecaster and survival model.

Functions here return plain dicts and lists for the templates (and for tests); they never
render HTML. Every view is *as of* one time (default: the latest complaint in the store): only
data up to that time is read, so a view for a past day is what the duty officer saw that day.
Complaint texts come from the store, which holds them masked; titles are masked again on the
way out (a store written by older code may hold raw ones) and caller ids are never returned.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.alert_records import alert_opened
from forecasting.asof import WEEK, AsOf, resolve
from forecasting.history import series_values
from forecasting.outlook import Forecasts
from forecasting.sources import SignalSource
from nlp.pii import mask_pii

if TYPE_CHECKING:
    from events.store import EventStore
    from forecasting.forecaster import Forecaster
    from forecasting.survival import SurvivalModel
    from nlp.engine import InferenceEngine

logger = logging.getLogger(__name__)

HISTORY_DAYS = 56
PAGE_SIZE = 50
MAX_DISTRICT_ROWS = 12
URGENCIES = ("紧急", "较急", "一般")


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _band(table: pd.DataFrame | None, rows: slice) -> dict[str, float] | None:
    if table is None or len(table) == 0:
        return None
    cols = [c for c in table.columns if c == "mean" or c[:5] in ("lower", "upper")]
    # One numpy sum per column instead of a pandas one (the overview sums a few hundred).
    sums = table[cols].to_numpy(dtype=float)[rows].sum(axis=0)
    # Summed daily bounds overstate the spread of a sum: a conservative band, as in the summary.
    return {c: round(float(v), 1) for c, v in zip(cols, sums, strict=True)}


def _status(actual: float, band: dict[str, float] | None) -> str:
    if band is None:
        return ""
    if actual > band.get("upper_95", math.inf):
        return "above95"
    if actual > band.get("upper_80", math.inf):
        return "above80"
    if actual < band.get("lower_80", -math.inf):
        return "below80"
    return "normal"


def volume_table(fcs: Forecasts, as_of: AsOf) -> list[dict[str, Any]]:
    """Calls today and this week (the 7 days up to as-of) against the forecast made before them.

    The expected week is forecast from the history up to the day before the week started, so
    the band says what was expected, not what the week itself taught the model.
    """
    values = fcs.values
    if len(values) == 0:
        return []
    day, start = as_of.day, as_of.week_start
    week_calls = values.loc[start:day].sum()
    keys = [k for k in values.columns if k == "total" or k.startswith("category=")]
    keys.sort(key=lambda k: (k != "total", k))
    # The busiest districts only: a real city has dozens, mostly quiet (the grid shows them all).
    districts = [k for k in values.columns if k.startswith("district=") and "|" not in k]
    districts.sort(key=lambda k: (-float(week_calls.get(k, 0.0)), k))
    keys += districts[:MAX_DISTRICT_ROWS]
    rows = []
    for key in keys:
        col = values[key]
        week = float(col.loc[start:day].sum())
        today = float(col.loc[day:day].sum())
        table = fcs.after(key, start - pd.Timedelta(days=1), WEEK)
        week_band = _band(table, slice(0, WEEK))
        today_band = _band(table, slice(WEEK - 1, WEEK))
        level, _, name = key.partition("=")
        rows.append(
            {
                "key": key,
                "level": level if name else "total",
                "name": name or key,
                "today": today,
                "week": week,
                "today_expected": today_band,
                "week_expected": week_band,
                "today_status": _status(today, today_band),
                "week_status": _status(week, week_band),
            }
        )
    return rows


def series_figure(
    fcs: Forecasts, key: str, as_of: AsOf, labels: dict[str, str], horizon: int | None = None
) -> dict[str, Any] | None:
    """A plotly figure (plain dict): history, the expected band of this week, the forecast ahead."""
    values, forecaster = fcs.values, fcs.fc
    if len(values) == 0 or key not in values.columns:
        return None
    hist = values[key].loc[as_of.day - pd.Timedelta(days=HISTORY_DAYS) : as_of.day]
    x = [f"{d:%Y-%m-%d}" for d in hist.index]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": labels["actual"], "x": x,
         "y": [float(v) for v in hist], "line": {"color": "#1f4e79"}, "marker": {"size": 4}},
    ]  # fmt: skip
    before = fcs.after(key, as_of.week_start - pd.Timedelta(days=1), WEEK)
    ahead_days = horizon or (forecaster.config.horizon if forecaster is not None else WEEK)
    ahead = fcs.after(key, as_of.day, ahead_days)
    for table, name, colour in (
        (before, labels["expected"], "#c55a11"),
        (ahead, labels["forecast"], "#548235"),
    ):
        if table is None:
            continue
        fx = list(table["date"])
        for level, alpha in (("95", 0.12), ("80", 0.25)):
            lo, hi = f"lower_{level}", f"upper_{level}"
            if lo not in table.columns:
                continue
            data.append(
                {"type": "scatter", "mode": "lines", "x": fx + fx[::-1],
                 "y": [float(v) for v in table[hi]] + [float(v) for v in table[lo]][::-1],
                 "fill": "toself", "line": {"width": 0}, "hoverinfo": "skip",
                 "fillcolor": _rgba(colour, alpha), "name": f"{name} {level}%"}
            )  # fmt: skip
        data.append(
            {"type": "scatter", "mode": "lines", "name": name, "x": fx,
             "y": [float(v) for v in table["mean"]], "line": {"color": colour, "dash": "dash"}}
        )  # fmt: skip
    layout = {
        "margin": {"l": 40, "r": 10, "t": 10, "b": 40},
        "height": 320,
        "font": {"family": "Noto Sans SC, sans-serif"},
        "legend": {"orientation": "h", "y": -0.2},
        "xaxis": {"type": "date"},
        "yaxis": {"rangemode": "tozero", "title": {"text": labels["calls"]}},
        "shapes": [
            {"type": "line", "x0": as_of.date, "x1": as_of.date, "yref": "paper", "y0": 0, "y1": 1,
             "line": {"color": "#888", "dash": "dot"}}
        ],
    }  # fmt: skip
    return {"data": data, "layout": layout}


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


# -- grid --------------------------------------------------------------------------------------


def grid(fcs: Forecasts, source: SignalSource | None, as_of: AsOf) -> dict[str, Any]:
    """District × category counts this week, with the change against the forecast per cell.

    Cells the forecaster knows get its expectation for the week (forecast from the day before
    the week); the others compare with the mean week of the four weeks before.
    """
    day, start = as_of.day, as_of.week_start
    if source is not None:
        sig = source.signals.read(start - pd.Timedelta(days=4 * WEEK), day)
    else:
        sig = pd.DataFrame(columns=["date", "category", "district", "calls"])
    if len(sig) == 0:
        return {"categories": [], "districts": [], "cells": {}, "max": 0}
    sig = sig.assign(
        date=pd.to_datetime(sig["date"]), calls=pd.to_numeric(sig["calls"], errors="coerce").fillna(0)
    )
    this = sig[sig["date"] >= start].groupby(["district", "category"])["calls"].sum()
    prior = sig[sig["date"] < start].groupby(["district", "category"])["calls"].sum() / 4.0
    categories = sorted(sig["category"].astype(str).unique())
    districts = sorted(sig["district"].astype(str).unique())
    cells: dict[str, dict[str, Any]] = {}
    top = float(this.max()) if len(this) else 0.0
    # Plain dicts: a MultiIndex look-up per cell costs more than the whole rest of the cell.
    this_n, prior_n = this.to_dict(), prior.to_dict()
    for d in districts:
        for c in categories:
            n = float(this_n.get((d, c), 0.0))
            key = f"category={c}|district={d}"
            table = fcs.after(key, start - pd.Timedelta(days=1), WEEK)
            if table is not None:
                expected, basis = float(table["mean"].sum()), "forecast"
            else:
                expected, basis = float(prior_n.get((d, c), 0.0)), "prior"
            change = None if expected <= 0 else n / expected - 1
            cells[f"{d}|{c}"] = {
                "n": n,
                "expected": round(expected, 1),
                "basis": basis,
                "change": None if change is None else round(change, 2),
                "colour": _heat(n, top),
                "series": key,
            }
    return {"categories": categories, "districts": districts, "cells": cells, "max": top}


def _heat(n: float, top: float) -> str:
    """Background colour from white (0) to deep red (the busiest cell)."""
    if top <= 0 or n <= 0:
        return "#ffffff"
    share = math.sqrt(n / top)  # sqrt: small counts stay visible next to one big surge
    light = round(96 - 50 * share)
    return f"hsl(8, 75%, {light}%)"


# -- incidents ---------------------------------------------------------------------------------


def incidents(
    source: SignalSource,
    as_of: AsOf,
    *,
    category: str | None = None,
    district: str | None = None,
    urgency: str | None = None,
    since: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    q: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> dict[str, Any]:
    """Incidents active in the date range (up to as-of), hottest first, filtered, one page."""
    end = (
        min(until + pd.Timedelta(days=1) - pd.Timedelta(seconds=1), as_of.ts)
        if until is not None
        else as_of.ts
    )
    if source.incidents is None:
        return {"rows": [], "total": 0, "page": 1, "pages": 1}
    frame = source.incidents.read(
        since=None if since is None else since.to_pydatetime(),
        until=end.to_pydatetime(),
        category=category or None,
        district=district or None,
        order="heat",
    )
    if urgency and len(frame):
        frame = frame[frame["urgency"].astype(str) == urgency]
    if q and len(frame):
        needle = q.strip().lower()
        text = (
            frame["description"].fillna("").astype(str)
            + " "
            + frame["anchor"].fillna("").astype(str)
            + " "
            + frame["keywords"].map(lambda k: " ".join(k) if isinstance(k, list) else str(k or ""))
        )
        frame = frame[text.str.lower().str.contains(needle, regex=False)]
    total = len(frame)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), pages)
    part = frame.iloc[(page - 1) * page_size : page * page_size]
    return {
        "rows": [_incident(r) for r in part.to_dict(orient="records")],
        "total": total,
        "page": page,
        "pages": pages,
    }


def _incident(r: dict[str, Any]) -> dict[str, Any]:
    kw = r.get("keywords")
    return {
        "incident_id": str(r.get("incident_id")),
        "category": r.get("category") or "",
        "district": r.get("district") or "",
        "anchor": r.get("anchor") or "",
        "location_key": r.get("location_key") or "",
        "first_seen": _ts(r.get("first_seen")),
        "last_seen": _ts(r.get("last_seen")),
        "n_complaints": int(r.get("n_complaints") or 0),
        "n_callers": int(r.get("n_callers") or 0),
        "likes": int(r.get("likes") or 0),
        "growth": _num(r.get("growth")),
        "heat": _num(r.get("heat")),
        "urgency": r.get("urgency") or "",
        "keywords": list(kw) if isinstance(kw, (list, tuple)) else [],
        "description": mask_pii(str(r.get("description") or "")),
    }


def _ts(value: Any) -> str:
    if value is None or value is pd.NaT:
        return ""
    try:
        return f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"
    except (TypeError, ValueError):
        return str(value)


def incident_detail(source: SignalSource, incident_id: str, as_of: AsOf) -> dict[str, Any] | None:
    """One incident: its complaints up to as-of (masked text, never the caller), its alerts."""
    if source.incidents is None:
        return None
    frame = source.incidents.read(ids=[incident_id], limit=1)
    if len(frame) == 0:
        return None
    out = _incident(frame.iloc[0].to_dict())
    members = source.incidents.members_detail([incident_id])
    if len(members):
        members = members[pd.to_datetime(members["time"]) <= as_of.ts]
    out["members"] = [
        {
            "id": str(m["id"]),
            "time": _ts(m["time"]),
            "title": mask_pii(str(m.get("title") or "")),
            "text": mask_pii(str(m.get("text") or "")),
            "district": m.get("district") or "",
            "location_key": m.get("location_key") or "",
            "urgency": m.get("urgency") or "",
            "similarity": _num(m.get("similarity")),
        }
        for m in members.to_dict(orient="records")
    ]
    out["n_as_of"] = len(out["members"])
    daily = (
        pd.Series(1, index=pd.to_datetime(members["time"]).dt.normalize()).groupby(level=0).sum()
        if len(members)
        else None
    )
    out["timeline"] = (
        None
        if daily is None
        else {
            "data": [{"type": "bar", "x": [f"{d:%Y-%m-%d}" for d in daily.index], "y": [int(v) for v in daily],
                      "marker": {"color": "#c55a11"}}],
            "layout": {"height": 220, "margin": {"l": 30, "r": 10, "t": 10, "b": 40}, "xaxis": {"type": "date"},
                       "font": {"family": "Noto Sans SC, sans-serif"}},
        }
    )  # fmt: skip
    alerts = source.alerts.read(limit=None) if source.alerts is not None else pd.DataFrame()
    raised = []
    for a in alerts.to_dict(orient="records") if len(alerts) else []:
        ids = a.get("incident_ids")
        if isinstance(ids, (list, tuple)) and incident_id in ids and pd.Timestamp(a["date"]) <= as_of.day:
            raised.append(_alert(a))
    out["alerts"] = raised
    return out


def _alert(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "alert_id": str(a.get("alert_id")),
        "date": str(a.get("date") or ""),
        "series_key": str(a.get("series_key") or ""),
        "kind": str(a.get("kind") or ""),
        "observed": _num(a.get("observed")),
        "expected": _num(a.get("expected")),
        "score": _num(a.get("score")),
        "first_seen": _ts(a.get("first_seen"))[:10],
        "last_seen": _ts(a.get("last_seen"))[:10],
        "keywords": list(a.get("keywords") or []),
        "incident_ids": list(a.get("incident_ids") or []),
    }


def open_alerts(source: SignalSource | None, as_of: AsOf, window_days: int = WEEK) -> list[dict[str, Any]]:
    """Stored alerts active in the window and opened by as-of, highest score first."""
    if source is None or source.alerts is None:
        return []
    start = as_of.day - pd.Timedelta(days=window_days - 1)
    frame = source.alerts.read(since=f"{start:%Y-%m-%d}", limit=None)
    if len(frame) == 0:
        return []
    frame = frame[alert_opened(frame) <= as_of.day]
    return [_alert(a) for a in frame.to_dict(orient="records")]


# -- reply risk --------------------------------------------------------------------------------


def reply_risk(
    survival: SurvivalModel, source: SignalSource, as_of: AsOf, *, page: int = 1, page_size: int = PAGE_SIZE
) -> dict[str, Any]:
    """Open cases at as-of (store complaints of the last 30 days, no reply recorded), riskiest first."""
    from forecasting.summary import OPEN_WINDOW_DAYS, store_open_cases

    cases = store_open_cases(source, as_of.ts)
    if len(cases) == 0:
        return {"rows": [], "total": 0, "page": 1, "pages": 1, "n_overdue": 0, "window": OPEN_WINDOW_DAYS}
    pred = survival.predict(cases, as_of=as_of.ts, open_only=True)
    # Cases still in time first (they can be saved), riskiest first; then the overdue ones.
    pred = pred.assign(_late=pred["overdue"].astype(bool)).sort_values(
        ["_late", "p_unanswered_at_deadline", "elapsed"], ascending=[True, False, False], kind="stable"
    )
    titles = dict(zip(cases["id"].astype(str), cases["title"].fillna("").astype(str), strict=True))
    total = len(pred)
    pages = max(1, math.ceil(total / page_size))
    page = min(max(page, 1), pages)
    rows = []
    for r in pred.iloc[(page - 1) * page_size : page * page_size].to_dict(orient="records"):
        rows.append(
            {
                "id": str(r["id"]),
                "title": mask_pii(titles.get(str(r["id"]), "")),
                "time": _ts(r.get("time")),
                "category": r.get("category") or "",
                "district": r.get("district") or "",
                "elapsed": _num(r.get("elapsed")),
                "unit": r.get("unit") or "days",
                "deadline": _ts(r.get("deadline")),
                "p": _num(r.get("p_unanswered_at_deadline")),
                "overdue": bool(r.get("overdue")),
            }
        )
    return {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "n_overdue": int(pred["overdue"].astype(bool).sum()),
        "window": OPEN_WINDOW_DAYS,
        "deadline_days": float(survival.config.deadline_days),
    }


# -- model -------------------------------------------------------------------------------------


def model_info(engine: InferenceEngine | None, store: EventStore | None, as_of: AsOf) -> dict[str, Any]:
    """The classifier in service, its evaluation metrics and the review rate of stored predictions."""
    import json
    from pathlib import Path

    out: dict[str, Any] = {"engine": None, "eval": None, "per_class": [], "review": None}
    if engine is not None:
        d = engine.describe()
        out["engine"] = {k: d.get(k) for k in ("name", "version", "model_type", "max_length", "temperature")}
        out["engine"]["n_labels"] = len(d.get("labels") or [])
        model_dir = d.get("model_dir")
        path = Path(model_dir) / "metrics.json" if model_dir else None
        if path is not None and path.is_file():
            try:
                ev = json.loads(path.read_text(encoding="utf-8")).get("eval") or {}
            except (OSError, ValueError):
                ev = {}
            if ev:
                out["eval"] = {
                    k: _num(ev.get(k)) for k in ("n", "accuracy", "macro_f1", "weighted_f1", "top2_accuracy")
                }
                out["per_class"] = [
                    {"label": k, **{m: _num(v.get(m)) for m in ("precision", "recall", "f1", "support")}}
                    for k, v in (ev.get("per_class") or {}).items()
                ]
    if store is not None:
        pred = store.complaints.read_predictions()
        if len(pred) and "needs_review" in pred.columns:
            flags = pred["needs_review"].astype(bool)
            by_version = (
                pred.assign(_r=flags).groupby("model_version")["_r"].agg(["mean", "size"]).reset_index()
                if "model_version" in pred.columns
                else pd.DataFrame()
            )
            out["review"] = {
                "n": len(pred),
                "rate": float(flags.mean()),
                "by_version": [
                    {"version": str(r["model_version"]), "rate": float(r["mean"]), "n": int(r["size"])}
                    for r in by_version.to_dict(orient="records")
                ],
            }
    return out


def warm(source: SignalSource | None, forecaster: Forecaster | None) -> None:
    """Compute what the overview and grid need for the default as-of (at start-up, in a thread).

    The first request otherwise pays for building the series from the signals and for every
    forecast of the page; afterwards they come from the values kept per signal source
    (:data:`forecasting.sources.SOURCE_CACHE`) and the forecasts the forecaster keeps.
    """
    if forecaster is None:
        return
    at = resolve(None, source, forecaster)
    fcs = Forecasts(forecaster, series_values(source, forecaster, at.day))
    volume_table(fcs, at)
    fcs.after("total", at.day, forecaster.config.horizon)
    if source is not None:
        grid(fcs, source, at)
