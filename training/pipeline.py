"""``hotline train`` end to end: read, split, fit, calibrate, choose thresholds, export.

Output directory (``-o DIR``), the *best* model, ready to serve::

    DIR/
      config.json, model.safetensors, tokenizer files   (transformer: save_pretrained layout)
      tfidf_vocab.json, tfidf.safetensors               (tfidf)
      transformer/, tfidf/                              (fusion: the two parts)
      hotline.json            model type, labels, temperature, review thresholds, max length
      training_config.json    the TrainConfig that made it
      metrics.json            evaluation-split metrics, calibration, thresholds, data fingerprints,
                              training history
      README.md               model card
      replay.parquet          stratified sample of the training data (masked) for `hotline retrain`
      eval.parquet            the evaluation split (masked); seeds a registry's fixed evaluation set
      eval_report/            `hotline evaluate`'s report on the evaluation split
      checkpoints/            transformer only: best/ (best weights, save_pretrained),
                              last/ (accelerate state at the end: `--resume-from DIR/checkpoints/last`
                              continues training), step-N/ (periodic states, the newest kept),
                              tokenized/ (the tokenised data, reused by a run on the same data)
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InputFileError
from common.files import atomic_write_json
from nlp.classifier import ModelInfo, softmax
from nlp.transformer import TransformerClassifier
from training.calibration import calibration_summary, fit_temperature
from training.config import TrainConfig
from training.data import (
    EVAL_FILE,
    REPLAY_FILE,
    check_eval_labels,
    file_sha256,
    frame_sha256,
    label_counts,
    load_labelled,
    ordered_labels,
    replay_sample,
    save_frame,
    stratified_split,
)
from training.tokenized import TOKENIZED_DIR

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
REPORT_DIR = "eval_report"


@dataclass
class TrainResult:
    output_dir: Path
    info: ModelInfo
    metrics: dict[str, Any]
    seconds: float

    def summary(self) -> str:
        ev = self.metrics["eval"]
        return (
            f"{self.info.model_type} model written to {self.output_dir}\n"
            f"evaluation split: accuracy {ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f}, "
            f"weighted-F1 {ev['weighted_f1']:.4f} ({ev['n']} rows); temperature "
            f"{self.info.temperature:.3f}; {self.seconds:.0f} s"
        )


def load_data(config: TrainConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Training and evaluation frames and a description of where they came from."""
    out = Path(config.output_dir)
    train = load_labelled(
        config.train_file, columns=config.columns, encoding=config.encoding, rejects=out / "rejects.csv"
    )
    data: dict[str, Any] = {
        "train_file": str(config.train_file),
        "train_sha256": file_sha256(config.train_file),
    }
    if config.eval_file:
        evaluation = load_labelled(
            config.eval_file,
            columns=config.columns,
            encoding=config.encoding,
            rejects=out / "eval.rejects.csv",
            min_classes=1,
        )
        check_eval_labels(train, evaluation, config.eval_file)
        data["eval_source"] = f"file `{config.eval_file}`"
        data["eval_sha256"] = file_sha256(config.eval_file)
    else:
        train, evaluation = stratified_split(train, config.eval_split, config.seed)
        if evaluation.empty:
            raise InputFileError(
                "too few rows to split off an evaluation set (every class has a single row); add "
                "rows or pass --eval FILE",
                path=str(config.train_file),
            )
        data["eval_source"] = (
            f"stratified {config.eval_split:.0%} split of the training file (seed {config.seed})"
        )
    return train, evaluation, data


def is_main_process() -> bool:
    """False on the secondary processes of ``accelerate launch`` / ``torchrun`` (they only train)."""
    # Read from the launcher's environment rather than PartialState(): creating the state here,
    # before the trainer's Accelerator, would fix its device type without the Accelerator's
    # options (ACCELERATE_USE_CPU among them) and leave a multi-CPU run undistributed.
    return int(os.environ.get("RANK", "0")) == 0


def run_training(config: TrainConfig) -> TrainResult | None:
    """Read the data named in ``config`` and train, calibrate and export the model.

    Returns None on the secondary processes of a distributed run.
    """
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, evaluation, data = load_data(config)
    return fit(config, train, evaluation, data)


def fit(
    config: TrainConfig,
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    data: dict[str, Any],
    *,
    labels: list[str] | None = None,
    warm_start: tuple[Any, Any] | None = None,
) -> TrainResult | None:
    """Train on in-memory frames (``hotline retrain`` passes replay + new data and a warm start).

    Returns None on the secondary processes of a distributed run.
    """
    started = time.perf_counter()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = labels or ordered_labels(train)
    main = is_main_process()
    ckpt = config.resolved_checkpoint_dir
    if main and config.model_type != "tfidf" and not config.resume_from and ckpt.exists():
        # Stale step-N folders of an earlier run would be taken for this run's newest ones; its
        # tokenised data stays (a cache keyed by data and settings, reused when they match).
        logger.info("removing checkpoints of an earlier run in %s", ckpt)
        for entry in ckpt.iterdir():
            if entry.name == TOKENIZED_DIR:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    if main:
        config.save(out)
    data = {
        **data,
        "train_rows": len(train),
        "eval_rows": len(evaluation),
        "train_fingerprint": frame_sha256(train),
        "eval_fingerprint": frame_sha256(evaluation),
        "label_counts": {
            "train": label_counts(train["label"], labels),
            "eval": label_counts(evaluation["label"], labels),
        },
    }
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[v] for v in evaluation["label"]])
    texts = list(evaluation["text"])
    extras: dict[str, Any] = {}
    calibration_set: tuple[np.ndarray, np.ndarray] | None = None

    if config.model_type == "tfidf":
        from training.tfidf import train_tfidf

        model, extras["tfidf"] = train_tfidf(config, train, evaluation, labels)
        logits = model.logits(texts)
        extras["training"] = {"device": "cpu", "seconds": extras["tfidf"]["fit_seconds"]}
        if config.calibrate and config.calibration_folds:
            from training.tfidf import cross_val_logits

            calibration_set = cross_val_logits(
                config, train, labels, extras["tfidf"]["C"], folds=config.calibration_folds
            )
    else:
        transformer, extras["training"] = _train_transformer_part(
            config, train, evaluation, labels, warm_start
        )
        if not main:
            return None  # in a distributed run the main process calibrates and writes the model
        t_logits = transformer.logits(texts, batch_size=config.eval_batch_size)
        if config.model_type == "transformer":
            model, logits = transformer, t_logits
        else:
            from nlp.fusion import FusionClassifier, fuse_logits
            from training.fusion import choose_fusion_weight
            from training.tfidf import train_tfidf

            tfidf, extras["tfidf"] = train_tfidf(config, train, evaluation, labels)
            f_logits = tfidf.logits(texts)
            for part, part_logits in ((transformer, t_logits), (tfidf, f_logits)):
                part.info.temperature = fit_temperature(part_logits, y) if config.calibrate else 1.0
            weight, search = choose_fusion_weight(
                t_logits,
                transformer.info.temperature,
                f_logits,
                tfidf.info.temperature,
                y,
                config.fusion_weight_grid,
            )
            extras["fusion"] = {
                "weight": weight,
                "transformer_temperature": transformer.info.temperature,
                "tfidf_temperature": tfidf.info.temperature,
                "weight_search": search,
            }
            logger.info("fusion weight %.2f (transformer share) chosen on the evaluation split", weight)
            info = model_info(config, "fusion", labels, fusion_weight=weight)
            model = FusionClassifier(info, transformer, tfidf)
            logits = fuse_logits(
                t_logits, transformer.info.temperature, f_logits, tfidf.info.temperature, weight
            )
    return finalize(
        model, config, train, evaluation, logits, data, extras, started, calibration_set=calibration_set
    )


def model_info(config: TrainConfig, model_type: str, labels: list[str], **extra: Any) -> ModelInfo:
    """``hotline.json`` of a model trained with ``config`` (before calibration and thresholds)."""
    return ModelInfo(
        model_type,
        labels,
        max_length=config.max_length,
        head_tokens=config.head_tokens,
        base_model=config.base_model,
        name=config.name,
        **extra,
    )


def _train_transformer_part(
    config: TrainConfig,
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    labels: list[str],
    warm_start: tuple[Any, Any] | None,
) -> tuple[TransformerClassifier, dict[str, Any]]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from training.trainer import train_transformer

    model, tokenizer = warm_start if warm_start is not None else (None, None)
    loop = train_transformer(config, train, evaluation, labels, model=model, tokenizer=tokenizer)
    best = AutoModelForSequenceClassification.from_pretrained(loop.best_dir).eval()
    tok = AutoTokenizer.from_pretrained(loop.best_dir)
    info = model_info(config, "transformer", labels)
    s = loop.state
    details = {
        "device": loop.device,
        "num_processes": loop.num_processes,
        "seconds": s.train_seconds,
        "steps": s.global_step,
        "best_step": s.best_step,
        "best_eval_macro_f1": s.best_metric,
        "stopped_early": s.stopped_early,
        "history": s.history,
        "best_dir": str(loop.best_dir),
        "last_state": str(loop.last_dir),
    }
    return TransformerClassifier(best, tok, info), details


def finalize(
    model: Any,
    config: TrainConfig,
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    logits: np.ndarray,
    data: dict[str, Any],
    extras: dict[str, Any],
    started: float,
    *,
    calibration_set: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainResult:
    """Calibrate, choose review thresholds, evaluate, and write the model directory."""
    from training.evaluate import evaluate_predictions, write_report
    from training.model_card import write_model_card
    from training.thresholds import choose_thresholds

    out = Path(config.output_dir)
    info: ModelInfo = model.info
    labels = info.labels
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[v] for v in evaluation["label"]])
    # Temperature and thresholds are fitted on the evaluation split plus, where the model type
    # gives them, out-of-fold scores on the training rows: more rows than the 10% split alone,
    # and scores that behave like unseen complaints. The report stays on the evaluation split.
    fit_logits, fit_y = logits, y
    if calibration_set is not None and len(calibration_set[1]):
        fit_logits = np.vstack([calibration_set[0], logits])
        fit_y = np.concatenate([calibration_set[1], y])
    info.temperature = fit_temperature(fit_logits, fit_y) if config.calibrate else 1.0
    proba = softmax(fit_logits, info.temperature)
    info.thresholds = choose_thresholds(
        proba,
        fit_y,
        labels,
        target_precision=config.target_precision,
        min_support=config.min_threshold_support,
    )
    model.save(out)

    replay = replay_sample(train, config.replay_per_class, config.seed)
    save_frame(replay, out / REPLAY_FILE)
    save_frame(evaluation, out / EVAL_FILE)
    data["replay_rows"] = len(replay)

    report = evaluate_predictions(evaluation, logits, info, model=str(out), data=None)
    write_report(report, out / REPORT_DIR)
    ev = {k: v for k, v in report.metrics.items()}
    metrics: dict[str, Any] = {
        "model_type": info.model_type,
        "labels": labels,
        "eval": ev,
        "calibration": calibration_summary(logits, y, info.temperature),
        "thresholds": {
            "fitted_on_rows": len(fit_y),
            "out_of_fold_rows": 0 if calibration_set is None else len(calibration_set[1]),
            "target_precision": config.target_precision,
            "min_support": config.min_threshold_support,
            "values": info.thresholds,
        },
        "coverage": report.coverage,
        "data": data,
        **extras,
        "seconds_total": time.perf_counter() - started,
    }
    atomic_write_json(out / METRICS_FILE, metrics)
    write_model_card(out, info, metrics, config.to_dict())
    logger.info(
        "%s model saved to %s: eval macro-F1 %.4f, accuracy %.4f, temperature %.3f",
        info.model_type,
        out,
        ev["macro_f1"],
        ev["accuracy"],
        info.temperature,
    )
    return TrainResult(out, info, metrics, time.perf_counter() - started)
