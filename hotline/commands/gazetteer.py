"""`hotline gazetteer build`: learn a city's own places from its complaint history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hotline.commands._options import ReaderArgs, with_reader_options

# Places are named early in a complaint; the rest of a long petition adds cost, not places.
LEARN_CHARS = 2000

gazetteer_app = typer.Typer(
    help="Place-name gazetteers: learn one from a complaint log.", no_args_is_help=True
)


@gazetteer_app.command("build")
@with_reader_options("text_column", "title_column", "id_column", "district_column", "encoding", "t2s")
def build(
    log: Annotated[Path, typer.Option("--from", help="Complaint log: CSV/TSV, JSONL, XLSX or Parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Gazetteer JSON to write.")],
    min_count: Annotated[
        int, typer.Option("--min-count", min=1, help="Keep names found in at least this many complaints.")
    ] = 2,
    *,
    reader: ReaderArgs,
) -> None:
    """Learn the estates, villages, roads, streets/towns and landmarks a log names, with counts.

    The output is for an operator to review (delete what is not a place, merge spellings) and
    then pass to `hotline events --gazetteer FILE`; it adds to China's administrative divisions.
    """
    from common.files import atomic_write_text
    from ingest.readers import ComplaintReader
    from nlp.places.learn import learn_gazetteer

    opts = reader.options()

    def records():
        for chunk in ComplaintReader(log, opts):
            r = chunk.records
            title = r["title"] if "title" in r else [""] * len(r)
            district = r["district"] if "district" in r else [""] * len(r)
            for rid, t, x, d in zip(r["id"], title, r["text"], district, strict=True):
                yield str(rid), _s(t), _s(x)[:LEARN_CHARS], _s(d)

    gaz = learn_gazetteer(records(), min_count=min_count, source=log.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(gaz, ensure_ascii=False, indent=1) + "\n")
    n_places = len(gaz["places"]) + sum(
        len(d.get(k, [])) for d in gaz["districts"] for k in ("streets", "communities", "roads", "landmarks")
    )
    typer.echo(
        f"{n_places} places from {gaz['learned']['complaints']} complaints "
        f"({len(gaz['districts'])} districts, {len(gaz['places'])} without one) -> {output}; "
        "review it, then use --gazetteer " + str(output)
    )


def _s(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def register(app: typer.Typer) -> None:
    app.add_typer(gazetteer_app, name="gazetteer")
