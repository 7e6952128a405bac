"""Retraining when operators bring new labels: warm start, replay, champion/challenger, registry.

The job is :func:`retrain`; its parts live in :mod:`training.label_plan` (1),
:mod:`training.warm_start` (2) and :mod:`training.comparison` (4), its settings in
:class:`training.config.RetrainConfig`.

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

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from common.errors import ConfigError, InputFileError
from nlp.classifier import ModelInfo, resolve_model_dir, softmax
from training.comparison import Comparison, compare
from training.config import RetrainConfig, TrainConfig
from training.data import (
    REPLAY_FILE,
    file_sha256,
    frame_sha256,
    label_counts,
    load_labelled,
    stratified_split,
)
from training.label_plan import LabelPlan, plan_labels, read_mapping, relabel
from training.registry import ModelRegistry, is_registry
from training.warm_start import warm_start_transformer

logger = logging.getLogger(__name__)


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
