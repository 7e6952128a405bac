"""`hotline inspect` and `hotline preprocess`: look at a complaint log, clean and mask it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import (
    ALL_READER_OPTIONS,
    LOG_COLUMNS,
    ReaderArgs,
    Rejects,
    default_rejects_path,
    with_reader_options,
)


@with_reader_options(*LOG_COLUMNS, "encoding")
def inspect(
    input: Annotated[Path, typer.Argument(help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    *,
    reader: ReaderArgs,
) -> None:
    """Show how a complaint log will be read: format, encoding, column mapping, first rows."""
    from ingest.masking import mask_columns
    from ingest.readers import ComplaintReader, count_rows

    log = ComplaintReader(input, reader.options(chunk_size=5))
    first = next(iter(log), None)
    typer.echo(f"file:     {input}")
    typer.echo(f"format:   {log.format}   encoding: {log.encoding or 'n/a'}")
    typer.echo(f"rows:     {count_rows(input, log.encoding)}")
    typer.echo("columns:  " + ", ".join(f"{k} <- {v!r}" for k, v in log.mapping.items()))
    if first is not None:
        cols = ["id", "time", "district", "label", "title", "text"]
        # Title and text are masked by the reader; id, district and label are free text too.
        preview = mask_columns(first.records[cols])
        preview["text"] = preview["text"].str.slice(0, 40)
        typer.echo(preview.to_string(index=False))


@with_reader_options(*ALL_READER_OPTIONS)
def preprocess(
    input: Annotated[Path, typer.Argument(help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; format from its extension.")],
    rejects: Rejects = None,
    keywords: Annotated[int, typer.Option("--keywords", help="Keywords per complaint (0: none).")] = 5,
    keyword_method: Annotated[str, typer.Option("--keyword-method", help="tfidf or textrank.")] = "tfidf",
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON.")] = None,
    *,
    reader: ReaderArgs,
) -> None:
    """Normalise text, mask personal data, extract keywords; rejected rows go to a rejects file.

    Every text column of the output is masked (id, district and label too) unless named in
    --keep-raw-columns (canonical names: id, title, text, district, label).
    """
    from batch.preprocess import preprocess_log, write_report

    result = preprocess_log(
        input,
        output,
        reader.options(),
        rejects_path=rejects or default_rejects_path(output),
        keywords=keywords,
        keyword_method=keyword_method,
        keep_raw_columns=reader.keep_raw_columns or (),
        formula_guard=reader.formula_guard,
    )
    if report is not None:
        write_report(result, report)
    typer.echo(result.to_text())


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("preprocess")(preprocess)
