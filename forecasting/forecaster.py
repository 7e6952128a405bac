"""A fitted set of forecasting heads over the daily signals: fit, predict, save, load.

>>> fc = Forecaster.fit(signals)                           # doctest: +SKIP
>>> fc.predict("category=供水供电燃气", horizon=7)           # doctest: +SKIP
>>> fc.save("models/forecast"); Forecaster.load("models/forecast")  # doctest: +SKIP

Fitting backtests every head on every modelled series (see :mod:`forecasting.backtest`),
keeps the head with the lowest MASE per series (``combo``, the mean of the non-naive heads, is
a candidate too), chooses model or conformal intervals from their backtest coverage, and refits
the chosen head on the whole history. Series below the minimum-volume rule (see
:class:`~forecasting.config.ForecastConfig`) are forecast as their recent share of a parent
series, with negative-binomial count intervals that combine the parent's uncertainty and the
thinning noise.

The directory written by :meth:`Forecaster.save`:

- ``forecast_config.json`` - the :class:`ForecastConfig`;
- ``series.json`` - per series: mode, chosen head, interval method and conformal offsets,
  parent and share, backtest MASE and coverage;
- ``heads.json`` / ``heads.safetensors`` - fitted state: statsmodels parameters (re-applied with
  ``smooth(params)``, no re-optimisation), torch MLP weights, boosting hyper-parameters (refit on
  load, deterministic);
- ``training_series.csv`` - the aggregated daily series the heads were fitted on (counts only,
  no complaint text), needed to refit and as the default history;
- ``metrics.json`` - the backtest; ``README.md`` - the model card.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import uuid
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm.auto import tqdm

from forecasting.backtest import (
    Choice,
    SeriesBacktest,
    add_combo,
    apply_offsets,
    choose,
    chosen_quantiles,
    count_intervals,
    coverage,
    holdout_eval,
    mase_scale,
    origin_cuts,
    qlevels,
    run_backtest,
)
from forecasting.config import COMBO, REFERENCE, ForecastConfig
from forecasting.errors import ForecastModelError, SignalsError, UnknownSeriesError
from forecasting.heads import HEAD_CLASSES, Head, make_head, single_thread
from forecasting.signals import (
    TOTAL,
    SeriesSet,
    build_series,
    parse_series_key,
    series_key,
    series_level,
    suggest_series,
    validate_signals,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CONFIG_FILE = "forecast_config.json"
SERIES_FILE = "series.json"
STATE_FILE = "heads.json"
TENSORS_FILE = "heads.safetensors"
HISTORY_FILE = "training_series.csv"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
# Forecasts kept per instance (a dashboard page asks for a few hundred; arrays of horizon length).
FORECAST_CACHE_SIZE = 8192


@dataclass
class SeriesModel:
    """How one series is forecast (one entry of ``series.json``)."""

    key: str
    level: str
    mode: str  # "model": own heads; "share": share of a parent; "naive": too short to backtest
    head: str  # chosen head, "combo" or "share"
    members: list[str] = field(default_factory=list)  # heads whose fitted state is kept
    interval: str = "model"  # "model", "conformal" or "count"
    offsets: dict[str, float] = field(default_factory=dict)  # conformal offsets by quantile level
    parent: str | None = None
    share: float | None = None
    mean_daily: float = 0.0
    mase: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def _interval_columns(intervals: tuple[float, ...]) -> list[tuple[float, str, str]]:
    return [(c, f"lower_{round(c * 100)}", f"upper_{round(c * 100)}") for c in intervals]


def _json_float(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


class Forecaster:
    """Fitted forecasting heads for every series of a signals table."""

    def __init__(
        self,
        config: ForecastConfig,
        series: SeriesSet,
        models: dict[str, SeriesModel],
        *,
        heads: dict[str, dict[str, Head]] | None = None,
        states: dict[str, dict[str, Any]] | None = None,
        tensors: dict[str, dict[str, Any]] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.series = series
        self.models = models
        self._heads: dict[str, dict[str, Head]] = heads or {}
        self._states = states or {}
        self._tensors = tensors or {}
        self.metrics = metrics or {}
        # Forecasts by (series, horizon, history): see _forecast_arrays.
        self._cache: OrderedDict[tuple[Any, ...], tuple[pd.Series, np.ndarray, dict[float, np.ndarray]]] = (
            OrderedDict()
        )
        self._cache_lock = threading.Lock()
        # Unique per instance (unlike id(), never reused): for caches kept outside, by callers.
        self.instance_id = uuid.uuid4().hex

    # -- fitting -------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls, signals: pd.DataFrame, config: ForecastConfig | None = None, *, source: str = "signals"
    ) -> Forecaster:
        """Fit on a signals table (the contract in :mod:`forecasting.signals`)."""
        config = config or ForecastConfig()
        clean = validate_signals(signals, source=source, target=config.target, gaps=config.gaps)
        return cls.fit_series(build_series(clean, target=config.target, levels=config.levels), config)

    @classmethod
    def fit_series(cls, series: SeriesSet, config: ForecastConfig | None = None) -> Forecaster:
        """Fit on already aggregated series (a :class:`SeriesSet` whose columns are series keys)."""
        config = config or ForecastConfig()
        values = series.values
        if TOTAL not in values.columns:
            raise SignalsError("the series set has no 'total' series")
        data_end = None
        if config.trim_collapse and len(values) > config.min_history_days:
            from forecasting.asof import reliable_end

            data_end = reliable_end(
                values[TOTAL], ratio=config.collapse_ratio, min_days=config.collapse_min_days
            )
            if data_end.trimmed:
                # Fit on the reliable part only: the collapsed tail is missing data, and heads
                # fitted on it forecast ~0 calls (seasonal naive repeats the empty last week).
                values = values.loc[: data_end.reliable_end]
                series = SeriesSet(values)
        n = len(values)
        if n < config.min_history_days:
            raise SignalsError(
                f"only {n} day(s) of signals ({values.index[0]:%Y-%m-%d} to {values.index[-1]:%Y-%m-%d}); "
                f"forecasting needs at least {config.min_history_days} days (two weekly cycles). Collect "
                "more days or lower min_history_days"
            )
        if values[TOTAL].sum() == 0:
            raise SignalsError(
                f"every {config.target} count is zero from {values.index[0]:%Y-%m-%d} to "
                f"{values.index[-1]:%Y-%m-%d}: nothing to forecast (check the signals' target column)"
            )
        recent = values.iloc[-config.volume_window_days :].mean()
        others = [k for k in values.columns if k != TOTAL]
        eligible = sorted(
            (k for k in others if recent[k] >= config.min_mean_daily), key=lambda k: (-recent[k], k)
        )
        modelled = [TOTAL, *eligible[: config.max_series]]
        cuts = origin_cuts(n, config)
        if not cuts:
            logger.warning(
                "%d days of history is shorter than min_train_days + horizon = %d: no backtest; every "
                "series is forecast with the seasonal naive head and its model intervals",
                n,
                config.min_train_days + config.horizon,
            )
        elif len(cuts) < config.n_origins:
            logger.info("history allows %d of %d backtest origins", len(cuts), config.n_origins)
        models: dict[str, SeriesModel] = {}
        heads: dict[str, dict[str, Head]] = {}
        backtests: dict[str, SeriesBacktest] = {}
        choices: dict[str, Choice] = {}
        learned = tuple(h for h in config.heads if h != REFERENCE)
        with single_thread():
            for key in tqdm(modelled, desc="backtest", unit="series", disable=None):
                hist = values[key]
                sm = SeriesModel(key=key, level=series_level(key), mode="model", head=REFERENCE)
                sm.mean_daily = float(recent[key])
                if cuts:
                    bt = run_backtest(hist, key, config, config.heads)
                    combo_members = add_combo(bt, list(learned)) if config.combo else []
                    for name, why in bt.failures.items():
                        logger.info("%s: head %s skipped (%s)", key, name, why)
                    choice = choose(bt, config)
                    backtests[key], choices[key] = bt, choice
                    sm.head, sm.interval = choice.head, choice.interval
                    sm.offsets = {str(k): v for k, v in choice.offsets.items()}
                    sm.mase = {h: _json_float(v) for h, v in choice.mase.items()}
                    sm.coverage = {str(c): _json_float(v) for c, v in choice.coverage.items()}
                    sm.members = combo_members if sm.head == COMBO else [sm.head]
                else:
                    sm.mode, sm.members, sm.interval = "naive", [REFERENCE], "model"
                    sm.reason = f"history of {n} days is too short to backtest"
                heads[key] = cls._fit_final(hist, sm, config, choices.get(key))
                models[key] = sm
        for key in others:
            if key in models:
                continue
            models[key] = cls._share_model(key, values, models, config, float(recent[key]))
        fc = cls(config, series, models, heads=heads)
        fc.metrics = fc._metrics(backtests, choices, cuts)
        if data_end is not None:
            fc.metrics["data_end"] = f"{data_end.data_end:%Y-%m-%d}"
            fc.metrics["reliable_end"] = f"{data_end.reliable_end:%Y-%m-%d}"
            fc.metrics["trimmed_days"] = data_end.trimmed_days
            fc.metrics["trim_note"] = data_end.describe()
        return fc

    @staticmethod
    def _fit_final(
        hist: pd.Series, sm: SeriesModel, config: ForecastConfig, choice: Choice | None
    ) -> dict[str, Head]:
        """Fit the chosen head(s) on the whole history, falling back down the MASE ranking."""
        ranking = [sm.head]
        if choice is not None:
            ranking += [h for h in sorted(choice.mase, key=lambda h: choice.mase[h]) if h != sm.head]
        ranking.append(REFERENCE)
        for head in ranking:
            members = sm.members if head == sm.head else ([] if head == COMBO else [head])
            if not members:
                continue
            try:
                fitted = {m: make_head(m, config).fit(hist) for m in members}
            except Exception as exc:  # fall back rather than fail the whole fit
                logger.warning(
                    "%s: head %s failed on the full history (%s); trying the next best", sm.key, head, exc
                )
                continue
            if head != sm.head:
                sm.reason = f"{sm.head} failed on the full history; using {head}"
                sm.head, sm.members = head, members
                sm.interval = "model" if HEAD_CLASSES[head].model_intervals else "conformal"
            return fitted
        raise SignalsError(f"no head could be fitted to series {sm.key!r}")  # pragma: no cover

    @staticmethod
    def _parent_of(key: str, models: dict[str, SeriesModel]) -> str:
        parts = parse_series_key(key)
        if len(parts) == 2:
            for cand in (series_key(category=parts["category"]), series_key(district=parts["district"])):
                if cand in models and models[cand].mode != "share":
                    return cand
        return TOTAL

    @classmethod
    def _share_model(
        cls,
        key: str,
        values: pd.DataFrame,
        models: dict[str, SeriesModel],
        config: ForecastConfig,
        mean_daily: float,
    ) -> SeriesModel:
        parent = cls._parent_of(key, models)
        window = values.iloc[-config.volume_window_days :]
        denom = float(window[parent].sum())
        share = float(window[key].sum()) / denom if denom > 0 else 0.0
        return SeriesModel(
            key=key,
            level=series_level(key),
            mode="share",
            head="share",
            interval="count",
            parent=parent,
            share=share,
            mean_daily=mean_daily,
            reason=f"{mean_daily:.2f} calls/day over the last {config.volume_window_days} days is below "
            f"min_mean_daily={config.min_mean_daily} (or beyond max_series={config.max_series})",
        )

    # -- prediction ----------------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return list(self.models)

    @property
    def start_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.series.values.index[0])

    @property
    def end_date(self) -> pd.Timestamp:
        return pd.Timestamp(self.series.values.index[-1])

    def model(self, key: str) -> SeriesModel:
        if key not in self.models:
            raise UnknownSeriesError(suggest_series(key, self.keys))
        return self.models[key]

    def history(self, key: str) -> pd.Series:
        self.model(key)
        return self.series[key]

    def _get_heads(self, key: str) -> dict[str, Head]:
        if key not in self._heads:
            sm = self.models[key]
            states = self._states.get(key, {})
            tensors = self._tensors.get(key, {})
            with single_thread():
                self._heads[key] = {
                    m: HEAD_CLASSES[m].from_state(
                        self.config, states[m], tensors.get(m, {}), self.series[key]
                    )
                    for m in sm.members
                }
        return self._heads[key]

    def clear_cache(self) -> None:
        """Forget the forecasts kept by :meth:`_forecast_arrays` (after changing models or heads)."""
        with self._cache_lock:
            self._cache.clear()

    def _history_token(self, key: str, history: SeriesSet | None) -> tuple[Any, ...]:
        """What a forecast of ``key`` starts from: the training series, or the given values."""
        hist = history[key] if history is not None and key in history else self.series[key]
        y = np.ascontiguousarray(hist.to_numpy(dtype=float))
        # The values themselves, not the object: a history rebuilt from the same signals hits
        # (a few hundred floats hash in microseconds).
        return (hist.index[-1], len(y), hashlib.blake2b(y.tobytes(), digest_size=16).digest())

    def _model_sig(self, key: str) -> tuple[Any, ...]:
        sm = self.models[key]
        offsets = tuple(sorted(sm.offsets.items()))
        heads = id(self._get_heads(key)) if sm.mode != "share" else None  # loaded now: needed anyway
        return (sm.mode, sm.head, tuple(sm.members), sm.interval, offsets, sm.parent, sm.share, heads)

    def _forecast_arrays(
        self, key: str, horizon: int, history: SeriesSet | None
    ) -> tuple[pd.Series, np.ndarray, dict[float, np.ndarray]]:
        """History, mean and quantiles of ``key`` (kept per series, horizon and history).

        A share series is its parent's forecast scaled, and a page or ``predict`` asks for
        dozens of children of one parent: each parent is forecast once, and repeated requests
        for the same history (the dashboard's) cost a dictionary look-up. The fitted state never
        changes after fit/load, so the kept results stay valid for this instance.
        """
        sm = self.model(key)
        base = (sm.parent or TOTAL) if sm.mode == "share" else key
        # The models are part of the key: code that swaps a head or edits a SeriesModel in place
        # (tests, notebooks) must not get the old forecast back.
        ck = (key, horizon, self._history_token(base, history), self._model_sig(key), self._model_sig(base))
        with self._cache_lock:
            hit = self._cache.get(ck)
            if hit is not None:
                self._cache.move_to_end(ck)
                return hit
        out = self._compute_arrays(key, horizon, history)
        for arr in (out[1], *out[2].values()):
            arr.flags.writeable = False  # shared between callers: nobody may change them
        with self._cache_lock:
            self._cache[ck] = out
            while len(self._cache) > FORECAST_CACHE_SIZE:
                self._cache.popitem(last=False)
        return out

    def _compute_arrays(
        self, key: str, horizon: int, history: SeriesSet | None
    ) -> tuple[pd.Series, np.ndarray, dict[float, np.ndarray]]:
        sm = self.model(key)
        levels = [lv for c in self.config.intervals for lv in qlevels(c)]
        if sm.mode == "share":
            parent_hist, pmean, pq = self._forecast_arrays(sm.parent or TOTAL, horizon, history)
            share = sm.share or 0.0
            c0 = self.config.intervals[0]
            lo, hi = qlevels(c0)
            # Parent spread from its narrowest interval, read as a normal interval.
            psd = (pq[hi] - pq[lo]) / (2 * stats.norm.ppf(hi))
            mean = share * pmean
            var = share**2 * psd**2 + share * (1 - share) * pmean
            return parent_hist, mean, count_intervals(mean, var, self.config.intervals)
        hist = history[key] if history is not None and key in history else self.series[key]
        if len(hist) < self.config.lags + 1 and any(m in ("gbm", "mlp") for m in sm.members):
            raise SignalsError(
                f"series {key!r}: {len(hist)} day(s) of history given; the fitted heads need at least "
                f"{self.config.lags + 1}"
            )
        heads = self._get_heads(key)
        try:
            with single_thread():
                fcs = {m: h.forecast(hist, horizon) for m, h in heads.items()}
        except ValueError as exc:
            # A head refitted on a new, shorter history (ETS needs two weekly cycles) cannot
            # start from it: a typed error the caller can act on, not a bare ValueError.
            raise SignalsError(
                f"series {key!r}: the fitted heads cannot forecast from the {len(hist)} day(s) of "
                f"history given ({exc})"
            ) from exc
        mean = np.mean([f.mean for f in fcs.values()], axis=0) if sm.head == COMBO else fcs[sm.head].mean
        model_q = fcs[sm.head].quantiles if sm.head in fcs else None
        if sm.interval == "model" and model_q:
            quantiles = dict(model_q)
        else:
            offsets = {float(k): v for k, v in sm.offsets.items()}
            quantiles = apply_offsets(mean, offsets)
        return hist, mean, {lv: quantiles[lv] for lv in levels}

    def forecast_series(
        self, key: str, horizon: int | None = None, *, history: SeriesSet | None = None
    ) -> pd.DataFrame:
        """Forecast of one series: a row per day with the mean and the interval bounds.

        ``history`` (a :class:`SeriesSet`, e.g. built from newer signals) replaces the training
        series as the starting point; the fitted parameters are kept.
        """
        horizon = horizon or self.config.horizon
        if horizon < 1:
            raise SignalsError(f"horizon must be >= 1 day, got {horizon}")
        sm = self.model(key)
        hist, mean, qs = self._forecast_arrays(key, horizon, history)
        dates = pd.date_range(hist.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")
        frame = pd.DataFrame(
            {
                "series": key,
                "date": dates.strftime("%Y-%m-%d"),
                "step": np.arange(1, horizon + 1),
                "model": sm.head,
                "interval": sm.interval,
                "mean": np.round(mean, 3),
            }
        )
        for c, lo_col, hi_col in _interval_columns(self.config.intervals):
            lo, hi = qlevels(c)
            frame[lo_col] = np.round(np.minimum(qs[lo], mean), 3)
            frame[hi_col] = np.round(np.maximum(qs[hi], mean), 3)
        return frame

    def predict(
        self,
        series: str | list[str] | None = None,
        horizon: int | None = None,
        *,
        history: SeriesSet | None = None,
    ) -> pd.DataFrame:
        """Forecasts of the named series (all by default), stacked in one table."""
        keys = self.keys if series is None else [series] if isinstance(series, str) else list(series)
        for k in keys:
            self.model(k)
        frames = [self.forecast_series(k, horizon, history=history) for k in keys]
        return pd.concat(frames, ignore_index=True)

    # -- metrics -------------------------------------------------------------------------------

    def _metrics(
        self, backtests: dict[str, SeriesBacktest], choices: dict[str, Choice], cuts: list[int]
    ) -> dict:
        """Backtest figures per series and per level (see ``docs/forecasting.md``).

        Per level: the mean MASE of each head over the series modelled with their own heads,
        relative to the mean seasonal-naive MASE of the same series; the chosen forecast
        (including share series) in-sample and on the holdout (choice on the earlier half of the
        origins, scored on the later half); pooled interval coverage.
        """
        config = self.config
        values = self.series.values
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
                "mase": {h: _json_float(bt.mase(h)) for h in bt.mean},
                "relative_mase": {h: _json_float(bt.mase(h) / bt.mase(REFERENCE)) for h in bt.mean},
                "coverage": {str(c): _json_float(v) for c, v in ch.coverage.items()},
                "failures": bt.failures,
            }
            if sel is not None:
                ho = holdout_eval(bt, config, sel, ev)
                rec["holdout"] = {
                    "chosen": ho["mase"],
                    "naive": bt.mase(REFERENCE, ev),
                    "head": ho["head"],
                    "hits": {
                        c: (ho["coverage"][c] * ho["n_points"], ho["n_points"]) for c in config.intervals
                    },
                }
                entry["holdout"] = {
                    "chosen": ho["head"],
                    "mase": _json_float(ho["mase"]),
                    "naive_mase": _json_float(bt.mase(REFERENCE, ev)),
                    "coverage": {str(c): _json_float(v) for c, v in ho["coverage"].items()},
                }
            per_series[key] = entry
            records.append(rec)
        # Share series: at each origin, the parent's chosen forecast × the share seen so far.
        for key, sm in self.models.items():
            if sm.mode != "share" or sm.parent not in backtests:
                continue
            pbt, pch = backtests[sm.parent], choices[sm.parent]
            y = values[key].to_numpy(dtype=float)
            p = values[sm.parent].to_numpy(dtype=float)
            W = config.volume_window_days
            shares = np.array(
                [y[max(0, c - W) : c].sum() / max(p[max(0, c - W) : c].sum(), 1e-9) for c in cuts]
            )
            pmean = pbt.mean[pch.head]
            pq = chosen_quantiles(pbt, pch, config, all_rows)
            lo, hi = qlevels(config.intervals[0])
            psd = (pq[hi] - pq[lo]) / (2 * stats.norm.ppf(hi))
            mean = shares[:, None] * pmean
            var = shares[:, None] ** 2 * psd**2 + shares[:, None] * (1 - shares[:, None]) * pmean
            qs = count_intervals(mean, var, config.intervals)
            actual = np.array([y[c : c + config.horizon] for c in cuts])
            scale = np.array([mase_scale(y[:c], config.season) for c in cuts])
            naive = np.array(
                [y[c - config.season + (np.arange(config.horizon) % config.season)] for c in cuts]
            )
            e_share = np.abs(actual - mean).mean(axis=1) / scale
            e_naive = np.abs(actual - naive).mean(axis=1) / scale
            cov = coverage(actual, qs, config.intervals)
            sm.mase = {
                "share": _json_float(float(e_share.mean())),
                REFERENCE: _json_float(float(e_naive.mean())),
            }
            sm.coverage = {str(c): _json_float(v) for c, v in cov.items()}
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
                "share": _json_float(sm.share or 0.0),
                "mase": sm.mase,
                "relative_mase": {
                    "share": _json_float(e_share.mean() / e_naive.mean()) if e_naive.mean() > 0 else None
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
                    "mase": _json_float(float(e_share[ev].mean())),
                    "naive_mase": _json_float(float(e_naive[ev].mean())),
                    "coverage": {str(c): _json_float(h / t) for c, (h, t) in rec["holdout"]["hits"].items()},
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
                s["mase"][h] = _json_float(float(np.mean([a for a, _ in pairs])))
                s["relative_mase"][h] = _json_float(_ratio(pairs))
            pairs = [(r["chosen"], r["naive"]) for r in rs]
            s["naive_mase"] = _json_float(float(np.mean([b for _, b in pairs])))
            s["chosen_mase_in_sample"] = _json_float(float(np.mean([a for a, _ in pairs])))
            s["chosen_relative_in_sample"] = _json_float(_ratio(pairs))
            s["coverage"] = _pooled(rs, config.intervals)
            hos = [r["holdout"] for r in rs if "holdout" in r]
            if hos:
                pairs = [(h["chosen"], h["naive"]) for h in hos]
                s["holdout"] = {
                    "chosen_mase": _json_float(float(np.mean([a for a, _ in pairs]))),
                    "naive_mase": _json_float(float(np.mean([b for _, b in pairs]))),
                    "chosen_relative": _json_float(_ratio(pairs)),
                    "coverage": _pooled(hos, config.intervals),
                    "choices": dict(Counter(h["head"] for h in hos)),
                }
            summary[level] = s
        return {
            "format_version": FORMAT_VERSION,
            "target": config.target,
            "train_start": f"{self.start_date:%Y-%m-%d}",
            "train_end": f"{self.end_date:%Y-%m-%d}",
            "horizon": config.horizon,
            "origins": [f"{values.index[c]:%Y-%m-%d}" for c in cuts],
            "holdout_origins": (
                {"select": [int(i) for i in sel], "evaluate": [int(i) for i in ev]}
                if sel is not None
                else None
            ),
            "n_series": len(self.models),
            "n_modelled": sum(sm.mode != "share" for sm in self.models.values()),
            "n_share": sum(sm.mode == "share" for sm in self.models.values()),
            "chosen_heads": dict(Counter(sm.head for sm in self.models.values())),
            "levels": summary,
            "series": per_series,
        }

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the forecaster directory (see the module docstring)."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / CONFIG_FILE)
        states: dict[str, dict[str, Any]] = {}
        tensors: dict[str, Any] = {}
        index = {key: i for i, key in enumerate(self.models)}
        for key, sm in self.models.items():
            if sm.mode == "share":
                continue
            heads = self._get_heads(key)
            states[key] = {m: heads[m].get_state() for m in sm.members}
            for m in sm.members:
                # safetensors keys are ASCII-safe: the series is named by its index in series.json.
                for name, t in heads[m].get_tensors().items():
                    tensors[f"{index[key]}/{m}/{name}"] = t
        _write_json(out / STATE_FILE, states)
        save_file(tensors, str(out / TENSORS_FILE), metadata={"format": "hotline-forecast", "version": "1"})
        _write_json(
            out / SERIES_FILE,
            {
                "format_version": FORMAT_VERSION,
                "train_start": f"{self.start_date:%Y-%m-%d}",
                "train_end": f"{self.end_date:%Y-%m-%d}",
                "series": [asdict(sm) for sm in self.models.values()],
            },
        )
        hist = self.series.values.copy()
        hist.index = hist.index.strftime("%Y-%m-%d")
        hist.index.name = "date"
        hist.to_csv(out / HISTORY_FILE, encoding="utf-8")
        _write_json(out / METRICS_FILE, self.metrics)
        (out / CARD_FILE).write_text(self.model_card(), encoding="utf-8")
        logger.info("forecaster saved to %s (%d series)", out, len(self.models))
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Forecaster:
        from safetensors.torch import load_file

        d = Path(directory)
        if not d.is_dir():
            raise ForecastModelError(
                f"forecaster directory {d} not found; fit one with `hotline forecast fit --signals FILE -o {d}`"
            )
        missing = [f for f in (CONFIG_FILE, SERIES_FILE, STATE_FILE, HISTORY_FILE) if not (d / f).exists()]
        if missing:
            raise ForecastModelError(
                f"{d} is not a complete forecaster directory (missing {', '.join(missing)}); refit it with "
                "`hotline forecast fit`"
            )
        info = json.loads((d / SERIES_FILE).read_text(encoding="utf-8"))
        if info.get("format_version", 1) > FORMAT_VERSION:
            raise ForecastModelError(
                f"{d} was written by a newer hotline (format {info['format_version']}); upgrade hotline"
            )
        config = ForecastConfig.load(d / CONFIG_FILE)
        models = {s["key"]: SeriesModel(**s) for s in info["series"]}
        hist = pd.read_csv(d / HISTORY_FILE, index_col="date", encoding="utf-8")
        hist.index = pd.DatetimeIndex(pd.to_datetime(hist.index))
        hist.columns = [str(c) for c in hist.columns]
        states = json.loads((d / STATE_FILE).read_text(encoding="utf-8"))
        flat = load_file(str(d / TENSORS_FILE)) if (d / TENSORS_FILE).exists() else {}
        keys = list(models)
        tensors: dict[str, dict[str, dict[str, Any]]] = {}
        for name, t in flat.items():
            i, head, param = name.split("/", 2)
            tensors.setdefault(keys[int(i)], {}).setdefault(head, {})[param] = t
        metrics = (
            json.loads((d / METRICS_FILE).read_text(encoding="utf-8")) if (d / METRICS_FILE).exists() else {}
        )
        return cls(
            config, SeriesSet(hist.astype(float)), models, states=states, tensors=tensors, metrics=metrics
        )

    def model_card(self) -> str:
        m = self.metrics
        cfg = self.config
        lines = [
            "# Forecasting heads (hotline)",
            "",
            f"Daily `{cfg.target}` forecasts for {len(self.models)} series, trained on "
            f"{self.start_date:%Y-%m-%d} to {self.end_date:%Y-%m-%d} ({len(self.series.values)} days).",
            "Produced by `hotline forecast fit`; load with `forecasting.Forecaster.load(DIR)` or "
            "`hotline forecast predict --model DIR`.",
            "",
            "## Series and models",
            "",
            f"- modelled with their own heads: {m.get('n_modelled', '?')}; forecast as a share of a parent "
            f"series (below {cfg.min_mean_daily} calls/day or beyond the {cfg.max_series} busiest): "
            f"{m.get('n_share', '?')}",
            f"- heads: {', '.join(cfg.heads)}"
            + (" + combo (mean of the learned heads)" if cfg.combo else ""),
            f"- chosen per series by backtest MASE (weekly-seasonal scale): {m.get('chosen_heads', {})}",
            f"- backtest: {len(m.get('origins', []))} rolling origins every {cfg.origin_step} days, "
            f"horizon {cfg.horizon} days; origins {', '.join(m.get('origins', []))}",
            f"- intervals: {', '.join(f'{round(c * 100)}%' for c in cfg.intervals)}; model-based where the "
            "head gives them and they were calibrated in the backtest, otherwise conformal from backtest "
            "residuals",
            "",
            "## Backtest",
            "",
            "| level | series | naive MASE | chosen MASE (in-sample choice) | relative | "
            + " | ".join(f"coverage {round(c * 100)}%" for c in cfg.intervals)
            + " | holdout relative |",
            "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in cfg.intervals) + " | --- |",
        ]
        for level, s in m.get("levels", {}).items():
            ho = s.get("holdout", {})
            lines.append(
                f"| {level} | {s['n_series']} ({s['n_modelled']} own heads) | {s['naive_mase']} | {s['chosen_mase_in_sample']} | "
                f"{s['chosen_relative_in_sample']} | "
                + " | ".join(str(s["coverage"].get(str(c))) for c in cfg.intervals)
                + f" | {ho.get('chosen_relative', 'n/a')} |"
            )
        lines += [
            "",
            "Holdout: head and intervals chosen on the earlier half of the origins, scored on the later "
            "half. Full figures in `metrics.json`; per-series choices in `series.json`.",
            "",
            "## Limits",
            "",
            "- Counts only: the forecaster never sees complaint text.",
            "- Holidays come from `chinese_calendar`; for years it does not cover, only weekends and "
            "fixed-date holidays are known (see docs/forecasting.md).",
            "- Share series inherit their parent's model; their intervals assume the share is stable.",
            "",
        ]
        return "\n".join(lines)


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
        out[str(c)] = _json_float(hit / tot) if tot else None
    return out


def _ratio(pairs: list[tuple[float, float]]) -> float:
    den = float(np.mean([b for _, b in pairs])) if pairs else 0.0
    return float(np.mean([a for a, _ in pairs])) / den if den > 0 else math.nan


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=_default) + "\n", encoding="utf-8")


def _default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return _json_float(float(obj))
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def load_forecaster(directory: str | os.PathLike[str]) -> Forecaster:
    """Load a directory written by :meth:`Forecaster.save` (``hotline forecast fit``)."""
    return Forecaster.load(directory)
