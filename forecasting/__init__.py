"""Forecasting heads, backtests, surge alerts and time-to-reply survival models.

Heavy dependencies (statsmodels, torch, lifelines) load on first use:
``from forecasting import Forecaster`` imports :mod:`forecasting.forecaster` only then.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Forecaster": "forecasting.forecaster",
    "load_forecaster": "forecasting.forecaster",
    "ForecastConfig": "forecasting.config",
    "AlertConfig": "forecasting.config",
    "SurvivalConfig": "forecasting.config",
    "SurvivalModel": "forecasting.survival",
    "load_survival": "forecasting.survival",
    "detect_alerts": "forecasting.alert_detect",
    "run_alerts": "forecasting.alerts",
    "decision_summary": "forecasting.summary",
    "SignalSource": "forecasting.sources",
    "signal_source": "forecasting.sources",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'forecasting' has no attribute {name!r}")
