"""``hotline classify --ray``: the classify job scaled out on Ray Data, resumable per shard.

The driver reads the log with the project's own :class:`ingest.readers.ComplaintReader` rather
than ``ray.data.read_csv``: the reader is what detects GBK, maps the Chinese headers, cuts
oversized cells and writes the rejects file, and equality with the local job is the contract.
Each reader chunk is one shard; the driver masks its columns *before* it enters the object store
(no raw personal data travels to the cluster) and hands the shards to ``map_batches`` over an
actor pool that holds one :class:`nlp.engine.InferenceEngine` per actor. An actor writes its
shard (Parquet, atomically) and a small stats file into ``OUTPUT.shards/`` - which must be on
storage every node sees - and the driver assembles the shards into the output, in the format its
extension names, exactly as the local job would have written it.

A rerun with ``resume`` skips the shards already on disk (same input and options, checked
against the shard manifest); the driver still rereads the whole log, so the rejects file is
rewritten in full and stays consistent.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from batch.classify import (
    _OUTPUT_COLUMNS,
    ClassifyConfig,
    ClassifySummary,
    _count,
    _join,
    _output_frame,
)
from batch.progress import input_fingerprint, summary_path
from common.errors import ConfigError, HotlineError
from common.files import atomic_write_json
from common.jsonsafe import json_safe
from ingest.formats import detect_format
from ingest.masking import check_keep_raw, mask_columns
from ingest.readers import ComplaintReader
from ingest.rejects import RejectsWriter
from ingest.writers import TableWriter
from nlp.engine import EngineConfig, InferenceEngine

logger = logging.getLogger(__name__)

SHARDS_FORMAT = 1
# Columns the driver adds to a shard's rows; the actor strips them before writing.
_TEXT = "__hotline_text__"
_SHARD = "__hotline_shard__"
_SHARD_ROWS = "__hotline_shard_rows__"
_INTERNAL = (_TEXT, _SHARD, _SHARD_ROWS)


class RayClassifyConfig(ClassifyConfig):
    """One ``hotline classify --ray`` job: the local job's options plus where and how wide to run."""

    ray_address: str | None = Field(
        None, description="Ray cluster to join (e.g. 'auto' or ray://host:10001); unset: start a local one."
    )
    actors: int = Field(1, ge=1, description="Actors in the pool, each holding one engine.")
    actor_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves for each actor.")


def shards_dir(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(out.name + ".shards")


def _shard_paths(shards: Path, index: int) -> tuple[Path, Path]:
    return shards / f"shard-{index:06d}.parquet", shards / f"shard-{index:06d}.json"


def _shard_done(shards: Path, index: int) -> bool:
    # The stats file is written after the Parquet file, so its presence means both are whole.
    data, stats = _shard_paths(shards, index)
    return data.exists() and stats.exists()


class ShardClassifier:
    """Ray Data actor: one engine, loaded once; each batch is one whole shard."""

    def __init__(self, model: str, engine_config: dict[str, Any], shards: str, with_text: bool) -> None:
        self.engine = InferenceEngine.load(model, EngineConfig(**engine_config))
        self.shards = Path(shards)
        self.with_text = with_text

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        out = []
        for index, rows in batch.groupby(_SHARD, sort=True):
            expected = int(rows[_SHARD_ROWS].iloc[0])
            if len(rows) != expected:
                # Ray split or merged a shard: writing it would lose or duplicate rows on resume.
                raise HotlineError(f"shard {index} arrived with {len(rows)} of {expected} rows")
            out.append(self._classify_shard(int(index), rows))
        return pd.DataFrame(out)

    def _classify_shard(self, index: int, rows: pd.DataFrame) -> dict[str, Any]:
        texts = [str(t) for t in rows[_TEXT]]
        source = rows.drop(columns=list(_INTERNAL)).reset_index(drop=True)
        result = self.engine.predict_arrays(texts)
        # JSON-string top_k (the CSV/Parquet form); a JSONL output decodes it when assembling.
        frame = _output_frame(self.engine, source, result, texts if self.with_text else None, "parquet")
        state: dict[str, Any] = {"label_counts": {}, "classified": 0, "needs_review": 0, "truncated": 0}
        _count(state, self.engine, result)
        data, stats = _shard_paths(self.shards, index)
        tmp = data.with_name(data.name + ".tmp")
        with TableWriter(tmp, "parquet") as writer:
            writer.write(frame)
        os.replace(tmp, data)
        state.update(shard=index, rows=len(frame), model_version=self.engine.version)
        atomic_write_json(stats, state)
        return {"shard": index, "rows": len(frame)}


def classify_log_ray(config: RayClassifyConfig, *, ray_init: dict[str, Any] | None = None) -> ClassifySummary:
    """Classify a complaint log on a Ray cluster; same output, rejects and summary as
    :func:`batch.classify.classify_log`.

    ``ray_init``: extra ``ray.init`` arguments when this call starts or joins the cluster (an
    already initialised Ray is used as is and left running).
    """
    import ray

    started = time.perf_counter()
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    out_format = detect_format(output)
    rejects_path = Path(config.rejects) if config.rejects else None
    shards = shards_dir(output)
    # The driver's engine only names the model (version, labels); actors load their own.
    engine = InferenceEngine.load(config.model, config.engine)
    manifest = json_safe(
        {
            "format": SHARDS_FORMAT,
            "input": {k: v for k, v in input_fingerprint(config.input).items() if k != "path"},
            "options": {
                "model_dir": str(engine.model_dir.resolve()) if engine.model_dir else None,
                "model_version": engine.version,
                "with_text": config.with_text,
                "top_k": engine.config.top_k,
                "chunk_size": config.chunk_size,
                "keep_raw_columns": list(config.keep_raw_columns),
                "reader": {k: v for k, v in config.reader.to_dict().items() if k != "chunk_size"},
            },
        }
    )
    manifest_file = shards / "manifest.json"
    if config.resume and manifest_file.exists():
        stored = json.loads(manifest_file.read_text(encoding="utf-8"))
        if stored != manifest:
            raise HotlineError(
                f"{shards} was written for another input or other options; "
                "rerun without --resume to start over"
            )
    else:
        if config.resume:
            logger.warning("no shard manifest at %s; starting from the beginning", manifest_file)
        if shards.exists():
            shutil.rmtree(shards)
    output.unlink(missing_ok=True)
    summary_path(output).unlink(missing_ok=True)
    shards.mkdir(parents=True, exist_ok=True)
    atomic_write_json(manifest_file, manifest)
    if config.keep_raw_columns:
        logger.warning(
            "keeping input column(s) %s unmasked in %s (--keep-raw-columns)",
            ", ".join(config.keep_raw_columns),
            output,
        )

    # The driver rereads the whole log on every run, so the rejects file is rewritten in full.
    rejects = RejectsWriter(rejects_path, append=False, formula_guard=config.formula_guard)
    reader = ComplaintReader(config.input, config.reader, rejects=rejects)
    pending: list[pd.DataFrame] = []
    n_shards = skipped_rows = 0
    source_columns: list[str] | None = None
    try:
        for index, chunk in enumerate(reader):
            n_shards = index + 1
            if source_columns is None:
                check_keep_raw(config.keep_raw_columns, chunk.source.columns, path=config.input)
                source_columns = [str(c) for c in chunk.source.columns]
            if _shard_done(shards, index):
                skipped_rows += _shard_rows(shards, index)
                continue
            records = chunk.records
            texts = [_join(t, x) for t, x in zip(records["title"], records["text"], strict=True)]
            frame = mask_columns(chunk.source, config.keep_raw_columns).reset_index(drop=True)
            frame.columns = [str(c) for c in frame.columns]
            frame[_TEXT] = texts
            frame[_SHARD] = index
            frame[_SHARD_ROWS] = len(frame)
            if len(frame):
                pending.append(frame)
            else:
                _write_empty_shard(shards, index, engine, source_columns, config.with_text)
        rejects.flush()
    finally:
        rejects.close()
    skipped = n_shards - len(pending)
    logger.info(
        "ray classify: %d shard(s) to classify, %d already written",
        len(pending),
        skipped,
        extra={"output": str(output)},
    )

    if pending:
        initialised_here = not ray.is_initialized()
        if initialised_here:
            ray.init(address=config.ray_address, **{"include_dashboard": False, **(ray_init or {})})
        try:
            _run_pool(ray, config, pending, shards)
        finally:
            if initialised_here:
                ray.shutdown()

    _assemble(output, out_format, shards, n_shards, source_columns, config)
    summary = _summarise(config, engine, shards, n_shards, reader.rows_read, rejects.count, rejects_path)
    summary.resumed_from_row = skipped_rows
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    done_now = sum(len(f) for f in pending)
    summary.rows_per_s = round(done_now / summary.elapsed_s, 1) if summary.elapsed_s else 0.0
    atomic_write_json(summary_path(output), summary.to_dict())
    return summary


def _run_pool(ray: Any, config: RayClassifyConfig, pending: list[pd.DataFrame], shards: Path) -> None:
    dataset = ray.data.from_pandas(pending)
    # batch_size=None: one batch per block, and from_pandas makes one block per shard.
    result = dataset.map_batches(
        ShardClassifier,
        fn_constructor_kwargs={
            "model": config.model,
            "engine_config": config.engine.model_dump(),
            "shards": str(shards.resolve()),
            "with_text": config.with_text,
        },
        batch_size=None,
        batch_format="pandas",
        concurrency=config.actors,
        num_cpus=config.actor_cpus,
    )
    written = result.to_pandas()
    missing = sorted({int(f[_SHARD].iloc[0]) for f in pending} - {int(s) for s in written["shard"]})
    if missing:
        raise HotlineError(f"the Ray job returned without shard(s) {missing[:10]}")


def _write_empty_shard(
    shards: Path, index: int, engine: InferenceEngine, columns: list[str] | None, with_text: bool
) -> None:
    # A chunk whose rows were all rejected: an empty shard keeps the indices contiguous.
    data, stats = _shard_paths(shards, index)
    with TableWriter(data, "parquet") as writer:
        writer.write(pd.DataFrame(columns=list(columns or [])))
    atomic_write_json(
        stats,
        {
            "shard": index,
            "rows": 0,
            "label_counts": {},
            "classified": 0,
            "needs_review": 0,
            "truncated": 0,
            "model_version": engine.version,
        },
    )


def _shard_rows(shards: Path, index: int) -> int:
    return int(json.loads(_shard_paths(shards, index)[1].read_text(encoding="utf-8"))["rows"])


def _assemble(
    output: Path,
    out_format: str,
    shards: Path,
    n_shards: int,
    source_columns: list[str] | None,
    config: RayClassifyConfig,
) -> None:
    """Join the shards into the output, one shard in memory at a time (the formula guard and the
    format's own writer apply here, as in the local job)."""
    columns: list[str] | None = None
    top_k_column = "pred_top_k" if source_columns and "top_k" in source_columns else "top_k"
    tmp = output.with_name(output.name + ".tmp")
    with TableWriter(tmp, out_format, formula_guard=config.formula_guard) as writer:  # type: ignore[arg-type]
        for index in range(n_shards):
            if _shard_rows(shards, index) == 0:
                continue
            frame = pd.read_parquet(_shard_paths(shards, index)[0])
            if columns is None:
                columns = [str(c) for c in frame.columns]
            frame = frame.reindex(columns=columns)
            if out_format == "jsonl":
                frame[top_k_column] = [json.loads(v) for v in frame[top_k_column]]
            writer.write(frame)
        if columns is None:
            logger.warning("no usable rows in %s", config.input)
            writer.write(pd.DataFrame(columns=list(_OUTPUT_COLUMNS)))
    os.replace(tmp, output)


def _summarise(
    config: RayClassifyConfig,
    engine: InferenceEngine,
    shards: Path,
    n_shards: int,
    rows_read: int,
    rejected: int,
    rejects_path: Path | None,
) -> ClassifySummary:
    summary = ClassifySummary(
        input=str(config.input),
        output=str(config.output),
        rejects=str(rejects_path) if rejects_path else None,
        model_version=engine.version,
        rows_read=rows_read,
        rejected=rejected,
        label_counts={},
    )
    counts: dict[str, int] = {}
    for index in range(n_shards):
        stats = json.loads(_shard_paths(shards, index)[1].read_text(encoding="utf-8"))
        if stats["rows"] and stats["model_version"] != engine.version:
            raise HotlineError(f"shard {index} was classified by model {stats['model_version']}")
        summary.classified += int(stats["classified"])
        summary.needs_review += int(stats["needs_review"])
        summary.truncated += int(stats["truncated"])
        for label, n in stats["label_counts"].items():
            counts[label] = counts.get(label, 0) + int(n)
    summary.label_counts = counts
    return summary


def check_ray_available() -> None:
    """Fail with the install hint, not an ImportError trace, when the ``ray`` extra is missing."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError("--ray needs Ray Data: pip install -e '.[ray]'") from exc
