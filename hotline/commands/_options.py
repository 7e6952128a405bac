"""Options shared by every command that reads a complaint log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ingest.options import ColumnMap, ReaderOptions
from nlp.text import NormalizeOptions

TextColumn = Annotated[str | None, typer.Option("--text-column", help="Column with the complaint text.")]
TitleColumn = Annotated[str | None, typer.Option("--title-column", help="Column with the title/subject.")]
IdColumn = Annotated[str | None, typer.Option("--id-column", help="Column with the ticket id.")]
TimeColumn = Annotated[str | None, typer.Option("--time-column", help="Column with the call/message time.")]
DistrictColumn = Annotated[str | None, typer.Option("--district-column", help="Column with the district.")]
LabelColumn = Annotated[str | None, typer.Option("--label-column", help="Column with the category label.")]
Encoding = Annotated[
    str | None,
    typer.Option("--encoding", help="Text encoding of CSV/JSONL input (default: detect UTF-8/GBK)."),
]
T2S = Annotated[bool, typer.Option("--t2s", help="Convert traditional Chinese to simplified.")]
KeepRawColumns = Annotated[
    str | None,
    typer.Option(
        "--keep-raw-columns",
        help="Comma-separated input columns to write unmasked (default: every text column is "
        "PII-masked, ids included). The opt-out is logged.",
    ),
]
NoFormulaGuard = Annotated[
    bool,
    typer.Option(
        "--no-formula-guard",
        help="Write cells starting with = + - @ as they are (default: prefix a single quote so "
        "spreadsheets do not run them as formulas). Only for machine consumers.",
    ),
]
MaxCellChars = Annotated[
    int,
    typer.Option("--max-cell-chars", help="Rows with a longer cell are rejected (oversize_cell).", min=1),
]
Rejects = Annotated[
    Path | None, typer.Option("--rejects", help="Where rejected rows go (default: OUTPUT.rejects.csv).")
]


def reader_options(
    *,
    text_column: str | None = None,
    title_column: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    district_column: str | None = None,
    label_column: str | None = None,
    encoding: str | None = None,
    t2s: bool = False,
    require: tuple[str, ...] = ("text",),
    chunk_size: int = 5000,
    max_cell_chars: int = 100_000,
) -> ReaderOptions:
    return ReaderOptions(
        columns=ColumnMap(
            text=text_column,
            title=title_column,
            id=id_column,
            time=time_column,
            district=district_column,
            label=label_column,
        ),
        require=require,
        encoding=encoding,
        chunk_size=chunk_size,
        max_cell_chars=max_cell_chars,
        normalize=NormalizeOptions(traditional_to_simplified=t2s),
    )


def default_rejects_path(output: Path) -> Path:
    name = output.name
    for suffix in output.suffixes:
        name = name.removesuffix(suffix)
    return output.with_name(name + ".rejects.csv")
