"""The model side of fine-tuning: the base model with a fresh head, parameter groups, class weights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from common.errors import ModelNotFoundError
from training.config import TrainConfig


def resolve_base_model(name_or_path: str) -> str:
    """A local directory or hub name for the base model (offline-safe; see ``nlp.encoder``)."""
    from nlp.encoder import resolve_model_name_or_path

    return str(resolve_model_name_or_path(name_or_path))


def load_base_model(config: TrainConfig, labels: Sequence[str]) -> tuple[Any, Any]:
    """Tokenizer and a sequence-classification model with a fresh head for ``labels``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_base_model(str(config.base_model))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot load base model {config.base_model!r} ({exc}); pass a transformers model "
            "directory, e.g. one built with `hotline base-model build --out DIR`"
        ) from exc
    return model, tokenizer


def balanced_class_weights(y: Sequence[int], n_labels: int) -> np.ndarray:
    """``n / (k * n_c)``: every class contributes equally to the loss (scikit-learn's "balanced")."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_labels).astype(np.float64)
    return len(y) / (n_labels * np.maximum(counts, 1))


def head_parameter(name: str) -> bool:
    """Parameters initialised from scratch for classification: the classifier and the pooler.

    The pooler counts as head: encoders trained for mean-pooled embeddings (e5) or converted
    without one start with an untrained pooler.
    """
    return name.startswith(("classifier", "score")) or ".pooler." in name


def freeze_word_embeddings(model: Any) -> int:
    """Freeze the word-embedding table (the bulk of a multilingual model); returns its size."""
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(False)
    return int(emb.weight.numel())


def parameter_groups(model: Any, config: TrainConfig) -> list[dict[str, Any]]:
    head_lr = config.head_learning_rate or config.learning_rate
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # No weight decay on biases and LayerNorm weights (as in BERT).
        decay = param.ndim > 1
        groups.setdefault((head_parameter(name), decay), []).append(param)
    return [
        {
            "params": params,
            "lr": head_lr if is_head else config.learning_rate,
            "weight_decay": config.weight_decay if decay else 0.0,
        }
        for (is_head, decay), params in sorted(groups.items())
    ]
