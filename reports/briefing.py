"""Assemble the briefing as of a day: plain numbers and records, no formatting.

The alerts, hot issues, outlook and cases at risk are those of
:func:`forecasting.summary.decision_summary` for the same store, models, as-of and window
(``--period day`` is ``hotline summary --days 1``, ``week`` is ``--days 7``). The report adds
what a briefing needs around them: the period's volume against the day/week before and against
what the forecaster expected, the alerts that ended in the period, example complaints of each
hot incident and the size of the classification review queue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from forecasting.alerts import run_alerts
from forecasting.asof import resolve_as_of
from forecasting.outlook import daily_forecast
from forecasting.sources import SignalSource, signal_source
from forecasting.summary import DecisionSummary, decision_summary
from nlp.pii import mask_pii

if TYPE_CHECKING:
    from events.store import EventStore
    from forecasting.forecaster import Forecaster
    from forecasting.survival import SurvivalModel

logger = logging.getLogger(__name__)

Period = Literal["day", "week"]
PERIOD_DAYS = {"day": 1, "week": 7}
# Days of observed volume drawn before the period in the chart (four weekly cycles).
HISTORY_DAYS = 28
EXAMPLES_PER_ISSUE = 2
EXAMPLE_CHARS = 80


@dataclass
class Briefing:
    """Everything the renderers show; numbers stay numbers, days stay ``pd.Timestamp``."""

    as_of: pd.Timestamp
    as_of_source: str
    period: str
    start: pd.Timestamp  # first day of the period
    end: pd.Timestamp  # the as-of day (last day of the period)
    summary: DecisionSummary
    # Rows: name, start, end, calls (the period first, then what it is compared with).
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    # Daily: date, calls (observed, NaN after as-of), expected, lower, upper (NaN where none).
    volume: pd.DataFrame = field(default_factory=pd.DataFrame)
    expected_period: float | None = None  # forecast of the period made the day before it
    by_category: pd.DataFrame = field(default_factory=pd.DataFrame)
    hot: list[dict[str, Any]] = field(default_factory=list)
    alerts_opened: list[dict[str, Any]] = field(default_factory=list)
    alerts_closed: list[dict[str, Any]] = field(default_factory=list)
    review: dict[str, Any] = field(default_factory=dict)
    review_rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def calls(self) -> float:
        return float(self.comparisons[0]["calls"]) if self.comparisons else 0.0


def build_briefing(
    store: EventStore | None,
    forecaster: Forecaster | None = None,
    survival: SurvivalModel | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    period: Period = "day",
    top: int = 10,
    cases: pd.DataFrame | None = None,
) -> Briefing:
    """The briefing for the ``period`` ending on the as-of day (default: the latest complaint)."""
    if period not in PERIOD_DAYS:
        raise ValueError(f"period must be 'day' or 'week', got {period!r}")
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    days = PERIOD_DAYS[period]
    source = signal_source(store) if store is not None else None
    summary = decision_summary(
        source, forecaster, survival, top=top, as_of=as_of, window_days=days, cases=cases
    )
    if not summary.as_of:
        raise ValueError("no as-of day: give --as-of or load complaints into the store")
    ts = pd.Timestamp(summary.as_of)
    if as_of is not None:  # keep the seconds of "end of day" that the summary rounds to minutes
        ts = resolve_as_of(as_of)[0]
    end = ts.normalize()
    start = end - pd.Timedelta(days=days - 1)
    out = Briefing(
        as_of=ts,
        as_of_source=summary.as_of_source,
        period=period,
        start=start,
        end=end,
        summary=summary,
        notes=list(summary.notes),
    )
    signals = _signals(source, end)
    out.comparisons = _comparisons(signals, start, end, period)
    out.by_category = _by_category(signals, start, end, days)
    out.volume, out.expected_period = _volume(signals, forecaster, source, start, end, out.notes)
    out.hot = _with_examples(source, summary.hot, ts)
    out.alerts_opened, out.alerts_closed = _alert_changes(source, forecaster, start, end, summary.alerts)
    out.review, out.review_rows = _review_queue(store, source, start, ts, top)
    return out


def _signals(source: SignalSource | None, end: pd.Timestamp) -> pd.DataFrame:
    if source is None:
        return pd.DataFrame(columns=["date", "category", "district", "calls"])
    frame = source.signals.read(end=f"{end:%Y-%m-%d}")
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=["date", "category", "district", "calls"])
    frame = frame.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame["calls"] = pd.to_numeric(frame["calls"], errors="coerce").fillna(0)
    return frame


def _calls(signals: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> float:
    if len(signals) == 0:
        return 0.0
    d = signals["date"]
    return float(signals.loc[(d >= start) & (d <= end), "calls"].sum())


def _comparisons(
    signals: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, period: str
) -> list[dict[str, Any]]:
    """The period, then what it is compared with: for a day the day before and the same weekday a
    week before; for a week the seven days before."""
    one, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    spans = [("current", start, end)]
    if period == "day":
        spans += [("previous", start - one, end - one), ("last_week", start - week, end - week)]
    else:
        spans += [("previous", start - week, end - week)]
    return [{"name": n, "start": s, "end": e, "calls": _calls(signals, s, e)} for n, s, e in spans]


def _by_category(signals: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, days: int) -> pd.DataFrame:
    """Calls per category in the period and in the period before, most calls first."""
    cols = ["category", "calls", "previous", "change"]
    if len(signals) == 0:
        return pd.DataFrame(columns=cols)
    before = start - pd.Timedelta(days=days)
    d = signals["date"]
    cur = signals[(d >= start) & (d <= end)].groupby("category")["calls"].sum()
    prev = signals[(d >= before) & (d < start)].groupby("category")["calls"].sum()
    frame = pd.DataFrame({"calls": cur, "previous": prev}).fillna(0.0)
    frame = frame[(frame["calls"] > 0) | (frame["previous"] > 0)]
    frame["change"] = frame["calls"] - frame["previous"]
    frame = frame.rename_axis("category").reset_index()
    return frame.sort_values(["calls", "category"], ascending=[False, True]).reset_index(drop=True)[cols]


def _volume(
    signals: pd.DataFrame,
    forecaster: Forecaster | None,
    source: SignalSource | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    notes: list[str],
) -> tuple[pd.DataFrame, float | None]:
    """Observed daily calls for the weeks before as-of, with what was expected for the period
    (forecast from the day before it) and the forecast for the days after as-of."""
    first = end - pd.Timedelta(days=HISTORY_DAYS - 1)
    dates = pd.date_range(first, end, freq="D")
    if len(signals):
        daily = signals.groupby("date")["calls"].sum()
        observed = daily.reindex(dates, fill_value=0.0).astype(float)
    else:
        observed = pd.Series(0.0, index=dates)
    frame = pd.DataFrame({"date": dates, "calls": observed.to_numpy()})
    expected_period = None
    if forecaster is None:
        return frame.assign(expected=float("nan"), lower=float("nan"), upper=float("nan")), None
    parts = []
    try:
        back = daily_forecast(forecaster, source, start - pd.Timedelta(days=1), int((end - start).days) + 1)
        expected_period = float(back["expected"].sum())
        parts.append(back)
    except Exception as exc:  # a briefing reports what it can
        logger.warning("report: expected volume for the period unavailable: %s", exc)
        notes.append(f"expected volume for the period unavailable: {exc}")
    try:
        parts.append(daily_forecast(forecaster, source, end, forecaster.config.horizon, notes))
    except Exception as exc:
        logger.warning("report: forecast unavailable: %s", exc)
    if parts:
        fc = pd.concat(parts, ignore_index=True).drop_duplicates("date", keep="last")
        frame = frame.merge(fc, on="date", how="outer").sort_values("date").reset_index(drop=True)
    return frame, expected_period


def _with_examples(
    source: SignalSource | None, hot: list[dict[str, Any]], as_of: pd.Timestamp
) -> list[dict[str, Any]]:
    """The summary's hot issues with up to two (masked) complaints filed by as-of, latest first."""
    out = [dict(h) for h in hot]
    if not out or source is None or source.incidents is None or source.complaints is None:
        return out
    try:
        members = source.incidents.read_members([h["incident_id"] for h in out])
        comp = source.complaints.read([str(i) for i in members["complaint_id"].unique()])
    except Exception as exc:
        logger.warning("report: examples unavailable: %s", exc)
        return out
    comp = comp.assign(_t=pd.to_datetime(comp["time"], errors="coerce"))
    comp = comp[comp["_t"].notna() & (comp["_t"] <= as_of)]
    comp = comp.set_index(comp["id"].astype(str))
    for h in out:
        ids = members.loc[members["incident_id"].astype(str) == h["incident_id"], "complaint_id"].astype(str)
        rows = comp.loc[comp.index.intersection(ids)].sort_values("_t", ascending=False)
        h["examples"] = [
            _example(r.get("title"), r.get("text")) for _, r in rows.head(EXAMPLES_PER_ISSUE).iterrows()
        ]
        h["description"] = mask_pii(str(h.get("description") or ""))
    return out


def _example(title: Any, text: Any) -> str:
    title = "" if title is None or (isinstance(title, float) and pd.isna(title)) else str(title)
    text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    body = f"{title}：{text}" if title and text else title or text
    return mask_pii(body)[:EXAMPLE_CHARS]


def _alert_changes(
    source: SignalSource | None,
    forecaster: Forecaster | None,
    start: pd.Timestamp,
    end: pd.Timestamp,
    top_alerts: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alerts opened in the period (first seen in it) and closed in it (its first day without
    the alert is in the period: last seen from the day before the period to the day before
    as-of). Stored alerts are used; when none is
    stored for these days they are detected now without writing, as the summary does. Opened
    alerts are listed in the summary's order (best score first), all of them, not its top."""
    if source is None:
        return [], []
    span = int((end - start).days) + 1
    since = start - pd.Timedelta(days=span)
    try:
        stored = (
            source.alerts.read(since=f"{since:%Y-%m-%d}", limit=None) if source.alerts is not None else None
        )
        recs = [a for a in _alert_records(stored) if a["date"] <= end]
        if not recs:
            detected = run_alerts(source, forecaster, date=end, days=2 * span, write=False)
            recs = _alert_records(pd.DataFrame([a.to_record() for a in detected]))
    except Exception as exc:
        logger.warning("report: alerts unavailable: %s", exc)
        return [dict(a) for a in top_alerts], []
    opened = [a for a in recs if start <= a["first_seen"] <= end]
    closed = [a for a in recs if start - pd.Timedelta(days=1) <= a["last_seen"] < end]
    opened.sort(key=lambda a: -(a.get("score") or 0.0))
    closed.sort(key=lambda a: -(a.get("score") or 0.0))
    return opened, closed


def _alert_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    out = []
    for r in frame.to_dict(orient="records"):
        day = pd.Timestamp(r.get("date")).normalize()
        first = pd.Timestamp(r.get("first_seen") or day).normalize()
        last = pd.Timestamp(r.get("last_seen") or day).normalize()
        examples = r.get("examples") or []
        keywords = r.get("keywords") or []
        out.append(
            {
                "alert_id": str(r.get("alert_id") or ""),
                "kind": str(r.get("kind") or ""),
                "series_key": str(r.get("series_key") or ""),
                "date": day,
                "first_seen": first,
                "last_seen": last,
                "observed": float(r.get("observed") or 0.0),
                "expected": float(r.get("expected") or 0.0),
                "size": float(r.get("size") or 0.0),
                "score": float(r.get("score") or 0.0),
                "keywords": "、".join(str(k) for k in keywords)
                if isinstance(keywords, list)
                else str(keywords),
                "example": mask_pii(str(examples[0]))[:EXAMPLE_CHARS]
                if isinstance(examples, list) and examples
                else "",
            }
        )
    return out


def _review_queue(
    store: EventStore | None, source: SignalSource | None, start: pd.Timestamp, as_of: pd.Timestamp, top: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Complaints of the period whose latest prediction needs review (below the model's
    per-class threshold), and the least confident of them."""
    info: dict[str, Any] = {"n_complaints": 0, "n_predicted": 0, "n_review": 0}
    if store is None or source is None or source.complaints is None:
        return info, []
    comp = source.complaints.read(since=start.to_pydatetime(), until=as_of.to_pydatetime())
    info["n_complaints"] = len(comp)
    if len(comp) == 0:
        return info, []
    pred = store.complaints.read_predictions([str(i) for i in comp["id"]])
    info["n_predicted"] = len(pred)
    if len(pred) == 0:
        return info, []
    flagged = pred[pred["needs_review"].astype(bool)].sort_values(["score", "complaint_id"])
    info["n_review"] = len(flagged)
    comp = comp.set_index(comp["id"].astype(str))
    rows = []
    for _, p in flagged.head(top).iterrows():
        cid = str(p["complaint_id"])
        c = comp.loc[cid] if cid in comp.index else {}
        rows.append(
            {
                "id": cid,
                "time": pd.Timestamp(c.get("time")) if c is not None and c.get("time") is not None else None,
                "title": _example(c.get("title"), None if c.get("title") else c.get("text")),
                "label": str(p.get("label") or ""),
                "score": float(p.get("score") or 0.0),
                "model_version": str(p.get("model_version") or ""),
            }
        )
    return info, rows
