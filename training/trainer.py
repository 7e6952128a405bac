"""Fine-tune a transformer classifier: a plain accelerate loop (after accelerate's ``nlp_example.py``).

The same code runs on a CPU, one GPU or several (``accelerate launch -m hotline.cli train ...``,
see ``docs/training.md``). :func:`train_transformer` reads as the example does, one named step
after another:

1. :func:`build_data` - tokenise the training and evaluation rows once with ``datasets``
   (cut head + tail, cached on disk by fingerprint: :mod:`training.tokenized`) and batch them
   with :class:`~training.batches.EpochBatchSampler`, whose order depends only on
   ``(seed, epoch)``; batches group texts of similar length, so short messages are not padded
   to 256 tokens;
2. :func:`build_model_and_optimizer` - a separate learning rate for the freshly initialised
   head, optional frozen word embeddings, class-weighted loss, warm-up then linear or cosine
   decay, gradient accumulation, all prepared by accelerate;
3. :func:`train_one_epoch` - the batches of one epoch (:func:`training_step`), evaluating every
   ``eval_steps`` and saving a checkpoint every ``checkpoint_steps`` when asked;
4. :func:`evaluate` / :func:`record_evaluation` - macro-F1 every epoch or every ``eval_steps``;
   the best weights go to ``checkpoints/best``; training stops after
   ``early_stopping_patience`` evaluations without improvement;
5. checkpoints (:mod:`training.checkpoints`: ``accelerator.save_state`` +
   ``trainer_state.json``) every ``checkpoint_steps`` or epoch, and at the end
   (``checkpoints/last``). ``resume_from`` restores model, optimizer, scheduler and RNG states
   and skips the batches of the current epoch already seen (``accelerator.skip_first_batches``),
   so a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from common.errors import ConfigError
from training.batches import EpochBatchSampler, PadCollator
from training.checkpoints import (
    BEST_DIR,
    LAST_DIR,
    TrainerState,
    restore_checkpoint,
    save_best,
    save_checkpoint,
    step_dir,
)
from training.config import TrainConfig
from training.model_setup import (
    balanced_class_weights,
    freeze_word_embeddings,
    load_base_model,
    parameter_groups,
)
from training.tokenized import TOKENIZED_DIR, column, prune_cache, tokenize

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


@dataclass
class LoopResult:
    """What the loop leaves behind: the best weights, the trainer state, the device used."""

    best_dir: Path
    last_dir: Path
    state: TrainerState
    device: str
    num_processes: int
    tokenizer: Any = None


@dataclass
class TrainData:
    """Tokenised training and evaluation data and their (not yet prepared) loaders."""

    train: Dataset
    evaluation: Dataset
    sampler: EpochBatchSampler
    train_loader: Any
    eval_loader: Any


@dataclass
class Fitting:
    """Everything one fine-tuning run works with, prepared by accelerate."""

    config: TrainConfig
    accelerator: Any
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    loss_fn: Any
    sampler: EpochBatchSampler
    train_loader: Any
    eval_loader: Any
    total_steps: int
    checkpoint_root: Path

    @property
    def best_dir(self) -> Path:
        return self.checkpoint_root / BEST_DIR


# -- the steps -------------------------------------------------------------------------------------


def make_accelerator(config: TrainConfig) -> Any:
    from accelerate import Accelerator

    try:
        accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
        )
    except ValueError as exc:
        raise ConfigError(
            f"mixed_precision {config.mixed_precision}: {exc}. On a CPU use `no` or `bf16`"
        ) from exc
    return accelerator


def quiet_accelerate_checkpoint_logs() -> None:
    """accelerate logs seven INFO lines per checkpoint; the trainer logs one."""
    for name in ("accelerate.accelerator", "accelerate.checkpointing"):
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)


def build_data(
    config: TrainConfig,
    tokenizer: Any,
    train: pd.DataFrame | Dataset,
    evaluation: pd.DataFrame | Dataset,
    labels: Sequence[str],
    accelerator: Any,
) -> TrainData:
    """Tokenise (or read from the cache) and batch the rows; the main process writes the cache first."""
    import torch

    from nlp.classifier import ModelInfo

    head = ModelInfo(
        "transformer", list(labels), max_length=config.max_length, head_tokens=config.head_tokens
    ).resolved_head_tokens
    cache = config.resolved_checkpoint_dir / TOKENIZED_DIR
    settings = {"labels": labels, "max_length": config.max_length, "head_tokens": head, "cache_dir": cache}
    with accelerator.main_process_first():
        train_ds = tokenize(train, tokenizer, **settings)
        eval_ds = tokenize(evaluation, tokenizer, **settings)
    if accelerator.is_main_process:
        prune_cache(cache, keep=[train_ds, eval_ds])
    logger.info(
        "%d training texts (%.0f%% cut head + tail to %d tokens), %d evaluation texts",
        len(train_ds),
        100 * np.mean(column(train_ds, "truncated")),
        config.max_length,
        len(eval_ds),
    )
    sampler = EpochBatchSampler(
        column(train_ds, "length"),
        config.batch_size,
        seed=config.seed,
        group_by_length=config.group_by_length,
    )
    eval_sampler = EpochBatchSampler(
        column(eval_ds, "length"), config.eval_batch_size, seed=config.seed, shuffle=False
    )
    collate = PadCollator(tokenizer.pad_token_id or 0)
    # Own generators: otherwise each new DataLoader iterator draws its base seed from the global
    # torch RNG, which would shift dropout masks between a resumed and an uninterrupted run.
    train_loader = torch.utils.data.DataLoader(
        train_ds,
        batch_sampler=sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )
    eval_loader = torch.utils.data.DataLoader(
        eval_ds,
        batch_sampler=eval_sampler,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return TrainData(train_ds, eval_ds, sampler, train_loader, eval_loader)


def build_model_and_optimizer(
    config: TrainConfig, accelerator: Any, model: Any, tokenizer: Any, data: TrainData, labels: Sequence[str]
) -> Fitting:
    """AdamW with head/body parameter groups, the schedule and the loss; all prepared by accelerate."""
    import torch
    from transformers import get_scheduler

    n_proc = accelerator.num_processes
    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.learning_rate)
    model, optimizer, train_loader, eval_loader = accelerator.prepare(
        model, optimizer, data.train_loader, data.eval_loader
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
            balanced_class_weights(column(data.train, "label"), len(labels)),
            dtype=torch.float32,
            device=accelerator.device,
        )
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)
    return Fitting(
        config=config,
        accelerator=accelerator,
        model=model,
        tokenizer=tokenizer,
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=loss_fn,
        sampler=data.sampler,
        train_loader=train_loader,
        eval_loader=eval_loader,
        total_steps=total_steps,
        checkpoint_root=config.resolved_checkpoint_dir,
    )


def training_step(fit: Fitting, batch: dict[str, Any]) -> Any:
    """Forward, backward and (at the end of an accumulation round) one optimizer update; the loss."""
    accelerator, model = fit.accelerator, fit.model
    with accelerator.accumulate(model):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = fit.loss_fn(logits.float(), batch["labels"])
        accelerator.backward(loss)
        if accelerator.sync_gradients:
            accelerator.clip_grad_norm_(model.parameters(), fit.config.max_grad_norm)
        fit.optimizer.step()
        fit.scheduler.step()
        fit.optimizer.zero_grad()
    return loss


def train_one_epoch(fit: Fitting, state: TrainerState, meter: ProgressMeter) -> bool:
    """The (remaining) batches of ``state.epoch``; True when the run is done before its end."""
    config, accelerator = fit.config, fit.accelerator
    # The prepared loader re-applies its own iteration count to the sampler at each pass;
    # setting it here keeps that count equal to the epoch after a resume.
    fit.train_loader.set_epoch(state.epoch)
    fit.sampler.set_epoch(state.epoch)
    loader = fit.train_loader
    if state.batches_in_epoch:
        loader = accelerator.skip_first_batches(fit.train_loader, state.batches_in_epoch)
    for batch in loader:
        loss = training_step(fit, batch)
        state.batches_in_epoch += 1
        state.samples_seen += len(batch["labels"]) * accelerator.num_processes
        meter.add_loss(float(loss.detach()))
        if not accelerator.sync_gradients:
            continue
        state.global_step += 1
        meter.update(state)
        stop = False
        if config.eval_steps and state.global_step % config.eval_steps == 0:
            stop = record_evaluation(fit, state, meter.running)
        done = stop or state.global_step >= fit.total_steps
        if config.checkpoint_steps and state.global_step % config.checkpoint_steps == 0 and not done:
            save_checkpoint(
                accelerator,
                state,
                step_dir(fit.checkpoint_root, state.global_step),
                keep=config.keep_checkpoints,
            )
        if done:
            return True
    return False


def end_epoch(fit: Fitting, state: TrainerState, meter: ProgressMeter) -> bool:
    """After a whole epoch: evaluate (unless every ``eval_steps``) and checkpoint; True to stop."""
    config = fit.config
    state.epoch += 1
    state.batches_in_epoch = 0
    done = record_evaluation(fit, state, meter.running) if not config.eval_steps else False
    if config.checkpoint_steps is None and not done and state.epoch < config.epochs:
        save_checkpoint(
            fit.accelerator,
            state,
            step_dir(fit.checkpoint_root, state.global_step),
            keep=config.keep_checkpoints,
        )
    return done


def evaluate(fit: Fitting) -> dict[str, float]:
    """Macro-F1, accuracy and loss on the evaluation data, gathered from every process."""
    import torch

    from training.metrics import macro_f1

    model, accelerator = fit.model, fit.accelerator
    model.eval()
    preds, golds, losses = [], [], []
    with torch.no_grad():
        for batch in fit.eval_loader:
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


def record_evaluation(fit: Fitting, state: TrainerState, running_loss: float | None) -> bool:
    """Evaluate, keep the best weights, append to the history; True when early stopping says stop."""
    scores = evaluate(fit)
    improved = state.best_metric is None or scores["eval_macro_f1"] > state.best_metric + 1e-6
    if improved:
        state.best_metric, state.best_step = scores["eval_macro_f1"], state.global_step
        state.evals_without_improvement = 0
        save_best(fit.accelerator, fit.model, fit.tokenizer, fit.best_dir)
    else:
        state.evals_without_improvement += 1
    entry = {
        "step": state.global_step,
        "epoch": round(state.epoch + state.batches_in_epoch / max(1, len(fit.train_loader)), 3),
        "train_loss": running_loss,
        "lr": float(fit.scheduler.get_last_lr()[0]),
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
    patience = fit.config.early_stopping_patience
    if patience and state.evals_without_improvement >= patience:
        logger.info("early stopping: no improvement in %d evaluations", patience)
        state.stopped_early = True
    return state.stopped_early


class ProgressMeter:
    """The progress bar (or, without a terminal, a log line every 2% of the run) and the running loss."""

    def __init__(self, state: TrainerState, total_steps: int, *, main_process: bool) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=total_steps,
            initial=state.global_step,
            desc="training",
            unit="step",
            disable=None if main_process else True,
            dynamic_ncols=True,
        )
        self.total_steps = total_steps
        self.running: float | None = None
        self.started = time.perf_counter()
        self.base_seconds, self.base_samples = state.train_seconds, state.samples_seen
        self.start_step = state.global_step
        self.log_every = max(1, total_steps // 50)

    def add_loss(self, value: float) -> None:
        self.running = value if self.running is None else 0.95 * self.running + 0.05 * value

    def seconds(self) -> float:
        """Training time of the run, the time before a resume included."""
        return self.base_seconds + time.perf_counter() - self.started

    def update(self, state: TrainerState) -> None:
        """After an optimizer update: time, bar, and the log line when there is no bar."""
        state.train_seconds = self.seconds()
        elapsed = time.perf_counter() - self.started
        rate = (state.samples_seen - self.base_samples) / max(1e-9, elapsed)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.running:.4f}", texts_per_s=f"{rate:.1f}", epoch=state.epoch + 1)
        if self.bar.disable and state.global_step % self.log_every == 0:
            # No bar in a log file (nohup, CI): a line every 2% of the run instead.
            left = (
                (self.total_steps - state.global_step) * elapsed / max(1, state.global_step - self.start_step)
            )
            logger.info(
                "step %d/%d (epoch %d): loss %.4f, %.1f texts/s, ETA %s",
                state.global_step,
                self.total_steps,
                state.epoch + 1,
                self.running,
                rate,
                f"{int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}",
            )

    def close(self) -> None:
        self.bar.close()


# -- the loop --------------------------------------------------------------------------------------


def train_transformer(
    config: TrainConfig,
    train: pd.DataFrame | Dataset,
    evaluation: pd.DataFrame | Dataset,
    labels: Sequence[str],
    *,
    model: Any = None,
    tokenizer: Any = None,
) -> LoopResult:
    """Fine-tune on ``train``, early-stop on ``evaluation`` macro-F1; see the module docstring.

    ``train``/``evaluation`` are frames of ``text`` and ``label`` or ``datasets.Dataset`` with
    those columns (:func:`training.tokenized.log_dataset` streams a large log into one).
    ``model``/``tokenizer`` warm-start from an existing classifier (retraining); by default a
    fresh head is put on ``config.base_model``.
    """
    from accelerate.utils import set_seed

    labels = list(labels)
    accelerator = make_accelerator(config)
    set_seed(config.seed)
    if model is None:
        model, tokenizer = load_base_model(config, labels)
    if config.freeze_embeddings:
        n = freeze_word_embeddings(model)
        logger.info("word embeddings frozen (%s parameters)", f"{n:,}")
    data = build_data(config, tokenizer, train, evaluation, labels, accelerator)
    fit = build_model_and_optimizer(config, accelerator, model, tokenizer, data, labels)
    if config.resume_from:
        state = restore_checkpoint(accelerator, config.resume_from, labels, fit.best_dir, fit.total_steps)
    else:
        state = TrainerState(total_steps=fit.total_steps, labels=labels)

    quiet_accelerate_checkpoint_logs()
    fit.model.train()
    meter = ProgressMeter(state, fit.total_steps, main_process=accelerator.is_main_process)
    done = state.global_step >= fit.total_steps
    while state.epoch < config.epochs and not done:
        done = train_one_epoch(fit, state, meter) or end_epoch(fit, state, meter)
    meter.close()
    if not state.history or state.history[-1]["step"] != state.global_step:
        record_evaluation(fit, state, meter.running)  # the final weights are always compared with the best
    state.finished = True
    state.train_seconds = meter.seconds()
    last_dir = fit.checkpoint_root / LAST_DIR
    save_checkpoint(accelerator, state, last_dir, keep=config.keep_checkpoints)
    accelerator.wait_for_everyone()
    logger.info(
        "training done: %d steps in %.0f s; best eval macro-F1 %.4f at step %s",
        state.global_step,
        state.train_seconds,
        state.best_metric or 0.0,
        state.best_step,
    )
    return LoopResult(
        fit.best_dir, last_dir, state, describe_device(accelerator), accelerator.num_processes, tokenizer
    )


def describe_device(accelerator: Any) -> str:
    import torch

    device = str(accelerator.device)
    if accelerator.device.type == "cuda":
        device += f" ({torch.cuda.get_device_name(accelerator.device)})"
    return device
