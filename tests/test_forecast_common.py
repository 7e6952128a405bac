"""Synthetic data with known structure for the forecasting tests (helpers, plus their own checks)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from events.calendar import day_calendar
from forecasting.config import ForecastConfig

WEEKLY = np.array([1.3, 1.2, 1.15, 1.1, 1.0, 0.55, 0.7])  # Monday .. Sunday


def weekly_series(
    n: int = 140, *, level: float = 20.0, trend: float = 0.0, seed: int = 0, start: str = "2025-03-03"
) -> pd.Series:
    """Poisson counts with a weekly cycle (by weekday) and a linear trend."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n, freq="D")
    lam = (level + trend * np.arange(n)) * WEEKLY[dates.dayofweek]
    return pd.Series(rng.poisson(lam).astype(float), index=dates)


def make_signals(
    n: int = 100,
    *,
    seed: int = 0,
    start: str = "2025-03-03",
    cells: tuple[tuple[str, str, float], ...] = (
        ("供水", "江北区", 6.0),
        ("供水", "渝中区", 3.0),
        ("交通", "江北区", 4.0),
        ("交通", "渝中区", 0.2),
    ),
) -> pd.DataFrame:
    """A signals table in the contract's shape: weekly Poisson counts per category × district.

    Public holidays are as quiet as a Sunday and 调休 working weekends as busy as a Friday, as in
    real hotline logs.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=n, freq="D")
    factor = calendar_factor(dates)
    rows = []
    for cat, dist, level in cells:
        calls = rng.poisson(level * factor)
        for d, c in zip(dates, calls, strict=True):
            rows.append({"date": f"{d:%Y-%m-%d}", "category": cat, "district": dist, "calls": int(c)})
    frame = pd.DataFrame(rows)
    frame["incidents"] = frame["calls"]
    frame["new_incidents"] = frame["calls"]
    return frame


def calendar_factor(dates: pd.DatetimeIndex) -> np.ndarray:
    cal = day_calendar(dates)
    factor = WEEKLY[dates.dayofweek].copy()
    factor[cal["holiday"].to_numpy() > 0] = WEEKLY[6]
    factor[cal["makeup"].to_numpy() > 0] = WEEKLY[4]
    return factor


def small_config(**overrides: object) -> ForecastConfig:
    """A configuration that fits in well under a second per series."""
    base: dict[str, object] = {
        "heads": ("seasonal_naive", "ets"),
        "combo": False,
        "n_origins": 2,
        "min_train_days": 49,
        "mlp_epochs": 40,
        "gbm_max_iter": 20,
    }
    base.update(overrides)
    return ForecastConfig(**base)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def fitted_forecaster():
    """One small fitted Forecaster shared by the test modules (fitting is the slow part).

    Callers must not modify it.
    """
    from forecasting.forecaster import Forecaster

    return Forecaster.fit(
        make_signals(91, seed=1), small_config(levels=("total", "category", "category_district"))
    )


def test_helpers_make_the_contract_shape() -> None:
    s = make_signals(30)
    assert set(s.columns) >= {"date", "category", "district", "calls"}
    assert len(s) == 30 * 4
    y = weekly_series(70, seed=1)
    assert (y.groupby(y.index.dayofweek).mean().idxmin()) in (5, 6)
