"""Typed configurations of the forecasting jobs (:class:`common.config.JobConfig`: validated on
construction, every problem one :class:`~common.errors.ConfigError`, saved as JSON)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator

from common.config import JobConfig

HEADS = ("seasonal_naive", "ets", "sarima", "gbm", "mlp")
COMBO = "combo"  # mean of the fitted non-naive heads; a candidate in model choice
REFERENCE = "seasonal_naive"
# Series levels: the whole city, per category, per district, per category × district.
Level = Literal["total", "category", "district", "category_district"]
LEVELS: tuple[Level, ...] = get_args(Level)
Covariate = Literal["category", "district", "text_length", "urgency", "weekday", "request_type"]
COVARIATES: tuple[Covariate, ...] = get_args(Covariate)


class ForecastConfig(JobConfig):
    """How a set of forecasting heads is fitted and chosen (``forecast_config.json``).

    Series and the minimum-volume rule: ``total`` is always modelled. A category, district or
    category × district series gets its own heads when it averages at least
    ``min_mean_daily`` calls a day over the last ``volume_window_days`` and ranks within the
    ``max_series`` busiest; every other series is forecast as a share of its parent (category ×
    district -> category, category/district -> total) with count-noise intervals (see
    ``docs/forecasting.md``).
    """

    target: Literal["calls", "incidents", "new_incidents"] = Field(
        "calls", description="The signals count that is forecast."
    )
    levels: tuple[Level, ...] = Field(LEVELS, description="Series levels; must include 'total'.")
    heads: tuple[str, ...] = Field(
        HEADS, description="Forecasting heads to backtest; must include seasonal_naive."
    )
    combo: bool = Field(True, description="Also consider the mean of the learned heads.")
    horizon: int = Field(7, description="Days ahead forecast in the backtest.")
    season: int = Field(7, description="Season length in days.")
    n_origins: int = Field(6, ge=0, description="Rolling backtest origins (0 skips the backtest).")
    origin_step: int = Field(7, description="Days between backtest origins.")
    min_train_days: int = Field(56, description="Training days before the first backtest origin.")
    min_history_days: int = Field(14, description="Days of signals a fit needs at least.")
    min_mean_daily: float = Field(1.0, ge=0, description="Calls a day a series needs for its own heads.")
    volume_window_days: int = Field(56, description="Window of the minimum-volume rule and the shares.")
    max_series: int = Field(40, description="Most series with their own heads.")
    intervals: tuple[float, ...] = Field((0.8, 0.95), description="Interval coverage levels in [0.5, 1).")
    interval_method: Literal["auto", "model", "conformal"] = Field(
        "auto", description="Model intervals, conformal ones, or chosen by backtest coverage."
    )
    coverage_tolerance: float = Field(0.05, description="Coverage miss that sends auto to conformal.")
    gaps: Literal["zero", "error"] = Field("zero", description="Missing dates: zero calls, or an error.")
    # End of reliable data: a tail with under collapse_ratio of the usual calls over at least
    # collapse_min_days days is left out of the fit (forecasting.asof.reliable_end).
    trim_collapse: bool = Field(True, description="Leave out a final volume collapse.")
    collapse_ratio: float = Field(
        0.25, gt=0, lt=1, description="Share of the usual calls below which a tail collapsed."
    )
    collapse_min_days: int = Field(3, ge=1, description="Shortest collapsed tail.")
    # head hyper-parameters
    lags: int = Field(28, description="Lags of the boosting and MLP heads.")
    sarima_order: tuple[int, int, int] = Field((1, 0, 1), description="SARIMA (p, d, q).")
    sarima_seasonal_order: tuple[int, int, int] = Field((0, 1, 1), description="SARIMA seasonal (P, D, Q).")
    gbm_loss: Literal["poisson", "squared_error"] = Field("poisson", description="Boosting loss.")
    gbm_max_iter: int = Field(150, description="Boosting iterations.")
    mlp_hidden: int = Field(32, description="MLP hidden units.")
    mlp_epochs: int = Field(300, description="MLP training epochs.")
    mlp_lr: float = Field(0.01, description="MLP learning rate.")
    mlp_weight_decay: float = Field(1e-3, description="MLP weight decay.")
    seed: int = Field(0, description="Random seed of the learned heads.")

    @field_validator("heads")
    @classmethod
    def _known_heads(cls, heads: tuple[str, ...]) -> tuple[str, ...]:
        bad = [h for h in heads if h not in HEADS]
        if bad or not heads:
            raise ValueError(f"unknown head(s) {bad or '(none given)'}; choose from {', '.join(HEADS)}")
        if REFERENCE not in heads:
            raise ValueError(
                f"heads must include {REFERENCE!r}: it is the reference every MASE is relative to "
                "and the fallback for short series"
            )
        return heads

    @field_validator("levels")
    @classmethod
    def _with_total(cls, levels: tuple[Level, ...]) -> tuple[Level, ...]:
        if "total" not in levels:
            raise ValueError(f"levels must include 'total'; got {levels}")
        return levels

    @field_validator("horizon", "season", "origin_step", "lags", "max_series", "mlp_hidden", "mlp_epochs")
    @classmethod
    def _at_least_one(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name} must be >= 1, got {value}")
        return value

    @field_validator("intervals")
    @classmethod
    def _coverage_levels(cls, intervals: tuple[float, ...]) -> tuple[float, ...]:
        if not intervals or any(not 0.5 <= c < 1 for c in intervals):
            raise ValueError(f"intervals are coverage levels in [0.5, 1), e.g. (0.8, 0.95); got {intervals}")
        return tuple(sorted(float(c) for c in intervals))

    @model_validator(mode="after")
    def _room_for_history(self) -> ForecastConfig:
        if self.min_history_days < 2 * self.season:
            raise ValueError(
                f"min_history_days must be >= 2 × season ({2 * self.season}), got {self.min_history_days}"
            )
        if self.min_train_days < max(self.lags + self.horizon + 14, 2 * self.season):
            raise ValueError(
                f"min_train_days ({self.min_train_days}) must leave room for the lags: at least "
                f"lags + horizon + 14 = {self.lags + self.horizon + 14}"
            )
        return self

    @property
    def quantile_levels(self) -> tuple[float, ...]:
        """Lower and upper quantiles of every interval plus the median, ascending."""
        qs = {0.5}
        for c in self.intervals:
            qs.update({round((1 - c) / 2, 6), round(1 - (1 - c) / 2, 6)})
        return tuple(sorted(qs))


class AlertConfig(JobConfig):
    """When a surge alert fires and how alerts are ranked and merged (see ``forecasting.alerts``)."""

    levels: tuple[Level, ...] = Field(
        ("category_district",), min_length=1, description="Series levels watched."
    )
    interval: float = Field(0.95, description="Forecast interval whose upper bound fires: 0.8 or 0.95.")
    burst_alpha: float = Field(1e-3, gt=0, lt=0.5, description="Tail probability of a burst.")
    baseline_days: int = Field(28, description="Days of the burst baseline.")
    min_baseline_days: int = Field(14, description="Fewest baseline days for a burst test.")
    min_count: int = Field(5, ge=0, description="Fewest calls on an alert day.")
    min_excess: float = Field(3.0, ge=0, description="Fewest calls over the expected count.")
    gap_days: int = Field(1, ge=0, description="Quiet days allowed inside one alert.")
    incident_window_days: int = Field(3, ge=1, description="Window of the incident growth test.")
    incident_min_size: int = Field(5, description="Fewest complaints of a growing incident.")
    incident_growth: float = Field(2.0, description="Growth over the window before that fires.")
    examples: int = Field(3, description="Example complaints per alert.")
    keywords: int = Field(5, description="Keywords per alert.")
    max_incidents: int = Field(5, description="Incident ids kept per alert.")
    score_cap: float = Field(12.0, description="Cap of the surprise term of the score.")
    # Two alerts on touching days are one incident when they share at least this share of the
    # smaller alert's complaints.
    same_incident_share: float = Field(
        0.5, gt=0, le=1, description="Shared complaints that make one incident."
    )
    # An incident that flares again within this many days is the same alert (丽发新城's three
    # waves over a month were three alerts): a dispatcher follows one incident, not each wave.
    incident_gap_days: int = Field(
        30, ge=0, description="Days within which an incident's waves are one alert."
    )
    # A series alert needs coherent complaints (in a store incident or with a near-duplicate
    # title, groups of two or more) for at least this share of its excess: category bursts on
    # the Teddy board fired on busy days of unrelated posts (bench/data/alert_verdicts.md).
    coherent_share: float = Field(0.5, ge=0, le=1, description="Share of the excess that must be coherent.")
    # Character-bigram Jaccard similarity at which two titles are near-duplicates.
    title_similarity: float = Field(0.5, gt=0, le=1, description="Title similarity of near-duplicates.")

    @field_validator("interval")
    @classmethod
    def _fitted_interval(cls, interval: float) -> float:
        if interval not in (0.8, 0.95):
            raise ValueError(f"interval must be 0.8 or 0.95 (a fitted forecast interval), got {interval}")
        return interval

    @model_validator(mode="after")
    def _robust_baseline(self) -> AlertConfig:
        if self.min_baseline_days < 7 or self.baseline_days < self.min_baseline_days:
            raise ValueError("baseline_days >= min_baseline_days >= 7 are needed for a robust baseline")
        return self


class SurvivalConfig(JobConfig):
    """Time-to-reply model (``survival_config.json``).

    ``unit`` is ``workdays`` (Chinese working days, 调休 aware, fractional) or ``hours``
    (wall-clock). Cases without a reply are censored at ``analysis_date`` (default: the latest
    timestamp in the data). Covariate levels with fewer than ``min_level_count`` rows are pooled
    into ``other``.
    """

    unit: Literal["workdays", "hours"] = Field("workdays", description="Duration unit.")
    deadline_days: float = Field(15.0, gt=0, description="Reply deadline in working days.")
    covariates: tuple[Covariate, ...] = Field(COVARIATES, description="Covariates of the Cox model.")
    min_level_count: int = Field(10, ge=1, description="Rows a level needs, else pooled into 'other'.")
    max_levels: int = Field(50, ge=2, description="Most levels kept per covariate.")
    penalizer: float = Field(0.1, ge=0, description="Cox model penalty.")
    analysis_date: str | None = Field(None, description="Censoring date (default: the latest time).")
    km_points: int = Field(200, description="Points kept per Kaplan-Meier curve.")

    @field_validator("analysis_date")
    @classmethod
    def _a_date(cls, value: str | None) -> str | None:
        if value is not None:
            import pandas as pd

            try:
                pd.Timestamp(value)
            except ValueError as exc:
                raise ValueError(f"analysis_date {value!r} is not a date (YYYY-MM-DD)") from exc
        return value
