"""Rows that cannot be used: written to a rejects file with the reason, never stopping the job."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.masking import neutralize_formula
from nlp.pii import mask_pii
from nlp.text import normalize_text


@dataclass
class Reject:
    """A row that could not be used: ``kind`` is a stable code, ``reason`` the detail."""

    row: int
    column: str | None
    kind: str
    reason: str
    id: str = ""
    text: str = ""


class RejectsWriter:
    """Appends rejected rows to a CSV (UTF-8 with BOM so Excel shows Chinese correctly).

    The file is only created when the first row is rejected. Text and id are PII-masked and
    the text cut to 200 characters: the rejects file is for finding the row, not for carrying
    the data. Cells that a spreadsheet would run as formulas are neutralised unless
    ``formula_guard=False``.
    """

    COLUMNS = ("file", "row", "column", "kind", "reason", "id", "text")

    def __init__(
        self, path: str | os.PathLike[str] | None, *, append: bool = False, formula_guard: bool = True
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.formula_guard = formula_guard
        self.count = 0
        self.reasons: dict[str, int] = {}  # count per Reject.kind
        self._fh: Any = None
        self._writer: Any = None
        self._append = append

    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        exists = self._append and self.path.exists() and self.path.stat().st_size > 0
        # Kept open across chunks and closed in close(): a context manager cannot span calls.
        self._fh = open(  # noqa: SIM115
            self.path, "a" if exists else "w", encoding="utf-8" if exists else "utf-8-sig", newline=""
        )
        self._writer = csv.writer(self._fh)
        if not exists:
            self._writer.writerow(self.COLUMNS)

    def write(self, file: str | os.PathLike[str], reject: Reject) -> None:
        self.count += 1
        self.reasons[reject.kind] = self.reasons.get(reject.kind, 0) + 1
        if self.path is None:
            return
        if self._fh is None:
            self._open()
        # Cut before masking as well, so that a huge rejected cell costs nothing; the margin
        # keeps a number straddling the cut whole for the masker.
        text = mask_pii(normalize_text(reject.text[:400]))[:200]
        cells: tuple[Any, ...] = (
            str(file),
            reject.row,
            reject.column or "",
            reject.kind,
            mask_pii(reject.reason),
            mask_pii(reject.id),
            text,
        )
        if self.formula_guard:
            cells = tuple(neutralize_formula(c) for c in cells)
        self._writer.writerow(cells)

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
