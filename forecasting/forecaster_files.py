"""The directory a fitted forecaster is saved to, and its model card (see
:mod:`forecasting.forecaster` for the files)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from common.files import atomic_write_json, atomic_write_text
from forecasting.config import ForecastConfig
from forecasting.errors import ForecastModelError
from forecasting.series_model import FORMAT_VERSION, SeriesModel
from forecasting.signals import SeriesSet

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

logger = logging.getLogger(__name__)

CONFIG_FILE = "forecast_config.json"
SERIES_FILE = "series.json"
STATE_FILE = "heads.json"
TENSORS_FILE = "heads.safetensors"
HISTORY_FILE = "training_series.csv"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"


@dataclass
class ForecasterFiles:
    """What a forecaster directory holds (the arguments of :class:`~forecasting.forecaster.Forecaster`)."""

    config: ForecastConfig
    series: SeriesSet
    models: dict[str, SeriesModel]
    states: dict[str, dict[str, Any]]
    tensors: dict[str, dict[str, dict[str, Any]]]
    metrics: dict[str, Any]


def save_forecaster(fc: Forecaster, directory: str | os.PathLike[str]) -> Path:
    """Write the forecaster directory (see :mod:`forecasting.forecaster`)."""
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    fc.config.save(out / CONFIG_FILE)
    states: dict[str, dict[str, Any]] = {}
    tensors: dict[str, Any] = {}
    index = {key: i for i, key in enumerate(fc.models)}
    for key, sm in fc.models.items():
        if sm.mode == "share":
            continue
        heads = fc.fitted_heads(key)
        states[key] = {m: heads[m].get_state() for m in sm.members}
        for m in sm.members:
            # safetensors keys are ASCII-safe: the series is named by its index in series.json.
            for name, t in heads[m].get_tensors().items():
                tensors[f"{index[key]}/{m}/{name}"] = t
    atomic_write_json(out / STATE_FILE, states)
    save_file(tensors, str(out / TENSORS_FILE), metadata={"format": "hotline-forecast", "version": "1"})
    atomic_write_json(
        out / SERIES_FILE,
        {
            "format_version": FORMAT_VERSION,
            "train_start": f"{fc.start_date:%Y-%m-%d}",
            "train_end": f"{fc.end_date:%Y-%m-%d}",
            "series": [asdict(sm) for sm in fc.models.values()],
        },
    )
    hist = fc.series.values.copy()
    hist.index = hist.index.strftime("%Y-%m-%d")
    hist.index.name = "date"
    hist.to_csv(out / HISTORY_FILE, encoding="utf-8")
    atomic_write_json(out / METRICS_FILE, fc.metrics)
    atomic_write_text(out / CARD_FILE, model_card(fc))
    logger.info("forecaster saved to %s (%d series)", out, len(fc.models))
    return out


def read_forecaster(directory: str | os.PathLike[str]) -> ForecasterFiles:
    """The parts of a directory written by :func:`save_forecaster`, checked."""
    from safetensors.torch import load_file

    d = Path(directory)
    if not d.is_dir():
        raise ForecastModelError(
            f"forecaster directory {d} not found; fit one with `hotline forecast fit --signals FILE -o {d}`"
        )
    missing = [f for f in (CONFIG_FILE, SERIES_FILE, STATE_FILE, HISTORY_FILE) if not (d / f).exists()]
    if missing:
        raise ForecastModelError(
            f"{d} is not a complete forecaster directory (missing {', '.join(missing)}); refit it with "
            "`hotline forecast fit`"
        )
    info = json.loads((d / SERIES_FILE).read_text(encoding="utf-8"))
    if info.get("format_version", 1) > FORMAT_VERSION:
        raise ForecastModelError(
            f"{d} was written by a newer hotline (format {info['format_version']}); upgrade hotline"
        )
    config = ForecastConfig.load(d / CONFIG_FILE)
    models = {s["key"]: SeriesModel(**s) for s in info["series"]}
    hist = pd.read_csv(d / HISTORY_FILE, index_col="date", encoding="utf-8")
    hist.index = pd.DatetimeIndex(pd.to_datetime(hist.index))
    hist.columns = [str(c) for c in hist.columns]
    states = json.loads((d / STATE_FILE).read_text(encoding="utf-8"))
    flat = load_file(str(d / TENSORS_FILE)) if (d / TENSORS_FILE).exists() else {}
    keys = list(models)
    tensors: dict[str, dict[str, dict[str, Any]]] = {}
    for name, t in flat.items():
        i, head, param = name.split("/", 2)
        tensors.setdefault(keys[int(i)], {}).setdefault(head, {})[param] = t
    metrics = (
        json.loads((d / METRICS_FILE).read_text(encoding="utf-8")) if (d / METRICS_FILE).exists() else {}
    )
    return ForecasterFiles(config, SeriesSet(hist.astype(float)), models, states, tensors, metrics)


def model_card(fc: Forecaster) -> str:
    """The model card (``README.md``) of a fitted forecaster."""
    m = fc.metrics
    cfg = fc.config
    lines = [
        "# Forecasting heads (hotline)",
        "",
        f"Daily `{cfg.target}` forecasts for {len(fc.models)} series, trained on "
        f"{fc.start_date:%Y-%m-%d} to {fc.end_date:%Y-%m-%d} ({len(fc.series.values)} days).",
        "Produced by `hotline forecast fit`; load with `forecasting.Forecaster.load(DIR)` or "
        "`hotline forecast predict --model DIR`.",
        "",
        "## Series and models",
        "",
        f"- modelled with their own heads: {m.get('n_modelled', '?')}; forecast as a share of a parent "
        f"series (below {cfg.min_mean_daily} calls/day or beyond the {cfg.max_series} busiest): "
        f"{m.get('n_share', '?')}",
        f"- heads: {', '.join(cfg.heads)}" + (" + combo (mean of the learned heads)" if cfg.combo else ""),
        f"- chosen per series by backtest MASE (weekly-seasonal scale): {m.get('chosen_heads', {})}",
        f"- backtest: {len(m.get('origins', []))} rolling origins every {cfg.origin_step} days, "
        f"horizon {cfg.horizon} days; origins {', '.join(m.get('origins', []))}",
        f"- intervals: {', '.join(f'{round(c * 100)}%' for c in cfg.intervals)}; model-based where the "
        "head gives them and they were calibrated in the backtest, otherwise conformal from backtest "
        "residuals",
        "",
        "## Backtest",
        "",
        "| level | series | naive MASE | chosen MASE (in-sample choice) | relative | "
        + " | ".join(f"coverage {round(c * 100)}%" for c in cfg.intervals)
        + " | holdout relative |",
        "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in cfg.intervals) + " | --- |",
    ]
    for level, s in m.get("levels", {}).items():
        ho = s.get("holdout", {})
        lines.append(
            f"| {level} | {s['n_series']} ({s['n_modelled']} own heads) | {s['naive_mase']} | {s['chosen_mase_in_sample']} | "
            f"{s['chosen_relative_in_sample']} | "
            + " | ".join(str(s["coverage"].get(str(c))) for c in cfg.intervals)
            + f" | {ho.get('chosen_relative', 'n/a')} |"
        )
    lines += [
        "",
        "Holdout: head and intervals chosen on the earlier half of the origins, scored on the later "
        "half. Full figures in `metrics.json`; per-series choices in `series.json`.",
        "",
        "## Limits",
        "",
        "- Counts only: the forecaster never sees complaint text.",
        "- Holidays come from `chinese_calendar`; for years it does not cover, only weekends and "
        "fixed-date holidays are known (see docs/forecasting.md).",
        "- Share series inherit their parent's model; their intervals assume the share is stable.",
        "",
    ]
    return "\n".join(lines)
