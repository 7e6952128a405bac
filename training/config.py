"""The training job's configuration: one typed dataclass, validated at construction.

:class:`TrainConfig` covers all three model types (``transformer``, ``tfidf``, ``fusion``):
fields that a type does not use are ignored by it and still saved, so that
``training_config.json`` next to a model says exactly how it was made.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

CONFIG_FILE = "training_config.json"

ModelType = Literal["transformer", "tfidf", "fusion"]
Scheduler = Literal["linear", "cosine", "constant"]
MixedPrecision = Literal["no", "fp16", "bf16"]
ClassWeight = Literal["none", "balanced"]
TfidfLinear = Literal["svm", "logreg"]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass
class TrainConfig:
    """Everything ``hotline train`` needs; see ``docs/training.md`` for the reasoning behind defaults."""

    train_file: str
    output_dir: str
    model_type: ModelType = "transformer"
    base_model: str | None = None
    eval_file: str | None = None
    eval_split: float = 0.1
    # Canonical column -> source header (None: detected from the headers, see ingest.options.ColumnMap).
    columns: dict[str, str | None] = field(default_factory=dict)
    encoding: str | None = None
    name: str | None = None
    seed: int = 42

    # -- transformer ---------------------------------------------------------------------------
    max_length: int = 256
    head_tokens: int | None = None
    epochs: int = 3
    max_steps: int | None = None
    batch_size: int = 16
    eval_batch_size: int = 64
    gradient_accumulation_steps: int = 1
    learning_rate: float = 5e-5
    # The freshly initialised head (classifier + pooler) learns from scratch; a higher rate
    # there lets it catch up with the pretrained body within one or two epochs.
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    scheduler: Scheduler = "linear"
    max_grad_norm: float = 1.0
    mixed_precision: MixedPrecision = "no"
    freeze_embeddings: bool = False
    class_weight: ClassWeight = "none"
    label_smoothing: float = 0.0
    group_by_length: bool = True
    eval_steps: int | None = None
    early_stopping_patience: int | None = 2
    checkpoint_steps: int | None = None
    keep_checkpoints: int = 2
    checkpoint_dir: str | None = None
    resume_from: str | None = None

    # -- tfidf -----------------------------------------------------------------------------------
    tfidf_char_ngrams: tuple[int, int] | None = (1, 3)
    tfidf_word_ngrams: tuple[int, int] | None = None
    tfidf_max_features: int | None = 300_000
    tfidf_min_df: int = 2
    tfidf_classifier: TfidfLinear = "svm"
    tfidf_c_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0, 10.0)

    # -- fusion ----------------------------------------------------------------------------------
    fusion_weight_grid: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))

    # -- after training: calibration, review thresholds, replay ----------------------------------
    calibrate: bool = True
    # A TF-IDF model's scores on its own training rows are near-certain; temperature and review
    # thresholds are fitted on out-of-fold scores (this many folds) plus the evaluation split.
    calibration_folds: int = 5
    # An office auto-accepts a complaint only where 95% of such predictions are right.
    target_precision: float = 0.95
    min_threshold_support: int = 10
    replay_per_class: int = 300

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists.
        for name in ("tfidf_char_ngrams", "tfidf_word_ngrams", "tfidf_c_grid", "fusion_weight_grid"):
            value = getattr(self, name)
            if isinstance(value, list):
                setattr(self, name, tuple(value))
        _check(bool(self.train_file), "train_file is required: pass --train FILE")
        _check(bool(self.output_dir), "output_dir is required: pass -o DIR")
        _check(
            self.model_type in ("transformer", "tfidf", "fusion"),
            f"model_type must be transformer, tfidf or fusion, got {self.model_type!r}",
        )
        if self.model_type in ("transformer", "fusion"):
            _check(
                bool(self.base_model),
                f"a {self.model_type} model needs --base-model DIR|NAME (build one with "
                "`hotline base-model build --out DIR`), or use --model-type tfidf",
            )
        _check(
            0.0 < self.eval_split < 0.5,
            f"eval_split must be in (0, 0.5), got {self.eval_split}; or pass --eval FILE",
        )
        _check(self.max_length >= 8, f"max_length must be >= 8, got {self.max_length}")
        _check(
            self.head_tokens is None or 0 <= self.head_tokens <= self.max_length - 2,
            f"head_tokens must be between 0 and max_length - 2, got {self.head_tokens}",
        )
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1 (or unset)")
        _check(self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1")
        _check(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be >= 1")
        _check(0 < self.learning_rate < 1, f"learning_rate must be in (0, 1), got {self.learning_rate}")
        _check(
            self.head_learning_rate is None or 0 < self.head_learning_rate < 1,
            f"head_learning_rate must be in (0, 1), got {self.head_learning_rate}",
        )
        _check(self.weight_decay >= 0, "weight_decay must be >= 0")
        _check(0 <= self.warmup_ratio < 1, f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        _check(
            self.scheduler in ("linear", "cosine", "constant"),
            f"scheduler must be linear, cosine or constant, got {self.scheduler!r}",
        )
        _check(self.max_grad_norm > 0, "max_grad_norm must be > 0")
        _check(
            self.mixed_precision in ("no", "fp16", "bf16"),
            f"mixed_precision must be no, fp16 or bf16, got {self.mixed_precision!r}",
        )
        _check(
            self.class_weight in ("none", "balanced"),
            f"class_weight must be none or balanced, got {self.class_weight!r}",
        )
        _check(0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)")
        _check(self.eval_steps is None or self.eval_steps >= 1, "eval_steps must be >= 1 (or unset)")
        _check(
            self.early_stopping_patience is None or self.early_stopping_patience >= 0,
            "early_stopping_patience must be >= 0 (0 or unset: no early stopping)",
        )
        _check(
            self.checkpoint_steps is None or self.checkpoint_steps >= 1,
            "checkpoint_steps must be >= 1 (or unset: checkpoint at the end of each epoch)",
        )
        _check(self.keep_checkpoints >= 1, "keep_checkpoints must be >= 1")
        for name in ("tfidf_char_ngrams", "tfidf_word_ngrams"):
            rng = getattr(self, name)
            _check(
                rng is None or (len(rng) == 2 and 1 <= rng[0] <= rng[1] <= 6),
                f"{name} must be (min, max) with 1 <= min <= max <= 6, got {rng}",
            )
        _check(
            self.tfidf_char_ngrams is not None or self.tfidf_word_ngrams is not None,
            "a tfidf model needs character n-grams, word n-grams or both",
        )
        _check(self.tfidf_min_df >= 1, "tfidf_min_df must be >= 1")
        _check(
            self.tfidf_classifier in ("svm", "logreg"),
            f"tfidf_classifier must be svm or logreg, got {self.tfidf_classifier!r}",
        )
        _check(len(self.tfidf_c_grid) >= 1 and all(c > 0 for c in self.tfidf_c_grid), "tfidf_c_grid: C > 0")
        _check(
            len(self.fusion_weight_grid) >= 1 and all(0 <= w <= 1 for w in self.fusion_weight_grid),
            "fusion_weight_grid values must be in [0, 1]",
        )
        _check(0 < self.target_precision <= 1, "target_precision must be in (0, 1]")
        _check(
            self.calibration_folds == 0 or self.calibration_folds >= 2,
            "calibration_folds must be 0 (evaluation split only) or at least 2",
        )
        _check(self.min_threshold_support >= 1, "min_threshold_support must be >= 1")
        _check(self.replay_per_class >= 0, "replay_per_class must be >= 0")

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.output_dir) / "checkpoints"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, directory: str | os.PathLike[str]) -> Path:
        path = Path(directory) / CONFIG_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TrainConfig:
        return cls.from_dict(json.loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8")))
