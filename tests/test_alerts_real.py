"""Alerts worth reading (issue 13 item 5): a series with history never expects 0, one incident
raises one alert, unknown places are not a district, examples and keywords share complaints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.alert_detect import burst_baseline, detect_alerts, merge_hits, nb_interval
from forecasting.alert_evidence import coherent_complaints, keep_coherent
from forecasting.alert_records import Alert, Hit
from forecasting.alerts import run_alerts
from forecasting.config import AlertConfig
from forecasting.sources import signal_source
from tests.test_forecast_common import make_signals

START = pd.Timestamp("2025-03-03")
WORDS = ["路灯", "噪音", "垃圾", "停车", "物业", "绿化", "电梯", "漏水", "供暖", "占道", "公交", "学位"]
CELLS = (("供水", "江北区"), ("供水", "渝中区"), ("交通", "江北区"), ("交通", "渝中区"), ("交通", "未知"))
SURGE_DAYS = (90, 91, 92)
UNKNOWN_DAY = 95


def test_sparse_series_with_history_gets_its_own_level_not_zero() -> None:
    # The real case: an ordinary day of 5 calls after days of 3, 2, 2 read as "5 vs 0.0
    # expected (upper 0.0)": trimming dropped the few busy days of a sparse series.
    config = AlertConfig()
    hist = np.zeros(42)
    hist[[4, 13, 22, 31]] = 1
    hist[-3:] = [3, 2, 2]
    offday = np.zeros(42, dtype=bool)  # every day a working day: one day type
    mean, var = burst_baseline(hist, offday, False, config)
    _, hi = nb_interval(mean, var, config.interval)
    assert mean >= 0.5 and hi >= 2
    # and a series that only ever had a call now and then expects its long-run rate, not 1/28
    rare = np.zeros(42)
    rare[::6] = 1
    mean, var = burst_baseline(rare, offday, False, config)
    assert mean >= 0.9 * rare.mean() and nb_interval(mean, var, config.interval)[1] >= 1


def test_unknown_district_series_never_alerts_but_its_category_may() -> None:
    # two categories: with one, the category series is the total and is not built
    sig = make_signals(60, cells=(("交通", "未知", 3.0), ("交通", "渝中区", 3.0), ("供水", "渝中区", 3.0)))
    last = sorted(sig["date"].unique())[-1]
    sig.loc[(sig["date"] == last) & (sig["district"] == "未知"), "calls"] += 20
    config = AlertConfig(levels=("category", "category_district"))
    alerts = detect_alerts(sig, date=last, days=1, config=config)
    assert alerts, "the category series carries the surge"
    assert all("未知" not in a.series_key and all("未知" not in r for r in a.related) for a in alerts)
    assert [a.series_key for a in alerts] == ["category=交通"]


def test_nested_series_surge_without_a_store_is_one_alert() -> None:
    sig = make_signals(60, cells=(("供水", "江北区", 3.0), ("交通", "江北区", 3.0), ("供水", "渝中区", 3.0)))
    last = sorted(sig["date"].unique())[-1]
    sig.loc[(sig["date"] == last) & (sig["category"] == "供水") & (sig["district"] == "江北区"), "calls"] += (
        20
    )
    config = AlertConfig(levels=("category", "district", "category_district"))
    alerts = detect_alerts(sig, date=last, days=1, config=config)
    assert len(alerts) == 1
    assert {alerts[0].series_key, *alerts[0].related} == {
        "category=供水|district=江北区",
        "category=供水",
        "district=江北区",
    }


def test_incident_waves_within_a_month_are_one_alert() -> None:
    config = AlertConfig()
    hits = [
        Hit(
            START + pd.Timedelta(days=d), "INC-1", "category=环保|district=A2区", "incident", 7, 1, 0, 3, 1e-4
        )
        for d in (0, 1, 9, 10, 26)
    ]
    alerts = merge_hits(hits, config)
    assert len(alerts) == 1 and alerts[0].days == 5


class ComplaintStore:
    """The read side of events.store.EventStore the alert job uses, over a complaint table."""

    def __init__(self, complaints: pd.DataFrame) -> None:
        self.c = complaints
        self.signals = _Signals(complaints)
        self.complaints = _Complaints(complaints)
        self.incidents = _Incidents(complaints)
        self.alerts = _Alerts()


class _Signals:
    def __init__(self, c: pd.DataFrame) -> None:
        self.c = c

    def read(self, start=None, end=None) -> pd.DataFrame:
        from events.signals import build_signals

        return build_signals(self.c.assign(district=self.c["district"].replace("未知", "")))

    def source(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": self.c["id"],
                "time": self.c["time"],
                "label": self.c["category"],
                "raw_district": "",
                "category": self.c["category"],
                "district": self.c["district"].replace("未知", ""),
                "incident_id": self.c["incident_id"],
            }
        )


class _Complaints:
    def __init__(self, c: pd.DataFrame) -> None:
        self.c = c

    def read_predictions(self, ids=None) -> pd.DataFrame:
        return pd.DataFrame(columns=["complaint_id", "label"])

    def read_events(self, ids=None) -> pd.DataFrame:
        return pd.DataFrame(columns=["complaint_id", "category", "district"])

    def read(self, ids=None, *, since=None, until=None) -> pd.DataFrame:
        c = self.c
        if since is not None:
            c = c[c["time"] >= pd.Timestamp(since)]
        if until is not None:
            c = c[c["time"] <= pd.Timestamp(until)]
        return c[["id", "time", "title", "text"]]


class _Incidents:
    def __init__(self, c: pd.DataFrame) -> None:
        self.c = c

    def read(self, *, since=None, until=None, min_complaints=1, ids=None, **_) -> pd.DataFrame:
        g = self.c.groupby("incident_id").agg(
            category=("category", "first"), district=("district", "first"), n=("id", "size")
        )
        g = g[g["n"] >= min_complaints].reset_index()
        return g[g["incident_id"].isin(ids)] if ids is not None else g

    def read_members(self, incident_ids=None) -> pd.DataFrame:
        m = self.c if incident_ids is None else self.c[self.c["incident_id"].isin(incident_ids)]
        return m.rename(columns={"id": "complaint_id"})[["incident_id", "complaint_id"]]

    def members_detail(self, incident_ids) -> pd.DataFrame:
        m = self.c[self.c["incident_id"].isin(incident_ids)]
        return m.assign(similarity=1.0)[["incident_id", "id", "similarity", "time", "title", "text"]]


class _Alerts:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def read(self, since=None, limit=100) -> pd.DataFrame:
        return pd.DataFrame(list(self.rows.values()))

    def upsert(self, records) -> int:
        self.rows.update({r["alert_id"]: dict(r) for r in records})
        return len(records)


def _complaints(seed: int = 0) -> pd.DataFrame:
    """100 days of unrelated complaints (each its own incident), one incident of 24 complaints
    in 供水 × 江北区 on SURGE_DAYS, and a pile of unrelated 交通 complaints without a place."""
    rng = np.random.default_rng(seed)
    rows = []

    def add(day: int, cat: str, dist: str, title: str, text: str, incident: str | None = None) -> None:
        n = len(rows)
        rows.append(
            {
                "id": f"c{n:05d}",
                "time": START + pd.Timedelta(days=day, hours=9 + n % 8),
                "category": cat,
                "district": dist,
                "incident_id": incident or f"single-{n}",
                "title": title,
                "text": text,
            }
        )

    for day in range(100):
        for cat, dist in CELLS:
            for _ in range(rng.poisson(1.5)):
                a, b = rng.choice(WORDS, 2, replace=False)
                add(day, cat, dist, f"反映{a}问题", f"小区{a}和{b}的问题一直没有解决")
    for day in SURGE_DAYS:
        for k in range(8):
            add(
                day,
                "供水",
                "江北区",
                "丽发新城停水",
                f"丽发新城小区停水第{k + 1}天，搅拌站施工挖断水管",
                "INC-LF",
            )
    for _ in range(14):
        a, b = rng.choice(WORDS, 2, replace=False)
        add(UNKNOWN_DAY, "交通", "未知", f"咨询{a}", f"{a}{b}怎么办理")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def store_alerts() -> tuple[ComplaintStore, list]:
    pytest.importorskip("jieba")
    store = ComplaintStore(_complaints())
    config = AlertConfig(levels=("category", "district", "category_district"))
    end = START + pd.Timedelta(days=99)
    return store, run_alerts(signal_source(store), date=end, days=15, config=config, write=False)


def test_an_incident_over_three_series_keys_is_one_alert(store_alerts) -> None:
    store, alerts = store_alerts
    incident = set(store.c.loc[store.c["incident_id"] == "INC-LF", "id"])
    hit = [a for a in alerts if incident & set(a.complaint_ids)]
    assert len(hit) == 1, [a.describe() for a in hit]
    a = hit[0]
    keys = {a.series_key, *a.related}
    assert {"category=供水|district=江北区", "category=供水", "district=江北区"} <= keys | {"incident INC-LF"}
    assert len(keys) >= 3 and "INC-LF" in a.incident_ids


def test_no_alert_on_an_unknown_district(store_alerts) -> None:
    _, alerts = store_alerts
    assert alerts
    assert all("未知" not in a.series_key and all("未知" not in r for r in a.related) for a in alerts)


def test_examples_and_keywords_come_from_the_same_complaints(store_alerts) -> None:
    store, alerts = store_alerts
    by_id = store.c.set_index("id")
    for a in alerts:
        members = by_id.loc[a.complaint_ids]
        docs = [f"{t}\n{x}" for t, x in zip(members["title"], members["text"], strict=True)]
        shown = [d for d in docs if any(ex.startswith(d.split("\n")[0]) for ex in a.examples)]
        assert a.examples and len(shown) >= 1
        for ex in a.examples:  # every example is one of the alert's own complaints
            assert any(ex.startswith(str(t)) for t in members["title"]), ex
        for kw in a.keywords:  # every keyword is in a shown example's complaint
            assert any(kw in d for d in shown), (kw, a.series_key)
        # the alert's complaints are its series' complaints on its days
        start, end = pd.Timestamp(a.first_seen), pd.Timestamp(a.last_seen) + pd.Timedelta(days=1)
        assert ((members["time"] >= start - pd.Timedelta(days=3)) & (members["time"] < end)).all()
    surge = next(a for a in alerts if "INC-LF" in a.incident_ids)
    assert {"丽发新城", "停水"} & set(surge.keywords) or any("停水" in k for k in surge.keywords)


# -- coherence (round 2): a surge is one issue repeated, not a busy day of unrelated posts ------

CATS = ("城乡建设", "供水", "交通")
DISTS = ("江北区", "渝中区", "A3区")
BUSY_DAY, DUP_DAY = 80, 85
DUP_TITLES = [
    "金沙湾小区电梯停运三天无人维修",
    "金沙湾小区电梯停运无人维修",
    "金沙湾小区电梯又停运了无人维修",
    "金沙湾小区3栋电梯停运三天",
    "金沙湾小区电梯停运三天物业不管",
    "金沙湾小区电梯停运三天无人处理",
    "金沙湾小区电梯停运已经三天",
    "金沙湾小区电梯停运三天无人维修老人下不了楼",
    "金沙湾小区电梯停运三天了",
    "金沙湾小区电梯停运无人维修物业失职",
    "金沙湾小区电梯停运三天何时修好",
    "金沙湾小区电梯停运三天怎么办",
]


def _random_title(rng: np.random.Generator, n: int = 8) -> str:
    # Random CJK characters: titles that share no issue (and almost no bigram).
    return "".join(chr(0x4E00 + int(c)) for c in rng.integers(0, 20000, n))


def _busy_day_complaints(seed: int = 3) -> pd.DataFrame:
    """90 days of unrelated complaints (each its own incident) in three categories; on BUSY_DAY
    城乡建设 gets 16 more unrelated ones, on DUP_DAY 供水 gets 12 near-duplicate titles (each its
    own incident, so only the titles tie them)."""
    rng = np.random.default_rng(seed)
    rows = []

    def add(day: int, cat: str, title: str) -> None:
        n = len(rows)
        rows.append(
            {
                "id": f"b{n:05d}",
                "time": START + pd.Timedelta(days=day, hours=9 + n % 8),
                "category": cat,
                "district": DISTS[n % len(DISTS)],
                "incident_id": f"single-{n}",
                "title": title,
                "text": f"{title}，{_random_title(rng, 20)}",
            }
        )

    for day in range(90):
        for cat in CATS:
            for _ in range(rng.poisson(3.0)):
                add(day, cat, _random_title(rng))
    for _ in range(16):
        add(BUSY_DAY, "城乡建设", _random_title(rng))
    for title in DUP_TITLES:
        add(DUP_DAY, "供水", f"A3区{title}")
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def busy_alerts() -> list:
    pytest.importorskip("jieba")
    store = ComplaintStore(_busy_day_complaints())
    config = AlertConfig(levels=("category",))
    return run_alerts(
        signal_source(store), date=START + pd.Timedelta(days=89), days=30, config=config, write=False
    )


def test_busy_day_of_unrelated_complaints_raises_no_category_alert(busy_alerts) -> None:
    # Before: "category=城乡建设" fired on BUSY_DAY (observed ~19 vs expected ~3), as 11 of the
    # 20 top Teddy alerts did on busy posting days; its excess has nothing in common.
    busy = START + pd.Timedelta(days=BUSY_DAY)
    hit = [
        a
        for a in busy_alerts
        if a.series_key == "category=城乡建设"
        and pd.Timestamp(a.first_seen) <= busy <= pd.Timestamp(a.last_seen)
    ]
    assert hit == [], [a.describe() for a in hit]


def test_burst_of_near_duplicate_titles_raises_an_alert(busy_alerts) -> None:
    day = f"{START + pd.Timedelta(days=DUP_DAY):%Y-%m-%d}"
    hit = [a for a in busy_alerts if a.series_key == "category=供水" and a.first_seen <= day <= a.last_seen]
    assert len(hit) == 1, [a.describe() for a in busy_alerts]
    a = hit[0]
    assert a.coherent is not None and a.coherent >= 0.5 * a.size
    assert any("金沙湾" in ex for ex in a.examples)
    # the anonymised district code every one of them carries is no keyword
    assert not any(k.upper().startswith("A3") for k in a.keywords)


def test_near_duplicate_titles_and_incidents_are_coherent_unrelated_ones_are_not() -> None:
    rng = np.random.default_rng(0)
    titles = [*DUP_TITLES[:3], "反映噪音问题", "反映噪音问题", *(_random_title(rng) for _ in range(4))]
    members = pd.DataFrame(
        {
            "id": [f"m{i}" for i in range(len(titles) + 2)],
            "incident_id": [f"s{i}" for i in range(len(titles))] + ["INC-9", "INC-9"],
            "title": [*titles, _random_title(rng), _random_title(rng)],
        }
    )
    # three near-duplicate titles and two members of one incident; a bare "反映噪音问题" twice
    # (only the request words and one noun) says nothing about one place
    assert coherent_complaints(members, AlertConfig()) == {"m0", "m1", "m2", "m9", "m10"}


def _alert(key: str, size: float, p: float) -> Alert:
    return Alert(
        alert_id=key,
        date="2025-06-01",
        series_key=key,
        kind="burst",
        observed=size + 5,
        expected=5,
        lower=1,
        upper=9,
        size=size,
        growth=2,
        score=round(min(-np.log10(p), 12) * np.log1p(size), 3),
        first_seen="2025-06-01",
        last_seen="2025-06-01",
        p_value=p,
    )


def test_ranking_follows_the_coherent_excess_not_the_raw_count() -> None:
    rng = np.random.default_rng(1)

    def members(n_dup: int, n_other: int) -> pd.DataFrame:
        titles = [*DUP_TITLES[:n_dup], *(_random_title(rng) for _ in range(n_other))]
        return pd.DataFrame(
            {
                "id": [f"x{k}-{rng.integers(1e9)}" for k in range(len(titles))],
                "incident_id": None,
                "title": titles,
            }
        )

    busy = _alert("category=城乡建设", 20, 1e-6)  # +20, 11 of them one issue
    focused = _alert("category=供水|district=江北区", 12, 1e-6)  # +12, all one issue
    noise = _alert("category=交通", 30, 1e-6)  # +30, nothing in common
    assert busy.score > focused.score  # by the raw count the busier day ranked first
    kept, found = keep_coherent(
        [noise, busy, focused], {0: members(0, 35), 1: members(11, 14), 2: members(12, 5)}, AlertConfig()
    )
    assert [a.series_key for a in kept] == ["category=城乡建设", "category=供水|district=江北区"]
    assert (busy.coherent, focused.coherent) == (11, 12)
    assert focused.score > busy.score
    assert len(found[0]) == 25 and len(found[1]) == 17
