"""The ``fusion`` model type, and the one fusion mix that training and inference share.

``fuse_logits`` is what a fusion model computes from its parts' raw logits: training calls it on
cached part logits to choose the weight (``training.fusion``), :class:`FusionClassifier` calls it
on each batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import ClassifierBase, ModelInfo, softmax
from nlp.tfidf import TfidfClassifier
from nlp.transformer import TransformerClassifier


def fuse_logits(
    transformer_logits: np.ndarray,
    transformer_temperature: float,
    tfidf_logits: np.ndarray,
    tfidf_temperature: float,
    weight: float,
) -> np.ndarray:
    """``weight * log p_transformer + (1 - weight) * log p_tfidf``, each part at its temperature."""
    lp_t = np.log(softmax(transformer_logits, transformer_temperature) + 1e-9)
    lp_f = np.log(softmax(tfidf_logits, tfidf_temperature) + 1e-9)
    return (weight * lp_t + (1 - weight) * lp_f).astype(np.float32)


class FusionClassifier(ClassifierBase):
    """Mixes a transformer's and a TF-IDF model's calibrated log-probabilities.

    ``logits = w * log p_transformer + (1 - w) * log p_tfidf``: a product of experts that keeps
    the transformer's grasp of phrasing and the TF-IDF model's memory of rare place and
    organisation names. Each part keeps its own temperature; the mix gets one of its own.
    """

    def __init__(self, info: ModelInfo, transformer: TransformerClassifier, tfidf: TfidfClassifier) -> None:
        if transformer.labels != info.labels or tfidf.labels != info.labels:
            raise ValueError("fusion parts must share the fusion model's label order")
        self.info = info
        self.transformer = transformer
        self.tfidf = tfidf

    def encode(self, texts: Sequence[str]) -> tuple[list[tuple[Any, Any]], list[bool]]:
        """Each part's input, paired; only the transformer ever cuts a text."""
        t_inputs, truncated = self.transformer.encode(texts)
        f_inputs, _ = self.tfidf.encode(texts)
        return list(zip(t_inputs, f_inputs, strict=True)), truncated

    def input_lengths(self, inputs: Sequence[tuple[Any, Any]]) -> list[int]:
        return self.transformer.input_lengths([t for t, _ in inputs])

    def forward(self, inputs: Sequence[tuple[Any, Any]]) -> np.ndarray:
        return fuse_logits(
            self.transformer.forward([t for t, _ in inputs]),
            self.transformer.info.temperature,
            self.tfidf.forward([f for _, f in inputs]),
            self.tfidf.info.temperature,
            float(self.info.fusion_weight or 0.0),
        )

    def save(self, directory: str | os.PathLike[str]) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.transformer.save(out / "transformer")
        self.tfidf.save(out / "tfidf")
        self.info.save(out)
        return out

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], *, device: str = "cpu", num_threads: int | None = None
    ) -> FusionClassifier:
        d = Path(directory)
        return cls(
            ModelInfo.load(d),
            TransformerClassifier.load(d / "transformer", device=device, num_threads=num_threads),
            TfidfClassifier.load(d / "tfidf"),
        )
