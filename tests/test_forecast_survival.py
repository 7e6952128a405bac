"""Time-to-reply: known medians, a planted hazard ratio, censoring, deadlines, persistence."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError
from forecasting.cases import keyword_category, prepare_cases, read_cases
from forecasting.config import SurvivalConfig
from forecasting.errors import ForecastModelError, SurvivalDataError
from forecasting.survival import SurvivalModel

EXPORT = pd.Timestamp("2025-05-01")  # when the synthetic log was exported


def exponential_log(
    n: int = 1500, *, rate: float = 1 / 24, hazard_ratio: float = 2.0, seed: int = 0
) -> pd.DataFrame:
    """Reply times in hours, exponential; category 'fast' is answered ``hazard_ratio`` times sooner.

    Cases are filed over the 60 days before :data:`EXPORT`; those whose reply comes after it
    are still open in the log (no reply_time), as in a real export.
    """
    rng = np.random.default_rng(seed)
    start = EXPORT - pd.to_timedelta(rng.uniform(0, 60 * 24, n), unit="h")
    fast = rng.random(n) < 0.5
    wait = rng.exponential(1 / (rate * np.where(fast, hazard_ratio, 1.0)))
    reply = pd.Series(start + pd.to_timedelta(wait, unit="h"))
    reply = reply.where(reply <= EXPORT)
    return pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "time": start.strftime("%Y-%m-%d %H:%M:%S"),
            "reply_time": reply.dt.strftime("%Y-%m-%d %H:%M:%S"),
            "category": np.where(fast, "fast", "slow"),
            "district": rng.choice(["江北区", "渝中区"], n),
            "title": "反映问题",
            "text": "小区门口路灯不亮",
            "urgency": "一般",
        }
    )


HOURS = SurvivalConfig(unit="hours", covariates=("category",), min_level_count=5, penalizer=0.0)


def test_kaplan_meier_median_matches_the_exponential() -> None:
    log = exponential_log(hazard_ratio=1.0)
    cases = prepare_cases(log, HOURS, analysis_date=EXPORT)
    assert cases["open"].sum() > 10
    model = SurvivalModel.fit(cases, HOURS)
    # Median of an exponential with rate 1/24 h: 24 ln 2 = 16.6 h.
    assert model.km["all"]["median"][0] == pytest.approx(24 * math.log(2), rel=0.1)


def test_cox_recovers_the_planted_hazard_ratio() -> None:
    log = exponential_log(hazard_ratio=2.0, seed=1)
    cases = prepare_cases(log, HOURS, analysis_date=EXPORT)
    model = SurvivalModel.fit(cases, HOURS)
    # 'fast' is the baseline when it is the most frequent level; read the ratio either way.
    ((name, coef),) = model.params.items()
    hr = math.exp(coef) if name == "category=slow" else math.exp(-coef)
    assert hr == pytest.approx(0.5, abs=0.1), model.params
    assert model.metrics["coefficients"][name]["p"] < 1e-6
    assert 0.55 < model.metrics["concordance_train"] < 0.75


def test_open_and_late_replies_are_censored_at_the_analysis_date() -> None:
    log = exponential_log(n=200, seed=2)
    asof = "2025-04-25"
    cases = prepare_cases(log, HOURS, analysis_date=asof)
    assert (pd.to_datetime(cases["time"]) <= pd.Timestamp(asof)).all()  # later filings dropped
    open_ = cases["open"]
    assert (~cases.loc[open_, "event"]).all()
    late = pd.to_datetime(cases["reply_time"]) > pd.Timestamp(asof)
    assert (~cases.loc[late, "event"]).all()
    expected = (pd.Timestamp(asof) - pd.to_datetime(cases.loc[late, "time"])) / pd.Timedelta(hours=1)
    np.testing.assert_allclose(cases.loc[late, "duration"], expected, rtol=1e-6)


def test_working_day_durations_skip_weekends_and_holidays() -> None:
    log = pd.DataFrame(
        {
            "time": ["2019-01-25 18:00:00", "2019-02-01 12:00:00"],  # Friday evening; before 春节
            "reply_time": ["2019-01-28 09:00:00", "2019-02-11 12:00:00"],
            "text": ["路灯不亮", "路灯不亮"],
        }
    )
    cases = prepare_cases(log, SurvivalConfig())
    # 0.25 of Friday + 0.375 of Monday; 1 Feb noon -> 11 Feb noon crosses 2-3 Feb (调休, worked)
    # and the 4-10 Feb holiday: 0.5 + 2 + 0.5 = 3 working days.
    np.testing.assert_allclose(cases["duration"], [0.625, 3.0], atol=1e-9)


def test_predict_deadline_risk_and_round_trip(tmp_path) -> None:
    log = exponential_log(n=600, seed=3, rate=1 / 40)
    cfg = SurvivalConfig(
        covariates=("category", "district", "text_length", "urgency", "weekday"), min_level_count=5
    )
    model = SurvivalModel.fit(prepare_cases(log, cfg, analysis_date=EXPORT), cfg)
    risk = model.predict(log, deadline_days=3, as_of=EXPORT)
    assert len(risk) == int(log["reply_time"].isna().sum()) > 5
    assert risk["p_unanswered_at_deadline"].between(0, 1).all()
    assert (risk["expected_remaining"] >= 0).all()
    assert risk["p_unanswered_at_deadline"].is_monotonic_decreasing
    overdue = risk[risk["overdue"]]
    assert (overdue["p_unanswered_at_deadline"] == 1.0).all()
    # A later deadline can only be less likely to be missed.
    later = model.predict(log, deadline_days=10, as_of=EXPORT).set_index("id")["p_unanswered_at_deadline"]
    assert (later.loc[risk["id"]].to_numpy() <= risk["p_unanswered_at_deadline"].to_numpy() + 1e-9).all()
    out = model.save(tmp_path / "sv")
    assert {"cox.json", "km.json", "survival_config.json", "metrics.json", "README.md"} <= {
        p.name for p in out.iterdir()
    }
    loaded = SurvivalModel.load(out)
    pd.testing.assert_frame_equal(loaded.predict(log, deadline_days=3, as_of=EXPORT), risk)
    assert len(loaded.at_risk(top=3)) <= 3


def test_matches_lifelines_survival_function() -> None:
    from lifelines import CoxPHFitter

    from forecasting.survival import _design

    log = exponential_log(n=300, seed=4)
    cfg = SurvivalConfig(unit="hours", covariates=("category", "district"), min_level_count=5, penalizer=0.1)
    cases = prepare_cases(log, cfg)
    model = SurvivalModel.fit(cases, cfg)
    X = _design(cases, cfg, model.levels)[model.columns]
    cph = CoxPHFitter(penalizer=0.1).fit(X.assign(d=cases["duration"], e=cases["event"]), "d", "e")
    times = np.array([1.0, 10.0, 30.0, 80.0])
    theirs = cph.predict_survival_function(X.head(6), times=times).T.to_numpy()
    np.testing.assert_allclose(model.survival(cases.head(6), times), theirs, atol=1e-6)


def test_rare_levels_are_pooled_and_unknown_levels_predict() -> None:
    log = exponential_log(n=400, seed=5)
    log.loc[:4, "district"] = "小镇"  # 5 rows only
    cfg = SurvivalConfig(unit="hours", covariates=("district",), min_level_count=20)
    model = SurvivalModel.fit(prepare_cases(log, cfg), cfg)
    assert "小镇" not in model.levels["district"]
    new = log.head(3).assign(district="火星区", reply_time=None)
    assert len(model.predict(new, as_of="2025-06-01")) == 3


def test_bad_inputs_give_clear_errors(tmp_path) -> None:
    with pytest.raises(SurvivalDataError, match="no 'time' column"):
        prepare_cases(pd.DataFrame({"when": ["2025-01-01"]}))
    with pytest.raises(SurvivalDataError, match="at least 20 cases"):
        SurvivalModel.fit(prepare_cases(exponential_log(n=8)))
    with pytest.raises(ConfigError, match="unit"):
        SurvivalConfig(unit="days")
    with pytest.raises(ForecastModelError, match="hotline survival fit"):
        SurvivalModel.load(tmp_path)
    path = tmp_path / "log.csv"
    pd.DataFrame({"id": ["1"], "time": ["2025-01-01 10:00"], "text": ["路灯不亮"]}).to_csv(path, index=False)
    with pytest.raises(SurvivalDataError, match="reply-time column"):
        read_cases(path)


def test_keyword_categories_and_urgency_from_text() -> None:
    assert keyword_category("咨询公积金贷款买房问题") == "劳动和社会保障"
    assert keyword_category("你好") == "other"
    log = pd.DataFrame(
        {
            "time": ["2025-01-02 10:00"],
            "reply_time": ["2025-01-03 10:00"],
            "title": ["咨询"],
            "text": ["小区闻到很浓的煤气味"],
        }
    )
    cases = prepare_cases(log)
    assert cases.loc[0, "urgency"] == 2.0 and cases.loc[0, "request_type"] == "咨询"
    assert cases.attrs["category_source"] == "keyword rule"
