"""Forecasts "after a day": the outlook of the decision summary, the dashboard's and the API's
forecasts, and ``hotline forecast predict --as-of``.

Each starts from the history up to the day (:mod:`forecasting.history`); where the history ends
earlier (no data for the last days) the forecast runs further ahead, so that the days reported
are still the ones after the day. The forecasts themselves are kept by the forecaster
(:meth:`forecasting.forecaster.Forecaster.forecast_after`): one cache, keyed by the forecaster
and the history's change token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecasting.asof import AsOf, resolve_as_of
from forecasting.errors import SignalsError
from forecasting.history import forecast_history
from forecasting.signals import SeriesSet, build_series, validate_signals
from forecasting.sources import SignalSource

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)


class Forecasts:
    """The forecasts of one view: a forecaster and the series history it forecasts from."""

    def __init__(self, forecaster: Forecaster | None, series: SeriesSet) -> None:
        self.series = series
        self.values = series.values
        self.fc = forecaster
        self._histories: dict[pd.Timestamp, SeriesSet | None] = {}

    def after(self, key: str, last_day: pd.Timestamp, days: int) -> pd.DataFrame | None:
        """Forecast of ``key`` for the ``days`` after ``last_day`` from the history up to it.

        When the history ends before ``last_day`` (no data for the last days) the forecast runs
        further ahead, so that the rows returned are still the days after ``last_day``.
        """
        fc = self.fc
        if fc is None or key not in fc.models:
            return None
        if last_day not in self._histories:
            hist = self.values.loc[:last_day] if len(self.values) else self.values
            token = None if self.series.token is None else (self.series.token, last_day)
            self._histories[last_day] = SeriesSet(hist, token) if len(hist) and key in hist.columns else None
        history = self._histories[last_day]
        try:
            return fc.forecast_after(key, last_day, days, history)
        except SignalsError:
            # The store's history is too short for the fitted heads (a young store, or a series
            # new to it): forecast from the forecaster's own training history instead.
            logger.info("forecast of %s from the store's history failed; using the training history", key)
            return fc.forecast_after(key, last_day, days, None)


def outlook(
    forecaster: Forecaster,
    as_of: str | pd.Timestamp | None = None,
    *,
    source: SignalSource | None = None,
    top: int = 5,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The next ``horizon`` days after the as-of day: the total and the categories growing most.

    The history ends at the as-of day, or earlier where reliable data ends (store signals after
    a volume collapse, or the forecaster's training end when the store has nothing newer): the
    forecast then runs further ahead so that the days reported are still the ones after as-of.
    """
    notes = notes if notes is not None else []
    cfg = forecaster.config
    horizon = cfg.horizon
    day = pd.Timestamp(as_of).normalize() if as_of is not None else forecaster.end_date
    history, end = forecast_history(forecaster, source, day, notes)
    gap = int((day - end).days)
    if gap > 0:
        notes.append(
            f"no reliable data after {end:%Y-%m-%d}: the outlook for the {horizon} days after "
            f"{day:%Y-%m-%d} is forecast from {end:%Y-%m-%d} ({gap + 1}-{gap + horizon} days ahead)"
        )
    hi_col = f"upper_{round(cfg.intervals[0] * 100)}"
    lo_col = f"lower_{round(cfg.intervals[0] * 100)}"
    rows = []
    cats = [k for k in forecaster.keys if k.startswith("category=") and "|" not in k]
    for key in ["total", *cats]:
        fc = forecaster.forecast_after(key, day, horizon, history)
        hist = history[key] if key in history else forecaster.history(key)
        rows.append(
            {
                "series": key,
                "days": horizon,
                "start": str(fc["date"].iloc[0]),
                "end": str(fc["date"].iloc[-1]),
                "next_week": float(fc["mean"].sum()),
                # Summed bounds overstate the spread of a sum; a conservative range.
                "lower": float(fc[lo_col].sum()),
                "upper": float(fc[hi_col].sum()),
                "last_week": float(hist.loc[:end].iloc[-horizon:].sum()),
            }
        )
    total, others = rows[0], rows[1:]
    others.sort(key=lambda r: -(r["next_week"] - r["last_week"]))
    return [total, *others[: max(top - 1, 0)]]


def daily_forecast(
    forecaster: Forecaster,
    source: SignalSource | None,
    day: pd.Timestamp,
    days: int,
    notes: list[str] | None = None,
) -> pd.DataFrame:
    """Daily forecast of the total for the ``days`` after ``day``, from the same history as
    :func:`outlook` (:func:`forecasting.history.forecast_history`), so that a next-week total is
    the summary's. Columns: date, expected, lower, upper (the narrowest interval)."""
    cfg = forecaster.config
    history, _ = forecast_history(forecaster, source, day, notes)
    fc = forecaster.forecast_after("total", day, days, history)
    level = round(cfg.intervals[0] * 100)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(fc["date"]).to_numpy(),
            "expected": fc["mean"].astype(float).to_numpy(),
            "lower": fc[f"lower_{level}"].astype(float).to_numpy(),
            "upper": fc[f"upper_{level}"].astype(float).to_numpy(),
        }
    )


@dataclass
class Prediction:
    """What ``hotline forecast predict`` writes and says."""

    table: pd.DataFrame  # one row per series and day after the as-of day
    as_of: AsOf
    history: SeriesSet | None  # the history forecast from (None: the training series)


def predict_as_of(
    forecaster: Forecaster,
    signals: pd.DataFrame | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    source: SignalSource | None = None,
    name: str = "signals",
    series: list[str] | None = None,
    horizon: int | None = None,
) -> Prediction:
    """Forecasts of ``series`` (default: all) for the ``horizon`` days after the as-of day.

    The history is ``signals`` (newer signals, e.g. the store's) or else the training series,
    up to the as-of day; the fitted parameters are kept (no refit). The as-of time is the one
    given, else the latest complaint of ``source``, else the end of ``signals``, else the end of
    the forecaster's data. The ``step`` column counts days from the end of the history.
    """
    cfg = forecaster.config
    history = None
    if signals is not None:
        clean = validate_signals(signals, source=name, target=cfg.target, gaps=cfg.gaps)
        history = build_series(clean, target=cfg.target, levels=cfg.levels)
    if as_of is not None or source is not None:
        at = AsOf(*resolve_as_of(as_of, source))
    elif history is not None:
        at = AsOf(_end_of_day(history.dates[-1]), "end of the signals")
    else:
        at = AsOf(_end_of_day(forecaster.end_date), "end of the forecaster's data")
    horizon = horizon or cfg.horizon
    if horizon < 1:
        raise SignalsError(f"horizon must be >= 1 day, got {horizon}")
    keys = list(series) if series else forecaster.keys
    for key in keys:
        forecaster.model(key)
    values = (history.values if history is not None else forecaster.series.values).loc[: at.day]
    if len(values) == 0:
        raise SignalsError(f"no history on or before {at.date} to forecast from")
    start = SeriesSet(values)
    frames = [forecaster.forecast_after(key, at.day, horizon, start) for key in keys]
    return Prediction(pd.concat(frames, ignore_index=True), at, history)


def _end_of_day(day: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(day).normalize() + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
