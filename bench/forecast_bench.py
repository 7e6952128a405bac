"""Forecasting and time-to-reply benchmark on real data (teddy2020 messages and replies).

    .venv/bin/python bench/forecast_bench.py [--model CLASSIFIER_DIR] [--origins 12] [--json OUT]

1. Daily signals from the real messages in ``../shared/datasets/teddy2020/messages.csv``: each
   message gets a category from ``--model`` (a trained hotline classifier) or, without it, from a
   TF-IDF + logistic regression fitted here on ``labeled.csv`` (said in the output), and a
   district from the anonymised place names in its text (A7县, B市 ...). The dense period is kept
   (months with at least half the median monthly volume; the file has a handful of 2017-2018
   messages and a partial January 2020).
2. :class:`forecasting.Forecaster` is fitted with its defaults (rolling-origin backtest, weekly
   origins) and every head's MASE, relative to the seasonal naive, is reported on the total and
   the per-category series, together with the chosen per-series forecast: in-sample (chosen and
   scored on the same origins) and holdout (chosen on the earlier half of the origins, scored on
   the later half - the honest figure), and the coverage of the 80% and 95% intervals.
3. The Cox model's concordance on a time-based split of ``replies.csv`` (trained on the earliest
   80% of submissions, censored at the split; tested on the later 20%). The only hyper-parameter
   (``min_level_count``, the rows a category/district level needs) is chosen on an inner time
   split of the training part, never on the test part.

Targets: chosen ≤ 0.9 × seasonal-naive MASE on total and category series; 80% intervals covering
75-85%; concordance ≥ 0.6. Prints "dataset not found" and exits 0 when the data is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from forecasting.forecaster import Forecaster

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DISTRICT_RE = r"([A-Z]\d{0,2}[区县市])"


def datasets_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("HOTLINE_DATASETS") or REPO.parent / "shared" / "datasets")


def dense_span(times: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the longest run of months with >= half the median monthly volume."""
    monthly = times.dt.to_period("M").value_counts().sort_index()
    full = monthly.reindex(pd.period_range(monthly.index.min(), monthly.index.max(), freq="M"), fill_value=0)
    ok = full >= 0.5 * full[full > 0].median()
    best, run = (0, -1), None
    for i, flag in enumerate(ok):
        if flag:
            run = i if run is None else run
            if i - run > best[1] - best[0]:
                best = (run, i)
        else:
            run = None
    return full.index[best[0]].start_time, full.index[best[1]].end_time.normalize()


def fit_text_classifier(labeled: Path) -> tuple[object, dict[str, float]]:
    """TF-IDF (character 1-2 grams) + logistic regression on labeled.csv, with a held-out check."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    df = pd.read_csv(labeled, dtype=str).fillna("")
    texts = (df["title"] + "。" + df["text"]).str.slice(0, 600)
    x_tr, x_te, y_tr, y_te = train_test_split(
        texts, df["label"], test_size=0.2, random_state=0, stratify=df["label"]
    )

    def model():
        return make_pipeline(
            TfidfVectorizer(
                analyzer="char", ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=100_000
            ),
            LogisticRegression(max_iter=2000, C=5.0),
        )

    held = model().fit(x_tr, y_tr)
    pred = held.predict(x_te)
    check = {
        "accuracy": float(accuracy_score(y_te, pred)),
        "macro_f1": float(f1_score(y_te, pred, average="macro")),
    }
    return model().fit(texts, df["label"]), check


def labels_cache_path(cache_dir: str, model_dir: str, texts: list[str]) -> Path:
    digest = hashlib.sha256()
    for f in sorted(Path(model_dir).rglob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".json", ".joblib"):
            digest.update(f.name.encode() + f.read_bytes())
    digest.update("\x00".join(texts).encode())
    return Path(cache_dir) / f"categories-{digest.hexdigest()[:16]}.json"


def categorize(
    frame: pd.DataFrame, model_dir: str | None, labeled: Path, cache_dir: str | None = None
) -> tuple[list[str], str, dict]:
    texts = [f"{t}。{x}"[:600] for t, x in zip(frame["title"], frame["text"], strict=True)]
    if model_dir:
        from nlp.classifier import load_classifier, predict_proba

        # A transformer labels the 4,242 messages in ~15 min on 2 CPU cores; the cache is keyed
        # by the model's weights and the exact texts, so a reused label list is the same one.
        cache = labels_cache_path(cache_dir, model_dir, texts) if cache_dir else None
        if cache is not None and cache.exists():
            labels = json.loads(cache.read_text(encoding="utf-8"))
            return labels, f"hotline classifier {model_dir} (labels cached in {cache})", {}
        clf = load_classifier(model_dir)
        probs = predict_proba(clf, texts)
        labels = [clf.labels[i] for i in probs.argmax(axis=1)]
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
        return labels, f"hotline classifier {model_dir}", {}
    clf, check = fit_text_classifier(labeled)
    return (
        list(clf.predict(texts)),
        "TF-IDF (char 1-2 grams) + logistic regression fitted in this script on labeled.csv "
        f"(held-out 20%: accuracy {check['accuracy']:.3f}, macro-F1 {check['macro_f1']:.3f}); no trained "
        "hotline classifier was given (--model)",
        check,
    )


def forecast_part(root: Path, args: argparse.Namespace, log: logging.Logger) -> dict:
    from forecasting.config import ForecastConfig
    from forecasting.forecaster import Forecaster
    from forecasting.signals import signals_from_complaints
    from ingest.options import ReaderOptions
    from ingest.readers import read_complaints

    msgs = read_complaints(root / "teddy2020" / "messages.csv", ReaderOptions(require=("text",)))
    msgs = msgs[msgs["time"].notna()].reset_index(drop=True)
    lo, hi = dense_span(msgs["time"])
    period = msgs[(msgs["time"] >= lo) & (msgs["time"] < hi + pd.Timedelta(days=1))].reset_index(drop=True)
    log.info(
        "messages: %d, dense period %s..%s: %d", len(msgs), f"{lo:%Y-%m-%d}", f"{hi:%Y-%m-%d}", len(period)
    )
    started = time.perf_counter()
    cats, how, check = categorize(period, args.model, root / "teddy2020" / "labeled.csv", args.cache_dir)
    period["category"] = cats
    period["district"] = (
        (period["title"] + "。" + period["text"]).str.extract(DISTRICT_RE, expand=False).fillna("unknown")
    )
    t_cat = time.perf_counter() - started
    signals = signals_from_complaints(
        period, category_column="category", district_column="district", start=lo, end=hi
    )
    config = ForecastConfig(n_origins=args.origins, horizon=args.horizon, min_mean_daily=args.min_mean_daily)
    started = time.perf_counter()
    fc = Forecaster.fit(signals, config, source="messages.csv")
    t_fit = time.perf_counter() - started
    if args.save:
        fc.save(args.save)
    m = fc.metrics
    started = time.perf_counter()
    diag = diagnostics(fc)
    log.info("diagnostics in %.1f s", time.perf_counter() - started)
    return {
        "diagnostics": diag,
        "messages": len(msgs),
        "period": [f"{lo:%Y-%m-%d}", f"{hi:%Y-%m-%d}"],
        "messages_in_period": len(period),
        "categories_from": how,
        "classifier_check": check,
        "category_counts": period["category"].value_counts().to_dict(),
        "config": config.to_dict(),
        "seconds": {"categorize": round(t_cat, 1), "fit_and_backtest": round(t_fit, 1)},
        "metrics": m,
    }


def diagnostics(fc: Forecaster) -> dict:
    """Figures behind the analysis of the misses in docs/benchmarks.md.

    - ``total_rolling_holdout``: coverage of the total on the later half of the origins when
      the head and the intervals are re-chosen at every origin on all earlier origins (what a
      weekly refit does), beside the fixed holdout (chosen once on the first half).
    - ``share_categories``: MASE relative to the seasonal naive, on the same origins, of two
      constant forecasts (0, and the mean of the previous 56 days) for the categories that are
      forecast as shares: how far MAE-based scores reward forecasting 0 on sparse counts.
    """
    from forecasting.backtest import (
        add_combo,
        apply_offsets,
        choose,
        coverage,
        mase_scale,
        origin_cuts,
        run_backtest,
    )
    from forecasting.config import REFERENCE
    from forecasting.signals import TOTAL

    config = fc.config
    values = fc.series.values
    cuts = origin_cuts(len(values), config)
    n = len(cuts)
    bt = run_backtest(values[TOTAL], TOTAL, config, config.heads)
    add_combo(bt, [h for h in config.heads if h != REFERENCE])
    hits = {c: [] for c in config.intervals}
    for o in range(n // 2, n):
        choice = choose(bt, config, np.arange(o))
        if choice.interval == "model":
            qs = {k: v[o] for k, v in bt.quantiles[choice.head].items()}
        else:
            qs = apply_offsets(bt.mean[choice.head][o], choice.offsets)
        for c, v in coverage(bt.actual[o], qs, config.intervals).items():
            hits[c].append(v)
    out: dict = {
        "total_rolling_holdout": {
            "origins": n - n // 2,
            "coverage": {str(c): round(float(np.mean(v)), 3) for c, v in hits.items()},
        },
        "share_categories": {},
    }
    for key, sm in fc.models.items():
        if sm.mode != "share" or not key.startswith("category=") or "|" in key:
            continue
        y = values[key].to_numpy(dtype=float)
        actual = np.array([y[c : c + config.horizon] for c in cuts])
        scale = np.array([mase_scale(y[:c], config.season) for c in cuts])
        naive = np.array([y[c - config.season + (np.arange(config.horizon) % config.season)] for c in cuts])
        mean56 = np.array([np.full(config.horizon, y[max(0, c - 56) : c].mean()) for c in cuts])

        def mase(f: np.ndarray) -> float:
            return float((np.abs(actual - f).mean(axis=1) / scale).mean())  # noqa: B023

        base = mase(naive)
        out["share_categories"][key] = {
            "mean_daily_56d": round(float(y[-56:].mean()), 3),
            "zero_relative": round(mase(np.zeros_like(actual)) / base, 3),
            "mean56_relative": round(mase(mean56) / base, 3),
        }
    return out


def survival_part(root: Path, args: argparse.Namespace, log: logging.Logger) -> dict:
    from forecasting.cases import prepare_cases, read_cases
    from forecasting.config import SurvivalConfig
    from forecasting.survival import SurvivalModel

    raw = read_cases(root / "teddy2020" / "replies.csv")
    cats, how, _ = categorize(raw, args.model, root / "teddy2020" / "labeled.csv", args.cache_dir)
    raw["category"] = cats
    t = pd.to_datetime(raw["time"])
    cut = t.quantile(0.8)
    train_raw, test_raw = raw[t <= cut], raw[t > cut]
    # Inner time split of the training part to choose min_level_count.
    t_tr = pd.to_datetime(train_raw["time"])
    inner_cut = t_tr.quantile(0.8)
    inner = {}
    for mlc in (5, 10, 20, 30):
        cfg = SurvivalConfig(min_level_count=mlc)
        fit_cases = prepare_cases(train_raw[t_tr <= inner_cut], cfg, analysis_date=inner_cut)
        val_cases = prepare_cases(train_raw[t_tr > inner_cut], cfg, analysis_date=cut)
        inner[mlc] = SurvivalModel.fit(fit_cases, cfg).concordance(val_cases)
    best = max(inner, key=lambda k: (inner[k], -k))
    results = {}
    for name, covs in (
        ("default covariates", SurvivalConfig().covariates),
        (
            "brief covariates only (no request_type)",
            ("category", "district", "text_length", "urgency", "weekday"),
        ),
    ):
        cfg = SurvivalConfig(min_level_count=best, covariates=covs)
        train = prepare_cases(train_raw, cfg, analysis_date=cut, source="replies train")
        test = prepare_cases(test_raw, cfg, source="replies test")
        model = SurvivalModel.fit(train, cfg)
        results[name] = {
            "covariates": list(covs),
            "concordance_train": model.metrics["concordance_train"],
            "concordance_test": round(model.concordance(test), 4),
        }
    log.info("survival: %s", results)
    return {
        "categories_from": how,
        "split_time": f"{cut:%Y-%m-%d %H:%M}",
        "n_train": int((t <= cut).sum()),
        "n_test": int((t > cut).sum()),
        "inner_validation_concordance": {str(k): round(v, 4) for k, v in inner.items()},
        "min_level_count": best,
        "unit": SurvivalConfig().unit,
        "median_duration_train": round(float(train["duration"].median()), 2),
        "results": results,
    }


def _mean(values: list) -> str:
    vals = [v for v in values if v is not None]
    return f"{np.mean(vals):.3f}" if vals else "n/a"


def report(out: dict) -> str:
    f = out.get("forecast")
    lines = []
    if f:
        m = f["metrics"]
        lines += [
            f"period {f['period'][0]}..{f['period'][1]}: {f['messages_in_period']} messages; categories from {f['categories_from']}",
            f"series: {m['n_series']} ({m['n_modelled']} with own heads, {m['n_share']} as a share); "
            f"{len(m['origins'])} origins {m['origins'][0]}..{m['origins'][-1]}, horizon {m['horizon']}; "
            f"fit+backtest {f['seconds']['fit_and_backtest']} s",
            "",
            "| level | series | head | MASE | relative to seasonal naive |",
            "| --- | --- | --- | --- | --- |",
        ]
        for level in ("total", "category", "district", "category_district"):
            s = m["levels"].get(level)
            if not s:
                continue
            for h, v in s["mase"].items():
                lines.append(f"| {level} | {s['n_modelled']} | {h} | {v:.3f} | {s['relative_mase'][h]:.3f} |")
            lines.append(
                f"| {level} | {s['n_series']} | chosen (in-sample) | {s['chosen_mase_in_sample']:.3f} | {s['chosen_relative_in_sample']:.3f} |"
            )
            if "holdout" in s:
                ho = s["holdout"]
                lines.append(
                    f"| {level} | {s['n_series']} | chosen (holdout) | {ho['chosen_mase']:.3f} (naive {ho['naive_mase']:.3f}) | {ho['chosen_relative']:.3f} |"
                )
        lines += [
            "",
            "| level | coverage 80% (all origins) | 95% | holdout 80% | holdout 95% |",
            "| --- | --- | --- | --- | --- |",
        ]
        for level, s in m["levels"].items():
            ho = s.get("holdout", {}).get("coverage", {})
            lines.append(
                f"| {level} | {s['coverage'].get('0.8')} | {s['coverage'].get('0.95')} | {ho.get('0.8')} | {ho.get('0.95')} |"
            )
        lines += [
            "",
            "| series kind | n | coverage 80% | 95% | holdout 80% | holdout 95% |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for kind in ("model", "share"):
            rows = [v for v in m["series"].values() if v["mode"] == kind]
            if not rows:
                continue
            cov = [_mean([r["coverage"].get(c) for r in rows]) for c in ("0.8", "0.95")]
            ho = [
                _mean([r.get("holdout", {}).get("coverage", {}).get(c) for r in rows])
                for c in ("0.8", "0.95")
            ]
            label = "own heads" if kind == "model" else "share of a parent"
            lines.append(f"| {label} | {len(rows)} | {cov[0]} | {cov[1]} | {ho[0]} | {ho[1]} |")
        lines += [
            "",
            "| category series | mode | chosen | MASE | relative to naive | coverage 80% | 95% |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key, v in m["series"].items():
            if not key.startswith("category=") or "|" in key:
                continue
            chosen = v.get("chosen", "share")
            name = chosen if v["mode"] == "model" else "share"
            lines.append(
                f"| {key} | {v['mode']} | {chosen} | {v['mase'][name]:.3f} | {v['relative_mase'][name]:.3f} | "
                f"{v['coverage'].get('0.8')} | {v['coverage'].get('0.95')} |"
            )
        d = f.get("diagnostics")
        if d:
            r = d["total_rolling_holdout"]
            lines += [
                "",
                f"total, rolling holdout (re-chosen at each of the last {r['origins']} origins): "
                f"coverage {r['coverage']}",
                "",
                "| share category | calls/day (56 d) | zero forecast, relative MASE | 56-day mean, relative MASE |",
                "| --- | ---: | ---: | ---: |",
            ]
            for key, v in d["share_categories"].items():
                lines.append(
                    f"| {key} | {v['mean_daily_56d']} | {v['zero_relative']} | {v['mean56_relative']} |"
                )
    sv = out.get("survival")
    if sv:
        lines += [
            "",
            f"replies.csv time split at {sv['split_time']}: train {sv['n_train']}, test {sv['n_test']}; "
            f"min_level_count {sv['min_level_count']} (inner validation {sv['inner_validation_concordance']})",
        ]
        for name, r in sv["results"].items():
            lines.append(
                f"  {name}: concordance train {r['concordance_train']}, test {r['concordance_test']}"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", help="Directory with teddy2020/ (default ../shared/datasets or $HOTLINE_DATASETS)"
    )
    ap.add_argument("--model", help="Trained hotline classifier directory for the categories")
    ap.add_argument("--origins", type=int, default=12, help="Rolling backtest origins (weekly)")
    ap.add_argument("--horizon", type=int, default=7)
    ap.add_argument(
        "--min-mean-daily", type=float, default=1.0, help="Minimum-volume rule (calls/day for own heads)"
    )
    ap.add_argument("--json", help="Write all figures to this JSON file")
    ap.add_argument(
        "--cache-dir", help="Keep the --model's labels here (keyed by model files and texts) for re-runs"
    )
    ap.add_argument("--save", help="Also save the fitted forecaster here")
    ap.add_argument("--skip-forecast", action="store_true")
    ap.add_argument("--skip-survival", action="store_true")
    ap.add_argument(
        "--report-only", nargs="+", metavar="JSON", help="Only print the report of earlier --json outputs"
    )
    args = ap.parse_args()
    if args.report_only:
        merged: dict = {}
        for path in args.report_only:
            merged.update(json.loads(Path(path).read_text(encoding="utf-8")))
        print(report(merged))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("forecast_bench")
    root = datasets_dir(args.datasets)
    needed = [root / "teddy2020" / n for n in ("messages.csv", "replies.csv", "labeled.csv")]
    missing = [p for p in needed if not p.exists()]
    if missing:
        print(f"dataset not found: {', '.join(map(str, missing))}")
        return 0
    import torch

    out: dict = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "python": platform.python_version(),
    }
    started = time.perf_counter()
    if not args.skip_forecast:
        out["forecast"] = forecast_part(root, args, log)
    if not args.skip_survival:
        out["survival"] = survival_part(root, args, log)
    out["seconds_total"] = round(time.perf_counter() - started, 1)
    text = report(out)
    print(text)
    if args.json:
        Path(args.json).write_text(
            json.dumps(out, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
