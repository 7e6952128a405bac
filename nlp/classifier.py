"""Complaint classifiers: the one abstraction, the on-disk format, and loading.

A model is one directory. Every type writes ``hotline.json`` (:class:`ModelInfo`: type, labels,
input length, calibration temperature, per-class review thresholds, version) beside its own
files:

- ``transformer``: a transformers ``save_pretrained`` directory (``config.json`` with
  ``id2label``, ``model.safetensors``, tokenizer files) loadable with
  ``AutoModelForSequenceClassification`` on its own (:mod:`nlp.transformer`);
- ``tfidf``: character n-gram and/or jieba-word TF-IDF features with a linear classifier,
  stored as ``tfidf_vocab.json`` + ``tfidf.safetensors`` (no pickles; :mod:`nlp.tfidf`);
- ``fusion``: a transformer and a TF-IDF model in ``transformer/`` and ``tfidf/`` whose
  temperature-scaled log-probabilities are mixed with a weight chosen on held-out data
  (:mod:`nlp.fusion`);
- ``onnx``: a ``transformer`` exported by ``hotline export --onnx`` (``model.onnx``, fp32 or
  int8, plus the tokenizer), run by ONNX Runtime (:class:`nlp.transformer.OnnxClassifier`).

Every type implements :class:`Classifier` once: ``encode`` (texts to model inputs, with a flag
for each text cut to fit), ``input_lengths`` (padded size of each input, for length-grouped
batches) and ``forward`` (raw logits of one batch). Scheduling those batches is not the model's
business: :mod:`nlp.batching` does it for :meth:`Classifier.logits` and for the inference engine
alike. Probabilities are ``softmax(logits / temperature)`` so that calibration (fitted by
``training.evaluate``) is one number stored with the model.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from common.errors import ModelNotFoundError
from common.files import atomic_write_json
from nlp.batching import plan_batches, run_batches

logger = logging.getLogger(__name__)

INFO_FILE = "hotline.json"
ModelType = Literal["transformer", "tfidf", "fusion", "onnx"]
ONNX_FILE = "model.onnx"
FORMAT_VERSION = 1


@dataclass
class ModelInfo:
    """What travels with every model directory (``hotline.json``)."""

    model_type: ModelType
    labels: list[str]
    max_length: int = 256
    head_tokens: int | None = None
    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    name: str | None = None
    base_model: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    fusion_weight: float | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.model_type not in ("transformer", "tfidf", "fusion", "onnx"):
            raise ValueError(
                f"model_type must be transformer, tfidf, fusion or onnx, got {self.model_type!r}"
            )
        if len(self.labels) < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        if self.max_length < 8:
            raise ValueError(f"max_length must be >= 8, got {self.max_length}")
        if self.head_tokens is not None and not 0 <= self.head_tokens <= self.max_length:
            raise ValueError(f"head_tokens must be between 0 and max_length, got {self.head_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        unknown = set(self.thresholds) - set(self.labels)
        if unknown:
            raise ValueError(f"thresholds for unknown labels: {sorted(unknown)}")
        if self.model_type == "fusion" and not (
            self.fusion_weight is not None and 0 <= self.fusion_weight <= 1
        ):
            raise ValueError("a fusion model needs fusion_weight in [0, 1]")

    @property
    def resolved_head_tokens(self) -> int:
        # Sun et al. (2019) found head 128 + tail 382 best for 512 tokens: a quarter of the
        # content budget for the head, the rest for the tail.
        content = self.max_length - 2
        return self.head_tokens if self.head_tokens is not None else content // 4

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, directory: str | os.PathLike[str]) -> Path:
        return atomic_write_json(Path(directory) / INFO_FILE, self.to_dict())

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ModelInfo:
        path = Path(directory) / INFO_FILE
        if not path.exists():
            raise ModelNotFoundError(
                f"{directory} is not a hotline model (no {INFO_FILE}); train one with `hotline train` "
                "or pass the directory that `hotline train -o DIR` wrote"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version", 1) > FORMAT_VERSION:
            raise ModelNotFoundError(
                f"{directory} was written by a newer hotline (model format {data['format_version']}); upgrade hotline"
            )
        return cls.from_dict(data)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


@runtime_checkable
class Classifier(Protocol):
    """What every model type implements once; callers schedule batches (:mod:`nlp.batching`)."""

    info: ModelInfo

    @property
    def labels(self) -> list[str]: ...

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], list[bool]]:
        """One model input per text, and for each text whether it was cut to fit the model."""
        ...

    def input_lengths(self, inputs: Sequence[Any]) -> list[int] | None:
        """The padded size of each input (tokens), or ``None`` when inputs are not padded."""
        ...

    def forward(self, inputs: Sequence[Any]) -> np.ndarray:
        """Raw scores of one batch of inputs, shape (len(inputs), len(labels))."""
        ...

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Raw scores, shape (len(texts), len(labels)), before temperature scaling."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> Path: ...


class ClassifierBase:
    """What every model type shares: its labels, and logits from encode + batched forward."""

    info: ModelInfo

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        model: Classifier = self  # type: ignore[assignment]  # subclasses implement the rest
        inputs, _ = model.encode(texts)
        return run_batches(model, inputs, plan_batches(model, inputs, batch_size=batch_size))


def predict_proba(model: Classifier, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """Calibrated class probabilities (the model's stored temperature applied)."""
    return softmax(model.logits(texts, batch_size=batch_size), model.info.temperature)


# -- review routing and registries ------------------------------------------------------------------


def needs_review(proba: np.ndarray, info: ModelInfo) -> np.ndarray:
    """Flag predictions whose calibrated probability is below their class's review threshold.

    ``proba`` is ``predict_proba(model, texts)`` (temperature applied). A row is flagged when
    ``proba[top] < info.thresholds[labels[top]]``; classes without a threshold are never
    flagged. Thresholds are chosen per class on the evaluation split by ``hotline train``
    (the lowest confidence reaching a target precision, see ``training.thresholds``).
    """
    p = np.asarray(proba)
    if p.ndim != 2 or p.shape[1] != len(info.labels):
        raise ValueError(f"proba must have shape (n, {len(info.labels)}), got {p.shape}")
    if len(p) == 0:
        return np.zeros(0, dtype=bool)
    limit = np.array([info.thresholds.get(label, 0.0) for label in info.labels], dtype=np.float64)
    top = p.argmax(axis=1)
    return p[np.arange(len(p)), top].astype(np.float64) < limit[top]


REGISTRY_POINTER = "current"


def resolve_model_dir(path: str | os.PathLike[str]) -> Path:
    """The model directory that ``path`` stands for: a model directory or a model registry.

    A model directory holds ``hotline.json``. A registry (``hotline retrain``/``hotline model``,
    see ``training.registry``) holds versions ``v1/``, ``v2/`` ... and a small text file
    ``current`` naming the version in service (a file, not a symlink, so that it works on
    Windows shares); the version it names is returned. Raises :class:`ModelNotFoundError` with
    the command that fixes the problem.
    """
    d = Path(path)
    if not d.is_dir():
        raise ModelNotFoundError(
            f"model directory {path} not found; train one with `hotline train --train FILE -o DIR` "
            "or point --model at an existing model directory"
        )
    if (d / INFO_FILE).is_file():
        return d
    pointer = d / REGISTRY_POINTER
    if pointer.is_file():
        version = pointer.read_text(encoding="utf-8").strip()
        target = d / version
        if not version or Path(version).name != version or not (target / INFO_FILE).is_file():
            raise ModelNotFoundError(
                f"model registry {d}: `{REGISTRY_POINTER}` names {version!r}, which is not a model "
                f"version in the registry; pick one with `hotline model list --registry {d}` and "
                f"`hotline model promote VERSION --registry {d}`"
            )
        return target
    return d  # ModelInfo.load explains what is missing


def load_classifier(
    directory: str | os.PathLike[str], *, device: str = "cpu", num_threads: int | None = None
) -> Classifier:
    """Load any hotline model directory or registry (the type is read from ``hotline.json``).

    ``num_threads`` caps the CPU threads of inference (torch's process-wide setting, or the ONNX
    Runtime session's); ``None`` keeps the library default.
    """
    # The model types import this module (ModelInfo, ClassifierBase): imported when one is loaded.
    from nlp.fusion import FusionClassifier
    from nlp.tfidf import TfidfClassifier
    from nlp.transformer import OnnxClassifier, TransformerClassifier

    d = resolve_model_dir(directory)
    info = ModelInfo.load(d)
    if info.model_type == "transformer":
        return TransformerClassifier.load(d, device=device, num_threads=num_threads)
    if info.model_type == "onnx":
        return OnnxClassifier.load(d, num_threads=num_threads)
    if info.model_type == "tfidf":
        return TfidfClassifier.load(d)
    return FusionClassifier.load(d, device=device, num_threads=num_threads)
