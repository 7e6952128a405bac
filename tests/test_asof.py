"""Decisions as of a date (issue 13, items 4 and 6): reliable end of data, summary, `hotline summary`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from events.calendar import day_calendar
from events.store import EventStore
from forecasting.asof import reliable_end, resolve_as_of
from forecasting.config import ForecastConfig
from forecasting.forecaster import Forecaster
from forecasting.sources import signal_source
from forecasting.summary import decision_summary, hot_issues
from hotline.cli import app
from tests.test_forecast_cli import _reply_log
from tests.test_forecast_common import make_signals, weekly_series

runner = CliRunner()
FAST = {"heads": ("seasonal_naive",), "n_origins": 2}


def _stopping_signals(n_good: int = 100, n_tail: int = 18) -> pd.DataFrame:
    """Signals whose last ``n_tail`` days hold a few stragglers only (an export cut short)."""
    sig = make_signals(n_good + n_tail, seed=3, cells=(("供水", "江北区", 12.0), ("交通", "江北区", 6.0)))
    dates = sorted(sig["date"].unique())
    tail = sig["date"].isin(dates[n_good:])
    sig.loc[tail, "calls"] = 0
    sig.loc[sig["date"].isin(dates[n_good + 3 :: 6]) & (sig["category"] == "供水"), "calls"] = 1
    sig["incidents"] = sig["new_incidents"] = sig["calls"]
    return sig


def test_reliable_end_finds_the_collapse_and_leaves_normal_weeks_alone() -> None:
    s = weekly_series(120, level=20, seed=1)
    collapsed = s.copy()
    collapsed.iloc[100:] = 0.0
    collapsed.iloc[[104, 110]] = 1.0  # stragglers
    end = reliable_end(collapsed)
    assert end.trimmed and end.reliable_end == s.index[99] and end.trimmed_days == 20
    assert end.observed_after == 2 and end.expected_after > 100
    assert "collapses after" in end.describe()
    assert not reliable_end(s).trimmed
    # A quiet weekend at the end, or one half day, is not a collapse.
    sunday_end = s.loc[: s.index[s.index.dayofweek == 6][-1]]
    assert not reliable_end(sunday_end).trimmed
    half = s.copy()
    half.iloc[-1] = 3.0
    assert not reliable_end(half).trimmed


def test_fit_leaves_out_the_collapsed_tail_and_forecasts_real_volume() -> None:
    sig = _stopping_signals()
    fc = Forecaster.fit(sig, ForecastConfig(**FAST))
    dates = sorted(sig["date"].unique())
    assert fc.metrics["train_end"] == dates[99] and fc.metrics["data_end"] == dates[-1]
    assert fc.metrics["trimmed_days"] == 18 and "collapses after" in fc.metrics["trim_note"]
    # Old behaviour: seasonal naive repeated the empty last week -> 0 calls a day.
    mean = fc.forecast_series("total", 7)["mean"].sum()
    assert mean > 7 * 10
    kept = Forecaster.fit(sig, ForecastConfig(**FAST, trim_collapse=False))
    assert kept.metrics["train_end"] == dates[-1] and kept.forecast_series("total", 7)["mean"].sum() < 10


def test_resolve_as_of_a_bare_date_is_the_end_of_that_day() -> None:
    ts, how = resolve_as_of("2020-01-07")
    assert ts == pd.Timestamp("2020-01-07 23:59:59") and how == "given"
    assert resolve_as_of("2020-01-07 10:30")[0] == pd.Timestamp("2020-01-07 10:30")


def _cal(sig: pd.DataFrame) -> pd.DataFrame:
    cal = day_calendar(pd.to_datetime(sig["date"]))
    return sig.assign(
        weekday=cal["weekday"].to_numpy(),
        is_holiday=cal["is_holiday"].to_numpy(),
        is_workday=cal["is_workday"].to_numpy(),
        holiday_name="",
    )


@pytest.fixture()
def store(tmp_path):
    """A store with signals to 2025-06-10, three incidents and three alerts around 2025-06-05."""
    db = tmp_path / "events.db"
    sig = make_signals(
        100, seed=2, start="2025-03-03", cells=(("供水", "江北区", 8.0), ("交通", "江北区", 4.0))
    )
    times = {
        # A: 1 complaint in the window before, 4 in the window (2025-05-30..06-05), 1 after as-of.
        "A": ["2025-05-26 09:00", "2025-06-01 10:00", "2025-06-02 10:00", "2025-06-04 10:00", "2025-06-05 18:00",
              "2025-06-08 10:00"],
        "B": ["2025-04-01 09:00", "2025-04-03 09:00"],  # over long ago
        "C": ["2025-06-03 09:00", "2025-06-05 09:00"],  # new in the window
    }  # fmt: skip
    rows, members, incidents = [], [], []
    for iid, ts in times.items():
        for k, t in enumerate(ts):
            cid = f"{iid}{k}"
            rows.append({"id": cid, "time": t, "title": f"{iid}问题 电话13812345678", "text": "小区停水",
                         "district": "江北区", "label": "供水"})  # fmt: skip
            members.append({"complaint_id": cid, "incident_id": iid, "similarity": 1.0, "link": "place"})
        incidents.append({"incident_id": iid, "category": "供水", "district": "江北区", "anchor": f"{iid}小区",
                          "first_seen": ts[0], "last_seen": ts[-1], "n_complaints": len(ts), "growth": 1.0,
                          "heat": 1.0, "description": f"{iid}小区停水"})  # fmt: skip
    alerts = [
        {"alert_id": "in", "date": "2025-06-04", "kind": "burst", "series_key": "category=供水", "observed": 9,
         "expected": 3, "size": 6, "score": 2.0, "first_seen": "2025-06-03", "last_seen": "2025-06-04"},
        {"alert_id": "old", "date": "2025-05-31", "kind": "burst", "series_key": "category=交通", "observed": 9,
         "expected": 3, "size": 6, "score": 9.0, "first_seen": "2025-05-20", "last_seen": "2025-05-31"},
        {"alert_id": "later", "date": "2025-06-09", "kind": "burst", "series_key": "category=交通",
         "observed": 9, "expected": 3, "size": 6, "score": 9.0, "first_seen": "2025-06-08",
         "last_seen": "2025-06-09"},
    ]  # fmt: skip
    fill_store(db, sig, rows, members, incidents, alerts)
    return db


def fill_store(
    db: Path,
    sig: pd.DataFrame,
    rows: list[dict],
    members: list[dict],
    incidents: list[dict],
    alerts: list[dict],
) -> None:
    """Write signals (with calendar columns), complaints, incidents and alerts to a new store."""
    with EventStore(db) as st:
        st.signals.replace(_cal(sig))
        st.complaints.upsert(pd.DataFrame(rows))
        st.incidents.upsert_members(pd.DataFrame(members))
        st.incidents.upsert(pd.DataFrame(incidents))
        st.alerts.upsert(alerts)


def test_hot_issues_as_of_count_the_window_and_the_window_before(store) -> None:
    with EventStore(store) as st:
        hot = hot_issues(signal_source(st), "2025-06-05", window_days=7, top=5)
    by_id = {h["incident_id"]: h for h in hot}
    assert set(by_id) == {"A", "C"}  # B is not active in the window
    a = by_id["A"]
    # The complaint of 06-08 is after as-of: not counted (the stored summary says 6).
    assert (a["n_recent"], a["n_before"], a["n_complaints"], a["growth"]) == (4, 1, 5, 4.0)
    assert by_id["C"]["growth"] == 2.0 and hot[0]["incident_id"] == "A" and hot[0]["rank"] == 1


def test_summary_as_of_keeps_alerts_opened_in_the_window_only(store) -> None:
    with EventStore(store) as st:
        s = decision_summary(signal_source(st), None, None, as_of="2025-06-05", window_days=7)
    assert [a["alert_id"] for a in s.alerts] == ["in"]
    text = s.to_text()
    assert "as of 2025-06-05 23:59 (given)" in text and "opened 2025-05-30..2025-06-05" in text
    assert "growth x4.00" in text and "13812345678" not in text


def test_summary_defaults_to_the_latest_complaint_and_says_so(store) -> None:
    with EventStore(store) as st:
        s = decision_summary(signal_source(st), None, None)
    assert s.as_of == "2025-06-08 10:00" and s.as_of_source == "latest complaint"
    assert "as of 2025-06-08 10:00 (latest complaint)" in s.to_text()


def test_outlook_starts_the_day_after_as_of_even_past_the_data_end() -> None:
    sig = _stopping_signals()
    fc = Forecaster.fit(sig, ForecastConfig(**FAST))
    dates = sorted(sig["date"].unique())
    inside = decision_summary(None, fc, None, as_of=dates[80])
    total = inside.outlook[0]
    assert total["series"] == "total" and total["start"] == dates[81] and total["days"] == 7
    late = decision_summary(None, fc, None, as_of=dates[-1])
    total = late.outlook[0]
    after = f"{pd.Timestamp(dates[-1]) + pd.Timedelta(days=1):%Y-%m-%d}"
    assert total["start"] == after and total["next_week"] > 7 * 10
    assert any("no reliable data after" in n for n in late.notes)


def test_summary_command_with_open_cases_from_a_file_without_reply_times(store, tmp_path) -> None:
    log = tmp_path / "log.csv"
    _reply_log(log)
    model = tmp_path / "sv"
    result = runner.invoke(
        app, ["survival", "fit", "--data", str(log), "-o", str(model), "--min-level-count", "5"]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    cases = tmp_path / "open.csv"
    frame = pd.read_csv(log).drop(columns=["reply_time"]).head(30)
    frame["time"] = pd.date_range("2025-06-01", periods=30, freq="5h").strftime("%Y-%m-%d %H:%M:%S")
    frame.to_csv(cases, index=False)
    # `survival predict` no longer demands a reply-time column.
    risk = tmp_path / "risk.csv"
    result = runner.invoke(
        app, ["survival", "predict", "-m", str(model), "--data", str(cases), "-o", str(risk)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert len(pd.read_csv(risk)) == 30
    out = tmp_path / "summary.json"
    args = ["summary", "--store", str(store), "--as-of", "2025-06-05", "--survival", str(model)]
    result = runner.invoke(app, [*args, "--cases", str(cases), "-o", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "as of 2025-06-05 23:59 (given)" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["as_of"] == "2025-06-05 23:59" and [a["alert_id"] for a in data["alerts"]] == ["in"]
    assert data["open_cases"]["n_open"] == 24  # filed up to as-of
    assert data["at_risk"] and {"title", "category"} <= set(data["at_risk"][0])
    assert "13812345678" not in out.read_text(encoding="utf-8")
    # Without --cases: the store's complaints filed in the 30 days before as-of.
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "s.md")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "7 open case(s)" in result.output and "13812345678" not in result.output
    assert np.isfinite(json.loads(out.read_text(encoding="utf-8"))["deadline_days"])
