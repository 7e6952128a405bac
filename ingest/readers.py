"""Reading complaint logs.

:class:`ComplaintReader` reads CSV/TSV (UTF-8 or GBK/GB18030), JSONL, XLSX and Parquet in chunks
of bounded size and maps their headers onto the canonical columns (:mod:`ingest.options`). Rows
that cannot be used (empty text, unparseable time, a CSV line with the wrong number of fields)
are written to a rejects file with the reason and never stop the job.

Each chunk comes back as a :class:`Chunk`: ``records`` holds the canonical columns (text
normalised and, by default, PII-masked) plus ``row``, the 1-based data row in the source
file; ``source`` holds the original columns, untouched, on the same index, so that outputs can
keep the user's columns.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import InputFileError
from ingest.formats import UNDECODABLE, UNDECODABLE_HANDLER, detect_encoding, detect_format, open_binary
from ingest.options import ReaderOptions
from ingest.rejects import Reject, RejectsWriter
from ingest.times import parse_times
from nlp.pii import mask_pii
from nlp.text import join_title_text, normalize_text

logger = logging.getLogger(__name__)

# A source row as the raw readers yield it: (1-based data row, values or None, (reject kind,
# reason) or None), and a batch of them under the header they were read with.
RawRow = tuple[int, list[Any] | None, tuple[str, str] | None]
RawBatch = tuple[list[str], list[RawRow]]


@dataclass
class Chunk:
    """One chunk of a complaint log: canonical ``records`` and the untouched ``source`` columns."""

    records: pd.DataFrame
    source: pd.DataFrame


class ComplaintReader:
    """Streams a complaint log in chunks; see the module docstring.

    >>> reader = ComplaintReader("log.csv", rejects=RejectsWriter("rejects.csv"))
    >>> for chunk in reader:                      # doctest: +SKIP
    ...     classify(chunk.records["text"])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        options: ReaderOptions | None = None,
        *,
        rejects: RejectsWriter | None = None,
        skip_rows: int = 0,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise InputFileError("file not found", path=str(self.path))
        if self.path.is_dir():
            raise InputFileError("is a directory; expected a complaint log file", path=str(self.path))
        self.options = options or ReaderOptions()
        self.format = detect_format(self.path)
        self.rejects = rejects if rejects is not None else RejectsWriter(None)
        self.skip_rows = skip_rows
        self.encoding: str | None = None
        self.mapping: dict[str, str | None] = {}
        self._mapped_header: list[str] | None = None
        self.rows_read = 0
        self.rows_rejected = 0
        self._undecodable_rows = 0

    # -- raw readers: yield (header, list of (row_number, values or None, error)) batches --------

    def _raw_batches(
        self,
    ) -> Iterator[RawBatch]:
        if self.format in ("csv", "tsv"):
            yield from self._csv_batches()
        elif self.format == "jsonl":
            yield from self._jsonl_batches()
        elif self.format == "xlsx":
            yield from self._xlsx_batches()
        else:
            yield from self._parquet_batches()

    def _text_stream(self) -> io.TextIOBase:
        self.encoding = self.options.encoding or detect_encoding(self.path)
        raw = open_binary(self.path)
        return io.TextIOWrapper(raw, encoding=self.encoding, errors=UNDECODABLE_HANDLER, newline="")  # type: ignore[arg-type]

    def _csv_batches(
        self,
    ) -> Iterator[RawBatch]:
        size = self.options.chunk_size
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        with self._text_stream() as fh:
            sample = fh.read(64 * 1024)
            fh.seek(0)
            if self.format == "tsv":
                delimiter = "\t"
            else:
                first_line = sample.split("\n", 1)[0]
                delimiter = max(",\t;|", key=first_line.count) if first_line else ","
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise InputFileError(
                    "the file is empty; expected a header row", path=str(self.path)
                ) from None
            except (csv.Error, UnicodeDecodeError) as exc:
                raise self._decode_error(exc, 1) from exc
            header = [h.replace("\ufeff", "").strip() for h in header]
            if any(UNDECODABLE in h for h in header):
                raise self._decode_error(ValueError("undecodable bytes in the header"), 1)
            width = len(header)
            batch: list[RawRow] = []
            row = 0
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    # A broken quote swallows the rest of the file; report it and stop there
                    # rather than guessing where the next good row starts.
                    row += 1
                    batch.append(
                        (row, None, ("malformed_csv", f"malformed CSV near line {reader.line_num}: {exc}"))
                    )
                    break
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                row += 1
                if row <= self.skip_rows:
                    continue
                if any(UNDECODABLE in v for v in values):
                    batch.append((row, None, self._undecodable(row, reader.line_num)))
                elif len(values) != width:
                    detail = f"expected {width} fields, found {len(values)} (line {reader.line_num})"
                    batch.append((row, None, ("field_count", detail)))
                else:
                    batch.append((row, values, None))
                if len(batch) >= size:
                    yield header, batch
                    batch = []
            if batch:
                yield header, batch

    def _undecodable(self, row: int, line: int | None) -> tuple[str, str]:
        self._undecodable_rows += 1
        # A file read in the wrong encoding breaks on nearly every row: one clear error with the
        # fix beats thousands of rejects.
        if self._undecodable_rows == row and row >= 10:
            raise self._decode_error(ValueError(f"rows 1-{row} all hold undecodable bytes"), row)
        where = f" (line {line})" if line else ""
        return (
            "undecodable",
            f"bytes that are not valid {self.encoding}{where}: the file is cut off or damaged here, "
            "or not in this encoding (pass --encoding)",
        )

    def _decode_error(self, exc: Exception, row: int) -> InputFileError:
        return InputFileError(
            f"cannot decode the file as {self.encoding} ({exc}); pass --encoding (e.g. gb18030 or "
            "utf-8) or re-export the file as UTF-8",
            path=str(self.path),
            row=row,
        )

    def _jsonl_batches(
        self,
    ) -> Iterator[RawBatch]:
        size = self.options.chunk_size
        header: list[str] = []
        pending: list[tuple[int, dict[str, Any] | None, tuple[str, str] | None]] = []
        row = 0

        def flush() -> RawBatch:
            return list(header), [
                (r, [obj.get(h) for h in header] if obj else None, e) for r, obj, e in pending
            ]

        with self._text_stream() as fh:
            for line in fh:
                if not line.strip():
                    continue
                row += 1
                if row <= self.skip_rows:
                    continue
                if UNDECODABLE in line:
                    pending.append((row, None, self._undecodable(row, None)))
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    pending.append(
                        (row, None, ("invalid_json", f"invalid JSON: {exc.msg} at column {exc.colno}"))
                    )
                    continue
                if not isinstance(obj, dict):
                    detail = f"expected a JSON object, found {type(obj).__name__}"
                    pending.append((row, None, ("not_an_object", detail)))
                    continue
                for key in obj:
                    if key not in header:
                        header.append(key)
                pending.append((row, obj, None))
                if len(pending) >= size:
                    yield flush()
                    pending = []
        if pending:
            yield flush()

    def _xlsx_batches(
        self,
    ) -> Iterator[RawBatch]:
        from openpyxl import load_workbook

        size = self.options.chunk_size
        wb = load_workbook(self.path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = ws.iter_rows(values_only=True)
            try:
                header = [
                    str(h).strip() if h is not None else f"column_{i + 1}" for i, h in enumerate(next(rows))
                ]
            except StopIteration:
                raise InputFileError(
                    "the sheet is empty; expected a header row", path=str(self.path)
                ) from None
            batch: list[RawRow] = []
            row = 0
            for values in rows:
                if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                    continue
                row += 1
                if row <= self.skip_rows:
                    continue
                vals = list(values)[: len(header)] + [None] * max(0, len(header) - len(values))
                batch.append((row, vals, None))
                if len(batch) >= size:
                    yield header, batch
                    batch = []
            if batch:
                yield header, batch
        finally:
            wb.close()

    def _parquet_batches(
        self,
    ) -> Iterator[RawBatch]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        header = list(pf.schema_arrow.names)
        row = 0
        for rb in pf.iter_batches(batch_size=self.options.chunk_size):
            cols = [rb.column(i).to_pylist() for i in range(rb.num_columns)]
            batch = []
            for values in zip(*cols, strict=True):
                row += 1
                if row > self.skip_rows:
                    batch.append((row, list(values), None))
            if batch:
                yield header, batch

    # -- canonicalisation ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Chunk]:
        opts = self.options
        require = tuple(dict.fromkeys((*opts.require, *(("time",) if opts.require_time else ()))))
        for header, batch in self._raw_batches():
            if header != self._mapped_header:  # JSONL headers grow as new keys appear
                self.mapping = opts.columns.resolve(header, path=self.path, require=require)
                self._mapped_header = header
            batch = self._cut_oversize(header, batch)
            good = [(r, v) for r, v, err in batch if err is None]
            for r, _v, err in batch:
                if err is not None:
                    self._reject(Reject(row=r, column=None, kind=err[0], reason=err[1]))
            self.rows_read += len(batch)
            if not good:
                continue
            source = pd.DataFrame([v for _, v in good], columns=header, index=[r for r, _ in good])
            source.index.name = None
            chunk = self._canonical(source)
            if chunk is not None:
                yield chunk
        self.rejects.flush()

    def _cut_oversize(self, header: list[str], batch: list[RawRow]) -> list[RawRow]:
        """Turn rows with a cell over ``max_cell_chars`` into rejects, dropping their values so
        that the big string is freed before any normalising, masking or copying."""
        limit = self.options.max_cell_chars
        out: list[RawRow] = []
        for r, values, err in batch:
            if values is not None:
                for i, v in enumerate(values):
                    if isinstance(v, (str, bytes)) and len(v) > limit:
                        name = header[i] if i < len(header) else f"column {i + 1}"
                        reason = (
                            f"cell in column {name!r} has {len(v):,} characters, more than the limit of "
                            f"{limit:,} (raise it with --max-cell-chars if such cells are expected)"
                        )
                        values, err = None, ("oversize_cell", reason)
                        break
            out.append((r, values, err))
        return out

    def _reject(self, reject: Reject) -> None:
        self.rows_rejected += 1
        self.rejects.write(self.path, reject)

    def _canonical(self, source: pd.DataFrame) -> Chunk | None:
        opts = self.options
        m = self.mapping
        rows = source.index.to_numpy()

        def col(name: str) -> pd.Series:
            src = m.get(name)
            if src is None:
                return pd.Series([None] * len(source), index=source.index, dtype="object")
            return source[src]

        def as_str(series: pd.Series) -> pd.Series:
            return series.map(_cell_to_str)

        records = pd.DataFrame(index=source.index)
        records["row"] = rows
        ids = as_str(col("id")) if m.get("id") else pd.Series([str(r) for r in rows], index=source.index)
        records["id"] = ids.where(ids != "", pd.Series([str(r) for r in rows], index=source.index))
        norm = opts.normalize
        title = as_str(col("title")).map(lambda s: normalize_text(s, norm))
        text = as_str(col("text")).map(lambda s: normalize_text(s, norm))
        if opts.mask:
            title = title.map(mask_pii)
            text = text.map(mask_pii)
        records["title"] = title
        records["text"] = text
        records["time"], bad_time = (
            parse_times(col("time"))
            if m.get("time")
            else (
                pd.Series(pd.NaT, index=source.index, dtype="datetime64[ns]"),
                pd.Series(False, index=source.index),
            )
        )
        records["district"] = as_str(col("district")).map(normalize_text)
        records["label"] = as_str(col("label")).map(normalize_text)

        kinds = pd.Series("", index=source.index, dtype="object")
        reasons = pd.Series("", index=source.index, dtype="object")
        columns = pd.Series("", index=source.index, dtype="object")

        def flag(mask: pd.Series, column: str | None, kind: str, reason: pd.Series | str) -> None:
            new = mask & (kinds == "")
            if not new.any():
                return
            kinds[new] = kind
            reasons[new] = reason[new] if isinstance(reason, pd.Series) else reason
            columns[new] = column or ""

        flag(text == "", m.get("text"), "empty_text", "empty text")
        if m.get("time"):
            raw_time = as_str(col("time")).map(lambda s: mask_pii(s)[:40])
            flag(bad_time, m["time"], "unparseable_time", "unparseable time: " + raw_time)
            if opts.require_time:
                flag(records["time"].isna(), m["time"], "missing_time", "missing time")
        if "label" in opts.require:
            flag(records["label"] == "", m.get("label"), "empty_label", "empty label")
        bad = kinds != ""
        for idx in source.index[bad.to_numpy()]:
            self._reject(
                Reject(
                    row=int(records.at[idx, "row"]),
                    column=columns[idx] or None,
                    kind=str(kinds[idx]),
                    reason=str(reasons[idx]),
                    id=str(records.at[idx, "id"]),
                    text=str(records.at[idx, "text"]) or _cell_to_str(col("text")[idx]),
                )
            )
        if bad.all():
            return None
        keep = ~bad
        return Chunk(records=records[keep.to_numpy()], source=source[keep.to_numpy()])


def _cell_to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat(sep=" ") if hasattr(value, "hour") else value.isoformat()
    return str(value)


def read_complaints(
    path: str | os.PathLike[str],
    options: ReaderOptions | None = None,
    *,
    rejects: RejectsWriter | str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Read a whole complaint log into one canonical DataFrame (for training-sized files)."""
    writer = rejects if isinstance(rejects, RejectsWriter) or rejects is None else RejectsWriter(rejects)
    reader = ComplaintReader(path, options, rejects=writer)
    try:
        frames = [chunk.records for chunk in reader]
    finally:
        if writer is not None and writer is not rejects:
            writer.close()
    if reader.rows_rejected:
        logger.warning(
            "%s: %d of %d rows rejected%s",
            path,
            reader.rows_rejected,
            reader.rows_read,
            f" (see {writer.path})" if writer is not None and writer.path else "",
        )
    if not frames:
        raise InputFileError("no usable rows (every row was empty or malformed)", path=str(path))
    return pd.concat(frames).reset_index(drop=True)


def iter_texts(path: str | os.PathLike[str], options: ReaderOptions | None = None) -> Iterator[str]:
    """Yield the classifier input (title + text, normalised, masked) of each usable row."""
    for chunk in ComplaintReader(path, options):
        yield from (
            join_title_text(t, x) for t, x in zip(chunk.records["title"], chunk.records["text"], strict=True)
        )


def count_rows(path: str | os.PathLike[str], encoding: str | None = None) -> int | None:
    """Number of data rows, cheaply where the format allows (for progress bars); else ``None``."""
    p = Path(path)
    fmt = detect_format(p)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    if fmt == "xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(p, read_only=True)
        try:
            # The stored dimension is missing or stale in many exports: count the rows.
            rows = wb.worksheets[0].iter_rows(values_only=True)
            return max(0, sum(1 for r in rows if any(v is not None for v in r)) - 1)
        finally:
            wb.close()
    enc = encoding or detect_encoding(p)
    with io.TextIOWrapper(open_binary(p), encoding=enc, errors="replace", newline="") as fh:
        if fmt == "jsonl":
            return sum(1 for line in fh if line.strip())
        return max(0, sum(1 for _ in csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")) - 1)
