"""How a complaint log is read: which source column feeds each canonical column, and the rest.

:class:`ColumnMap` maps source headers onto the canonical columns ``id``, ``title``, ``text``,
``time``, ``district`` and ``label``, by name where given and otherwise by the header names seen
in hotline exports (``data/column_headers.json``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence

from pydantic import Field, field_validator

from common.config import JobConfig
from common.errors import ColumnNotFoundError
from data import resource
from nlp.text import NormalizeOptions

CANONICAL_COLUMNS = ("id", "title", "text", "time", "district", "label")

# Header names seen in hotline exports, most specific first.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    column: tuple(names)
    for column, names in json.loads(resource("column_headers.json").read_text(encoding="utf-8")).items()
    if column in CANONICAL_COLUMNS
}


def header_key(name: object) -> str:
    """A header as matching sees it: case, spaces, underscores, dashes and a BOM do not matter."""
    return re.sub(r"[\s_\-]", "", str(name).replace("\ufeff", "")).lower()


def parse_column_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b , c"`` -> ``("a", "b", "c")`` (for ``--keep-raw-columns``)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))


class ColumnMap(JobConfig):
    """Which source column feeds each canonical column; ``None`` means detect from headers."""

    text: str | None = Field(None, description="Column with the complaint text.")
    title: str | None = Field(None, description="Column with the title/subject.")
    id: str | None = Field(None, description="Column with the ticket id.")
    time: str | None = Field(None, description="Column with the call/message time.")
    district: str | None = Field(None, description="Column with the district.")
    label: str | None = Field(None, description="Column with the category label.")

    def resolve(
        self, headers: Sequence[str], *, path: str | os.PathLike[str], require: Iterable[str] = ("text",)
    ) -> dict[str, str | None]:
        """Map each canonical column to a header of this file (or ``None`` if absent).

        Explicitly named columns must exist; ``require`` lists canonical columns that must be
        found one way or the other.
        """
        by_key: dict[str, str] = {}
        for h in headers:
            by_key.setdefault(header_key(h), h)
        mapping: dict[str, str | None] = {}
        for name in type(self).model_fields:
            wanted = getattr(self, name)
            if wanted is not None:
                if wanted in headers:
                    mapping[name] = wanted
                elif header_key(wanted) in by_key:
                    mapping[name] = by_key[header_key(wanted)]
                else:
                    raise ColumnNotFoundError(
                        f"no column named {wanted!r} (given with --{name}-column); "
                        f"the file has: {', '.join(map(str, headers))}",
                        path=str(path),
                    )
                continue
            mapping[name] = next(
                (by_key[header_key(c)] for c in DEFAULT_CANDIDATES[name] if header_key(c) in by_key), None
            )
        used = [v for v in mapping.values() if v is not None]
        dupes = {v for v in used if used.count(v) > 1}
        if dupes:
            raise ColumnNotFoundError(
                f"column(s) {', '.join(sorted(dupes))} were matched to more than one role; name the "
                "columns explicitly with --text-column/--title-column/--id-column/--time-column/"
                "--district-column/--label-column",
                path=str(path),
            )
        for name in require:
            if mapping.get(name) is None:
                raise ColumnNotFoundError(
                    f"cannot find the {name} column; the file has: {', '.join(map(str, headers))}. "
                    f"Name it with --{name}-column (recognised headers: "
                    f"{', '.join(DEFAULT_CANDIDATES[name][:8])} ...)",
                    path=str(path),
                )
        return mapping


class ReaderOptions(JobConfig):
    """How a complaint log is read (shared by every command that reads one)."""

    columns: ColumnMap = Field(default_factory=ColumnMap, description="Source column of each canonical one.")
    require: tuple[str, ...] = Field(("text",), description="Canonical columns a file must have.")
    chunk_size: int = Field(5000, ge=1, description="Rows read at a time.")
    encoding: str | None = Field(None, description="Text encoding of CSV/JSONL input (unset: detect).")
    mask: bool = Field(True, description="PII-mask the canonical text columns.")
    normalize: NormalizeOptions = Field(default_factory=NormalizeOptions, description="Text normalisation.")
    require_time: bool = Field(False, description="Reject rows without a time.")
    # Checked before any text processing, so that one runaway cell (a pasted document, a broken
    # export) cannot blow up memory.
    max_cell_chars: int = Field(
        100_000, ge=1, description="Rows with a longer cell are rejected (kind oversize_cell)."
    )

    @field_validator("require")
    @classmethod
    def _canonical(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(v) - set(CANONICAL_COLUMNS)
        if unknown:
            raise ValueError(f"unknown canonical column(s): {sorted(unknown)}")
        return v
