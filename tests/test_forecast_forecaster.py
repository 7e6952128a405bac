"""Forecaster: series and the minimum-volume rule, fallbacks, bad inputs, save/load round trip."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError, HotlineError
from forecasting.config import ForecastConfig
from forecasting.errors import ForecastModelError, SignalsError, UnknownSeriesError
from forecasting.forecaster import Forecaster
from forecasting.heads import make_head
from forecasting.signals import parse_series_key, read_signals_file, signals_from_complaints, validate_signals
from tests.test_forecast_common import fitted_forecaster, make_signals, small_config


@pytest.fixture(scope="module")
def fitted() -> Forecaster:
    return fitted_forecaster()


def test_series_levels_and_minimum_volume_rule(fitted: Forecaster) -> None:
    keys = set(fitted.keys)
    assert {"total", "category=供水", "category=交通|district=渝中区"} <= keys
    assert not any(k.startswith("district=") for k in keys)  # level not asked for
    busy, empty = fitted.model("category=供水|district=江北区"), fitted.model("category=交通|district=渝中区")
    assert busy.mode == "model" and busy.head in ("seasonal_naive", "ets")
    # 0.2 calls/day: forecast as a share of its category, not with its own heads.
    assert empty.mode == "share" and empty.parent == "category=交通" and 0 < empty.share < 0.2
    m = fitted.metrics
    assert m["n_share"] >= 1 and "total" in m["levels"] and "category" in m["levels"]
    assert set(m["levels"]["total"]["coverage"]) == {"0.8", "0.95"}


def test_predict_has_ordered_intervals_and_share_series_stay_small(fitted: Forecaster) -> None:
    table = fitted.predict(horizon=5)
    assert len(table) == 5 * len(fitted.keys)
    assert (table["lower_95"] <= table["lower_80"] + 1e-9).all()
    assert (table["lower_80"] <= table["mean"] + 1e-9).all() and (
        table["mean"] <= table["upper_80"] + 1e-9
    ).all()
    assert (table["upper_80"] <= table["upper_95"] + 1e-9).all()
    assert table["date"].iloc[0] == "2025-06-02"  # the day after the last signal
    child = table[table["series"] == "category=交通|district=渝中区"]["mean"].to_numpy()
    parent = table[table["series"] == "category=交通"]["mean"].to_numpy()
    assert np.all(child <= parent)


def test_save_load_round_trip_gives_identical_predictions(fitted: Forecaster, tmp_path) -> None:
    out = fitted.save(tmp_path / "fc")
    for name in (
        "forecast_config.json",
        "series.json",
        "heads.json",
        "heads.safetensors",
        "metrics.json",
        "README.md",
    ):
        assert (out / name).exists(), name
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.pt"))
    loaded = Forecaster.load(out)
    pd.testing.assert_frame_equal(loaded.predict(horizon=9), fitted.predict(horizon=9))
    assert json.loads((out / "forecast_config.json").read_text(encoding="utf-8"))["heads"] == [
        "seasonal_naive",
        "ets",
    ]


def test_round_trip_with_torch_and_boosting_heads(tmp_path) -> None:
    cfg = small_config(heads=("seasonal_naive", "gbm", "mlp"), levels=("total",), combo=True)
    fc = Forecaster.fit(make_signals(77, seed=2, cells=(("a", "x", 9.0),)), cfg)
    assert fc.model("total").head in ("seasonal_naive", "gbm", "mlp", "combo")
    # Force each learned head in turn so that both persistence paths are exercised.
    for head in ("mlp", "gbm"):
        sm = fc.model("total")
        sm.head, sm.members, sm.interval = head, [head], "conformal"
        sm.offsets = {"0.025": -2.0, "0.1": -1.0, "0.9": 1.0, "0.975": 2.0}
        fc._heads["total"] = {head: make_head(head, cfg).fit(fc.history("total"))}
        loaded = Forecaster.load(fc.save(tmp_path / head))
        pd.testing.assert_frame_equal(loaded.predict("total", 8), fc.predict("total", 8))


def test_unknown_series_names_the_closest_ones(fitted: Forecaster) -> None:
    with pytest.raises(UnknownSeriesError, match="did you mean") as err:
        fitted.predict("category=供水|district=江北")
    assert isinstance(err.value, HotlineError)
    with pytest.raises(UnknownSeriesError, match="did you mean 'category=供水'"):
        fitted.predict("category供水")
    with pytest.raises(UnknownSeriesError, match="malformed"):
        parse_series_key("category供水")


def test_too_short_all_zero_and_malformed_signals_give_clear_errors() -> None:
    with pytest.raises(SignalsError, match="at least 14 days"):
        Forecaster.fit(make_signals(10), small_config())
    zeros = make_signals(30).assign(calls=0)
    with pytest.raises(SignalsError, match="every calls count is zero"):
        Forecaster.fit(zeros, small_config())
    with pytest.raises(SignalsError, match="missing column"):
        validate_signals(make_signals(20).drop(columns=["calls"]))
    bad = make_signals(20)
    bad.loc[5, "date"] = "2025-13-45"
    with pytest.raises(SignalsError, match="row 6"):
        validate_signals(bad)
    dup = pd.concat([make_signals(20), make_signals(20).head(1)])
    with pytest.raises(SignalsError, match="duplicate rows"):
        validate_signals(dup)
    neg = make_signals(20)
    neg.loc[3, "calls"] = -1
    with pytest.raises(SignalsError, match="non-negative"):
        validate_signals(neg)


def test_short_history_falls_back_to_seasonal_naive_without_backtest(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        fc = Forecaster.fit(make_signals(30), small_config())
    assert "no backtest" in caplog.text
    assert all(m.head in ("seasonal_naive", "share") for m in fc.models.values())
    table = fc.predict("total", 7)
    assert np.isfinite(table["upper_95"]).all()


def test_gaps_in_dates_are_zero_filled_with_a_warning_or_rejected(caplog, tmp_path) -> None:
    sig = make_signals(70)
    gappy = sig[sig["date"] != "2025-03-20"]
    with caplog.at_level(logging.WARNING):
        clean = validate_signals(gappy)
    assert "1 date(s)" in caplog.text and "2025-03-20" in caplog.text
    assert len(clean) == len(gappy)
    with pytest.raises(SignalsError, match="zero-fills"):
        validate_signals(gappy, gaps="error")
    path = tmp_path / "signals.csv"
    gappy.to_csv(path, index=False)
    fc = Forecaster.fit(read_signals_file(path), small_config(n_origins=0))
    assert fc.history("total").loc["2025-03-20"] == 0


def test_config_is_validated_with_actionable_messages() -> None:
    with pytest.raises(ConfigError, match="choose from"):
        ForecastConfig(heads=("seasonal_naive", "prophet"))
    with pytest.raises(ConfigError, match="must include 'seasonal_naive'"):
        ForecastConfig(heads=("ets",))
    with pytest.raises(ConfigError, match="coverage levels"):
        ForecastConfig(intervals=(0.8, 1.2))
    cfg = ForecastConfig()
    assert ForecastConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_missing_model_directory_says_how_to_fit_one(tmp_path) -> None:
    with pytest.raises(ForecastModelError, match="hotline forecast fit"):
        Forecaster.load(tmp_path / "nope")


def test_signals_from_complaints_follow_the_contract() -> None:
    complaints = pd.DataFrame(
        {
            "time": ["2019-02-01 10:00", "2019-02-01 11:00", "2019-02-04 09:00"],
            "label": ["交通", "交通", "教育"],
            "district": ["A1区", "A2区", "A1区"],
        }
    )
    sig = signals_from_complaints(complaints)
    assert list(sig.columns)[:4] == ["date", "category", "district", "calls"]
    assert len(sig) == 4 * 3  # 4 days × 3 observed pairs, zero-filled
    assert int(sig["calls"].sum()) == 3
    day = sig[sig["date"] == "2019-02-04"].iloc[0]
    assert bool(day["is_holiday"]) and not bool(day["is_workday"])  # 春节 2019
