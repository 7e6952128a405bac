"""User-facing errors of the forecasting package (all derive from :class:`common.errors.HotlineError`)."""

from __future__ import annotations

from common.errors import HotlineError, InputFileError, ModelNotFoundError


class SignalsError(InputFileError):
    """Daily signals do not follow the signals contract (columns, dates, counts)."""

    error_type = "signals_error"


class UnknownSeriesError(HotlineError):
    """A series name that the fitted forecaster does not know."""

    error_type = "unknown_series"


class ForecastModelError(ModelNotFoundError):
    """A forecaster or survival directory is missing, incomplete or from a newer version."""

    error_type = "forecast_model_error"


class SurvivalDataError(InputFileError):
    """A reply log cannot be turned into time-to-reply durations."""

    error_type = "survival_data_error"
