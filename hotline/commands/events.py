"""`hotline events`, `hotline hot`, `hotline signals`: incidents, hot issues and daily signals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import LOG_COLUMNS, ReaderArgs, Rejects, with_reader_options

StoreUrl = Annotated[
    str,
    typer.Option(
        "--store",
        help="Event store: a SQLite file path (events.db), sqlite:///path, or postgresql://user@host/db.",
    ),
]


@with_reader_options(*LOG_COLUMNS, "encoding", "t2s")
def events(
    input: Annotated[Path, typer.Argument(help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    store: StoreUrl,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", help="Classify complaints that have neither a stored prediction nor a label."
        ),
    ] = None,
    gazetteer: Annotated[
        str,
        typer.Option(
            "--gazetteer",
            help="Gazetteer JSON, e.g. one from 'hotline gazetteer build' (default: China's administrative "
            "divisions plus patterns; 'demo' for the sample city; 'none' for patterns only).",
        ),
    ] = "default",
    window_days: Annotated[
        float, typer.Option("--window-days", help="Longest gap between complaints of one incident, in days.")
    ] = 30.0,
    method: Annotated[
        str, typer.Option("--method", help="Grouping links: combined, minhash, place, text or embedding.")
    ] = "combined",
    embed_model: Annotated[
        Path | None,
        typer.Option("--embed-model", help="Base model dir (hotline base-model build) for embedding links."),
    ] = None,
    keywords: Annotated[int, typer.Option("--keywords", help="Keywords per complaint.")] = 5,
    regroup: Annotated[
        bool,
        typer.Option("--regroup", help="Forget stored incidents and group every stored complaint again."),
    ] = False,
    caller_column: Annotated[
        str | None,
        typer.Option(
            "--caller-column",
            help="Column with the caller id / phone (stored as a keyed hash; the secret is "
            "HOTLINE_CALLER_SECRET or the file HOTLINE_CALLER_SECRET_FILE, ~/.config/hotline/caller_secret).",
        ),
    ] = None,
    likes_column: Annotated[
        str | None, typer.Option("--likes-column", help="Column with likes/support votes.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Also write the run report as JSON.")
    ] = None,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            "--lock-timeout",
            help="Seconds to wait for another `hotline events` run on the same store to finish "
            "(default 3600, or HOTLINE_STORE_LOCK_TIMEOUT).",
        ),
    ] = None,
    rejects: Rejects = None,
    *,
    reader: ReaderArgs,
) -> None:
    """Extract events (place, time, urgency, keywords), group complaints into incidents, store them.

    Re-running on the same log changes nothing. Categories come from predictions already in the
    store (`hotline classify --store`), else the log's label column, else --model. Rejected rows
    go to INPUTNAME.events.rejects.csv next to the store file (or --rejects). Two runs on one
    store do not interleave: the second waits for the first (--lock-timeout).
    """
    from common.errors import ConfigError
    from events.config import EventsConfig
    from events.pipeline import run_events, write_report
    from events.store import EventStore

    try:
        config = EventsConfig(
            window_days=window_days,
            gazetteer=gazetteer,
            top_k=keywords,
            method=method,
            model_dir=str(model) if model else None,
            embed_model=str(embed_model) if embed_model else None,
            regroup=regroup,
            caller_column=caller_column,
            likes_column=likes_column,
        )
    except ConfigError as exc:
        raise _in_flags(exc) from None
    opts = reader.options()
    # Rejected rows go next to the store when it is a file (the input's folder may be read-only).
    name = input.name.split(".")[0] or "input"
    folder = Path(store).expanduser().parent if "://" not in store else Path.cwd()
    rejects_path = rejects or folder / f"{name}.events.rejects.csv"
    with EventStore(store, lock_timeout=lock_timeout) as st:
        result = run_events(input, st, opts, config, rejects_path=rejects_path)
    if report is not None:
        write_report(result, report)
    typer.echo(result.to_text())


# The option of each EventsConfig field: the library's messages name fields, a user typed flags.
_FLAGS = {
    "window_days": "--window-days", "gazetteer": "--gazetteer", "top_k": "--keywords", "method": "--method",
    "model_dir": "--model", "embed_model": "--embed-model", "caller_column": "--caller-column",
    "likes_column": "--likes-column",
}  # fmt: skip


def _in_flags(exc: Exception) -> Exception:
    """``exc`` (a ConfigError) again, with each configuration field named by its option."""
    fields = re.compile(r"\b(" + "|".join(_FLAGS) + r")\b")
    return type(exc)(fields.sub(lambda m: _FLAGS[m.group(1)], str(exc)))


def hot(
    store: StoreUrl,
    top: Annotated[int, typer.Option("--top", "-n", help="How many hot issues to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Only incidents active on/after this date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only incidents started on/before this date.")
    ] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    district: Annotated[str | None, typer.Option("--district", help="Only this district.")] = None,
    min_complaints: Annotated[int, typer.Option("--min-complaints", help="Smallest incident to list.")] = 2,
) -> None:
    """Hot issues (热点问题): incidents ranked by heat, with place, time range and description."""
    from events.hot import format_hot_table
    from events.store import EventStore

    if top < 1:
        raise typer.BadParameter("--top must be at least 1")
    with EventStore(store, create=False) as st:
        table = st.incidents.hot(
            top, since=since, until=until, category=category, district=district, min_complaints=min_complaints
        )
    if as_json:
        typer.echo(json.dumps(hot_records(table), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_hot_table(table))


def hot_records(table: object) -> list[dict[str, object]]:
    """Hot-issue rows as JSON-ready dicts (dates as ISO strings)."""
    import pandas as pd

    assert isinstance(table, pd.DataFrame)
    out = []
    for r in table.to_dict(orient="records"):
        rec = {}
        for k, v in r.items():
            if isinstance(v, pd.Timestamp) or hasattr(v, "isoformat"):
                rec[k] = None if pd.isna(v) else v.isoformat(sep=" ")
            elif hasattr(v, "item") and not isinstance(v, (list, dict, str)):
                rec[k] = v.item()
            else:
                rec[k] = v
        out.append(rec)
    return out


def signals(
    store: StoreUrl,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file; format from its extension.")],
    start: Annotated[str | None, typer.Option("--start", help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date (YYYY-MM-DD).")] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="Recompute from the stored complaints first.")
    ] = True,
) -> None:
    """Daily counts per category × district with calendar features, for the forecasting heads."""
    from events.signals import refresh_signals
    from events.store import EventStore
    from ingest.writers import write_table

    with EventStore(store, create=False) as st:
        if refresh:
            refresh_signals(st)
        table = st.signals.read(start, end)
    write_table(table, output)
    days = table["date"].nunique() if len(table) else 0
    series = len(table.groupby(["category", "district"])) if len(table) else 0
    typer.echo(f"{len(table)} rows ({days} days × {series} category×district series) -> {output}")


def register(app: typer.Typer) -> None:
    app.command("events")(events)
    app.command("hot")(hot)
    app.command("signals")(signals)
