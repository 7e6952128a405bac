"""Time-to-reply risk: Kaplan-Meier curves per category and a Cox proportional-hazards model.

Cases (durations in working days or hours, censoring, covariates) come from
:mod:`forecasting.cases`. Categorical covariates (category, district, weekday, request type)
keep levels with at least ``min_level_count`` rows and pool the rest into ``other``; the most
frequent level is the baseline.

For an open case that has waited ``e`` so far, the probability that it is still unanswered at
the deadline ``d`` is ``S(d | x) / S(e | x)``, and its expected remaining time is the restricted
mean ``∫_e^τ S(t | x) dt / S(e | x)`` with ``τ`` the longest duration seen in training (the
curve is unknown beyond it, so for slow cases this is a lower bound).

Saved as a directory: ``survival_config.json``, ``cox.json`` (coefficients, covariate means,
Breslow baseline cumulative hazard, covariate levels), ``km.json`` (curves per category),
``metrics.json``, ``open_cases.csv`` (open cases of the training data: ids, times and
covariates, no text) and ``README.md``. No pickles: prediction is computed from the JSON.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.files import atomic_write_json, atomic_write_text
from events.calendar import add_working_days
from forecasting.cases import OTHER, duration_between, prepare_cases
from forecasting.config import SurvivalConfig
from forecasting.errors import ForecastModelError, SurvivalDataError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


@dataclass
class SurvivalModel:
    """A fitted time-to-reply model (see the module docstring)."""

    config: SurvivalConfig
    levels: dict[str, list[str]]  # categorical covariate -> kept levels (baseline first)
    columns: list[str]
    params: dict[str, float]
    norm_mean: dict[str, float]
    baseline_times: np.ndarray
    baseline_cumhaz: np.ndarray
    km: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    open_cases: pd.DataFrame | None = None
    analysis_date: str = ""

    # -- fitting -------------------------------------------------------------------------------

    @classmethod
    def fit(cls, cases: pd.DataFrame, config: SurvivalConfig | None = None) -> SurvivalModel:
        """Fit on prepared cases (:func:`prepare_cases`)."""
        from lifelines import CoxPHFitter, KaplanMeierFitter

        config = config or SurvivalConfig()
        if len(cases) < 20 or int(cases["event"].sum()) < 10:
            raise SurvivalDataError(
                f"only {len(cases)} case(s) with {int(cases['event'].sum())} repl(ies): a reply-time model needs at "
                "least 20 cases and 10 replies"
            )
        levels = {cov: _keep_levels(cases[cov], config) for cov in CATEGORICAL if cov in config.covariates}
        X = _design(cases, config, levels)
        keep = [c for c in X.columns if X[c].nunique() > 1]
        X = X[keep]
        df = X.assign(duration=cases["duration"].to_numpy(), event=cases["event"].astype(bool).to_numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cph = CoxPHFitter(penalizer=config.penalizer).fit(df, "duration", "event")
        base = cph.baseline_cumulative_hazard_.iloc[:, 0]
        model = cls(
            config=config,
            levels=levels,
            columns=keep,
            params={k: float(v) for k, v in cph.params_.items()},
            norm_mean={k: float(v) for k, v in cph._norm_mean.items()},
            baseline_times=base.index.to_numpy(dtype=float),
            baseline_cumhaz=base.to_numpy(dtype=float),
            analysis_date=str(cases.attrs.get("analysis_date", "")),
        )
        # Kaplan-Meier per category (pooled levels), as step curves with 95% confidence bands.
        cats = _pool(cases["category"], levels.get("category") or _keep_levels(cases["category"], config))
        curves: dict[str, dict[str, list[float]]] = {}
        for name, grp in [("all", cases), *((c, cases[cats == c]) for c in sorted(cats.unique()))]:
            if len(grp) < 5:
                continue
            km = KaplanMeierFitter().fit(grp["duration"], grp["event"].astype(bool))
            sf = km.survival_function_.iloc[:, 0]
            ci = km.confidence_interval_survival_function_
            idx = np.unique(np.linspace(0, len(sf) - 1, min(len(sf), config.km_points)).round().astype(int))
            med = km.median_survival_time_
            curves[name] = {
                "time": [round(float(v), 4) for v in sf.index.to_numpy()[idx]],
                "survival": [round(float(v), 5) for v in sf.to_numpy()[idx]],
                "lower": [round(float(v), 5) for v in ci.iloc[idx, 0].to_numpy()],
                "upper": [round(float(v), 5) for v in ci.iloc[idx, 1].to_numpy()],
                "n": [len(grp)],
                "median": [float(med) if math.isfinite(med) else None],
            }
        model.km = curves
        summary = cph.summary
        model.metrics = {
            "n_cases": len(cases),
            "n_replied": int(cases["event"].sum()),
            "n_censored": int((~cases["event"].astype(bool)).sum()),
            "n_open": int(cases["open"].sum()) if "open" in cases else 0,
            "unit": config.unit,
            "analysis_date": model.analysis_date,
            "category_source": cases.attrs.get("category_source", ""),
            "concordance_train": round(float(cph.concordance_index_), 4),
            "median_by_category": {k: v["median"][0] for k, v in curves.items()},
            "coefficients": {
                k: {
                    "coef": round(float(summary.at[k, "coef"]), 5),
                    "hazard_ratio": round(float(summary.at[k, "exp(coef)"]), 5),
                    "ci_lower": round(float(summary.at[k, "exp(coef) lower 95%"]), 5),
                    "ci_upper": round(float(summary.at[k, "exp(coef) upper 95%"]), 5),
                    "p": float(summary.at[k, "p"]),
                }
                for k in summary.index
            },
        }
        if "open" in cases and cases["open"].any():
            model.open_cases = cases.loc[cases["open"], _OPEN_COLUMNS].reset_index(drop=True)
        return model

    # -- prediction ----------------------------------------------------------------------------

    def log_partial_hazard(self, cases: pd.DataFrame) -> np.ndarray:
        X = _design(cases, self.config, self.levels).reindex(columns=self.columns, fill_value=0.0)
        beta = np.array([self.params[c] for c in self.columns])
        mu = np.array([self.norm_mean[c] for c in self.columns])
        return (X.to_numpy(dtype=float) - mu) @ beta

    def survival(self, cases: pd.DataFrame, times: np.ndarray) -> np.ndarray:
        """S(t | x): rows are cases, ``times`` is (n_times,) or (n_cases, n_times)."""
        risk = np.exp(self.log_partial_hazard(cases))
        t = np.atleast_1d(np.asarray(times, dtype=float))
        # lifelines interpolates the Breslow cumulative hazard linearly; do the same.
        H0 = np.interp(t, self.baseline_times, self.baseline_cumhaz, left=0.0, right=self.baseline_cumhaz[-1])
        if H0.ndim == 1:
            return np.exp(-np.outer(risk, H0))
        return np.exp(-risk[:, None] * H0)

    def concordance(self, cases: pd.DataFrame) -> float:
        from lifelines.utils import concordance_index

        return float(concordance_index(cases["duration"], -self.log_partial_hazard(cases), cases["event"]))

    def predict(
        self,
        frame: pd.DataFrame,
        *,
        deadline_days: float | None = None,
        as_of: str | pd.Timestamp | None = None,
        open_only: bool = True,
    ) -> pd.DataFrame:
        """Risk of missing the deadline for each open case of a log (or of prepared cases).

        Columns: ``id``, ``time``, ``category``, ``district``, ``elapsed`` (so far, in the model's
        unit), ``deadline`` (timestamp), ``p_unanswered_at_deadline``, ``expected_remaining``,
        ``median_remaining`` (NaN when the curve never halves), ``overdue``. ``as_of`` defaults
        to the latest timestamp in ``frame``.
        """
        deadline_days = float(deadline_days if deadline_days is not None else self.config.deadline_days)
        if deadline_days <= 0:
            raise SurvivalDataError(f"deadline must be > 0 working days, got {deadline_days}")
        cases = (
            frame if "duration" in frame.columns else prepare_cases(frame, self.config, analysis_date=as_of)
        )
        if open_only and "open" in cases:
            cases = cases[cases["open"].astype(bool)].reset_index(drop=True)
        if cases.empty:
            return pd.DataFrame(columns=_PREDICT_COLUMNS)
        now = (
            pd.Timestamp(as_of)
            if as_of is not None
            else pd.Timestamp(cases.attrs.get("analysis_date") or "now")
        )
        start = pd.to_datetime(cases["time"])
        elapsed = np.maximum(duration_between(start, now, self.config.unit), 0.0)
        deadline_ts = add_working_days(start, deadline_days)
        due = (
            np.full(len(cases), deadline_days)
            if self.config.unit == "workdays"
            else duration_between(start, pd.Series(deadline_ts), "hours")
        )
        tau = float(self.baseline_times[-1])
        grid = np.linspace(0.0, max(tau, float(np.max(due))), 400)
        S = self.survival(cases, grid)  # (n, g)
        S_e = self.survival(cases, np.column_stack([elapsed]))[:, 0]
        S_d = self.survival(cases, np.column_stack([due]))[:, 0]
        p = np.where(elapsed >= due, 1.0, S_d / np.maximum(S_e, 1e-12))
        exp_rem = np.empty(len(cases))
        med_rem = np.full(len(cases), np.nan)
        for i in range(len(cases)):
            after = grid > elapsed[i]
            ts = np.concatenate([[elapsed[i]], grid[after & (grid <= tau)]])
            ss = np.concatenate([[S_e[i]], S[i, after & (grid <= tau)]]) / max(S_e[i], 1e-12)
            exp_rem[i] = float(np.trapezoid(ss, ts)) if len(ts) > 1 else 0.0
            below = np.flatnonzero(ss <= 0.5)
            if len(below):
                med_rem[i] = ts[below[0]] - elapsed[i]
        out = pd.DataFrame(
            {
                "id": cases["id"].astype(str),
                "time": start.dt.strftime("%Y-%m-%d %H:%M:%S"),
                "category": cases["category"],
                "district": cases["district"],
                "elapsed": np.round(elapsed, 3),
                "deadline": pd.DatetimeIndex(deadline_ts).strftime("%Y-%m-%d %H:%M"),
                "p_unanswered_at_deadline": np.round(np.clip(p, 0.0, 1.0), 4),
                "expected_remaining": np.round(exp_rem, 3),
                "median_remaining": np.round(med_rem, 3),
                "overdue": elapsed >= due,
                "unit": self.config.unit,
            }
        )
        return out.sort_values("p_unanswered_at_deadline", ascending=False, kind="stable").reset_index(
            drop=True
        )

    def at_risk(self, *, top: int = 5, threshold: float = 0.5, as_of: str | None = None) -> pd.DataFrame:
        """The stored open cases most likely to miss the deadline (for the decision summary)."""
        if self.open_cases is None or self.open_cases.empty:
            return pd.DataFrame(columns=_PREDICT_COLUMNS)
        cases = self.open_cases.copy()
        cases.attrs["analysis_date"] = self.analysis_date
        pred = self.predict(cases, as_of=as_of or self.analysis_date or None)
        return pred[pred["p_unanswered_at_deadline"] >= threshold].head(top)

    # -- persistence ---------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike[str]) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.config.save(out / "survival_config.json")
        atomic_write_json(
            out / "cox.json",
            {
                "format_version": FORMAT_VERSION,
                "analysis_date": self.analysis_date,
                "levels": self.levels,
                "columns": self.columns,
                "params": self.params,
                "norm_mean": self.norm_mean,
                "baseline": {
                    "time": self.baseline_times.tolist(),
                    "cumulative_hazard": self.baseline_cumhaz.tolist(),
                },
            },
        )
        atomic_write_json(out / "km.json", self.km)
        atomic_write_json(out / "metrics.json", self.metrics)
        if self.open_cases is not None:
            oc = self.open_cases.copy()
            oc["time"] = pd.to_datetime(oc["time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
            oc.to_csv(out / "open_cases.csv", index=False, encoding="utf-8")
        atomic_write_text(out / "README.md", self.model_card())
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SurvivalModel:
        d = Path(directory)
        if not (d / "cox.json").exists() or not (d / "survival_config.json").exists():
            raise ForecastModelError(
                f"{d} is not a survival model directory (no cox.json / survival_config.json); fit one with "
                f"`hotline survival fit --data FILE -o {d}`"
            )
        cox = json.loads((d / "cox.json").read_text(encoding="utf-8"))
        if cox.get("format_version", 1) > FORMAT_VERSION:
            raise ForecastModelError(f"{d} was written by a newer hotline; upgrade hotline")
        open_cases = None
        if (d / "open_cases.csv").exists():
            open_cases = pd.read_csv(d / "open_cases.csv", dtype={"id": str}, encoding="utf-8")
            open_cases["time"] = pd.to_datetime(open_cases["time"])
            open_cases["open"] = True
        return cls(
            config=SurvivalConfig.load(d / "survival_config.json"),
            levels={k: list(v) for k, v in cox["levels"].items()},
            columns=list(cox["columns"]),
            params={k: float(v) for k, v in cox["params"].items()},
            norm_mean={k: float(v) for k, v in cox["norm_mean"].items()},
            baseline_times=np.asarray(cox["baseline"]["time"], dtype=float),
            baseline_cumhaz=np.asarray(cox["baseline"]["cumulative_hazard"], dtype=float),
            km=json.loads((d / "km.json").read_text(encoding="utf-8")) if (d / "km.json").exists() else {},
            metrics=json.loads((d / "metrics.json").read_text(encoding="utf-8"))
            if (d / "metrics.json").exists()
            else {},
            open_cases=open_cases,
            analysis_date=str(cox.get("analysis_date", "")),
        )

    def model_card(self) -> str:
        m = self.metrics
        unit = "working days" if self.config.unit == "workdays" else "hours"
        lines = [
            "# Time-to-reply model (hotline)",
            "",
            f"Cox proportional hazards on {m.get('n_cases')} cases ({m.get('n_replied')} replied, "
            f"{m.get('n_censored')} censored at {self.analysis_date or 'the analysis date'}); durations in {unit}. "
            f"Categories from: {m.get('category_source') or 'the log'}.",
            "Produced by `hotline survival fit`; predict with `hotline survival predict --model DIR --data FILE`.",
            "",
            f"- concordance (training data): {m.get('concordance_train')}",
            f"- deadline default: {self.config.deadline_days:g} working days",
            f"- covariates: {', '.join(self.config.covariates)}; rare levels (< {self.config.min_level_count} rows) "
            "pooled into `other`",
            "",
            "## Median time to reply (Kaplan-Meier)",
            "",
            "| category | cases | median |",
            "| --- | --- | --- |",
        ]
        for k, v in self.km.items():
            lines.append(
                f"| {k} | {v['n'][0]} | {v['median'][0] if v['median'][0] is not None else 'not reached'} |"
            )
        lines += [
            "",
            "## Hazard ratios (> 1: answered sooner)",
            "",
            "| covariate | HR | 95% CI | p |",
            "| --- | --- | --- | --- |",
        ]
        for k, c in m.get("coefficients", {}).items():
            lines.append(
                f"| {k} | {c['hazard_ratio']:.3f} | {c['ci_lower']:.3f}-{c['ci_upper']:.3f} | {c['p']:.3g} |"
            )
        lines += [
            "",
            "## Limits",
            "",
            "- Proportional hazards is an assumption; check the KM curves per category (`--plot`).",
            "- Expected remaining time is restricted to the longest duration seen in training.",
            "",
        ]
        return "\n".join(lines)


CATEGORICAL = ("category", "district", "weekday", "request_type")
_OPEN_COLUMNS = ["id", "time", "category", "district", "text_length", "urgency", "weekday", "request_type"]
_PREDICT_COLUMNS = [
    "id", "time", "category", "district", "elapsed", "deadline", "p_unanswered_at_deadline",
    "expected_remaining", "median_remaining", "overdue", "unit",
]  # fmt: skip


def _keep_levels(values: pd.Series, config: SurvivalConfig) -> list[str]:
    counts = values.astype(str).value_counts()
    kept = [str(k) for k, n in counts.items() if n >= config.min_level_count and k != OTHER][
        : config.max_levels
    ]
    return kept or [str(counts.index[0])]


def _pool(values: pd.Series, kept: list[str]) -> pd.Series:
    v = values.astype(str)
    return v.where(v.isin(kept), OTHER)


def _design(cases: pd.DataFrame, config: SurvivalConfig, levels: dict[str, list[str]]) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for cov in config.covariates:
        if cov in levels:
            pooled = _pool(cases[cov], levels[cov])
            # The most frequent kept level is the baseline (no column).
            for lv in [*levels[cov][1:], OTHER]:
                cols[f"{cov}={lv}"] = (pooled == lv).to_numpy(dtype=float)
        else:
            cols[cov] = cases[cov].to_numpy(dtype=float)
    return pd.DataFrame(cols, index=cases.index)


def time_split_evaluation(
    cases_frame: pd.DataFrame, config: SurvivalConfig | None = None, *, train_fraction: float = 0.8
) -> dict[str, Any]:
    """Concordance on later submissions of a model trained on earlier ones.

    The raw log is split at the ``train_fraction`` quantile of submission time; training cases
    are censored at the split time (replies after it are not yet known then), test cases keep
    their full follow-up.
    """
    config = config or SurvivalConfig()
    t = pd.to_datetime(cases_frame["time"], errors="coerce", format="mixed")
    cut = t.quantile(train_fraction)
    train = prepare_cases(cases_frame[t <= cut], config, analysis_date=cut, source="train split")
    test = prepare_cases(cases_frame[t > cut], config, source="test split")
    model = SurvivalModel.fit(train, config)
    return {
        "split_time": f"{cut:%Y-%m-%d %H:%M}",
        "n_train": len(train),
        "n_train_replied": int(train["event"].sum()),
        "n_test": len(test),
        "n_test_replied": int(test["event"].sum()),
        "concordance_train": model.metrics["concordance_train"],
        "concordance_test": round(model.concordance(test), 4),
        "model": model,
    }


def load_survival(directory: str | os.PathLike[str]) -> SurvivalModel:
    """Load a directory written by :meth:`SurvivalModel.save` (``hotline survival fit``)."""
    return SurvivalModel.load(directory)
