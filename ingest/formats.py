"""File formats, compression and text encodings of complaint logs."""

from __future__ import annotations

import codecs
import io
import os
from pathlib import Path
from typing import Literal

from common.errors import InputFileError

Format = Literal["csv", "tsv", "jsonl", "xlsx", "parquet"]

# Undecodable bytes (a truncated GBK export, a stray byte) are replaced with this noncharacter
# while decoding, so that the rows before the break are still read and the broken row can be
# rejected on its own; the handler never raises. U+FDD1 is a Unicode noncharacter: no real
# export contains it.
UNDECODABLE = "\ufdd1"
UNDECODABLE_HANDLER = "hotline-undecodable"


def _mark_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return UNDECODABLE, exc.end


codecs.register_error(UNDECODABLE_HANDLER, _mark_undecodable)


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


def open_binary(path: Path) -> io.BufferedIOBase:
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
    with open_binary(p) as fh:
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
