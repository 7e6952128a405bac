"""PNG plots: history + forecast + intervals per series, Kaplan-Meier curves by category.

matplotlib runs on the Agg backend (no display needed). Chinese labels use the CJK font
:func:`nlp.plotting.find_cjk_font` finds (the project ships one); without one the glyphs render
as boxes, matplotlib warns, and the plot is still written.

A forecaster models hundreds of series, most of them a few calls a week; :func:`top_series`
picks the ones worth a picture (``total`` first, then by recent and overall volume).
Kaplan-Meier curves have long tails (a few cases open for years): :func:`km_time_limit` cuts the
x-axis where the curves that matter have ended.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nlp.plotting import pyplot

logger = logging.getLogger(__name__)


DEFAULT_PLOT_SERIES = 20
RECENT_DAYS = 28
TOTAL = "total"


def top_series(
    histories: Mapping[str, pd.Series],
    top: int | None = DEFAULT_PLOT_SERIES,
    *,
    recent_days: int = RECENT_DAYS,
) -> list[str]:
    """The ``top`` series keys worth plotting: ``total``, then by volume over the last
    ``recent_days`` days, ties by total volume (``top`` None or <= 0: all, in that order)."""

    def rank(key: str) -> tuple[bool, float, float, str]:
        values = np.nan_to_num(np.asarray(histories[key], dtype=float))
        return (key != TOTAL, -float(values[-recent_days:].sum()), -float(values.sum()), key)

    keys = sorted(histories, key=rank)
    return keys if top is None or top <= 0 else keys[:top]


def km_time_limit(
    km: Mapping[str, Mapping[str, Any]], deadline: float | None = None, *, quantile: float = 0.95
) -> float | None:
    """Right end of the KM x-axis: where ``quantile`` of the cases have a reply.

    Taken on the ``all`` curve (else the slowest category); at least twice the deadline so the
    deadline line sits well inside the plot; never past the last observed time (or just past
    the deadline). None when no curve has times.
    """
    curves = [km["all"]] if "all" in km else list(km.values())
    ends, last = [], 0.0
    for curve in curves:
        time = np.asarray(curve.get("time", []), dtype=float)
        surv = np.asarray(curve.get("survival", []), dtype=float)
        if time.size == 0:
            continue
        last = max(last, float(time[-1]))
        below = np.flatnonzero(surv <= 1 - quantile)
        ends.append(float(time[below[0]]) if below.size else float(time[-1]))
    if not ends:
        return None
    limit, ceiling = max(ends), last
    if deadline is not None:
        limit = max(limit, 2 * deadline)
        ceiling = max(ceiling, 1.1 * deadline)  # the deadline line stays visible
    return min(limit, ceiling) or None


def series_filename(key: str) -> str:
    """A file name for a series key: ``category=供水|district=江北区`` -> ``category-供水__district-江北区.png``."""
    name = key.replace("|", "__").replace("=", "-")
    return re.sub(r"[\\/:*?\"<>\s]+", "_", name) + ".png"


def plot_forecast(
    history: pd.Series, forecast: pd.DataFrame, path: str | os.PathLike[str], *, history_days: int = 56
) -> Path:
    """History (last ``history_days``), the mean forecast and its intervals, for one series."""
    plt = pyplot()
    hist = history.iloc[-history_days:]
    dates = pd.to_datetime(forecast["date"])
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.plot(hist.index, hist.to_numpy(), color="0.3", lw=1.2, label="observed")
    bands = sorted((int(c.split("_")[1]) for c in forecast.columns if c.startswith("lower_")), reverse=True)
    for level, alpha in zip(bands, (0.18, 0.32, 0.45), strict=False):
        ax.fill_between(
            dates,
            forecast[f"lower_{level}"],
            forecast[f"upper_{level}"],
            color="tab:blue",
            alpha=alpha,
            lw=0,
            label=f"{level}% interval",
        )
    ax.plot(
        dates, forecast["mean"], color="tab:blue", lw=1.8, label=f"forecast ({forecast['model'].iloc[0]})"
    )
    ax.set_title(str(forecast["series"].iloc[0]))
    ax.set_ylabel("calls / day")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    return _save(fig, plt, path)


def plot_km(
    km: dict[str, dict[str, Any]],
    path: str | os.PathLike[str],
    *,
    unit: str = "workdays",
    deadline: float | None = None,
) -> Path:
    """Kaplan-Meier curves (share still unanswered) per category, from a survival model's ``km``."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for name, curve in km.items():
        style = {"color": "black", "lw": 2.2} if name == "all" else {"lw": 1.2}
        ax.step(curve["time"], curve["survival"], where="post", label=f"{name} (n={curve['n'][0]})", **style)
    if deadline is not None and unit == "workdays":
        ax.axvline(deadline, color="tab:red", ls="--", lw=1, label=f"deadline {deadline:g} working days")
    ax.set_xlabel("working days since submission" if unit == "workdays" else "hours since submission")
    ax.set_ylabel("share still unanswered")
    ax.set_ylim(0, 1.02)
    right = km_time_limit(km, deadline if unit == "workdays" else None)
    ax.set_xlim(0, right * 1.02 if right else None)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    ax.set_title("Time to reply (Kaplan-Meier)")
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
