"""Checkpoints of the fine-tuning loop: the trainer state, saving, finding and restoring one.

A checkpoint is ``accelerator.save_state`` (model, optimizer, scheduler, RNG states) plus
``trainer_state.json`` (:class:`TrainerState`: where in which epoch the loop was). Restoring
both, with the deterministic batch order of :class:`training.batches.EpochBatchSampler`, makes a
resumed run end with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from common.errors import ConfigError
from common.files import atomic_write_json

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
BEST_DIR = "best"
LAST_DIR = "last"
STEP_PREFIX = "step-"


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
        atomic_write_json(directory / STATE_FILE, asdict(self))

    @classmethod
    def load(cls, directory: Path) -> TrainerState:
        return cls(**json.loads((directory / STATE_FILE).read_text(encoding="utf-8")))


def step_dir(root: Path, global_step: int) -> Path:
    return root / f"{STEP_PREFIX}{global_step:07d}"


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
        f"resume_from {path}: no checkpoint found (a checkpoint holds {STATE_FILE}); give "
        "DIR/checkpoints/step-N or the output_dir of an earlier run that saved checkpoints"
    )


def save_best(accelerator: Any, model: Any, tokenizer: Any, best_dir: Path) -> None:
    """The best weights so far, in ``save_pretrained`` layout (what the model directory is made from)."""
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


def save_checkpoint(accelerator: Any, state: TrainerState, directory: Path, *, keep: int) -> None:
    """Save the full training state; of the periodic ``step-N`` folders the newest ``keep`` stay."""
    accelerator.wait_for_everyone()
    accelerator.save_state(str(directory))
    if accelerator.is_main_process:
        state.save(directory)
        if directory.name.startswith(STEP_PREFIX):
            for stale in sorted(directory.parent.glob(f"{STEP_PREFIX}*"))[:-keep]:
                shutil.rmtree(stale, ignore_errors=True)


def restore_checkpoint(
    accelerator: Any, resume_from: str, labels: list[str], best_dir: Path, total_steps: int
) -> TrainerState:
    """Load the states saved in ``resume_from`` into the prepared objects; the trainer state to go on from."""
    resume = find_checkpoint(resume_from)
    state = TrainerState.load(resume)
    if state.labels != labels:
        raise ConfigError(
            f"resume_from {resume}: the checkpoint was trained on labels {state.labels}, the "
            f"data now has {labels}; resume with the same training data and settings"
        )
    accelerator.load_state(str(resume))
    if state.best_metric is not None and not (best_dir / "config.json").is_file():
        # Resuming into another output directory: bring the best weights so far along.
        source = resume.parent / BEST_DIR
        if not (source / "config.json").is_file():
            raise ConfigError(
                f"resume_from {resume}: the best model so far ({source}) is missing; resume from a "
                "checkpoint whose checkpoints/ folder still holds best/"
            )
        if accelerator.is_main_process:
            shutil.copytree(source, best_dir, dirs_exist_ok=True)
    state.total_steps = total_steps
    state.finished = state.stopped_early = False
    logger.info("resumed from %s (epoch %d, step %d)", resume, state.epoch, state.global_step)
    return state
