"""PNG plots: history + forecast + intervals per series, Kaplan-Meier curves by category.

matplotlib runs on the Agg backend (no display needed). Chinese labels use the CJK font
:func:`nlp.plotting.find_cjk_font` finds; without one the glyphs render as boxes but the plot
is still written.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from nlp.plotting import pyplot

logger = logging.getLogger(__name__)


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
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    ax.set_title("Time to reply (Kaplan-Meier)")
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing CJK glyphs
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
