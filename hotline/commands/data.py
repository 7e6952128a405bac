"""`hotline inspect` and `hotline preprocess`: look at a complaint log, clean and mask it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import (
    T2S,
    DistrictColumn,
    Encoding,
    IdColumn,
    KeepRawColumns,
    LabelColumn,
    MaxCellChars,
    NoFormulaGuard,
    Rejects,
    TextColumn,
    TimeColumn,
    TitleColumn,
    default_rejects_path,
    reader_options,
)


def inspect(
    input: Annotated[Path, typer.Argument(help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    text_column: TextColumn = None,
    title_column: TitleColumn = None,
    id_column: IdColumn = None,
    time_column: TimeColumn = None,
    district_column: DistrictColumn = None,
    label_column: LabelColumn = None,
    encoding: Encoding = None,
) -> None:
    """Show how a complaint log will be read: format, encoding, column mapping, first rows."""
    from ingest.masking import mask_columns
    from ingest.readers import ComplaintReader, count_rows

    opts = reader_options(
        text_column=text_column,
        title_column=title_column,
        id_column=id_column,
        time_column=time_column,
        district_column=district_column,
        label_column=label_column,
        encoding=encoding,
        chunk_size=5,
    )
    reader = ComplaintReader(input, opts)
    first = next(iter(reader), None)
    typer.echo(f"file:     {input}")
    typer.echo(f"format:   {reader.format}   encoding: {reader.encoding or 'n/a'}")
    typer.echo(f"rows:     {count_rows(input, reader.encoding)}")
    typer.echo("columns:  " + ", ".join(f"{k} <- {v!r}" for k, v in reader.mapping.items()))
    if first is not None:
        cols = ["id", "time", "district", "label", "title", "text"]
        # Title and text are masked by the reader; id, district and label are free text too.
        preview = mask_columns(first.records[cols])
        preview["text"] = preview["text"].str.slice(0, 40)
        typer.echo(preview.to_string(index=False))


def preprocess(
    input: Annotated[Path, typer.Argument(help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; format from its extension.")],
    rejects: Rejects = None,
    keywords: Annotated[int, typer.Option("--keywords", help="Keywords per complaint (0: none).")] = 5,
    keyword_method: Annotated[str, typer.Option("--keyword-method", help="tfidf or textrank.")] = "tfidf",
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON.")] = None,
    text_column: TextColumn = None,
    title_column: TitleColumn = None,
    id_column: IdColumn = None,
    time_column: TimeColumn = None,
    district_column: DistrictColumn = None,
    label_column: LabelColumn = None,
    encoding: Encoding = None,
    t2s: T2S = False,
    keep_raw_columns: KeepRawColumns = None,
    no_formula_guard: NoFormulaGuard = False,
    max_cell_chars: MaxCellChars = 100_000,
) -> None:
    """Normalise text, mask personal data, extract keywords; rejected rows go to a rejects file.

    Every text column of the output is masked (id, district and label too) unless named in
    --keep-raw-columns (canonical names: id, title, text, district, label).
    """
    from batch.preprocess import preprocess_log, write_report

    opts = reader_options(
        text_column=text_column,
        title_column=title_column,
        id_column=id_column,
        time_column=time_column,
        district_column=district_column,
        label_column=label_column,
        encoding=encoding,
        t2s=t2s,
        max_cell_chars=max_cell_chars,
    )
    result = preprocess_log(
        input,
        output,
        opts,
        rejects_path=rejects or default_rejects_path(output),
        keywords=keywords,
        keyword_method=keyword_method,
        keep_raw_columns=keep_raw_columns or (),
        formula_guard=not no_formula_guard,
    )
    if report is not None:
        write_report(result, report)
    typer.echo(result.to_text())


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
    app.command("preprocess")(preprocess)
