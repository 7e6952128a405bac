"""`hotline demo`: the end-to-end run on bundled synthetic data that `make demo` starts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo writes its outputs.")] = Path(
        "artifacts/demo"
    ),
    base_model_dir: Annotated[
        Path, typer.Option("--base-model-dir", help="Cache for the converted base model.")
    ] = Path("artifacts/base-model"),
    transformer: Annotated[
        bool,
        typer.Option(
            "--transformer/--no-transformer",
            help="Fine-tune the base model (a few minutes on CPU) or classify with TF-IDF only.",
        ),
    ] = True,
    epochs: Annotated[int, typer.Option("--epochs", help="Fine-tuning epochs.")] = 2,
) -> None:
    """Run the whole pipeline on data/samples and print the report."""
    from hotline.demo import DemoConfig, run_demo

    config = DemoConfig(
        workdir=workdir, base_model_dir=base_model_dir, transformer=transformer, transformer_epochs=epochs
    )
    typer.echo(run_demo(config).to_text())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
