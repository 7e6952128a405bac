"""Retraining when operators bring new labels: warm start, replay, champion/challenger, registry.

``hotline retrain --model DIR|REGISTRY --new FILE [--mapping FILE] [--registry DIR]``:

1. **Labels.** The challenger's labels are the champion's, passed through the mapping file
   (CSV ``old,new``), followed by the categories that occur only in the new data (most frequent
   first). Mapping semantics: ``A,B`` renames; ``A,C`` and ``B,C`` merge A and B into C;
   ``A,A1`` and ``A,A2`` split A into A1 and A2. Unmapped labels keep their name.
2. **Warm start** (transformer, and the transformer part of a fusion model). The encoder is the
   champion's; the classification head is rebuilt row by row: a renamed label keeps its row;
   a merged label gets the *average* of its sources' rows and biases (the merged class then
   scores where its parts scored on average; fine-tuning sharpens it); a split label copies the
   source row to every target (they start tied; the new data separates them); a new category
   is *imprinted* (Qi et al., 2018): its row is the direction of the mean encoder feature of its
   training rows away from the mean feature of all rows, scaled to the average norm of the old
   rows, with the average old bias. TF-IDF models are simply refitted on replay + new data.
3. **Replay.** The champion's ``replay.parquet`` (a stratified sample of its training data)
   is relabelled through the mapping and trained on together with the new data, so old
   categories are not forgotten. Replay rows of a *split* category are dropped: which of the
   new categories they belong to is unknown.
4. **Comparison.** A share of the new data (``holdout``, stratified) is held out and added to
   the registry's fixed evaluation set (relabelled through the mapping; rows of split
   categories dropped). Champion and challenger are scored on that same set. The gate is the
   macro-F1 over the *shared labels*, the challenger labels the champion can also predict
   (through the mapping): rows whose true label is a shared label, predictions outside the
   shared labels counted as errors. Categories only the challenger knows cannot be compared
   (the champion scores 0 on them by construction); their F1 is reported next to the table and
   recorded, but does not gate. Promotion when ``challenger >= champion - tolerance``, or
   ``--force``.
5. **Registry.** The challenger is always kept as the next version (``vN``); it becomes
   ``current`` only when promoted; the changelog records the comparison and the sha256 of the
   new data. After a promotion the comparison set becomes the registry's fixed evaluation set,
   so the next retrain also checks the new categories.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import ConfigError, InputFileError
from nlp.classifier import ModelInfo, resolve_model_dir, softmax
from nlp.text import pad
from training.config import TrainConfig
from training.data import (
    REPLAY_FILE,
    file_sha256,
    frame_sha256,
    label_counts,
    load_labelled,
    stratified_split,
)
from training.registry import ModelRegistry, is_registry

logger = logging.getLogger(__name__)


@dataclass
class RetrainConfig:
    """``hotline retrain`` settings; training settings default to the champion's."""

    model: str
    new_file: str
    registry: str | None = None
    mapping_file: str | None = None
    tolerance: float = 0.01
    force: bool = False
    holdout: float = 0.2
    eval_split: float = 0.1
    epochs: int | None = None
    max_steps: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    replay_per_class: int | None = None
    imprint_examples: int = 64
    columns: dict[str, str | None] = field(default_factory=dict)
    encoding: str | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance}")
        if not 0 < self.holdout < 0.9:
            raise ValueError(f"holdout must be in (0, 0.9), got {self.holdout}")
        if not 0 < self.eval_split < 0.5:
            raise ValueError(f"eval_split must be in (0, 0.5), got {self.eval_split}")
        for name in ("epochs", "max_steps", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.imprint_examples < 1:
            raise ValueError("imprint_examples must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- labels ---------------------------------------------------------------------------------------


@dataclass
class LabelPlan:
    """How the champion's labels become the challenger's."""

    old: list[str]
    new: list[str]
    sources: dict[str, list[str]]  # new label -> old labels it comes from ([] for new categories)
    targets: dict[str, list[str]]  # old label -> new labels

    def single_target(self, old: str) -> str | None:
        """The one new label an old label maps to (None for a split)."""
        t = self.targets.get(old, [])
        return t[0] if len(t) == 1 else None

    @property
    def added(self) -> list[str]:
        return [label for label in self.new if not self.sources[label]]

    @property
    def shared(self) -> list[str]:
        """Challenger labels the champion can predict too (through a rename or merge)."""
        reachable = {self.single_target(o) for o in self.old} - {None}
        return [label for label in self.new if label in reachable]

    def describe(self) -> dict[str, Any]:
        renamed = {
            o: t[0]
            for o, t in self.targets.items()
            if len(t) == 1 and t[0] != o and len(self.sources[t[0]]) == 1
        }
        merged = {n: s for n, s in self.sources.items() if len(s) > 1}
        split = {o: t for o, t in self.targets.items() if len(t) > 1}
        return {"renamed": renamed, "merged": merged, "split": split, "added": self.added}


def read_mapping(path: str | os.PathLike[str] | None) -> dict[str, list[str]]:
    """``old,new`` CSV (header required) -> old label -> new labels, in file order."""
    if path is None:
        return {}
    mapping: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if header[:2] != ["old", "new"]:
            raise InputFileError(
                f"a label mapping needs the header `old,new`, found {reader.fieldnames}", path=str(path)
            )
        for i, row in enumerate(reader, start=1):
            values = list(row.values())
            old, new = str(values[0] or "").strip(), str(values[1] or "").strip()
            if not old or not new:
                raise InputFileError("empty old or new label", path=str(path), row=i)
            targets = mapping.setdefault(old, [])
            if new not in targets:
                targets.append(new)
    return mapping


def plan_labels(
    old: Sequence[str], mapping: dict[str, list[str]], new_data_labels: Sequence[str]
) -> LabelPlan:
    unknown = sorted(set(mapping) - set(old))
    if unknown:
        raise InputFileError(
            f"the mapping names labels the current model does not have: {unknown}; its labels are {list(old)}"
        )
    targets = {o: mapping.get(o, [o]) for o in old}
    new: list[str] = []
    sources: dict[str, list[str]] = {}
    for o in old:
        for t in targets[o]:
            if t not in sources:
                new.append(t)
                sources[t] = []
            sources[t].append(o)
    counts = pd.Series(list(new_data_labels), dtype="object").value_counts()
    for label in sorted(counts.index, key=lambda k: (-counts[k], k)):
        if label not in sources and label not in targets:
            new.append(label)
            sources[label] = []
    if len(new) < 2:
        raise InputFileError(f"after the mapping only {new} remain; a classifier needs at least 2 labels")
    return LabelPlan(list(old), new, sources, targets)


def relabel(frame: pd.DataFrame, plan: LabelPlan, *, what: str, strict: bool = False) -> pd.DataFrame:
    """Map old label names to new ones; rows of split labels are dropped (or an error if strict)."""
    out = frame.copy()
    mapped, dropped = [], 0
    for label in out["label"]:
        if label in plan.targets:
            target = plan.single_target(label)
            if target is None:
                if strict:
                    raise InputFileError(
                        f"{what}: label {label!r} was split into {plan.targets[label]}; label these rows "
                        "with one of the new categories"
                    )
                dropped += 1
            mapped.append(target)
        else:
            mapped.append(label)
    out["label"] = mapped
    if dropped:
        logger.info("%s: %d rows of split categories dropped (their new category is unknown)", what, dropped)
    return out[out["label"].notna()].reset_index(drop=True)


# -- head growth ----------------------------------------------------------------------------------


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


# -- comparison -----------------------------------------------------------------------------------


@dataclass
class Comparison:
    """Champion vs challenger on the same evaluation set."""

    rows: int
    gate_rows: int
    shared_labels: list[str]
    added_labels: list[str]
    champion_macro_f1: float
    challenger_macro_f1: float
    challenger_macro_f1_all: float
    tolerance: float
    per_class: list[dict[str, Any]]
    promote: bool
    forced: bool = False

    @property
    def delta(self) -> float:
        return self.challenger_macro_f1 - self.champion_macro_f1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}

    def to_text(self) -> str:
        lines = [
            "per class (shared labels on the rows of shared labels, as gated; new labels on all rows):",
            f"{pad('label', 16)} {'support':>7} {'champion F1':>12} {'challenger F1':>14} {'change':>8}",
        ]
        for r in self.per_class:
            champ = "–" if r["champion_f1"] is None else f"{r['champion_f1']:.4f}"
            change = "new" if r["champion_f1"] is None else f"{r['challenger_f1'] - r['champion_f1']:+.4f}"
            lines.append(
                f"{pad(r['label'], 16)} {r['support']:>7} {champ:>12} {r['challenger_f1']:>14.4f} {change:>8}"
            )
        lines.append(
            f"macro-F1 over the {len(self.shared_labels)} shared labels ({self.gate_rows} of {self.rows} rows): "
            f"champion {self.champion_macro_f1:.4f}, challenger {self.challenger_macro_f1:.4f} "
            f"({self.delta:+.4f}; tolerance {self.tolerance})"
        )
        if self.added_labels:
            lines.append(
                f"new categories {', '.join(self.added_labels)}: only the challenger knows them (not gated); "
                f"challenger macro-F1 over all {self.rows} rows {self.challenger_macro_f1_all:.4f}"
            )
        verdict = "promote" if self.promote else "keep the champion"
        lines.append(f"decision: {verdict}{' (forced)' if self.forced else ''}")
        return "\n".join(lines)


def compare(
    champion_proba: np.ndarray,
    challenger_proba: np.ndarray,
    frame: pd.DataFrame,
    plan: LabelPlan,
    *,
    tolerance: float,
    force: bool = False,
) -> Comparison:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = list(frame["label"])
    champ = [plan.single_target(plan.old[i]) or "<split>" for i in champion_proba.argmax(1)]
    chall = [plan.new[i] for i in challenger_proba.argmax(1)]
    shared = plan.shared
    gate = np.array([t in shared for t in truth])
    t_g = [t for t, g in zip(truth, gate, strict=True) if g]

    def gated_f1(pred: list[str]) -> float:
        if not t_g:
            return 0.0
        p_g = [p for p, g in zip(pred, gate, strict=True) if g]
        return float(f1_score(t_g, p_g, labels=shared, average="macro", zero_division=0))

    champion_f1, challenger_f1 = gated_f1(champ), gated_f1(chall)
    per_class = []
    if t_g:
        # Shared labels: scored on the gated rows, as the gate scores them.
        p_cp = [p for p, g in zip(champ, gate, strict=True) if g]
        p_ch = [p for p, g in zip(chall, gate, strict=True) if g]
        _, _, f_cp, s = precision_recall_fscore_support(t_g, p_cp, labels=shared, zero_division=0)
        _, _, f_ch, _ = precision_recall_fscore_support(t_g, p_ch, labels=shared, zero_division=0)
        per_class += [
            {
                "label": label,
                "support": int(s[i]),
                "champion_f1": float(f_cp[i]),
                "challenger_f1": float(f_ch[i]),
            }
            for i, label in enumerate(shared)
        ]
    others = [label for label in plan.new if label not in shared and label in set(truth) | set(chall)]
    if others:
        # Labels only the challenger can predict: scored on all rows.
        _, _, f_ch, s = precision_recall_fscore_support(truth, chall, labels=others, zero_division=0)
        per_class += [
            {"label": label, "support": int(s[i]), "champion_f1": None, "challenger_f1": float(f_ch[i])}
            for i, label in enumerate(others)
        ]
    present = [label for label in plan.new if label in set(truth) | set(chall)]
    all_f1 = (
        float(f1_score(truth, chall, labels=present, average="macro", zero_division=0)) if present else 0.0
    )
    ok = challenger_f1 >= champion_f1 - tolerance
    return Comparison(
        rows=len(truth),
        gate_rows=int(gate.sum()),
        shared_labels=shared,
        added_labels=plan.added,
        champion_macro_f1=champion_f1,
        challenger_macro_f1=challenger_f1,
        challenger_macro_f1_all=all_f1,
        tolerance=tolerance,
        per_class=per_class,
        promote=ok or force,
        forced=force and not ok,
    )


# -- the job --------------------------------------------------------------------------------------


@dataclass
class RetrainResult:
    registry: Path
    version: str
    promoted: bool
    comparison: Comparison
    plan: LabelPlan

    def to_text(self) -> str:
        state = (
            "promoted: now current"
            if self.promoted
            else "kept as a candidate (not promoted; "
            f"`hotline model promote {self.version} --registry {self.registry}` uses it anyway)"
        )
        return (
            f"{self.comparison.to_text()}\n{self.version} written to {self.registry / self.version}; {state}"
        )


def _resolve_registry(config: RetrainConfig) -> ModelRegistry:
    source = Path(config.model)
    if is_registry(source):
        if config.registry and Path(config.registry).resolve() != source.resolve():
            raise ConfigError(f"--model {source} is a registry; drop --registry or pass the same directory")
        return ModelRegistry(source).require()
    if not config.registry:
        raise ConfigError(
            f"--model {source} is a model directory: pass --registry DIR, where the versions will be kept "
            "(created on first use with this model as v1)"
        )
    reg = ModelRegistry(config.registry)
    if reg.exists():
        raise ConfigError(
            f"{config.registry} already holds a registry; retrain its current model with "
            f"`hotline retrain --model {config.registry} --new FILE`"
        )
    resolve_model_dir(source)
    ModelInfo.load(source)
    logger.info("creating registry %s with %s as v1", config.registry, source)
    return ModelRegistry.init_from_model(config.registry, source)


def retrain(config: RetrainConfig) -> RetrainResult:
    """Run the whole job described in the module docstring."""
    from nlp.classifier import load_classifier
    from training.pipeline import fit

    registry = _resolve_registry(config)
    champion_version = registry.current()
    champion_dir = registry.current_path()
    champion_info = ModelInfo.load(champion_dir)
    plan_mapping = read_mapping(config.mapping_file)

    new = load_labelled(config.new_file, columns=config.columns, encoding=config.encoding, min_classes=1)
    plan = plan_labels(champion_info.labels, plan_mapping, list(new["label"]))
    new = relabel(new, plan, what=str(config.new_file), strict=True)
    logger.info("labels: %s", plan.describe())

    replay_path = champion_dir / REPLAY_FILE
    if replay_path.is_file():
        replay = relabel(pd.read_parquet(replay_path), plan, what="replay sample")
    else:
        logger.warning("%s has no %s: old categories may be forgotten", champion_dir, REPLAY_FILE)
        replay = new.iloc[:0]
    new_train, holdout = stratified_split(new, config.holdout, config.seed)
    fixed = registry.eval_set()
    fixed = relabel(fixed, plan, what="registry evaluation set") if fixed is not None else new.iloc[:0]
    comparison_set = pd.concat([fixed, holdout], ignore_index=True)
    if comparison_set.empty:
        raise InputFileError(
            "no rows to compare the models on: add rows to the new data", path=config.new_file
        )

    pool = pd.concat([replay, new_train], ignore_index=True)
    train, evaluation = stratified_split(pool, config.eval_split, config.seed)
    missing = [label for label in plan.new if label not in set(train["label"])]
    if missing:
        raise InputFileError(
            f"no training rows left for {missing} (after holding out {config.holdout:.0%} for the comparison); "
            "add more examples of them",
            path=config.new_file,
        )

    base = TrainConfig.load(champion_dir) if (champion_dir / "training_config.json").is_file() else None
    version = registry.next_version()
    out = registry.root / version
    work = registry.root / ".work" / version
    overrides = {
        "train_file": str(config.new_file),
        "eval_file": None,
        "output_dir": str(out),
        "checkpoint_dir": str(work / "checkpoints"),
        "resume_from": None,
        "seed": config.seed,
        "checkpoint_steps": None,
    }
    for key in ("epochs", "max_steps", "learning_rate", "batch_size", "replay_per_class"):
        if getattr(config, key) is not None:
            overrides[key] = getattr(config, key)
    if base is None:
        base = TrainConfig(train_file=str(config.new_file), output_dir=str(out), model_type="tfidf")
    train_config = TrainConfig.from_dict({**base.to_dict(), **overrides})

    warm = None
    if champion_info.model_type in ("transformer", "fusion"):
        part = champion_dir / "transformer" if champion_info.model_type == "fusion" else champion_dir
        warm = warm_start_transformer(part, plan, train, config)
    data = {
        "new_file": str(config.new_file),
        "new_sha256": file_sha256(config.new_file),
        "new_rows": len(new),
        "replay_rows": len(replay),
        "replay_fingerprint": frame_sha256(replay),
        "mapping_file": str(config.mapping_file) if config.mapping_file else None,
        "mapping_sha256": file_sha256(config.mapping_file) if config.mapping_file else None,
        "eval_source": f"stratified {config.eval_split:.0%} split of replay + new data (seed {config.seed})",
        "train_sha256": file_sha256(config.new_file),
        "train_file": str(config.new_file),
    }
    try:
        result = fit(train_config, train, evaluation, data, labels=plan.new, warm_start=warm)
        if result is None:
            raise ConfigError(
                "hotline retrain runs in a single process; do not start it with `accelerate launch`"
            )
    finally:
        # Checkpoints of a retrain are not kept: the version directory is the result.
        shutil.rmtree(work.parent, ignore_errors=True)

    texts = list(comparison_set["text"])
    champion = load_classifier(champion_dir)
    challenger = load_classifier(out)
    cmp = compare(
        softmax(champion.logits(texts), champion.info.temperature),
        softmax(challenger.logits(texts), challenger.info.temperature),
        comparison_set,
        plan,
        tolerance=config.tolerance,
        force=config.force,
    )
    from training.data import save_frame

    save_frame(comparison_set, out / "comparison.parquet")
    fields = {
        "champion": champion_version,
        "comparison": cmp.to_dict(),
        "labels": plan.describe(),
        "data": data,
        "eval": {k: result.metrics["eval"][k] for k in ("n", "accuracy", "macro_f1", "weighted_f1")},
        "comparison_counts": label_counts(comparison_set["label"], plan.new),
    }
    registry.add(out, version=version, **fields)
    if cmp.promote:
        registry.promote(version, reason="forced" if cmp.forced else "retrain: passed the comparison")
        registry.set_eval_set(
            comparison_set, source=f"{version} comparison set (fixed set + held-out new data)"
        )
    else:
        registry.reject(version, reason="macro-F1 on shared labels dropped by more than the tolerance")
    return RetrainResult(registry.root, version, cmp.promote, cmp, plan)
