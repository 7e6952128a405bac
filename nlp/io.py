"""Reading and writing complaint logs.

Hotline systems export CSV (often GBK from Excel or a government platform), JSON lines, XLSX
and Parquet, with English or Chinese headers. :class:`ComplaintReader` reads all of them in
chunks of bounded size and maps their headers onto the canonical columns ``id``, ``title``,
``text``, ``time``, ``district`` and ``label`` (see :class:`ColumnMap`). Rows that cannot be
used (empty text, unparseable time, a CSV line with the wrong number of fields) are written to
a rejects file with the reason and never stop the job.

Each chunk comes back as a :class:`Chunk`: ``records`` holds the canonical columns (text
normalised and, by default, PII-masked) plus ``row``, the 1-based data row in the source
file; ``source`` holds the original columns, untouched, on the same index, so that outputs can
keep the user's columns.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import json
import logging
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from common.errors import ColumnNotFoundError, InputFileError
from nlp.pii import mask_pii
from nlp.text import NormalizeOptions, join_title_text, normalize_text

logger = logging.getLogger(__name__)

Format = Literal["csv", "tsv", "jsonl", "xlsx", "parquet"]
CANONICAL_COLUMNS = ("id", "title", "text", "time", "district", "label")
# A source row as the raw readers yield it: (1-based data row, values or None, (reject kind,
# reason) or None), and a batch of them under the header they were read with.
RawRow = tuple[int, list[Any] | None, tuple[str, str] | None]
RawBatch = tuple[list[str], list[RawRow]]

# Header names seen in hotline exports, most specific first. Matching ignores case, spaces,
# underscores and a UTF-8 BOM.
DEFAULT_CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": (
        "text", "content", "body", "message", "text_a",
        "留言详情", "诉求内容", "留言内容", "来电内容", "诉求描述", "问题描述", "投诉内容",
        "反映内容", "工单内容", "事件描述", "详细内容", "内容", "详情", "描述",
    ),
    "title": ("title", "subject", "留言主题", "诉求标题", "工单标题", "标题", "主题", "事项"),
    "id": ("id", "uid", "ticket_id", "case_id", "留言编号", "工单编号", "工单号", "受理编号", "编号", "序号"),
    "time": (
        "time", "datetime", "timestamp", "created_at", "date",
        "留言时间", "来电时间", "受理时间", "登记时间", "创建时间", "提交时间", "时间", "日期",
    ),
    "district": ("district", "region", "area", "所属区县", "区县", "行政区", "所属区域", "区域", "区"),
    "label": (
        "label", "category", "class", "一级标签", "一级分类", "诉求分类", "问题分类", "诉求类型",
        "类别", "分类", "标签",
    ),
}  # fmt: skip


def _header_key(name: object) -> str:
    return re.sub(r"[\s_\-]", "", str(name).replace("\ufeff", "")).lower()


# -- personal data and spreadsheet formulas in outputs ---------------------------------------------

# OWASP CSV-injection guidance: a spreadsheet evaluates a cell that starts with one of these.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value: Any) -> Any:
    """Prefix a single quote to a string cell a spreadsheet would run as a formula.

    Only strings are touched: a negative number is a number, not a formula.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _is_text_column(series: pd.Series) -> bool:
    return series.dtype == object or pd.api.types.is_string_dtype(series.dtype)


def guard_formulas(frame: pd.DataFrame, *, index: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`neutralize_formula` applied to every string cell."""
    out = frame.copy()
    for col in out.columns:
        if _is_text_column(out[col]):
            out[col] = out[col].map(neutralize_formula)
    out.columns = pd.Index([neutralize_formula(str(c)) for c in out.columns], name=out.columns.name)
    if index and _is_text_column(out.index.to_series()):
        out.index = pd.Index([neutralize_formula(v) for v in out.index], name=out.index.name)
    return out


def _mask_cell(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    # A phone or ID typed into a spreadsheet cell arrives as a number inside a text column.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1_000_000:
        masked = mask_pii(str(value))
        return masked if masked != str(value) else value
    return value


def mask_columns(frame: pd.DataFrame, keep_raw: Iterable[str] = ()) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`mask_pii` applied to every free-text column.

    Free text is any object/string column, ids included (a phone number typed into the id or
    district field is as personal as one in the complaint). Numeric and datetime columns pass
    through. ``keep_raw`` names columns the caller explicitly wants unmasked.
    """
    keep = {str(c) for c in keep_raw}
    out = frame.copy()
    for col in out.columns:
        if str(col) not in keep and _is_text_column(out[col]):
            out[col] = out[col].map(_mask_cell)
    return out


def parse_column_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a,b , c"`` -> ``("a", "b", "c")`` (for ``--keep-raw-columns``)."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))


def check_keep_raw(keep_raw: Sequence[str], columns: Iterable[str], *, path: str | os.PathLike[str]) -> None:
    """Fail when ``--keep-raw-columns`` names a column the file does not have (a typo would
    otherwise silently keep nothing raw, or worse, be read as keeping everything)."""
    have = {str(c) for c in columns}
    missing = [c for c in keep_raw if c not in have]
    if missing:
        raise ColumnNotFoundError(
            f"--keep-raw-columns names {', '.join(map(repr, missing))}, which the file does not have; "
            f"the file has: {', '.join(sorted(have))}",
            path=str(path),
        )


# Undecodable bytes (a truncated GBK export, a stray byte) are replaced with this noncharacter
# while decoding, so that the rows before the break are still read and the broken row can be
# rejected on its own; the handler never raises. U+FDD1 is a Unicode noncharacter: no real
# export contains it.
UNDECODABLE = "\ufdd1"
_UNDECODABLE_HANDLER = "hotline-undecodable"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return UNDECODABLE, exc.end


codecs.register_error(_UNDECODABLE_HANDLER, _mark_undecodable)


@dataclass
class ColumnMap:
    """Which source column feeds each canonical column; ``None`` means detect from headers."""

    text: str | None = None
    title: str | None = None
    id: str | None = None
    time: str | None = None
    district: str | None = None
    label: str | None = None

    def resolve(
        self, headers: Sequence[str], *, path: str | os.PathLike[str], require: Iterable[str] = ("text",)
    ) -> dict[str, str | None]:
        """Map each canonical column to a header of this file (or ``None`` if absent).

        Explicitly named columns must exist; ``require`` lists canonical columns that must be
        found one way or the other.
        """
        by_key: dict[str, str] = {}
        for h in headers:
            by_key.setdefault(_header_key(h), h)
        mapping: dict[str, str | None] = {}
        for f in fields(self):
            wanted = getattr(self, f.name)
            if wanted is not None:
                if wanted in headers:
                    mapping[f.name] = wanted
                elif _header_key(wanted) in by_key:
                    mapping[f.name] = by_key[_header_key(wanted)]
                else:
                    raise ColumnNotFoundError(
                        f"no column named {wanted!r} (given with --{f.name}-column); "
                        f"the file has: {', '.join(map(str, headers))}",
                        path=str(path),
                    )
                continue
            mapping[f.name] = next(
                (by_key[_header_key(c)] for c in DEFAULT_CANDIDATES[f.name] if _header_key(c) in by_key), None
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


def detect_format(path: str | os.PathLike[str]) -> Format:
    """File format from the extension (``.csv.gz`` and other compressed CSV/JSONL included)."""
    name = Path(path).name.lower()
    for ext in (".gz", ".bz2", ".xz", ".zst"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if name.endswith((".csv", ".txt")):
        return "csv"
    if name.endswith(".tsv"):
        return "tsv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith((".xlsx", ".xlsm")):
        return "xlsx"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise InputFileError(
        "unknown file type; expected .csv, .tsv, .jsonl, .xlsx or .parquet (rename the file or convert it)",
        path=str(path),
    )


def _open_binary(path: Path) -> io.BufferedIOBase:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".bz2":
        import bz2

        return bz2.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".xz":
        import lzma

        return lzma.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def detect_encoding(path: str | os.PathLike[str], sample_bytes: int = 1 << 20) -> str:
    """Guess the text encoding of a CSV/JSONL file: UTF-8 (with or without BOM) or GB18030.

    Government systems and Excel on Chinese Windows export GBK; GB18030 is its superset, so it
    is used to decode both. The file is sampled at its start and at three later offsets, since a
    GBK file can begin with an all-ASCII header and ids.
    """
    p = Path(path)
    with _open_binary(p) as fh:
        head = fh.read(sample_bytes)
        samples = [head]
        if p.suffix.lower() not in (".gz", ".bz2", ".xz"):
            size = p.stat().st_size
            for frac in (0.33, 0.66, 0.95):
                offset = int(size * frac)
                if offset <= len(head):
                    continue
                fh.seek(offset)
                chunk = fh.read(sample_bytes // 4)
                nl = chunk.find(b"\n")
                if nl >= 0:
                    samples.append(chunk[nl + 1 :])
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if all(_decodes(s, "utf-8") for s in samples):
        return "utf-8"
    if all(_decodes(s, "gb18030") for s in samples):
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise InputFileError(
            "cannot tell the text encoding (not UTF-8 or GBK/GB18030); convert the file to UTF-8 "
            "or pass --encoding",
            path=str(path),
        )
    return best.encoding


def _decodes(data: bytes, encoding: str) -> bool:
    # The sample may end in the middle of a multi-byte character: decode incrementally and only
    # fail on errors before the end.
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_CN_TIME = re.compile(r"(\d{1,2})\s*[时點点]\s*(?:(\d{1,2})\s*分)?\s*(?:(\d{1,2})\s*秒)?")
_NUMERIC = re.compile(r"^\d+(?:\.\d+)?$")


def _clean_time_string(value: str) -> str:
    s = normalize_text(value)
    s = _CN_DATE.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d} ", s)
    s = _CN_TIME.sub(lambda m: f"{int(m[1]):02d}:{int(m[2] or 0):02d}:{int(m[3] or 0):02d}", s)
    return s.strip()


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Leniently parse a column of timestamps.

    Accepts ISO and slash dates (``2019/2/28 11:25:05``), Chinese dates (``2026年5月3日 14时5分``),
    Excel serial day numbers and Unix seconds/milliseconds. Returns the parsed, timezone-naive
    timestamps and a boolean mask of values that were present but could not be parsed.
    """
    present = values.notna() & (values.astype("string").str.strip() != "")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if not present.any():
        return out, present & False
    sub = values[present]
    is_dt = sub.map(lambda v: isinstance(v, (pd.Timestamp,)) or hasattr(v, "isoformat"))
    if is_dt.any():
        out[is_dt[is_dt].index] = pd.to_datetime(sub[is_dt], errors="coerce").dt.tz_localize(None)
    rest = sub[~is_dt].astype(str).map(_clean_time_string)
    numeric = rest.str.match(_NUMERIC)
    if numeric.any():
        num = rest[numeric].astype(float)
        parsed = pd.Series(pd.NaT, index=num.index, dtype="datetime64[ns]")
        excel = num.between(20000, 80000)
        unix_s = num.between(1e8, 4e9)
        unix_ms = num.between(1e11, 4e12)
        parsed[excel] = pd.to_datetime(num[excel], unit="D", origin="1899-12-30")
        parsed[unix_s] = pd.to_datetime(num[unix_s], unit="s")
        parsed[unix_ms] = pd.to_datetime(num[unix_ms], unit="ms")
        out[parsed.index] = parsed
    textual = rest[~numeric]
    if len(textual):
        parsed = pd.to_datetime(textual, errors="coerce", format="mixed")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out[textual.index] = parsed
    bad = present & out.isna()
    return out, bad


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


@dataclass
class Chunk:
    """One chunk of a complaint log: canonical ``records`` and the untouched ``source`` columns."""

    records: pd.DataFrame
    source: pd.DataFrame


@dataclass
class ReaderOptions:
    """How a complaint log is read (shared by every command that reads one)."""

    columns: ColumnMap = field(default_factory=ColumnMap)
    require: tuple[str, ...] = ("text",)
    chunk_size: int = 5000
    encoding: str | None = None
    mask: bool = True
    normalize: NormalizeOptions = field(default_factory=NormalizeOptions)
    require_time: bool = False
    # A row with a longer cell is rejected (kind ``oversize_cell``) before any text processing,
    # so that one runaway cell (a pasted document, a broken export) cannot blow up memory.
    max_cell_chars: int = 100_000

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.max_cell_chars < 1:
            raise ValueError(f"max_cell_chars must be >= 1, got {self.max_cell_chars}")
        unknown = set(self.require) - set(CANONICAL_COLUMNS)
        if unknown:
            raise ValueError(f"unknown canonical column(s) in require: {sorted(unknown)}")


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
        raw = _open_binary(self.path)
        return io.TextIOWrapper(raw, encoding=self.encoding, errors=_UNDECODABLE_HANDLER, newline="")  # type: ignore[arg-type]

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
    with io.TextIOWrapper(_open_binary(p), encoding=enc, errors="replace", newline="") as fh:
        if fmt == "jsonl":
            return sum(1 for line in fh if line.strip())
        return max(0, sum(1 for _ in csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")) - 1)


# -- writing ---------------------------------------------------------------------------------------


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
            self._fh.write(json.dumps({k: _jsonable(v) for k, v in rec.items()}, ensure_ascii=False) + "\n")

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


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return str(value)
    if isinstance(value, (list, dict, str, int, float, bool)):
        return value
    return str(value)


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
    value = _jsonable(value)
    if isinstance(value, float) and math.isinf(value):
        return None
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
