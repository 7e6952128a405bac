"""Optional sentence embeddings for the grouping (multilingual-e5 via transformers).

The model is the converted base model directory (``hotline base-model build --out DIR``: a
transformers BERT directory holding multilingual-e5-small). Embeddings are e5's: the text with
the ``"query: "`` prefix, mean of the last hidden states, L2-normalised - computed by
:func:`nlp.encoder.mean_pooled_embeddings` so that they match the rest of hotline. Nothing is
downloaded: the directory must exist. Grouping works without any of this (MinHash + places +
TF-IDF); see ``docs/events.md`` for what embeddings add.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from common.errors import ModelNotFoundError

logger = logging.getLogger(__name__)


class E5Embedder:
    """Callable ``texts -> (n, hidden) float32`` L2-normalised e5 embeddings.

    ``max_chars`` cuts each text first: the opening of a complaint says what and where, and
    the cost of a transformer grows with length.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        max_chars: int = 512,
        max_batch_tokens: int = 4096,
        num_threads: int | None = None,
    ) -> None:
        d = Path(model_dir)
        if not (d / "config.json").is_file():
            raise ModelNotFoundError(
                f"{d} is not a transformers model directory (no config.json); build the base model "
                "with `hotline base-model build --out DIR` and pass --embed-model DIR"
            )
        import torch
        from transformers import AutoModel, AutoTokenizer

        if num_threads:
            torch.set_num_threads(num_threads)
        self.tokenizer = AutoTokenizer.from_pretrained(str(d))
        self.model = AutoModel.from_pretrained(str(d))
        self.model.eval()
        self.max_chars = max_chars
        self.max_batch_tokens = max_batch_tokens
        self.model_dir = d

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from nlp.encoder import mean_pooled_embeddings

        cut = [(t or "")[: self.max_chars] or " " for t in texts]
        if not cut:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return mean_pooled_embeddings(self.model, self.tokenizer, cut, max_batch_tokens=self.max_batch_tokens)
