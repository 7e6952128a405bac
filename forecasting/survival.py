"""Time-to-reply risk: Kaplan-Meier curves per category and a Cox proportional-hazards model.

Durations run from submission to the government's reply, in **working days** by default
(Chinese calendar, 调休 aware, fractional: each working day counts one unit spread over its 24
hours, days off count zero - the unit of the 12345 reply deadlines) or in wall-clock hours
(``unit="hours"``). Cases without a reply, and replies after the analysis date, are
right-censored at the analysis date (default: the latest timestamp in the data).

Covariates: category, district (categorical; levels with fewer than ``min_level_count`` rows
pooled into ``other``, the most frequent level is the baseline), text length (log of
characters), urgency (0 一般, 1 较急, 2 紧急; from the log's column, else from
:func:`nlp.urgency.assess_urgency`), weekday of submission (categorical) and the request type
(咨询/投诉/举报/建议/... from the title, :func:`request_type`). A log without a
category column gets one from a keyword rule (:func:`keyword_category`; the CLI can use a
trained classifier instead).

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
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from events.calendar import add_working_days, working_clock
from forecasting.config import SurvivalConfig
from forecasting.errors import ForecastModelError, SurvivalDataError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
OTHER = "other"
URGENCY_LEVELS = {"一般": 0.0, "较急": 1.0, "紧急": 2.0}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIN_DURATION = 1e-3

# First-level categories of the 12345 / 问政 taxonomy and words that mark them; a fallback for
# logs without a category column when no trained classifier is given.
KEYWORD_CATEGORIES: dict[str, tuple[str, ...]] = {
    "劳动和社会保障": ("工资", "社保", "养老", "医保", "退休", "劳动", "就业", "公积金", "失业", "欠薪", "人才", "工伤", "职称"),
    "城乡建设": ("物业", "拆迁", "房屋", "施工", "规划", "电梯", "违建", "征地", "房产", "业主", "开发商", "安置", "小区", "工地", "燃气", "供水", "供电"),
    "教育文体": ("学校", "教育", "学生", "老师", "教师", "幼儿园", "培训", "体育", "学位", "入学", "招生", "中学", "小学"),
    "环境保护": ("污染", "噪音", "排放", "环保", "臭", "油烟", "粉尘", "污水", "扰民", "废气", "垃圾焚烧", "河道"),
    "卫生计生": ("医院", "医生", "卫生", "医疗", "计生", "生育", "疫苗", "药", "诊所", "护士", "二胎", "新冠", "疫情"),
    "商贸旅游": ("商家", "消费", "旅游", "购物", "商场", "超市", "价格", "景区", "商户", "餐饮", "退款", "传销", "快递"),
    "交通运输": ("公交", "地铁", "出租车", "交通", "高速", "驾驶", "停车", "客运", "网约车", "单车", "道路", "红绿灯", "车辆"),
}  # fmt: skip
# Anonymised place names of the real reply data (A市, A7县, K2区); real names come from a column.
_DISTRICT_RE = re.compile(r"([A-Z]\d{0,2}[区县市])")
# What the citizen asks for, from the title: consultations are answered faster than complaints.
REQUEST_TYPES = ("咨询", "投诉", "举报", "建议", "求助", "反映", "请求", "希望")


def request_type(title: str) -> str:
    """The first request verb found in a title (``other`` when none)."""
    return next((w for w in REQUEST_TYPES if w in title), OTHER)


def keyword_category(text: str) -> str:
    """The category whose keywords occur most often in ``text`` (``other`` when none does)."""
    best, hits = OTHER, 0
    for cat, words in KEYWORD_CATEGORIES.items():
        n = sum(text.count(w) for w in words)
        if n > hits:
            best, hits = cat, n
    return best


def _col(frame: pd.DataFrame, *names: str) -> pd.Series | None:
    for n in names:
        if n in frame.columns:
            return frame[n]
    return None


def prepare_cases(
    frame: pd.DataFrame,
    config: SurvivalConfig | None = None,
    *,
    analysis_date: str | pd.Timestamp | None = None,
    source: str = "cases",
) -> pd.DataFrame:
    """Durations, events and covariates from a complaint/reply log.

    ``frame`` needs ``time`` (submission) and, for answered cases, ``reply_time``; ``id``,
    ``title``, ``text``, ``category`` (or ``label``), ``district``, ``urgency`` are used when
    present. Returns one row per usable case with ``duration`` (in ``config.unit``), ``event``
    (replied by the analysis date), ``open`` and the covariates.
    """
    config = config or SurvivalConfig()
    if "time" not in frame.columns:
        raise SurvivalDataError(
            f"no 'time' column (submission time); the file has: {', '.join(map(str, frame.columns))}",
            path=source,
        )
    from ingest.times import parse_times

    out = pd.DataFrame(index=frame.index)
    out["id"] = (frame["id"] if "id" in frame.columns else pd.Series(frame.index, index=frame.index)).astype(
        str
    )
    t, _ = parse_times(frame["time"])
    if "reply_time" in frame.columns:
        r, bad_r = parse_times(frame["reply_time"])
    else:
        r, bad_r = (
            pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]"),
            pd.Series(False, index=frame.index),
        )
    out["time"], out["reply_time"] = t, r
    drop = t.isna() | bad_r | (r.notna() & (r < t))
    if drop.any():
        logger.warning(
            "%s: %d row(s) skipped (missing/unparseable submission time, unparseable reply time, or a reply "
            "before the submission)",
            source,
            int(drop.sum()),
        )
    out = out[~drop].copy()
    frame = frame.loc[out.index]
    if out.empty:
        raise SurvivalDataError("no usable rows (every row lacks a valid submission time)", path=source)
    asof = pd.Timestamp(
        analysis_date or config.analysis_date or max(out["time"].max(), out["reply_time"].max())
    )
    if pd.isna(asof):
        asof = out["time"].max()
    out = out[out["time"] <= asof]
    frame = frame.loc[out.index]
    replied = out["reply_time"].notna() & (out["reply_time"] <= asof)
    end = out["reply_time"].where(replied, asof)
    out["event"] = replied.to_numpy()
    out["open"] = out["reply_time"].isna().to_numpy()
    out["duration"] = np.maximum(_elapsed(out["time"], end, config.unit), MIN_DURATION)
    text = _text_of(frame)
    cat = _col(frame, "category", "label")
    if cat is None or cat.fillna("").astype(str).str.strip().eq("").all():
        out["category"] = text.map(keyword_category).to_numpy()
        out.attrs["category_source"] = "keyword rule"
    else:
        out["category"] = cat.fillna("").astype(str).str.strip().replace("", OTHER).to_numpy()
        out.attrs["category_source"] = "column"
    dist = _col(frame, "district")
    if dist is None or dist.fillna("").astype(str).str.strip().eq("").all():
        found = text.str.extract(_DISTRICT_RE, expand=False)
        out["district"] = found.fillna(OTHER).to_numpy()
    else:
        out["district"] = dist.fillna("").astype(str).str.strip().replace("", OTHER).to_numpy()
    out["text_length"] = np.log1p(text.str.len().to_numpy(dtype=float))
    out["urgency"] = _urgency(frame, text).to_numpy()
    out["weekday"] = [WEEKDAYS[d] for d in out["time"].dt.dayofweek]
    title = frame["title"].fillna("").astype(str) if "title" in frame.columns else text.str.slice(0, 30)
    out["request_type"] = title.map(request_type).to_numpy()
    out.attrs["analysis_date"] = f"{asof:%Y-%m-%d %H:%M:%S}"
    return out.reset_index(drop=True)


EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "reply_time": ("reply_time", "replytime", "答复时间", "回复时间", "办结时间", "处理时间", "回复日期"),
    "urgency": ("urgency", "紧急程度", "紧急度", "缓急程度"),
    "status": ("status", "办理状态", "工单状态", "状态"),
    "category": ("category",),
}


def read_cases(
    path: str | os.PathLike[str],
    *,
    encoding: str | None = None,
    rejects: Any = None,
    require_reply: bool = True,
) -> pd.DataFrame:
    """Read a complaint/reply log (CSV/TSV/JSONL/XLSX/Parquet, UTF-8 or GBK) for the survival model.

    The canonical columns (masked title/text, time, district, label) come from
    :class:`ingest.readers.ComplaintReader`; ``reply_time``, ``urgency`` and ``status`` are taken from
    the source columns by name (English or Chinese headers). Fitting needs the reply time;
    scoring open cases does not (``require_reply=False``: every case without one is open).
    """
    from ingest.options import ReaderOptions
    from ingest.readers import ComplaintReader

    def _header_key(name: object) -> str:  # the matching rule of ingest's column detection
        return re.sub(r"[\s_\-]", "", str(name).replace("\ufeff", "")).lower()

    reader = ComplaintReader(path, ReaderOptions(encoding=encoding), rejects=rejects)
    frames = []
    for chunk in reader:
        rec = chunk.records.copy()
        keys = {_header_key(c): c for c in chunk.source.columns}
        for name, candidates in EXTRA_COLUMNS.items():
            src = next((keys[_header_key(c)] for c in candidates if _header_key(c) in keys), None)
            if src is not None and src not in reader.mapping.values():
                rec[name] = chunk.source[src].to_numpy()
        frames.append(rec)
    if not frames:
        raise SurvivalDataError("no usable rows", path=str(path))
    out = pd.concat(frames, ignore_index=True)
    if "reply_time" not in out.columns and require_reply:
        raise SurvivalDataError(
            "no reply-time column (looked for reply_time, 答复时间, 回复时间, 办结时间 ...): durations cannot be "
            "measured; export the log with the reply time",
            path=str(path),
        )
    return out


def _text_of(frame: pd.DataFrame) -> pd.Series:
    title = frame["title"].fillna("").astype(str) if "title" in frame.columns else ""
    text = frame["text"].fillna("").astype(str) if "text" in frame.columns else ""
    return (title + "。" + text) if isinstance(title, pd.Series) else pd.Series(text, index=frame.index)


def _urgency(frame: pd.DataFrame, text: pd.Series) -> pd.Series:
    col = _col(frame, "urgency")
    if col is not None:
        num = pd.to_numeric(col, errors="coerce")
        mapped = col.astype(str).str.strip().map(URGENCY_LEVELS)
        values = num.where(num.notna(), mapped)
        if values.notna().mean() > 0.5:
            return values.fillna(0.0).astype(float)
    from nlp.urgency import assess_urgency

    return text.map(lambda s: URGENCY_LEVELS.get(assess_urgency(s).level, 0.0)).astype(float)


def _elapsed(start: pd.Series, end: pd.Series | pd.Timestamp, unit: str) -> np.ndarray:
    start = pd.Series(pd.to_datetime(start)).reset_index(drop=True)
    end = pd.Series(pd.to_datetime(end)).reset_index(drop=True)
    if len(end) == 1 and len(start) > 1:
        end = pd.Series([end.iloc[0]] * len(start))
    if unit == "hours":
        return ((end - start) / pd.Timedelta(hours=1)).to_numpy(dtype=float)
    origin = min(start.min(), end.min()).normalize()
    return working_clock(end, origin=origin) - working_clock(start, origin=origin)


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
        elapsed = np.maximum(_elapsed(start, now, self.config.unit), 0.0)
        deadline_ts = add_working_days(start, deadline_days)
        due = (
            np.full(len(cases), deadline_days)
            if self.config.unit == "workdays"
            else _elapsed(start, pd.Series(deadline_ts), "hours")
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
        _dump(
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
        _dump(out / "km.json", self.km)
        _dump(out / "metrics.json", self.metrics)
        if self.open_cases is not None:
            oc = self.open_cases.copy()
            oc["time"] = pd.to_datetime(oc["time"]).dt.strftime("%Y-%m-%d %H:%M:%S")
            oc.to_csv(out / "open_cases.csv", index=False, encoding="utf-8")
        (out / "README.md").write_text(self.model_card(), encoding="utf-8")
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


def _dump(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


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
