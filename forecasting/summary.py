"""A short decision summary for the duty officer, as of a date: surges, hot issues, next week,
late cases.

>>> print(decision_summary(store, forecaster, survival, as_of="2020-01-07").to_text())  # doctest: +SKIP

Everything is *as of* one time (default: the latest complaint in the store, said in the
output): alerts opened in the last ``window_days``, incidents active in that window with their
growth over the window before, the next ``horizon`` days after the as-of day, and the cases
still open at that time. Nothing after the as-of time is read, so a summary for a past day is
what the duty officer would have seen that day.

Every input is optional (``None``): the summary says which part is unavailable instead of
failing, so it can close a demo or a daily report whatever has been built so far.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.alerts import run_alerts
from forecasting.asof import resolve_as_of
from forecasting.outlook import outlook
from forecasting.sources import SignalSource

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster
    from forecasting.survival import SurvivalModel

logger = logging.getLogger(__name__)

# Complaints filed this many days before the as-of time are the store's candidate open cases:
# the store records no replies, and older cases are past any usual deadline.
OPEN_WINDOW_DAYS = 30


@dataclass
class DecisionSummary:
    """What to act on: ranked alerts, hot issues, the volume outlook and cases at risk."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    hot: list[dict[str, Any]] = field(default_factory=list)
    outlook: list[dict[str, Any]] = field(default_factory=list)
    at_risk: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deadline_days: float = 15.0
    as_of: str = ""
    as_of_source: str = ""
    window_days: int = 7
    open_cases: dict[str, Any] = field(default_factory=dict)

    @property
    def window(self) -> tuple[str, str]:
        end = pd.Timestamp(self.as_of).normalize() if self.as_of else None
        if end is None:
            return "", ""
        return f"{end - pd.Timedelta(days=self.window_days - 1):%Y-%m-%d}", f"{end:%Y-%m-%d}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "as_of_source": self.as_of_source,
            "window_days": self.window_days,
            "window": list(self.window),
            "alerts": self.alerts,
            "hot": self.hot,
            "outlook": self.outlook,
            "at_risk": self.at_risk,
            "open_cases": self.open_cases,
            "notes": self.notes,
            "deadline_days": self.deadline_days,
        }

    def to_text(self) -> str:
        w0, w1 = self.window
        head = "Decision summary"
        if self.as_of:
            head += f" as of {self.as_of} ({self.as_of_source})"
        lines = [head, ""]
        lines.append(f"Surge alerts opened {w0}..{w1} (highest score first):")
        if self.alerts:
            for i, a in enumerate(self.alerts, 1):
                span = (
                    a["first_seen"]
                    if a["first_seen"] == a["last_seen"]
                    else f"{a['first_seen']}..{a['last_seen']}"
                )
                kw = f"; keywords: {', '.join(a['keywords'][:5])}" if a.get("keywords") else ""
                lines.append(
                    f"  {i}. [{a['kind']}] {a['series_key']} {span}: {a['observed']:g} calls vs {a['expected']:.1f} "
                    f"expected (+{a['size']:.0f} in total, score {a['score']:.1f}){kw}"
                )
                if a.get("examples"):
                    lines.append(f"     e.g. {a['examples'][0][:60]}")
        else:
            lines.append("  none")
        lines += [
            "",
            f"Hot issues active {w0}..{w1} (growth: these {self.window_days} days vs the {self.window_days} before):",
        ]
        if self.hot:
            for h in self.hot:
                where = " / ".join(x for x in (h.get("category"), h.get("district"), h.get("anchor")) if x)
                lines.append(
                    f"  {h.get('rank', '-')}. {where}: {h.get('n_recent', '?')} complaints in the window "
                    f"({h.get('n_before', '?')} before, {h.get('n_complaints', '?')} in all), "
                    f"growth x{float(h.get('growth') or 0):.2f} - {str(h.get('description') or '')[:50]}"
                )
        else:
            lines.append("  none")
        lines += ["", "Next days (forecast):"]
        if self.outlook:
            for o in self.outlook:
                change = (
                    ""
                    if o["last_week"] == 0
                    else f" ({(o['next_week'] / o['last_week'] - 1) * 100:+.0f}% vs the last {o['days']} days observed)"
                )
                when = f" {o['start']}..{o['end']}" if o.get("start") else ""
                lines.append(
                    f"  {o['series']}: {o['next_week']:.0f} calls expected over {o['days']} days{when} "
                    f"[{o['lower']:.0f}-{o['upper']:.0f}]{change}"
                )
        else:
            lines.append("  not available")
        oc = self.open_cases
        lines += ["", f"Open cases most at risk of missing the {self.deadline_days:g}-working-day deadline:"]
        if oc:
            lines.append(
                f"  {oc.get('n_open', 0)} open case(s) ({oc.get('source', '')}); "
                f"{oc.get('n_overdue', 0)} already past the deadline"
            )
        if self.at_risk:
            for c in self.at_risk:
                title = f" {c['title'][:30]}" if c.get("title") else ""
                lines.append(
                    f"  {c['id']}{title} ({c['category']}, {c['district']}): {c['p_unanswered_at_deadline'] * 100:.0f}% "
                    f"unanswered at {c['deadline']}; waited {c['elapsed']:.1f} {_unit(c)}"
                    + (" - OVERDUE" if c.get("overdue") else "")
                )
        else:
            lines.append("  none")
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0:
        return []
    out = []
    for r in frame.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    return out


def decision_summary(
    source: SignalSource | None,
    forecaster: Forecaster | None,
    survival: SurvivalModel | None,
    *,
    top: int = 5,
    as_of: str | pd.Timestamp | None = None,
    window_days: int = 7,
    cases: pd.DataFrame | None = None,
) -> DecisionSummary:
    """Build the summary as of ``as_of`` from the event store (its :class:`SignalSource`), a
    Forecaster and a SurvivalModel.

    ``as_of`` defaults to the latest complaint time in the store (a bare date means the end of
    that day). ``cases`` (a complaint table without reply times, e.g. from
    :func:`forecasting.survival.read_cases` with ``require_reply=False``) are scored for reply
    risk; without it the store's complaints of the last :data:`OPEN_WINDOW_DAYS` days are, and
    without a store the survival model's own open cases.
    """
    if window_days < 1:
        raise ValueError(f"window_days must be >= 1, got {window_days}")
    out = DecisionSummary(window_days=window_days)
    try:
        ts, how = resolve_as_of(as_of, source)
    except Exception as exc:
        ts, how = None, ""
        if forecaster is not None:
            ts, how = (
                forecaster.end_date + pd.Timedelta(days=1) - pd.Timedelta(seconds=1),
                "end of the forecaster's data",
            )
        out.notes.append(f"as-of time: {exc}")
    if ts is not None:
        out.as_of, out.as_of_source = f"{ts:%Y-%m-%d %H:%M}", how
    if source is not None and ts is not None:
        out.alerts = _alerts(source, forecaster, ts, window_days, top, out.notes)
        if source.incidents is not None and source.complaints is not None:
            try:
                out.hot = hot_issues(source, ts, window_days=window_days, top=top)
            except Exception as exc:
                logger.warning("decision summary: hot issues unavailable: %s", exc)
                out.notes.append(f"hot issues unavailable: {exc}")
        else:
            out.notes.append(
                "the event store cannot read incidents and their members (read_hot/read_incidents, "
                "read_members): hot issues not shown"
            )
    elif source is None:
        out.notes.append("no event store: alerts and hot issues not shown")
    if forecaster is not None:
        try:
            out.outlook = outlook(forecaster, ts, source=source, top=top, notes=out.notes)
        except Exception as exc:
            logger.warning("decision summary: forecast unavailable: %s", exc)
            out.notes.append(f"forecast unavailable: {exc}")
    else:
        out.notes.append("no forecaster: outlook not shown (fit one with `hotline forecast fit`)")
    if survival is not None:
        out.deadline_days = float(survival.config.deadline_days)
        try:
            # A survival model's own open cases are scored as of their analysis date unless an
            # as-of was given: a store's latest complaint says nothing about that data.
            out.at_risk, out.open_cases = _at_risk(
                survival,
                source,
                cases,
                ts if how == "given" or cases is not None or _has_complaints(source) else None,
                top,
            )
        except Exception as exc:
            logger.warning("decision summary: reply risk unavailable: %s", exc)
            out.notes.append(f"reply risk unavailable: {exc}")
    else:
        out.notes.append("no survival model: cases at risk not shown (fit one with `hotline survival fit`)")
    return out


def _alerts(
    source: SignalSource,
    forecaster: Forecaster | None,
    as_of: pd.Timestamp,
    window_days: int,
    top: int,
    notes: list[str],
) -> list[dict[str, Any]]:
    """Alerts *opened* in the window (first seen in it, not after the as-of day), best first.

    Stored alerts are used; when none was stored for the window they are detected now, without
    writing (a summary must not change the store), and the notes say which it was.
    """
    day = as_of.normalize()
    start = day - pd.Timedelta(days=window_days - 1)
    window = f"{start:%Y-%m-%d}..{day:%Y-%m-%d}"
    try:
        frame = (
            source.alerts.read(since=f"{start:%Y-%m-%d}", limit=None) if source.alerts is not None else None
        )
        recs = _in_window(_records(frame), start, day)
        if not recs:
            detected = run_alerts(source, forecaster, date=day, days=window_days, write=False)
            recs = _in_window([a.to_record() for a in detected], start, day)
            notes.append(_detected_note(window, len(recs), stored=source.alerts is not None))
    except Exception as exc:  # a summary reports what it can
        logger.warning("decision summary: alerts unavailable: %s", exc)
        notes.append(f"alerts unavailable: {exc}")
        return []
    recs.sort(key=lambda a: -(a.get("score") or 0.0))
    return recs[:top]


def _detected_note(window: str, detected: int, *, stored: bool) -> str:
    """What the summary did when no stored alert opened in the window."""
    where = "no alert stored for" if stored else "the event store keeps no alerts; for"
    if detected == 0:
        return f"{where} {window}: none detected now either"
    return f"{where} {window}: {detected} detected now, not stored (run `hotline alerts` to store them)"


def _in_window(recs: list[dict[str, Any]], start: pd.Timestamp, day: pd.Timestamp) -> list[dict[str, Any]]:
    out = []
    for a in recs:
        first = pd.Timestamp(a.get("first_seen") or a.get("date"))
        if not start <= first.normalize() <= day:
            continue
        for k in ("first_seen", "last_seen", "date"):
            v = a.get(k) if a.get(k) is not None else a.get("date")
            a[k] = f"{pd.Timestamp(v):%Y-%m-%d}" if v is not None else ""
        out.append(a)
    return out


def hot_issues(
    source: SignalSource, as_of: str | pd.Timestamp, *, window_days: int = 7, top: int = 5
) -> list[dict[str, Any]]:
    """Incidents active in the ``window_days`` up to ``as_of``, with growth over the window before.

    Counts come from the incidents' member complaints filed up to ``as_of`` (the stored incident
    summary counts every member, later ones too, and its growth is taken at ingest time: on a
    whole-log load it is x1.00 everywhere). ``growth`` = complaints in the window / max(complaints
    in the window before, 1), as for alerts. Ranked by complaints in the window, then growth,
    then the stored heat. Only incidents with at least two complaints so far are issues. An
    empty list when the source has no incidents or complaints.
    """
    if source.incidents is None or source.complaints is None:
        return []
    ts = resolve_as_of(as_of)[0]
    start = ts.normalize() - pd.Timedelta(days=window_days - 1)
    before = start - pd.Timedelta(days=window_days)
    incidents = source.incidents.read(
        since=start.to_pydatetime(), until=ts.to_pydatetime(), min_complaints=2, order="last_seen"
    )
    if len(incidents) == 0:
        return []
    members = source.incidents.read_members([str(i) for i in incidents["incident_id"]])
    if len(members) == 0:
        return []
    comp = source.complaints.read([str(i) for i in members["complaint_id"].unique()])
    when = dict(zip(comp["id"].astype(str), comp["time"], strict=True))
    t = pd.to_datetime(members["complaint_id"].astype(str).map(when), errors="coerce")
    members = members.assign(_t=t)[t.notna() & (t <= ts)]
    rows = []
    for iid, grp in members.groupby("incident_id"):
        n_recent = int((grp["_t"] >= start).sum())
        n_before = int(((grp["_t"] >= before) & (grp["_t"] < start)).sum())
        if n_recent == 0 or len(grp) < 2:
            continue
        inc = incidents[incidents["incident_id"] == iid].iloc[0]
        rows.append(
            {
                "incident_id": str(iid),
                "category": inc.get("category") or "",
                "district": inc.get("district") or "",
                "anchor": inc.get("anchor") or "",
                "description": inc.get("description") or "",
                "first_seen": f"{grp['_t'].min():%Y-%m-%d}",
                "last_seen": f"{grp['_t'].max():%Y-%m-%d}",
                "n_complaints": len(grp),
                "n_recent": n_recent,
                "n_before": n_before,
                "growth": round(n_recent / max(n_before, 1), 2),
                "heat": float(inc.get("heat") or 0.0),
            }
        )
    rows.sort(key=lambda r: (-r["n_recent"], -r["growth"], -r["heat"], r["incident_id"]))
    for i, r in enumerate(rows[:top], 1):
        r["rank"] = i
    return rows[:top]


def store_open_cases(source: SignalSource, as_of: pd.Timestamp, days: int = OPEN_WINDOW_DAYS) -> pd.DataFrame:
    """Complaints filed in the ``days`` before ``as_of``, as cases (no reply time: all open).

    The store records no replies, so every recent complaint counts as open; category and
    district come from the extracted events (the classifier's category), titles stay masked.
    """
    columns = ["id", "time", "title", "text", "category", "district"]
    if source.complaints is None:
        return pd.DataFrame(columns=columns)
    since = as_of - pd.Timedelta(days=days)
    comp = source.complaints.read(since=since.to_pydatetime(), until=as_of.to_pydatetime())
    if len(comp) == 0:
        return pd.DataFrame(columns=columns)
    frame = comp[["id", "time", "title", "text"]].copy()
    frame["category"] = comp.get("label", "")
    frame["district"] = comp.get("district", "")
    ev = source.complaints.read_events([str(i) for i in frame["id"]])
    if len(ev):
        ev = ev.set_index("complaint_id")
        ids = frame["id"].astype(str)
        cat = ids.map(ev["category"]).fillna("").astype(str)
        dist = ids.map(ev["district"]).fillna("").astype(str)
        frame["category"] = cat.where(cat != "", frame["category"])
        frame["district"] = dist.where(dist != "", frame["district"])
    return frame.reset_index(drop=True)


def _at_risk(
    survival: SurvivalModel,
    source: SignalSource | None,
    cases: pd.DataFrame | None,
    as_of: pd.Timestamp | None,
    top: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Open cases at ``as_of`` not yet past the deadline, most likely to miss it first."""
    from nlp.pii import mask_pii

    if cases is not None:
        frame, where = cases, "from the given file"
    elif _has_complaints(source) and as_of is not None:
        frame, where = (
            store_open_cases(source, as_of),  # type: ignore[arg-type]
            f"filed in the {OPEN_WINDOW_DAYS} days before as-of, no reply recorded",
        )
    else:
        pred = survival.at_risk(top=10**9, threshold=0.0, as_of=None if as_of is None else f"{as_of}")
        frame, where = None, "open cases of the survival model's data"
    if frame is not None:
        if len(frame) == 0:
            return [], {"n_open": 0, "n_overdue": 0, "source": where}
        pred = survival.predict(frame, as_of=as_of, open_only=True)
        titles = dict(
            zip(frame["id"].astype(str), frame.get("title", pd.Series("", index=frame.index)), strict=True)
        )
        pred["title"] = [mask_pii(str(titles.get(i) or "")) for i in pred["id"].astype(str)]
    n_overdue = int(pred["overdue"].astype(bool).sum()) if len(pred) else 0
    info = {"n_open": len(pred), "n_overdue": n_overdue, "source": where}
    if len(pred):
        # Cases still in time first (they can be saved), then the overdue ones.
        late = pred["overdue"].astype(bool)
        pred = pd.concat([pred[~late], pred[late]], ignore_index=True)
    return _records(pred.head(top)), info


def _has_complaints(source: SignalSource | None) -> bool:
    return source is not None and source.complaints is not None


def _unit(case: dict[str, Any]) -> str:
    return "hours" if case.get("unit") == "hours" else "working days"
