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
) -> None:
    """Run the whole pipeline on data/samples and print the report."""
    from hotline.demo import DemoConfig, run_demo

    report = run_demo(DemoConfig(workdir=workdir, base_model_dir=base_model_dir))
    typer.echo(report.to_text())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
