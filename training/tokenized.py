"""Training and evaluation data as Hugging Face ``datasets``: tokenised once, cached on disk.

:func:`tokenize` turns rows of ``text`` and ``label`` into ``input_ids`` (cut head + tail by
:func:`nlp.transformer.encode_head_tail`), the label's index, the length and a truncated flag,
with ``Dataset.map(batched=True)``. The result is an Arrow file named by a fingerprint of
everything that decides it - the rows, the tokenizer, ``max_length``, the head share and the
label order - in the run's cache folder (``checkpoints/tokenized/``), so a second run on the same
data (a resume, another learning rate) memory-maps the file instead of tokenising again, and the
token ids of a large log stay on disk rather than in Python lists.

:func:`log_dataset` is the streaming path for a labelled log too large to hold in memory: the
reader yields it chunk by chunk into an Arrow file on disk (``Dataset.from_generator``), never
the whole log at once. The batch order needs random access by index (the length-grouped
sampler in :mod:`training.batches`, which exact resume relies on), so the training data is a
memory-mapped ``Dataset`` rather than an ``IterableDataset``.

Only masked text is ever read here (:mod:`ingest` masks on reading); the cache holds token ids.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

TOKENIZED_DIR = "tokenized"
# Bump when the columns or the encoding of a tokenised file change: old cache files then miss.
FORMAT_VERSION = 1
LOG_CHUNK_ROWS = 5000


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No ``datasets`` progress bars: the trainer logs one line about the data and shows its own bar."""
    import datasets

    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def as_dataset(rows: pd.DataFrame | Dataset) -> Dataset:
    """A ``Dataset`` of ``text`` and ``label`` (a frame from :mod:`training.data`, or one already)."""
    from datasets import Dataset

    if isinstance(rows, Dataset):
        return rows
    return Dataset.from_pandas(
        pd.DataFrame({"text": rows["text"].astype(str), "label": rows["label"].astype(str)}),
        preserve_index=False,
    )


def labelled_rows(
    path: str, columns: dict[str, str | None] | None, encoding: str | None, chunk_rows: int
) -> Iterator[dict[str, Any]]:
    """The rows of a labelled log as :func:`training.data.load_labelled` makes them, chunk by chunk."""
    from ingest.readers import ComplaintReader
    from nlp.text import join_title_text
    from training.data import reader_options

    options = reader_options(columns, encoding)
    options.chunk_size = chunk_rows
    for chunk in ComplaintReader(path, options):
        r = chunk.records
        for id_, title, text, label, row in zip(
            r["id"], r["title"], r["text"], r["label"], r["row"], strict=True
        ):
            joined = join_title_text(title, text)
            if joined.strip():
                yield {"id": str(id_), "text": joined, "label": str(label), "row": int(row)}


def log_dataset(
    path: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    columns: dict[str, str | None] | None = None,
    encoding: str | None = None,
    chunk_rows: int = LOG_CHUNK_ROWS,
) -> Dataset:
    """A labelled log streamed into a memory-mapped ``Dataset`` (``id, text, label, row``) on disk.

    Cached by the file's sha256 and the reader settings: the same file is read once.
    """
    from datasets import Dataset, Features, Value
    from datasets.fingerprint import Hasher

    from training.data import file_sha256

    features = Features(
        {"id": Value("string"), "text": Value("string"), "label": Value("string"), "row": Value("int64")}
    )
    fingerprint = Hasher.hash(["log", FORMAT_VERSION, file_sha256(path), columns or {}, encoding])
    with _quiet():
        return Dataset.from_generator(
            labelled_rows,
            features=features,
            cache_dir=str(cache_dir),
            gen_kwargs={
                "path": str(path),
                "columns": columns,
                "encoding": encoding,
                "chunk_rows": chunk_rows,
            },
            fingerprint=fingerprint,
        )


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of what decides a tokenizer's ids (its full definition where the fast backend has one)."""
    from datasets.fingerprint import Hasher

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return Hasher.hash(backend.to_str())
    return Hasher.hash(sorted(tokenizer.get_vocab().items()))


def _encode_batch(
    batch: dict[str, list[Any]],
    *,
    tokenizer: Any,
    special: Any,
    max_length: int,
    head_tokens: int,
    index: dict[str, int],
) -> dict[str, list[Any]]:
    from nlp.transformer import encode_head_tail

    ids, truncated = encode_head_tail(tokenizer, batch["text"], max_length, head_tokens, special)
    return {
        "input_ids": ids,
        "label": [index[str(v)] for v in batch["label"]],
        "length": [len(x) for x in ids],
        "truncated": truncated,
    }


def tokenize(
    rows: pd.DataFrame | Dataset,
    tokenizer: Any,
    *,
    labels: Sequence[str],
    max_length: int,
    head_tokens: int,
    cache_dir: str | os.PathLike[str],
) -> Dataset:
    """``input_ids``, ``label`` (index into ``labels``), ``length``, ``truncated`` of each row, cached."""
    from datasets import Features, Value
    from datasets import Sequence as SequenceFeature
    from datasets.fingerprint import Hasher

    from nlp.transformer import SpecialTokens

    dataset = as_dataset(rows)
    special = SpecialTokens(tokenizer)
    labels = list(labels)
    fingerprint = Hasher.hash(
        [
            "tokenized",
            FORMAT_VERSION,
            dataset._fingerprint,  # datasets' own hash of the rows (content, or the cached file)
            tokenizer_fingerprint(tokenizer),
            max_length,
            head_tokens,
            special.prefix,
            special.suffix,
            labels,
        ]
    )
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fingerprint}.arrow"
    features = Features(
        {
            "input_ids": SequenceFeature(Value("int32")),
            "label": Value("int64"),
            "length": Value("int32"),
            "truncated": Value("bool"),
        }
    )
    if path.is_file():
        logger.debug("tokenised data from the cache: %s", path)
    with _quiet():
        return dataset.map(
            _encode_batch,
            batched=True,
            remove_columns=dataset.column_names,
            features=features,
            fn_kwargs={
                "tokenizer": tokenizer,
                "special": special,
                "max_length": max_length,
                "head_tokens": head_tokens,
                "index": {label: i for i, label in enumerate(labels)},
            },
            cache_file_name=str(path),
            new_fingerprint=fingerprint,
            load_from_cache_file=True,
        )


def cache_files(dataset: Dataset) -> list[Path]:
    return [Path(f["filename"]) for f in dataset.cache_files]


def prune_cache(cache_dir: str | os.PathLike[str], keep: Sequence[Dataset]) -> list[Path]:
    """Delete the tokenised files of earlier data or settings; returns what was deleted."""
    folder = Path(cache_dir)
    kept = {p.resolve() for d in keep for p in cache_files(d)}
    removed = []
    for stale in folder.glob("*.arrow"):
        if stale.resolve() not in kept:
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def column(dataset: Dataset, name: str) -> list[Any]:
    """One column as a plain list (``dataset[name]`` is a lazy column object in datasets >= 4)."""
    return list(dataset[name])
