"""What a converted e5 base model needs at run time: its prefixes, mean pooling, and resolving
a ``--base-model`` value offline.

The model itself is built by :mod:`tools.base_model` (``hotline base-model build``); the
classifier, the trainer and the embedding links of the incident grouping only load it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from common.errors import ModelNotFoundError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


def mean_pooled_embeddings(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    prefix: str = QUERY_PREFIX,
    max_batch_tokens: int = 4096,
) -> np.ndarray:
    """e5 sentence embeddings (``(len(texts), hidden)`` float32, L2-normalised).

    Mean of the last hidden states over all tokens, ``<s>``/``</s>`` included. Texts longer
    than the model's positions are split into windows of ``max_positions - 2`` pieces, each
    run as ``<s> window </s>``, and the window means are averaged weighted by piece count:
    exactly the engine's ``embed_n``, so long complaints compare like for like. Batches hold
    at most ``max_batch_tokens`` (padded) tokens.
    """
    import torch
    from tqdm.auto import tqdm

    window = model.config.max_position_embeddings - 2
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    encoded = tokenizer([prefix + t for t in texts], add_special_tokens=False, verbose=False)["input_ids"]
    windows: list[tuple[int, list[int]]] = []
    for index, ids in enumerate(encoded):
        windows.extend((index, ids[a : a + window]) for a in range(0, max(len(ids), 1), window))
    # Longest first, so that a batch's first window sets its width and padding stays small.
    windows.sort(key=lambda w: -len(w[1]))
    batches: list[list[tuple[int, list[int]]]] = []
    for item in windows:
        if not batches or (len(batches[-1]) + 1) * (len(batches[-1][0][1]) + 2) > max_batch_tokens:
            batches.append([])
        batches[-1].append(item)
    sums = np.zeros((len(texts), model.config.hidden_size), dtype=np.float64)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for batch in tqdm(batches, desc="embedding", unit=" batches", disable=None):
            width = len(batch[0][1]) + 2
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, ids) in enumerate(batch):
                input_ids[row, : len(ids) + 2] = torch.tensor([bos, *ids, eos])
                mask[row, : len(ids) + 2] = 1
            hidden = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            m = mask.to(device).unsqueeze(-1).to(hidden.dtype)
            means = ((hidden * m).sum(1) / m.sum(1)).float().cpu().numpy()
            for row, (index, ids) in enumerate(batch):
                # The engine weights a window by its piece count (at least 1).
                sums[index] += max(len(ids), 1) * means[row]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def _hub_offline() -> bool:
    from huggingface_hub import constants

    # The library reads HF_HUB_OFFLINE once, at import; the environment is the current truth.
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}
    return env or constants.HF_HUB_OFFLINE


def resolve_model_name_or_path(name_or_path: str) -> str:
    """Check that a ``--base-model`` value can be loaded; return what to pass to ``from_pretrained``.

    A local directory must contain ``config.json``. A hub name (``bert-base-chinese``,
    ``hfl/chinese-roberta-wwm-ext``) must be in the local Hugging Face cache when
    ``HF_HUB_OFFLINE=1``; otherwise the error says how to build an offline model.
    """
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    build_hint = (
        "build an offline base model with `hotline base-model build --out DIR`, then pass `--base-model DIR`"
    )
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a model directory (no config.json in it); {build_hint}")
        return str(path)
    if path.exists():
        raise ModelNotFoundError(f"{path} is a file; --base-model takes a model directory or a hub name")
    # "org/name" is a hub name; anything else with a path shape is a directory that is missing.
    if name_or_path.startswith((".", "/", "~")) or "\\" in name_or_path or name_or_path.count("/") > 1:
        raise ModelNotFoundError(f"model directory not found: {name_or_path}; {build_hint}")
    try:
        cached = try_to_load_from_cache(name_or_path, "config.json")
    except HFValidationError as exc:
        raise ModelNotFoundError(
            f"{name_or_path!r} is neither a model directory nor a valid hub name ({exc}); {build_hint}"
        ) from exc
    if isinstance(cached, str):
        return name_or_path
    if _hub_offline():
        raise ModelNotFoundError(
            f"{name_or_path!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading "
            f"it; {build_hint}"
        )
    return name_or_path
