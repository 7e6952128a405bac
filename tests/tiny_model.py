"""A tiny, randomly initialised BERT with a small Chinese character vocabulary.

Tests fine-tune, export and serve this model in seconds on a CPU. Its vocabulary is the most
frequent characters of jieba's dictionary (deterministic, offline), plus ASCII and the PII
placeholders' brackets, so that real complaint text tokenizes to something other than [UNK].
"""

from __future__ import annotations

import string
from collections import Counter
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tiny_vocab(n_chars: int = 3000) -> list[str]:
    import jieba

    counts: Counter[str] = Counter()
    dict_path = Path(jieba.__file__).parent / "dict.txt"
    with open(dict_path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) < 2:
                continue
            for ch in parts[0]:
                if "\u4e00" <= ch <= "\u9fff":
                    counts[ch] += int(parts[1])
    chars = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n_chars]]
    alnum = list(string.ascii_lowercase + string.digits)
    # "##x" continuation pieces let WordPiece spell out any ASCII word or number.
    ascii_tokens = alnum + ["##" + c for c in alnum] + list("，。！？：；、（）“”《》[]().,!?:;-/%·")
    return SPECIAL + sorted(set(ascii_tokens)) + chars


def build_tiny_bert(out_dir: Path, *, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Write a two-layer BERT (``BertModel`` weights + fast tokenizer) to ``out_dir``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    (out_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 takes the vocabulary itself (a dict), not a vocab_file path.
    tokenizer = BertTokenizerFast(
        vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=True, model_max_length=512
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
    )
    model = BertModel(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
