"""What makes a file job resumable: where its progress lives, and how it commits.

After every chunk a job appends the chunk's rows to the output (CSV, TSV and JSONL), or writes
them as one Parquet part (Parquet and XLSX outputs, which cannot be appended to), then commits a
small progress file atomically (write + fsync + rename): rows consumed, output bytes or parts,
rejects bytes, counts, and a fingerprint of the input and the options. A crash can only leave
bytes *after* the last commit; a resumed run truncates them (:func:`truncate_to_commit`), skips
the committed rows in the reader and carries on, so no row is lost or written twice.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from common.errors import HotlineError
from ingest.writers import TableWriter

PROGRESS_FORMAT = 1
# Output formats a job appends to; the others are written as Parquet parts and assembled.
APPENDABLE = ("csv", "tsv", "jsonl")


def _stem(path: Path) -> str:
    name = path.name
    for suffix in path.suffixes:
        name = name.removesuffix(suffix)
    return name


def progress_path(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(_stem(out) + ".progress.json")


def summary_path(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(_stem(out) + ".summary.json")


def parts_dir(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(out.name + ".parts")


def input_fingerprint(path: str | os.PathLike[str], sample: int = 1 << 20) -> dict[str, Any]:
    """Size plus a hash of the first and last MiB: cheap, and it changes when the file does."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        h.update(fh.read(sample))
        if size > sample:
            fh.seek(max(sample, size - sample))
            h.update(fh.read(sample))
    return {"path": str(p.resolve()), "size": size, "sha256_head_tail": h.hexdigest()}


def fsync_file(path: Path) -> None:
    if path.exists():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def truncate_file(path: Path, size: int) -> None:
    if not path.exists():
        return
    if size == 0:
        path.unlink()
        return
    with open(path, "r+b") as fh:
        fh.truncate(size)


def truncate_to_commit(
    state: dict[str, Any], output: Path, out_format: str, parts: Path, rejects_path: Path | None
) -> None:
    """Drop whatever an interrupted run wrote after its last commit."""
    if out_format in APPENDABLE:
        truncate_file(output, int(state["output_bytes"]))
    else:
        if parts.exists():
            for part in parts.glob("part-*.parquet"):
                if int(part.stem.split("-")[1]) >= int(state["parts"]):
                    part.unlink()
        missing = [i for i in range(int(state["parts"])) if not (parts / f"part-{i:06d}.parquet").exists()]
        if missing:
            raise HotlineError(
                f"{parts} lost {len(missing)} committed part(s); rerun without --resume to start over"
            )
    if rejects_path is not None:
        truncate_file(rejects_path, int(state["rejects_bytes"]))


def assemble_parts(
    output: Path,
    out_format: str,
    parts: Path,
    n_parts: int,
    columns: list[str],
    *,
    formula_guard: bool = True,
) -> None:
    """Join the Parquet parts into the final Parquet/XLSX file, one part in memory at a time.

    ``columns`` is the header of an output without a single part.
    """
    tmp = output.with_name(output.name + ".tmp")
    with TableWriter(tmp, out_format, formula_guard=formula_guard) as writer:  # type: ignore[arg-type]
        if n_parts == 0:
            writer.write(pd.DataFrame(columns=columns))
        for i in range(n_parts):
            writer.write(pd.read_parquet(parts / f"part-{i:06d}.parquet"))
    os.replace(tmp, output)
