"""A short decision summary for the duty officer: surges, hot issues, next week, late cases.

>>> print(decision_summary(store, forecaster, survival, top=5).to_text())   # doctest: +SKIP

Every input is optional (``None``): the summary says which part is unavailable instead of
failing, so it can close a demo or a daily report whatever has been built so far.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class DecisionSummary:
    """What to act on: ranked alerts, hot issues, the volume outlook and cases at risk."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    hot: list[dict[str, Any]] = field(default_factory=list)
    outlook: list[dict[str, Any]] = field(default_factory=list)
    at_risk: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    deadline_days: float = 15.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "hot": self.hot,
            "outlook": self.outlook,
            "at_risk": self.at_risk,
            "notes": self.notes,
            "deadline_days": self.deadline_days,
        }

    def to_text(self) -> str:
        lines = ["Decision summary", ""]
        lines.append("Surge alerts (highest score first):")
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
        lines += ["", "Hot issues:"]
        if self.hot:
            for h in self.hot:
                where = " / ".join(x for x in (h.get("category"), h.get("district"), h.get("anchor")) if x)
                lines.append(
                    f"  {h.get('rank', '-')}. {where}: {h.get('n_complaints', '?')} complaints, "
                    f"growth {float(h.get('growth') or 1):.1f}x - {str(h.get('description') or '')[:50]}"
                )
        else:
            lines.append("  none")
        lines += ["", "Next days (forecast):"]
        if self.outlook:
            for o in self.outlook:
                change = (
                    ""
                    if o["last_week"] == 0
                    else f" ({(o['next_week'] / o['last_week'] - 1) * 100:+.0f}% vs last week)"
                )
                lines.append(
                    f"  {o['series']}: {o['next_week']:.0f} calls expected over {o['days']} days "
                    f"[{o['lower']:.0f}-{o['upper']:.0f}]{change}"
                )
        else:
            lines.append("  not available")
        lines += ["", f"Open cases most at risk of missing the {self.deadline_days:g}-working-day deadline:"]
        if self.at_risk:
            for c in self.at_risk:
                lines.append(
                    f"  {c['id']} ({c['category']}, {c['district']}): {c['p_unanswered_at_deadline'] * 100:.0f}% "
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


def decision_summary(store: Any, forecaster: Any, survival: Any, *, top: int = 5) -> DecisionSummary:
    """Build the summary from the event store, a fitted Forecaster and a SurvivalModel.

    Alerts are read from the store (and detected without writing when none is stored yet),
    hot issues come from ``store.read_hot(top)``, the outlook sums the next ``horizon`` days
    of the total and of the categories expected to grow most, and the cases at risk are the
    open cases of the survival model's data ranked by the probability of missing the deadline.
    """
    out = DecisionSummary()
    if store is not None:
        try:
            alerts = store.read_alerts(limit=top)
            if len(alerts) == 0 and hasattr(store, "read_signals"):
                from forecasting.alerts import run_alerts

                detected = run_alerts(store, forecaster, write=False, top=top)
                alerts = pd.DataFrame([a.to_record() for a in detected])
            out.alerts = _records(alerts)
            for a in out.alerts:
                for k in ("first_seen", "last_seen", "date"):
                    a[k] = f"{pd.Timestamp(a[k]):%Y-%m-%d}" if a.get(k) is not None else a.get("date", "")
        except Exception as exc:  # a summary reports what it can
            logger.warning("decision summary: alerts unavailable: %s", exc)
            out.notes.append(f"alerts unavailable: {exc}")
        if hasattr(store, "read_hot"):
            try:
                out.hot = _records(store.read_hot(top))
            except Exception as exc:
                logger.warning("decision summary: hot issues unavailable: %s", exc)
                out.notes.append(f"hot issues unavailable: {exc}")
        else:
            out.notes.append("the event store has no read_hot(): hot issues not shown")
    else:
        out.notes.append("no event store: alerts and hot issues not shown")
    if forecaster is not None:
        try:
            out.outlook = _outlook(forecaster, top)
        except Exception as exc:
            logger.warning("decision summary: forecast unavailable: %s", exc)
            out.notes.append(f"forecast unavailable: {exc}")
    else:
        out.notes.append("no forecaster: outlook not shown (fit one with `hotline forecast fit`)")
    if survival is not None:
        out.deadline_days = float(survival.config.deadline_days)
        try:
            out.at_risk = _records(survival.at_risk(top=top, threshold=0.0))
        except Exception as exc:
            logger.warning("decision summary: reply risk unavailable: %s", exc)
            out.notes.append(f"reply risk unavailable: {exc}")
    else:
        out.notes.append("no survival model: cases at risk not shown (fit one with `hotline survival fit`)")
    return out


def _outlook(forecaster: Any, top: int) -> list[dict[str, Any]]:
    horizon = forecaster.config.horizon
    hi_col = f"upper_{round(forecaster.config.intervals[0] * 100)}"
    lo_col = f"lower_{round(forecaster.config.intervals[0] * 100)}"
    rows = []
    cats = [k for k in forecaster.keys if k.startswith("category=") and "|" not in k]
    for key in ["total", *cats]:
        fc = forecaster.forecast_series(key, horizon)
        last = float(forecaster.history(key).iloc[-horizon:].sum())
        rows.append(
            {
                "series": key,
                "days": horizon,
                "next_week": float(fc["mean"].sum()),
                # Summed bounds overstate the spread of a sum; a conservative range.
                "lower": float(fc[lo_col].sum()),
                "upper": float(fc[hi_col].sum()),
                "last_week": last,
            }
        )
    total, others = rows[0], rows[1:]
    others.sort(key=lambda r: -(r["next_week"] - r["last_week"]))
    return [total, *others[: max(top - 1, 0)]]


def _unit(case: dict[str, Any]) -> str:
    return "hours" if case.get("unit") == "hours" else "working days"
