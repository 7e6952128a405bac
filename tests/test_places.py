"""Places on real logs: the default gazetteer is China's administrative divisions, never the demo
city's; a city's own places are learned from its log; a foreign gazetteer is warned about."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from events.config import EventsConfig
from events.pipeline import run_events
from events.store import EventStore
from hotline.cli import app
from nlp.events import EventExtractor
from nlp.places.extract import LocationExtractor
from nlp.places.gazetteer import load_gazetteer
from nlp.places.normalize import normalize_district

DEMO_NAMES = ("澜江", "城南区", "临港区", "江北区", "港城街道")


def _log(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    pd.DataFrame(
        [
            {
                "id": f"R{i:03d}",
                "time": f"2026-07-{1 + i % 28:02d} 09:00:00",
                "title": t,
                "text": x,
                "label": lab,
            }
            for i, (t, x, lab) in enumerate(rows)
        ]
    ).to_csv(path, index=False)
    return path


REAL = [
    ("火车站周边乱停车", "火车站出站口附近的出租车乱停乱放，影响通行。", "道路交通"),
    ("北京师范大学门口施工噪音", "北京师范大学门口夜间施工，噪音很大，希望处理。", "环境保护"),
]


def test_default_gives_real_log_no_demo_city_place(tmp_path: Path) -> None:
    ex = EventExtractor()  # the default, as hotline events and /v1/classify use it
    for title, text, _ in REAL:
        loc = ex.extract({"id": "x", "title": title, "text": text, "time": None}).location
        assert not any(n in f"{loc.key}|{loc.city}|{loc.district}|{loc.street}" for n in DEMO_NAMES), loc
    info = ex.extract({"id": "y", "title": "", "text": REAL[1][1], "time": None}).location
    assert info.landmark == "北京师范大学" and info.district == ""
    # Through the whole pipeline: no signal series for the demo city's districts.
    with EventStore(tmp_path / "ev.db") as st:
        run_events(_log(tmp_path / "real.csv", REAL * 3), st, config=EventsConfig(progress=False))
        sig = st.signals.read()
        districts = set(sig["district"]) if len(sig) else set()
    assert not districts & {"城南区", "临港区", "江北区"}


def test_demo_gazetteer_is_named_explicitly() -> None:
    assert load_gazetteer("demo").city == "澜江市"
    assert load_gazetteer("default").city == ""


def test_real_divisions_recognised_and_normalised() -> None:
    ex = LocationExtractor(load_gazetteer("default"))
    info = ex.extract("湖南省长沙市岳麓区麓山南路路面塌陷")
    assert (info.city, info.district, info.road) == ("长沙市", "岳麓区", "麓山南路")
    # A district alone brings its city when no other city has one of that name.
    assert ex.extract("岳麓区梅溪湖街道路灯不亮").city == "长沙市"
    assert ex.extract("鼓楼区某路口积水").city == ""  # 鼓楼区 is in four cities
    assert ex.extract("北京市海淀区学院路堵车").city == "北京市"
    # Glued into a longer word, or generic: not a district.
    assert ex.extract("浏阳市场门口占道经营").district == ""
    assert ex.extract("我们新城区的路灯坏了").district == ""
    assert ex.extract("一批沿海城市发展迅速").district == ""  # not 海城市
    g = load_gazetteer("default")
    assert normalize_district("岳麓", g) == "岳麓区"
    assert normalize_district("A3区", g) == "A3区"


def test_admin_lookup_is_linear() -> None:
    ex = LocationExtractor(load_gazetteer("default"))
    text = "长沙市岳麓区某某路附近，" * 2000
    t0 = time.perf_counter()
    ex.hits(text)
    assert time.perf_counter() - t0 < 10.0


def test_gazetteer_build_learns_places_with_counts(tmp_path: Path) -> None:
    rows = [
        ("A3区魅力之城小区噪音", "A3区魅力之城小区楼下烧烤店油烟扰民。", "环境保护"),
        ("魅力之城油烟", "A3区魅力之城小区门口烧烤店晚上营业到凌晨。", "环境保护"),
        ("枫林路积水", "A3区枫林路每逢下雨积水严重。", "城乡建设"),
        ("枫林路积水", "枫林路积水，车辆无法通行。", "城乡建设"),
        ("一次", "A5区星光花园一楼漏水。", "城乡建设"),
    ]
    out = tmp_path / "gaz.json"
    result = CliRunner().invoke(
        app, ["gazetteer", "build", "--from", str(_log(tmp_path / "log.csv", rows)), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    gaz = json.loads(out.read_text(encoding="utf-8"))
    a3 = next(d for d in gaz["districts"] if d["name"] == "A3区")
    estate = next(c for c in a3["communities"] if c["name"].startswith("魅力之城"))
    assert estate["count"] == 2 and estate["district_counts"] == {"A3区": 2} and len(estate["ids"]) == 2
    assert any(r["name"] == "枫林路" and r["count"] == 2 for r in a3["roads"])
    assert "星光花园" not in out.read_text(encoding="utf-8")  # seen once: below --min-count
    # Loadable by --gazetteer; its places carry their district, the national table still works.
    ex = LocationExtractor(load_gazetteer(out))
    info = ex.extract("魅力之城门口垃圾堆积")
    assert info.district == "A3区" and info.source == "gazetteer"
    assert ex.extract("长沙市岳麓区").district == "岳麓区"


def test_warns_when_gazetteer_covers_few_mentions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        (f"星河{c}苑噪音", f"A3区星河{c}苑楼下烧烤店油烟扰民。", "环境保护")
        for c in "一二三四五六七八九十" * 3
    ]
    log = _log(tmp_path / "log.csv", rows)
    with caplog.at_level(logging.WARNING), EventStore(tmp_path / "ev.db") as st:
        run_events(log, st, config=EventsConfig(gazetteer="demo", progress=False))
    assert any(
        "place mentions" in r.getMessage() and "gazetteer build" in r.getMessage() for r in caplog.records
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING), EventStore(tmp_path / "ev2.db") as st:
        run_events(log, st, config=EventsConfig(progress=False))  # the national table: no city places
    assert not any("place mentions" in r.getMessage() for r in caplog.records)


def test_service_event_fields_use_the_configured_gazetteer() -> None:
    from serving.app import _event_fields_function

    text = ["临港区港城街道的火车站门口垃圾堆积"]
    demo = _event_fields_function("demo")
    default = _event_fields_function("default")
    assert demo is not None and default is not None
    # The sample city's places only when the service is configured for the demo.
    assert demo(text)[0]["location"]["district"] == "临港区"
    assert "澜江" not in str(default(text)[0]["location"])
