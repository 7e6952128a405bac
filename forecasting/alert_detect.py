"""Surge detection on the daily series: forecast intervals and bursts against a robust baseline,
runs of days merged into one alert, one alert per surge across nested series.

The detectors, the baseline and the ranking are described in :mod:`forecasting.alerts`.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from events.calendar import day_calendar
from forecasting.alert_records import Alert, Hit, alert_family, alert_id, is_unknown_place, specificity
from forecasting.config import AlertConfig
from forecasting.signals import SeriesSet, build_series, parse_series_key, series_level, validate_signals

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)


def _nb_sf(observed: float, mean: float, var: float) -> float:
    """P(X >= observed) for a count with this mean and variance (Poisson when var <= mean)."""
    mean = max(mean, 1e-6)
    if var > mean * 1.0001:
        n = mean**2 / (var - mean)
        return float(stats.nbinom.sf(observed - 1, n, n / (n + mean)))
    return float(stats.poisson.sf(observed - 1, mean))


def nb_interval(mean: float, var: float, level: float) -> tuple[float, float]:
    """Central ``level`` interval of a count with this mean and variance."""
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
    forecaster: Forecaster | None = None,
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
                lo, hi = nb_interval(mean, var, config.interval)
                hits.append(Hit(pd.Timestamp(day), key, key, "burst", obs, mean, lo, hi, p))
    return hits


def merge_hits(hits: list[Hit], config: AlertConfig, existing: list[Alert] | None = None) -> list[Alert]:
    """Group hits of the same series into runs (gaps of at most ``gap_days``) -> one alert each.

    A run that touches an ``existing`` alert of the same series (same family) takes over its id
    and its ``first_seen``.
    """
    by_key: dict[tuple[str, str], list[Hit]] = {}
    for h in sorted(hits, key=lambda h: (h.key, h.date)):
        by_key.setdefault((alert_family(h.kind), h.key), []).append(h)
    old: dict[tuple[str, str], list[Alert]] = {}
    for a in existing or []:
        k = a.incident_ids[0] if a.kind == "incident" and a.incident_ids else a.series_key
        old.setdefault((alert_family(a.kind), k), []).append(a)
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
    surprise = surprise_score(peak.p_value, config)
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


def surprise_score(p_value: float, config: AlertConfig) -> float:
    return min(-math.log10(max(p_value, 1e-300)), config.score_cap)


def detect_alerts(
    signals: pd.DataFrame | SeriesSet,
    forecaster: Forecaster | None = None,
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
    keys = [k for k in series.keys if series_level(k) in config.levels and not is_unknown_place(k)]
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
