"""Masked-language-model data: token ids with their jieba word, the padding collator, whole-word masking.

Chinese BERTs (BERT-wwm, MacBERT) mask whole words: masking one character of 垃圾 while 垃 is
visible teaches little, the model reads the answer next door. The tokenizer here is a
SentencePiece or WordPiece vocabulary whose pieces do not follow word boundaries, so
:func:`tokenize_words` tokenises the text as it is (the ids fine-tuning will see) and assigns
each token, through its character offsets, the jieba word (``data/userdict.txt`` loaded) its
first character lies in. :class:`MlmMasker` then picks ``mlm_probability`` of the words of each
text and masks all their pieces together, 80% ``[MASK]``, 10% a random token, 10% unchanged
(BERT's recipe), from a seed stream named by the caller, so masking is reproducible.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from training.tokenized import _quiet, tokenizer_fingerprint

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

# Bump when the columns or the way word ids are assigned change: old cache files then miss.
FORMAT_VERSION = 1
IGNORE = -100


def word_ids_for(
    text: str, offsets: Sequence[tuple[int, int]], special: Sequence[int], words: list[str]
) -> list[int]:
    """Per token: the index of the jieba word holding its first character, -1 for special tokens."""
    char_word = np.repeat(np.arange(len(words), dtype=np.int32), [len(w) for w in words])
    last = len(char_word) - 1
    out = []
    for (start, _end), is_special in zip(offsets, special, strict=True):
        out.append(-1 if is_special or last < 0 else int(char_word[min(start, last)]))
    return out


def _encode_batch(
    batch: dict[str, list[Any]], *, tokenizer: Any, max_length: int, whole_word: bool
) -> dict[str, list[Any]]:
    from nlp.segment import get_tokenizer

    enc = tokenizer(
        batch["text"],
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_special_tokens_mask=True,
    )
    jieba_tok = get_tokenizer()
    word_ids = []
    for text, offsets, special in zip(
        batch["text"], enc["offset_mapping"], enc["special_tokens_mask"], strict=True
    ):
        if whole_word:
            word_ids.append(word_ids_for(text, offsets, special, list(jieba_tok.cut(text))))
        else:  # every token its own "word"
            word_ids.append([-1 if s else i for i, s in enumerate(special)])
    return {"input_ids": enc["input_ids"], "word_ids": word_ids, "length": [len(x) for x in enc["input_ids"]]}


def texts_fingerprint(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def tokenize_words(
    texts: Sequence[str],
    tokenizer: Any,
    *,
    max_length: int,
    cache_dir: str | os.PathLike[str],
    whole_word: bool = True,
) -> Dataset:
    """``input_ids``, ``word_ids``, ``length`` of each text (cut at ``max_length``), cached on disk by fingerprint."""
    from datasets import Dataset, Features, Value
    from datasets import Sequence as SequenceFeature
    from datasets.fingerprint import Hasher

    from data import DATA_DIR

    userdict = DATA_DIR / "userdict.txt"
    fingerprint = Hasher.hash(
        [
            "mlm",
            FORMAT_VERSION,
            texts_fingerprint(texts),
            tokenizer_fingerprint(tokenizer),
            max_length,
            whole_word,
            hashlib.sha256(userdict.read_bytes()).hexdigest() if userdict.is_file() else None,
        ]
    )
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    features = Features(
        {
            "input_ids": SequenceFeature(Value("int32")),
            "word_ids": SequenceFeature(Value("int32")),
            "length": Value("int32"),
        }
    )
    dataset = Dataset.from_dict({"text": list(texts)})
    with _quiet():
        return dataset.map(
            _encode_batch,
            batched=True,
            remove_columns=["text"],
            features=features,
            fn_kwargs={"tokenizer": tokenizer, "max_length": max_length, "whole_word": whole_word},
            cache_file_name=str(folder / f"{fingerprint}.arrow"),
            new_fingerprint=fingerprint,
            load_from_cache_file=True,
        )


class MlmCollator:
    """Pads ``input_ids`` (with the pad id) and ``word_ids`` (with -1) of one batch to its longest row."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(row["input_ids"]) for row in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        word_ids = torch.full((len(batch), width), -1, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, row in enumerate(batch):
            n = len(row["input_ids"])
            input_ids[i, :n] = torch.tensor(row["input_ids"], dtype=torch.long)
            word_ids[i, :n] = torch.tensor(row["word_ids"], dtype=torch.long)
            attention[i, :n] = 1
        return {"input_ids": input_ids, "word_ids": word_ids, "attention_mask": attention}


class MlmMasker:
    """Whole-word masking of a collated batch: ``(masked input ids, labels)``, -100 where not masked."""

    def __init__(self, tokenizer: Any, probability: float, *, seed: int) -> None:
        self.mask_id = int(tokenizer.mask_token_id)
        self.probability = probability
        self.seed = seed
        special = set(tokenizer.all_special_ids)
        self.random_ids = np.array([i for i in range(len(tokenizer)) if i not in special], dtype=np.int64)

    def __call__(self, batch: Mapping[str, Any], stream: tuple[int, ...]) -> tuple[Any, Any]:
        import torch

        ids = batch["input_ids"].detach().cpu().numpy()
        words = batch["word_ids"].detach().cpu().numpy()
        rng = np.random.default_rng([self.seed, *stream])
        inputs = ids.copy()
        labels = np.full_like(ids, IGNORE)
        for r in range(ids.shape[0]):
            row_words = np.unique(words[r][words[r] >= 0])
            if not len(row_words):
                continue
            n = max(1, round(self.probability * len(row_words)))
            chosen = rng.choice(row_words, size=n, replace=False)
            action = rng.random(n)  # per word: < 0.8 mask, < 0.9 random token, else keep
            for word, a in zip(chosen, action, strict=True):
                where = np.flatnonzero(words[r] == word)
                labels[r, where] = ids[r, where]
                if a < 0.8:
                    inputs[r, where] = self.mask_id
                elif a < 0.9:
                    inputs[r, where] = rng.choice(self.random_ids, size=len(where))
        device = batch["input_ids"].device
        return torch.from_numpy(inputs).to(device), torch.from_numpy(labels).to(device)


def masked_lm_head(model: Any) -> Any:
    """The prediction head of a masked-LM model (BERT: ``cls``, RoBERTa/XLM-R: ``lm_head``)."""
    for name in ("cls", "lm_head"):
        head = getattr(model, name, None)
        if head is not None:
            return head
    raise TypeError(f"{type(model).__name__}: no masked-LM head (cls or lm_head) found")


def masked_lm_module(model: Any) -> Any:
    """``model`` wrapped so that its forward scores only the masked positions.

    A 250k-piece vocabulary makes the full logits of a 16 x 128 batch 2 GB of floats; the loss
    needs the ~15% masked positions only. The wrapper is what accelerate prepares, so a
    distributed run still synchronises gradients through its forward.
    """
    import torch

    class MaskedLmLoss(torch.nn.Module):
        def __init__(self, mlm: Any) -> None:
            super().__init__()
            self.mlm = mlm

        def forward(self, input_ids: Any, attention_mask: Any, labels: Any) -> Any:
            hidden = self.mlm.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            where = labels != IGNORE
            logits = masked_lm_head(self.mlm)(hidden[where])
            return torch.nn.functional.cross_entropy(
                logits.float(), labels[where], reduction="sum"
            ), where.sum()

    return MaskedLmLoss(model)
