"""`hotline pretrain`: domain-adaptive masked-LM training of the encoder on unlabelled complaints.

A thin command over :func:`training.pretrain.pretrain`; see ``docs/training.md``. Multi-GPU:
``accelerate launch -m hotline.cli pretrain ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import Encoding, IdColumn, TextColumn, TitleColumn


def pretrain(
    corpus: Annotated[
        list[Path],
        typer.Option("--corpus", metavar="FILE", help="Unlabelled log (csv, jsonl, parquet, txt); repeat."),
    ],
    base_model: Annotated[
        str,
        typer.Option("--base-model", metavar="DIR|NAME", help="Encoder to adapt (hotline base-model build)."),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="DIR", help="Base-model directory to write.")
    ],
    exclude: Annotated[
        list[Path] | None,
        typer.Option(
            "--exclude", metavar="FILE", help="Log whose texts never enter the corpus (a test split); repeat."
        ),
    ] = None,
    exclude_ids: Annotated[
        Path | None,
        typer.Option("--exclude-ids", metavar="FILE", help="Ids to drop: one a line, or a CSV id column."),
    ] = None,
    max_length: Annotated[int, typer.Option("--max-length", help="Tokens per text (cut at the end).")] = 128,
    mlm_probability: Annotated[
        float, typer.Option("--mlm-probability", help="Share of words masked.")
    ] = 0.15,
    no_whole_word: Annotated[
        bool, typer.Option("--no-whole-word", help="Mask single tokens instead of whole jieba words.")
    ] = False,
    mlm_head_init: Annotated[
        str, typer.Option("--mlm-head-init", help="A missing MLM head's transform: identity or random.")
    ] = "identity",
    epochs: Annotated[int, typer.Option("--epochs")] = 1,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after this many updates.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 16,
    gradient_accumulation_steps: Annotated[
        int, typer.Option("--gradient-accumulation-steps", "--grad-accum")
    ] = 1,
    learning_rate: Annotated[float, typer.Option("--lr", "--learning-rate")] = 5e-5,
    warmup_ratio: Annotated[float, typer.Option("--warmup-ratio")] = 0.06,
    scheduler: Annotated[str, typer.Option("--scheduler", help="linear, cosine or constant.")] = "linear",
    mixed_precision: Annotated[str, typer.Option("--mixed-precision", help="no, fp16 (GPU) or bf16.")] = "no",
    eval_texts: Annotated[
        int, typer.Option("--eval-texts", help="Corpus texts held out to measure the MLM loss.")
    ] = 200,
    eval_steps: Annotated[
        int | None,
        typer.Option("--eval-steps", help="Held-out MLM loss every N updates (default: start, end)."),
    ] = None,
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
    text_column: TextColumn = None,
    title_column: TitleColumn = None,
    id_column: IdColumn = None,
    encoding: Encoding = None,
) -> None:
    """Continue masked-LM training of an encoder on complaint text; -o DIR is a base model for `hotline train`."""
    from training.pretrain import PretrainConfig
    from training.pretrain import pretrain as run_pretrain

    columns = {k: v for k, v in {"text": text_column, "title": title_column, "id": id_column}.items() if v}
    config = PretrainConfig(
        corpus=[str(p) for p in corpus],
        base_model=base_model,
        output_dir=str(output),
        exclude=[str(p) for p in exclude or []],
        exclude_ids=str(exclude_ids) if exclude_ids else None,
        columns=columns,
        encoding=encoding,
        eval_texts=eval_texts,
        seed=seed,
        max_length=max_length,
        mlm_probability=mlm_probability,
        whole_word_mask=not no_whole_word,
        mlm_head_init=mlm_head_init,  # type: ignore[arg-type]
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        scheduler=scheduler,  # type: ignore[arg-type]
        mixed_precision=mixed_precision,  # type: ignore[arg-type]
        eval_steps=eval_steps,
        checkpoint_steps=checkpoint_steps,
        keep_checkpoints=keep_checkpoints,
        resume_from=str(resume_from) if resume_from else None,
    )
    result = run_pretrain(config)
    m = result.metrics
    typer.echo(
        f"pretrained {m['steps']} steps ({m['texts_per_second']:.1f} texts/s); held-out MLM loss "
        f"{m['eval_mlm_loss_before']:.4f} -> {m['eval_mlm_loss_after']:.4f}; base model: {result.output_dir}"
    )


def register(app: typer.Typer) -> None:
    app.command("pretrain")(pretrain)
