"""Review routing: per-class confidence thresholds and the coverage/accuracy trade-off.

A prediction is accepted automatically when its calibrated probability reaches the threshold of
the predicted class, and sent to an operator (``needs_review``) otherwise; see
:func:`nlp.classifier.needs_review`, which the inference engine applies.

Rule (documented in ``docs/training.md``): for each class ``c``, take the evaluation rows the
model assigns to ``c`` and choose the **lowest** observed confidence ``t`` such that the rows
with confidence >= ``t`` reach the target precision, judged by a one-sided lower confidence
bound (Wilson score, ``z``), not by the raw share. Lowest, because every point of threshold
costs operator time; the target precision is what the city agreed to tolerate (default 95% of
the auto-accepted complaints correct). The bound matters: the raw share of the lowest cut that
still meets the target is an optimistic pick among many cuts of a few dozen rows, and missed
the target by 1-2 points on unseen data (Teddy 2020, TF-IDF: 94.0% at a 95% target; with
``z = 1``: 95.9%). A class with fewer than ``min_support`` predictions borrows the threshold
computed the same way over all classes pooled; a class that never reaches the target gets 1.0
(always reviewed, unless the model is certain to float precision).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

DEFAULT_CURVE_THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
# What an office accepts without reading: 19 of 20 auto-routed complaints in the right category.
DEFAULT_TARGET_PRECISION = 0.95
# One standard error: the bound a precision estimate from a few dozen rows must clear.
DEFAULT_Z = 1.0


def wilson_lower(hits: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Lower end of the Wilson score interval for ``hits`` successes in ``n`` trials."""
    hits, n = np.asarray(hits, dtype=float), np.asarray(n, dtype=float)
    if z <= 0:
        return hits / n
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def lowest_threshold(
    confidence: np.ndarray, correct: np.ndarray, target: float, z: float = DEFAULT_Z
) -> float | None:
    """Lowest ``t`` in ``confidence`` whose accepted set (conf >= t) has a precision lower bound
    (Wilson, ``z``; 0: the raw share) >= target."""
    if len(confidence) == 0:
        return None
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    hits = np.cumsum(correct[order].astype(float))
    precision = wilson_lower(hits, np.arange(1, len(conf) + 1), z)
    # Only cut between distinct confidences: rows with equal confidence are accepted together.
    last_of_value = np.r_[conf[1:] != conf[:-1], True]
    ok = np.flatnonzero((precision >= target - 1e-12) & last_of_value)
    if ok.size == 0:
        return None
    return float(conf[ok.max()])


def choose_thresholds(
    proba: np.ndarray,
    y: np.ndarray,
    labels: Sequence[str],
    *,
    target_precision: float = DEFAULT_TARGET_PRECISION,
    min_support: int = 10,
    z: float = DEFAULT_Z,
) -> dict[str, float]:
    """Per-class review thresholds (see the module docstring for the rule)."""
    pred = proba.argmax(1)
    conf = proba.max(1)
    correct = pred == y
    pooled = lowest_threshold(conf, correct, target_precision, z)
    out: dict[str, float] = {}
    for c, label in enumerate(labels):
        m = pred == c
        t = pooled if m.sum() < min_support else lowest_threshold(conf[m], correct[m], target_precision, z)
        out[label] = round(float(t if t is not None else 1.0), 6)
    return out


def review_mask(proba: np.ndarray, labels: Sequence[str], thresholds: dict[str, float]) -> np.ndarray:
    """True where the top prediction is below its class threshold (``needs_review``)."""
    pred = proba.argmax(1)
    limit = np.array([thresholds.get(label, 0.0) for label in labels], dtype=np.float64)
    return proba.max(1).astype(np.float64) < limit[pred]


def coverage_table(
    proba: np.ndarray,
    y: np.ndarray,
    thresholds: dict[str, float] | None = None,
    labels: Sequence[str] | None = None,
    grid: Sequence[float] = DEFAULT_CURVE_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Coverage (share accepted automatically) and accuracy of the accepted rows.

    One row per global threshold in ``grid`` and, when given, one for the per-class thresholds.
    """
    conf = proba.max(1)
    correct = proba.argmax(1) == y
    rows: list[dict[str, Any]] = []

    def row(name: str, accepted: np.ndarray) -> dict[str, Any]:
        n = int(accepted.sum())
        return {
            "threshold": name,
            "coverage": float(n / len(y)) if len(y) else 0.0,
            "accuracy": float(correct[accepted].mean()) if n else None,
            "accepted": n,
            "review": int(len(y) - n),
        }

    for t in grid:
        rows.append(row(f"{t:g}", conf >= t))
    if thresholds is not None and labels is not None:
        rows.append(row("per-class", ~review_mask(proba, labels, thresholds)))
    return rows


def coverage_curve(proba: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of the most confident ``k`` rows against coverage ``k / n`` (for the PNG)."""
    order = np.argsort(-proba.max(1), kind="stable")
    correct = (proba.argmax(1) == y)[order].astype(float)
    k = np.arange(1, len(y) + 1)
    return k / len(y), np.cumsum(correct) / k
