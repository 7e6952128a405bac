"""Typed configurations of the forecasting jobs, validated on construction, saved as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from common.errors import ConfigError

HEADS = ("seasonal_naive", "ets", "sarima", "gbm", "mlp")
COMBO = "combo"  # mean of the fitted non-naive heads; a candidate in model choice
REFERENCE = "seasonal_naive"

T = TypeVar("T", bound="_JsonConfig")


class _JsonConfig:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls: type[T], path: str | os.PathLike[str]) -> T:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class ForecastConfig(_JsonConfig):
    """How a set of forecasting heads is fitted and chosen (``forecast_config.json``).

    Series and the minimum-volume rule: ``total`` is always modelled. A category, district or
    category × district series gets its own heads when it averages at least
    ``min_mean_daily`` calls a day over the last ``volume_window_days`` and ranks within the
    ``max_series`` busiest; every other series is forecast as a share of its parent (category ×
    district -> category, category/district -> total) with count-noise intervals (see
    ``docs/forecasting.md``).
    """

    target: str = "calls"
    levels: tuple[str, ...] = ("total", "category", "district", "category_district")
    heads: tuple[str, ...] = HEADS
    combo: bool = True
    horizon: int = 7
    season: int = 7
    n_origins: int = 6
    origin_step: int = 7
    min_train_days: int = 56
    min_history_days: int = 14
    min_mean_daily: float = 1.0
    volume_window_days: int = 56
    max_series: int = 40
    intervals: tuple[float, ...] = (0.8, 0.95)
    interval_method: str = "auto"
    coverage_tolerance: float = 0.05
    gaps: str = "zero"
    # End of reliable data: a tail with under collapse_ratio of the usual calls over at least
    # collapse_min_days days is left out of the fit (forecasting.asof.reliable_end).
    trim_collapse: bool = True
    collapse_ratio: float = 0.25
    collapse_min_days: int = 3
    # head hyper-parameters
    lags: int = 28
    sarima_order: tuple[int, int, int] = (1, 0, 1)
    sarima_seasonal_order: tuple[int, int, int] = (0, 1, 1)
    gbm_loss: str = "poisson"
    gbm_max_iter: int = 150
    mlp_hidden: int = 32
    mlp_epochs: int = 300
    mlp_lr: float = 0.01
    mlp_weight_decay: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        from forecasting.signals import LEVELS

        bad = [h for h in self.heads if h not in HEADS]
        if bad or not self.heads:
            raise ConfigError(f"unknown head(s) {bad or '(none given)'}; choose from {', '.join(HEADS)}")
        if REFERENCE not in self.heads:
            raise ConfigError(
                f"heads must include {REFERENCE!r}: it is the reference every MASE is relative to "
                "and the fallback for short series"
            )
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or "total" not in self.levels:
            raise ConfigError(
                f"levels must include 'total' and come from {', '.join(LEVELS)}; got {self.levels}"
            )
        if self.target not in ("calls", "incidents", "new_incidents"):
            raise ConfigError(f"target must be calls, incidents or new_incidents, got {self.target!r}")
        for name in ("horizon", "season", "origin_step", "lags", "max_series", "mlp_hidden", "mlp_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_origins < 0:
            raise ConfigError(f"n_origins must be >= 0 (0 skips the backtest), got {self.n_origins}")
        if self.min_history_days < 2 * self.season:
            raise ConfigError(
                f"min_history_days must be >= 2 × season ({2 * self.season}), got {self.min_history_days}"
            )
        if self.min_train_days < max(self.lags + self.horizon + 14, 2 * self.season):
            raise ConfigError(
                f"min_train_days ({self.min_train_days}) must leave room for the lags: at least "
                f"lags + horizon + 14 = {self.lags + self.horizon + 14}"
            )
        if not self.intervals or any(not 0.5 <= c < 1 for c in self.intervals):
            raise ConfigError(
                f"intervals are coverage levels in [0.5, 1), e.g. (0.8, 0.95); got {self.intervals}"
            )
        self.intervals = tuple(sorted(float(c) for c in self.intervals))
        if self.interval_method not in ("auto", "model", "conformal"):
            raise ConfigError(
                f"interval_method must be auto, model or conformal, got {self.interval_method!r}"
            )
        if self.gaps not in ("zero", "error"):
            raise ConfigError(f"gaps must be 'zero' or 'error', got {self.gaps!r}")
        if not 0 < self.collapse_ratio < 1 or self.collapse_min_days < 1:
            raise ConfigError(
                f"collapse_ratio must be in (0, 1) and collapse_min_days >= 1; got {self.collapse_ratio}, "
                f"{self.collapse_min_days}"
            )
        if self.gbm_loss not in ("poisson", "squared_error"):
            raise ConfigError(f"gbm_loss must be poisson or squared_error, got {self.gbm_loss!r}")
        if self.min_mean_daily < 0:
            raise ConfigError(f"min_mean_daily must be >= 0, got {self.min_mean_daily}")
        if len(self.sarima_order) != 3 or len(self.sarima_seasonal_order) != 3:
            raise ConfigError("sarima_order and sarima_seasonal_order are (p, d, q) triples")
        self.sarima_order = tuple(int(v) for v in self.sarima_order)  # type: ignore[assignment]
        self.sarima_seasonal_order = tuple(int(v) for v in self.sarima_seasonal_order)  # type: ignore[assignment]
        self.levels = tuple(self.levels)
        self.heads = tuple(self.heads)

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        """Lower and upper quantiles of every interval plus the median, ascending."""
        qs = {0.5}
        for c in self.intervals:
            qs.update({round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)})
        return tuple(sorted(qs))


@dataclass
class AlertConfig(_JsonConfig):
    """When a surge alert fires and how alerts are ranked and merged (see ``forecasting.alerts``)."""

    levels: tuple[str, ...] = ("category_district",)
    interval: float = 0.95
    burst_alpha: float = 1e-3
    baseline_days: int = 28
    min_baseline_days: int = 14
    min_count: int = 5
    min_excess: float = 3.0
    gap_days: int = 1
    incident_window_days: int = 3
    incident_min_size: int = 5
    incident_growth: float = 2.0
    examples: int = 3
    keywords: int = 5
    max_incidents: int = 5
    score_cap: float = 12.0
    # Two alerts on touching days are one incident when they share at least this share of the
    # smaller alert's complaints.
    same_incident_share: float = 0.5
    # An incident that flares again within this many days is the same alert (丽发新城's three
    # waves over a month were three alerts): a dispatcher follows one incident, not each wave.
    incident_gap_days: int = 30
    # A series alert needs coherent complaints (in a store incident or with a near-duplicate
    # title, groups of two or more) for at least this share of its excess: category bursts on
    # the Teddy board fired on busy days of unrelated posts (bench/data/alert_verdicts.md).
    coherent_share: float = 0.5
    # Character-bigram Jaccard similarity at which two titles are near-duplicates.
    title_similarity: float = 0.5

    def __post_init__(self) -> None:
        from forecasting.signals import LEVELS

        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or not self.levels:
            raise ConfigError(f"alert levels must come from {', '.join(LEVELS)}; got {self.levels}")
        if self.interval not in (0.8, 0.95):
            raise ConfigError(
                f"interval must be 0.8 or 0.95 (a fitted forecast interval), got {self.interval}"
            )
        if not 0 < self.burst_alpha < 0.5:
            raise ConfigError(f"burst_alpha is a tail probability in (0, 0.5), got {self.burst_alpha}")
        if self.min_baseline_days < 7 or self.baseline_days < self.min_baseline_days:
            raise ConfigError("baseline_days >= min_baseline_days >= 7 are needed for a robust baseline")
        if self.gap_days < 0 or self.incident_window_days < 1:
            raise ConfigError("gap_days must be >= 0 and incident_window_days >= 1")
        if self.min_count < 0 or self.min_excess < 0:
            raise ConfigError("min_count and min_excess must be >= 0")
        if not 0 < self.same_incident_share <= 1 or not 0 <= self.coherent_share <= 1:
            raise ConfigError("same_incident_share must be in (0, 1] and coherent_share in [0, 1]")
        if not 0 < self.title_similarity <= 1 or self.incident_gap_days < 0:
            raise ConfigError("title_similarity must be in (0, 1] and incident_gap_days >= 0")
        self.levels = tuple(self.levels)


@dataclass
class SurvivalConfig(_JsonConfig):
    """Time-to-reply model (``survival_config.json``).

    ``unit`` is ``workdays`` (Chinese working days, 调休 aware, fractional) or ``hours``
    (wall-clock). Cases without a reply are censored at ``analysis_date`` (default: the latest
    timestamp in the data). Covariate levels with fewer than ``min_level_count`` rows are pooled
    into ``other``.
    """

    unit: str = "workdays"
    deadline_days: float = 15.0
    covariates: tuple[str, ...] = (
        "category",
        "district",
        "text_length",
        "urgency",
        "weekday",
        "request_type",
    )
    min_level_count: int = 10
    max_levels: int = 50
    penalizer: float = 0.1
    analysis_date: str | None = None
    km_points: int = 200

    def __post_init__(self) -> None:
        if self.unit not in ("workdays", "hours"):
            raise ConfigError(f"unit must be 'workdays' or 'hours', got {self.unit!r}")
        if self.deadline_days <= 0:
            raise ConfigError(f"deadline_days must be > 0, got {self.deadline_days}")
        known = ("category", "district", "text_length", "urgency", "weekday", "request_type")
        bad = [c for c in self.covariates if c not in known]
        if bad:
            raise ConfigError(f"unknown covariate(s) {bad}; choose from {', '.join(known)}")
        if self.min_level_count < 1 or self.max_levels < 2:
            raise ConfigError("min_level_count must be >= 1 and max_levels >= 2")
        if self.penalizer < 0:
            raise ConfigError(f"penalizer must be >= 0, got {self.penalizer}")
        if self.analysis_date is not None:
            import pandas as pd

            try:
                pd.Timestamp(self.analysis_date)
            except ValueError as exc:
                raise ConfigError(f"analysis_date {self.analysis_date!r} is not a date (YYYY-MM-DD)") from exc
        self.covariates = tuple(self.covariates)
