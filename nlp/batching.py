"""Scheduling a classifier's forward passes: which inputs go into one batch.

One loop serves every model type and both callers: :meth:`Classifier.logits` (fixed batch size,
sorted by length) and :class:`nlp.engine.InferenceEngine` (the same, plus a cap on padded tokens
and on padding). A model only says how long each of its inputs is once padded
(:meth:`Classifier.input_lengths`) and how to run one batch (:meth:`Classifier.forward`).

Complaints range from ten characters to thousands: padding a short one to the longest in a
random batch wastes most of the compute, so inputs are sorted by length before they are cut into
batches.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nlp.classifier import Classifier


def length_buckets(
    lengths: Sequence[int], batch_size: int, max_batch_tokens: int, max_padding: float | None = None
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length.

    Sorted by length, a batch grows while it has fewer than ``batch_size`` members, its padded
    size (members x longest) stays within ``max_batch_tokens`` and, when ``max_padding`` is
    given, its padding stays within that share of its real tokens; a single over-long input
    still gets a batch of its own.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        end = start + 1
        real = int(lengths[order[start]])
        while end < n and end - start < batch_size:
            width = int(lengths[order[end]])
            padded = (end - start + 1) * width
            if padded > max_batch_tokens:
                break
            if max_padding is not None and padded - (real + width) > max_padding * (real + width):
                break
            real += width
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def plan_batches(
    classifier: Classifier,
    inputs: Sequence[Any],
    *,
    batch_size: int,
    max_batch_tokens: int | None = None,
    max_padding: float | None = None,
) -> list[np.ndarray]:
    """The batches (index arrays into ``inputs``) that :func:`run_batches` runs.

    A model whose inputs are not padded (``input_lengths`` is ``None``: TF-IDF features) takes
    everything in one pass; otherwise :func:`length_buckets` groups the inputs, without a token
    cap when ``max_batch_tokens`` is ``None``.
    """
    if not len(inputs):
        return []
    lengths = classifier.input_lengths(inputs)
    if lengths is None:
        return [np.arange(len(inputs))]
    cap = sys.maxsize if max_batch_tokens is None else max_batch_tokens
    return length_buckets(lengths, batch_size, cap, max_padding)


def run_batches(classifier: Classifier, inputs: Sequence[Any], batches: Sequence[np.ndarray]) -> np.ndarray:
    """Raw logits for ``inputs`` (input order), one :meth:`Classifier.forward` per batch."""
    out = np.zeros((len(inputs), len(classifier.labels)), dtype=np.float32)
    for idx in batches:
        out[idx] = classifier.forward([inputs[i] for i in idx])
    return out
