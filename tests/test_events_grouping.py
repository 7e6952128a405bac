"""Same-incident grouping: planted duplicates, places and categories kept apart, incremental runs."""

from __future__ import annotations

import pandas as pd
import pytest

from common.errors import ConfigError
from events.config import EventsConfig, GroupingConfig
from events.grouping import IncidentGrouper, incident_id
from events.similarity import shingles, tfidf_matrix
from nlp.events import EventExtractor


def _frame(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """(id, time, text, category, district) -> a frame with extracted event columns."""
    df = pd.DataFrame(rows, columns=["id", "time", "text", "category", "district"])
    df["title"] = ""
    df["time"] = pd.to_datetime(df["time"])
    events = EventExtractor("none").extract_frame(df, progress=False)
    out = pd.concat([df, events], axis=1)
    out["district"] = [d or ld for d, ld in zip(out["district"], out["loc_district"], strict=True)]
    return out


BURST = "A2区人民南路新民路口自来水管爆裂，路面大量积水，小区停水，请尽快抢修"
ROWS = [
    ("b1", "2026-07-14 06:10", BURST, "供水", "A2区"),
    (
        "b2",
        "2026-07-14 06:30",
        "A2区人民南路新民路口自来水管爆裂，路面积水严重，小区停水，请尽快抢修！",
        "供水",
        "A2区",
    ),
    (
        "b3",
        "2026-07-14 07:05",
        "人民南路水管爆裂，水漫到路上，我们小区停水，什么时候抢修好？",
        "供水",
        "A2区",
    ),
    ("b4", "2026-07-15 08:00", "人民南路供水管道爆裂导致小区停水一天了，还没有抢修好", "供水", "A2区"),
    # the same words at another place: another incident
    (
        "o1",
        "2026-07-14 09:00",
        "A3区金星北路自来水管爆裂，路面大量积水，小区停水，请尽快抢修",
        "供水",
        "A3区",
    ),
    # the same place, another problem and category
    ("n1", "2026-07-14 22:00", "人民南路有广场舞音响声音太大，晚上十点还在跳", "噪音", "A2区"),
    # the same place and problem, far outside the window
    ("late", "2026-12-01 09:00", "人民南路自来水管爆裂，路面积水，小区停水", "供水", "A2区"),
]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return _frame(ROWS)


def test_planted_duplicates_form_one_incident_and_others_stay_apart(frame: pd.DataFrame) -> None:
    a = IncidentGrouper(GroupingConfig(window_days=14)).assign(frame)
    inc = dict(zip(a["id"], a["incident_id"], strict=True))
    assert inc["b1"] == inc["b2"] == inc["b3"] == inc["b4"]
    assert inc["o1"] != inc["b1"], "another place"
    assert inc["n1"] != inc["b1"], "another problem and category"
    assert inc["late"] != inc["b1"], "outside the time window"
    assert a["is_new_incident"].all()
    links = dict(zip(a["id"], a["link"], strict=True))
    assert links["b2"] == "minhash" and links["b3"] in ("place", "minhash")


def test_incident_ids_are_deterministic(frame: pd.DataFrame) -> None:
    g = IncidentGrouper(GroupingConfig(window_days=14))
    first = g.assign(frame).sort_values("id").reset_index(drop=True)
    again = g.assign(frame.sample(frac=1.0, random_state=3)).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, again)
    burst_id = first.loc[first["id"] == "b1", "incident_id"].item()
    assert burst_id == incident_id(pd.Timestamp("2026-07-14 06:10"), "b1")
    assert burst_id.startswith("INC-20260714-")


def test_incremental_batch_joins_the_existing_incident(frame: pd.DataFrame) -> None:
    g = IncidentGrouper(GroupingConfig(window_days=14))
    first = frame[frame["id"].isin(["b1", "b2", "o1"])]
    a1 = g.assign(first)
    existing = first.merge(a1[["id", "incident_id"]], on="id")
    new = frame[frame["id"].isin(["b3", "b4", "n1"])]
    a2 = g.assign(new, existing)
    inc = dict(zip(a2["id"], a2["incident_id"], strict=True))
    burst = a1.loc[a1["id"] == "b1", "incident_id"].item()
    assert inc["b3"] == burst and inc["b4"] == burst
    assert not a2.set_index("id").loc["b3", "is_new_incident"]
    assert inc["n1"] != burst and a2.set_index("id").loc["n1", "is_new_incident"]


def test_category_disagreement_needs_strong_evidence() -> None:
    rows = [
        ("x1", "2026-05-01 10:00", "A2区幸福家园小区电梯坏了三天没人修", "物业", "A2区"),
        ("x2", "2026-05-02 10:00", "A2区幸福家园小区停电，晚上一片漆黑", "供电", "A2区"),
    ]
    a = IncidentGrouper().assign(_frame(rows))
    assert a["incident_id"].nunique() == 2


def test_methods_and_helpers(frame: pd.DataFrame) -> None:
    assert shingles("小区 门口[手机号]", 3) == {"小区门", "区门口"}
    x = tfidf_matrix([["a", "b"], ["a", "c"], []])
    assert x.shape[0] == 3 and abs((x[0].multiply(x[0])).sum() - 1) < 1e-9
    g = IncidentGrouper(GroupingConfig(window_days=14, method="minhash"))
    a = g.assign(frame)
    inc = dict(zip(a["id"], a["incident_id"], strict=True))
    assert inc["b1"] == inc["b2"] and inc["b4"] != inc["b1"]  # b4 is worded differently
    table = g.pair_features(frame, [("b1", "b2"), ("b1", "o1")])
    assert table.loc[0, "minhash"] > 0.6 and table.loc[1, "place_conflict"]
    with pytest.raises(ValueError, match="window_days"):
        GroupingConfig(window_days=0)
    with pytest.raises(ValueError, match="embed"):
        IncidentGrouper(GroupingConfig(method="embedding"))


def test_configs_saved_before_still_load(tmp_path) -> None:
    # What the dataclass configs wrote (dataclasses.asdict) before they became JobConfigs.
    old = {
        "window_days": 14.0, "gazetteer": "none", "top_k": 5, "method": "combined", "model_dir": None,
        "embed_model": None, "regroup": False, "caller_column": "caller", "likes_column": None,
        "progress": False,
    }  # fmt: skip
    cfg = EventsConfig.from_dict(old)
    assert cfg.to_dict() == old and cfg.grouping() == GroupingConfig(window_days=14.0)
    assert EventsConfig.load(cfg.save(tmp_path / "config.json")) == cfg
    grouping = GroupingConfig(window_days=7, method="place")
    assert GroupingConfig.from_dict(grouping.to_dict()) == grouping
    with pytest.raises(ConfigError, match="window_days"):
        EventsConfig.from_dict({**old, "window_days": 0})
    with pytest.raises(ConfigError, match=r"embed_model"):
        EventsConfig(method="embedding")
