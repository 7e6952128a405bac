"""Forecasting heads: one model family each, fitted once, applied to any later history.

Every head has the same small interface: ``fit(history)`` learns its parameters from a daily
series, ``forecast(history, horizon)`` turns *any* history (the training series, or the same
series with newer days appended, as the alert job does) into a :class:`HeadForecast` without
re-estimating, and ``get_state()`` / ``from_state()`` persist it without pickles:

- ``seasonal_naive`` - the reference: the value one week earlier; normal intervals from the
  spread of weekly differences, widening with the number of weeks ahead.
- ``ets`` - additive Holt-Winters with damped trend and weekly season (statsmodels ``ETSModel``);
  analytic intervals. State: the estimated parameters, re-applied with ``smooth(params)``.
- ``sarima`` - SARIMA(1,0,1)(0,1,1)7 with two calendar regressors (a holiday on a weekday, a
  调休 working weekend), statsmodels ``SARIMAX``; Kalman-filter intervals. State: parameters.
- ``gbm`` - scikit-learn ``HistGradientBoostingRegressor`` (Poisson loss) on lags, rolling means
  and calendar features including Chinese holidays and 调休, applied recursively. No model
  intervals (calibrated from backtest residuals). State: hyper-parameters; it is refitted on
  load from the stored training series, deterministically (fixed seed, no early stopping),
  because scikit-learn estimators can only be persisted by pickling.
- ``mlp`` - a small torch MLP: the last ``lags`` days (scaled by their mean) plus the calendar
  of the next ``horizon`` days -> ``horizon`` × quantiles, trained with the pinball loss;
  non-crossing quantiles by construction. State: weights as safetensors tensors.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from events.calendar import calendar_features, day_calendar
from forecasting.config import ForecastConfig

logger = logging.getLogger(__name__)


@dataclass
class HeadForecast:
    """Point forecast (``mean``) and, where the model provides them, quantiles by level."""

    mean: np.ndarray
    quantiles: dict[float, np.ndarray] | None = None


def future_dates(history: pd.Series, horizon: int) -> pd.DatetimeIndex:
    return pd.date_range(history.index[-1] + pd.Timedelta(days=1), periods=horizon, freq="D")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run tiny models on one thread: on a few shared cores, OpenMP and torch thread pools spend
    far longer synchronising than computing (a 300-row boosting fit went from 0.5 s to 4-13 s)."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a declared dependency
        torch = None
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None and before is not None:
                torch.set_num_threads(before)


def _normal_quantiles(mean: np.ndarray, sd: np.ndarray, levels: tuple[float, ...]) -> dict[float, np.ndarray]:
    return {q: np.maximum(mean + stats.norm.ppf(q) * sd, 0.0) for q in levels if q != 0.5}


class Head:
    """Base class; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    model_intervals: ClassVar[bool] = False

    def __init__(self, config: ForecastConfig) -> None:
        self.config = config
        self.fitted = False

    def fit(self, history: pd.Series) -> Head:
        raise NotImplementedError

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any]:
        return {}

    def get_tensors(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_state(
        cls, config: ForecastConfig, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series
    ) -> Head:
        head = cls(config)
        head._set_state(state, tensors, history)
        head.fitted = True
        return head

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        raise NotImplementedError


class SeasonalNaiveHead(Head):
    name = "seasonal_naive"
    model_intervals = True

    def fit(self, history: pd.Series) -> SeasonalNaiveHead:
        m = self.config.season
        y = history.to_numpy(dtype=float)
        diffs = y[m:] - y[:-m]
        self.sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0
        self.fitted = True
        return self

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        m = self.config.season
        y = history.to_numpy(dtype=float)
        h = np.arange(horizon)
        mean = y[len(y) - m + (h % m)]
        weeks = h // m + 1
        return HeadForecast(
            mean, _normal_quantiles(mean, self.sigma * np.sqrt(weeks), self.config.quantile_levels)
        )

    def get_state(self) -> dict[str, Any]:
        return {"sigma": self.sigma}

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        self.sigma = float(state["sigma"])


@functools.cache
def _ets_no_cov() -> type:
    """An ETSModel whose results skip the parameter covariance: a numerical Hessian of the
    likelihood, ~0.2 s per forecast, computed eagerly when a results object is built. A forecast
    needs none of it: the mean comes from the smoothed states, and the intervals of these
    additive models are exact, ``mse`` times the relative forecast variance (statsmodels'
    ``PredictionResults``), so they stay identical (tests/test_forecast_speed.py)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel, ETSResults, ETSResultsWrapper

    class ETSResultsNoCov(ETSResults):
        @property
        def cov_params_approx(self) -> np.ndarray:
            k = len(self.params)
            return np.full((k, k), np.nan)

    class ETSModelNoCov(ETSModel):
        @property
        def _res_classes(self) -> dict[str, Any]:
            return {"fit": (ETSResultsNoCov, ETSResultsWrapper)}

    return ETSModelNoCov


class ETSHead(Head):
    name = "ets"
    model_intervals = True

    def _model(self, y: np.ndarray, model: type | None = None):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        # ETSModel's prediction results need a pandas index; positions are all it uses.
        return (model or ETSModel)(
            pd.Series(y, index=pd.RangeIndex(len(y))),
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=self.config.season,
        )

    def fit(self, history: pd.Series) -> ETSHead:
        with warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            res = self._model(history.to_numpy(dtype=float)).fit(disp=False, maxiter=200)
        self.params = np.asarray(res.params, dtype=float)
        self.fitted = True
        return self

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        y = history.to_numpy(dtype=float)
        with warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            # Without the parameter covariance (see _ets_no_cov): the intervals do not use it.
            res = self._model(y, _ets_no_cov()).smooth(self.params)
            pred = res.get_prediction(start=len(y), end=len(y) + horizon - 1)
            mean = np.asarray(pred.predicted_mean, dtype=float)
            quantiles: dict[float, np.ndarray] = {}
            for c in self.config.intervals:
                frame = pred.summary_frame(alpha=1 - c)
                lo, hi = round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)
                quantiles[lo] = np.maximum(frame["pi_lower"].to_numpy(dtype=float), 0.0)
                quantiles[hi] = np.maximum(frame["pi_upper"].to_numpy(dtype=float), 0.0)
        return HeadForecast(np.maximum(mean, 0.0), quantiles)

    def get_state(self) -> dict[str, Any]:
        return {"params": self.params.tolist()}

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        self.params = np.asarray(state["params"], dtype=float)


def _sarima_exog(dates: pd.DatetimeIndex) -> pd.DataFrame:
    cal = day_calendar(dates)
    weekday = cal["weekday"].to_numpy() < 5
    return pd.DataFrame(
        {
            # The weekly seasonal term already knows weekends; these are the departures from it.
            "holiday_weekday": (cal["holiday"].to_numpy() > 0) & weekday,
            "makeup_weekend": cal["makeup"].to_numpy() > 0,
        },
        index=dates,
    ).astype(float)


class SARIMAHead(Head):
    name = "sarima"
    model_intervals = True

    def _model(self, y: np.ndarray, exog: np.ndarray | None):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(
            y,
            exog=exog,
            order=self.config.sarima_order,
            seasonal_order=(*self.config.sarima_seasonal_order, self.config.season),
        )

    def _exog(self, dates: pd.DatetimeIndex) -> np.ndarray | None:
        if not self.exog_columns:
            return None
        return _sarima_exog(dates)[self.exog_columns].to_numpy()

    def fit(self, history: pd.Series) -> SARIMAHead:
        ex = _sarima_exog(pd.DatetimeIndex(history.index))
        # A regressor that never varies in the training window cannot be estimated.
        self.exog_columns = [c for c in ex.columns if ex[c].nunique() > 1]
        with warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            res = self._model(history.to_numpy(dtype=float), self._exog(history.index)).fit(
                disp=False, maxiter=50
            )
        self.params = np.asarray(res.params, dtype=float)
        self.fitted = True
        return self

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        y = history.to_numpy(dtype=float)
        fut = future_dates(history, horizon)
        with warnings.catch_warnings(), single_thread():
            warnings.simplefilter("ignore")
            res = self._model(y, self._exog(pd.DatetimeIndex(history.index))).smooth(self.params)
            pred = res.get_forecast(horizon, exog=self._exog(fut))
            mean = np.asarray(pred.predicted_mean, dtype=float)
            quantiles: dict[float, np.ndarray] = {}
            for c in self.config.intervals:
                ci = np.asarray(pred.conf_int(alpha=1 - c), dtype=float)
                quantiles[round((1 - c) / 2, 6)] = np.maximum(ci[:, 0], 0.0)
                quantiles[round(1 - (1 - c) / 2, 6)] = np.maximum(ci[:, 1], 0.0)
        return HeadForecast(np.maximum(mean, 0.0), quantiles)

    def get_state(self) -> dict[str, Any]:
        return {"params": self.params.tolist(), "exog_columns": self.exog_columns}

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        self.params = np.asarray(state["params"], dtype=float)
        self.exog_columns = list(state["exog_columns"])


def _lag_list(max_lag: int) -> list[int]:
    return [lag for lag in (1, 2, 3, 4, 5, 6, 7, 14, 21, 28, 35) if lag <= max_lag]


class GBMHead(Head):
    name = "gbm"

    def _features(self, values: np.ndarray, t: np.ndarray, cal: np.ndarray) -> np.ndarray:
        """Features of target positions ``t`` (values before ``t`` only) with calendar rows ``cal``."""
        lags = _lag_list(self.config.lags)
        cols = [values[t - lag] for lag in lags]
        csum = np.concatenate([[0.0], np.cumsum(values)])
        for w in (7, self.config.lags):
            cols.append((csum[t] - csum[t - w]) / w)
        return np.column_stack([*cols, cal])

    def fit(self, history: pd.Series) -> GBMHead:
        from sklearn.ensemble import HistGradientBoostingRegressor

        y = history.to_numpy(dtype=float)
        start = self.config.lags
        t = np.arange(start, len(y))
        cal = calendar_features(pd.DatetimeIndex(history.index))[start:]
        model = HistGradientBoostingRegressor(
            loss=self.config.gbm_loss,
            learning_rate=0.05,
            max_iter=self.config.gbm_max_iter,
            max_leaf_nodes=15,
            min_samples_leaf=10,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=self.config.seed,
        )
        with single_thread():
            self.model = model.fit(self._features(y, t, cal), y[start:])
        self.fitted = True
        return self

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        values = np.concatenate([history.to_numpy(dtype=float), np.zeros(horizon)])
        n = len(history)
        cal = calendar_features(future_dates(history, horizon))
        with single_thread():
            for h in range(horizon):
                # Recursive: each day's prediction becomes a lag of the next.
                x = self._features(values, np.array([n + h]), cal[h : h + 1])
                values[n + h] = max(float(self.model.predict(x)[0]), 0.0)
        return HeadForecast(values[n:].copy(), None)

    def get_state(self) -> dict[str, Any]:
        return {"refit_on_load": True}

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        self.fit(history)


class MLPHead(Head):
    name = "mlp"
    model_intervals = True

    def _inputs(self, y: np.ndarray, cal_future: np.ndarray, scale: float) -> np.ndarray:
        # cal_future: (H, 12) = weekday one-hot (7) + 5 flags; keep the first day's weekday only.
        return np.concatenate(
            [y / scale, cal_future[0, :7], cal_future[:, 7:].ravel(), [np.log1p(scale) / 5]]
        )

    def _net(self, in_dim: int):
        import torch
        from torch import nn

        hidden, horizon = self.config.mlp_hidden, self.config.horizon
        n_q = len(self.config.quantile_levels)
        mid_i = self.config.quantile_levels.index(0.5)
        n_out = horizon * n_q

        class QuantileMLP(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = nn.Sequential(
                    nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
                )
                self.out = nn.Linear(hidden, n_out)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                raw = self.out(self.body(x)).view(-1, horizon, n_q)
                mid = raw[..., mid_i : mid_i + 1]
                # Quantiles spread out from the median by positive steps: they never cross.
                up = mid + torch.cumsum(nn.functional.softplus(raw[..., mid_i + 1 :]), dim=-1)
                down = mid - torch.flip(
                    torch.cumsum(torch.flip(nn.functional.softplus(raw[..., :mid_i]), [-1]), dim=-1), [-1]
                )
                return torch.cat([down, mid, up], dim=-1)

        return QuantileMLP()

    @staticmethod
    def _scale(window: np.ndarray) -> float:
        return float(np.mean(window)) + 1.0

    def fit(self, history: pd.Series) -> MLPHead:
        import torch

        y = history.to_numpy(dtype=float)
        L, H = self.config.lags, self.config.horizon
        cal = calendar_features(pd.DatetimeIndex(history.index))
        xs, ys = [], []
        for t in range(L, len(y) - H + 1):
            s = self._scale(y[t - L : t])
            xs.append(self._inputs(y[t - L : t], cal[t : t + H], s))
            ys.append(y[t : t + H] / s)
        if len(xs) < 8:
            raise ValueError(f"mlp head needs at least lags + horizon + 8 days, got {len(y)}")
        X = torch.tensor(np.array(xs), dtype=torch.float32)
        Y = torch.tensor(np.array(ys), dtype=torch.float32)
        q = torch.tensor(self.config.quantile_levels, dtype=torch.float32)
        with single_thread(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            net = self._net(X.shape[1])
            opt = torch.optim.Adam(
                net.parameters(), lr=self.config.mlp_lr, weight_decay=self.config.mlp_weight_decay
            )
            for _ in range(self.config.mlp_epochs):
                opt.zero_grad()
                err = Y.unsqueeze(-1) - net(X)
                loss = torch.maximum(q * err, (q - 1) * err).mean()
                loss.backward()
                opt.step()
        net.eval()
        self.net = net
        self.in_dim = int(X.shape[1])
        self.fitted = True
        return self

    def forecast(self, history: pd.Series, horizon: int) -> HeadForecast:
        import torch

        L, H = self.config.lags, self.config.horizon
        levels = self.config.quantile_levels
        mid = levels.index(0.5)
        y = list(history.to_numpy(dtype=float))
        out = []
        last = history.index[-1]
        while sum(len(o) for o in out) < horizon:
            dates = pd.date_range(last + pd.Timedelta(days=1), periods=H, freq="D")
            window = np.asarray(y[-L:])
            s = self._scale(window)
            x = torch.tensor(self._inputs(window, calendar_features(dates), s)[None, :], dtype=torch.float32)
            with torch.no_grad(), single_thread():
                block = np.maximum(self.net(x)[0].numpy().astype(float) * s, 0.0)  # (H, n_q)
            out.append(block)
            # Beyond one block the median forecasts stand in for the unseen days.
            y.extend(block[:, mid].tolist())
            last = dates[-1]
        qs = np.concatenate(out)[:horizon]
        return HeadForecast(
            qs[:, mid].copy(), {lv: qs[:, i].copy() for i, lv in enumerate(levels) if lv != 0.5}
        )

    def get_state(self) -> dict[str, Any]:
        return {"in_dim": self.in_dim, "quantile_levels": list(self.config.quantile_levels)}

    def get_tensors(self) -> dict[str, Any]:
        return {k: v.detach().clone().contiguous() for k, v in self.net.state_dict().items()}

    def _set_state(self, state: dict[str, Any], tensors: dict[str, Any], history: pd.Series) -> None:
        self.in_dim = int(state["in_dim"])
        self.net = self._net(self.in_dim)
        self.net.load_state_dict(tensors)
        self.net.eval()


HEAD_CLASSES: dict[str, type[Head]] = {
    cls.name: cls for cls in (SeasonalNaiveHead, ETSHead, SARIMAHead, GBMHead, MLPHead)
}


def make_head(name: str, config: ForecastConfig) -> Head:
    return HEAD_CLASSES[name](config)
