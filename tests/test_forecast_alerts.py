"""Surge alerts: fire on a planted surge, stay quiet on noise, merge days, go to the event store."""

from __future__ import annotations

import pandas as pd
import pytest

from common.errors import ConfigError
from forecasting.alert_detect import detect_alerts
from forecasting.alert_records import Alert
from forecasting.alerts import run_alerts
from forecasting.config import AlertConfig
from forecasting.errors import SignalsError
from forecasting.forecaster import Forecaster
from forecasting.sources import signal_source
from tests.test_forecast_common import WEEKLY, make_signals, small_config


def planted(
    n: int = 90, *, surge_days: tuple[int, ...] = (80, 81, 82), extra: int = 15, seed: int = 0
) -> pd.DataFrame:
    """One busy category × district series with a surge on ``surge_days``, plus a quiet one."""
    sig = make_signals(n, seed=seed, cells=(("供水", "江北区", 4.0), ("交通", "渝中区", 3.0)))
    dates = sorted(sig["date"].unique())
    for d in surge_days:
        sig.loc[(sig["date"] == dates[d]) & (sig["category"] == "供水"), "calls"] += extra
    return sig


def test_planted_three_day_surge_is_one_alert() -> None:
    sig = planted()
    dates = sorted(sig["date"].unique())
    alerts = detect_alerts(sig, date=dates[-1], days=20)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.series_key == "category=供水|district=江北区" and a.kind == "burst"
    assert (a.first_seen, a.last_seen, a.days) == (dates[80], dates[82], 3)
    assert a.size > 30 and a.observed > a.upper and a.growth > 2 and a.score > 0
    assert a.alert_id.startswith("series-")
    with pytest.raises(SignalsError, match="outside the signals"):
        detect_alerts(sig, date="2030-01-01")


def test_no_alerts_on_pure_noise_over_many_seeds() -> None:
    days = 0
    fired = 0
    for seed in range(8):
        sig = make_signals(120, seed=100 + seed, cells=(("a", "x", 6.0), ("b", "y", 2.0), ("c", "z", 12.0)))
        alerts = detect_alerts(sig, days=90)
        fired += sum(a.days for a in alerts)
        days += 90 * 3
    # burst_alpha = 1e-3 per series-day; allow for the baseline being estimated from 4 weeks.
    assert fired / days < 0.005, f"{fired} alert-days in {days} series-days"


def test_interval_alerts_with_a_forecaster_and_interval_choice() -> None:
    sig = planted(84, surge_days=(83,), extra=12, seed=3)
    history = sig[sig["date"] < sorted(sig["date"].unique())[83]]
    fc = Forecaster.fit(history, small_config(levels=("total", "category_district")))
    alerts = detect_alerts(sig, fc)
    assert len(alerts) == 1 and alerts[0].kind == "interval"
    assert alerts[0].observed > alerts[0].upper
    with pytest.raises(ConfigError, match=r"0\.8 or 0\.95"):
        AlertConfig(interval=0.9)


def test_surge_detected_day_by_day_keeps_one_id_and_is_not_double_counted() -> None:
    sig = planted()
    dates = sorted(sig["date"].unique())
    store = FakeStore(sig)
    seen = []
    for d in dates[79:86]:
        run_alerts(signal_source(store), date=d)
        seen.append(d)
    rows = store.alerts.read(limit=None)
    assert len(rows) == 1
    row = rows.iloc[0]
    assert (row["first_seen"], row["last_seen"]) == (dates[80], dates[82])
    once = detect_alerts(sig, date=dates[85], days=10)[0]
    assert row["size"] == pytest.approx(once.size)  # re-runs recompute, never add up
    run_alerts(signal_source(store), date=dates[82])
    assert len(store.alerts.read(limit=None)) == 1 and store.alerts.read().iloc[0]["size"] == pytest.approx(
        once.size
    )


def test_alerts_stored_through_the_event_store_api(tmp_path) -> None:
    store_mod = pytest.importorskip("events.store")
    sig = planted()
    dates = sorted(sig["date"].unique())
    from events.calendar import day_calendar

    cal = day_calendar(pd.to_datetime(sig["date"]))
    sig = sig.assign(
        weekday=cal["weekday"].to_numpy(),
        is_holiday=cal["is_holiday"].to_numpy(),
        is_workday=cal["is_workday"].to_numpy(),
        holiday_name="",
    )
    with store_mod.EventStore(tmp_path / "events.db") as st:
        st.signals.replace(sig)
        found = run_alerts(signal_source(st), date=dates[83], days=5)
        assert len(found) == 1
        stored = st.alerts.read()
        assert len(stored) == 1 and stored.iloc[0]["alert_id"] == found[0].alert_id
        assert stored.iloc[0]["series_key"] == "category=供水|district=江北区"
        run_alerts(signal_source(st), date=dates[84])
        assert len(st.alerts.read(limit=None)) == 1


class FakeStore:
    """The part of events.store.EventStore the alert job uses, in memory: signals and alerts."""

    def __init__(self, signals: pd.DataFrame) -> None:
        self.signals = FakeSignals(signals)
        self.alerts = FakeAlerts()


class FakeSignals:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def read(self, start=None, end=None) -> pd.DataFrame:
        return self.frame


class FakeAlerts:
    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}

    def upsert(self, records) -> int:
        for r in records:
            self.rows[r["alert_id"]] = dict(r)
        return len(records)

    def read(self, since=None, limit=100) -> pd.DataFrame:
        frame = pd.DataFrame(list(self.rows.values()))
        if len(frame) and since is not None:
            frame = frame[frame["date"] >= str(since)]
        return frame.head(limit) if limit else frame


def test_alert_record_has_the_store_fields() -> None:
    a = Alert(
        "series-x",
        "2025-01-02",
        "category=a|district=b",
        "burst",
        9,
        2,
        0,
        5,
        7,
        4.5,
        3.2,
        "2025-01-01",
        "2025-01-02",
    )
    rec = a.to_record()
    assert set(rec) == {
        "alert_id", "date", "series_key", "kind", "observed", "expected", "lower", "upper", "size", "growth",
        "score", "first_seen", "last_seen", "incident_ids", "examples", "keywords",
    }  # fmt: skip
    assert "2025-01-01..2025-01-02" in a.describe()


def test_weekend_days_are_compared_with_weekends() -> None:
    # A series that is busy on working days and quiet at weekends: a normal Monday is no burst.
    sig = make_signals(70, cells=(("a", "x", 10.0),))
    mondays = [d for d in sorted(sig["date"].unique()) if pd.Timestamp(d).dayofweek == 0]
    assert WEEKLY[0] > 2 * WEEKLY[5]
    assert detect_alerts(sig, date=mondays[-1], days=1) == []


def test_decision_summary_text() -> None:
    from forecasting.cases import prepare_cases
    from forecasting.config import SurvivalConfig
    from forecasting.summary import decision_summary
    from forecasting.survival import SurvivalModel
    from tests.test_forecast_common import fitted_forecaster
    from tests.test_forecast_survival import EXPORT, exponential_log

    sig = planted()
    store = FakeStore(sig)
    run_alerts(signal_source(store), date=sorted(sig["date"].unique())[-1], days=20)
    cfg = SurvivalConfig(unit="hours", covariates=("category",), min_level_count=5)
    survival = SurvivalModel.fit(
        prepare_cases(exponential_log(n=300, seed=1), cfg, analysis_date=EXPORT), cfg
    )
    # The planted surge opened within the last 20 days: alerts are those opened in the window.
    summary = decision_summary(signal_source(store), fitted_forecaster(), survival, top=3, window_days=20)
    text = summary.to_text()
    assert "category=供水|district=江北区" in text and "Next days" in text
    assert 1 <= len(summary.at_risk) <= 3 and summary.outlook[0]["series"] == "total"
    assert any("read_hot" in n for n in summary.notes)  # the fake store has no hot issues
    empty = decision_summary(None, None, None).to_text()
    assert "none" in empty and "no forecaster" in empty


def test_summary_note_says_what_the_alert_detection_found() -> None:
    from forecasting.summary import decision_summary

    # No alerts stored, a surge in the window: detected now and said to be unstored.
    sig = planted()
    found = decision_summary(signal_source(FakeStore(sig)), None, None, window_days=20)
    assert [a["series_key"] for a in found.alerts] == ["category=供水|district=江北区"]
    note = next(n for n in found.notes if n.startswith("no alert stored"))
    assert "1 detected now, not stored (run `hotline alerts` to store them)" in note
    # An alerts run that stored nothing (no surge): the note says none was found, not "not stored".
    quiet = FakeStore(make_signals(90, seed=0, cells=(("供水", "江北区", 4.0), ("交通", "渝中区", 3.0))))
    assert run_alerts(signal_source(quiet), days=20) == [] and quiet.alerts.rows == {}
    summary = decision_summary(signal_source(quiet), None, None, window_days=20)
    assert summary.alerts == []
    assert any(n.endswith(": none detected now either") for n in summary.notes)
    assert not any("not stored" in n for n in summary.notes)
