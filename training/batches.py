"""What a training batch is: the deterministic, length-grouped batch order and the padding collator.

The order of the batches depends only on ``(seed, epoch)``: that is what makes resuming exact
(:mod:`training.checkpoints`); the collator pads one batch of token ids to its longest text.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np


class EpochBatchSampler:
    """Batches of indices whose order depends only on ``(seed, epoch)``.

    Deterministic order is what makes resuming exact: after a restart the sampler produces the
    same batches for the same epoch, and the ones already trained on are skipped. With
    ``group_by_length``, indices are shuffled, cut into pools of 50 batches, sorted by length
    inside each pool, and the resulting batches shuffled: batches hold texts of similar length
    (little padding, which on a CPU is most of the saving) while staying random.
    """

    POOL = 50

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        group_by_length: bool = True,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.drop_last = False
        self.seed = seed
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            yield from (order[i : i + bs].tolist() for i in range(0, n, bs))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        idx = rng.permutation(n)
        if not self.group_by_length:
            yield from (idx[i : i + bs].tolist() for i in range(0, n, bs))
            return
        batches: list[list[int]] = []
        pool = bs * self.POOL
        for start in range(0, n, pool):
            chunk = idx[start : start + pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + bs].tolist() for i in range(0, len(chunk), bs))
        # The one short batch goes last: accelerate's multi-process sharding completes a short
        # final batch, but a short batch in the middle makes it skip a whole round of batches.
        order = sorted(rng.permutation(len(batches)), key=lambda b: len(batches[b]) < bs)
        for b in order:
            yield batches[b]


class PadCollator:
    """Pads the token ids of one batch of tokenised rows (``input_ids``, ``label``) to its longest row."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(row["input_ids"]) for row in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            ids = row["input_ids"]
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
        labels = torch.tensor([row["label"] for row in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
