"""Options shared by every command that reads a complaint log, declared once.

The reader options (column names, encoding, --t2s, --keep-raw-columns, --no-formula-guard,
--max-cell-chars) are the fields of :class:`ReaderArgs`. A command takes the ones it offers with
:func:`with_reader_options`: they are appended to its parameters, in the order of the fields, and
reach the command as one ``reader: ReaderArgs`` argument, which builds the library's
:class:`ReaderOptions` (:meth:`ReaderArgs.options`).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ingest.options import ColumnMap, ReaderOptions
from nlp.text import NormalizeOptions

F = TypeVar("F", bound=Callable[..., Any])

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


@dataclasses.dataclass(frozen=True)
class ReaderArgs:
    """The reader options of one command line (defaults for those the command does not offer)."""

    text_column: TextColumn = None
    title_column: TitleColumn = None
    id_column: IdColumn = None
    time_column: TimeColumn = None
    district_column: DistrictColumn = None
    label_column: LabelColumn = None
    encoding: Encoding = None
    t2s: T2S = False
    keep_raw_columns: KeepRawColumns = None
    no_formula_guard: NoFormulaGuard = False
    max_cell_chars: MaxCellChars = 100_000

    def columns(self) -> dict[str, str]:
        """The column names given, by canonical name (``{"text": "诉求内容"}``)."""
        return {
            name.removesuffix("_column"): value
            for name, value in dataclasses.asdict(self).items()
            if name.endswith("_column") and value
        }

    def options(self, *, require: tuple[str, ...] = ("text",), chunk_size: int = 5000) -> ReaderOptions:
        """The library's reader options for these arguments."""
        return ReaderOptions(
            columns=ColumnMap(
                text=self.text_column,
                title=self.title_column,
                id=self.id_column,
                time=self.time_column,
                district=self.district_column,
                label=self.label_column,
            ),
            require=require,
            encoding=self.encoding,
            chunk_size=chunk_size,
            max_cell_chars=self.max_cell_chars,
            normalize=NormalizeOptions(traditional_to_simplified=self.t2s),
        )

    @property
    def formula_guard(self) -> bool:
        return not self.no_formula_guard


# Every column option, in the order the commands list them.
LOG_COLUMNS = ("text_column", "title_column", "id_column", "time_column", "district_column", "label_column")
# What a command that writes a processed copy of the log offers.
ALL_READER_OPTIONS = tuple(f.name for f in dataclasses.fields(ReaderArgs))


def with_reader_options(*names: str) -> Callable[[F], F]:
    """Give a command the reader options ``names`` (fields of :class:`ReaderArgs`).

    They are appended to the command's parameters in the order of the fields, whatever the order
    of ``names``; the command declares ``reader: ReaderArgs`` instead and receives them in it.
    """
    unknown = set(names) - set(ALL_READER_OPTIONS)
    if unknown:
        raise ValueError(f"not reader options: {sorted(unknown)}")
    hints = typing.get_type_hints(ReaderArgs, include_extras=True)
    added = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
        for f in dataclasses.fields(ReaderArgs)
        if f.name in names
    ]

    def decorate(command: F) -> F:
        own = inspect.signature(command, eval_str=True)
        if "reader" not in own.parameters:
            raise TypeError(f"{command.__name__} must take a `reader: ReaderArgs` parameter")
        params = [p for name, p in own.parameters.items() if name != "reader"]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            reader = ReaderArgs(**{p.name: kwargs.pop(p.name) for p in added})
            return command(**kwargs, reader=reader)

        # typer reads the parameters from the signature: the command's own, then the options.
        wrapper.__signature__ = own.replace(parameters=[*params, *added])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in (*params, *added)}
        return typing.cast(F, wrapper)

    return decorate


def default_rejects_path(output: Path) -> Path:
    name = output.name
    for suffix in output.suffixes:
        name = name.removesuffix(suffix)
    return output.with_name(name + ".rejects.csv")
