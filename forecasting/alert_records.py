"""A surge alert and its records: what detection produces, the store keeps and readers show."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from forecasting.signals import parse_series_key

# District values that say "we do not know where": a series of them is not a place, so it never
# alerts (its complaints still count in their category's series). 未知 is what the events
# package writes (``events.store.UNKNOWN_DISTRICT``).
UNKNOWN_DISTRICTS = frozenset({"未知", "unknown", "none", "null", "n/a", "-", ""})


def is_unknown_place(key: str) -> bool:
    """Whether a series key names an unknown district (``district=未知`` ...)."""
    district = parse_series_key(key).get("district")
    return district is not None and district.strip().lower() in UNKNOWN_DISTRICTS


def specificity(key: str) -> int:
    """0 for ``total``, 1 for a category or a district, 2 for category × district."""
    return len(parse_series_key(key))


@dataclass
class Hit:
    """One detector firing on one day."""

    date: pd.Timestamp
    key: str  # series key, or the incident id for incident hits
    series_key: str
    kind: str
    observed: float
    expected: float
    lower: float
    upper: float
    p_value: float
    # Incident hits compare sliding windows; their day's own contribution to the alert size is
    # that day's complaints over the expected daily rate, so overlapping windows are not summed.
    daily_excess: float | None = None

    @property
    def excess(self) -> float:
        if self.daily_excess is not None:
            return max(self.daily_excess, 0.0)
        return max(self.observed - self.expected, 0.0)


@dataclass
class Alert:
    """A surge, possibly lasting several days (the fields of the store's ``alerts`` table)."""

    alert_id: str
    date: str  # the latest day it fired (YYYY-MM-DD)
    series_key: str
    kind: str
    observed: float  # at the peak day
    expected: float
    lower: float
    upper: float
    size: float  # excess over expected, summed over the alert's days
    growth: float  # observed / max(expected, 1) at the peak day
    score: float
    first_seen: str
    last_seen: str
    days: int = 1
    p_value: float = 1.0
    incident_ids: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    # The other series (and incident alerts) the same complaints made fire, merged into this one.
    related: list[str] = field(default_factory=list)
    # The complaints behind the alert: its series' complaints on its days (store runs only).
    complaint_ids: list[str] = field(default_factory=list)
    # Excess explained by coherent complaints (store runs; see :func:`coherent_complaints`).
    coherent: float | None = None

    def to_record(self) -> dict[str, Any]:
        """The record the alert log of a signal source keeps (:class:`forecasting.sources.AlertLog`)."""
        rec = asdict(self)
        # The store's alerts table has no columns for these (yet): they live in memory only.
        for name in ("days", "p_value", "related", "complaint_ids", "coherent"):
            rec.pop(name)
        return rec

    def describe(self) -> str:
        span = (
            self.first_seen if self.first_seen == self.last_seen else f"{self.first_seen}..{self.last_seen}"
        )
        kw = f" [{', '.join(self.keywords[:5])}]" if self.keywords else ""
        also = f" (also {', '.join(self.related[:3])})" if self.related else ""
        coh = (
            f", coherent +{self.coherent:.0f}"
            if self.coherent is not None and self.kind != "incident"
            else ""
        )
        # Two decimals below one call: a rate of 0.04 a day must not read as "expected 0.0".
        exp = f"{self.expected:.1f}" if self.expected >= 1 else f"{self.expected:.2f}"
        return (
            f"{self.score:6.1f}  {self.kind:<8} {self.series_key}  {span}: observed {self.observed:g} vs "
            f"expected {exp} (upper {self.upper:g}), +{self.size:.0f} over {self.days} day(s){coh}{kw}{also}"
        )


def alert_id(family: str, key: str, first_seen: str) -> str:
    digest = hashlib.sha1(f"{family}|{key}|{first_seen}".encode()).hexdigest()[:16]
    return f"{family}-{digest}"


def alert_family(kind: str) -> str:
    return "incident" if kind == "incident" else "series"


def alerts_from_frame(frame: pd.DataFrame) -> list[Alert]:
    """Stored alert rows (the store's ``alerts`` table) as :class:`Alert` objects."""
    out = []
    for r in frame.to_dict(orient="records"):

        def day(v: Any) -> str:
            return (
                "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{pd.Timestamp(v):%Y-%m-%d}"
            )

        out.append(
            Alert(
                alert_id=str(r["alert_id"]),
                date=day(r.get("date")),
                series_key=str(r.get("series_key") or ""),
                kind=str(r.get("kind")),
                observed=float(r.get("observed") or 0),
                expected=float(r.get("expected") or 0),
                lower=float(r.get("lower") or 0),
                upper=float(r.get("upper") or 0),
                size=float(r.get("size") or 0),
                growth=float(r.get("growth") or 0),
                score=float(r.get("score") or 0),
                first_seen=day(r.get("first_seen")) or day(r.get("date")),
                last_seen=day(r.get("last_seen")) or day(r.get("date")),
                incident_ids=list(r.get("incident_ids") or []),
                examples=list(r.get("examples") or []),
                keywords=list(r.get("keywords") or []),
            )
        )
    return out


def alert_opened(frame: pd.DataFrame) -> pd.Series:
    """The day each stored alert opened: an alert that spans days (an incident's flare-ups are
    one alert) is stored under its last day, but it was there to see from its first."""
    last = pd.to_datetime(frame["date"])
    if "first_seen" not in frame:
        return last
    first = pd.to_datetime(frame["first_seen"], errors="coerce").dt.normalize()
    return first.fillna(last).where(first.isna() | (first <= last), last)
