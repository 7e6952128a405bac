"""`hotline events`, `hotline hot`, `hotline signals` end to end on a small generated log."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from common.errors import ConfigError, HotlineError
from hotline.cli import app

runner = CliRunner()

BURST = [
    "人民南路新民路口自来水管爆裂，路面大量积水，小区停水，请尽快抢修",
    "人民南路新民路口自来水管爆裂，路面积水很深，小区停水，请尽快抢修！",
    "人民南路自来水管爆裂，水漫到路上，我们小区停水，什么时候抢修好？",
    "人民南路新民路口自来水管爆裂，小区停水，路面大量积水，车辆无法通行",
    "城南区人民南路自来水管爆裂，小区停水一上午了，请尽快抢修",
]
OTHER = [
    ("江北区", "噪音扰民", "望江路工地夜间施工噪音扰民，晚上十二点还在施工"),
    ("江北区", "市容环卫", "滨江花园东门垃圾成堆好几天没人清运"),
    ("青山区", "道路交通", "红旗路路灯不亮一个多月了，晚上很黑"),
    ("青山区", "占道经营", "红旗新村门口流动摊贩占道经营"),
    ("城南区", "噪音扰民", "人民公园广场舞音响声音太大"),
]


def write_log(path: Path, *, labels: bool = True) -> Path:
    rows = []
    for i, text in enumerate(BURST):
        rows.append(
            {
                "id": f"T{i:03d}",
                "time": f"2026-07-14 0{6 + i}:10:00",
                "caller": f"C{i % 4:03d}",
                "title": "人民南路爆管停水",
                "text": text + ("，我的电话13812345678" if i == 0 else ""),
                "district": "城南区",
                "label": "供水供电燃气" if labels else "",
                "likes": 10 * i,
            }
        )
    for i, (district, label, text) in enumerate(OTHER):
        rows.append(
            {
                "id": f"O{i:03d}",
                "time": f"2026-07-{10 + i:02d} 10:00:00",
                "caller": f"D{i:03d}",
                "title": "",
                "text": text,
                "district": district,
                "label": label if labels else "",
                "likes": 0,
            }
        )
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def invoke(*args: object) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        raise AssertionError(f"exit {result.exit_code}: {result.output}\n{result.exception!r}")
    return result.output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("events-cli")
    log = write_log(d / "log.csv")
    store = d / "events.db"
    invoke("events", log, "--store", store, "--gazetteer", "none", "--report", d / "report.json")
    return log, store


def test_events_then_hot(loaded: tuple[Path, Path]) -> None:
    _, store = loaded
    out = invoke("hot", "--store", store, "--top", "3")
    assert "#1" in out and "人民南路" in out and "投诉 5 件 / 4 人" in out
    data = json.loads(invoke("hot", "--store", store, "--top", "3", "--json"))
    assert data[0]["n_complaints"] == 5 and data[0]["category"] == "供水供电燃气"
    assert data[0]["first_seen"].startswith("2026-07-14")
    assert len(data) == 1  # the other complaints are single


def test_rerun_does_not_double_count(loaded: tuple[Path, Path], tmp_path: Path) -> None:
    from events.store import EventStore

    log, store = loaded
    with EventStore(store) as st:
        before = st.counts()
        signals_before = st.signals.read()
    out = invoke("events", log, "--store", store, "--gazetteer", "none")
    assert "10 unchanged since the last run" in out
    with EventStore(store) as st:
        assert st.counts() == before
        pd.testing.assert_frame_equal(st.signals.read(), signals_before)
        stored = st.complaints.read(["T000"])
    assert "13812345678" not in stored.loc[0, "text"]


def test_signals_command_writes_the_contract(loaded: tuple[Path, Path], tmp_path: Path) -> None:
    _, store = loaded
    out_file = tmp_path / "signals.csv"
    text = invoke("signals", "--store", store, "-o", out_file)
    assert "rows" in text
    s = pd.read_csv(out_file, encoding="utf-8-sig")
    assert list(s.columns)[:10] == [
        "date", "category", "district", "calls", "incidents", "new_incidents", "weekday", "is_holiday",
        "is_workday", "holiday_name",
    ]  # fmt: skip
    burst = s[(s["date"] == "2026-07-14") & (s["category"] == "供水供电燃气")]
    assert (
        burst["calls"].item() == 5 and burst["incidents"].item() == 1 and burst["new_incidents"].item() == 1
    )
    assert s["date"].nunique() == 5  # 07-10 .. 07-14, zero-filled


def test_hot_without_a_store_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["hot", "--store", str(tmp_path / "none.db")])
    assert result.exit_code != 0 and isinstance(result.exception, HotlineError)
    assert "hotline events" in str(result.exception)


def test_model_classifies_unlabelled_rows(tmp_path: Path) -> None:
    from tests.test_classifier import LABELS, fit_tfidf

    model_dir = fit_tfidf().save(tmp_path / "model")
    log = write_log(tmp_path / "log.csv", labels=False)
    store = tmp_path / "ev.db"
    out = invoke("events", log, "--store", store, "--model", model_dir, "--gazetteer", "none")
    assert "model 10" in out
    from events.store import EventStore

    with EventStore(store) as st:
        assert st.counts()["predictions"] == 10
        assert set(st.complaints.read_events()["category_source"]) == {"model"}
        preds = st.complaints.read_predictions()
        assert set(preds["label"]) <= set(LABELS) and preds["score"].between(0, 1).all()
        assert set(preds["model_version"]) == {"model"}  # the engine's version: the directory name


def test_regroup_rebuilds_the_same_incidents(loaded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from events.store import EventStore

    log, store = loaded
    copy = tmp_path / "copy.db"
    shutil.copy(store, copy)
    with EventStore(copy) as st:
        before = st.incidents.read_members().sort_values("complaint_id")[["complaint_id", "incident_id"]]
    invoke("events", log, "--store", copy, "--gazetteer", "none", "--regroup")
    with EventStore(copy) as st:
        after = st.incidents.read_members().sort_values("complaint_id")[["complaint_id", "incident_id"]]
        assert st.counts()["incidents"] == before["incident_id"].nunique()
    pd.testing.assert_frame_equal(before.reset_index(drop=True), after.reset_index(drop=True))


def test_the_run_report_carries_a_config_that_loads(loaded: tuple[Path, Path]) -> None:
    from events.config import EventsConfig

    _, store = loaded
    report = json.loads((store.parent / "report.json").read_text(encoding="utf-8"))
    config = EventsConfig.from_dict(report["config"])
    assert config.gazetteer == "none" and config.to_dict() == report["config"]


def test_a_bad_option_is_named_by_its_flag(tmp_path: Path) -> None:
    log = write_log(tmp_path / "log.csv")
    for args, flag in ((["--window-days", "0"], "--window-days"), (["--keywords", "-1"], "--keywords")):
        result = runner.invoke(app, ["events", str(log), "--store", str(tmp_path / "ev.db"), *args])
        assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
        assert flag in str(result.exception) and "window_days" not in str(result.exception)
    assert not (tmp_path / "ev.db").exists()  # refused before the store was opened
