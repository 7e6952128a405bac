"""Fusion: mix a transformer's and a TF-IDF model's calibrated log-probabilities.

The weight ``w`` in ``w * log p_transformer + (1 - w) * log p_tfidf`` is chosen on the
evaluation split by macro-F1 (ties: the lower NLL). Each part must already carry its own
temperature; the mix then gets its own (``training.calibration``). A fusion model is only worth
serving when it beats both parts on held-out data: ``weight_search`` in ``metrics.json``
records the whole curve, including ``w = 0`` (TF-IDF alone) and ``w = 1`` (transformer alone).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import ConfigError
from nlp.fusion import fuse_logits
from training.calibration import nll

logger = logging.getLogger(__name__)


def choose_fusion_weight(
    transformer_logits: np.ndarray,
    transformer_temperature: float,
    tfidf_logits: np.ndarray,
    tfidf_temperature: float,
    y: np.ndarray,
    grid: Sequence[float],
) -> tuple[float, list[dict[str, Any]]]:
    """The weight with the best macro-F1 on ``y`` (ties: lower NLL), and the whole search."""
    from training.metrics import macro_f1

    search = []
    best: tuple[float, float, float] | None = None
    for w in sorted(set(grid)):
        z = fuse_logits(transformer_logits, transformer_temperature, tfidf_logits, tfidf_temperature, w)
        f1 = macro_f1(y, z.argmax(1))
        loss = nll(z, y)
        search.append({"weight": float(w), "eval_macro_f1": f1, "eval_nll": loss})
        if best is None or f1 > best[0] + 1e-9 or (abs(f1 - best[0]) <= 1e-9 and loss < best[1]):
            best = (f1, loss, float(w))
    assert best is not None
    return best[2], search


def fuse_models(
    transformer_dir: str | os.PathLike[str],
    tfidf_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    evaluation: pd.DataFrame | None = None,
    name: str | None = None,
) -> Any:
    """Build a fusion model from a trained transformer and a trained TF-IDF model.

    Both must have been trained on the same data with the same evaluation split (the default
    ``evaluation`` is the transformer's ``eval.parquet``); their stored temperatures are kept,
    the weight, the fusion temperature and the review thresholds are chosen on that split.
    Cheaper than ``hotline train --model-type fusion``, which trains both parts again.
    """
    from nlp.classifier import ModelInfo
    from nlp.fusion import FusionClassifier
    from nlp.tfidf import TfidfClassifier
    from nlp.transformer import TransformerClassifier
    from training.config import TrainConfig
    from training.data import EVAL_FILE, REPLAY_FILE, frame_sha256
    from training.pipeline import METRICS_FILE, finalize

    tr = TransformerClassifier.load(transformer_dir)
    tf = TfidfClassifier.load(tfidf_dir)
    if tr.labels != tf.labels:
        raise ConfigError(
            f"{transformer_dir} and {tfidf_dir} have different labels or label order "
            f"({tr.labels} vs {tf.labels}); train both on the same file"
        )
    if evaluation is None:
        evaluation = pd.read_parquet(Path(transformer_dir) / EVAL_FILE)
        other = Path(tfidf_dir) / EVAL_FILE
        if other.exists() and frame_sha256(pd.read_parquet(other)) != frame_sha256(evaluation):
            logger.warning(
                "%s and %s were evaluated on different splits; using the transformer's",
                transformer_dir,
                tfidf_dir,
            )
    started = time.perf_counter()
    texts = list(evaluation["text"])
    index = {label: i for i, label in enumerate(tr.labels)}
    y = np.array([index[v] for v in evaluation["label"]])
    t_logits, f_logits = tr.logits(texts), tf.logits(texts)
    config = TrainConfig.load(transformer_dir)
    config = TrainConfig.from_dict(
        {
            **config.to_dict(),
            "model_type": "fusion",
            "output_dir": str(output_dir),
            "name": name or config.name,
        }
    )
    weight, search = choose_fusion_weight(
        t_logits, tr.info.temperature, f_logits, tf.info.temperature, y, config.fusion_weight_grid
    )
    tr.info.thresholds, tf.info.thresholds = {}, {}
    info = ModelInfo(
        "fusion",
        tr.labels,
        max_length=tr.info.max_length,
        head_tokens=tr.info.head_tokens,
        base_model=tr.info.base_model,
        name=config.name,
        fusion_weight=weight,
    )
    model = FusionClassifier(info, tr, tf)
    logits = fuse_logits(t_logits, tr.info.temperature, f_logits, tf.info.temperature, weight)
    metrics = json.loads((Path(transformer_dir) / METRICS_FILE).read_text(encoding="utf-8"))
    extras = {
        "fusion": {
            "weight": weight,
            "transformer": str(transformer_dir),
            "tfidf": str(tfidf_dir),
            "transformer_temperature": tr.info.temperature,
            "tfidf_temperature": tf.info.temperature,
            "weight_search": search,
        },
        "training": metrics.get("training", {}),
    }
    replay = pd.read_parquet(Path(transformer_dir) / REPLAY_FILE)
    return finalize(model, config, replay, evaluation, logits, dict(metrics.get("data", {})), extras, started)
