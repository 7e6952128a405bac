"""Vocabulary pruning: the pieces a corpus uses, and the texts a pruned model is checked on."""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nlp.encoder import PASSAGE_PREFIX, QUERY_PREFIX
from tools.base_model.e5file import E5Vocab

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Keep every single-character piece when pruning. Measured on teddy2020 (prune on messages.csv,
# held out: 2,000 texts of labeled.csv; docs/benchmarks.md): without them 2.2 extra
# <unk> per 1,000 held-out tokens and min cosine to the full model 0.977; with them no extra
# <unk> and 0.9955, for 10.2k more rows (20,941 instead of 10,698 pieces: +16 MB).
PRUNE_KEEP_SINGLE_CHARS = True
# A pruned model is checked on the 16 shortest of its corpus's first 1,000 texts: both encoders
# run on CPU and long complaints cost seconds each (bench/base_model_check.py covers long texts).
CHECK_SAMPLE, CHECK_SCAN = 16, 1000


def corpus_texts(path: Path) -> Iterator[str]:
    """Texts of a pruning corpus: a ``.txt`` file (one text per line) or a complaint log.

    SWITCH-OVER POINT: complaint logs (CSV/TSV/JSONL/XLSX/Parquet) are read by
    ``ingest.readers.iter_texts`` (normalised, PII-masked title + text: what the classifier sees).
    Plain ``.txt`` files are taken line by line as they are, because ``ingest`` treats ``.txt``
    as CSV.
    """
    if path.suffix.lower() == ".txt":
        with path.open(encoding="utf-8-sig") as fh:
            yield from (line.strip() for line in fh if line.strip())
        return
    from ingest.readers import iter_texts

    yield from iter_texts(path)


def shortest(texts: Iterable[str], n: int) -> list[str]:
    """The ``n`` shortest of ``texts`` (ties: earliest), in their original order."""
    chosen = heapq.nsmallest(n, enumerate(texts), key=lambda item: (len(item[1]), item[0]))
    return [text for _, text in sorted(chosen)]


def sample_corpus(path: str | os.PathLike[str], n: int = CHECK_SAMPLE) -> list[str]:
    """The texts a model pruned on this corpus is checked on (see ``CHECK_SAMPLE``)."""
    return shortest(itertools.islice(corpus_texts(Path(path)), CHECK_SCAN), n)


def used_piece_ids(
    tokenizer: Tokenizer, texts: Iterable[str], batch_size: int = 1024
) -> tuple[set[int], int]:
    """Ids that ``tokenizer`` produces on ``texts`` (with and without the e5 prefixes), and #texts."""
    from tqdm.auto import tqdm

    used: set[int] = set()
    for prefix in (QUERY_PREFIX, PASSAGE_PREFIX):
        used.update(tokenizer.encode(prefix, add_special_tokens=False).ids)
    n_texts = 0
    batch: list[str] = []
    for text in tqdm(texts, desc="scanning corpus", unit=" texts", disable=None):
        batch.append(text)
        if len(batch) == batch_size:
            used.update(i for enc in tokenizer.encode_batch(batch, add_special_tokens=False) for i in enc.ids)
            n_texts += len(batch)
            batch = []
    if batch:
        used.update(i for enc in tokenizer.encode_batch(batch, add_special_tokens=False) for i in enc.ids)
        n_texts += len(batch)
    return used, n_texts


def prune_ids(
    vocab: E5Vocab, used: Iterable[int], *, keep_single_chars: bool = PRUNE_KEEP_SINGLE_CHARS
) -> np.ndarray:
    """Sorted piece ids to keep: ``used``, the special tokens and optionally all 1-character pieces.

    Because a Viterbi over a subset of the pieces that still contains the best segmentation
    finds that same segmentation, text whose pieces are all kept tokenizes identically.
    """
    keep = set(used) | set(vocab.special_ids)
    if keep_single_chars:
        keep.update(i for i, piece in enumerate(vocab.pieces) if len(piece) == 1)
    return np.array(sorted(keep), dtype=np.int64)
