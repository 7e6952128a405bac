"""Surge alerts: counts that leave the forecast interval, bursts against a robust baseline, and
incidents that grow fast - ranked, merged across days, and stored in the event store.

Three detectors, run on every day of the scan window:

``interval``
    With a fitted :class:`~forecasting.forecaster.Forecaster`, each series is forecast one day
    ahead from its history up to the day before (fitted parameters, newest data). The alert
    fires when the observed count is above the upper bound of the **95%** interval
    (``AlertConfig.interval``; 0.8 makes it more sensitive).
``burst``
    No model needed: the baseline is the 10%-trimmed mean of the same kind of day (working day
    or day off, from the Chinese calendar) over the previous ``baseline_days`` days, with a
    negative-binomial dispersion estimated from the same window. The alert fires when the
    upper-tail probability ``P(X >= observed)`` is below ``burst_alpha`` (1e-3).
``incident``
    From the event store: an incident with at least ``incident_min_size`` complaints in the last
    ``incident_window_days`` days and ``incident_growth`` times as many as in the window before.

Baseline. The burst baseline of a series with history is never ~0: the trimmed mean of a sparse
series drops its few busy days, so the expected count is floored by the series' own level on
the same kind of day (an exponentially smoothed rate and its long-run rate since its first
call). An interval forecast far below that level (a model fitted on a dead feed) is ignored.
Series of an unknown district (``未知``) never alert; their complaints count in their category.
Every detector also needs ``observed >= min_count`` and ``observed - expected >= min_excess``:
a jump from 0 to 2 calls is not a surge a dispatcher should see.

One alert per incident. With a store, each alert's complaints are its series' complaints on its
days (an incident alert: the incident's complaints in its window); alerts on touching days that
share at least half of the smaller one's complaints are one incident (a category, a district and
their category × district all fire on the same complaints). The highest-scoring one stays
(the most specific on a tie) and lists the others in ``related``. Without a store, nested series
merge when the specific one carries at least half of the other's excess
(``same_incident_share``). Waves of the same incident within ``incident_gap_days`` (30) are one
incident alert. Examples and keywords come
from the alert's own complaints: keywords are their top TF-IDF terms that two of them share,
examples the complaints carrying most keywords, and only keywords seen in an example are kept.

Coherence (store runs). A series alert stays only when its excess is one issue repeated, not a
busy day of unrelated posts (the category bursts of the Teddy backtest, bench/data/
alert_verdicts.md): its complaints that share a store incident or a near-duplicate title
(character-bigram Jaccard >= ``title_similarity`` without place codes and request words, found
with MinHash LSH) with another of its complaints must be at least ``coherent_share`` (half) of
its excess. Incident alerts are coherent by construction. Without a store nothing is checked.

Ranking. ``score = min(-log10(p), score_cap) × log(1 + size)`` where ``p`` is the upper-tail
probability of the peak day (the most surprising day) under the expected count and ``size`` is
the excess over expected summed over the alert's days (with a store, for series alerts: the
coherent excess, at most the excess): both surprise and volume count, and a surge that lasts
ranks above a one-day blip of the same height.

Deduplication. Days on which the same series (or incident) fires, with at most ``gap_days``
quiet days between them, form one alert with ``first_seen`` / ``last_seen``; its id is a hash of
the series and ``first_seen``, so re-running a day rewrites the same row. With a store, alerts
still open (last seen within ``gap_days`` of the scan) are re-scanned from their first day, so a
surge detected day by day keeps one id and its size is recomputed, never double counted.

Where the code is: :mod:`forecasting.alert_records` (the alert, its stored record),
:mod:`forecasting.alert_detect` (series detectors, runs, merging across series),
:mod:`forecasting.alert_evidence` (members, keywords, examples, coherence); this module runs
them over a :class:`~forecasting.sources.SignalSource` and writes the result.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd
from scipy import stats

from forecasting.alert_detect import dedupe_alerts, detect_alerts, merge_hits, nb_interval
from forecasting.alert_evidence import (
    alert_members,
    complaint_frame,
    describe_members,
    enrich_alerts,
    keep_coherent,
    keyword_model,
)
from forecasting.alert_records import UNKNOWN_DISTRICTS, Alert, Hit, alerts_from_frame
from forecasting.config import AlertConfig
from forecasting.errors import SignalsError
from forecasting.signals import series_key, validate_signals
from forecasting.sources import IncidentReader, SignalSource

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)


def incident_hits(incidents_of: IncidentReader, dates: pd.DatetimeIndex, config: AlertConfig) -> list[Hit]:
    """Incidents that grew fast on each of ``dates`` (see the module doc)."""
    w = pd.Timedelta(days=config.incident_window_days)
    start = dates[0] - 2 * w
    end = dates[-1] + pd.Timedelta(days=1)
    incidents = incidents_of.read(
        since=start.to_pydatetime(), until=end.to_pydatetime(), min_complaints=config.incident_min_size
    )
    if incidents is None or len(incidents) == 0:
        return []
    members = incidents_of.members_detail(list(incidents["incident_id"]))
    if len(members) == 0:
        return []
    members = members.assign(day=pd.to_datetime(members["time"]).dt.normalize())
    info = incidents.set_index("incident_id")
    hits = []
    for iid, grp in members.groupby("incident_id"):
        days = grp["day"]
        for day in dates:
            recent = int(((days > day - w) & (days <= day)).sum())
            before = int(((days > day - 2 * w) & (days <= day - w)).sum())
            if recent < max(config.incident_min_size, config.min_count):
                continue
            expected = max(float(before), 0.5)
            if recent < config.incident_growth * expected or recent - before < config.min_excess:
                continue
            p = float(stats.poisson.sf(recent - 1, expected))
            lo, hi = nb_interval(expected, expected, config.interval)
            cat = str(info.at[iid, "category"]) if iid in info.index else ""
            dist = str(info.at[iid, "district"]) if iid in info.index else ""
            # An incident without a known place is a category surge, never a "未知" district one.
            if dist.strip().lower() in UNKNOWN_DISTRICTS:
                dist = ""
            skey = series_key(cat or None, dist or None)
            today = int((days == day).sum())
            hits.append(
                Hit(
                    pd.Timestamp(day),
                    str(iid),
                    skey,
                    "incident",
                    float(recent),
                    expected,
                    lo,
                    hi,
                    p,
                    daily_excess=today - before / config.incident_window_days,
                )
            )
    return hits


def _stored_signals(source: SignalSource) -> pd.DataFrame:
    signals = source.signals.read()
    if signals is None or len(signals) == 0:
        raise SignalsError(
            "the event store has no daily signals yet; load complaints with `hotline events INPUT --store URL`"
        )
    return signals


def scan_alerts(
    source: SignalSource,
    forecaster: Forecaster | None = None,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    config: AlertConfig | None = None,
    existing: list[Alert] | None = None,
) -> list[Alert]:
    """Every alert of the days ``start..end`` on the store's signals and incidents, merged per
    incident and described by their own complaints (nothing written). Each day is judged on the
    data up to that day: the baselines and forecasts read only earlier days."""
    config = config or AlertConfig()
    clean = validate_signals(_stored_signals(source), source=source.name)
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    days = int((end - start).days) + 1
    alerts = detect_alerts(
        clean, forecaster, date=end, days=days, config=config, existing=existing, dedupe=False
    )
    dates = pd.date_range(start, end, freq="D")
    if source.incidents is not None:
        alerts += merge_hits(incident_hits(source.incidents, dates, config), config, existing)
    complaints = complaint_frame(
        source, start - pd.Timedelta(days=config.baseline_days), end + pd.Timedelta(days=1)
    )
    if complaints.empty:
        # A store that cannot place complaints in series: merge by series nesting, enrich the
        # old way (incidents of the series).
        alerts = dedupe_alerts(alerts, config)
        if source.incidents is None:
            return alerts
        return enrich_alerts(source.incidents, source.complaints, alerts, config)
    found = {i: alert_members(complaints, a, config) for i, a in enumerate(alerts)}
    alerts, found = keep_coherent(alerts, found, config)
    alerts = dedupe_alerts(alerts, config, {i: set(m["id"]) for i, m in found.items()})
    model = keyword_model(complaints)
    for a in alerts:
        members = complaints[complaints["id"].isin(a.complaint_ids)]
        a.examples, a.keywords, incident_ids = describe_members(members, model, config)
        a.incident_ids = list(dict.fromkeys([*incident_ids, *a.incident_ids]))[: config.max_incidents]
    return alerts


def backtest_alerts(
    source: SignalSource,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    forecaster: Forecaster | None = None,
    config: AlertConfig | None = None,
) -> list[Alert]:
    """The alerts a daily job would have raised on each day of ``start..end`` (nothing stored),
    ranked by score: what ``bench/alerts_eval.py`` reads to measure alert precision."""
    return scan_alerts(source, forecaster, start=start, end=end, config=config, existing=[])


def run_alerts(
    source: SignalSource,
    forecaster: Forecaster | None = None,
    *,
    date: str | pd.Timestamp | None = None,
    days: int = 1,
    config: AlertConfig | None = None,
    top: int | None = None,
    write: bool = True,
) -> list[Alert]:
    """Detect alerts on the store's signals and incidents, merge with stored ones, write them.

    ``date`` defaults to the last day of the stored signals; ``days`` scans that many days
    ending at ``date`` (a backfill). Returns the alerts of the scan, ranked; ``top`` keeps the
    best ones (all are written). A source without an alert log starts from no stored alerts and
    can only be scanned with ``write=False``.
    """
    config = config or AlertConfig()
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if write and source.alerts is None:
        raise SignalsError(
            f"{source.name} keeps no alerts: scan it with write=False (`hotline alerts --dry-run`)"
        )
    signals = _stored_signals(source)
    end = pd.Timestamp(date).normalize() if date is not None else pd.Timestamp(signals["date"].max())
    lookback = pd.Timedelta(days=days + config.gap_days + 1)
    since = f"{end - lookback - pd.Timedelta(days=90):%Y-%m-%d}"
    stored = source.alerts.read(since=since, limit=None) if source.alerts is not None else pd.DataFrame()
    # Incident alerts stay open longer: a wave of the same incident continues its alert.
    incident_lookback = pd.Timedelta(days=days + max(config.gap_days, config.incident_gap_days) + 1)
    existing = [
        a
        for a in alerts_from_frame(stored)
        if a.last_seen
        and pd.Timestamp(a.last_seen) >= end - (incident_lookback if a.kind == "incident" else lookback)
    ]
    # Re-scan open alerts from their first day so that their size is recomputed, not re-added.
    start = end - pd.Timedelta(days=days - 1)
    if existing:
        start = min(start, min(pd.Timestamp(a.first_seen) for a in existing))
    alerts = scan_alerts(source, forecaster, start=start, end=end, config=config, existing=existing)
    if write and alerts and source.alerts is not None:
        source.alerts.upsert([a.to_record() for a in alerts])
        logger.info("%d alert(s) written to the event store", len(alerts))
    return alerts[:top] if top else alerts
