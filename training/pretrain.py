"""Domain-adaptive pretraining: more masked-language-model training of the encoder on complaint text.

``hotline pretrain --corpus FILE... --base-model DIR -o DIR`` continues the encoder's MLM
training on unlabelled complaints and writes a base-model directory that ``hotline train
--base-model DIR`` fine-tunes like any other. The loop is the fine-tuning loop's parts
(:mod:`training.trainer`, :mod:`training.checkpoints`, :mod:`training.batches`): the same
accelerator, length-grouped batch order, progress meter, checkpoints and exact resume; only the
data (:mod:`training.mlm`: jieba word ids, whole-word masking) and the loss differ.

Steps of :func:`pretrain`:

1. :func:`read_corpus` - the texts of the corpus files (CSV/TSV/JSONL/XLSX/Parquet through
   :class:`ingest.readers.ComplaintReader`, so normalised and PII-masked; ``.txt``: one text per line,
   normalised and masked the same way), deduplicated, without the texts of the ``exclude``
   files (the test split of a benchmark) and the ids of ``exclude_ids``; a fixed share is held
   out to measure the MLM loss;
2. :func:`training.mlm.tokenize_words` - token ids plus the jieba word each token belongs to,
   cached on disk like the fine-tuning data;
3. :func:`load_mlm_model` - the encoder with its MLM head; a converted encoder without one (the
   e5 base model) gets a head: decoder tied to the word embeddings, transform identity or
   random (:func:`init_mlm_head`);
4. the loop: whole-word masking drawn from ``(seed, epoch, batch)``, so a resumed run masks the
   same words as an uninterrupted one; MLM loss on the held-out texts before, every
   ``eval_steps`` and at the end;
5. :func:`save_base_model` - ``save_pretrained`` of model and tokenizer, ``pretrain_config.json``,
   ``pretrain_metrics.json`` and a short model card.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from common.config import JobConfig
from common.errors import ConfigError, InputFileError, ModelNotFoundError
from common.files import atomic_write_json, atomic_write_text
from training.batches import EpochBatchSampler
from training.checkpoints import LAST_DIR, TrainerState, restore_checkpoint, save_checkpoint, step_dir
from training.config import MixedPrecision, Scheduler
from training.mlm import MlmCollator, MlmMasker, masked_lm_module, tokenize_words
from training.tokenized import TOKENIZED_DIR, column, prune_cache
from training.trainer import (
    ProgressMeter,
    describe_device,
    make_accelerator,
    quiet_accelerate_checkpoint_logs,
)

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

CONFIG_FILE = "pretrain_config.json"
METRICS_FILE = "pretrain_metrics.json"
CARD_FILE = "README.md"
# The held-out texts are masked with their own seed stream, the same before and after training.
EVAL_STREAM = 1_000_003


class PretrainConfig(JobConfig):
    """Everything ``hotline pretrain`` needs; saved as ``pretrain_config.json`` in the output."""

    corpus: list[str] = Field(
        min_length=1, description="unlabelled complaint logs (csv, jsonl, parquet, txt)"
    )
    base_model: str = Field(min_length=1, description="encoder to adapt (directory or cached hub name)")
    output_dir: str = Field(min_length=1, description="base-model directory to write")
    exclude: list[str] = Field(
        default_factory=list,
        description="logs whose texts never enter the corpus (the test split of a benchmark)",
    )
    exclude_ids: str | None = Field(
        None, description="file of ids (one a line, or an id column) dropped from the corpus"
    )
    columns: dict[str, str | None] = Field(
        default_factory=dict, description="canonical column -> source header (unset: detected)"
    )
    encoding: str | None = Field(None, description="text encoding of the input files (unset: detected)")
    min_chars: int = Field(5, ge=1, description="shorter texts are dropped")
    eval_texts: int = Field(200, ge=0, description="corpus texts held out to measure the MLM loss")
    seed: int = Field(42, description="held-out texts, data order, masking, dropout")

    max_length: int = Field(128, ge=8, description="tokens per text (longer texts cut at the end)")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="share of words (tokens) masked")
    whole_word_mask: bool = Field(True, description="mask all pieces of a jieba word together")
    mlm_head_init: Literal["identity", "random"] = Field(
        "identity", description="transform of a missing MLM head: identity or random (BERT init)"
    )
    epochs: int = Field(1, ge=1, description="passes over the corpus")
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer updates")
    batch_size: int = Field(16, ge=1, description="texts per batch and process")
    eval_batch_size: int = Field(32, ge=1, description="held-out texts per batch")
    gradient_accumulation_steps: int = Field(1, ge=1, description="batches per optimizer update")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="peak learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decay (not on biases and LayerNorm)")
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="share of the updates spent warming up")
    scheduler: Scheduler = Field("linear", description="decay after the warm-up")
    max_grad_norm: float = Field(1.0, gt=0, description="gradient clipping norm")
    mixed_precision: MixedPrecision = Field("no", description="no, fp16 (GPU) or bf16")
    group_by_length: bool = Field(True, description="batch texts of similar length together")
    eval_steps: int | None = Field(None, ge=1, description="MLM loss on held-out texts every N updates")
    checkpoint_steps: int | None = Field(
        None, ge=1, description="save the training state every N updates (unset: each epoch)"
    )
    keep_checkpoints: int = Field(2, ge=1, description="periodic checkpoints kept (the newest)")
    checkpoint_dir: str | None = Field(
        None, description="where checkpoints go (unset: output_dir/checkpoints)"
    )
    resume_from: str | None = Field(
        None, description="a checkpoint, or the output directory of an interrupted run, to continue"
    )

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return Path(self.checkpoint_dir) if self.checkpoint_dir else Path(self.output_dir) / "checkpoints"


@dataclass
class Corpus:
    """The training and held-out texts, and how many rows each filter removed."""

    train: list[str]
    held_out: list[str]
    counts: dict[str, int]


@dataclass
class PretrainResult:
    output_dir: Path
    state: TrainerState
    metrics: dict[str, Any]


# -- corpus ----------------------------------------------------------------------------------------


def _txt_texts(path: Path, encoding: str | None) -> Iterator[tuple[str, str]]:
    """(id, text) of a plain-text corpus: one text per line, normalised and masked as the reader does."""
    from nlp.pii import mask_pii
    from nlp.text import normalize_text

    with open(path, encoding=encoding or "utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            yield f"{path.name}:{n}", mask_pii(normalize_text(line))


def iter_log_texts(
    path: str | os.PathLike[str], columns: dict[str, str | None], encoding: str | None
) -> Iterator[tuple[str, str, str]]:
    """(id, title + text, text alone) of each usable row of a log; ``.txt``: one text per line."""
    from ingest.options import ColumnMap, ReaderOptions
    from ingest.readers import ComplaintReader
    from nlp.text import join_title_text

    p = Path(path)
    if not p.is_file():
        raise InputFileError(
            "file not found; give a complaint log (csv, jsonl, parquet) or a .txt", path=str(p)
        )
    if p.suffix.lower() == ".txt":
        for id_, text in _txt_texts(p, encoding):
            yield id_, text, text
        return
    # Only the text columns matter here: a label or time column in the file is ignored.
    known = {k: v for k, v in columns.items() if v and k in ("id", "title", "text")}
    options = ReaderOptions(columns=ColumnMap(**known), require=("text",), encoding=encoding)
    for chunk in ComplaintReader(p, options):
        r = chunk.records
        for id_, title, text in zip(r["id"], r["title"], r["text"], strict=True):
            yield str(id_), join_title_text(title, text), str(text)


def read_ids(path: str | os.PathLike[str]) -> set[str]:
    """Ids from a file: an ``id`` column of a CSV (rows whose ``part`` is ``test``, if it has one) or one a line."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"exclude_ids {p}: file not found; give a file of ids, one a line, or a CSV with an id column"
        )
    if p.suffix.lower() in (".csv", ".tsv"):
        frame = pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ",", dtype=str)
        if "id" in frame.columns:
            if "part" in frame.columns:  # bench/accuracy.py's split_ids.csv
                frame = frame[frame["part"] == "test"]
            return set(frame["id"].dropna().astype(str))
    return {line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}


def read_corpus(config: PretrainConfig) -> Corpus:
    """Corpus texts, deduplicated and filtered (see the module docstring), split into train and held-out."""
    excluded: set[str] = set()
    for path in config.exclude:
        for _id, joined, body in iter_log_texts(path, config.columns, config.encoding):
            excluded.update((joined, body))
    excluded_ids = read_ids(config.exclude_ids) if config.exclude_ids else set()
    counts = {"rows": 0, "excluded_text": 0, "excluded_id": 0, "duplicates": 0, "short": 0}
    seen: set[str] = set()
    texts: list[str] = []
    for path in config.corpus:
        for id_, joined, body in iter_log_texts(path, config.columns, config.encoding):
            counts["rows"] += 1
            if joined in excluded or body in excluded:
                counts["excluded_text"] += 1
            elif id_ in excluded_ids:
                counts["excluded_id"] += 1
            elif len(joined) < config.min_chars:
                counts["short"] += 1
            elif joined in seen:
                counts["duplicates"] += 1
            else:
                seen.add(joined)
                texts.append(joined)
    n_eval = min(config.eval_texts, len(texts) // 5)
    if len(texts) - n_eval < 1:
        raise InputFileError(
            f"no corpus text left to train on ({counts}); give more text, lower min_chars, or check exclude",
            path=", ".join(config.corpus),
        )
    order = np.random.default_rng([config.seed, 7]).permutation(len(texts))
    held = sorted(order[:n_eval].tolist())
    held_set = set(held)
    counts.update(train_texts=len(texts) - n_eval, held_out_texts=n_eval)
    logger.info(
        "corpus: %d rows, %d texts to train on, %d held out (%d excluded by text, %d by id, %d duplicates, %d short)",
        counts["rows"],
        counts["train_texts"],
        n_eval,
        counts["excluded_text"],
        counts["excluded_id"],
        counts["duplicates"],
        counts["short"],
    )
    return Corpus(
        train=[t for i, t in enumerate(texts) if i not in held_set],
        held_out=[texts[i] for i in held],
        counts=counts,
    )


# -- model -----------------------------------------------------------------------------------------


def init_mlm_head(model: Any, how: str) -> None:
    """Give a freshly initialised MLM head a sensible start (an encoder converted without one).

    The decoder is tied to the word embeddings (``tie_word_embeddings``), so a token's score is
    the dot product of the transformed hidden state with that token's input embedding; its
    bias starts at zero. ``identity`` makes the transform's dense layer the identity, so the
    head starts as ``LayerNorm(GELU(h)) . E``, which already ranks the tokens whose embeddings
    the encoder's output resembles; ``random`` keeps BERT's N(0, 0.02) initialisation.
    """
    import torch

    head = model.cls.predictions
    with torch.no_grad():
        if how == "identity":
            dense = head.transform.dense
            dense.weight.copy_(torch.eye(dense.weight.shape[0], dtype=dense.weight.dtype))
            dense.bias.zero_()
        head.transform.LayerNorm.weight.fill_(1.0)
        head.transform.LayerNorm.bias.zero_()
        head.bias.zero_()
    model.tie_weights()


def load_mlm_model(config: PretrainConfig) -> tuple[Any, Any, bool]:
    """Tokenizer, masked-LM model and whether its MLM head was missing (and so initialised here)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from training.model_setup import resolve_base_model

    source = resolve_base_model(config.base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model, info = AutoModelForMaskedLM.from_pretrained(source, output_loading_info=True)
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot load base model {config.base_model!r} ({exc}); pass a transformers model "
            "directory, e.g. one built with `hotline base-model build --out DIR`"
        ) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"base_model {config.base_model}: whole-word masking needs a fast tokenizer "
            "(tokenizer.json); save the model with a fast tokenizer"
        )
    if tokenizer.mask_token_id is None:
        raise ConfigError(f"base_model {config.base_model}: the tokenizer has no mask token")
    missing = [k for k in info.get("missing_keys", []) if k.startswith("cls.") and "decoder.weight" not in k]
    if missing:
        init_mlm_head(model, config.mlm_head_init)
        logger.info(
            "the base model has no MLM head: initialised one (%s transform, tied decoder)",
            config.mlm_head_init,
        )
    return model, tokenizer, bool(missing)


# -- the loop --------------------------------------------------------------------------------------


def parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and LayerNorm weights (as in BERT)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def mlm_loss(model: Any, loader: Any, masker: MlmMasker, accelerator: Any) -> float:
    """Mean MLM loss per masked token on held-out batches masked from a fixed seed stream."""
    import torch

    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i, batch in enumerate(loader):
            inputs, labels = masker(batch, (EVAL_STREAM, i))
            loss, n = model(inputs, batch["attention_mask"], labels)
            loss, n = accelerator.gather_for_metrics((loss.reshape(1), n.reshape(1)))
            total += float(loss.sum())
            count += int(n.sum())
    model.train()
    return total / max(1, count)


def _loader(dataset: Dataset, sampler: EpochBatchSampler, collate: MlmCollator, seed: int) -> Any:
    import torch

    return torch.utils.data.DataLoader(
        dataset, batch_sampler=sampler, collate_fn=collate, generator=torch.Generator().manual_seed(seed)
    )


def pretrain(config: PretrainConfig) -> PretrainResult:
    """Continue MLM training of ``config.base_model`` on the corpus; see the module docstring."""
    import torch
    from accelerate.utils import set_seed
    from transformers import get_scheduler

    accelerator = make_accelerator(config)
    set_seed(config.seed)
    if accelerator.is_main_process:
        # The settings sit next to the output from the start, an interrupted run included.
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        config.save(Path(config.output_dir) / CONFIG_FILE)
    corpus = read_corpus(config)
    mlm, tokenizer, head_initialised = load_mlm_model(config)
    model = masked_lm_module(mlm)
    cache = config.resolved_checkpoint_dir / TOKENIZED_DIR
    settings = {
        "max_length": config.max_length,
        "cache_dir": cache,
        "whole_word": config.whole_word_mask,
    }
    with accelerator.main_process_first():
        train_ds = tokenize_words(corpus.train, tokenizer, **settings)
        eval_ds = tokenize_words(corpus.held_out or corpus.train[:1], tokenizer, **settings)
    if accelerator.is_main_process:
        prune_cache(cache, keep=[train_ds, eval_ds])
    sampler = EpochBatchSampler(
        column(train_ds, "length"),
        config.batch_size,
        seed=config.seed,
        group_by_length=config.group_by_length,
    )
    eval_sampler = EpochBatchSampler(
        column(eval_ds, "length"), config.eval_batch_size, seed=config.seed, shuffle=False
    )
    collate = MlmCollator(tokenizer.pad_token_id or 0)
    masker = MlmMasker(tokenizer, config.mlm_probability, seed=config.seed)

    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.learning_rate)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(
        model,
        optimizer,
        _loader(train_ds, sampler, collate, config.seed),
        _loader(eval_ds, eval_sampler, collate, config.seed),
    )
    updates_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = updates_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    n_proc = accelerator.num_processes
    scheduler = accelerator.prepare(
        get_scheduler(
            "constant_with_warmup" if config.scheduler == "constant" else config.scheduler,
            optimizer=optimizer,
            num_warmup_steps=round(config.warmup_ratio * total_steps) * n_proc,
            num_training_steps=total_steps * n_proc,
        )
    )
    root = config.resolved_checkpoint_dir
    if config.resume_from:
        state = restore_checkpoint(accelerator, config.resume_from, [], root / "best", total_steps)
    else:
        state = TrainerState(total_steps=total_steps, labels=[])
        loss0 = mlm_loss(model, eval_loader, masker, accelerator)
        state.history.append({"step": 0, "epoch": 0.0, "train_loss": None, "eval_mlm_loss": loss0})
        logger.info("held-out MLM loss before training: %.4f (%d texts)", loss0, len(eval_ds))

    def evaluate_now() -> None:
        loss = mlm_loss(model, eval_loader, masker, accelerator)
        epoch = round(state.epoch + state.batches_in_epoch / max(1, len(train_loader)), 3)
        state.history.append(
            {"step": state.global_step, "epoch": epoch, "train_loss": meter.running, "eval_mlm_loss": loss}
        )
        logger.info("step %d: held-out MLM loss %.4f", state.global_step, loss)

    quiet_accelerate_checkpoint_logs()
    model.train()
    meter = ProgressMeter(state, total_steps, main_process=accelerator.is_main_process)
    done = state.global_step >= total_steps
    while state.epoch < config.epochs and not done:
        train_loader.set_epoch(state.epoch)
        sampler.set_epoch(state.epoch)
        loader = train_loader
        if state.batches_in_epoch:
            loader = accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
        for batch in loader:
            # Masks depend on (epoch, batch) only: a resumed run masks exactly as an uninterrupted one.
            inputs, labels = masker(batch, (state.epoch, state.batches_in_epoch))
            with accelerator.accumulate(model):
                total, n = model(inputs, batch["attention_mask"], labels)
                loss = total / n.clamp(min=1)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.batches_in_epoch += 1
            state.samples_seen += len(batch["input_ids"]) * n_proc
            meter.add_loss(float(loss.detach()))
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            meter.update(state)
            done = state.global_step >= total_steps
            if config.eval_steps and state.global_step % config.eval_steps == 0 and not done:
                evaluate_now()
            if config.checkpoint_steps and state.global_step % config.checkpoint_steps == 0 and not done:
                save_checkpoint(
                    accelerator, state, step_dir(root, state.global_step), keep=config.keep_checkpoints
                )
            if done:
                break
        if not done:
            state.epoch += 1
            state.batches_in_epoch = 0
            if config.checkpoint_steps is None and state.epoch < config.epochs:
                save_checkpoint(
                    accelerator, state, step_dir(root, state.global_step), keep=config.keep_checkpoints
                )
    meter.close()
    evaluate_now()
    state.finished = True
    state.train_seconds = meter.seconds()
    save_checkpoint(accelerator, state, root / LAST_DIR, keep=config.keep_checkpoints)
    accelerator.wait_for_everyone()
    metrics = {
        "corpus": corpus.counts,
        "steps": state.global_step,
        "texts_seen": state.samples_seen,
        "train_seconds": round(state.train_seconds, 2),
        "texts_per_second": round(state.samples_seen / max(1e-9, state.train_seconds), 2),
        "eval_mlm_loss_before": state.history[0]["eval_mlm_loss"],
        "eval_mlm_loss_after": state.history[-1]["eval_mlm_loss"],
        "mlm_head_initialised": head_initialised,
        "device": describe_device(accelerator),
        "num_processes": n_proc,
        "history": state.history,
    }
    out = Path(config.output_dir)
    if accelerator.is_main_process:
        save_base_model(accelerator.unwrap_model(model).mlm, tokenizer, config, metrics, out)
    accelerator.wait_for_everyone()
    logger.info(
        "pretraining done: %d steps in %.0f s (%.1f texts/s); held-out MLM loss %.4f -> %.4f; base model in %s",
        state.global_step,
        state.train_seconds,
        metrics["texts_per_second"],
        metrics["eval_mlm_loss_before"],
        metrics["eval_mlm_loss_after"],
        out,
    )
    return PretrainResult(out, state, metrics)


def save_base_model(
    model: Any, tokenizer: Any, config: PretrainConfig, metrics: dict[str, Any], out: Path
) -> None:
    """The adapted encoder (with its MLM head, for a further round) as a base-model directory."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    config.save(out / CONFIG_FILE)
    atomic_write_json(out / METRICS_FILE, metrics)
    atomic_write_text(out / CARD_FILE, model_card(config, metrics))


def model_card(config: PretrainConfig, metrics: dict[str, Any]) -> str:
    c = metrics["corpus"]
    return "\n".join(
        [
            f"# Domain-adapted encoder ({time.strftime('%Y-%m-%d')})",
            "",
            f"Masked-language-model training of `{config.base_model}` continued on complaint text "
            f"({'whole-word' if config.whole_word_mask else 'token'} masking, {config.mlm_probability:.0%} "
            f"of {'jieba words' if config.whole_word_mask else 'tokens'}, 80/10/10), "
            f"{metrics['steps']} updates of {config.batch_size} x {config.gradient_accumulation_steps} texts "
            f"at {config.max_length} tokens, learning rate {config.learning_rate:g}.",
            "",
            f"- corpus: {', '.join(config.corpus)}; {c['train_texts']} texts trained on, "
            f"{c['held_out_texts']} held out; excluded {c['excluded_text']} by text "
            f"({', '.join(config.exclude) or 'no exclude file'}), {c['excluded_id']} by id, "
            f"{c['duplicates']} duplicates, {c['short']} short",
            f"- held-out MLM loss: {metrics['eval_mlm_loss_before']:.4f} before, "
            f"{metrics['eval_mlm_loss_after']:.4f} after",
            f"- MLM head: {'initialised here (' + config.mlm_head_init + ' transform, decoder tied to the word embeddings)' if metrics['mlm_head_initialised'] else 'from the base model'}",
            f"- {metrics['train_seconds']:.0f} s on {metrics['device']} ({metrics['texts_per_second']:.1f} texts/s)",
            "",
            "Fine-tune with `hotline train --base-model THIS_DIR ...`; settings in "
            f"`{CONFIG_FILE}`, loss history in `{METRICS_FILE}`.",
            "",
        ]
    )
