"""Transformer classifiers, run by torch (:class:`TransformerClassifier`) or ONNX Runtime
(:class:`OnnxClassifier`).

Both encode the same way. Long complaints are cut head + tail (:func:`head_tail_ids`): the
opening says where and what, the closing says what the caller wants, and the middle is usually
narrative. An input is a list of token ids with the tokenizer's special tokens; its length is
what a batch pads to.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import ModelNotFoundError
from nlp.classifier import INFO_FILE, ONNX_FILE, ClassifierBase, ModelInfo

# torch.set_num_threads is process-wide; models loaded side by side (a reload) must not race.
_THREADS_LOCK = threading.Lock()


def set_torch_threads(num_threads: int | None) -> None:
    """Cap torch's CPU threads (process-wide); ``None`` keeps the library default."""
    if not num_threads:
        return
    import torch

    with _THREADS_LOCK:
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)


# -- head + tail truncation ------------------------------------------------------------------------


class SpecialTokens:
    """The ids a tokenizer puts around one sequence, found by encoding a probe.

    transformers 5 dropped ``build_inputs_with_special_tokens``; the tokenizer's own
    post-processor is the truth for BERT ([CLS] x [SEP]) and XLM-R (<s> x </s>) alike.
    """

    def __init__(self, tokenizer: Any) -> None:
        probe = "测试"
        with_special = tokenizer(probe, add_special_tokens=True)["input_ids"]
        content = tokenizer(probe, add_special_tokens=False)["input_ids"]
        for i in range(len(with_special) - len(content) + 1):
            if with_special[i : i + len(content)] == content:
                self.prefix = list(with_special[:i])
                self.suffix = list(with_special[i + len(content) :])
                break
        else:  # pragma: no cover - every HF tokenizer keeps the content contiguous
            raise ValueError("cannot locate content tokens inside the tokenizer's special-token template")

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def head_tail_ids(ids: Sequence[int], budget: int, head: int) -> list[int]:
    """Keep the first ``head`` and the last ``budget - head`` ids when ``ids`` is too long."""
    if len(ids) <= budget:
        return list(ids)
    head = min(head, budget)
    tail = budget - head
    return list(ids[:head]) + (list(ids[-tail:]) if tail else [])


def encode_head_tail(
    tokenizer: Any,
    texts: Sequence[str],
    max_length: int,
    head_tokens: int,
    special: SpecialTokens | None = None,
) -> tuple[list[list[int]], list[bool]]:
    """Token ids with special tokens, cut head + tail to ``max_length``; and a truncated flag."""
    special = special or SpecialTokens(tokenizer)
    budget = max_length - special.count
    # Tokenizing a 50,000-character paste only to throw most of it away is slow: pre-cut the
    # characters generously (a token covers at least one character) before tokenizing.
    cap = 4 * max_length
    clipped = [t if len(t) <= 2 * cap else t[:cap] + " " + t[-cap:] for t in texts]
    encoded = tokenizer(list(clipped), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    out, truncated = [], []
    for ids, original, clip in zip(encoded, texts, clipped, strict=True):
        truncated.append(len(ids) > budget or len(original) != len(clip))
        out.append(special.prefix + head_tail_ids(ids, budget, head_tokens) + special.suffix)
    return out, truncated


# -- transformer ---------------------------------------------------------------------------------


class _TokenizedClassifier(ClassifierBase):
    """What the torch and ONNX classifiers share: head + tail encoding into token ids.

    Subclasses set ``tokenizer``, ``info`` and ``special`` and implement ``forward``.
    """

    tokenizer: Any
    special: SpecialTokens

    def encode(self, texts: Sequence[str]) -> tuple[list[list[int]], list[bool]]:
        return encode_head_tail(
            self.tokenizer, texts, self.info.max_length, self.info.resolved_head_tokens, self.special
        )

    def input_lengths(self, inputs: Sequence[Sequence[int]]) -> list[int]:
        return [len(ids) for ids in inputs]


class TransformerClassifier(_TokenizedClassifier):
    """A fine-tuned BERT-family sequence classifier (transformers ``save_pretrained`` layout)."""

    def __init__(self, model: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.special = SpecialTokens(tokenizer)

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], *, device: str = "cpu", num_threads: int | None = None
    ) -> TransformerClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        # PyTorch's default of one thread per core fights with every other process on a shared
        # machine: the thread count is set once, before the model is built.
        set_torch_threads(num_threads)
        info = ModelInfo.load(directory)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForSequenceClassification.from_pretrained(directory)
        model.to(device).eval()
        id2label = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if id2label != info.labels:
            raise ModelNotFoundError(
                f"{directory}: config.json id2label {id2label} disagrees with {INFO_FILE} labels {info.labels}; "
                "the directory was edited by hand — re-export it with `hotline train`"
            )
        return cls(model, tokenizer, info)

    def collate(self, batch_ids: Sequence[Sequence[int]]) -> dict[str, Any]:
        """Pad a batch of id lists into model inputs (attention mask included)."""
        import torch

        width = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = torch.full((len(batch_ids), width), pad, dtype=torch.long)
        attention = torch.zeros((len(batch_ids), width), dtype=torch.long)
        for i, ids in enumerate(batch_ids):
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
        return {"input_ids": input_ids, "attention_mask": attention}

    def forward(self, inputs: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of one padded batch."""
        import torch

        device = next(self.model.parameters()).device
        with torch.inference_mode():
            batch = {k: v.to(device) for k, v in self.collate(inputs).items()}
            return self.model(**batch).logits.float().cpu().numpy()

    def save(self, directory: str | os.PathLike[str]) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.config.id2label = dict(enumerate(self.labels))
        self.model.config.label2id = {label: i for i, label in enumerate(self.labels)}
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        self.info.save(out)
        return out


# -- ONNX Runtime transformer ----------------------------------------------------------------------


class OnnxClassifier(_TokenizedClassifier):
    """A transformer classifier exported to ONNX (``hotline export --onnx``), run by ONNX Runtime.

    The directory holds ``model.onnx`` (fp32 or dynamically int8-quantised), the tokenizer files
    and ``hotline.json`` with ``model_type: onnx``; inputs are encoded exactly like
    :class:`TransformerClassifier` (head + tail), so the two agree up to numerics.
    """

    def __init__(self, session: Any, tokenizer: Any, info: ModelInfo) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.info = info
        self.special = SpecialTokens(tokenizer)
        self.input_names = [i.name for i in session.get_inputs()]

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, num_threads: int | None = None) -> OnnxClassifier:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        d = Path(directory)
        info = ModelInfo.load(d)
        if not (d / ONNX_FILE).is_file():
            raise ModelNotFoundError(
                f"{d} says model_type onnx but has no {ONNX_FILE}; re-export it with "
                "`hotline export --model SOURCE --onnx -o DIR`"
            )
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads:
            options.intra_op_num_threads = num_threads
            # One request at a time reaches a session (the engine batches), so inter-op
            # parallelism would only compete with intra-op threads for the same cores.
            options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(d / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        return cls(session, AutoTokenizer.from_pretrained(d), info)

    def collate(self, batch_ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
        """Pad a batch of id lists into int64 arrays for the session's inputs."""
        width = max(len(ids) for ids in batch_ids)
        pad = self.tokenizer.pad_token_id or 0
        input_ids = np.full((len(batch_ids), width), pad, dtype=np.int64)
        attention = np.zeros((len(batch_ids), width), dtype=np.int64)
        for i, ids in enumerate(batch_ids):
            input_ids[i, : len(ids)] = ids
            attention[i, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": attention}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        return {k: v for k, v in feeds.items() if k in self.input_names}

    def forward(self, inputs: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of one padded batch."""
        return np.asarray(self.session.run(["logits"], self.collate(inputs))[0], dtype=np.float32)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        import shutil

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        source = Path(self.session._model_path) if hasattr(self.session, "_model_path") else None
        if source is None or not source.is_file():
            raise ValueError("this session was not loaded from a file; export the model again instead")
        if source.resolve() != (out / ONNX_FILE).resolve():
            shutil.copyfile(source, out / ONNX_FILE)
        self.tokenizer.save_pretrained(out)
        self.info.save(out)
        return out
