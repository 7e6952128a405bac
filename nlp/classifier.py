"""Complaint classifiers: the model types, their on-disk format, and loading.

A model is one directory. Every type writes ``hotline.json`` (:class:`ModelInfo`: type, labels,
input length, calibration temperature, per-class review thresholds, version) beside its own
files:

- ``transformer``: a transformers ``save_pretrained`` directory (``config.json`` with
  ``id2label``, ``model.safetensors``, tokenizer files) loadable with
  ``AutoModelForSequenceClassification`` on its own;
- ``tfidf``: character n-gram and/or jieba-word TF-IDF features with a linear classifier,
  stored as ``tfidf_vocab.json`` + ``tfidf.safetensors`` (no pickles);
- ``fusion``: a transformer and a TF-IDF model in ``transformer/`` and ``tfidf/`` whose
  temperature-scaled log-probabilities are mixed with a weight chosen on held-out data;
- ``onnx``: a ``transformer`` exported by ``hotline export --onnx`` (``model.onnx``, fp32 or
  int8, plus the tokenizer), run by ONNX Runtime (:class:`OnnxClassifier`).

All types expose :meth:`Classifier.logits`; probabilities are ``softmax(logits / temperature)``
so that calibration (fitted by ``training.evaluate``) is one number stored with the model.
Long complaints are cut head + tail (:func:`head_tail_ids`): the opening says where and what,
the closing says what the caller wants, and the middle is usually narrative.
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
        path = Path(directory) / INFO_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path

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
    info: ModelInfo

    @property
    def labels(self) -> list[str]: ...

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Raw scores, shape (len(texts), len(labels)), before temperature scaling."""
        ...

    def save(self, directory: str | os.PathLike[str]) -> Path: ...


def predict_proba(model: Classifier, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
    """Calibrated class probabilities (the model's stored temperature applied)."""
    return softmax(model.logits(texts, batch_size=batch_size), model.info.temperature)


# -- head + tail truncation ------------------------------------------------------------------------


class SpecialTokens:
    """The ids a tokenizer puts around one sequence, found by encoding a probe.

    transformers 5 dropped ``build_inputs_with_special_tokens``; the tokenizer's own
    post-processor is the truth for BERT ([CLS] x [SEP]) and XLM-R (<s> x </s>) alike.
    """

    def __init__(self, tokenizer: Any) -> None:
        probe = "测试"
        with_special = tokenizer(probe, add_special_tokens=True)["input_ids"]
        content = tokenizer(probe, add_special_tokens=False)["input_ids"]
        for i in range(len(with_special) - len(content) + 1):
            if with_special[i : i + len(content)] == content:
                self.prefix = list(with_special[:i])
                self.suffix = list(with_special[i + len(content) :])
                break
        else:  # pragma: no cover - every HF tokenizer keeps the content contiguous
            raise ValueError("cannot locate content tokens inside the tokenizer's special-token template")

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def head_tail_ids(ids: Sequence[int], budget: int, head: int) -> list[int]:
    """Keep the first ``head`` and the last ``budget - head`` ids when ``ids`` is too long."""
    if len(ids) <= budget:
        return list(ids)
    head = min(head, budget)
    tail = budget - head
    return list(ids[:head]) + (list(ids[-tail:]) if tail else [])


def encode_head_tail(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    head_tokens: int,
    special: SpecialTokens | None = None,
) -> tuple[list[list[int]], list[bool]]:
    """Token ids with special tokens, cut head + tail to ``max_length``; and a truncated flag."""
    special = special or SpecialTokens(tokenizer)
    budget = max_length - special.count
    # Tokenizing a 50,000-character paste only to throw most of it away is slow: pre-cut the
    # characters generously (a token covers at least one character) before tokenizing.
    cap = 4 * max_length
    clipped = [t if len(t) <= 2 * cap else t[:cap] + " " + t[-cap:] for t in texts]
    encoded = tokenizer(list(clipped), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    out, truncated = [], []
    for ids, original, clip in zip(encoded, texts, clipped, strict=True):
        truncated.append(len(ids) > budget or len(original) != len(clip))
        out.append(special.prefix + head_tail_ids(ids, budget, head_tokens) + special.suffix)
    return out, truncated


# -- transformer ---------------------------------------------------------------------------------


class _TokenizedClassifier:
    """What the torch and ONNX classifiers share: labels, head + tail encoding, batched logits.

    Subclasses set ``tokenizer``, ``info`` and ``special`` and implement ``logits_from_ids``.
    """

    tokenizer: Any
    info: ModelInfo
    special: SpecialTokens

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_head_tail(
            self.tokenizer, texts, self.info.max_length, self.info.resolved_head_tokens, self.special
        )

    def logits_from_ids(self, ids: Sequence[Sequence[int]], *, batch_size: int = 32) -> np.ndarray:
        raise NotImplementedError

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        ids, _ = self.encode(texts)
        return self.logits_from_ids(ids, batch_size=batch_size)


class TransformerClassifier(_TokenizedClassifier):
    """A fine-tuned BERT-family sequence classifier (transformers ``save_pretrained`` layout)."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.special = SpecialTokens(tokenizer)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str = "cpu") -> TransformerClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        info = ModelInfo.load(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForSequenceClassification.from_pretrained(directory)
        model.to(device).eval()
        id2label = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if id2label != info.labels:
            raise ModelNotFoundError(
                f"{directory}: config.json id2label {id2label} disagrees with {INFO_FILE} labels {info.labels}; "
                "the directory was edited by hand — re-export it with `hotline train`"
            )
        return cls(model, tokenizer, info)

    def collate(self, batch_ids: Sequence[Sequence[int]]) -> dict[str, Any]:
        """Pad a batch of id lists into model inputs (attention mask included)."""
        import torch

        width = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for i, ids in enumerate(batch_ids):
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention}

    def logits_from_ids(self, ids: Sequence[Sequence[int]], *, batch_size: int = 32) -> np.ndarray:
        import torch

        device = next(self.model.parameters()).device
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(ids), batch_size):
                idx = order[start : start + batch_size]
                batch = {k: v.to(device) for k, v in self.collate([ids[i] for i in idx]).items()}
                out[idx] = self.model(**batch).logits.float().cpu().numpy()
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.config.id2label = dict(enumerate(self.labels))
        self.model.config.label2id = {label: i for i, label in enumerate(self.labels)}
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        self.info.save(out)
        return out


# -- TF-IDF + linear -------------------------------------------------------------------------------


@dataclass
class TfidfFeatures:
    """Which TF-IDF features a ``tfidf`` model uses."""

    char_ngrams: tuple[int, int] | None = (1, 3)
    word_ngrams: tuple[int, int] | None = (1, 2)
    max_features: int | None = 200_000
    min_df: int = 2
    sublinear_tf: bool = True

    def __post_init__(self) -> None:
        if self.char_ngrams is None and self.word_ngrams is None:
            raise ValueError("a tfidf model needs character n-grams, word n-grams or both")
        for name in ("char_ngrams", "word_ngrams"):
            rng = getattr(self, name)
            if rng is not None:
                rng = tuple(rng)
                setattr(self, name, rng)
                if not (len(rng) == 2 and 1 <= rng[0] <= rng[1] <= 6):
                    raise ValueError(f"{name} must be (min, max) with 1 <= min <= max <= 6, got {rng}")


def _jieba_words(text: str) -> list[str]:
    from nlp.segment import segment

    return segment(text)


class TfidfClassifier:
    """TF-IDF features (character n-grams and/or jieba words) with a linear classifier.

    Scores are the linear decision values; with the stored temperature their softmax is a
    calibrated probability. The vocabulary, IDF weights and linear weights are stored as JSON
    and safetensors, so loading runs no pickled code.
    """

    def __init__(
        self,
        info: ModelInfo,
        features: TfidfFeatures,
        vectorizers: dict[str, Any],
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        self.info = info
        self.features = features
        self.vectorizers = vectorizers
        # C order matters: safetensors writes the raw buffer, and scikit-learn's coef_ can be
        # Fortran-ordered.
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @staticmethod
    def make_vectorizers(features: TfidfFeatures) -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vecs: dict[str, Any] = {}
        common = {"sublinear_tf": features.sublinear_tf, "min_df": features.min_df, "dtype": np.float32}
        if features.char_ngrams is not None:
            vecs["char"] = TfidfVectorizer(
                analyzer="char",
                ngram_range=features.char_ngrams,
                max_features=features.max_features,
                **common,
            )
        if features.word_ngrams is not None:
            vecs["word"] = TfidfVectorizer(
                tokenizer=_jieba_words,
                token_pattern=None,
                lowercase=False,
                ngram_range=features.word_ngrams,
                max_features=features.max_features,
                **common,
            )
        return vecs

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([vec.transform(texts) for vec in self.vectorizers.values()]).tocsr()

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        x = self.transform(list(texts))
        return np.asarray(x @ self.coef.T + self.intercept, dtype=np.float32)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        from safetensors.numpy import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {"coef": self.coef, "intercept": self.intercept}
        vocab: dict[str, Any] = {"features": asdict(self.features), "vocabularies": {}}
        for name, vec in self.vectorizers.items():
            terms = vec.get_feature_names_out()
            vocab["vocabularies"][name] = [str(t) for t in terms]
            tensors[f"idf.{name}"] = vec.idf_.astype(np.float64)
        (out / "tfidf_vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        save_file(tensors, str(out / "tfidf.safetensors"))
        self.info.save(out)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TfidfClassifier:
        from safetensors.numpy import load_file

        d = Path(directory)
        info = ModelInfo.load(d)
        vocab = json.loads((d / "tfidf_vocab.json").read_text(encoding="utf-8"))
        tensors = load_file(str(d / "tfidf.safetensors"))
        feats = vocab["features"]
        features = TfidfFeatures(**{k: tuple(v) if isinstance(v, list) else v for k, v in feats.items()})
        vectorizers = cls.make_vectorizers(features)
        for name, vec in vectorizers.items():
            terms = vocab["vocabularies"][name]
            # Restore a fitted vectorizer from its parts instead of unpickling one.
            vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
            vec.fixed_vocabulary_ = True
            vec.idf_ = tensors[f"idf.{name}"].astype(np.float64)
        return cls(info, features, vectorizers, tensors["coef"], tensors["intercept"])


# -- fusion ----------------------------------------------------------------------------------------


class FusionClassifier:
    """Mixes a transformer's and a TF-IDF model's calibrated log-probabilities.

    ``logits = w * log p_transformer + (1 - w) * log p_tfidf``: a product of experts that keeps
    the transformer's grasp of phrasing and the TF-IDF model's memory of rare place and
    organisation names. Each part keeps its own temperature; the mix gets one of its own.
    """

    def __init__(self, info: ModelInfo, transformer: TransformerClassifier, tfidf: TfidfClassifier) -> None:
        if transformer.labels != info.labels or tfidf.labels != info.labels:
            raise ValueError("fusion parts must share the fusion model's label order")
        self.info = info
        self.transformer = transformer
        self.tfidf = tfidf

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    def logits(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        w = float(self.info.fusion_weight or 0.0)
        lp_t = np.log(predict_proba(self.transformer, texts, batch_size=batch_size) + 1e-9)
        lp_f = np.log(predict_proba(self.tfidf, texts, batch_size=batch_size) + 1e-9)
        return (w * lp_t + (1 - w) * lp_f).astype(np.float32)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.transformer.save(out / "transformer")
        self.tfidf.save(out / "tfidf")
        self.info.save(out)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, device: str = "cpu") -> FusionClassifier:
        d = Path(directory)
        return cls(
            ModelInfo.load(d),
            TransformerClassifier.load(d / "transformer", device=device),
            TfidfClassifier.load(d / "tfidf"),
        )


# -- ONNX Runtime transformer ----------------------------------------------------------------------


class OnnxClassifier(_TokenizedClassifier):
    """A transformer classifier exported to ONNX (``hotline export --onnx``), run by ONNX Runtime.

    The directory holds ``model.onnx`` (fp32 or dynamically int8-quantised), the tokenizer files
    and ``hotline.json`` with ``model_type: onnx``; inputs are encoded exactly like
    :class:`TransformerClassifier` (head + tail), so the two agree up to numerics.
    """

    def __init__(self, session: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.info = info
        self.special = SpecialTokens(tokenizer)
        self.input_names = [i.name for i in session.get_inputs()]

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, num_threads: int | None = None) -> OnnxClassifier:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        d = Path(directory)
        info = ModelInfo.load(d)
        if not (d / ONNX_FILE).is_file():
            raise ModelNotFoundError(
                f"{d} says model_type onnx but has no {ONNX_FILE}; re-export it with "
                "`hotline export --model SOURCE --onnx -o DIR`"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads:
            options.intra_op_num_threads = num_threads
            # One request at a time reaches a session (the engine batches), so inter-op
            # parallelism would only compete with intra-op threads for the same cores.
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(d / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        return cls(session, AutoTokenizer.from_pretrained(d), info)

    def collate(self, batch_ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Pad a batch of id lists into int64 arrays for the session's inputs."""
        width = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(batch_ids), width), pad, dtype=np.int64)
        attention = np.zeros((len(batch_ids), width), dtype=np.int64)
        for i, ids in enumerate(batch_ids):
            input_ids[i, : len(ids)] = ids
            attention[i, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        return {k: v for k, v in feeds.items() if k in self.input_names}

    def forward(self, batch_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of one padded batch."""
        return np.asarray(self.session.run(["logits"], self.collate(batch_ids))[0], dtype=np.float32)

    def logits_from_ids(self, ids: Sequence[Sequence[int]], *, batch_size: int = 32) -> np.ndarray:
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = np.zeros((len(ids), len(self.labels)), dtype=np.float32)
        for start in range(0, len(ids), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self.forward([ids[i] for i in idx])
        return out

    def save(self, directory: str | os.PathLike[str]) -> Path:
        import shutil

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        source = Path(self.session._model_path) if hasattr(self.session, "_model_path") else None
        if source is None or not source.is_file():
            raise ValueError("this session was not loaded from a file; export the model again instead")
        if source.resolve() != (out / ONNX_FILE).resolve():
            shutil.copyfile(source, out / ONNX_FILE)
        self.tokenizer.save_pretrained(out)
        self.info.save(out)
        return out


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


def load_classifier(directory: str | os.PathLike[str], *, device: str = "cpu") -> Classifier:
    """Load any hotline model directory or registry (the type is read from ``hotline.json``)."""
    d = resolve_model_dir(directory)
    info = ModelInfo.load(d)
    if info.model_type == "transformer":
        return TransformerClassifier.load(d, device=device)
    if info.model_type == "onnx":
        return OnnxClassifier.load(d)
    if info.model_type == "tfidf":
        return TfidfClassifier.load(d)
    return FusionClassifier.load(d, device=device)
