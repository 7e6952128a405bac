"""The ``hotline`` command line: thin typer commands over library functions.

Each area keeps its commands in ``hotline/commands/<area>.py`` and exposes ``register(app)``.
Heavy libraries (torch, transformers) are imported inside the commands so that ``hotline
--help`` stays instant.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from common.errors import HotlineError

app = typer.Typer(
    name="hotline",
    help="NLP incident processing for 12345 citizen hotlines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Order is the order in `hotline --help`.
_COMMAND_MODULES = (
    "hotline.commands.data",
    "hotline.commands.base_model",
    "hotline.commands.pretrain",
    "hotline.commands.train",
    "hotline.commands.classify",
    "hotline.commands.serve",
    "hotline.commands.events",
    "hotline.commands.gazetteer",
    "hotline.commands.forecast",
    "hotline.commands.report",
    "hotline.commands.demo",
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Log warnings and errors only."),
    json_logs: bool = typer.Option(False, "--json-logs", help="Write logs as JSON lines."),
) -> None:
    from nlp.logs import configure_logging

    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    if int(os.environ.get("RANK", "0")) > 0:
        level = max(level, logging.WARNING)  # secondary processes of a distributed run: no echo
    configure_logging(level, json_lines=json_logs)


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_commands()


def main() -> None:
    """Console-script entry point: user errors print one clear message and exit 2."""
    try:
        app()
    except HotlineError as exc:
        logging.getLogger("hotline").debug("user error", exc_info=True)
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
