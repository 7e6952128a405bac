"""Warm start of a retrained transformer: the champion's encoder with its classification head regrown.

A renamed label keeps its row; a merged label gets the average of its sources' rows and biases; a
split label copies the source row to every target; a new category is imprinted (Qi et al., 2018)
from the pooled features of its examples (see :mod:`training.retrain`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import ConfigError
from nlp.classifier import ModelInfo
from training.config import RetrainConfig
from training.label_plan import LabelPlan


def classifier_layer(model: Any) -> Any:
    import torch

    head = getattr(model, "classifier", None)
    if isinstance(head, torch.nn.Linear):
        return head, "classifier"
    out_proj = getattr(head, "out_proj", None)
    if isinstance(out_proj, torch.nn.Linear):  # RoBERTa-style heads
        return out_proj, "classifier.out_proj"
    raise ConfigError(
        f"cannot grow the head of a {type(model).__name__}: no linear `classifier`; retrain from the base "
        "model with `hotline train` instead"
    )


def pooled_features(model: Any, tokenizer: Any, texts: Sequence[str], info: ModelInfo) -> np.ndarray:
    """The vectors the classification head sees (pooler output, or [CLS] without a pooler)."""
    import torch

    from nlp.transformer import TransformerClassifier

    clf = TransformerClassifier(model, tokenizer, info)
    ids, _ = clf.encode(list(texts))
    feats = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(ids), 32):
            batch = clf.collate(ids[start : start + 32])
            out = model.base_model(**batch)
            pooled = getattr(out, "pooler_output", None)
            feats.append((pooled if pooled is not None else out.last_hidden_state[:, 0]).float().numpy())
    return np.concatenate(feats) if feats else np.zeros((0, model.config.hidden_size), np.float32)


def grow_head(
    model: Any,
    plan: LabelPlan,
    *,
    features: dict[str, np.ndarray] | None = None,
    reference: np.ndarray | None = None,
    seed: int = 0,
) -> None:
    """Rebuild the classification head for ``plan.new`` in place (see the module docstring).

    ``features`` maps each added label to pooled features of its examples; ``reference`` is
    features of all training rows (the centre to imprint against). Without features an added
    row is small random noise (scaled like the old rows) with the average old bias.
    """
    import torch

    layer, name = classifier_layer(model)
    w_old = layer.weight.detach().float().cpu().numpy()
    b_old = layer.bias.detach().float().cpu().numpy() if layer.bias is not None else np.zeros(len(plan.old))
    index = {label: i for i, label in enumerate(plan.old)}
    norm = float(np.linalg.norm(w_old, axis=1).mean())
    rng = np.random.default_rng(seed)
    w_new = np.zeros((len(plan.new), w_old.shape[1]), dtype=np.float32)
    b_new = np.zeros(len(plan.new), dtype=np.float32)
    center = reference.mean(axis=0) if reference is not None and len(reference) else None
    for j, label in enumerate(plan.new):
        src = [index[o] for o in plan.sources[label]]
        if src:
            w_new[j] = w_old[src].mean(axis=0)
            b_new[j] = b_old[src].mean()
            continue
        f = (features or {}).get(label)
        if f is not None and len(f):
            direction = f.mean(axis=0) - (center if center is not None else 0.0)
        else:
            direction = rng.normal(size=w_old.shape[1])
        w_new[j] = direction / max(float(np.linalg.norm(direction)), 1e-12) * norm
        b_new[j] = b_old.mean()
    new_layer = torch.nn.Linear(w_old.shape[1], len(plan.new), bias=True)
    with torch.no_grad():
        new_layer.weight.copy_(torch.from_numpy(w_new))
        new_layer.bias.copy_(torch.from_numpy(b_new))
    new_layer.to(layer.weight.device, dtype=layer.weight.dtype)
    if name == "classifier":
        model.classifier = new_layer
    else:
        model.classifier.out_proj = new_layer
    model.num_labels = len(plan.new)
    model.config.num_labels = len(plan.new)
    model.config.id2label = dict(enumerate(plan.new))
    model.config.label2id = {label: i for i, label in enumerate(plan.new)}


def warm_start_transformer(
    model_dir: Path, plan: LabelPlan, train: pd.DataFrame, config: RetrainConfig
) -> tuple[Any, Any]:
    """The champion's encoder with a head grown for ``plan`` (imprinted new rows)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    info = ModelInfo.load(model_dir)
    features: dict[str, np.ndarray] = {}
    for label in plan.added:
        texts = train.loc[train["label"] == label, "text"].head(config.imprint_examples)
        features[label] = pooled_features(model, tokenizer, list(texts), info)
    reference_texts = train["text"].sample(
        n=min(len(train), 4 * config.imprint_examples), random_state=config.seed
    )
    reference = pooled_features(model, tokenizer, list(reference_texts), info) if plan.added else None
    grow_head(model, plan, features=features, reference=reference, seed=config.seed)
    return model, tokenizer
