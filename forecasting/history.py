"""The daily series a forecast "as of a day" starts from: the source's signals up to that day.

Building the series from the signals (100k+ rows on a real city) takes a second; the result is
kept per source, configuration and day while the source's change token is the same
(:data:`forecasting.sources.SOURCE_CACHE`), and it carries that token
(:attr:`forecasting.signals.SeriesSet.token`) so that the forecaster keys the forecasts it
keeps by it instead of hashing the values.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

import pandas as pd

from forecasting.asof import reliable_end
from forecasting.config import ForecastConfig
from forecasting.signals import SeriesSet, build_series, validate_signals
from forecasting.sources import SOURCE_CACHE, SignalSource

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)


def store_series(source: SignalSource, config: ForecastConfig, day: pd.Timestamp) -> SeriesSet:
    """The source's series (``config``'s target and levels) from its signals up to ``day``."""
    parts = ("series", config.target, tuple(config.levels), config.gaps, day)

    def build(key: tuple[Hashable, ...]) -> SeriesSet:
        frame = source.signals.read(end=f"{day:%Y-%m-%d}")
        if frame is not None and len(frame):
            clean = validate_signals(frame, source="store", target=config.target, gaps=config.gaps)
            values = build_series(clean, target=config.target, levels=config.levels).values.loc[:day]
        else:
            values = pd.DataFrame()
        return SeriesSet(values, token=key)

    return SOURCE_CACHE.get(source, parts, build)


def series_values(source: SignalSource | None, forecaster: Forecaster | None, day: pd.Timestamp) -> SeriesSet:
    """Daily counts up to ``day``, one column per series key (``total``, ``category=...``, ...).

    From the source's signals when there is a source (they are the truth the forecaster was
    fitted on, and may be newer), else the forecaster's training series.
    """
    config = forecaster.config if forecaster is not None else ForecastConfig()
    if source is not None:
        return store_series(source, config, day)
    if forecaster is not None:
        return SeriesSet(forecaster.series.values.loc[:day])
    return SeriesSet(pd.DataFrame())


def forecast_history(
    forecaster: Forecaster, source: SignalSource | None, day: pd.Timestamp, notes: list[str] | None = None
) -> tuple[SeriesSet, pd.Timestamp]:
    """The history a forecast "as of ``day``" starts from, and the day it ends.

    The source's signals up to ``day`` replace the training series when they reach further; a
    final volume collapse (missing data, not quiet days) is cut and said in ``notes``. The
    outlook and the briefing both start here, so their numbers agree.
    """
    cfg = forecaster.config
    values = forecaster.series.values
    if source is not None:
        newer = store_series(source, cfg, day).values
        # The store's series replace the training series only when they reach further.
        if len(newer) and newer.index[-1] > values.index[-1]:
            values = newer
    values = values.loc[:day]
    if len(values) == 0:
        raise ValueError(f"no history on or before {day:%Y-%m-%d}")
    end = values.index[-1]
    if cfg.trim_collapse and len(values) > cfg.min_history_days:
        de = reliable_end(values["total"], ratio=cfg.collapse_ratio, min_days=cfg.collapse_min_days)
        if de.trimmed:
            end = de.reliable_end
            if notes is not None and de.describe() not in notes:
                notes.append(de.describe())
    return SeriesSet(values.loc[:end]), end
