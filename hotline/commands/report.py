"""`hotline report`: the duty manager's daily or weekly briefing as XLSX or one HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hotline.commands.forecast import (
    AsOfOption,
    DecisionCasesOption,
    DecisionForecasterOption,
    DecisionSurvivalOption,
    _open_store,
)


def report(
    store: Annotated[str, typer.Option("--store", help="Event store URL or SQLite path.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Briefing file: .xlsx or .html.")],
    as_of: AsOfOption = None,
    period: Annotated[
        str, typer.Option("--period", help="day: the as-of day; week: the 7 days to the as-of day.")
    ] = "day",
    model: DecisionForecasterOption = None,
    survival: DecisionSurvivalOption = None,
    cases: DecisionCasesOption = None,
    top: Annotated[int, typer.Option("--top", "-n", help="Rows per section.")] = 10,
) -> None:
    """The briefing: volume vs forecast, hot incidents, alerts opened/closed, cases at risk, review queue.

    Its alerts, hot issues, outlook and cases at risk are those of `hotline summary --days 1`
    (--period day) or `--days 7` (--period week) for the same store, models and as-of.
    """
    from forecasting.cases import read_cases
    from forecasting.forecaster import Forecaster
    from forecasting.survival import SurvivalModel
    from reports import build_briefing, write_briefing

    if period not in ("day", "week"):
        raise typer.BadParameter("--period must be day or week")
    if output.suffix.lower() not in (".xlsx", ".html", ".htm"):
        raise typer.BadParameter("--output must end in .xlsx or .html")
    if top < 1:
        raise typer.BadParameter("--top must be at least 1")
    fc = Forecaster.load(model) if model is not None else None
    sm = SurvivalModel.load(survival) if survival is not None else None
    frame = read_cases(cases, require_reply=False) if cases is not None else None
    with _open_store(store) as st:
        briefing = build_briefing(st, fc, sm, as_of=as_of, period=period, top=top, cases=frame)  # type: ignore[arg-type]
    path = write_briefing(briefing, output)
    typer.echo(
        f"{period} briefing as of {briefing.as_of:%Y-%m-%d %H:%M} ({briefing.as_of_source}): "
        f"{briefing.calls:.0f} calls, {len(briefing.alerts_opened)} alert(s) opened, "
        f"{len(briefing.alerts_closed)} closed, {briefing.review.get('n_review', 0)} to review -> {path}"
    )


def register(app: typer.Typer) -> None:
    app.command("report")(report)
