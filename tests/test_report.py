"""`hotline report` (issue 14, item 3): the briefing's numbers against `decision_summary` and the
store, XLSX sheet names and cell types, a self-contained HTML file, no raw phone number."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from events.store import EventStore
from forecasting.config import ForecastConfig
from forecasting.forecaster import Forecaster
from forecasting.sources import signal_source
from forecasting.summary import decision_summary
from hotline.cli import app
from ingest.writers import write_table
from reports import build_briefing, write_briefing
from reports.render import labels
from tests.test_asof import fill_store
from tests.test_forecast_common import make_signals

runner = CliRunner()
PHONE = "13812345678"
AS_OF = "2025-06-05"
SHEETS = ["概览", "来电量", "分类统计", "热点事件", "预警", "超期风险", "待复核", "说明"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Signals to 2025-06-10; incidents A (growing) and C (new) active in the week to 06-05, B
    long over; alerts opened in the week, closed in it, and after it; three predictions."""
    db = tmp_path_factory.mktemp("report") / "events.db"
    sig = make_signals(
        100, seed=2, start="2025-03-03", cells=(("供水", "江北区", 8.0), ("交通", "江北区", 4.0))
    )
    times = {
        "A": ["2025-05-26 09:00", "2025-06-01 10:00", "2025-06-02 10:00", "2025-06-04 10:00", "2025-06-05 18:00",
              "2025-06-08 10:00"],
        "B": ["2025-04-01 09:00", "2025-04-03 09:00"],
        "C": ["2025-06-03 09:00", "2025-06-05 09:00"],
    }  # fmt: skip
    rows, members, incidents = [], [], []
    for iid, ts in times.items():
        for k, t in enumerate(ts):
            cid = f"{iid}{k}"
            rows.append({"id": cid, "time": t, "title": f"=cmd {iid}问题 电话{PHONE}", "text": f"小区停水 {PHONE}",
                         "district": "江北区", "label": "供水"})  # fmt: skip
            members.append({"complaint_id": cid, "incident_id": iid, "similarity": 1.0, "link": "place"})
        incidents.append({"incident_id": iid, "category": "供水", "district": "江北区", "anchor": f"{iid}小区",
                          "first_seen": ts[0], "last_seen": ts[-1], "n_complaints": len(ts), "growth": 1.0,
                          "heat": 1.0, "description": f"{iid}小区停水"})  # fmt: skip
    alert = {"kind": "burst", "observed": 9, "expected": 3, "size": 6}
    alerts = [
        {**alert, "alert_id": "in", "date": "2025-06-04", "series_key": "category=供水", "score": 2.0,
         "first_seen": "2025-06-03", "last_seen": "2025-06-04"},
        {**alert, "alert_id": "open", "date": "2025-06-05", "series_key": "category=交通", "score": 3.0,
         "first_seen": "2025-06-05", "last_seen": "2025-06-05"},
        {**alert, "alert_id": "ended", "date": "2025-06-01", "series_key": "category=交通", "score": 9.0,
         "first_seen": "2025-05-27", "last_seen": "2025-06-01"},
        {**alert, "alert_id": "later", "date": "2025-06-09", "series_key": "category=交通", "score": 9.0,
         "first_seen": "2025-06-08", "last_seen": "2025-06-09"},
    ]  # fmt: skip
    preds = pd.DataFrame(
        {
            "complaint_id": ["A1", "A2", "C0", "A5"],  # A5 is after as-of: not in the queue
            "model_version": "v1",
            "label": "供水",
            "score": [0.4, 0.9, 0.3, 0.2],
            "top_k": "[]",
            "needs_review": [True, False, True, True],
        }
    )
    fill_store(db, sig, rows, members, incidents, alerts)
    with EventStore(db) as st:
        st.complaints.upsert_predictions(preds)
    return db


@pytest.fixture(scope="module")
def forecaster(store) -> Forecaster:
    with EventStore(store) as st:
        sig = st.signals.read(end="2025-05-20")  # fitted before the report's days
    return Forecaster.fit(sig, ForecastConfig(heads=("seasonal_naive",), n_origins=2))


@pytest.fixture(scope="module")
def week(store, forecaster):
    with EventStore(store) as st:
        b = build_briefing(st, forecaster, None, as_of=AS_OF, period="week", top=5)
        s = decision_summary(signal_source(st), forecaster, None, as_of=AS_OF, window_days=7, top=5)
        sig = st.signals.read()
    return b, s, sig


def _calls(sig: pd.DataFrame, start: str, end: str) -> float:
    d = pd.to_datetime(sig["date"])
    return float(sig.loc[(d >= start) & (d <= end), "calls"].sum())


def test_week_briefing_numbers_are_the_summary_and_the_store(week) -> None:
    b, s, sig = week
    assert (b.start, b.end) == (pd.Timestamp("2025-05-30"), pd.Timestamp("2025-06-05"))
    assert b.as_of == pd.Timestamp("2025-06-05 23:59:59") and b.as_of_source == "given"
    assert [(c["name"], c["calls"]) for c in b.comparisons] == [
        ("current", _calls(sig, "2025-05-30", "2025-06-05")),
        ("previous", _calls(sig, "2025-05-23", "2025-05-29")),
    ]
    # Hot issues: the summary's, with masked examples filed by as-of (A's 06-08 complaint is not).
    assert [(h["incident_id"], h["n_recent"], h["growth"]) for h in b.hot] == [
        (h["incident_id"], h["n_recent"], h["growth"]) for h in s.hot
    ]
    a = next(h for h in b.hot if h["incident_id"] == "A")
    assert (a["n_recent"], a["n_before"]) == (4, 1) and len(a["examples"]) == 2
    assert all(PHONE not in e for e in a["examples"])
    # Alerts: opened in the week (best first) and ended in it; the summary's top are the opened.
    assert [x["alert_id"] for x in b.alerts_opened] == ["open", "in"]
    assert [x["alert_id"] for x in s.alerts] == ["open", "in"]
    assert [x["alert_id"] for x in b.alerts_closed] == ["ended", "in"]  # best score first
    # Volume: next week's daily forecast adds up to the summary's outlook total.
    total = s.outlook[0]
    future = b.volume[b.volume["date"] > b.end]
    assert len(future) == 7 and future["expected"].sum() == pytest.approx(total["next_week"])
    assert future["calls"].isna().all()
    assert b.expected_period == pytest.approx(
        b.volume.loc[b.volume["date"].between(b.start, b.end), "expected"].sum()
    )
    # Review queue: needs_review predictions of complaints filed in the week, least confident first.
    assert b.review == {"n_complaints": 6, "n_predicted": 3, "n_review": 2}
    assert [r["id"] for r in b.review_rows] == ["C0", "A1"]


def test_day_briefing_compares_the_day_before_and_a_week_before(store) -> None:
    with EventStore(store) as st:
        b = build_briefing(st, None, None, as_of=AS_OF, period="day")
        s = decision_summary(signal_source(st), None, None, as_of=AS_OF, window_days=1, top=10)
        sig = st.signals.read()
    assert [c["calls"] for c in b.comparisons] == [
        _calls(sig, AS_OF, AS_OF),
        _calls(sig, "2025-06-04", "2025-06-04"),
        _calls(sig, "2025-05-29", "2025-05-29"),
    ]
    assert [h["incident_id"] for h in b.hot] == [h["incident_id"] for h in s.hot] == ["A", "C"]
    assert [x["alert_id"] for x in b.alerts_opened] == ["open"]
    assert [x["alert_id"] for x in b.alerts_closed] == ["in"]  # last seen 06-04
    assert b.expected_period is None and "no forecaster" in " ".join(b.notes)


def test_xlsx_sheets_headers_types_and_charts(week, tmp_path) -> None:
    b, s, _ = week
    path = write_briefing(b, tmp_path / "report.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == SHEETS
    L = labels()
    ov = {r[0]: r[1] for r in wb["概览"].iter_rows(min_row=2, values_only=True)}
    assert ov[L["overview"]["calls"]] == b.calls and isinstance(ov[L["overview"]["calls"]], (int, float))
    assert ov[L["overview"]["alerts_opened"]] == 2 and ov[L["overview"]["n_review"]] == 2
    assert ov[L["overview"]["next_week"]] == pytest.approx(s.outlook[0]["next_week"])
    assert isinstance(ov[L["overview"]["as_of"]], datetime.datetime)
    vol = wb["来电量"]
    assert [c.value for c in vol[1]] == ["日期", "实际来电量", "预测来电量", "预测下限", "预测上限"]
    assert all(c.is_date for c in vol["A"][1:]) and vol["B"][1].data_type == "n"
    assert len(vol._charts) == 1 and len(wb["概览"]._charts) == 1 and len(wb["分类统计"]._charts) == 1
    hot = wb["热点事件"]
    assert hot["A1"].value == "排名" and hot["F2"].data_type == "n" and hot["J2"].is_date
    assert wb["预警"]["A2"].value == "新开" and wb["预警"]["F2"].data_type == "n"
    review = wb["待复核"]
    assert review["A2"].value == "C0" and review["B2"].is_date and review["E2"].data_type == "n"
    for ws in wb:
        for row in ws.iter_rows(values_only=True):
            for v in row:
                assert not (isinstance(v, str) and (PHONE in v or v.startswith("="))), (ws.title, v)


def test_html_is_self_contained_chinese_and_masked(week, tmp_path) -> None:
    b, _, _ = week
    html = write_briefing(b, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "12345热线值班简报" in html and "热点事件" in html and "超期风险" in html
    assert html.count("data:image/png;base64,") == 2
    # No external host: no URL scheme or protocol-relative reference anywhere.
    assert not re.search(r"(?:https?|ftp):|//[a-z0-9.-]+\.[a-z]{2,}|@import|<script|<link", html, re.I)
    assert PHONE not in html
    assert "&lt;" not in html or "<script" not in html  # complaint text is escaped, never markup


def test_report_command_writes_xlsx_and_html(store, tmp_path) -> None:
    for name in ("day.xlsx", "day.html"):
        out = tmp_path / name
        result = runner.invoke(app, ["report", "--store", str(store), "--as-of", AS_OF, "-o", str(out)])
        assert result.exit_code == 0, result.output + repr(result.exception)
        assert out.exists() and "day briefing as of 2025-06-05 23:59 (given)" in result.output
    result = runner.invoke(
        app, ["report", "--store", str(store), "--period", "month", "-o", str(tmp_path / "x.html")]
    )
    assert result.exit_code != 0


def test_table_writer_xlsx_keeps_numbers_and_dates_typed(tmp_path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["0012", "A1"],
            "likes": [3, 10],
            "score": [0.5, 1.0],
            "time": pd.to_datetime(["2025-06-01 10:00", "2025-06-02 11:30"]),
            "text": ["=1+1", "好"],
        }
    )
    path = write_table(frame, tmp_path / "t.xlsx")
    ws = load_workbook(path).active
    assert ws.title == "数据"
    assert ws["A2"].value == "0012" and ws["A2"].data_type == "s"  # ids stay text (leading zeros)
    assert ws["B3"].value == 10 and ws["B3"].data_type == "n" and ws["C2"].value == 0.5
    assert ws["D2"].is_date and ws["D2"].value == datetime.datetime(2025, 6, 1, 10, 0)
    assert ws["E2"].value == "'=1+1" and ws["E2"].data_type == "s"


@pytest.mark.slow
def test_report_on_a_store_built_from_the_samples(samples_dir, tmp_path) -> None:
    """The bundled sample log through `hotline events`, then the weekly report around the burst."""
    db = tmp_path / "events.db"
    result = runner.invoke(app, ["events", str(samples_dir / "complaints.csv"), "--store", str(db)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    with EventStore(db) as st:
        b = build_briefing(st, None, None, as_of="2026-07-16", period="week", top=5)
        s = decision_summary(signal_source(st), None, None, as_of="2026-07-16", window_days=7, top=5)
        sig = st.signals.read()
    assert b.calls == _calls(sig, "2026-07-10", "2026-07-16") > 0
    assert [(h["incident_id"], h["n_recent"]) for h in b.hot] == [
        (h["incident_id"], h["n_recent"]) for h in s.hot
    ]
    assert b.hot and b.hot[0]["category"] == "供水供电燃气"
    assert [x["series_key"] for x in b.alerts_opened][: len(s.alerts)] == [x["series_key"] for x in s.alerts]
    phone = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
    html = write_briefing(b, tmp_path / "r.html").read_text(encoding="utf-8")
    assert not phone.search(html)
    wb = load_workbook(write_briefing(b, tmp_path / "r.xlsx"))
    assert wb.sheetnames == SHEETS
    for ws in wb:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and phone.search(v) for v in row)
