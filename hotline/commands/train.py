"""`hotline train`, `evaluate`, `retrain` and `hotline model list|promote|rollback`.

Thin commands over :mod:`training`; see ``docs/training.md``. Multi-GPU:
``accelerate launch -m hotline.cli train ...`` runs the same loop on every process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import ReaderArgs, with_reader_options

model_app = typer.Typer(
    help="Model registry: list versions, promote one, roll back.",
    no_args_is_help=True,
)

RegistryOpt = Annotated[Path, typer.Option("--registry", metavar="DIR", help="Model registry directory.")]


# The reader options of the commands that read a labelled log (a training file).
LABELLED_LOG_OPTIONS = ("text_column", "title_column", "id_column", "label_column", "encoding")


def _floats(value: str, option: str) -> tuple[float, ...]:
    from common.errors import ConfigError

    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers (e.g. 0.3,1,3), got {value!r}") from None


def _ngrams(value: str, option: str) -> tuple[int, int] | None:
    from common.errors import ConfigError

    if value.lower() in ("none", "off", "0", ""):
        return None
    lo, _, hi = value.partition("-")
    try:
        return (int(lo), int(hi or lo))
    except ValueError:
        raise ConfigError(f"{option} takes MIN-MAX (e.g. 1-3) or none, got {value!r}") from None


@with_reader_options(*LABELLED_LOG_OPTIONS)
def train(
    train_file: Annotated[Path, typer.Option("--train", metavar="FILE", help="Labelled complaint log.")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="DIR", help="Model directory to write.")],
    model_type: Annotated[
        str, typer.Option("--model-type", help="transformer, tfidf (fast CPU baseline) or fusion (both).")
    ] = "transformer",
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model", metavar="DIR|NAME", help="Pretrained encoder (hotline base-model build)."
        ),
    ] = None,
    eval_file: Annotated[
        Path | None, typer.Option("--eval", metavar="FILE", help="Labelled evaluation file.")
    ] = None,
    eval_split: Annotated[
        float, typer.Option("--eval-split", help="Without --eval: stratified share held out (seeded).")
    ] = 0.1,
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens per text (cut head + tail).")] = 256,
    head_tokens: Annotated[
        int | None, typer.Option("--head-tokens", help="Tokens kept from the start (default: a quarter).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs")] = 3,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after this many updates.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    eval_batch_size: Annotated[int, typer.Option("--eval-batch-size")] = 64,
    gradient_accumulation_steps: Annotated[
        int, typer.Option("--gradient-accumulation-steps", "--grad-accum")
    ] = 1,
    learning_rate: Annotated[float, typer.Option("--lr", "--learning-rate")] = 5e-5,
    head_learning_rate: Annotated[
        float | None, typer.Option("--head-lr", help="Learning rate of the new head (default: --lr).")
    ] = None,
    weight_decay: Annotated[float, typer.Option("--weight-decay")] = 0.01,
    warmup_ratio: Annotated[float, typer.Option("--warmup-ratio")] = 0.06,
    scheduler: Annotated[str, typer.Option("--scheduler", help="linear, cosine or constant.")] = "linear",
    mixed_precision: Annotated[str, typer.Option("--mixed-precision", help="no, fp16 (GPU) or bf16.")] = "no",
    freeze_embeddings: Annotated[
        bool, typer.Option("--freeze-embeddings", help="Do not train the word-embedding table.")
    ] = False,
    class_weight: Annotated[
        str, typer.Option("--class-weight", help="none or balanced (inverse class frequency).")
    ] = "none",
    label_smoothing: Annotated[float, typer.Option("--label-smoothing")] = 0.0,
    eval_steps: Annotated[
        int | None, typer.Option("--eval-steps", help="Evaluate every N updates (default: each epoch).")
    ] = None,
    patience: Annotated[
        int, typer.Option("--patience", help="Early stopping: evaluations without improvement (0: off).")
    ] = 2,
    checkpoint_steps: Annotated[
        int | None,
        typer.Option("--checkpoint-steps", help="Save state every N updates (default: each epoch)."),
    ] = None,
    keep_checkpoints: Annotated[int, typer.Option("--keep-checkpoints")] = 2,
    resume_from: Annotated[
        Path | None,
        typer.Option(
            "--resume-from", metavar="DIR", help="A checkpoint, or the -o DIR of an interrupted run."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    tfidf_char_ngrams: Annotated[str, typer.Option("--tfidf-char-ngrams", help="e.g. 1-3, or none.")] = "1-3",
    tfidf_word_ngrams: Annotated[
        str, typer.Option("--tfidf-word-ngrams", help="jieba word n-grams, e.g. 1-2, or none.")
    ] = "none",
    tfidf_classifier: Annotated[str, typer.Option("--tfidf-classifier", help="svm or logreg.")] = "svm",
    tfidf_c: Annotated[
        str, typer.Option("--tfidf-c", help="C values tried on the evaluation split, comma-separated.")
    ] = "0.1,0.3,1,3,10",
    target_precision: Annotated[
        float, typer.Option("--target-precision", help="Review thresholds: precision to reach per class.")
    ] = 0.95,
    replay_per_class: Annotated[int, typer.Option("--replay-per-class")] = 300,
    name: Annotated[str | None, typer.Option("--name", help="Model name for the model card.")] = None,
    *,
    reader: ReaderArgs,
) -> None:
    """Train a complaint classifier; -o DIR gets the best model, ready for classify/serve/evaluate."""
    from training.config import TrainConfig
    from training.pipeline import run_training

    config = TrainConfig(
        train_file=str(train_file),
        output_dir=str(output),
        model_type=model_type,  # type: ignore[arg-type]
        base_model=base_model,
        eval_file=str(eval_file) if eval_file else None,
        eval_split=eval_split,
        columns=reader.columns(),
        encoding=reader.encoding,
        name=name,
        seed=seed,
        max_length=max_length,
        head_tokens=head_tokens,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        eval_batch_size=eval_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        weight_decay=weight_decay,
        warmup_ratio=warmup_ratio,
        scheduler=scheduler,  # type: ignore[arg-type]
        mixed_precision=mixed_precision,  # type: ignore[arg-type]
        freeze_embeddings=freeze_embeddings,
        class_weight=class_weight,  # type: ignore[arg-type]
        label_smoothing=label_smoothing,
        eval_steps=eval_steps,
        early_stopping_patience=patience or None,
        checkpoint_steps=checkpoint_steps,
        keep_checkpoints=keep_checkpoints,
        resume_from=str(resume_from) if resume_from else None,
        tfidf_char_ngrams=_ngrams(tfidf_char_ngrams, "--tfidf-char-ngrams"),
        tfidf_word_ngrams=_ngrams(tfidf_word_ngrams, "--tfidf-word-ngrams"),
        tfidf_classifier=tfidf_classifier,  # type: ignore[arg-type]
        tfidf_c_grid=_floats(tfidf_c, "--tfidf-c"),
        target_precision=target_precision,
        replay_per_class=replay_per_class,
    )
    result = run_training(config)
    if result is not None:  # None on the secondary processes of `accelerate launch`
        typer.echo(result.summary())


@with_reader_options(*LABELLED_LOG_OPTIONS)
def evaluate(
    model: Annotated[Path, typer.Option("--model", metavar="DIR", help="Model directory or registry.")],
    data: Annotated[Path, typer.Option("--data", metavar="FILE", help="Labelled complaint log.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="REPORT_DIR", help="Write the full report here.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 ...")] = "cpu",
    *,
    reader: ReaderArgs,
) -> None:
    """Accuracy, F1, per-class table, confusion matrix, calibration and review coverage."""
    from nlp.text import pad
    from training.evaluate import evaluate_model, write_report

    report = evaluate_model(
        model,
        data,
        columns=reader.columns(),
        encoding=reader.encoding,
        batch_size=batch_size,
        device=device,
    )
    m = report.metrics
    typer.echo(
        f"{m['n']} rows: accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}, "
        f"weighted-F1 {m['weighted_f1']:.4f}"
        + (f", top-2 {m['top2_accuracy']:.4f}" if "top2_accuracy" in m else "")
        + f"; ECE {report.calibration['ece']:.4f} (T = {report.info.temperature:.3f})"
    )
    for label, row in m["per_class"].items():
        typer.echo(
            f"  {pad(label, 16)} P {row['precision']:.3f}  R {row['recall']:.3f}  F1 {row['f1']:.3f}  n {row['support']}"
        )
    per_class = next((r for r in report.coverage if r["threshold"] == "per-class"), None)
    if per_class is not None:
        typer.echo(
            f"review thresholds: {per_class['coverage']:.1%} accepted automatically "
            f"(accuracy {per_class['accuracy'] or 0:.4f}), {per_class['review']} to review"
        )
    if output is not None:
        files = write_report(report, output)
        typer.echo(f"report written to {output} ({', '.join(sorted(p.name for p in files.values()))})")


@with_reader_options(*LABELLED_LOG_OPTIONS)
def retrain(
    model: Annotated[
        Path, typer.Option("--model", metavar="DIR|REGISTRY", help="Current model directory or registry.")
    ],
    new: Annotated[Path, typer.Option("--new", metavar="FILE", help="Newly labelled complaints.")],
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", metavar="FILE", help="CSV old,new: rename, merge, split labels."),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(
            "--registry", metavar="DIR", help="Registry to keep versions in (needed with a model DIR)."
        ),
    ] = None,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Largest macro-F1 drop on shared labels still promoted.")
    ] = 0.01,
    force: Annotated[bool, typer.Option("--force", help="Promote even when the comparison fails.")] = False,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Share of the new data held out for the comparison.")
    ] = 0.2,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Default: the current model's.")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", "--learning-rate")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    *,
    reader: ReaderArgs,
) -> None:
    """Warm-start from the current model on new labels + replay; promote only if it is not worse."""
    from training.config import RetrainConfig
    from training.retrain import retrain as run_retrain

    config = RetrainConfig(
        model=str(model),
        new_file=str(new),
        registry=str(registry) if registry else None,
        mapping_file=str(mapping) if mapping else None,
        tolerance=tolerance,
        force=force,
        holdout=holdout,
        epochs=epochs,
        max_steps=max_steps,
        learning_rate=learning_rate,
        seed=seed,
        columns=reader.columns(),
        encoding=reader.encoding,
    )
    result = run_retrain(config)
    typer.echo(result.to_text())


@model_app.command("list")
def model_list(registry: RegistryOpt) -> None:
    """Versions in a registry: status, type, labels, macro-F1; * marks the current one."""
    from training.registry import ModelRegistry

    typer.echo(ModelRegistry(registry).require().table())


@model_app.command("promote")
def model_promote(
    version: Annotated[str, typer.Argument(help="Version to make current, e.g. v3.")],
    registry: RegistryOpt,
) -> None:
    """Make a version current (no comparison: you decide)."""
    from training.registry import ModelRegistry

    reg = ModelRegistry(registry).require()
    previous = reg.current()
    reg.promote(version, reason="manual (hotline model promote)")
    typer.echo(f"{version} is now current (was {previous})")


@model_app.command("rollback")
def model_rollback(
    registry: RegistryOpt,
    to: Annotated[
        str | None, typer.Option("--to", help="Version to go back to (default: the previous one).")
    ] = None,
) -> None:
    """Make the previously current version current again."""
    from training.registry import ModelRegistry

    reg = ModelRegistry(registry).require()
    previous = reg.current()
    version = reg.rollback(to)
    typer.echo(f"rolled back from {previous} to {version}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.command("retrain")(retrain)
    app.add_typer(model_app, name="model")
