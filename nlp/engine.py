"""The inference engine shared by ``hotline classify`` and the HTTP service.

:class:`InferenceEngine` wraps any hotline model directory (``transformer``, ``onnx``,
``tfidf`` or ``fusion``, or a registry whose ``current`` names one) and turns texts into
:class:`Prediction` objects: label, calibrated score, top-k, whether the prediction needs a
human's review (per-class thresholds stored with the model) and whether the text was cut to fit
the model's input length.

Speed comes from three things. Inputs are tokenized once and sorted by length, then cut into
buckets whose padded size (batch x width) stays under ``max_batch_tokens`` and whose padding
stays under ``max_padding`` of the real tokens: complaints range from ten characters to
thousands, and padding a short one to the longest in a random batch wastes most of the
compute. Forward passes run under ``torch.inference_mode``. The thread count is set once
(``num_threads``), because PyTorch's default of one thread per core fights with every other
process on a shared machine.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nlp.classifier import (
    Classifier,
    FusionClassifier,
    ModelInfo,
    OnnxClassifier,
    TfidfClassifier,
    TransformerClassifier,
    load_classifier,
    resolve_model_dir,
    softmax,
)

logger = logging.getLogger(__name__)

# torch.set_num_threads is process-wide; engines loaded side by side (a reload) must not race.
_THREADS_LOCK = threading.Lock()


@dataclass
class EngineConfig:
    """How the engine runs a model (not what the model is: that is ``hotline.json``)."""

    batch_size: int = 32
    # Padded tokens per forward pass. On CPU, passes beyond ~2k tokens fall out of cache (the
    # attention scores grow with batch x length^2) and run slower per text, not faster.
    max_batch_tokens: int = 2048
    # Padding allowed per forward pass, as a share of the real tokens. A micro-batch of requests
    # arrives in random lengths (30-256 tokens); padded into one pass, a quarter or more of the
    # compute goes to padding, which on a compute-bound CPU is slower than one pass per text.
    max_padding: float = 0.2
    num_threads: int | None = None
    top_k: int = 3
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_tokens < 8:
            raise ValueError(f"max_batch_tokens must be >= 8, got {self.max_batch_tokens}")
        if self.max_padding < 0:
            raise ValueError(
                f"max_padding must be >= 0 (a share of the real tokens; 0.2 = 20%), got {self.max_padding}"
            )
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(
                f"num_threads must be >= 1 (or unset for the library default), got {self.num_threads}"
            )
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Prediction:
    """One classified text."""

    label: str
    score: float
    top_k: list[tuple[str, float]]
    needs_review: bool
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": self.score,
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
            "needs_review": self.needs_review,
            "truncated": self.truncated,
        }


@dataclass
class BatchOutput:
    """Vectorised predictions for many texts (what the batch job writes, without per-row objects)."""

    probs: np.ndarray  # (n, n_labels), calibrated
    truncated: np.ndarray  # (n,) bool
    needs_review: np.ndarray  # (n,) bool

    @property
    def top(self) -> np.ndarray:
        return self.probs.argmax(axis=1) if len(self.probs) else np.zeros(0, dtype=np.int64)


def length_buckets(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int, max_padding: float | None = None
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length.

    Sorted by length, a batch grows while it has fewer than ``batch_size`` members, its padded
    size (members x longest) stays within ``max_batch_tokens`` and, when ``max_padding`` is
    given, its padding stays within that share of its real tokens; a single over-long input
    still gets a batch of its own.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        end = start + 1
        real = int(lengths[order[start]])
        while end < n and end - start < batch_size:
            width = int(lengths[order[end]])
            padded = (end - start + 1) * width
            if padded > max_batch_tokens:
                break
            if max_padding is not None and padded - (real + width) > max_padding * (real + width):
                break
            real += width
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


class InferenceEngine:
    """Loads a model once and classifies texts in length-sorted batches."""

    def __init__(
        self, classifier: Classifier, config: EngineConfig | None = None, *, model_dir: Path | None = None
    ):
        self.classifier = classifier
        self.config = config or EngineConfig()
        self.model_dir = model_dir
        self.info: ModelInfo = classifier.info
        self._thresholds = np.array([self.info.thresholds.get(label, 0.0) for label in self.labels])
        self.batches_run = 0

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: EngineConfig | None = None) -> InferenceEngine:
        """Load a model directory or a registry's current version."""
        config = config or EngineConfig()
        d = resolve_model_dir(path)
        info = ModelInfo.load(d)
        if info.model_type in ("transformer", "fusion"):
            _set_torch_threads(config.num_threads)
        if info.model_type == "onnx":
            clf: Classifier = OnnxClassifier.load(d, num_threads=config.num_threads)
        else:
            clf = load_classifier(d, device=config.device)
        engine = cls(clf, config, model_dir=d)
        logger.info(
            "loaded model",
            extra={"model_dir": str(d), "model_type": info.model_type, "model_version": engine.version},
        )
        return engine

    # -- what the model is --------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        return list(self.info.labels)

    @property
    def version(self) -> str:
        return self.info.version or (self.model_dir.name if self.model_dir else "unversioned")

    @property
    def model_type(self) -> str:
        return self.info.model_type

    @property
    def max_length(self) -> int:
        return self.info.max_length

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.info.name or (self.model_dir.name if self.model_dir else None),
            "version": self.version,
            "model_type": self.model_type,
            "labels": self.labels,
            "max_length": self.max_length,
            "temperature": self.info.temperature,
            "thresholds": dict(self.info.thresholds),
            "model_dir": str(self.model_dir) if self.model_dir else None,
        }

    # -- inference ----------------------------------------------------------------------------

    def predict_arrays(self, texts: Sequence[str]) -> BatchOutput:
        """Calibrated probabilities, truncated flags and review flags for ``texts``."""
        n = len(texts)
        if n == 0:
            empty = np.zeros(0, dtype=bool)
            return BatchOutput(np.zeros((0, len(self.labels)), dtype=np.float32), empty, empty)
        logits, truncated = self._logits(list(texts))
        probs = softmax(logits, self.info.temperature)
        top = probs.argmax(axis=1)
        review = probs[np.arange(n), top] < self._thresholds[top]
        return BatchOutput(probs, np.asarray(truncated, dtype=bool), review)

    def predict(self, texts: Sequence[str], *, top_k: int | None = None) -> list[Prediction]:
        """One :class:`Prediction` per text, in input order."""
        out = self.predict_arrays(texts)
        return self.to_predictions(out, top_k=top_k)

    def to_predictions(self, out: BatchOutput, *, top_k: int | None = None) -> list[Prediction]:
        k = min(top_k or self.config.top_k, len(self.labels))
        labels = self.labels
        ranked = np.argsort(-out.probs, axis=1, kind="stable")[:, :k]
        preds = []
        for i, order in enumerate(ranked):
            pairs = [(labels[j], round(float(out.probs[i, j]), 6)) for j in order]
            preds.append(
                Prediction(
                    label=pairs[0][0],
                    score=pairs[0][1],
                    top_k=pairs,
                    needs_review=bool(out.needs_review[i]),
                    truncated=bool(out.truncated[i]),
                )
            )
        return preds

    def _logits(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        clf = self.classifier
        if isinstance(clf, (TransformerClassifier, OnnxClassifier)):
            return self._encoder_logits(clf, texts)
        if isinstance(clf, FusionClassifier):
            lt, truncated = self._encoder_logits(clf.transformer, texts)
            lf = clf.tfidf.logits(texts)
            w = float(clf.info.fusion_weight or 0.0)
            # Same mix as FusionClassifier.logits, with the transformer part run bucketed.
            mixed = w * np.log(softmax(lt, clf.transformer.info.temperature) + 1e-9) + (1 - w) * np.log(
                softmax(lf, clf.tfidf.info.temperature) + 1e-9
            )
            return mixed.astype(np.float32), truncated
        if isinstance(clf, TfidfClassifier):
            # TF-IDF sees the whole text: nothing is ever cut.
            return clf.logits(texts), [False] * len(texts)
        return np.asarray(clf.logits(texts, batch_size=self.config.batch_size), dtype=np.float32), [
            False
        ] * len(texts)

    def _encoder_logits(
        self, clf: TransformerClassifier | OnnxClassifier, texts: list[str]
    ) -> tuple[np.ndarray, list[bool]]:
        ids, truncated = clf.encode(texts)
        out = np.zeros((len(ids), len(clf.labels)), dtype=np.float32)
        buckets = length_buckets(
            [len(x) for x in ids],
            self.config.batch_size,
            self.config.max_batch_tokens,
            self.config.max_padding,
        )
        if isinstance(clf, OnnxClassifier):
            for idx in buckets:
                out[idx] = clf.forward([ids[i] for i in idx])
                self.batches_run += 1
            return out, truncated
        import torch

        device = next(clf.model.parameters()).device
        with torch.inference_mode():
            for idx in buckets:
                batch = {k: v.to(device) for k, v in clf.collate([ids[i] for i in idx]).items()}
                out[idx] = clf.model(**batch).logits.float().cpu().numpy()
                self.batches_run += 1
        return out, truncated


def _set_torch_threads(num_threads: int | None) -> None:
    if not num_threads:
        return
    import torch

    with _THREADS_LOCK:
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)


# -- batch classification of complaint logs ----------------------------------------------------------
#
# Resumability. After every chunk the job appends the chunk's rows to the output (CSV, TSV and
# JSONL), or writes them as one Parquet part (Parquet and XLSX outputs, which cannot be appended
# to), then commits a small progress file atomically (write + fsync + rename): rows consumed,
# output bytes or parts, rejects bytes, counts, and a fingerprint of the input and the options.
# A crash can only leave bytes *after* the last commit; --resume truncates them, skips the
# committed rows in the reader and carries on, so no row is lost or written twice.

PROGRESS_FORMAT = 1
_APPENDABLE = ("csv", "tsv", "jsonl")
_OUTPUT_COLUMNS = ("label", "score", "top_k", "needs_review")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in path.suffixes:
        name = name.removesuffix(suffix)
    return name


def progress_path(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(_stem(out) + ".progress.json")


def summary_path(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(_stem(out) + ".summary.json")


def parts_dir(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(out.name + ".parts")


def input_fingerprint(path: str | os.PathLike[str], sample: int = 1 << 20) -> dict[str, Any]:
    """Size plus a hash of the first and last MiB: cheap, and it changes when the file does."""
    import hashlib

    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        h.update(fh.read(sample))
        if size > sample:
            fh.seek(max(sample, size - sample))
            h.update(fh.read(sample))
    return {"path": str(p.resolve()), "size": size, "sha256_head_tail": h.hexdigest()}


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    import json

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync(path: Path) -> None:
    if path.exists():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _truncate(path: Path, size: int) -> None:
    if not path.exists():
        return
    if size == 0:
        path.unlink()
        return
    with open(path, "r+b") as fh:
        fh.truncate(size)


@dataclass
class ClassifyConfig:
    """One ``hotline classify`` job."""

    input: str
    output: str
    model: str
    rejects: str | None = None
    with_text: bool = False
    chunk_size: int = 2000
    resume: bool = False
    engine: EngineConfig | None = None
    reader: Any = None  # nlp.io.ReaderOptions, imported lazily (nlp.io pulls in pandas)
    # Input columns copied to the output are PII-masked, ids included; these stay raw (an
    # explicit, logged opt-out for columns the caller vouches for).
    keep_raw_columns: tuple[str, ...] = ()
    # Neutralise cells a spreadsheet would run as formulas (CSV/TSV/XLSX output and rejects).
    formula_guard: bool = True

    def __post_init__(self) -> None:
        from nlp.io import ReaderOptions, detect_format, parse_column_list

        self.keep_raw_columns = parse_column_list(self.keep_raw_columns)

        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if Path(self.input).resolve() == Path(self.output).resolve():
            raise ValueError("the output must not overwrite the input; choose another -o path")
        detect_format(self.output)  # fails early, with the list of formats, on an unknown extension
        if self.engine is None:
            self.engine = EngineConfig()
        elif isinstance(self.engine, dict):
            self.engine = EngineConfig.from_dict(self.engine)
        if self.reader is None:
            self.reader = ReaderOptions(chunk_size=self.chunk_size)
        elif isinstance(self.reader, dict):
            self.reader = _reader_options_from_dict(self.reader)
        self.reader.chunk_size = self.chunk_size

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["engine"] = self.engine.to_dict() if self.engine else None
        data["reader"] = _reader_options_to_dict(self.reader)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifyConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _reader_options_to_dict(options: Any) -> dict[str, Any]:
    data = asdict(options)
    data["require"] = list(data["require"])
    return data


def _reader_options_from_dict(data: dict[str, Any]) -> Any:
    from nlp.io import ColumnMap, ReaderOptions
    from nlp.text import NormalizeOptions

    data = dict(data)
    data["columns"] = ColumnMap(**data.get("columns", {}))
    data["normalize"] = NormalizeOptions(**data.get("normalize", {}))
    data["require"] = tuple(data.get("require", ("text",)))
    return ReaderOptions(**data)


@dataclass
class ClassifySummary:
    """What a classify job did; printed at the end and written next to the output."""

    input: str
    output: str
    rejects: str | None
    model_version: str
    rows_read: int = 0
    classified: int = 0
    rejected: int = 0
    label_counts: dict[str, int] | None = None
    needs_review: int = 0
    truncated: int = 0
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    resumed_from_row: int = 0

    @property
    def needs_review_share(self) -> float:
        return self.needs_review / self.classified if self.classified else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["needs_review_share"] = round(self.needs_review_share, 4)
        return data

    def to_text(self) -> str:
        from nlp.text import display_width, pad

        lines = [
            f"classified {self.classified:,} of {self.rows_read:,} rows "
            f"({self.rejected:,} rejected{f', see {self.rejects}' if self.rejected and self.rejects else ''})",
            f"needs review: {self.needs_review:,} ({self.needs_review_share:.1%}); "
            f"truncated: {self.truncated:,}",
            f"throughput: {self.rows_per_s:,.1f} rows/s ({self.elapsed_s:,.1f} s)"
            + (f", resumed after row {self.resumed_from_row:,}" if self.resumed_from_row else ""),
            f"model version: {self.model_version}",
            f"output: {self.output}",
        ]
        counts = self.label_counts or {}
        width = max((display_width(k) for k in counts), default=0)
        for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            share = n / self.classified if self.classified else 0.0
            lines.append(f"  {pad(label, width)}  {n:>9,}  {share:6.1%}")
        return "\n".join(lines)


class PredictionStore(Protocol):
    """Where ``classify_log`` also writes each chunk (an event store's ``complaints`` repository,
    ``events.store.EventStore(url).complaints``, is one)."""

    def upsert(self, records: Any) -> Any: ...

    def upsert_predictions(self, predictions: Any) -> Any: ...


def classify_log(
    config: ClassifyConfig, *, engine: InferenceEngine | None = None, store: PredictionStore | None = None
) -> ClassifySummary:
    """Classify a complaint log chunk by chunk; see the section comment for resumability.

    With ``store``, each chunk's complaints and predictions are also upserted there (idempotent,
    so a resumed run that repeats nothing in the output repeats nothing in the store either).
    The caller opens and closes the store.
    """
    import json
    import time

    import pandas as pd
    from tqdm.auto import tqdm

    from common.errors import HotlineError
    from nlp.io import (
        ComplaintReader,
        RejectsWriter,
        TableWriter,
        check_keep_raw,
        count_rows,
        detect_format,
        mask_columns,
    )

    started = time.perf_counter()
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    out_format = detect_format(output)
    rejects_path = Path(config.rejects) if config.rejects else None
    progress_file = progress_path(output)
    parts = parts_dir(output)
    engine = engine or InferenceEngine.load(config.model, config.engine)
    fingerprint = input_fingerprint(config.input)
    options = {
        "model_dir": str(engine.model_dir.resolve()) if engine.model_dir else None,
        "model_version": engine.version,
        "with_text": config.with_text,
        "top_k": engine.config.top_k,
        "output_format": out_format,
        "rejects": str(rejects_path.resolve()) if rejects_path else None,
        "keep_raw_columns": list(config.keep_raw_columns),
        "formula_guard": config.formula_guard,
        "reader": {k: v for k, v in _reader_options_to_dict(config.reader).items() if k != "chunk_size"},
    }
    # JSON round trip so the comparison with a stored manifest is like for like.
    options = json.loads(json.dumps(options, default=str))

    state: dict[str, Any] = {
        "format": PROGRESS_FORMAT,
        "status": "running",
        "input": fingerprint,
        "options": options,
        "rows_done": 0,
        "output_bytes": 0,
        "parts": 0,
        "rejects_bytes": 0,
        "rejected": 0,
        "columns": None,
        "classified": 0,
        "label_counts": {},
        "needs_review": 0,
        "truncated": 0,
        "elapsed_s": 0.0,
    }
    if config.resume and progress_file.exists():
        stored = json.loads(progress_file.read_text(encoding="utf-8"))
        if (
            stored.get("input", {}).get("size") != fingerprint["size"]
            or stored.get("input", {}).get("sha256_head_tail") != fingerprint["sha256_head_tail"]
        ):
            raise HotlineError(
                f"{config.input} is not the file the interrupted job was reading (size or content changed); "
                f"rerun without --resume to start over (this overwrites {output})"
            )
        changed = sorted(
            k
            for k in set(options) | set(stored.get("options", {}))
            if options.get(k) != stored["options"].get(k)
        )
        if changed:
            raise HotlineError(
                f"--resume with different options than the interrupted job ({', '.join(changed)} changed); "
                "rerun with the original options, or without --resume to start over"
            )
        state.update({k: v for k, v in stored.items() if k in state and k not in ("input", "options")})
        if state["status"] == "complete" and output.exists():
            logger.info("job already complete; nothing to resume", extra={"output": str(output)})
            return _summary(config, engine, state, rejects_path, resumed_from=state["rows_done"])
        _truncate_to_commit(state, output, out_format, parts, rejects_path)
        logger.info("resuming", extra={"rows_done": state["rows_done"], "output": str(output)})
    else:
        if config.resume:
            logger.warning("no progress file at %s; starting from the beginning", progress_file)
        _truncate(output, 0)
        if rejects_path is not None:
            _truncate(rejects_path, 0)
        if parts.exists():
            import shutil

            shutil.rmtree(parts)
        summary_path(output).unlink(missing_ok=True)
    resumed_from = int(state["rows_done"])
    if config.keep_raw_columns:
        logger.warning(
            "keeping input column(s) %s unmasked in %s (--keep-raw-columns): personal data in them "
            "is written as is",
            ", ".join(config.keep_raw_columns),
            output,
        )
    if not config.formula_guard:
        logger.warning("formula guard off: spreadsheet formulas in %s are written as is", output)

    rejects = RejectsWriter(rejects_path, append=resumed_from > 0, formula_guard=config.formula_guard)
    reader = ComplaintReader(config.input, config.reader, rejects=rejects, skip_rows=resumed_from)
    total = _safe_count_rows(config.input, config.reader.encoding, count_rows)
    bar = tqdm(total=total, initial=resumed_from, unit="rows", unit_scale=True, disable=None, desc="classify")
    prior_rejected = int(state["rejected"])
    prior_elapsed = float(state["elapsed_s"])
    rows_this_run = 0
    try:
        for chunk in reader:
            records, source = chunk.records, chunk.source
            texts = [_join(t, x) for t, x in zip(records["title"], records["text"], strict=True)]
            result = engine.predict_arrays(texts)
            if state["columns"] is None:
                check_keep_raw(config.keep_raw_columns, source.columns, path=config.input)
            source = mask_columns(source, config.keep_raw_columns)
            frame = _output_frame(engine, source, result, texts if config.with_text else None, out_format)
            if state["columns"] is None:
                state["columns"] = [str(c) for c in frame.columns]
            frame = frame.reindex(columns=state["columns"])
            if out_format in _APPENDABLE:
                with TableWriter(
                    output, out_format, append=True, formula_guard=config.formula_guard
                ) as writer:
                    writer.write(frame)
                _fsync(output)
                state["output_bytes"] = output.stat().st_size
            else:
                parts.mkdir(parents=True, exist_ok=True)
                part = parts / f"part-{int(state['parts']):06d}.parquet"
                # Parts are raw Parquet; the guard applies when they are assembled into XLSX.
                with TableWriter(part, "parquet") as writer:
                    writer.write(frame)
                _fsync(part)
                state["parts"] = int(state["parts"]) + 1
            if store is not None:
                store.upsert(_store_records(records))
                store.upsert_predictions(_store_predictions(engine, records, result))
            _count(state, engine, result)
            rows_done = resumed_from + reader.rows_read
            bar.update(rows_done - (resumed_from + rows_this_run))
            rows_this_run = reader.rows_read
            _commit(state, progress_file, rows_done, rejects, prior_rejected, prior_elapsed, started)
        rows_done = resumed_from + reader.rows_read
        bar.update(rows_done - (resumed_from + rows_this_run))
        rows_this_run = reader.rows_read
        _commit(state, progress_file, rows_done, rejects, prior_rejected, prior_elapsed, started)
    finally:
        bar.close()
        rejects.close()

    if state["classified"] == 0 and state["columns"] is None:
        # Nothing usable: still leave a valid (empty) output so that pipelines do not break.
        logger.warning("no usable rows in %s", config.input)
    if out_format not in _APPENDABLE:
        _assemble(
            output,
            out_format,
            parts,
            int(state["parts"]),
            state["columns"],
            formula_guard=config.formula_guard,
        )
    elif not output.exists():
        with TableWriter(output, out_format, formula_guard=config.formula_guard) as writer:
            writer.write(pd.DataFrame(columns=state["columns"] or list(_OUTPUT_COLUMNS)))
    state["status"] = "complete"
    _write_json_atomic(progress_file, state)
    if parts.exists() and out_format not in _APPENDABLE:
        import shutil

        shutil.rmtree(parts)
    summary = _summary(
        config, engine, state, rejects_path, resumed_from=resumed_from, rows_this_run=rows_this_run
    )
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    summary.rows_per_s = round(rows_this_run / summary.elapsed_s, 1) if summary.elapsed_s else 0.0
    _write_json_atomic(summary_path(output), summary.to_dict())
    return summary


def _safe_count_rows(path: str, encoding: str | None, count_rows: Any) -> int | None:
    try:
        return count_rows(path, encoding)
    except Exception:  # the bar only loses its total; the reader reports real problems
        logger.debug("could not count rows for the progress bar", exc_info=True)
        return None


def _join(title: Any, text: Any) -> str:
    from nlp.text import join_title_text

    return join_title_text(title, text)


def _output_frame(
    engine: InferenceEngine, source: Any, result: BatchOutput, texts: list[str] | None, out_format: str
) -> Any:
    import json

    labels = engine.labels
    k = min(engine.config.top_k, len(labels))
    ranked = np.argsort(-result.probs, axis=1, kind="stable")[:, :k]
    top_k = [
        [{"label": labels[j], "score": round(float(p[j]), 4)} for j in order]
        for p, order in zip(result.probs, ranked, strict=True)
    ]
    frame = source.copy()
    frame.columns = [str(c) for c in frame.columns]
    added: dict[str, Any] = {
        "label": [labels[i] for i in result.top],
        "score": np.round(result.probs.max(axis=1).astype(np.float64), 4) if len(result.probs) else [],
        "top_k": top_k if out_format == "jsonl" else [json.dumps(t, ensure_ascii=False) for t in top_k],
        "needs_review": result.needs_review.astype(bool),
    }
    if texts is not None:
        added["masked_text"] = texts
        added["truncated"] = result.truncated.astype(bool)
    for name, values in added.items():
        # Never overwrite a column the user gave us (a labelled file has its own `label`).
        column = name if name not in frame.columns else f"pred_{name}"
        frame[column] = list(values)
    return frame.reset_index(drop=True)


def _store_records(records: Any) -> Any:
    return records.reset_index(drop=True)


def _store_predictions(engine: InferenceEngine, records: Any, result: BatchOutput) -> Any:
    import json

    import pandas as pd

    labels = engine.labels
    return pd.DataFrame(
        {
            "id": records["id"].to_numpy(),
            "label": [labels[i] for i in result.top],
            "score": result.probs.max(axis=1) if len(result.probs) else [],
            "top_k": [
                json.dumps(
                    {labels[j]: round(float(p[j]), 4) for j in np.argsort(-p)[: engine.config.top_k]},
                    ensure_ascii=False,
                )
                for p in result.probs
            ],
            "needs_review": result.needs_review,
            "model_version": engine.version,
        }
    )


def _count(state: dict[str, Any], engine: InferenceEngine, result: BatchOutput) -> None:
    counts = state["label_counts"]
    for i, n in zip(*np.unique(result.top, return_counts=True), strict=True):
        label = engine.labels[int(i)]
        counts[label] = counts.get(label, 0) + int(n)
    state["classified"] += len(result.probs)
    state["needs_review"] += int(result.needs_review.sum())
    state["truncated"] += int(result.truncated.sum())


def _commit(
    state: dict[str, Any],
    progress_file: Path,
    rows_done: int,
    rejects: Any,
    prior_rejected: int,
    prior_elapsed: float,
    started: float,
) -> None:
    import time

    rejects.flush()
    if rejects.path is not None and rejects.path.exists():
        _fsync(rejects.path)
        state["rejects_bytes"] = rejects.path.stat().st_size
    state["rejected"] = prior_rejected + rejects.count
    state["rows_done"] = rows_done
    state["elapsed_s"] = round(prior_elapsed + time.perf_counter() - started, 3)
    _write_json_atomic(progress_file, state)


def _truncate_to_commit(
    state: dict[str, Any], output: Path, out_format: str, parts: Path, rejects_path: Path | None
) -> None:
    """Drop whatever an interrupted run wrote after its last commit."""
    if out_format in _APPENDABLE:
        _truncate(output, int(state["output_bytes"]))
    else:
        if parts.exists():
            for part in parts.glob("part-*.parquet"):
                if int(part.stem.split("-")[1]) >= int(state["parts"]):
                    part.unlink()
        missing = [i for i in range(int(state["parts"])) if not (parts / f"part-{i:06d}.parquet").exists()]
        if missing:
            from common.errors import HotlineError

            raise HotlineError(
                f"{parts} lost {len(missing)} committed part(s); rerun without --resume to start over"
            )
    if rejects_path is not None:
        _truncate(rejects_path, int(state["rejects_bytes"]))


def _assemble(
    output: Path,
    out_format: str,
    parts: Path,
    n_parts: int,
    columns: list[str] | None,
    *,
    formula_guard: bool = True,
) -> None:
    """Join the Parquet parts into the final Parquet/XLSX file, one part in memory at a time."""
    import pandas as pd

    from nlp.io import TableWriter

    tmp = output.with_name(output.name + ".tmp")
    with TableWriter(tmp, out_format, formula_guard=formula_guard) as writer:  # type: ignore[arg-type]
        if n_parts == 0:
            writer.write(pd.DataFrame(columns=columns or list(_OUTPUT_COLUMNS)))
        for i in range(n_parts):
            writer.write(pd.read_parquet(parts / f"part-{i:06d}.parquet"))
    os.replace(tmp, output)


def _summary(
    config: ClassifyConfig,
    engine: InferenceEngine,
    state: dict[str, Any],
    rejects_path: Path | None,
    *,
    resumed_from: int,
    rows_this_run: int = 0,
) -> ClassifySummary:
    return ClassifySummary(
        input=str(config.input),
        output=str(config.output),
        rejects=str(rejects_path) if rejects_path else None,
        model_version=engine.version,
        rows_read=int(state["rows_done"]),
        classified=int(state["classified"]),
        rejected=int(state["rejected"]),
        label_counts=dict(state["label_counts"]),
        needs_review=int(state["needs_review"]),
        truncated=int(state["truncated"]),
        elapsed_s=float(state["elapsed_s"]),
        resumed_from_row=resumed_from,
    )
