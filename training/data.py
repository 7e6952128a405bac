"""Labelled training data: reading, checks that say how to fix the file, splits, replay samples.

Every frame here has the columns ``id``, ``text`` (title + message, normalised and PII-masked
by :mod:`ingest`), ``label`` and ``row`` (1-based data row in the source file, for messages).
Only masked text is ever written back to disk (``replay.parquet``, ``eval.parquet``).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from common.errors import InputFileError
from common.files import atomic_open
from ingest.options import ColumnMap, ReaderOptions
from ingest.readers import read_complaints
from nlp.text import join_title_text

logger = logging.getLogger(__name__)

FRAME_COLUMNS = ("id", "text", "label", "row")
REPLAY_FILE = "replay.parquet"
EVAL_FILE = "eval.parquet"


def reader_options(
    columns: dict[str, str | None] | None = None, encoding: str | None = None
) -> ReaderOptions:
    """Reader options for a labelled file (text and label required)."""
    cmap = ColumnMap(**{k: v for k, v in (columns or {}).items() if v})
    return ReaderOptions(columns=cmap, require=("text", "label"), encoding=encoding)


def load_labelled(
    path: str | os.PathLike[str],
    *,
    columns: dict[str, str | None] | None = None,
    encoding: str | None = None,
    rejects: str | os.PathLike[str] | None = None,
    min_classes: int = 2,
) -> pd.DataFrame:
    """Read a labelled complaint log into ``id, text, label, row`` (text = title + message).

    Raises :class:`~common.errors.InputFileError` (with the file name and what to do) when the
    label column is missing, every text is empty, or fewer than ``min_classes`` labels occur.
    """
    if Path(path).suffix.lower() == ".parquet" and _is_training_frame(path):
        # replay.parquet / eval.parquet written by us: already joined, normalised and masked.
        frame = pd.read_parquet(path)
    else:
        raw = read_complaints(path, reader_options(columns, encoding), rejects=rejects)
        frame = pd.DataFrame(
            {
                "id": raw["id"].astype(str),
                "text": [join_title_text(t, x) for t, x in zip(raw["title"], raw["text"], strict=True)],
                "label": raw["label"].astype(str),
                "row": raw["row"].astype(int),
            }
        )
    frame = frame[frame["text"].str.strip() != ""].reset_index(drop=True)
    if frame.empty:
        raise InputFileError("every text is empty; check --text-column", path=str(path))
    classes = frame["label"].value_counts()
    if len(classes) < min_classes:
        only = ", ".join(f"{k!r} ({v} rows)" for k, v in classes.items())
        raise InputFileError(
            f"found only {len(classes)} class(es): {only}; a classifier needs at least {min_classes}. "
            "Check that --label-column names the category column and that the file holds more "
            "than one category",
            path=str(path),
        )
    return frame


def _is_training_frame(path: str | os.PathLike[str]) -> bool:
    import pyarrow.parquet as pq

    names = set(pq.ParquetFile(path).schema_arrow.names)
    return set(FRAME_COLUMNS) <= names and "title" not in names


def check_eval_labels(train: pd.DataFrame, evaluation: pd.DataFrame, eval_path: str | None) -> None:
    unknown = sorted(set(evaluation["label"]) - set(train["label"]))
    if unknown:
        raise InputFileError(
            f"labels {unknown} occur in the evaluation data but not in the training data; the model "
            "could never predict them. Add training examples for them or drop those rows",
            path=eval_path,
        )


def stratified_split(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off ``fraction`` of each class (seeded); classes with one row stay in training.

    Hand-rolled rather than scikit-learn's ``train_test_split`` so that tiny classes (one or two
    operators' new labels) never make the split fail: each class with n >= 2 rows gives
    ``round(fraction * n)`` rows, at least 1 and at most n - 1.
    """
    rng = np.random.default_rng(seed)
    eval_idx: list[int] = []
    for label in sorted(frame["label"].unique()):
        idx = frame.index[frame["label"] == label].to_numpy()
        if len(idx) < 2:
            logger.warning("class %r has %d row(s): kept in training only", label, len(idx))
            continue
        k = min(max(1, round(fraction * len(idx))), len(idx) - 1)
        eval_idx.extend(rng.permutation(idx)[:k].tolist())
    mask = frame.index.isin(eval_idx)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)


def replay_sample(frame: pd.DataFrame, per_class: int, seed: int) -> pd.DataFrame:
    """A stratified sample, at most ``per_class`` rows of each label, kept with the model.

    Retraining mixes it into the new data so that old categories are not forgotten.
    """
    if per_class <= 0:
        return frame.iloc[:0][list(FRAME_COLUMNS)]
    rng = np.random.default_rng(seed)
    parts = []
    for label in sorted(frame["label"].unique()):
        idx = frame.index[frame["label"] == label].to_numpy()
        parts.append(np.sort(rng.permutation(idx)[:per_class]))
    return frame.loc[np.concatenate(parts), list(FRAME_COLUMNS)].reset_index(drop=True)


def save_frame(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``id, text, label, row`` (masked text only) as Parquet, atomically."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = frame[list(FRAME_COLUMNS)].copy()
    frame["id"] = frame["id"].astype(str)
    frame["row"] = frame["row"].astype("int64")
    with atomic_open(out, "wb") as fh:
        frame.to_parquet(fh, index=False)
    return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Fingerprint of a data file (raw bytes), recorded in metrics and the registry changelog."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """Fingerprint of a data frame's text and labels (order-sensitive)."""
    h = hashlib.sha256()
    for text, label in zip(frame["text"], frame["label"], strict=True):
        h.update(str(label).encode("utf-8") + b"\t" + str(text).encode("utf-8") + b"\n")
    return h.hexdigest()


def label_counts(labels: Sequence[str] | pd.Series, order: Sequence[str] | None = None) -> dict[str, int]:
    counts = pd.Series(list(labels), dtype="object").value_counts()
    keys = list(order) if order is not None else sorted(counts.index)
    return {k: int(counts.get(k, 0)) for k in keys}


def ordered_labels(train: pd.DataFrame) -> list[str]:
    """Label order of a new model: most frequent first, ties by name (stable across runs)."""
    counts = train["label"].value_counts()
    return sorted(counts.index, key=lambda k: (-counts[k], k))
