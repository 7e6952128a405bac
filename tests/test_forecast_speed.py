"""Forecast speed (issue 14.5): what is computed once and kept, and that the numbers do not change.

Counts of head forecasts (a spy on every head's ``forecast``), never timings: timings belong to
bench/dashboard_speed.py.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecasting import forecaster as forecaster_module
from forecasting.asof import resolve
from forecasting.forecaster import Forecaster
from forecasting.heads import HEAD_CLASSES, ETSHead
from forecasting.history import series_values
from forecasting.outlook import Forecasts
from forecasting.signals import SeriesSet
from forecasting.sources import change_token, signal_source
from tests.test_forecast_common import fitted_forecaster, small_config

LABELS = {"actual": "a", "expected": "e", "forecast": "f", "calls": "c"}


@pytest.fixture(scope="module")
def fitted() -> Forecaster:
    return fitted_forecaster()


@pytest.fixture()
def spy(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts head forecasts by head name."""
    calls: Counter[str] = Counter()
    for name, cls in HEAD_CLASSES.items():
        original = cls.forecast

        def counted(self: Any, history: pd.Series, horizon: int, _o: Any = original, _n: str = name) -> Any:
            calls[_n] += 1
            return _o(self, history, horizon)

        monkeypatch.setattr(cls, "forecast", counted)
    return calls


def _fresh(fc: Forecaster) -> Forecaster:
    """A copy of ``fc`` with nothing kept yet (the fitted heads are shared, never changed)."""
    return Forecaster(fc.config, fc.series, fc.models, heads=dict(fc._heads), metrics=fc.metrics)


def _n_own(fc: Forecaster) -> int:
    return sum(len(sm.members) for sm in fc.models.values() if sm.mode != "share")


def test_each_parent_is_forecast_once_per_predict_and_then_kept(
    fitted: Forecaster, spy: Counter[str]
) -> None:
    fc = _fresh(fitted)
    assert any(sm.mode == "share" for sm in fc.models.values())
    first = fc.predict(horizon=7)
    # One forecast per head of each modelled series, however many share children it has.
    assert sum(spy.values()) == _n_own(fc)
    spy.clear()
    again = fc.predict(horizon=7)
    assert sum(spy.values()) == 0
    pd.testing.assert_frame_equal(first, again)
    # A history rebuilt with the same values hits; different values, or another horizon, do not.
    same = SeriesSet(fc.series.values.copy())
    fc.predict(horizon=7, history=same)
    assert sum(spy.values()) == 0
    fc.predict(horizon=5)
    assert sum(spy.values()) == _n_own(fc)
    spy.clear()
    changed = fc.series.values.copy()
    changed.iloc[-1] += 3.0
    fc.predict(horizon=7, history=SeriesSet(changed))
    assert sum(spy.values()) == _n_own(fc)


def test_kept_forecasts_equal_the_uncached_ones(
    fitted: Forecaster, spy: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fc = _fresh(fitted)
    hist = SeriesSet(fc.series.values.iloc[:-4])
    cached = [fc.predict(horizon=9, history=hist) for _ in range(2)]
    monkeypatch.setattr(forecaster_module, "FORECAST_CACHE_SIZE", 0)  # keeps nothing: the old path
    plain = _fresh(fitted)
    spy.clear()
    reference = plain.predict(horizon=9, history=hist)
    n_share = sum(sm.mode == "share" for sm in plain.models.values())
    assert sum(spy.values()) > _n_own(plain) and n_share > 0  # each child recomputed its parent
    for table in cached:
        pd.testing.assert_frame_equal(table, reference)


def test_save_load_and_clear_cache_start_afresh(fitted: Forecaster, spy: Counter[str], tmp_path) -> None:
    fc = _fresh(fitted)
    fc.predict(horizon=7)
    fc.save(tmp_path / "fc")
    loaded = Forecaster.load(tmp_path / "fc")
    spy.clear()
    loaded.predict(horizon=7)
    assert sum(spy.values()) == _n_own(loaded)
    spy.clear()
    fc.clear_cache()
    fc.predict(horizon=7)
    assert sum(spy.values()) == _n_own(fc)
    assert loaded.instance_id != fc.instance_id


def test_ets_forecast_skips_the_parameter_covariance_with_identical_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import warnings

    from statsmodels.tsa.exponential_smoothing import base
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    rng = np.random.default_rng(3)
    days = pd.date_range("2025-01-06", periods=70, freq="D")
    y = pd.Series(20 + 6 * (days.dayofweek < 5) + rng.poisson(3, len(days)), index=days, dtype=float)
    head = ETSHead(small_config()).fit(y)
    # The reference: statsmodels' own results, covariance included (what the head did before).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ETSModel(
            pd.Series(y.to_numpy(), index=pd.RangeIndex(len(y))), error="add", trend="add",
            damped_trend=True, seasonal="add", seasonal_periods=7,
        )  # fmt: skip
        pred = model.smooth(head.params).get_prediction(start=len(y), end=len(y) + 9)
        frames = {c: pred.summary_frame(alpha=1 - c) for c in head.config.intervals}
    covs = Counter()
    original = base.StateSpaceMLEResults.cov_params_approx.func

    def counted(self: Any) -> Any:
        covs["n"] += 1
        return original(self)

    monkeypatch.setattr(base.StateSpaceMLEResults, "cov_params_approx", property(counted))
    out = head.forecast(y, 10)
    assert covs["n"] == 0
    np.testing.assert_array_equal(out.mean, np.maximum(pred.predicted_mean.to_numpy(), 0.0))
    for c, frame in frames.items():
        lo, hi = round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)
        np.testing.assert_array_equal(out.quantiles[lo], np.maximum(frame["pi_lower"].to_numpy(), 0.0))
        np.testing.assert_array_equal(out.quantiles[hi], np.maximum(frame["pi_upper"].to_numpy(), 0.0))


def _overview(fc: Forecaster, day: str) -> tuple[Any, Any]:
    from serving.dashboard import data

    at = resolve(day, None, fc)
    fcs = Forecasts(fc, series_values(None, fc, at.day))
    return data.volume_table(fcs, at), data.series_figure(fcs, "total", at, LABELS)


def test_overview_numbers_are_the_same_cold_warm_and_uncached(
    fitted: Forecaster, spy: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    day = f"{fitted.end_date:%Y-%m-%d}"
    fc = _fresh(fitted)
    cold = _overview(fc, day)
    assert sum(spy.values()) > 0
    spy.clear()
    warm = _overview(fc, day)
    assert sum(spy.values()) == 0  # the second overview forecasts nothing
    monkeypatch.setattr(forecaster_module, "FORECAST_CACHE_SIZE", 0)  # the one cache keeps nothing
    reference = _overview(_fresh(fitted), day)
    assert cold == warm == reference
    assert cold[0] and all(r["week_expected"] for r in cold[0])


def test_start_up_warm_up_fills_the_overview_caches(fitted: Forecaster, spy: Counter[str]) -> None:
    from serving.app import _start_warmup

    fc = _fresh(fitted)
    thread = _start_warmup(None, fc)
    assert thread is not None
    thread.join(timeout=120)
    spy.clear()
    _overview(fc, f"{fc.end_date:%Y-%m-%d}")  # the default as-of without a store
    assert sum(spy.values()) == 0
    assert _start_warmup(None, None) is None


class _Store:
    """A store double: signals from a frame, row counts as its change token."""

    def __init__(self, signals: pd.DataFrame) -> None:
        self.frame = signals
        self.reads = 0
        self.signals = self  # the double is its own signals repository

    def counts(self) -> dict[str, int]:
        return {"signals": len(self.frame), "complaints": int(self.frame["calls"].sum())}

    def read(self, start: Any = None, end: Any = None) -> pd.DataFrame:
        self.reads += 1
        return self.frame[self.frame["date"] <= str(end)] if end else self.frame


def test_series_are_built_once_until_the_store_changes() -> None:
    from tests.test_forecast_common import make_signals

    sig = make_signals(30, seed=4)
    store = _Store(sig)
    day = pd.Timestamp(sig["date"].max())
    first = series_values(signal_source(store), None, day)
    assert series_values(signal_source(store), None, day) is first and store.reads == 1
    store.frame = pd.concat([sig, sig.tail(1).assign(date=f"{day + pd.Timedelta(days=1):%Y-%m-%d}")])
    series_values(signal_source(store), None, day)
    assert store.reads == 2


def test_change_token_of_a_real_store_is_one_query_and_follows_signals(tmp_path) -> None:
    from events.store import EventStore
    from tests.test_forecast_common import make_signals

    store = EventStore(tmp_path / "events.db")
    try:
        empty = change_token(store)
        sig = make_signals(20, seed=5)
        day = pd.to_datetime(sig["date"])
        sig = sig.assign(
            incidents=0, new_incidents=0, weekday=day.dt.dayofweek, is_holiday=False,
            is_workday=day.dt.dayofweek < 5, holiday_name="",
        )  # fmt: skip
        store.signals.replace(sig)
        filled = change_token(store)
        assert filled != empty and filled[0] == len(sig)
        store.signals.replace(sig.assign(calls=sig["calls"] + 1))
        assert change_token(store) != filled  # same rows, other counts
    finally:
        store.close()


def test_default_as_of_reads_the_signals_once_until_the_store_changes() -> None:
    from tests.test_forecast_common import make_signals

    sig = make_signals(30, seed=6)
    store = _Store(sig)
    first = resolve(None, signal_source(store), None)
    assert resolve(None, signal_source(store), None) == first and store.reads == 1
    later = f"{pd.Timestamp(sig['date'].max()) + pd.Timedelta(days=2):%Y-%m-%d}"
    store.frame = pd.concat([sig, sig.tail(1).assign(date=later, calls=5)])
    assert resolve(None, signal_source(store), None).date == later and store.reads == 2
