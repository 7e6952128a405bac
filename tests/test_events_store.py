"""Event store: idempotent writes, schema version check, alerts, signals with the calendar.

The store's cases run on SQLite and on PostgreSQL (``store_url``, tests/store_fixtures.py: a
throw-away server, or ``HOTLINE_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from events.signals import build_signals, calendar_features
from events.store import SIGNAL_COLUMNS, EventStore, StoreSchemaError, caller_key, resolve_url
from tests.store_fixtures import complaint_records, execute, prediction_records


def test_same_batch_twice_changes_nothing(store_url: str) -> None:
    with EventStore(store_url) as store:
        recs = complaint_records()
        preds = prediction_records()
        for _ in range(2):
            store.complaints.upsert(recs)
            store.complaints.upsert_predictions(preds)
        counts = store.counts()
        assert counts["complaints"] == 3 and counts["predictions"] == 2
        stored = store.complaints.read(["c1"])
        assert "13812345678" not in stored.loc[0, "text"] and "[手机号]" in stored.loc[0, "text"]
        assert stored.loc[0, "caller"] == caller_key("C001") != "C001"
        assert stored.loc[0, "time"] == pd.Timestamp("2026-05-01 10:00")
        p = store.complaints.read_predictions(["c1", "c2"])
        assert p.set_index("complaint_id").loc["c1", "top_k"] == {"供水供电燃气": 0.9, "市容环卫": 0.1}
        # a new model version adds rows; the latest wins
        store.complaints.upsert_predictions(preds.assign(model_version="v2", label=["市容环卫", "噪音扰民"]))
        assert store.counts()["predictions"] == 4
        latest = store.complaints.read_predictions(["c1"])
        assert len(latest) == 1 and latest.loc[0, "label"] == "市容环卫"


def test_schema_checks(store_url: str) -> None:
    with EventStore(store_url) as store:
        assert store.schema_version() == 1
    execute(store_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(StoreSchemaError, match="newer"):
        EventStore(store_url)
    execute(store_url, "UPDATE schema_version SET version = 0")
    with pytest.raises(StoreSchemaError, match=r"older.*hotline events"):
        EventStore(store_url)
    # a store migrated by a newer hotline carries a revision this one does not know
    execute(
        store_url, "UPDATE schema_version SET version = 1", "UPDATE alembic_version SET version_num = '9999'"
    )
    with pytest.raises(StoreSchemaError, match=r"newer hotline.*9999"):
        EventStore(store_url)
    execute(store_url, "DROP TABLE schema_version")
    with pytest.raises(StoreSchemaError, match="not created by hotline"):
        EventStore(store_url)


def test_a_database_that_is_not_ours_is_refused(tmp_path) -> None:
    other = tmp_path / "other.db"
    execute(resolve_url(other), "CREATE TABLE complaints (x INTEGER)")
    with pytest.raises(StoreSchemaError, match="not created by hotline"):
        EventStore(other)


def test_alerts_upsert_and_read(store_url: str) -> None:
    alert = {
        "alert_id": "burst|2026-07-14|category=供水供电燃气|district=城南区",
        "date": "2026-07-14",
        "series_key": "category=供水供电燃气|district=城南区",
        "kind": "burst",
        "observed": 31,
        "expected": 2.5,
        "lower": 0,
        "upper": 6,
        "size": 25,
        "growth": 12.4,
        "score": 9.5,
        "incident_ids": ["INC-20260714-1bec4ecc"],
        "examples": ["人民南路爆管，联系13812345678"],
        "keywords": ["爆管", "停水"],
        "first_seen": "2026-07-14 06:10",
        "last_seen": "2026-07-15 20:00",
    }
    other = {"alert_id": "a2", "date": "2026-07-01", "kind": "interval", "score": 1.0}
    with EventStore(store_url) as store:
        assert store.alerts.upsert([alert, other]) == 2
        store.alerts.upsert(pd.DataFrame([{**alert, "score": 10.5}]))
        out = store.alerts.read()
        assert out["alert_id"].tolist() == [alert["alert_id"], "a2"]
        assert out.loc[0, "alert_id"].startswith("burst") and out.loc[0, "score"] == 10.5
        assert out.loc[0, "date"] == "2026-07-14" and out.loc[0, "incident_ids"] == ["INC-20260714-1bec4ecc"]
        assert "13812345678" not in out.loc[0, "examples"][0]
        assert len(store.alerts.read(since="2026-07-10")) == 1
        with pytest.raises(Exception, match="kind"):
            store.alerts.upsert([{"alert_id": "x", "date": "2026-07-01", "kind": "spike"}])


def test_signals_zero_filled_with_calendar() -> None:
    complaints = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            # 2019-09-29 (Sunday) was a 调休 working day; 2019-10-01 National Day.
            "time": pd.to_datetime(
                ["2019-09-28 10:00", "2019-09-28 11:00", "2019-10-01 09:00", "2019-10-02 09:00"]
            ),
            "category": ["供水", "供水", "噪音", ""],
            "district": ["江北区", "江北区", "", "江北区"],
            "incident_id": ["I1", "I1", "I2", None],
        }
    )
    s = build_signals(complaints)
    assert list(s.columns) == list(SIGNAL_COLUMNS)
    pairs = {("供水", "江北区"), ("噪音", "未知"), ("未分类", "江北区")}
    assert set(zip(s["category"], s["district"], strict=True)) == pairs
    assert len(s) == 5 * 3  # 09-28 .. 10-02, every pair every day
    row = s[(s["date"] == "2019-09-28") & (s["category"] == "供水")].iloc[0]
    assert (row["calls"], row["incidents"], row["new_incidents"]) == (2, 1, 1)
    assert s[(s["date"] == "2019-09-30") & (s["category"] == "供水")]["calls"].item() == 0
    sunday = s[s["date"] == "2019-09-29"].iloc[0]
    assert sunday["weekday"] == 6 and sunday["is_workday"] and not sunday["is_holiday"]
    national = s[s["date"] == "2019-10-01"].iloc[0]
    assert national["is_holiday"] and not national["is_workday"] and national["holiday_name"] == "国庆节"
    ordinary_saturday = s[s["date"] == "2019-09-28"].iloc[0]
    assert not ordinary_saturday["is_holiday"] and not ordinary_saturday["is_workday"]
    assert ordinary_saturday["holiday_name"] == ""


def test_calendar_falls_back_outside_covered_years() -> None:
    fallback = calendar_features([date(2040, 10, 1), date(2040, 10, 8)])
    assert fallback.loc[0, ["weekday", "is_holiday", "is_workday", "holiday_name"]].tolist() == [
        0,
        True,
        False,
        "国庆节",
    ]
    assert fallback.loc[1, "is_workday"]
    f = calendar_features(["2024-02-10", "2024-02-04"])  # 春节; a 调休 Sunday
    assert f.loc[0, "holiday_name"] == "春节" and bool(f.loc[1, "is_workday"])
    assert f.loc[1, "holiday_name"] == ""


def test_signals_round_trip_through_the_store(store_url: str) -> None:
    signals = build_signals(
        pd.DataFrame(
            {
                "id": ["a", "b"],
                "time": pd.to_datetime(["2026-05-01", "2026-05-03"]),
                "category": ["供水", "供水"],
                "district": ["江北区", "江北区"],
                "incident_id": ["I1", "I1"],
            }
        )
    )
    with EventStore(store_url) as store:
        store.signals.replace(signals)
        store.signals.replace(signals)
        out = store.signals.read("2026-05-02", "2026-05-03")
        assert out["date"].tolist() == ["2026-05-02", "2026-05-03"]
        assert out["calls"].tolist() == [0, 1] and out["new_incidents"].tolist() == [0, 0]
        assert out["is_holiday"].tolist() == [True, True]  # 劳动节 2026-05-01..05
        assert len(store.signals.read()) == 3


@pytest.mark.postgres
def test_postgres_store_round_trip(postgres_url: str) -> None:
    # The postgres_url fixture (tests/conftest.py) starts a throw-away server, or uses
    # HOTLINE_TEST_POSTGRES_URL.
    store = EventStore(postgres_url)
    try:
        recs = complaint_records().assign(id=lambda d: "pgtest-" + d["id"])
        for _ in range(2):
            store.complaints.upsert(recs)
        assert len(store.complaints.read(recs["id"].tolist())) == 3
        store.alerts.upsert([{"alert_id": "pgtest-a", "date": "2026-07-14", "kind": "burst", "score": 1.0}])
        store.alerts.upsert([{"alert_id": "pgtest-a", "date": "2026-07-14", "kind": "burst", "score": 2.0}])
        alerts = store.alerts.read(since="2026-07-14")
        assert alerts.set_index("alert_id").loc["pgtest-a", "score"] == 2.0
        store.signals.replace(
            build_signals(
                pd.DataFrame(
                    {
                        "id": recs["id"],
                        "time": recs["time"],
                        "category": ["a", "a", "b"],
                        "district": ["x", "x", "y"],
                        "incident_id": [None, None, None],
                    }
                )
            )
        )
        assert len(store.signals.read()) == 4 * 2
    finally:
        with store.engine.begin() as conn:
            for name in ("complaints", "alerts", "signals"):
                t = store.tables[name]
                key = t.c.id if name == "complaints" else (t.c.alert_id if name == "alerts" else None)
                if key is not None:
                    conn.execute(t.delete().where(key.like("pgtest-%")))
                else:
                    conn.execute(t.delete())
        store.close()
