"""`hotline serve`: the HTTP classification service (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Model directory or registry (default: $HOTLINE_MODEL_DIR)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
    max_batch_size: Annotated[
        int | None, typer.Option("--max-batch-size", help="Most texts per forward pass (1: no batching).")
    ] = None,
    max_wait_ms: Annotated[
        float | None, typer.Option("--max-wait-ms", help="How long a batch waits for more requests.")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads for inference.")] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Event store URL (default: $HOTLINE_STORE_URL).")
    ] = None,
    forecast_dir: Annotated[Path | None, typer.Option("--forecast-dir", help="Forecaster directory.")] = None,
    survival_dir: Annotated[
        Path | None, typer.Option("--survival-dir", help="Survival model directory.")
    ] = None,
    plain_logs: Annotated[
        bool, typer.Option("--plain-logs", help="Human-readable logs instead of JSON lines.")
    ] = False,
) -> None:
    """Serve POST /v1/classify, /health, /ready, /v1/info, /metrics and the docs at /docs.

    Every setting can also come from HOTLINE_* environment variables (see docs/serving.md);
    options given here win.
    """
    import logging

    import uvicorn

    from nlp.logs import configure_logging
    from serving.app import create_app
    from serving.settings import Settings

    overrides = {
        "model_dir": model,
        "max_batch_size": max_batch_size,
        "max_wait_ms": max_wait_ms,
        "num_threads": threads,
        "store_url": store,
        "forecast_dir": forecast_dir,
        "survival_dir": survival_dir,
    }
    from pydantic import ValidationError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # One line per bad setting, without pydantic's echo of the value (it may be a key).
        problems = "; ".join(
            f"HOTLINE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise typer.BadParameter(problems) from None
    if plain_logs:
        settings.log_json = False
    if settings.model_dir is None:
        raise typer.BadParameter("no model: pass --model DIR or set HOTLINE_MODEL_DIR", param_hint="--model")
    # HOTLINE_LOG_LEVEL decides (it was ignored before: DEBUG never reached the log).
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Library warnings (pandas, torch) become log records, so that they arrive as JSON lines
    # instead of bare text on stderr.
    logging.captureWarnings(True)
    app = create_app(settings)
    # Our middleware writes one JSON access line per request; uvicorn's own would duplicate it,
    # and log_config=None keeps the handlers configure_logging installed.
    uvicorn.run(app, host=host, port=port, access_log=False, log_config=None, timeout_graceful_shutdown=30)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
