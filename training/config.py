"""The training jobs' configurations: typed, validated pydantic models (:class:`common.config.JobConfig`).

:class:`TrainConfig` covers all three model types (``transformer``, ``tfidf``, ``fusion``):
fields that a type does not use are ignored by it and still saved, so that
``training_config.json`` next to a model says exactly how it was made. :class:`RetrainConfig`
holds the settings of ``hotline retrain``. Whatever is wrong raises one
:class:`~common.errors.ConfigError` naming every bad field.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from common.config import JobConfig

CONFIG_FILE = "training_config.json"

ModelType = Literal["transformer", "tfidf", "fusion"]
Scheduler = Literal["linear", "cosine", "constant"]
MixedPrecision = Literal["no", "fp16", "bf16"]
ClassWeight = Literal["none", "balanced"]
TfidfLinear = Literal["svm", "logreg"]

NGramRange = tuple[int, int]


def _config_path(path: str | os.PathLike[str]) -> Path:
    """A model directory stands for the ``training_config.json`` inside it."""
    p = Path(path)
    return p / CONFIG_FILE if p.is_dir() else p


class TrainConfig(JobConfig):
    """Everything ``hotline train`` needs; see ``docs/training.md`` for the reasoning behind defaults."""

    train_file: str = Field(min_length=1, description="labelled complaint log to train on")
    output_dir: str = Field(min_length=1, description="model directory to write")
    model_type: ModelType = Field("transformer", description="transformer, tfidf or fusion (both, mixed)")
    base_model: str | None = Field(
        None,
        validate_default=True,
        description="pretrained encoder (directory or hub name in the local cache) to fine-tune",
    )
    eval_file: str | None = Field(None, description="labelled evaluation file (default: a split)")
    eval_split: float = Field(0.1, description="without eval_file: stratified share held out, in (0, 0.5)")
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="canonical column -> source header (unset: detected from the headers)",
    )
    encoding: str | None = Field(None, description="text encoding of the input files (unset: detected)")
    name: str | None = Field(None, description="model name for the model card")
    seed: int = Field(42, description="split, data order, initialisation, dropout")

    # -- transformer ---------------------------------------------------------------------------
    max_length: int = Field(256, ge=8, description="tokens per text (longer texts cut head + tail)")
    head_tokens: int | None = Field(
        None, description="tokens kept from the start of a long text (unset: a quarter)"
    )
    epochs: int = Field(3, ge=1, description="passes over the training data")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer updates")
    batch_size: int = Field(16, ge=1, description="training texts per batch and process")
    eval_batch_size: int = Field(64, ge=1, description="evaluation texts per batch")
    gradient_accumulation_steps: int = Field(1, ge=1, description="batches per optimizer update")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="learning rate of the encoder")
    # The freshly initialised head (classifier + pooler) learns from scratch; a higher rate
    # there lets it catch up with the pretrained body within one or two epochs.
    head_learning_rate: float | None = Field(
        None, gt=0, lt=1, description="learning rate of the new head (unset: learning_rate)"
    )
    weight_decay: float = Field(0.01, ge=0, description="AdamW decay (not on biases and LayerNorm)")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="share of the updates spent warming up")
    scheduler: Scheduler = Field("linear", description="decay after the warm-up")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    mixed_precision: MixedPrecision = Field("no", description="no, fp16 (GPU) or bf16")
    freeze_embeddings: bool = Field(False, description="do not train the word-embedding table")
    class_weight: ClassWeight = Field("none", description="balanced: loss weights n / (k x n_class)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="label smoothing of the loss")
    group_by_length: bool = Field(True, description="batch texts of similar length together")
    eval_steps: int | None = Field(None, ge=1, description="evaluate every N updates (unset: each epoch)")
    early_stopping_patience: int | None = Field(
        2, ge=0, description="stop after N evaluations without improvement (0 or unset: never)"
    )
    checkpoint_steps: int | None = Field(
        None, ge=1, description="save the training state every N updates (unset: each epoch)"
    )
    keep_checkpoints: int = Field(2, ge=1, description="periodic checkpoints kept (the newest)")
    checkpoint_dir: str | None = Field(
        None, description="where checkpoints go (unset: output_dir/checkpoints)"
    )
    resume_from: str | None = Field(
        None, description="a checkpoint, or the output directory of an interrupted run, to continue"
    )

    # -- tfidf -----------------------------------------------------------------------------------
    tfidf_char_ngrams: NGramRange | None = Field((1, 3), description="character n-gram range (min, max)")
    tfidf_word_ngrams: NGramRange | None = Field(None, description="jieba word n-gram range (min, max)")
    tfidf_max_features: int | None = Field(300_000, description="vocabulary size cap")
    tfidf_min_df: int = Field(2, ge=1, description="rows an n-gram must occur in")
    tfidf_classifier: TfidfLinear = Field("svm", description="svm (LinearSVC) or logreg")
    tfidf_c_grid: tuple[float, ...] = Field(
        (0.1, 0.3, 1.0, 3.0, 10.0), min_length=1, description="C values tried on the evaluation split"
    )

    # -- fusion ----------------------------------------------------------------------------------
    fusion_weight_grid: tuple[float, ...] = Field(
        tuple(round(0.05 * i, 2) for i in range(21)),
        min_length=1,
        description="transformer shares tried when mixing the two models",
    )

    # -- after training: calibration, review thresholds, replay ----------------------------------
    calibrate: bool = Field(True, description="fit a temperature on held-out scores")
    # A TF-IDF model's scores on its own training rows are near-certain; temperature and review
    # thresholds are fitted on out-of-fold scores (this many folds) plus the evaluation split.
    calibration_folds: int = Field(
        5, ge=0, description="folds of out-of-fold TF-IDF scores (0: evaluation split only)"
    )
    # An office auto-accepts a complaint only where 95% of such predictions are right.
    target_precision: float = Field(0.95, gt=0, le=1, description="review thresholds: precision per class")
    min_threshold_support: int = Field(10, ge=1, description="rows a class needs for its own threshold")
    replay_per_class: int = Field(300, ge=0, description="rows per class kept for retraining")

    @field_validator("base_model")
    @classmethod
    def _base_model_for_transformers(cls, value: str | None, info: ValidationInfo) -> str | None:
        model_type = info.data.get("model_type")
        if model_type in ("transformer", "fusion") and not value:
            raise ValueError(
                f"a {model_type} model needs a base_model (--base-model DIR|NAME; build one with "
                "`hotline base-model build --out DIR`), or model_type tfidf"
            )
        return value

    @field_validator("eval_split")
    @classmethod
    def _split_share(cls, value: float) -> float:
        if not 0.0 < value < 0.5:
            raise ValueError(f"must be in (0, 0.5), got {value}; or set eval_file")
        return value

    @field_validator("head_tokens")
    @classmethod
    def _head_within_length(cls, value: int | None, info: ValidationInfo) -> int | None:
        max_length = info.data.get("max_length")
        if value is not None and max_length is not None and not 0 <= value <= max_length - 2:
            raise ValueError(f"must be between 0 and max_length - 2 ({max_length - 2}), got {value}")
        return value

    @field_validator("tfidf_char_ngrams", "tfidf_word_ngrams")
    @classmethod
    def _ngram_range(cls, value: NGramRange | None) -> NGramRange | None:
        if value is not None and not 1 <= value[0] <= value[1] <= 6:
            raise ValueError(f"must be (min, max) with 1 <= min <= max <= 6, got {value}")
        return value

    @field_validator("tfidf_c_grid")
    @classmethod
    def _positive_c(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not all(c > 0 for c in value):
            raise ValueError(f"every C must be > 0, got {value}")
        return value

    @field_validator("fusion_weight_grid")
    @classmethod
    def _unit_weights(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not all(0 <= w <= 1 for w in value):
            raise ValueError(f"values must be in [0, 1], got {value}")
        return value

    @field_validator("calibration_folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (evaluation split only) or at least 2")
        return value

    @model_validator(mode="after")
    def _some_ngrams(self) -> TrainConfig:
        if self.tfidf_char_ngrams is None and self.tfidf_word_ngrams is None:
            raise ValueError(
                "tfidf_char_ngrams and tfidf_word_ngrams are both unset: a tfidf model needs "
                "character n-grams, word n-grams or both"
            )
        return self

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.output_dir) / "checkpoints"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``training_config.json`` (``path``: the model directory, or the file itself)."""
        return super().save(_config_path(path))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read ``training_config.json`` (``path``: the model directory, or the file itself)."""
        return super().load(_config_path(path))


class RetrainConfig(JobConfig):
    """``hotline retrain`` settings; training settings left unset default to the champion's."""

    model: str = Field(min_length=1, description="current model directory or registry")
    new_file: str = Field(min_length=1, description="newly labelled complaints")
    registry: str | None = Field(None, description="registry to keep versions in (needed with a model dir)")
    mapping_file: str | None = Field(None, description="CSV old,new: rename, merge, split labels")
    tolerance: float = Field(
        0.01, ge=0, lt=1, description="largest macro-F1 drop on shared labels still promoted"
    )
    force: bool = Field(False, description="promote even when the comparison fails")
    holdout: float = Field(0.2, gt=0, lt=0.9, description="share of the new data held out for the comparison")
    eval_split: float = Field(0.1, gt=0, lt=0.5, description="share of replay + new data for early stopping")
    epochs: int | None = Field(None, ge=1, description="training epochs (unset: the champion's)")
    max_steps: int | None = Field(None, ge=1, description="optimizer updates cap (unset: the champion's)")
    learning_rate: float | None = Field(None, description="learning rate (unset: the champion's)")
    batch_size: int | None = Field(None, ge=1, description="batch size (unset: the champion's)")
    replay_per_class: int | None = Field(
        None, description="replay rows per class kept (unset: the champion's)"
    )
    imprint_examples: int = Field(
        64, ge=1, description="examples of a new category that imprint its head row"
    )
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="canonical column -> source header (unset: detected from the headers)",
    )
    encoding: str | None = Field(None, description="text encoding of the new file (unset: detected)")
    seed: int = Field(42, description="splits and imprint sampling")
