"""Calibration: temperature scaling, expected calibration error, reliability bins.

A fine-tuned transformer is over-confident and a LinearSVC's decision values are not
probabilities at all; one temperature ``T`` per model (Guo et al., 2017) fixes the scale of
both without changing any prediction: ``p = softmax(logits / T)``. ``T`` is fitted on the
evaluation split by minimising the negative log-likelihood with a bounded 1-D search over
``log T`` (the NLL is convex in ``1/T``, so the search cannot get stuck) and stored in
``hotline.json``.

The scores must come from text the model has not been fitted on: on its own training rows a
TF-IDF linear model is almost always right and far apart, the NLL-optimal ``T`` drops to
0.01-0.1 and every new complaint scores 1.0 (Teddy 2020: ``T = 0.038`` in-sample, 92% of the
test messages at p >= 0.995 with 91% accuracy; ``T = 0.22`` on held-out rows, test ECE 0.028).
:func:`training.tfidf.cross_val_logits` gives out-of-fold scores for the whole training set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from nlp.classifier import softmax

logger = logging.getLogger(__name__)

T_MIN, T_MAX = 0.01, 100.0
# Below this the softmax of typical linear-model scores is 0 or 1: a sign of in-sample scores.
T_SUSPICIOUS = 0.1


def nll(logits: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes under ``softmax(logits / T)``."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the NLL of ``y`` (1.0 when there is nothing to fit)."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y)
    if len(y) == 0 or logits.shape[1] < 2:
        return 1.0
    res = minimize_scalar(
        lambda log_t: nll(logits, y, float(np.exp(log_t))),
        bounds=(np.log(T_MIN), np.log(T_MAX)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    t = float(np.exp(res.x))
    # Never return something worse than no scaling (flat NLL surfaces on tiny data).
    t = t if nll(logits, y, t) <= nll(logits, y, 1.0) else 1.0
    if t < T_SUSPICIOUS:
        logger.warning(
            "temperature %.3g: nearly every score will be 1.0; were these scores computed on rows "
            "the model was trained on? Calibrate on held-out or out-of-fold scores",
            t,
        )
    return t


@dataclass
class ReliabilityBins:
    """Equal-width confidence bins: mean confidence, accuracy and count per bin."""

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "edges": self.edges.tolist(),
            "confidence": [float(x) for x in self.confidence],
            "accuracy": [float(x) for x in self.accuracy],
            "count": [int(x) for x in self.count],
        }


def reliability_bins(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> ReliabilityBins:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins, (a, b], with 0 in the first: a confidence of exactly 1.0 is in the last.
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    conf = np.zeros(n_bins)
    acc = np.zeros(n_bins)
    count = np.bincount(which, minlength=n_bins)
    for b in range(n_bins):
        m = which == b
        if m.any():
            conf[b] = confidence[m].mean()
            acc[b] = correct[m].mean()
    return ReliabilityBins(edges, conf, acc, count)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: sum over bins of (bin share) x |accuracy - mean confidence|."""
    if len(confidence) == 0:
        return 0.0
    bins = reliability_bins(np.asarray(confidence, float), np.asarray(correct, float), n_bins)
    return float(np.sum(bins.count / bins.count.sum() * np.abs(bins.accuracy - bins.confidence)))


def calibration_summary(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict[str, float]:
    """NLL and ECE before (T = 1) and after scaling, for metrics.json and the model card."""
    out: dict[str, float] = {"temperature": float(temperature)}
    for tag, t in (("uncalibrated", 1.0), ("calibrated", temperature)):
        p = softmax(logits, t)
        correct = (p.argmax(1) == y).astype(float)
        out[f"nll_{tag}"] = nll(logits, y, t)
        out[f"ece_{tag}"] = expected_calibration_error(p.max(1), correct)
    return out
