"""`hotline forecast fit|predict`, `hotline alerts` and `hotline survival fit|predict`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

forecast_app = typer.Typer(
    help="Forecast daily call volumes per category/district (fit heads, predict with intervals).",
    no_args_is_help=True,
)
survival_app = typer.Typer(
    help="Time-to-reply risk: Kaplan-Meier curves and a Cox model; risk of missing the reply deadline.",
    no_args_is_help=True,
)

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Event store URL or SQLite path (written by `hotline events`)."),
]


AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Decide as of this date/time (default: the latest complaint time)."),
]
# The options `hotline summary` and `hotline report` share.
DecisionForecasterOption = Annotated[
    Path | None, typer.Option("--model", "-m", help="Forecaster directory (outlook, expected volume).")
]
DecisionSurvivalOption = Annotated[
    Path | None, typer.Option("--survival", help="Survival model directory (cases at risk).")
]
DecisionCasesOption = Annotated[
    Path | None,
    typer.Option(
        "--cases",
        help="Open cases to score for reply risk (no reply-time column needed; default: the store's "
        "complaints of the last 30 days).",
    ),
]


def _signals_up_to(frame, as_of: str):
    import pandas as pd

    day = pd.Timestamp(as_of).normalize()
    return frame[pd.to_datetime(frame["date"]) <= day].reset_index(drop=True)


def _next_day(day: str) -> str:
    import pandas as pd

    return f"{pd.Timestamp(day) + pd.Timedelta(days=1):%Y-%m-%d}"


def _open_store(url: str, *, create: bool = False):
    from events.store import EventStore

    return EventStore(url, create=create)


def _load_signals(signals: Path | None, store: str | None):
    from forecasting.signals import read_signals_file

    if (signals is None) == (store is None):
        raise typer.BadParameter("give exactly one of --signals FILE or --store URL")
    if signals is not None:
        return read_signals_file(signals), str(signals)
    with _open_store(store) as st:  # type: ignore[arg-type]
        return st.signals.read(), store


@forecast_app.command("fit")
def forecast_fit(
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the fitted heads.")],
    signals: Annotated[
        Path | None,
        typer.Option("--signals", help="Daily signals file (CSV/Parquet; `hotline signals -o FILE`)."),
    ] = None,
    store: StoreOption = None,
    horizon: Annotated[int, typer.Option("--horizon", help="Days ahead forecast in the backtest.")] = 7,
    origins: Annotated[int, typer.Option("--origins", help="Rolling backtest origins (0: no backtest).")] = 6,
    heads: Annotated[
        str | None,
        typer.Option("--heads", help="Comma-separated heads (default: seasonal_naive,ets,sarima,gbm,mlp)."),
    ] = None,
    target: Annotated[str, typer.Option("--target", help="calls, incidents or new_incidents.")] = "calls",
    min_mean_daily: Annotated[
        float, typer.Option("--min-mean-daily", help="Calls/day a series needs for its own heads.")
    ] = 1.0,
    max_series: Annotated[int, typer.Option("--max-series", help="Most series with their own heads.")] = 40,
    plot: Annotated[
        bool, typer.Option("--plot/--no-plot", help="Also write forecast PNGs under OUTPUT/plots.")
    ] = False,
    as_of: AsOfOption = None,
    trim: Annotated[
        bool,
        typer.Option(
            "--trim-collapse/--no-trim-collapse",
            help="Leave out a final volume collapse (missing data, not quiet days).",
        ),
    ] = True,
) -> None:
    """Backtest every head on every series, choose per series by MASE, save the fitted set.

    Fits on the signals up to --as-of (default: all). When the data ends in a volume collapse
    (an export cut short), the collapsed days are left out and the output says so.
    """
    from forecasting.config import HEADS, ForecastConfig
    from forecasting.forecaster import Forecaster

    frame, source = _load_signals(signals, store)
    if as_of is not None:
        frame = _signals_up_to(frame, as_of)
    config = ForecastConfig(
        target=target,
        heads=tuple(h.strip() for h in heads.split(",")) if heads else HEADS,
        horizon=horizon,
        n_origins=origins,
        min_mean_daily=min_mean_daily,
        max_series=max_series,
        trim_collapse=trim,
    )
    fc = Forecaster.fit(frame, config, source=source)
    fc.save(output)
    if plot:
        _plots(fc, fc.predict(), output / "plots")
    m = fc.metrics
    typer.echo(
        f"{m['n_series']} series ({m['n_modelled']} modelled, {m['n_share']} as a share of a parent), "
        f"trained {m['train_start']}..{m['train_end']} -> {output}"
    )
    if m.get("trim_note"):
        typer.echo(f"note: {m['trim_note']}; forecasts start {_next_day(m['train_end'])}")
    for level, s in m.get("levels", {}).items():
        cov = ", ".join(f"{float(k) * 100:.0f}%: {v}" for k, v in s["coverage"].items())
        typer.echo(
            f"  {level:<18} {s['n_series']:>3} series  MASE naive {s['naive_mase']}  "
            f"chosen {s['chosen_mase_in_sample']} (x{s['chosen_relative_in_sample']})  coverage {cov}"
        )


def _plots(fc, table, directory: Path, history=None, top: int | None = None) -> list[Path]:
    """PNGs for the ``top`` busiest series of ``table`` (default: DEFAULT_PLOT_SERIES)."""
    from forecasting.plots import DEFAULT_PLOT_SERIES, plot_forecast, series_filename, top_series

    groups = {str(key): grp for key, grp in table.groupby("series", sort=False)}
    hists = {k: history[k] if history is not None and k in history else fc.history(k) for k in groups}
    # Most of the hundreds of modelled series are near zero: a picture of each buries the few
    # that matter.
    keys = top_series(hists, DEFAULT_PLOT_SERIES if top is None else top)
    return [plot_forecast(hists[k], groups[k], directory / series_filename(k)) for k in keys]


@forecast_app.command("predict")
def forecast_predict(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Directory written by `hotline forecast fit`.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Forecast table (csv, jsonl, xlsx, parquet).")
    ],
    horizon: Annotated[
        int | None, typer.Option("--horizon", help="Days ahead (default: the fitted horizon).")
    ] = None,
    series: Annotated[
        list[str] | None,
        typer.Option("--series", help="Series to forecast (repeatable; default all), e.g. 'category=供水'."),
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Also write one PNG per series here.")] = None,
    signals: Annotated[
        Path | None,
        typer.Option("--signals", help="Newer signals to forecast from (default: the training signals)."),
    ] = None,
    store: StoreOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Forecast the days after this date from the history up to it (default: the latest "
            "complaint with --store, the end of --signals, else the end of the training signals).",
        ),
    ] = None,
) -> None:
    """Forecast the days after the as-of date with 80% and 95% intervals.

    By default from the end of the training signals; with --signals or --store, from those newer
    signals up to the as-of date (the fitted parameters are kept, no refit). The output says
    which as-of date it used.
    """
    from forecasting.forecaster import Forecaster
    from forecasting.outlook import predict_as_of
    from forecasting.sources import signal_source
    from ingest.writers import write_table

    fc = Forecaster.load(model)
    if signals is not None and store is not None:
        raise typer.BadParameter("give at most one of --signals FILE or --store URL")
    if store is not None:
        with _open_store(store) as st:
            source = signal_source(st)
            result = predict_as_of(
                fc, st.signals.read(), as_of=as_of, source=source, name=store, series=series, horizon=horizon
            )
    else:
        frame, name = _load_signals(signals, None) if signals is not None else (None, "signals")
        result = predict_as_of(fc, frame, as_of=as_of, name=name, series=series, horizon=horizon)
    table = result.table
    write_table(table, output)
    typer.echo(f"as of {result.as_of.text} ({result.as_of.source}); forecast from {table['date'].min()}")
    msg = f"{table['series'].nunique()} series × {table['date'].nunique()} days -> {output}"
    if plot is not None:
        paths = _plots(fc, table, plot, result.history)
        msg += f"; {len(paths)} plot(s) in {plot}"
    typer.echo(msg)


def alerts(
    store: Annotated[str, typer.Option("--store", help="Event store URL or SQLite path.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Forecaster directory (adds interval alerts).")
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--as-of", "--date", help="Day to check (default: the latest complaint time's day)."),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Scan this many days ending at --date (backfill).")] = 1,
    top: Annotated[int, typer.Option("--top", "-n", help="How many alerts to print.")] = 10,
    interval: Annotated[
        float, typer.Option("--interval", help="Forecast interval whose upper bound fires: 0.95 or 0.8.")
    ] = 0.95,
    write: Annotated[
        bool, typer.Option("--write/--dry-run", help="Store the alerts (default) or only print.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    levels: Annotated[
        str | None,
        typer.Option(
            "--levels",
            help="Series levels to watch, comma separated: category, district, category_district "
            "(default: category_district). A surge seen on several is one alert.",
        ),
    ] = None,
) -> None:
    """Detect surges (forecast interval, burst test, growing incidents), store and print them ranked."""
    import pandas as pd

    from forecasting.alerts import run_alerts
    from forecasting.config import AlertConfig
    from forecasting.forecaster import Forecaster
    from forecasting.sources import signal_source

    if top < 1 or days < 1:
        raise typer.BadParameter("--top and --days must be at least 1")
    from forecasting.asof import resolve_as_of

    fc = Forecaster.load(model) if model is not None else None
    chosen = tuple(x.strip() for x in levels.split(",") if x.strip()) if levels else None
    config = AlertConfig(interval=interval, levels=chosen) if chosen else AlertConfig(interval=interval)
    with _open_store(store) as st:
        source = signal_source(st)
        ts, how = resolve_as_of(date, source)
        found = run_alerts(source, fc, date=ts.normalize(), days=days, config=config, write=write)
    if not as_json:
        first = ts.normalize() - pd.Timedelta(days=days - 1)
        typer.echo(f"as of {ts:%Y-%m-%d %H:%M} ({how}); days scanned {first:%Y-%m-%d}..{ts:%Y-%m-%d}")
    if as_json:
        typer.echo(json.dumps([a.to_record() for a in found[:top]], ensure_ascii=False, indent=2))
        return
    where = "stored" if write else "not stored (--dry-run)"
    typer.echo(f"{len(found)} alert(s), {where}" + (f"; top {top}:" if found else ""))
    for a in found[:top]:
        typer.echo(a.describe())
        for ex in a.examples[:1]:
            typer.echo(f"        e.g. {ex[:80]}")


@survival_app.command("fit")
def survival_fit(
    data: Annotated[
        Path, typer.Option("--data", help="Complaint/reply log with time and reply_time columns.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the survival model.")],
    classifier: Annotated[
        Path | None,
        typer.Option(
            "--classifier",
            help="Trained classifier dir for the category (default: the log's label, else keywords).",
        ),
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="workdays (Chinese calendar) or hours.")] = "workdays",
    deadline_days: Annotated[
        float, typer.Option("--deadline-days", help="Reply deadline in working days.")
    ] = 15.0,
    analysis_date: Annotated[
        str | None,
        typer.Option("--analysis-date", help="Censoring date for open cases (default: latest time)."),
    ] = None,
    min_level_count: Annotated[
        int,
        typer.Option("--min-level-count", help="Rows a category/district needs, else pooled into 'other'."),
    ] = 10,
) -> None:
    """Fit Kaplan-Meier curves per category and a Cox model; writes a model dir and km.png."""
    from forecasting.cases import prepare_cases, read_cases
    from forecasting.config import SurvivalConfig
    from forecasting.plots import plot_km
    from forecasting.survival import SurvivalModel

    config = SurvivalConfig(
        unit=unit, deadline_days=deadline_days, analysis_date=analysis_date, min_level_count=min_level_count
    )
    frame = read_cases(data)
    if classifier is not None:
        frame["category"] = _classify(classifier, frame)
    cases = prepare_cases(frame, config, source=str(data))
    if classifier is not None:
        cases.attrs["category_source"] = f"classifier {classifier}"
    model = SurvivalModel.fit(cases, config)
    model.save(output)
    plot_km(model.km, output / "km.png", unit=config.unit, deadline=config.deadline_days)
    m = model.metrics
    typer.echo(
        f"{m['n_cases']} cases ({m['n_replied']} replied, {m['n_censored']} censored, {m['n_open']} open) "
        f"-> {output}\nconcordance (training): {m['concordance_train']}; category from: {m['category_source']}"
    )
    for k, v in m["median_by_category"].items():
        med = "not reached" if v is None else f"{v:.2f} {config.unit}"
        typer.echo(f"  median time to reply  {k}: {med}")


def _classify(directory: Path, frame) -> list[str]:
    from nlp.engine import InferenceEngine
    from nlp.text import join_title_text

    engine = InferenceEngine.load(directory)
    texts = [join_title_text(t, x) for t, x in zip(frame["title"], frame["text"], strict=True)]
    out = engine.predict_arrays(texts)
    return [engine.labels[i] for i in out.top]


@survival_app.command("predict")
def survival_predict(
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Directory written by `hotline survival fit`.")
    ],
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Log with the cases (open ones have no reply_time; the column may be absent)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Risk table (csv, jsonl, xlsx, parquet).")],
    deadline_days: Annotated[float, typer.Option("--deadline-days", help="Deadline in working days.")] = 15.0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Time to measure waiting from (default: latest in data).")
    ] = None,
    classifier: Annotated[
        Path | None,
        typer.Option("--classifier", help="Classifier dir for the category, as in `survival fit`."),
    ] = None,
    all_cases: Annotated[
        bool, typer.Option("--all", help="Score answered cases too, not only open ones.")
    ] = False,
) -> None:
    """Probability that each open case is still unanswered at the deadline, and its expected wait."""
    from forecasting.cases import prepare_cases, read_cases
    from forecasting.survival import SurvivalModel
    from ingest.writers import write_table

    sm = SurvivalModel.load(model)
    # Open cases have no reply yet: a log without a reply-time column is all open cases.
    frame = read_cases(data, require_reply=False)
    if classifier is not None:
        frame["category"] = _classify(classifier, frame)
    cases = prepare_cases(frame, sm.config, analysis_date=as_of, source=str(data))
    table = sm.predict(cases, deadline_days=deadline_days, as_of=as_of, open_only=not all_cases)
    write_table(table, output)
    risky = int((table["p_unanswered_at_deadline"] >= 0.5).sum()) if len(table) else 0
    typer.echo(
        f"{len(table)} case(s) scored -> {output}; {risky} likely (>= 50%) to miss the "
        f"{deadline_days:g}-working-day deadline"
    )


def summary(
    store: Annotated[str, typer.Option("--store", help="Event store URL or SQLite path.")],
    as_of: AsOfOption = None,
    model: DecisionForecasterOption = None,
    survival: DecisionSurvivalOption = None,
    cases: DecisionCasesOption = None,
    days: Annotated[int, typer.Option("--days", help="Window for alerts and hot issues, in days.")] = 7,
    top: Annotated[int, typer.Option("--top", "-n", help="Rows per section.")] = 5,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Also write the summary: .md/.txt or .json.")
    ] = None,
) -> None:
    """The duty officer's summary as of a date: alerts opened, hot issues, next week, cases at risk."""
    from forecasting.cases import read_cases
    from forecasting.forecaster import Forecaster
    from forecasting.sources import signal_source
    from forecasting.summary import decision_summary
    from forecasting.survival import SurvivalModel

    if top < 1 or days < 1:
        raise typer.BadParameter("--top and --days must be at least 1")
    fc = Forecaster.load(model) if model is not None else None
    sm = SurvivalModel.load(survival) if survival is not None else None
    frame = read_cases(cases, require_reply=False) if cases is not None else None
    with _open_store(store) as st:
        result = decision_summary(
            signal_source(st), fc, sm, top=top, as_of=as_of, window_days=days, cases=frame
        )
    text = result.to_text()
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.suffix.lower() == ".json":
            output.write_text(
                json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n",
                encoding="utf-8",
            )
        else:
            output.write_text(text, encoding="utf-8")
    typer.echo(text, nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(forecast_app, name="forecast")
    app.command("alerts")(alerts)
    app.add_typer(survival_app, name="survival")
    app.command("summary")(summary)
