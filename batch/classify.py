"""``hotline classify``: classify a complaint log, chunk by chunk, resumably.

The input is read with :class:`ingest.readers.ComplaintReader` (unusable rows go to a rejects
file), each chunk is classified by :class:`nlp.engine.InferenceEngine` and written with the
input's own columns (PII-masked unless kept raw) plus the predictions; progress is committed
after every chunk (:mod:`batch.progress`), so an interrupted job continues where it stopped.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from pydantic import Field, ValidationInfo, field_validator, model_validator
from tqdm.auto import tqdm

from batch.progress import (
    APPENDABLE,
    PROGRESS_FORMAT,
    assemble_parts,
    fsync_file,
    input_fingerprint,
    parts_dir,
    progress_path,
    summary_path,
    truncate_file,
    truncate_to_commit,
)
from common.config import JobConfig
from common.errors import HotlineError
from common.files import atomic_write_json
from common.jsonsafe import json_safe
from ingest.formats import detect_format
from ingest.masking import check_keep_raw, mask_columns
from ingest.options import ReaderOptions, parse_column_list
from ingest.readers import ComplaintReader, count_rows
from ingest.rejects import RejectsWriter
from ingest.writers import TableWriter
from nlp.engine import BatchOutput, EngineConfig, InferenceEngine
from nlp.text import display_width, join_title_text, pad

logger = logging.getLogger(__name__)

_OUTPUT_COLUMNS = ("label", "score", "top_k", "needs_review")


class ClassifyConfig(JobConfig):
    """One ``hotline classify`` job."""

    input: str = Field(description="Complaint log to classify.")
    output: str = Field(description="Output file; its extension names the format.")
    model: str = Field(description="Model directory, or a model registry (its current version).")
    rejects: str | None = Field(None, description="Where rejected rows go (unset: counted only).")
    with_text: bool = Field(False, description="Also write the masked classifier input and a truncated flag.")
    chunk_size: int = Field(2000, ge=1, description="Rows read, classified and committed at a time.")
    resume: bool = Field(False, description="Continue an interrupted run (same input, output and options).")
    engine: EngineConfig = Field(default_factory=EngineConfig, description="How the model is run.")
    reader: ReaderOptions = Field(
        default_factory=ReaderOptions, description="How the log is read (its chunk_size follows chunk_size)."
    )
    # Input columns copied to the output are PII-masked, ids included; these stay raw (an
    # explicit, logged opt-out for columns the caller vouches for).
    keep_raw_columns: tuple[str, ...] = Field(
        (), description="Input columns written unmasked (a list, or one comma-separated string)."
    )
    formula_guard: bool = Field(
        True, description="Neutralise cells a spreadsheet would run as formulas (CSV/TSV/XLSX and rejects)."
    )

    @field_validator("input", "output", "model", "rejects", mode="before")
    @classmethod
    def _path_as_text(cls, v: Any) -> Any:
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @field_validator("engine", "reader", mode="before")
    @classmethod
    def _default_when_unset(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("keep_raw_columns", mode="before")
    @classmethod
    def _column_list(cls, v: Any) -> tuple[str, ...]:
        return parse_column_list(v)

    @field_validator("output")
    @classmethod
    def _output_is_writable(cls, v: str, info: ValidationInfo) -> str:
        if "input" in info.data and Path(info.data["input"]).resolve() == Path(v).resolve():
            raise ValueError("must not overwrite the input; choose another output path")
        detect_format(v)  # fails early, with the list of formats, on an unknown extension
        return v

    @model_validator(mode="after")
    def _reader_chunks_like_the_job(self) -> ClassifyConfig:
        if self.reader.chunk_size != self.chunk_size:
            self.reader.chunk_size = self.chunk_size
        return self


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
    """Classify a complaint log chunk by chunk, resumably (:mod:`batch.progress`).

    With ``store``, each chunk's complaints and predictions are also upserted there (idempotent,
    so a resumed run that repeats nothing in the output repeats nothing in the store either).
    The caller opens and closes the store.
    """
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
        "reader": {k: v for k, v in config.reader.to_dict().items() if k != "chunk_size"},
    }
    # JSON values (lists, not tuples) so the comparison with a stored manifest is like for like.
    options = json_safe(options)

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
        truncate_to_commit(state, output, out_format, parts, rejects_path)
        logger.info("resuming", extra={"rows_done": state["rows_done"], "output": str(output)})
    else:
        if config.resume:
            logger.warning("no progress file at %s; starting from the beginning", progress_file)
        truncate_file(output, 0)
        if rejects_path is not None:
            truncate_file(rejects_path, 0)
        if parts.exists():
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
    total = _safe_count_rows(config.input, config.reader.encoding)
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
            if out_format in APPENDABLE:
                with TableWriter(
                    output, out_format, append=True, formula_guard=config.formula_guard
                ) as writer:
                    writer.write(frame)
                fsync_file(output)
                state["output_bytes"] = output.stat().st_size
            else:
                parts.mkdir(parents=True, exist_ok=True)
                part = parts / f"part-{int(state['parts']):06d}.parquet"
                # Parts are raw Parquet; the guard applies when they are assembled into XLSX.
                with TableWriter(part, "parquet") as writer:
                    writer.write(frame)
                fsync_file(part)
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
    if out_format not in APPENDABLE:
        assemble_parts(
            output,
            out_format,
            parts,
            int(state["parts"]),
            state["columns"] or list(_OUTPUT_COLUMNS),
            formula_guard=config.formula_guard,
        )
    elif not output.exists():
        with TableWriter(output, out_format, formula_guard=config.formula_guard) as writer:
            writer.write(pd.DataFrame(columns=state["columns"] or list(_OUTPUT_COLUMNS)))
    state["status"] = "complete"
    atomic_write_json(progress_file, state)
    if parts.exists() and out_format not in APPENDABLE:
        shutil.rmtree(parts)
    summary = _summary(
        config, engine, state, rejects_path, resumed_from=resumed_from, rows_this_run=rows_this_run
    )
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    summary.rows_per_s = round(rows_this_run / summary.elapsed_s, 1) if summary.elapsed_s else 0.0
    atomic_write_json(summary_path(output), summary.to_dict())
    return summary


def _safe_count_rows(path: str, encoding: str | None) -> int | None:
    try:
        return count_rows(path, encoding)
    except Exception:  # the bar only loses its total; the reader reports real problems
        logger.debug("could not count rows for the progress bar", exc_info=True)
        return None


def _join(title: Any, text: Any) -> str:
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
    rejects.flush()
    if rejects.path is not None and rejects.path.exists():
        fsync_file(rejects.path)
        state["rejects_bytes"] = rejects.path.stat().st_size
    state["rejected"] = prior_rejected + rejects.count
    state["rows_done"] = rows_done
    state["elapsed_s"] = round(prior_elapsed + time.perf_counter() - started, 3)
    atomic_write_json(progress_file, state)


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
