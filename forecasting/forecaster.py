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
import logging
import os
import threading
import uuid
from collections import OrderedDict
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
    count_intervals,
    origin_cuts,
    qlevels,
    run_backtest,
)
from forecasting.backtest_metrics import backtest_metrics
from forecasting.config import COMBO, REFERENCE, ForecastConfig
from forecasting.errors import SignalsError, UnknownSeriesError
from forecasting.forecaster_files import model_card, read_forecaster, save_forecaster
from forecasting.heads import HEAD_CLASSES, Head, make_head, single_thread
from forecasting.series_model import SeriesModel, interval_columns, metric_value
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

# Forecasts kept per instance (a dashboard page asks for a few hundred, each as arrays of horizon
# length and as the table a page reads).
FORECAST_CACHE_SIZE = 8192


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
        # The one cache of forecasts: arrays by (series, horizon, history) (_forecast_arrays) and
        # the tables of forecast_after, by the same key and the days they skip.
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        # Unique per instance (unlike id(), never reused): names this forecaster in logs and keys.
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
                    sm.mase = {h: metric_value(v) for h, v in choice.mase.items()}
                    sm.coverage = {str(c): metric_value(v) for c, v in choice.coverage.items()}
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
        fc.metrics = backtest_metrics(config, series.values, models, backtests, choices, cuts)
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

    def fitted_heads(self, key: str) -> dict[str, Head]:
        """The fitted heads of a modelled series (rebuilt from the saved state on first use)."""
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
        """Forget the forecasts kept (after changing models or heads)."""
        with self._cache_lock:
            self._cache.clear()

    def _history_token(self, key: str, history: SeriesSet | None) -> tuple[Any, ...]:
        """What a forecast of ``key`` starts from: the training series, or the given values."""
        if history is not None and history.token is not None:
            # Built from a signal source: its change token says what the values are.
            return ("token", history.token, key in history)
        hist = history[key] if history is not None and key in history else self.series[key]
        y = np.ascontiguousarray(hist.to_numpy(dtype=float))
        # The values themselves, not the object: a history rebuilt from the same signals hits
        # (a few hundred floats hash in microseconds).
        return (hist.index[-1], len(y), hashlib.blake2b(y.tobytes(), digest_size=16).digest())

    def _model_sig(self, key: str) -> tuple[Any, ...]:
        sm = self.models[key]
        offsets = tuple(sorted(sm.offsets.items()))
        heads = id(self.fitted_heads(key)) if sm.mode != "share" else None  # loaded now: needed anyway
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
        ck = self._cache_key(key, horizon, history)
        hit = self._kept(ck)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        out = self._compute_arrays(key, horizon, history)
        for arr in (out[1], *out[2].values()):
            arr.flags.writeable = False  # shared between callers: nobody may change them
        self._keep(ck, out)
        return out

    def _cache_key(self, key: str, horizon: int, history: SeriesSet | None) -> tuple[Any, ...]:
        sm = self.model(key)
        base = (sm.parent or TOTAL) if sm.mode == "share" else key
        # The models are part of the key: code that swaps a head or edits a SeriesModel in place
        # (tests, notebooks) must not get the old forecast back.
        return (key, horizon, self._history_token(base, history), self._model_sig(key), self._model_sig(base))

    def _kept(self, ck: tuple[Any, ...]) -> Any:
        with self._cache_lock:
            hit = self._cache.get(ck)
            if hit is not None:
                self._cache.move_to_end(ck)
            return hit

    def _keep(self, ck: tuple[Any, ...], value: Any) -> None:
        with self._cache_lock:
            self._cache[ck] = value
            while len(self._cache) > FORECAST_CACHE_SIZE:
                self._cache.popitem(last=False)

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
        heads = self.fitted_heads(key)
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
        for c, lo_col, hi_col in interval_columns(self.config.intervals):
            lo, hi = qlevels(c)
            frame[lo_col] = np.round(np.minimum(qs[lo], mean), 3)
            frame[hi_col] = np.round(np.maximum(qs[hi], mean), 3)
        return frame

    def forecast_after(
        self, key: str, last_day: pd.Timestamp, days: int, history: SeriesSet | None = None
    ) -> pd.DataFrame:
        """Forecast of ``key`` for the ``days`` after ``last_day`` from ``history`` (default: the
        training series), kept like the forecasts it is cut from.

        When the history ends before ``last_day`` (no data for the last days) the forecast runs
        further ahead, so that the rows returned are still the days after ``last_day``. The
        table is shared between callers: read it, never change it.
        """
        end = pd.Timestamp(history.values.index[-1]) if history is not None else self.end_date
        gap = max(int((last_day - end).days), 0)
        ck = ("after", gap, *self._cache_key(key, gap + days, history))
        hit = self._kept(ck)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        table = self.forecast_series(key, gap + days, history=history).iloc[gap:].reset_index(drop=True)
        self._keep(ck, table)
        return table

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

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write the forecaster directory (see the module docstring)."""
        return save_forecaster(self, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Forecaster:
        f = read_forecaster(directory)
        return cls(f.config, f.series, f.models, states=f.states, tensors=f.tensors, metrics=f.metrics)

    def model_card(self) -> str:
        return model_card(self)


def load_forecaster(directory: str | os.PathLike[str]) -> Forecaster:
    """Load a directory written by :meth:`Forecaster.save` (``hotline forecast fit``)."""
    return Forecaster.load(directory)
