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
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from events.calendar import day_calendar
from forecasting.config import AlertConfig
from forecasting.signals import SeriesSet, build_series, parse_series_key, series_key, validate_signals

logger = logging.getLogger(__name__)

# District values that say "we do not know where": a series of them is not a place, so it never
# alerts (its complaints still count in their category's series). 未知 is what the events
# package writes (``events.store.UNKNOWN_DISTRICT``).
UNKNOWN_DISTRICTS = frozenset({"未知", "unknown", "none", "null", "n/a", "-", ""})
# Anonymised place codes (A7县, A3区): every complaint of a district carries one, so it is neither
# a keyword of a surge nor a sign that two titles are about one issue.
PLACE_CODE = re.compile(r"[A-Za-z]\d+[区县市镇]?")
# Words of the request type (反映…问题, 关于…的投诉): titles sharing only these are not one issue.
TITLE_BOILERPLATE = re.compile(
    r"关于|反映|咨询|投诉|举报|建议|请求|希望|求助|要求|问题|情况|事宜|市民|网友|的|了|请|[\W_]+"
)


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
        """The record :meth:`events.store.alerts.AlertRepository.upsert` takes."""
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


def _family(kind: str) -> str:
    return "incident" if kind == "incident" else "series"


def _nb_sf(observed: float, mean: float, var: float) -> float:
    """P(X >= observed) for a count with this mean and variance (Poisson when var <= mean)."""
    mean = max(mean, 1e-6)
    if var > mean * 1.0001:
        n = mean**2 / (var - mean)
        return float(stats.nbinom.sf(observed - 1, n, n / (n + mean)))
    return float(stats.poisson.sf(observed - 1, mean))


def _nb_interval(mean: float, var: float, level: float) -> tuple[float, float]:
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    mean = max(mean, 1e-6)
    if var > mean * 1.0001:
        n = mean**2 / (var - mean)
        dist = stats.nbinom(n, n / (n + mean))
    else:
        dist = stats.poisson(mean)
    return float(dist.ppf(lo_q)), float(dist.ppf(hi_q))


def _trimmed(values: np.ndarray) -> float:
    return float(stats.trim_mean(values, 0.1)) if len(values) else 0.0


def burst_baseline(
    history: np.ndarray, offday_history: np.ndarray, target_offday: bool, config: AlertConfig
) -> tuple[float, float] | None:
    """Expected count and variance for the next day from the trailing window (module doc)."""
    window = history[-config.baseline_days :]
    off = offday_history[-config.baseline_days :].astype(bool)
    if len(window) < config.min_baseline_days:
        return None
    same = window[off] if target_offday else window[~off]
    if len(same) < 3:  # e.g. the first working day after 春节: compare with every day
        same = window
    mean = _trimmed(same)
    # Dispersion from the day type with the most days; trimmed like the mean.
    ref = window[~off] if (~off).sum() >= off.sum() else window[off]
    lo, hi = np.quantile(ref, [0.1, 0.9]) if len(ref) else (0.0, 0.0)
    core = ref[(ref >= lo) & (ref <= hi)] if len(ref) else ref
    ref_mean = float(np.mean(core)) if len(core) else 0.0
    ref_var = float(np.var(core, ddof=1)) if len(core) > 1 else ref_mean
    phi = min(max((ref_var - ref_mean) / ref_mean**2, 0.0), 1.0) if ref_mean > 0 else 0.0
    # The trimmed mean of a sparse series is ~0 (trimming drops its few busy days), which made an
    # ordinary day of 5 calls after days of 3, 2, 2 read as "5 vs 0.0 expected". The series' own
    # level is a floor: its exponentially smoothed rate (half-life one week) and its long-run
    # rate, both on the same kind of day. Only a series that never had a call falls to the last
    # floor (one call per baseline window) so that it is not infinitely surprised.
    # Same day type over the whole history, from the series' first call on (days before a
    # series existed are not a quiet level).
    nz = np.flatnonzero(history > 0)
    since = history[nz[0] :] if len(nz) else history[:0]
    since_off = offday_history[len(history) - len(since) :].astype(bool)
    long_same = since[since_off] if target_offday else since[~since_off]
    long_run = float(long_same.mean()) if len(long_same) >= 3 else float(since.mean()) if len(since) else 0.0
    mean = max(mean, smoothed_rate(same), long_run, 1.0 / config.baseline_days)
    return mean, mean + phi * mean**2


def smoothed_rate(values: np.ndarray, halflife: float = 7.0) -> float:
    """Exponentially weighted mean daily count, newest day weighted most."""
    if len(values) == 0:
        return 0.0
    w = 0.5 ** (np.arange(len(values))[::-1] / halflife)
    return float(np.dot(w, values) / w.sum())


def _long_run_rate(history: np.ndarray) -> float:
    """Mean daily count from the series' first call on (0 for a series that never had one)."""
    nz = np.flatnonzero(history > 0)
    return float(history[nz[0] :].mean()) if len(nz) else 0.0


def series_hits(
    series: SeriesSet,
    dates: pd.DatetimeIndex,
    config: AlertConfig,
    *,
    keys: list[str] | None = None,
    forecaster: Any = None,
) -> list[Hit]:
    """Interval and burst hits of every series in ``keys`` on each of ``dates``."""
    values = series.values
    keys = keys if keys is not None else list(values.columns)
    offday = day_calendar(values.index)["offday"].to_numpy(dtype=bool)
    index = {d: i for i, d in enumerate(values.index)}
    hits: list[Hit] = []
    fc_keys = set(forecaster.keys) if forecaster is not None else set()
    level_cols = (
        (f"lower_{round(config.interval * 100)}", f"upper_{round(config.interval * 100)}")
        if forecaster is not None
        else None
    )
    for day in dates:
        i = index.get(pd.Timestamp(day))
        if i is None or i < config.min_baseline_days:
            continue
        hist_set = SeriesSet(values.iloc[:i]) if fc_keys else None
        for key in keys:
            y = values[key].to_numpy(dtype=float)
            obs = y[i]
            if obs < config.min_count:
                continue
            if key in fc_keys and hist_set is not None:
                try:
                    row = forecaster.forecast_series(key, 1, history=hist_set).iloc[0]
                except Exception as exc:  # a model that cannot run on this history: burst test only
                    logger.debug("interval test skipped for %s on %s: %s", key, day, exc)
                else:
                    mean = float(row["mean"])
                    lo, hi = float(row[level_cols[0]]), float(row[level_cols[1]])
                    # A model that forecasts far below the series' own recent level (one fitted
                    # on a feed that died forecasts 0 with an upper bound of 0) is not a
                    # baseline: such a day goes to the burst test.
                    own = max(smoothed_rate(y[max(0, i - config.baseline_days) : i]), _long_run_rate(y[:i]))
                    degenerate = hi < 1 or mean < 0.5 * own
                    if not degenerate and obs > hi and obs - mean >= config.min_excess:
                        z = stats.norm.ppf(1 - (1 - config.interval) / 2)
                        sd = max((hi - lo) / (2 * z), 1e-6)
                        p = _nb_sf(obs, mean, max(sd**2, mean))
                        hits.append(Hit(pd.Timestamp(day), key, key, "interval", obs, mean, lo, hi, p))
                        continue
            base = burst_baseline(y[:i], offday[:i], bool(offday[i]), config)
            if base is None:
                continue
            mean, var = base
            if obs - mean < config.min_excess:
                continue
            p = _nb_sf(obs, mean, var)
            if p < config.burst_alpha:
                lo, hi = _nb_interval(mean, var, config.interval)
                hits.append(Hit(pd.Timestamp(day), key, key, "burst", obs, mean, lo, hi, p))
    return hits


def merge_hits(hits: list[Hit], config: AlertConfig, existing: list[Alert] | None = None) -> list[Alert]:
    """Group hits of the same series into runs (gaps of at most ``gap_days``) -> one alert each.

    A run that touches an ``existing`` alert of the same series (same family) takes over its id
    and its ``first_seen``.
    """
    by_key: dict[tuple[str, str], list[Hit]] = {}
    for h in sorted(hits, key=lambda h: (h.key, h.date)):
        by_key.setdefault((_family(h.kind), h.key), []).append(h)
    old: dict[tuple[str, str], list[Alert]] = {}
    for a in existing or []:
        k = a.incident_ids[0] if a.kind == "incident" and a.incident_ids else a.series_key
        old.setdefault((_family(a.kind), k), []).append(a)
    alerts: list[Alert] = []
    for (family, key), run_hits in by_key.items():
        step = _step(family, config)
        runs: list[list[Hit]] = [[run_hits[0]]]
        for h in run_hits[1:]:
            if h.date - runs[-1][-1].date <= step:
                runs[-1].append(h)
            else:
                runs.append([h])
        for run in runs:
            alerts.append(_alert_from_run(family, key, run, config, old.get((family, key), [])))
    return sorted(alerts, key=lambda a: (-a.score, a.series_key, a.first_seen))


def _step(family: str, config: AlertConfig) -> pd.Timedelta:
    """Longest distance between two days of one alert."""
    days = max(config.gap_days, config.incident_gap_days) if family == "incident" else config.gap_days
    return pd.Timedelta(days=days + 1)


def _alert_from_run(
    family: str, key: str, run: list[Hit], config: AlertConfig, previous: list[Alert]
) -> Alert:
    peak = max(run, key=lambda h: (-math.log10(max(h.p_value, 1e-300)), h.excess))
    size = float(sum(h.excess for h in run))
    first = f"{run[0].date:%Y-%m-%d}"
    last = f"{run[-1].date:%Y-%m-%d}"
    step = _step(family, config)
    aid = alert_id(family, key, first)
    for a in previous:
        # An alert already stored for this series whose days touch this run: same surge.
        if (
            pd.Timestamp(a.first_seen) - step <= run[-1].date
            and run[0].date <= pd.Timestamp(a.last_seen) + step
        ):
            aid = a.alert_id
            first = min(first, a.first_seen[:10])
            break
    surprise = _surprise(peak.p_value, config)
    kind = peak.kind if family == "series" else "incident"
    if family == "series" and any(h.kind == "interval" for h in run):
        kind = "interval"
    return Alert(
        alert_id=aid,
        date=last,
        series_key=peak.series_key,
        kind=kind,
        observed=float(peak.observed),
        expected=round(float(peak.expected), 3),
        lower=round(float(peak.lower), 3),
        upper=round(float(peak.upper), 3),
        size=round(size, 3),
        # Daily counts are whole calls: on a series that expects almost none, a ratio to 0.001
        # would read as a millionfold surge; against one call it is the number of calls.
        growth=round(float(peak.observed / max(peak.expected, 1.0)), 3),
        score=round(surprise * math.log1p(size), 3),
        first_seen=first,
        last_seen=last,
        days=len(run),
        p_value=float(peak.p_value),
        incident_ids=[key] if family == "incident" else [],
    )


def _surprise(p_value: float, config: AlertConfig) -> float:
    return min(-math.log10(max(p_value, 1e-300)), config.score_cap)


def detect_alerts(
    signals: pd.DataFrame | SeriesSet,
    forecaster: Any = None,
    *,
    date: str | pd.Timestamp | None = None,
    days: int = 1,
    config: AlertConfig | None = None,
    existing: list[Alert] | None = None,
    dedupe: bool = True,
) -> list[Alert]:
    """Series alerts (interval + burst) for the ``days`` days ending at ``date``, ranked by score.

    ``signals`` is a signals table (the contract) or an aggregated :class:`SeriesSet`; ``date``
    defaults to its last day. Runs of days merge into one alert (see the module doc); pass the
    alerts already known as ``existing`` to continue them. Series of an unknown district never
    alert; with ``dedupe`` a surge seen on nested series (a category × district and its category
    or district) is one alert (:func:`dedupe_alerts` without complaints).
    """
    config = config or AlertConfig()
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if isinstance(signals, SeriesSet):
        series = signals
    else:
        clean = validate_signals(signals)
        levels = ("total", *config.levels)
        if forecaster is not None:
            levels = tuple(dict.fromkeys([*forecaster.config.levels, *levels]))
        series = build_series(clean, levels=levels)
    end = pd.Timestamp(date).normalize() if date is not None else series.dates[-1]
    if end not in series.values.index:
        from forecasting.errors import SignalsError

        raise SignalsError(
            f"date {end:%Y-%m-%d} is outside the signals ({series.dates[0]:%Y-%m-%d} to "
            f"{series.dates[-1]:%Y-%m-%d}); pick a day inside them or refresh them with `hotline signals`"
        )
    dates = pd.date_range(end - pd.Timedelta(days=days - 1), end, freq="D")
    keys = [k for k in series.keys if _level_of(k) in config.levels and not is_unknown_place(k)]
    hits = series_hits(series, dates, config, keys=keys, forecaster=forecaster)
    alerts = merge_hits(hits, config, existing)
    return dedupe_alerts(alerts, config) if dedupe else alerts


def _days_touch(a: Alert, b: Alert, config: AlertConfig) -> bool:
    step = pd.Timedelta(days=config.gap_days + 1)
    return (
        pd.Timestamp(a.first_seen) - step <= pd.Timestamp(b.last_seen)
        and pd.Timestamp(b.first_seen) <= pd.Timestamp(a.last_seen) + step
    )


def _nested(child: str, parent: str) -> bool:
    """``parent``'s fields are a subset of ``child``'s (``category=A`` holds ``category=A|district=B``)."""
    c, p = parse_series_key(child), parse_series_key(parent)
    return all(c.get(k) == v for k, v in p.items())


def _same_incident(
    a: Alert, b: Alert, members: dict[int, set[str]] | None, ia: int, ib: int, config: AlertConfig
) -> bool:
    if members is not None and members.get(ia) and members.get(ib):
        shared = len(members[ia] & members[ib])
        return shared >= config.same_incident_share * min(len(members[ia]), len(members[ib]))
    if a.incident_ids and set(a.incident_ids) & set(b.incident_ids):
        return True
    # Without complaints: the surge of a series also shows on the series that contain it; it is
    # the same surge when the more specific one carries at least half of the other's excess.
    if a.series_key == b.series_key:
        return a.kind == "incident" or b.kind == "incident"
    if _nested(a.series_key, b.series_key):
        return a.size >= config.same_incident_share * b.size
    if _nested(b.series_key, a.series_key):
        return b.size >= config.same_incident_share * a.size
    return False


def dedupe_alerts(
    alerts: list[Alert], config: AlertConfig, members: dict[int, set[str]] | None = None
) -> list[Alert]:
    """One alert per incident: alerts on touching days that come from the same complaints merge.

    ``members`` maps an alert's position in ``alerts`` to its complaint ids (from the store):
    two alerts are the same incident when they share at least ``same_incident_share`` of the
    smaller one's complaints (or an incident). Without complaints, nested series whose excess is
    mostly the specific one's are merged. The group keeps its highest-scoring alert (the most
    specific on a tie) and lists the others in ``related``; incident ids are pooled.
    """
    parent = list(range(len(alerts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(alerts):
        for j in range(i + 1, len(alerts)):
            b = alerts[j]
            if _days_touch(a, b, config) and _same_incident(a, b, members, i, j, config):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(alerts)):
        groups.setdefault(find(i), []).append(i)
    out = []
    for idx in groups.values():
        group = [alerts[i] for i in idx]
        best_i = max(
            idx,
            key=lambda i: (alerts[i].score, specificity(alerts[i].series_key), alerts[i].kind != "incident"),
        )
        best = alerts[best_i]
        for a in group:
            if a is best:
                continue
            label = (
                f"incident {a.incident_ids[0]}" if a.kind == "incident" and a.incident_ids else a.series_key
            )
            if label != best.series_key and label not in best.related:
                best.related.append(label)
            for iid in a.incident_ids:
                if iid not in best.incident_ids:
                    best.incident_ids.append(iid)
        if members is not None:
            best.complaint_ids = sorted(members.get(best_i, set()))
        out.append(best)
    return sorted(out, key=lambda a: (-a.score, a.series_key, a.first_seen))


def _level_of(key: str) -> str:
    parts = parse_series_key(key)
    return "total" if not parts else "category_district" if len(parts) == 2 else next(iter(parts))


# -- the event store ---------------------------------------------------------------------------


def _as_alerts(frame: pd.DataFrame) -> list[Alert]:
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


def incident_hits(store: Any, dates: pd.DatetimeIndex, config: AlertConfig) -> list[Hit]:
    """Incidents that grew fast on each of ``dates`` (see the module doc)."""
    w = pd.Timedelta(days=config.incident_window_days)
    start = dates[0] - 2 * w
    end = dates[-1] + pd.Timedelta(days=1)
    incidents = store.incidents.read(
        since=start.to_pydatetime(), until=end.to_pydatetime(), min_complaints=config.incident_min_size
    )
    if incidents is None or len(incidents) == 0:
        return []
    members = store.incidents.members_detail(list(incidents["incident_id"]))
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
            lo, hi = _nb_interval(expected, expected, config.interval)
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


def enrich_alerts(store: Any, alerts: list[Alert], config: AlertConfig) -> list[Alert]:
    """Attach incidents, representative complaints (masked) and keywords from the store."""
    from nlp.pii import mask_pii

    for a in alerts:
        start = pd.Timestamp(a.first_seen)
        end = pd.Timestamp(a.last_seen) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
        try:
            if a.kind == "incident":
                incidents = store.incidents.read(ids=a.incident_ids)
            else:
                parts = parse_series_key(a.series_key)
                incidents = store.incidents.read(
                    since=start.to_pydatetime(),
                    until=end.to_pydatetime(),
                    category=parts.get("category"),
                    district=parts.get("district"),
                    limit=config.max_incidents,
                )
        except Exception as exc:  # enrichment is best effort: the alert itself stands
            logger.warning("cannot read incidents for alert %s: %s", a.alert_id, exc)
            continue
        if len(incidents):
            a.incident_ids = [str(i) for i in incidents["incident_id"]][: config.max_incidents]
        texts: list[str] = []
        keywords: Counter[str] = Counter()
        for kws in incidents.get("keywords", pd.Series(dtype=object)) if len(incidents) else []:
            for k in kws or []:
                keywords[str(k[0] if isinstance(k, (list, tuple)) else k)] += 1
        if a.incident_ids:
            members = store.incidents.members_detail(a.incident_ids)
            if len(members):
                t = pd.to_datetime(members["time"])
                inside = members[(t >= start) & (t <= end)]
                chosen = (inside if len(inside) else members).sort_values(["similarity"], ascending=False)
                # One example per incident first, biggest incident first, then fill up.
                firsts = chosen.drop_duplicates("incident_id")
                ordered = pd.concat([firsts, chosen.drop(firsts.index)])
                for title, text in zip(ordered["title"], ordered["text"], strict=True):
                    texts.append(_example(title, text))
        if not texts and a.kind != "incident":
            texts = _examples_from_complaints(store, a, start, end)
        a.examples = [mask_pii(t) for t in dict.fromkeys(texts)][: config.examples]
        if keywords:
            a.keywords = [k for k, _ in keywords.most_common(config.keywords)]
        elif a.examples:
            from nlp.segment import TfidfKeywords

            a.keywords = [
                w for w, _ in TfidfKeywords().fit(a.examples).top_terms(a.examples, config.keywords)
            ]
    return alerts


def _example(title: Any, text: Any, limit: int = 120) -> str:
    title = str(title or "").strip()
    text = str(text or "").strip()
    s = f"{title}：{text}" if title and not text.startswith(title) else text or title
    return s[:limit] + ("…" if len(s) > limit else "")


def _examples_from_complaints(store: Any, a: Alert, start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    """Complaints of the alert's series and days when the store has no incidents for them."""
    try:
        complaints = store.complaints.read(since=start.to_pydatetime(), until=end.to_pydatetime())
    except Exception as exc:
        logger.debug("no complaints for alert %s: %s", a.alert_id, exc)
        return []
    if not len(complaints):
        return []
    parts = parse_series_key(a.series_key)
    events = (
        store.complaints.read_events(list(complaints["id"]))
        if hasattr(getattr(store, "complaints", None), "read_events")
        else None
    )
    frame = complaints
    if events is not None and len(events):
        frame = complaints.merge(
            events[["complaint_id", "category", "district"]].rename(
                columns={"complaint_id": "id", "district": "ev_district"}
            ),
            on="id",
            how="left",
        )
        cat = frame["category"].fillna("").where(frame["category"].fillna("") != "", frame["label"])
        dist = frame["ev_district"].fillna("").where(frame["ev_district"].fillna("") != "", frame["district"])
    else:
        cat, dist = frame["label"], frame["district"]
    keep = pd.Series(True, index=frame.index)
    if "category" in parts:
        keep &= cat == parts["category"]
    if "district" in parts:
        keep &= dist == parts["district"]
    return [_example(t, x) for t, x in zip(frame.loc[keep, "title"], frame.loc[keep, "text"], strict=True)]


def complaint_frame(
    store: Any, since: pd.Timestamp | None = None, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per complaint: ``id``, ``time``, ``category``, ``district`` (as the signals count
    it: ``未分类`` / ``未知`` when unknown), ``incident_id``, ``title`` and ``text`` (masked).

    Empty when the store cannot say which series a complaint counts in.
    """
    cols = ["id", "time", "category", "district", "incident_id", "title", "text"]
    if not hasattr(getattr(store, "signals", None), "source") or not hasattr(
        getattr(store, "complaints", None), "read"
    ):
        return pd.DataFrame(columns=cols)
    from events.signals import UNKNOWN_CATEGORY, signal_source_frame
    from events.store import UNKNOWN_DISTRICT

    src = signal_source_frame(store)
    if src.empty:
        return pd.DataFrame(columns=cols)
    src = src.assign(time=pd.to_datetime(src["time"], errors="coerce")).dropna(subset=["time"])
    if since is not None:
        src = src[src["time"] >= since]
    if until is not None:
        src = src[src["time"] <= until]
    src = src.drop_duplicates("id")
    # The same normalisation as the signals (events.signals.build_signals), so that a
    # complaint lands in the series that counted it.
    src["category"] = src["category"].fillna("").astype(str).str.strip().replace("", UNKNOWN_CATEGORY)
    src["district"] = src["district"].fillna("").astype(str).replace("", UNKNOWN_DISTRICT)
    texts = store.complaints.read(
        since=None if since is None else since.to_pydatetime(),
        until=None if until is None else until.to_pydatetime(),
    )
    texts = texts[["id", "title", "text"]] if len(texts) else pd.DataFrame(columns=["id", "title", "text"])
    return src.merge(texts, on="id", how="left")[cols].reset_index(drop=True)


def alert_members(complaints: pd.DataFrame, a: Alert, config: AlertConfig) -> pd.DataFrame:
    """The complaints behind an alert: its series' complaints on its days (an incident alert:
    the incident's complaints in its growth window)."""
    if complaints.empty:
        return complaints
    end = pd.Timestamp(a.last_seen) + pd.Timedelta(days=1)
    start = pd.Timestamp(a.first_seen)
    if a.kind == "incident":
        start -= pd.Timedelta(days=config.incident_window_days - 1)
        keep = complaints["incident_id"].isin(a.incident_ids[:1])
    else:
        parts = parse_series_key(a.series_key)
        keep = pd.Series(True, index=complaints.index)
        for name, value in parts.items():
            keep &= complaints[name] == value
    keep &= (complaints["time"] >= start) & (complaints["time"] < end)
    return complaints[keep]


def keyword_model(complaints: pd.DataFrame) -> Any:
    """Document frequencies over all complaints, so that a surge's keywords are what sets its
    complaints apart (not words every complaint uses)."""
    from nlp.segment import TfidfKeywords

    return TfidfKeywords().fit(
        _doc(t, x) for t, x in zip(complaints["title"], complaints["text"], strict=True)
    )


def _doc(title: Any, text: Any) -> str:
    title = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    return f"{title}\n{text}".strip()


def describe_members(
    members: pd.DataFrame, model: Any, config: AlertConfig
) -> tuple[list[str], list[str], list[str]]:
    """Examples, keywords and incident ids of an alert, all from the same complaints.

    Keywords are the members' top TF-IDF terms that at least two of them use (one complaint's
    words do not describe a surge); examples are the members that carry most of those keywords,
    the biggest incident's first; finally only keywords found in the examples are kept, so a
    reader sees each keyword in an example.
    """
    from nlp.pii import mask_pii

    if members.empty:
        return [], [], []
    docs = [_doc(t, x) for t, x in zip(members["title"], members["text"], strict=True)]
    inc = members["incident_id"].where(members["incident_id"].notna(), None)
    sizes = Counter(i for i in inc if isinstance(i, str) and i)
    incident_ids = [i for i, _ in sizes.most_common(config.max_incidents)]
    candidates = [w for w, _ in model.top_terms(docs, config.keywords * 4) if not PLACE_CODE.fullmatch(w)]
    min_docs = 2 if len(docs) >= 2 else 1
    candidates = [w for w in candidates if sum(w in d for d in docs) >= min_docs] or candidates
    order = sorted(
        range(len(docs)),
        key=lambda k: (
            -sum(w in docs[k] for w in candidates[: config.keywords]),
            -sizes.get(inc.iloc[k], 0) if isinstance(inc.iloc[k], str) else 0,
            str(members["id"].iloc[k]),
        ),
    )
    chosen: list[int] = []
    seen: set[str] = set()
    for k in order:
        ex = _example(members["title"].iloc[k], members["text"].iloc[k])
        if ex in seen:
            continue
        seen.add(ex)
        chosen.append(k)
        if len(chosen) >= config.examples:
            break
    keywords = [w for w in candidates if any(w in docs[k] for k in chosen)][: config.keywords]
    examples = [mask_pii(_example(members["title"].iloc[k], members["text"].iloc[k])) for k in chosen]
    return examples, keywords, incident_ids


def _title_shingles(title: Any) -> frozenset[str]:
    """Character bigrams of a title without place codes and request-type words."""
    t = "" if title is None or (isinstance(title, float) and math.isnan(title)) else str(title)
    parts = TITLE_BOILERPLATE.sub(" ", PLACE_CODE.sub(" ", t)).split()
    return frozenset(p[i : i + 2] for p in parts for i in range(len(p) - 1))


# MinHash LSH over title bigrams: 16 bands of 2 rows find a pair of Jaccard 0.5 with probability
# 0.99 while each title is hashed once (linear); candidates are then checked exactly.
_MINHASH_BANDS, _MINHASH_ROWS = 16, 2
_MINHASH_PRIME = (1 << 31) - 1
_MINHASH_A = np.random.default_rng(13).integers(1, _MINHASH_PRIME, _MINHASH_BANDS * _MINHASH_ROWS)
_MINHASH_B = np.random.default_rng(14).integers(0, _MINHASH_PRIME, _MINHASH_BANDS * _MINHASH_ROWS)


def near_duplicate_pairs(titles: list[Any], threshold: float) -> list[tuple[int, int]]:
    """Pairs of positions whose titles' bigram Jaccard similarity is at least ``threshold``.

    Titles with fewer than three bigrams left (``反映噪音问题`` -> ``噪音``) say too little about a
    place or an issue to call two complaints one, and are skipped.
    """
    shingles = [_title_shingles(t) for t in titles]
    buckets: dict[tuple[int, bytes], list[int]] = {}
    for i, sh in enumerate(shingles):
        if len(sh) < 3:
            continue
        h = np.array([zlib.crc32(x.encode("utf-8")) for x in sh], dtype=np.int64)
        sig = ((np.outer(_MINHASH_A, h) + _MINHASH_B[:, None]) % _MINHASH_PRIME).min(axis=1)
        for b in range(_MINHASH_BANDS):
            band = sig[b * _MINHASH_ROWS : (b + 1) * _MINHASH_ROWS].tobytes()
            buckets.setdefault((b, band), []).append(i)
    pairs: set[tuple[int, int]] = set()
    for idx in buckets.values():
        for x, i in enumerate(idx):
            for j in idx[x + 1 :]:
                if (i, j) in pairs:
                    continue
                a, b = shingles[i], shingles[j]
                if len(a & b) >= threshold * len(a | b):
                    pairs.add((i, j))
    return sorted(pairs)


def coherent_complaints(members: pd.DataFrame, config: AlertConfig) -> set[str]:
    """Ids of an alert's complaints that share a store incident or a near-duplicate title with
    another of its complaints: the part of a surge that is one issue repeated, not a busy day."""
    if members.empty:
        return set()
    n = len(members)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for k, inc in enumerate(members["incident_id"]):
        if isinstance(inc, str) and inc:
            parent[find(k)] = find(first.setdefault(inc, k))
    for i, j in near_duplicate_pairs(list(members["title"]), config.title_similarity):
        parent[find(i)] = find(j)
    sizes = Counter(find(k) for k in range(n))
    ids = list(members["id"])
    return {str(ids[k]) for k in range(n) if sizes[find(k)] >= 2}


def keep_coherent(
    alerts: list[Alert], found: dict[int, pd.DataFrame], config: AlertConfig
) -> tuple[list[Alert], dict[int, pd.DataFrame]]:
    """Drop series alerts whose excess is not coherent; score the rest by their coherent excess.

    A series alert stays when its coherent complaints (:func:`coherent_complaints`) are at least
    ``coherent_share`` of its excess; its score's volume term is then the coherent excess (capped
    at the excess) instead of the raw one, so a repeated issue outranks a busier day of unrelated
    posts. Incident alerts are one incident by construction and keep their score.
    """
    kept: list[Alert] = []
    members: dict[int, pd.DataFrame] = {}
    for i, a in enumerate(alerts):
        if a.kind != "incident":
            coherent = min(float(len(coherent_complaints(found[i], config))), a.size)
            if coherent < config.coherent_share * a.size or coherent <= 0:
                logger.debug("alert %s dropped: coherent +%.0f of +%.0f", a.series_key, coherent, a.size)
                continue
            a.coherent = coherent
            a.score = round(_surprise(a.p_value, config) * math.log1p(coherent), 3)
        else:
            a.coherent = a.size
        members[len(kept)] = found[i]
        kept.append(a)
    return kept, members


def scan_alerts(
    store: Any,
    forecaster: Any = None,
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
    signals = store.signals.read()
    if signals is None or len(signals) == 0:
        from forecasting.errors import SignalsError

        raise SignalsError(
            "the event store has no daily signals yet; load complaints with `hotline events INPUT --store URL`"
        )
    clean = validate_signals(signals, source=str(getattr(store, "url", "store")))
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    days = int((end - start).days) + 1
    alerts = detect_alerts(
        clean, forecaster, date=end, days=days, config=config, existing=existing, dedupe=False
    )
    dates = pd.date_range(start, end, freq="D")
    has_incidents = hasattr(getattr(store, "incidents", None), "read") and hasattr(
        getattr(store, "incidents", None), "members_detail"
    )
    if has_incidents:
        alerts += merge_hits(incident_hits(store, dates, config), config, existing)
    complaints = complaint_frame(
        store, start - pd.Timedelta(days=config.baseline_days), end + pd.Timedelta(days=1)
    )
    if complaints.empty:
        # A store that cannot place complaints in series: merge by series nesting, enrich the
        # old way (incidents of the series).
        alerts = dedupe_alerts(alerts, config)
        return enrich_alerts(store, alerts, config) if has_incidents else alerts
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
    store: Any,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    forecaster: Any = None,
    config: AlertConfig | None = None,
) -> list[Alert]:
    """The alerts a daily job would have raised on each day of ``start..end`` (nothing stored),
    ranked by score: what ``bench/alerts_eval.py`` reads to measure alert precision."""
    return scan_alerts(store, forecaster, start=start, end=end, config=config, existing=[])


def run_alerts(
    store: Any,
    forecaster: Any = None,
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
    best ones (all are written).
    """
    config = config or AlertConfig()
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    signals = store.signals.read()
    if signals is None or len(signals) == 0:
        from forecasting.errors import SignalsError

        raise SignalsError(
            "the event store has no daily signals yet; load complaints with `hotline events INPUT --store URL`"
        )
    end = pd.Timestamp(date).normalize() if date is not None else pd.Timestamp(signals["date"].max())
    lookback = pd.Timedelta(days=days + config.gap_days + 1)
    stored = store.alerts.read(since=f"{end - lookback - pd.Timedelta(days=90):%Y-%m-%d}", limit=None)
    # Incident alerts stay open longer: a wave of the same incident continues its alert.
    incident_lookback = pd.Timedelta(days=days + max(config.gap_days, config.incident_gap_days) + 1)
    existing = [
        a
        for a in _as_alerts(stored)
        if a.last_seen
        and pd.Timestamp(a.last_seen) >= end - (incident_lookback if a.kind == "incident" else lookback)
    ]
    # Re-scan open alerts from their first day so that their size is recomputed, not re-added.
    start = end - pd.Timedelta(days=days - 1)
    if existing:
        start = min(start, min(pd.Timestamp(a.first_seen) for a in existing))
    alerts = scan_alerts(store, forecaster, start=start, end=end, config=config, existing=existing)
    if write and alerts:
        store.alerts.upsert([a.to_record() for a in alerts])
        logger.info("%d alert(s) written to the event store", len(alerts))
    return alerts[:top] if top else alerts
