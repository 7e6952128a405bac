"""`hotline forecast fit|predict`, `hotline alerts`, `hotline survival fit|predict` via CliRunner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.errors import SignalsError, UnknownSeriesError
from hotline.cli import app
from tests.test_forecast_common import make_signals

runner = CliRunner()


@pytest.fixture(scope="module")
def signals_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sig") / "signals.csv"
    make_signals(70, seed=4, cells=(("供水", "江北区", 6.0), ("交通", "江北区", 0.3))).to_csv(
        path, index=False
    )
    return str(path)


@pytest.fixture(scope="module")
def fitted_dir(signals_file, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("fc") / "model"
    result = runner.invoke(
        app,
        [
            "forecast",
            "fit",
            "--signals",
            signals_file,
            "-o",
            str(out),
            "--heads",
            "seasonal_naive,ets",
            "--origins",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "series" in result.output and "coverage" in result.output
    return str(out)


def test_forecast_fit_writes_a_model_directory(fitted_dir) -> None:
    from pathlib import Path

    names = {p.name for p in Path(fitted_dir).iterdir()}
    assert {"forecast_config.json", "series.json", "metrics.json", "README.md", "heads.safetensors"} <= names


def test_forecast_predict_table_and_plots(fitted_dir, tmp_path) -> None:
    out = tmp_path / "fc.csv"
    plots = tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "forecast",
            "predict",
            "--model",
            fitted_dir,
            "--horizon",
            "3",
            "-o",
            str(out),
            "--plot",
            str(plots),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    table = pd.read_csv(out)
    assert {"series", "date", "mean", "lower_80", "upper_80", "lower_95", "upper_95"} <= set(table.columns)
    assert table.groupby("series").size().eq(3).all()
    pngs = list(plots.glob("*.png"))
    assert len(pngs) == table["series"].nunique() and all(p.stat().st_size > 1000 for p in pngs)


def test_forecast_predict_unknown_series_is_a_user_error(fitted_dir, tmp_path) -> None:
    result = runner.invoke(
        app,
        [
            "forecast",
            "predict",
            "--model",
            fitted_dir,
            "--series",
            "category=燃气",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownSeriesError)
    assert "unknown series" in str(result.exception)


def test_forecast_fit_needs_exactly_one_source(tmp_path) -> None:
    result = runner.invoke(app, ["forecast", "fit", "-o", str(tmp_path / "m")])
    assert result.exit_code != 0 and "exactly one of --signals" in result.output
    missing = runner.invoke(
        app, ["forecast", "fit", "--signals", str(tmp_path / "none.csv"), "-o", str(tmp_path / "m")]
    )
    assert isinstance(missing.exception, SignalsError)


def test_alerts_command_against_an_event_store(fitted_dir, tmp_path) -> None:
    store_mod = pytest.importorskip("events.store")
    from events.calendar import day_calendar

    sig = make_signals(70, seed=4, cells=(("供水", "江北区", 6.0), ("交通", "江北区", 0.3)))
    last = sorted(sig["date"].unique())[-1]
    sig.loc[(sig["date"] == last) & (sig["category"] == "供水"), "calls"] += 25
    cal = day_calendar(pd.to_datetime(sig["date"]))
    sig = sig.assign(
        weekday=cal["weekday"].to_numpy(), is_holiday=cal["is_holiday"].to_numpy(),
        is_workday=cal["is_workday"].to_numpy(), holiday_name="",
    )  # fmt: skip
    db = tmp_path / "events.db"
    with store_mod.EventStore(db) as st:
        st.signals.replace(sig)
    result = runner.invoke(app, ["alerts", "--store", str(db), "--model", fitted_dir, "--top", "5"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "1 alert(s), stored" in result.output and "category=供水|district=江北区" in result.output
    with store_mod.EventStore(db) as st:
        assert len(st.alerts.read()) == 1


def _reply_log(path, n: int = 120, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-03-03 08:00") + pd.to_timedelta(rng.uniform(0, 50 * 24, n), unit="h")
    wait = pd.to_timedelta(rng.exponential(72, n), unit="h")
    reply = pd.Series(start + wait).where(lambda s: s <= pd.Timestamp("2025-04-22"))
    pd.DataFrame(
        {
            "id": [f"T{i:04d}" for i in range(n)],
            "time": start.strftime("%Y-%m-%d %H:%M:%S"),
            "title": rng.choice(["咨询公积金", "投诉噪音扰民", "反映路灯不亮"], n),
            "text": "来电人反映小区门口问题，电话13812345678",
            "district": rng.choice(["江北区", "渝中区"], n),
            "label": rng.choice(["供水", "交通"], n),
            "urgency": "一般",
            "reply_time": reply.dt.strftime("%Y-%m-%d %H:%M:%S"),
        }
    ).to_csv(path, index=False)


def test_survival_fit_and_predict(tmp_path) -> None:
    log = tmp_path / "log.csv"
    _reply_log(log)
    model = tmp_path / "sv"
    result = runner.invoke(
        app, ["survival", "fit", "--data", str(log), "-o", str(model), "--min-level-count", "5"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "concordance" in result.output and (model / "km.png").exists() and (model / "cox.json").exists()
    out = tmp_path / "risk.csv"
    result = runner.invoke(
        app,
        [
            "survival",
            "predict",
            "--model",
            str(model),
            "--data",
            str(log),
            "-o",
            str(out),
            "--deadline-days",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    risk = pd.read_csv(out)
    assert len(risk) > 0 and risk["p_unanswered_at_deadline"].between(0, 1).all()
    assert "13812345678" not in out.read_text(encoding="utf-8")


def test_survival_fit_takes_the_category_from_a_classifier(tmp_path) -> None:
    from tests.test_classifier import LABELS, fit_tfidf

    log = tmp_path / "log.csv"
    _reply_log(log)
    clf_dir = fit_tfidf().save(tmp_path / "clf")
    model = tmp_path / "sv"
    result = runner.invoke(
        app,
        [
            "survival", "fit", "--data", str(log), "-o", str(model),
            "--min-level-count", "5", "--classifier", str(clf_dir),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"category from: classifier {clf_dir}" in result.output
    # The log's own labels (供水/交通) are replaced by the classifier's categories.
    medians = [line for line in result.output.splitlines() if "median time to reply" in line]
    assert medians and all(any(lab in line for lab in [*LABELS, "other", "all"]) for line in medians)
    assert not any("供水" in line or "交通" in line for line in medians)


def test_forecast_predict_as_of_forecasts_the_days_after_it_and_says_so(fitted_dir, tmp_path) -> None:
    out = tmp_path / "fc.csv"
    args = ["forecast", "predict", "--model", fitted_dir, "--horizon", "3", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "(end of the forecaster's data)" in result.output
    default = pd.read_csv(out)
    day = pd.Timestamp(default["date"].min()) - pd.Timedelta(days=20)
    result = runner.invoke(app, [*args, "--as-of", f"{day:%Y-%m-%d}"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"as of {day:%Y-%m-%d} 23:59 (given)" in result.output
    table = pd.read_csv(out)
    dates = sorted(table["date"].unique())
    after = [f"{day + pd.Timedelta(days=k):%Y-%m-%d}" for k in (1, 2, 3)]
    assert dates == after and table.groupby("series").size().eq(3).all()
    # From the history up to that day: not the forecast of the days after the training end.
    assert dates[0] < default["date"].min()
