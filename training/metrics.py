"""Classification metrics over string labels, shared by training, evaluation and retraining.

Rows whose true label the model does not know (an evaluation file with a category added after
training) are kept: they count as errors, appear in the confusion matrix as extra rows, and
have recall 0 in the per-class table. Macro averages follow scikit-learn: over every label that
occurs as a true or a predicted label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def metric_labels(y_true: Sequence[str], y_pred: Sequence[str], model_labels: Sequence[str]) -> list[str]:
    """Labels that occur (true or predicted): model order first, then unknown ones sorted."""
    seen = set(y_true) | set(y_pred)
    known = [label for label in model_labels if label in seen]
    return known + sorted(seen - set(model_labels))


def classification_metrics(
    y_true: Sequence[str],
    proba: np.ndarray,
    model_labels: Sequence[str],
    *,
    top_k: Sequence[int] = (2, 3),
) -> dict[str, Any]:
    """Accuracy, macro/weighted F1, per-class P/R/F1/support, top-k accuracy, confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = [str(v) for v in y_true]
    model_labels = list(model_labels)
    if len(y_true) == 0:
        raise ValueError("no rows to evaluate")
    pred_idx = proba.argmax(1)
    y_pred = [model_labels[i] for i in pred_idx]
    labels = metric_labels(y_true, y_pred, model_labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    _, _, macro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    _, _, weighted_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="weighted", zero_division=0
    )
    index = {label: i for i, label in enumerate(model_labels)}
    true_idx = np.array([index.get(v, -1) for v in y_true])
    ranked = np.argsort(-proba, axis=1, kind="stable")
    topk = {}
    for k in top_k:
        if k < len(model_labels):
            topk[f"top{k}_accuracy"] = float((ranked[:, :k] == true_idx[:, None]).any(axis=1).mean())
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        "n": len(y_true),
        "accuracy": float(np.mean([a == b for a, b in zip(y_true, y_pred, strict=True)])),
        "macro_f1": float(macro_f1),
        "weighted_f1": float(weighted_f1),
        **topk,
        "per_class": {
            label: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(s[i]),
            }
            for i, label in enumerate(labels)
        },
        "unknown_labels": sorted(set(y_true) - set(model_labels)),
        "confusion": {"labels": labels, "matrix": cm.tolist()},
    }


def macro_f1(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Macro-F1 over integer class ids (the training loop's early-stopping metric)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a metrics dict (for logs and the registry changelog)."""
    keys = ("n", "accuracy", "macro_f1", "weighted_f1", "top2_accuracy", "top3_accuracy")
    return {k: metrics[k] for k in keys if k in metrics}
