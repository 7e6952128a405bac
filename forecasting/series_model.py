"""How one series of a fitted forecaster is forecast (one entry of ``series.json``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Version of the forecaster directory's files (series.json, metrics.json): a newer one is refused.
FORMAT_VERSION = 1


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


def interval_columns(intervals: tuple[float, ...]) -> list[tuple[float, str, str]]:
    """``(coverage, lower column, upper column)`` of each interval: ``lower_80``, ``upper_80`` ..."""
    return [(c, f"lower_{round(c * 100)}", f"upper_{round(c * 100)}") for c in intervals]


def metric_value(x: float | None) -> float | None:
    """A figure as ``metrics.json`` and ``series.json`` keep it: 6 decimals, None when not finite."""
    return None if x is None or not math.isfinite(x) else round(float(x), 6)
