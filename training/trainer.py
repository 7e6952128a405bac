"""Fine-tune a transformer classifier: a plain accelerate loop (after accelerate's ``nlp_example.py``).

The same code runs on a CPU, one GPU or several (``accelerate launch -m hotline.cli train ...``,
see ``docs/training.md``). What it adds to the example:

- inputs are tokenized once, cut head + tail (:func:`nlp.transformer.encode_head_tail`), and
  batched by :class:`EpochBatchSampler`, whose order depends only on ``(seed, epoch)``;
  batches group texts of similar length, so short messages are not padded to 256 tokens;
- a separate learning rate for the freshly initialised head, optional frozen word embeddings,
  class-weighted loss, warm-up then linear or cosine decay, gradient accumulation;
- evaluation (macro-F1) every epoch or every ``eval_steps``; the best weights go to
  ``checkpoints/best``; training stops after ``early_stopping_patience`` evaluations without
  improvement;
- checkpoints (``accelerator.save_state`` + ``trainer_state.json``) every ``checkpoint_steps``
  and at the end (``checkpoints/last``). ``resume_from`` restores model, optimizer, scheduler
  and RNG states and skips the batches of the current epoch already seen
  (``accelerator.skip_first_batches``), so a resumed run ends with the same weights as an
  uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.errors import ConfigError, ModelNotFoundError
from training.config import TrainConfig

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
BEST_DIR = "best"
LAST_DIR = "last"
STEP_PREFIX = "step-"


# -- data ------------------------------------------------------------------------------------------


class EpochBatchSampler:
    """Batches of indices whose order depends only on ``(seed, epoch)``.

    Deterministic order is what makes resuming exact: after a restart the sampler produces the
    same batches for the same epoch, and the ones already trained on are skipped. With
    ``group_by_length``, indices are shuffled, cut into pools of 50 batches, sorted by length
    inside each pool, and the resulting batches shuffled: batches hold texts of similar length
    (little padding, which on a CPU is most of the saving) while staying random.
    """

    POOL = 50

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        shuffle: bool = True,
        group_by_length: bool = True,
    ) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.drop_last = False
        self.seed = seed
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n, bs = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            yield from (order[i : i + bs].tolist() for i in range(0, n, bs))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        idx = rng.permutation(n)
        if not self.group_by_length:
            yield from (idx[i : i + bs].tolist() for i in range(0, n, bs))
            return
        batches: list[list[int]] = []
        pool = bs * self.POOL
        for start in range(0, n, pool):
            chunk = idx[start : start + pool]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + bs].tolist() for i in range(0, len(chunk), bs))
        # The one short batch goes last: accelerate's multi-process sharding completes a short
        # final batch, but a short batch in the middle makes it skip a whole round of batches.
        order = sorted(rng.permutation(len(batches)), key=lambda b: len(batches[b]) < bs)
        for b in order:
            yield batches[b]


class EncodedDataset:
    """Token ids (already cut head + tail) and integer labels."""

    def __init__(self, ids: list[list[int]], labels: Sequence[int]) -> None:
        self.ids = ids
        self.labels = list(labels)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[list[int], int]:
        return self.ids[i], self.labels[i]


def make_collate(pad_id: int) -> Any:
    import torch

    def collate(batch: list[tuple[list[int], int]]) -> dict[str, Any]:
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, _) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention[i, : len(ids)] = 1
        labels = torch.tensor([label for _, label in batch], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}

    return collate


# -- model -----------------------------------------------------------------------------------------


def resolve_base_model(name_or_path: str) -> str:
    """A local directory or hub name for the base model (offline-safe; see ``nlp.base_model``)."""
    from nlp.base_model import resolve_model_name_or_path

    return str(resolve_model_name_or_path(name_or_path))


def load_base_model(config: TrainConfig, labels: Sequence[str]) -> tuple[Any, Any]:
    """Tokenizer and a sequence-classification model with a fresh head for ``labels``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_base_model(str(config.base_model))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    except OSError as exc:
        raise ModelNotFoundError(
            f"cannot load base model {config.base_model!r} ({exc}); pass a transformers model "
            "directory, e.g. one built with `hotline base-model build --out DIR`"
        ) from exc
    return model, tokenizer


def balanced_class_weights(y: Sequence[int], n_labels: int) -> np.ndarray:
    """``n / (k * n_c)``: every class contributes equally to the loss (scikit-learn's "balanced")."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_labels).astype(np.float64)
    return len(y) / (n_labels * np.maximum(counts, 1))


def head_parameter(name: str) -> bool:
    """Parameters initialised from scratch for classification: the classifier and the pooler.

    The pooler counts as head: encoders trained for mean-pooled embeddings (e5) or converted
    without one start with an untrained pooler.
    """
    return name.startswith(("classifier", "score")) or ".pooler." in name


def freeze_word_embeddings(model: Any) -> int:
    """Freeze the word-embedding table (the bulk of a multilingual model); returns its size."""
    emb = model.get_input_embeddings()
    emb.weight.requires_grad_(False)
    return int(emb.weight.numel())


def parameter_groups(model: Any, config: TrainConfig) -> list[dict[str, Any]]:
    head_lr = config.head_learning_rate or config.learning_rate
    groups: dict[tuple[bool, bool], list[Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # No weight decay on biases and LayerNorm weights (as in BERT).
        decay = param.ndim > 1
        groups.setdefault((head_parameter(name), decay), []).append(param)
    return [
        {
            "params": params,
            "lr": head_lr if is_head else config.learning_rate,
            "weight_decay": config.weight_decay if decay else 0.0,
        }
        for (is_head, decay), params in sorted(groups.items())
    ]


# -- state -----------------------------------------------------------------------------------------


@dataclass
class TrainerState:
    """Progress that accelerate's ``save_state`` does not know about (``trainer_state.json``)."""

    epoch: int = 0
    batches_in_epoch: int = 0
    global_step: int = 0
    total_steps: int = 0
    samples_seen: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    stopped_early: bool = False
    finished: bool = False
    train_seconds: float = 0.0
    labels: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def save(self, directory: Path) -> None:
        (directory / STATE_FILE).write_text(
            json.dumps(asdict(self), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> TrainerState:
        return cls(**json.loads((directory / STATE_FILE).read_text(encoding="utf-8")))


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint directory from a checkpoint, a ``checkpoints/`` folder or an output directory."""
    p = Path(path)
    if (p / STATE_FILE).is_file():
        return p
    for folder in (p, p / "checkpoints"):
        steps = sorted(folder.glob(f"{STEP_PREFIX}*/{STATE_FILE}")) if folder.is_dir() else []
        if steps:
            return steps[-1].parent
        if (folder / LAST_DIR / STATE_FILE).is_file():
            return folder / LAST_DIR
    raise ConfigError(
        f"--resume-from {path}: no checkpoint found (a checkpoint holds {STATE_FILE}); pass "
        "DIR/checkpoints/step-N or the -o DIR of an earlier run that saved checkpoints"
    )


@dataclass
class LoopResult:
    """What the loop leaves behind: the best weights, the trainer state, the device used."""

    best_dir: Path
    last_dir: Path
    state: TrainerState
    device: str
    num_processes: int
    tokenizer: Any = None


# -- the loop --------------------------------------------------------------------------------------


def train_transformer(
    config: TrainConfig,
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    labels: Sequence[str],
    *,
    model: Any = None,
    tokenizer: Any = None,
) -> LoopResult:
    """Fine-tune on ``train``, early-stop on ``evaluation`` macro-F1; see the module docstring.

    ``model``/``tokenizer`` warm-start from an existing classifier (retraining); by default a
    fresh head is put on ``config.base_model``.
    """
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    from nlp.classifier import ModelInfo
    from nlp.transformer import SpecialTokens, encode_head_tail
    from training.metrics import macro_f1

    labels = list(labels)
    try:
        accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
        )
    except ValueError as exc:
        raise ConfigError(
            f"--mixed-precision {config.mixed_precision}: {exc}. On a CPU use `no` or `bf16`"
        ) from exc
    set_seed(config.seed)
    if model is None:
        model, tokenizer = load_base_model(config, labels)
    if config.freeze_embeddings:
        n = freeze_word_embeddings(model)
        logger.info("word embeddings frozen (%s parameters)", f"{n:,}")

    head = ModelInfo(
        "transformer", labels, max_length=config.max_length, head_tokens=config.head_tokens
    ).resolved_head_tokens
    special = SpecialTokens(tokenizer)
    index = {label: i for i, label in enumerate(labels)}
    train_ids, truncated = encode_head_tail(tokenizer, list(train["text"]), config.max_length, head, special)
    eval_ids, _ = encode_head_tail(tokenizer, list(evaluation["text"]), config.max_length, head, special)
    logger.info(
        "%d training texts (%.0f%% cut head + tail to %d tokens), %d evaluation texts",
        len(train_ids),
        100 * np.mean(truncated),
        config.max_length,
        len(eval_ids),
    )
    train_y = [index[v] for v in train["label"]]
    eval_y = [index[v] for v in evaluation["label"]]

    sampler = EpochBatchSampler(
        [len(x) for x in train_ids],
        config.batch_size,
        seed=config.seed,
        group_by_length=config.group_by_length,
    )
    eval_sampler = EpochBatchSampler(
        [len(x) for x in eval_ids], config.eval_batch_size, seed=config.seed, shuffle=False
    )
    collate = make_collate(tokenizer.pad_token_id or 0)
    # Own generators: otherwise each new DataLoader iterator draws its base seed from the global
    # torch RNG, which would shift dropout masks between a resumed and an uninterrupted run.
    train_loader = torch.utils.data.DataLoader(
        EncodedDataset(train_ids, train_y),
        batch_sampler=sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )
    eval_loader = torch.utils.data.DataLoader(
        EncodedDataset(eval_ids, eval_y),
        batch_sampler=eval_sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )

    n_proc = accelerator.num_processes
    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.learning_rate)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(
        model, optimizer, train_loader, eval_loader
    )
    # The prepared loader knows how many batches this process gets (how accelerate shards a
    # batch sampler depends on its options), so the schedule is sized from it, not estimated.
    updates_per_epoch = math.ceil(len(train_loader) / config.gradient_accumulation_steps)
    total_steps = updates_per_epoch * config.epochs
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    # accelerate steps a prepared scheduler once per process for each optimizer step.
    scheduler = get_scheduler(
        "constant_with_warmup" if config.scheduler == "constant" else config.scheduler,
        optimizer=optimizer,
        num_warmup_steps=round(config.warmup_ratio * total_steps) * n_proc,
        num_training_steps=total_steps * n_proc,
    )
    scheduler = accelerator.prepare(scheduler)

    weight = None
    if config.class_weight == "balanced":
        weight = torch.tensor(
            balanced_class_weights(train_y, len(labels)), dtype=torch.float32, device=accelerator.device
        )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)

    ckpt_root = config.resolved_checkpoint_dir
    best_dir, last_dir = ckpt_root / BEST_DIR, ckpt_root / LAST_DIR
    state = TrainerState(total_steps=total_steps, labels=labels)
    if config.resume_from:
        resume = find_checkpoint(config.resume_from)
        state = TrainerState.load(resume)
        if state.labels != labels:
            raise ConfigError(
                f"--resume-from {resume}: the checkpoint was trained on labels {state.labels}, the "
                f"data now has {labels}; resume with the same training data and settings"
            )
        accelerator.load_state(str(resume))
        if state.best_metric is not None and not (best_dir / "config.json").is_file():
            # Resuming into another output directory: bring the best weights so far along.
            source = resume.parent / BEST_DIR
            if not (source / "config.json").is_file():
                raise ConfigError(
                    f"--resume-from {resume}: the best model so far ({source}) is missing; resume from a "
                    "checkpoint whose checkpoints/ folder still holds best/"
                )
            if accelerator.is_main_process:
                shutil.copytree(source, best_dir, dirs_exist_ok=True)
        state.total_steps = total_steps
        state.finished = state.stopped_early = False
        logger.info("resumed from %s (epoch %d, step %d)", resume, state.epoch, state.global_step)

    def evaluate() -> dict[str, float]:
        model.eval()
        preds, golds, losses = [], [], []
        with torch.no_grad():
            for batch in eval_loader:
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = torch.nn.functional.cross_entropy(logits.float(), batch["labels"], reduction="none")
                p, g, lo = accelerator.gather_for_metrics((logits.argmax(-1), batch["labels"], loss))
                preds.append(p.cpu().numpy())
                golds.append(g.cpu().numpy())
                losses.append(lo.float().cpu().numpy())
        model.train()
        pred, gold = np.concatenate(preds), np.concatenate(golds)
        return {
            "eval_macro_f1": macro_f1(gold, pred),
            "eval_accuracy": float((pred == gold).mean()),
            "eval_loss": float(np.concatenate(losses).mean()),
        }

    def save_best() -> None:
        accelerator.wait_for_everyone()
        unwrapped = accelerator.unwrap_model(model)
        unwrapped.save_pretrained(
            best_dir,
            is_main_process=accelerator.is_main_process,
            save_function=accelerator.save,
            state_dict=accelerator.get_state_dict(model),
        )
        if accelerator.is_main_process:
            tokenizer.save_pretrained(best_dir)

    def checkpoint(directory: Path) -> None:
        accelerator.wait_for_everyone()
        accelerator.save_state(str(directory))
        if accelerator.is_main_process:
            state.save(directory)
            if directory.name.startswith(STEP_PREFIX):
                old = sorted(ckpt_root.glob(f"{STEP_PREFIX}*"))[: -config.keep_checkpoints]
                for stale in old:
                    shutil.rmtree(stale, ignore_errors=True)

    def on_eval(running_loss: float | None) -> bool:
        """Record an evaluation; True when early stopping says stop."""
        scores = evaluate()
        improved = state.best_metric is None or scores["eval_macro_f1"] > state.best_metric + 1e-6
        if improved:
            state.best_metric, state.best_step = scores["eval_macro_f1"], state.global_step
            state.evals_without_improvement = 0
            save_best()
        else:
            state.evals_without_improvement += 1
        entry = {
            "step": state.global_step,
            "epoch": round(state.epoch + state.batches_in_epoch / max(1, len(train_loader)), 3),
            "train_loss": running_loss,
            "lr": float(scheduler.get_last_lr()[0]),
            **scores,
        }
        state.history.append(entry)
        logger.info(
            "step %d (epoch %.2f): eval macro-F1 %.4f, accuracy %.4f, loss %.4f%s",
            entry["step"],
            entry["epoch"],
            scores["eval_macro_f1"],
            scores["eval_accuracy"],
            scores["eval_loss"],
            " (best)" if improved else f" (best {state.best_metric:.4f} at step {state.best_step})",
        )
        patience = config.early_stopping_patience
        if patience and state.evals_without_improvement >= patience:
            logger.info("early stopping: no improvement in %d evaluations", patience)
            state.stopped_early = True
        return state.stopped_early

    # accelerate logs seven INFO lines per checkpoint; the trainer logs one.
    for name in ("accelerate.accelerator", "accelerate.checkpointing"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    model.train()
    progress = tqdm(
        total=total_steps,
        initial=state.global_step,
        desc="training",
        unit="step",
        disable=None if accelerator.is_main_process else True,
        dynamic_ncols=True,
    )
    running: float | None = None
    started = time.perf_counter()
    base_seconds, base_samples, start_step = state.train_seconds, state.samples_seen, state.global_step
    log_every = max(1, total_steps // 50)
    done = state.global_step >= total_steps
    while state.epoch < config.epochs and not done:
        # The prepared loader re-applies its own iteration count to the sampler at each pass;
        # setting it here keeps that count equal to the epoch after a resume.
        train_loader.set_epoch(state.epoch)
        sampler.set_epoch(state.epoch)
        loader = train_loader
        if state.batches_in_epoch:
            loader = accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
        for batch in loader:
            with accelerator.accumulate(model):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = loss_fn(logits.float(), batch["labels"])
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.batches_in_epoch += 1
            state.samples_seen += len(batch["labels"]) * n_proc
            value = float(loss.detach())
            running = value if running is None else 0.95 * running + 0.05 * value
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            state.train_seconds = base_seconds + time.perf_counter() - started
            rate = (state.samples_seen - base_samples) / max(1e-9, time.perf_counter() - started)
            progress.update(1)
            progress.set_postfix(loss=f"{running:.4f}", texts_per_s=f"{rate:.1f}", epoch=state.epoch + 1)
            if progress.disable and state.global_step % log_every == 0:
                # No bar in a log file (nohup, CI): a line every 2% of the run instead.
                left = (
                    (total_steps - state.global_step)
                    * (time.perf_counter() - started)
                    / max(1, state.global_step - start_step)
                )
                logger.info(
                    "step %d/%d (epoch %d): loss %.4f, %.1f texts/s, ETA %s",
                    state.global_step,
                    total_steps,
                    state.epoch + 1,
                    running,
                    rate,
                    f"{int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}",
                )
            stop = False
            if config.eval_steps and state.global_step % config.eval_steps == 0:
                stop = on_eval(running)
            done = stop or state.global_step >= total_steps
            if config.checkpoint_steps and state.global_step % config.checkpoint_steps == 0 and not done:
                checkpoint(ckpt_root / f"{STEP_PREFIX}{state.global_step:07d}")
            if done:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
            if not config.eval_steps:
                done = on_eval(running) or done
            if config.checkpoint_steps is None and not done and state.epoch < config.epochs:
                checkpoint(ckpt_root / f"{STEP_PREFIX}{state.global_step:07d}")
            continue
        break
    progress.close()
    if not state.history or state.history[-1]["step"] != state.global_step:
        on_eval(running)  # the final weights are always compared with the best so far
    state.finished = True
    state.train_seconds = base_seconds + time.perf_counter() - started
    checkpoint(last_dir)
    accelerator.wait_for_everyone()
    logger.info(
        "training done: %d steps in %.0f s; best eval macro-F1 %.4f at step %s",
        state.global_step,
        state.train_seconds,
        state.best_metric or 0.0,
        state.best_step,
    )
    device = str(accelerator.device)
    if accelerator.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(accelerator.device)})"
    return LoopResult(best_dir, last_dir, state, device, n_proc, tokenizer)
