"""The inference engine shared by ``hotline classify`` and the HTTP service.

:class:`InferenceEngine` wraps any hotline model directory (``transformer``, ``onnx``,
``tfidf`` or ``fusion``, or a registry whose ``current`` names one) and turns texts into
:class:`Prediction` objects: label, calibrated score, top-k, whether the prediction needs a
human's review (per-class thresholds stored with the model) and whether the text was cut to fit
the model's input length.

The engine knows no model type: it asks the model to encode the texts (:class:`Classifier`),
then only schedules the forward passes. Speed comes from three things. Inputs are encoded once
and sorted by length, then cut into buckets whose padded size (batch x width) stays under
``max_batch_tokens`` and whose padding stays under ``max_padding`` of the real tokens
(:mod:`nlp.batching`): complaints range from ten characters to thousands, and padding a short
one to the longest in a random batch wastes most of the compute. Forward passes run under
``torch.inference_mode``. The thread count is set once (``num_threads``), because PyTorch's
default of one thread per core fights with every other process on a shared machine.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from common.config import JobConfig
from nlp.batching import plan_batches, run_batches
from nlp.classifier import Classifier, ModelInfo, load_classifier, resolve_model_dir, softmax

logger = logging.getLogger(__name__)


class EngineConfig(JobConfig):
    """How the engine runs a model (not what the model is: that is ``hotline.json``)."""

    batch_size: int = Field(32, ge=1, description="Most texts in one forward pass.")
    # On CPU, passes beyond ~2k tokens fall out of cache (the attention scores grow with
    # batch x length^2) and run slower per text, not faster.
    max_batch_tokens: int = Field(
        2048, ge=8, description="Most padded tokens (texts x longest) in one forward pass."
    )
    # A micro-batch of requests arrives in random lengths (30-256 tokens); padded into one pass, a
    # quarter or more of the compute goes to padding, which on a compute-bound CPU is slower than
    # one pass per text.
    max_padding: float = Field(
        0.2, ge=0, description="Padding allowed per forward pass, as a share of the real tokens (0.2 = 20%)."
    )
    num_threads: int | None = Field(
        None, ge=1, description="CPU threads for inference (unset: the library default)."
    )
    top_k: int = Field(3, ge=1, description="Labels listed per prediction.")
    device: str = Field("cpu", description="torch device of transformer models.")


@dataclass
class Prediction:
    """One classified text."""

    label: str
    score: float
    top_k: list[tuple[str, float]]
    needs_review: bool
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": self.score,
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
            "needs_review": self.needs_review,
            "truncated": self.truncated,
        }


@dataclass
class BatchOutput:
    """Vectorised predictions for many texts (what the batch job writes, without per-row objects)."""

    probs: np.ndarray  # (n, n_labels), calibrated
    truncated: np.ndarray  # (n,) bool
    needs_review: np.ndarray  # (n,) bool

    @property
    def top(self) -> np.ndarray:
        return self.probs.argmax(axis=1) if len(self.probs) else np.zeros(0, dtype=np.int64)


class InferenceEngine:
    """Loads a model once and classifies texts in length-sorted batches."""

    def __init__(
        self, classifier: Classifier, config: EngineConfig | None = None, *, model_dir: Path | None = None
    ):
        self.classifier = classifier
        self.config = config or EngineConfig()
        self.model_dir = model_dir
        self.info: ModelInfo = classifier.info
        self._thresholds = np.array([self.info.thresholds.get(label, 0.0) for label in self.labels])
        self.batches_run = 0

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: EngineConfig | None = None) -> InferenceEngine:
        """Load a model directory or a registry's current version."""
        config = config or EngineConfig()
        d = resolve_model_dir(path)
        clf = load_classifier(d, device=config.device, num_threads=config.num_threads)
        engine = cls(clf, config, model_dir=d)
        logger.info(
            "loaded model",
            extra={"model_dir": str(d), "model_type": engine.model_type, "model_version": engine.version},
        )
        return engine

    # -- what the model is --------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @property
    def version(self) -> str:
        return self.info.version or (self.model_dir.name if self.model_dir else "unversioned")

    @property
    def model_type(self) -> str:
        return self.info.model_type

    @property
    def max_length(self) -> int:
        return self.info.max_length

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.info.name or (self.model_dir.name if self.model_dir else None),
            "version": self.version,
            "model_type": self.model_type,
            "labels": self.labels,
            "max_length": self.max_length,
            "temperature": self.info.temperature,
            "thresholds": dict(self.info.thresholds),
            "model_dir": str(self.model_dir) if self.model_dir else None,
        }

    # -- inference ----------------------------------------------------------------------------

    def predict_arrays(self, texts: Sequence[str]) -> BatchOutput:
        """Calibrated probabilities, truncated flags and review flags for ``texts``."""
        n = len(texts)
        if n == 0:
            empty = np.zeros(0, dtype=bool)
            return BatchOutput(np.zeros((0, len(self.labels)), dtype=np.float32), empty, empty)
        logits, truncated = self._logits(list(texts))
        probs = softmax(logits, self.info.temperature)
        top = probs.argmax(axis=1)
        review = probs[np.arange(n), top] < self._thresholds[top]
        return BatchOutput(probs, np.asarray(truncated, dtype=bool), review)

    def predict(self, texts: Sequence[str], *, top_k: int | None = None) -> list[Prediction]:
        """One :class:`Prediction` per text, in input order."""
        out = self.predict_arrays(texts)
        return self.to_predictions(out, top_k=top_k)

    def to_predictions(self, out: BatchOutput, *, top_k: int | None = None) -> list[Prediction]:
        k = min(top_k or self.config.top_k, len(self.labels))
        labels = self.labels
        ranked = np.argsort(-out.probs, axis=1, kind="stable")[:, :k]
        preds = []
        for i, order in enumerate(ranked):
            pairs = [(labels[j], round(float(out.probs[i, j]), 6)) for j in order]
            preds.append(
                Prediction(
                    label=pairs[0][0],
                    score=pairs[0][1],
                    top_k=pairs,
                    needs_review=bool(out.needs_review[i]),
                    truncated=bool(out.truncated[i]),
                )
            )
        return preds

    def _logits(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        clf = self.classifier
        inputs, truncated = clf.encode(texts)
        batches = plan_batches(
            clf,
            inputs,
            batch_size=self.config.batch_size,
            max_batch_tokens=self.config.max_batch_tokens,
            max_padding=self.config.max_padding,
        )
        out = run_batches(clf, inputs, batches)
        self.batches_run += len(batches)
        return out, truncated
