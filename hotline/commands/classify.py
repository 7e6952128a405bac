"""`hotline classify` (complaint logs in, labelled logs out) and `hotline export` (ONNX)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import (
    ALL_READER_OPTIONS,
    ReaderArgs,
    Rejects,
    default_rejects_path,
    with_reader_options,
)

ModelOption = Annotated[
    Path,
    typer.Option(
        "--model", "-m", help="Model directory, or a model registry (its `current` version is used)."
    ),
]


@with_reader_options(*ALL_READER_OPTIONS)
def classify(
    input: Annotated[
        Path, typer.Argument(help="Complaint log: CSV/TSV (UTF-8 or GBK), JSONL, XLSX or Parquet.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Output file (csv, tsv, jsonl, xlsx, parquet: from its extension)."
        ),
    ],
    model: ModelOption,
    rejects: Rejects = None,
    with_text: Annotated[
        bool, typer.Option("--with-text", help="Also write the masked classifier input and a truncated flag.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run (same input, output and options).")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Also write complaints and predictions to this event store URL."),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Labels listed in the top_k column.")] = 3,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Rows read, classified and committed at a time.")
    ] = 2000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Most texts in one forward pass.")] = 32,
    threads: Annotated[
        int | None,
        typer.Option("--threads", help="CPU threads for inference (default: the library's choice)."),
    ] = None,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray", help="Run on Ray Data (pip install -e '.[ray]'): a local cluster, or --ray-address."
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address", help="Ray cluster to join (implies --ray), e.g. auto or ray://head:10001."
        ),
    ] = None,
    actors: Annotated[int, typer.Option("--actors", help="With --ray: actors, one engine each.")] = 1,
    *,
    reader: ReaderArgs,
) -> None:
    """Classify every complaint in a log; unusable rows go to a rejects file.

    The output keeps the input's columns (PII-masked unless named in --keep-raw-columns) and
    adds label, score, top_k (JSON) and needs_review.
    Progress is committed after every chunk, so an interrupted run continues with --resume.
    With --ray each chunk is a shard classified by a Ray actor pool; --resume skips the shards
    already written (docs/scale-out.md).
    """
    from batch.classify import ClassifyConfig, classify_log
    from ingest.options import parse_column_list
    from nlp.engine import EngineConfig

    opts = reader.options(chunk_size=chunk_size)
    use_ray = ray or ray_address is not None
    if use_ray and store:
        raise typer.BadParameter("--store is not supported with --ray; load the output with `hotline events`")
    config_type = ClassifyConfig
    extra: dict[str, object] = {}
    if use_ray:
        from batch.ray_classify import RayClassifyConfig, check_ray_available

        check_ray_available()
        config_type = RayClassifyConfig
        extra = {"ray_address": ray_address, "actors": actors}
    try:
        config = config_type(
            **extra,
            input=str(input),
            output=str(output),
            model=str(model),
            rejects=str(rejects or default_rejects_path(output)),
            with_text=with_text,
            chunk_size=chunk_size,
            resume=resume,
            engine=EngineConfig(batch_size=batch_size, num_threads=threads, top_k=top_k),
            reader=opts,
            keep_raw_columns=parse_column_list(reader.keep_raw_columns),
            formula_guard=reader.formula_guard,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    event_store = None
    if store:
        from events.store import EventStore

        event_store = EventStore(store)
    try:
        if use_ray:
            from batch.ray_classify import classify_log_ray

            summary = classify_log_ray(config)  # type: ignore[arg-type]
        else:
            summary = classify_log(config, store=event_store.complaints if event_store is not None else None)
    except KeyboardInterrupt:
        typer.secho(
            f"\ninterrupted; progress up to the last finished chunk is saved. Continue with:\n"
            f"  hotline classify {input} -o {output} --model {model} --resume",
            fg=typer.colors.YELLOW,
            err=True,
        )
        sys.exit(130)
    finally:
        if event_store is not None:
            event_store.close()
    typer.echo(summary.to_text())


def export(
    model: ModelOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the exported model.")],
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Export to ONNX Runtime (the only target so far).")
    ] = False,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Dynamic int8 quantisation of the weights.")
    ] = False,
    eval_file: Annotated[
        Path | None,
        typer.Option("--eval", help="Labelled complaint log: report accuracy and macro-F1 before and after."),
    ] = None,
    eval_limit: Annotated[
        int | None, typer.Option("--eval-limit", help="Evaluate on the first N rows only.")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for the evaluation.")] = None,
) -> None:
    """Export a transformer model for faster CPU inference (a model directory `--model` accepts)."""
    from nlp.engine import EngineConfig
    from tools.onnx_export import evaluate_pair, export_onnx, write_report

    if not onnx:
        raise typer.BadParameter("choose an export target: --onnx (the only one so far)")
    report = export_onnx(model, output, quantize=quantize)
    if eval_file is not None:
        report.evaluation = evaluate_pair(
            model, output, eval_file, engine_config=EngineConfig(num_threads=threads), limit=eval_limit
        )
        write_report(report, output)
    typer.echo(report.to_text())
    if eval_file is not None:
        typer.echo(json.dumps(report.evaluation, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)
    app.command("export")(export)
