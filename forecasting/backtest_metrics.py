"""The backtest figures of a fitted forecaster (``metrics.json``): per series and per level.

Per level: the mean MASE of each head over the series modelled with their own heads, relative
to the mean seasonal-naive MASE of the same series; the chosen forecast (including share
series) in-sample and on the holdout (choice on the earlier half of the origins, scored on the
later half); pooled interval coverage. See ``docs/forecasting.md``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from forecasting.backtest import (
    Choice,
    SeriesBacktest,
    chosen_quantiles,
    count_intervals,
    coverage,
    holdout_eval,
    mase_scale,
    qlevels,
)
from forecasting.config import REFERENCE, ForecastConfig
from forecasting.series_model import FORMAT_VERSION, SeriesModel, metric_value
from forecasting.signals import series_level


def backtest_metrics(
    config: ForecastConfig,
    values: pd.DataFrame,
    models: dict[str, SeriesModel],
    backtests: dict[str, SeriesBacktest],
    choices: dict[str, Choice],
    cuts: list[int],
) -> dict[str, Any]:
    """Backtest figures per series and per level (see ``docs/forecasting.md``).

    Per level: the mean MASE of each head over the series modelled with their own heads,
    relative to the mean seasonal-naive MASE of the same series; the chosen forecast
    (including share series) in-sample and on the holdout (choice on the earlier half of the
    origins, scored on the later half); pooled interval coverage.
    """
    n_orig = len(cuts)
    all_rows = np.arange(n_orig)
    sel = np.arange(0, math.ceil(n_orig / 2)) if n_orig >= 4 else None
    ev = np.arange(math.ceil(n_orig / 2), n_orig) if n_orig >= 4 else None
    per_series: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for key, bt in backtests.items():
        ch = choices[key]
        qs = chosen_quantiles(bt, ch, config, all_rows)
        rec: dict[str, Any] = {
            "key": key,
            "level": series_level(key),
            "heads": {h: bt.mase(h) for h in bt.heads()},
            "naive": bt.mase(REFERENCE),
            "chosen": ch.mase[ch.head],
            "hits": _hits(bt.actual, qs, config.intervals),
        }
        entry = {
            "mode": "model",
            "chosen": ch.head,
            "interval": ch.interval,
            "mase": {h: metric_value(bt.mase(h)) for h in bt.mean},
            "relative_mase": {h: metric_value(bt.mase(h) / bt.mase(REFERENCE)) for h in bt.mean},
            "coverage": {str(c): metric_value(v) for c, v in ch.coverage.items()},
            "failures": bt.failures,
        }
        if sel is not None:
            ho = holdout_eval(bt, config, sel, ev)
            rec["holdout"] = {
                "chosen": ho["mase"],
                "naive": bt.mase(REFERENCE, ev),
                "head": ho["head"],
                "hits": {c: (ho["coverage"][c] * ho["n_points"], ho["n_points"]) for c in config.intervals},
            }
            entry["holdout"] = {
                "chosen": ho["head"],
                "mase": metric_value(ho["mase"]),
                "naive_mase": metric_value(bt.mase(REFERENCE, ev)),
                "coverage": {str(c): metric_value(v) for c, v in ho["coverage"].items()},
            }
        per_series[key] = entry
        records.append(rec)
    # Share series: at each origin, the parent's chosen forecast × the share seen so far.
    for key, sm in models.items():
        if sm.mode != "share" or sm.parent not in backtests:
            continue
        pbt, pch = backtests[sm.parent], choices[sm.parent]
        y = values[key].to_numpy(dtype=float)
        p = values[sm.parent].to_numpy(dtype=float)
        W = config.volume_window_days
        shares = np.array([y[max(0, c - W) : c].sum() / max(p[max(0, c - W) : c].sum(), 1e-9) for c in cuts])
        pmean = pbt.mean[pch.head]
        pq = chosen_quantiles(pbt, pch, config, all_rows)
        lo, hi = qlevels(config.intervals[0])
        psd = (pq[hi] - pq[lo]) / (2 * stats.norm.ppf(hi))
        mean = shares[:, None] * pmean
        var = shares[:, None] ** 2 * psd**2 + shares[:, None] * (1 - shares[:, None]) * pmean
        qs = count_intervals(mean, var, config.intervals)
        actual = np.array([y[c : c + config.horizon] for c in cuts])
        scale = np.array([mase_scale(y[:c], config.season) for c in cuts])
        naive = np.array([y[c - config.season + (np.arange(config.horizon) % config.season)] for c in cuts])
        e_share = np.abs(actual - mean).mean(axis=1) / scale
        e_naive = np.abs(actual - naive).mean(axis=1) / scale
        cov = coverage(actual, qs, config.intervals)
        sm.mase = {
            "share": metric_value(float(e_share.mean())),
            REFERENCE: metric_value(float(e_naive.mean())),
        }
        sm.coverage = {str(c): metric_value(v) for c, v in cov.items()}
        rec = {
            "key": key,
            "level": series_level(key),
            "heads": {},
            "naive": float(e_naive.mean()),
            "chosen": float(e_share.mean()),
            "hits": _hits(actual, qs, config.intervals),
        }
        entry = {
            "mode": "share",
            "parent": sm.parent,
            "share": metric_value(sm.share or 0.0),
            "mase": sm.mase,
            "relative_mase": {
                "share": metric_value(e_share.mean() / e_naive.mean()) if e_naive.mean() > 0 else None
            },
            "coverage": sm.coverage,
        }
        if sel is not None:
            sub = {lv: q[ev] for lv, q in qs.items()}
            rec["holdout"] = {
                "chosen": float(e_share[ev].mean()),
                "naive": float(e_naive[ev].mean()),
                "head": "share",
                "hits": _hits(actual[ev], sub, config.intervals),
            }
            entry["holdout"] = {
                "chosen": "share",
                "mase": metric_value(float(e_share[ev].mean())),
                "naive_mase": metric_value(float(e_naive[ev].mean())),
                "coverage": {str(c): metric_value(h / t) for c, (h, t) in rec["holdout"]["hits"].items()},
            }
        per_series[key] = entry
        records.append(rec)
    summary: dict[str, Any] = {}
    for level in dict.fromkeys(r["level"] for r in records):
        rs = [r for r in records if r["level"] == level]
        own = [r for r in rs if r["heads"]]
        heads = sorted({h for r in own for h in r["heads"]}, key=lambda h: (h != REFERENCE, h))
        s: dict[str, Any] = {"n_series": len(rs), "n_modelled": len(own), "mase": {}, "relative_mase": {}}
        for h in heads:
            # Relative: mean MASE of the head over mean naive MASE on the same series.
            pairs = [(r["heads"][h], r["naive"]) for r in own if h in r["heads"]]
            s["mase"][h] = metric_value(float(np.mean([a for a, _ in pairs])))
            s["relative_mase"][h] = metric_value(_ratio(pairs))
        pairs = [(r["chosen"], r["naive"]) for r in rs]
        s["naive_mase"] = metric_value(float(np.mean([b for _, b in pairs])))
        s["chosen_mase_in_sample"] = metric_value(float(np.mean([a for a, _ in pairs])))
        s["chosen_relative_in_sample"] = metric_value(_ratio(pairs))
        s["coverage"] = _pooled(rs, config.intervals)
        hos = [r["holdout"] for r in rs if "holdout" in r]
        if hos:
            pairs = [(h["chosen"], h["naive"]) for h in hos]
            s["holdout"] = {
                "chosen_mase": metric_value(float(np.mean([a for a, _ in pairs]))),
                "naive_mase": metric_value(float(np.mean([b for _, b in pairs]))),
                "chosen_relative": metric_value(_ratio(pairs)),
                "coverage": _pooled(hos, config.intervals),
                "choices": dict(Counter(h["head"] for h in hos)),
            }
        summary[level] = s
    return {
        "format_version": FORMAT_VERSION,
        "target": config.target,
        "train_start": f"{values.index[0]:%Y-%m-%d}",
        "train_end": f"{values.index[-1]:%Y-%m-%d}",
        "horizon": config.horizon,
        "origins": [f"{values.index[c]:%Y-%m-%d}" for c in cuts],
        "holdout_origins": (
            {"select": [int(i) for i in sel], "evaluate": [int(i) for i in ev]} if sel is not None else None
        ),
        "n_series": len(models),
        "n_modelled": sum(sm.mode != "share" for sm in models.values()),
        "n_share": sum(sm.mode == "share" for sm in models.values()),
        "chosen_heads": dict(Counter(sm.head for sm in models.values())),
        "levels": summary,
        "series": per_series,
    }


def _hits(
    actual: np.ndarray, qs: dict[float, np.ndarray], intervals: tuple[float, ...]
) -> dict[float, tuple[int, int]]:
    out = {}
    for c in intervals:
        lo, hi = qlevels(c)
        inside = (actual >= qs[lo] - 1e-9) & (actual <= qs[hi] + 1e-9)
        out[c] = (int(inside.sum()), int(inside.size))
    return out


def _pooled(records: list[dict[str, Any]], intervals: tuple[float, ...]) -> dict[str, float | None]:
    out = {}
    for c in intervals:
        hit = sum(r["hits"][c][0] for r in records)
        tot = sum(r["hits"][c][1] for r in records)
        out[str(c)] = metric_value(hit / tot) if tot else None
    return out


def _ratio(pairs: list[tuple[float, float]]) -> float:
    den = float(np.mean([b for _, b in pairs])) if pairs else 0.0
    return float(np.mean([a for a, _ in pairs])) / den if den > 0 else math.nan
