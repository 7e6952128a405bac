"""Report figures: confusion matrix, reliability diagram, coverage/accuracy curve.

Chinese category names need a CJK font, which many servers lack (matplotlib's DejaVu Sans has
no Chinese glyphs and draws empty boxes). :func:`nlp.plotting.find_cjk_font` looks for one that
covers the labels. Without one the figures label classes by index and the Markdown report
carries the index -> label legend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.plotting import label_font, pyplot

logger = logging.getLogger(__name__)


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    # pyplot() puts the CJK font first, so titles and legends render Chinese too, not only the
    # class-name tick labels that get an explicit FontProperties.
    return pyplot().subplots(figsize=size)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path) -> str:
    """Row-normalised confusion matrix with counts; returns how labels were rendered."""
    font, font_path = label_font(labels)
    n = len(labels)
    names = list(labels) if font_path else [str(i) for i in range(n)]
    fig, ax = _figure((1.2 + 0.75 * n, 1.0 + 0.7 * n))
    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(
                j, i, int(m[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black"
            )
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(names, rotation=45, ha="right", fontproperties=font)
    ax.set_yticklabels(names, fontproperties=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    title = "confusion matrix (row-normalised colour, counts)"
    if not font_path:
        title += "\nno CJK font found: labels by index, legend in report.md"
    ax.set_title(title, fontsize=9)
    _save(fig, path)
    return f"font {font_path}" if font_path else "label indices (no CJK font found; legend in report.md)"


def plot_reliability(bins: Any, ece: float, path: Path) -> Path:
    fig, ax = _figure((4.5, 4.5))
    centers = (bins.edges[:-1] + bins.edges[1:]) / 2
    width = bins.edges[1] - bins.edges[0]
    has = bins.count > 0
    ax.bar(centers[has], bins.accuracy[has], width=width * 0.9, alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.plot(bins.confidence[has], bins.accuracy[has], "o-", color="C3", markersize=3, label="bin mean")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (calibrated probability of the top class)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability diagram, ECE = {ece:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, path)


def plot_coverage(
    coverage: np.ndarray, accuracy: np.ndarray, operating_point: tuple[float, float] | None, path: Path
) -> Path:
    fig, ax = _figure((5, 4))
    ax.plot(coverage, accuracy, label="most confident share accepted")
    if operating_point is not None and operating_point[1] is not None:
        ax.plot(*operating_point, "o", color="C3", label="per-class thresholds")
    ax.set_xlim(0, 1.01)
    ax.set_xlabel("coverage (share of messages accepted automatically)")
    ax.set_ylabel("accuracy of accepted messages")
    ax.set_title("coverage / accuracy trade-off", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)
