"""Writing tables: the outputs of every job, with the formula guard and typed XLSX cells."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import InputFileError
from common.jsonsafe import json_safe
from ingest.formats import Format, detect_format
from ingest.masking import guard_formulas, neutralize_formula

# Sheet name of single-table XLSX outputs (Excel's default "Sheet" says nothing).
XLSX_SHEET = "数据"


class TableWriter:
    """Appends DataFrame chunks to a CSV, TSV, JSONL, XLSX or Parquet file.

    CSV is written as UTF-8 with BOM by default so that Excel on Chinese Windows opens it
    correctly; pass ``encoding="gb18030"`` for systems that only take GBK. ``append=True``
    continues an existing CSV/JSONL file (used by resumable jobs); Parquet and XLSX cannot be
    appended to in place, so resumable jobs write those through a CSV part file.

    Spreadsheet formula injection: with ``formula_guard`` (the default) every string cell of a
    CSV, TSV or XLSX output that starts with ``= + - @``, a tab or a carriage return gets a
    leading single quote (OWASP guidance), so Excel shows it as text instead of running it.
    Turn it off only for machine consumers. XLSX string cells are always written as strings,
    never as formulas; numbers stay numbers and timestamps are written as dates
    (:func:`xlsx_value`), in a sheet named ``sheet_name``. CSV rows end with CRLF, which also makes the csv module quote any field
    holding a bare CR (with LF endings such a field is written unquoted and reads back as two
    records).
    """

    XLSX_MAX_ROWS = 1_048_575

    def __init__(
        self,
        path: str | os.PathLike[str],
        fmt: Format | None = None,
        *,
        encoding: str = "utf-8-sig",
        append: bool = False,
        formula_guard: bool = True,
        sheet_name: str = XLSX_SHEET,
    ) -> None:
        self.path = Path(path)
        self.sheet_name = sheet_name
        self.format: Format = fmt or detect_format(self.path)
        self.encoding = encoding
        self.formula_guard = formula_guard
        self.append = append
        self.rows = 0
        self._fh: Any = None
        self._pq_writer: Any = None
        self._pq_schema: Any = None
        self._wb: Any = None
        self._ws: Any = None
        self._columns: list[str] | None = None
        if append and self.format in ("xlsx", "parquet"):
            raise ValueError(
                f"cannot append to {self.format}; write CSV or JSONL parts and convert at the end"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, frame: pd.DataFrame) -> None:
        if self._columns is None:
            self._columns = [str(c) for c in frame.columns]
        frame = frame.copy()
        frame.columns = [str(c) for c in frame.columns]
        if list(frame.columns) != self._columns:
            frame = frame.reindex(columns=self._columns)
        if self.formula_guard and self.format in ("csv", "tsv", "xlsx"):
            frame = guard_formulas(frame)
            frame.columns = self._columns  # header cells are guarded where they are written
        if self.format in ("csv", "tsv"):
            self._write_csv(frame)
        elif self.format == "jsonl":
            self._write_jsonl(frame)
        elif self.format == "parquet":
            self._write_parquet(frame)
        else:
            self._write_xlsx(frame)
        self.rows += len(frame)

    def _write_csv(self, frame: pd.DataFrame) -> None:
        if self._fh is None:
            existing = self.append and self.path.exists() and self.path.stat().st_size > 0
            enc = "utf-8" if existing and self.encoding == "utf-8-sig" else self.encoding
            self._fh = open(self.path, "a" if existing else "w", encoding=enc, newline="")  # noqa: SIM115
            header = not existing
        else:
            header = False
        if header and self.formula_guard:
            frame = frame.set_axis([neutralize_formula(c) for c in frame.columns], axis=1)
        frame.to_csv(
            self._fh,
            index=False,
            header=header,
            sep="\t" if self.format == "tsv" else ",",
            lineterminator="\r\n",
        )

    def _write_jsonl(self, frame: pd.DataFrame) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a" if self.append else "w", encoding="utf-8")  # noqa: SIM115
        for rec in frame.to_dict(orient="records"):
            self._fh.write(
                json.dumps({k: _jsonl_value(v) for k, v in rec.items()}, ensure_ascii=False) + "\n"
            )

    def _write_parquet(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
        if self._pq_writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            # Columns that are all-null in the first chunk would get type null; store them as strings.
            self._pq_schema = pa.schema(
                [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            )
            self._pq_writer = pq.ParquetWriter(self.path, self._pq_schema)
        table = pa.Table.from_pandas(frame, schema=self._pq_schema, preserve_index=False, safe=False)
        self._pq_writer.write_table(table)

    def _write_xlsx(self, frame: pd.DataFrame) -> None:
        if self._wb is None:
            from openpyxl import Workbook

            self._wb = Workbook(write_only=True)
            self._ws = self._wb.create_sheet(title=self.sheet_name)
            header = [neutralize_formula(c) for c in self._columns] if self.formula_guard else self._columns
            self._ws.append([self._xlsx_cell(c) for c in header])
        if self.rows + len(frame) > self.XLSX_MAX_ROWS:
            raise InputFileError(
                f"XLSX holds at most {self.XLSX_MAX_ROWS} rows; write CSV or Parquet instead",
                path=str(self.path),
            )
        for rec in frame.itertuples(index=False):
            self._ws.append([self._xlsx_cell(v) for v in rec])

    def _xlsx_cell(self, value: Any) -> Any:
        value = xlsx_value(value)
        if isinstance(value, str) and value.startswith("="):
            # openpyxl stores any string starting with "=" as a formula; force a string cell.
            from openpyxl.cell import WriteOnlyCell

            cell = WriteOnlyCell(self._ws, value=value)
            cell.data_type = "s"
            return cell
        return value

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._pq_writer is not None:
            self._pq_writer.close()
            self._pq_writer = None
        if self._wb is not None:
            self._wb.save(self.path)
            self._wb = None

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _jsonl_value(value: Any) -> Any:
    # JSONL timestamps keep ISO 8601's "T" (json_safe writes the space that CSV cells have)
    if isinstance(value, pd.Timestamp) and not pd.isna(value):
        return value.isoformat()
    return json_safe(value)


def xlsx_value(value: Any, *, formula_guard: bool = False) -> Any:
    """A cell value that openpyxl stores with its type: numbers as numbers, timestamps as dates
    (Excel date serials, not ISO text), booleans, text; NaN/NaT/None as an empty cell; lists and
    dicts as JSON text. With ``formula_guard`` strings are neutralised (:func:`neutralize_formula`).
    """
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime.datetime)):
        if pd.isna(value):
            return None
        ts = pd.Timestamp(value)
        # Excel has no time zones: keep the wall-clock time.
        return (ts.tz_localize(None) if ts.tzinfo is not None else ts).to_pydatetime()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, np.datetime64):
        return xlsx_value(pd.Timestamp(value))
    value = json_safe(value)
    if isinstance(value, (list, dict)):
        value = json.dumps(value, ensure_ascii=False)
    if formula_guard and isinstance(value, str):
        value = neutralize_formula(value)
    return value


def write_csv(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    index: bool = False,
    encoding: str = "utf-8-sig",
    formula_guard: bool = True,
) -> Path:
    """Write a small table (a report) as CSV the way :class:`TableWriter` does: formula guard
    (see there) on string cells, the header and, with ``index``, the index; CRLF line ends so
    a field holding a bare CR is quoted."""
    if formula_guard:
        frame = guard_formulas(frame, index=index)
    frame.to_csv(path, index=index, encoding=encoding, lineterminator="\r\n")
    return Path(path)


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], fmt: Format | None = None, **kwargs: Any
) -> Path:
    """Write one DataFrame to ``path`` in the format its extension names."""
    with TableWriter(path, fmt, **kwargs) as writer:
        writer.write(frame)
    return Path(path)
