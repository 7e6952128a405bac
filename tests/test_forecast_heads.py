"""Forecasting heads and the backtest on synthetic series with a known weekly cycle and trend."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from events.calendar import add_working_days, day_calendar, working_clock
from forecasting.backtest import add_combo, choose, conformal_offsets, coverage, mase_scale, run_backtest
from forecasting.heads import HEAD_CLASSES, make_head
from tests.test_forecast_common import WEEKLY, small_config, weekly_series


def test_ets_recovers_planted_weekly_cycle_and_trend() -> None:
    y = weekly_series(126, level=30, trend=0.1, seed=3)
    cfg = small_config()
    fc = make_head("ets", cfg).fit(y).forecast(y, 14)
    dates = pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=14)
    truth = (30 + 0.1 * np.arange(126, 140)) * WEEKLY[dates.dayofweek]
    # The forecast follows the weekly shape (weekends low) and the level the trend reached.
    assert np.corrcoef(fc.mean, truth)[0, 1] > 0.9
    assert abs(fc.mean.mean() / truth.mean() - 1) < 0.15
    lo, hi = fc.quantiles[0.1], fc.quantiles[0.9]
    assert np.all(lo <= fc.mean + 1e-9) and np.all(fc.mean <= hi + 1e-9)


def test_learned_heads_beat_seasonal_naive_on_a_noisy_weekly_series() -> None:
    y = weekly_series(133, level=12, trend=0.03, seed=5)
    cfg = small_config(n_origins=4, origin_step=7)
    bt = run_backtest(y, "total", cfg, ("seasonal_naive", "ets"))
    # Seasonal naive carries last week's noise into next week; a smoothed model does not.
    assert bt.mase("ets") < 0.9 * bt.mase("seasonal_naive")
    choice = choose(bt, cfg)
    assert choice.head == "ets"
    assert set(choice.coverage) == {0.8, 0.95}


@pytest.mark.parametrize("name", ["sarima", "gbm", "mlp"])
def test_other_heads_forecast_sane_values_and_round_trip(name: str) -> None:
    y = weekly_series(98, level=15, seed=2)
    cfg = small_config()
    head = make_head(name, cfg).fit(y)
    fc = head.forecast(y, 10)  # longer than the fitted horizon: the MLP rolls forward
    assert fc.mean.shape == (10,)
    assert np.all(np.isfinite(fc.mean)) and np.all(fc.mean >= 0)
    assert 0.4 * y.mean() < fc.mean.mean() < 1.8 * y.mean()
    if fc.quantiles is not None:
        qs = [fc.quantiles[q] for q in (0.025, 0.1)] + [fc.mean] + [fc.quantiles[q] for q in (0.9, 0.975)]
        assert all(np.all(a <= b + 1e-6) for a, b in itertools.pairwise(qs))
    again = HEAD_CLASSES[name].from_state(cfg, head.get_state(), head.get_tensors(), y)
    np.testing.assert_array_equal(again.forecast(y, 10).mean, fc.mean)


def test_heads_apply_to_a_newer_history_without_refitting() -> None:
    y = weekly_series(112, level=10, seed=4)
    cfg = small_config()
    head = make_head("ets", cfg).fit(y.iloc[:100])
    fc = head.forecast(y, 3)  # 12 more days than it was fitted on
    assert len(fc.mean) == 3 and np.all(np.isfinite(fc.mean))


def test_combo_and_conformal_intervals() -> None:
    y = weekly_series(112, level=8, seed=7)
    cfg = small_config(n_origins=4)
    bt = run_backtest(y, "total", cfg, ("seasonal_naive", "ets", "gbm"))
    members = add_combo(bt, ["ets", "gbm"])
    assert members == ["ets", "gbm"] and "combo" in bt.mean
    offs = conformal_offsets(bt.actual, bt.mean["combo"], (0.8,))
    assert offs[0.1] < 0 < offs[0.9]
    from forecasting.backtest import apply_offsets

    cov = coverage(bt.actual, apply_offsets(bt.mean["combo"], offs), (0.8,))[0.8]
    assert 0.7 <= cov <= 1.0


def test_mase_scale_falls_back_when_the_seasonal_difference_is_zero() -> None:
    assert mase_scale(np.zeros(30), 7) == 1.0
    # Constant weekly pattern: seasonal differences are 0, lag-1 differences average 1.5.
    assert mase_scale(np.tile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 3), 7) == pytest.approx(1.5)


def test_calendar_knows_holidays_makeup_days_and_falls_back_outside_coverage(caplog) -> None:
    cal = day_calendar(pd.date_range("2019-02-02", "2019-02-11"))
    assert bool(cal.loc["2019-02-02", "is_workday"])  # 调休: a working Saturday
    assert bool(cal.loc["2019-02-05", "is_holiday"]) and not bool(cal.loc["2019-02-05", "is_workday"])
    assert cal.loc["2019-02-11", "post_holiday"] == 1.0
    with caplog.at_level("WARNING"):
        far = day_calendar(pd.date_range("2031-09-30", "2031-10-02"))
    assert bool(far.loc["2031-10-01", "is_holiday"]) and not bool(far.loc["2031-09-30", "is_holiday"])
    assert "2031" in caplog.text


def test_working_clock_counts_only_working_time() -> None:
    t = pd.Series(pd.to_datetime(["2019-01-25 18:00", "2019-01-28 09:00"]))  # Friday evening, Monday
    clock = working_clock(t)
    assert clock[1] - clock[0] == pytest.approx(0.25 + 0.375)
    end = add_working_days(pd.Series(pd.to_datetime(["2019-01-25 18:00"])), 15)[0]
    # 15 working days across 春节 2019 (4-10 Feb off, 2-3 Feb worked).
    assert f"{end:%Y-%m-%d %H:%M}" == "2019-02-20 18:00"


def test_count_intervals_cover_close_to_nominal_on_sparse_counts() -> None:
    from scipy import stats

    from forecasting.backtest import count_intervals, qlevels

    rng = np.random.default_rng(0)
    means = np.repeat([0.3, 0.9, 1.5, 3.0, 12.0], 4000)
    counts = rng.poisson(means)
    qs = count_intervals(means, means, (0.8, 0.95))
    cov = coverage(counts, qs, (0.8, 0.95))
    plain = {lv: stats.poisson.ppf(lv, means) for c in (0.8, 0.95) for lv in qlevels(c)}
    plain_cov = coverage(counts, plain, (0.8, 0.95))
    # Plain quantile bounds of a discrete count over-cover; the chosen bounds are closer.
    assert plain_cov[0.8] > 0.86
    assert abs(cov[0.8] - 0.8) < abs(plain_cov[0.8] - 0.8) and 0.75 <= cov[0.8] <= 0.85
    assert 0.92 <= cov[0.95] <= 0.98
    # Mean 0.9: [0, 1] holds 77% of the mass, the quantile bounds [0, 2] hold 94%.
    i = int(np.argmax(means == 0.9))
    assert (qs[0.1][i], qs[0.9][i]) == (0.0, 1.0)
    # Nested intervals; overdispersed counts get wider ones; a zero mean gives [0, 0].
    assert np.all(qs[0.025] <= qs[0.1]) and np.all(qs[0.975] >= qs[0.9])
    wide = count_intervals(np.array([3.0]), np.array([9.0]), (0.8,))
    assert wide[0.9][0] > qs[0.9][int(np.argmax(means == 3.0))]
    zero = count_intervals(np.array([0.0]), np.array([0.0]), (0.8,))
    assert (zero[0.1][0], zero[0.9][0]) == (0.0, 0.0)
