"""Evaluate a model on labelled data and write the report (JSON, Markdown, CSV, PNG).

``hotline evaluate --model DIR --data FILE -o REPORT_DIR`` writes:

- ``report.json`` / ``report.md``: accuracy, macro and weighted F1, top-k accuracy, per-class
  precision/recall/F1/support, calibration (ECE before and after the stored temperature, NLL),
  the coverage/accuracy table for review routing;
- ``per_class.csv``, ``confusion_matrix.csv`` + ``.png`` (rows: true, columns: predicted),
  ``reliability.png``, ``coverage.csv`` + ``coverage.png``;
- ``misclassified.csv``: id, row, true and predicted label, confidence, ``needs_review`` and the
  PII-masked text of every error.

``hotline train`` writes the same report for its evaluation split into ``DIR/eval_report/``
(optimistic there: that split also chose the temperature, the thresholds and the best epoch).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common.files import atomic_write_json, atomic_write_text
from nlp.classifier import ModelInfo, softmax
from nlp.pii import mask_pii
from training.calibration import expected_calibration_error, nll, reliability_bins
from training.metrics import classification_metrics
from training.thresholds import coverage_curve, coverage_table, review_mask

logger = logging.getLogger(__name__)


@dataclass
class EvaluationReport:
    """Everything ``write_report`` renders; ``to_dict`` is ``report.json``."""

    model: str
    data: str | None
    info: ModelInfo
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    coverage: list[dict[str, Any]]
    misclassified: pd.DataFrame
    proba: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    figures: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "data": self.data,
            "model_type": self.info.model_type,
            "model_version": self.info.version,
            "labels": self.info.labels,
            "temperature": self.info.temperature,
            "thresholds": self.info.thresholds,
            **{k: v for k, v in self.metrics.items()},
            "calibration": self.calibration,
            "coverage": self.coverage,
            "misclassified": len(self.misclassified),
            "figures": self.figures,
        }


def evaluate_predictions(
    frame: pd.DataFrame,
    logits: np.ndarray,
    info: ModelInfo,
    *,
    model: str = "",
    data: str | None = None,
) -> EvaluationReport:
    """Build the report from raw logits (``info.temperature`` and ``info.thresholds`` applied)."""
    labels = info.labels
    proba = softmax(logits, info.temperature)
    metrics = classification_metrics(list(frame["label"]), proba, labels)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index.get(v, -1) for v in frame["label"]])
    pred = proba.argmax(1)
    conf = proba.max(1)
    correct = (pred == y).astype(float)
    raw = softmax(logits, 1.0)
    bins = reliability_bins(conf, correct)
    calibration = {
        "temperature": info.temperature,
        "ece": expected_calibration_error(conf, correct),
        "ece_uncalibrated": expected_calibration_error(raw.max(1), (raw.argmax(1) == y).astype(float)),
        "bins": bins.to_dict(),
    }
    known = y >= 0
    if known.any():
        calibration["nll"] = nll(logits[known], y[known], info.temperature)
        calibration["nll_uncalibrated"] = nll(logits[known], y[known], 1.0)
    coverage = coverage_table(proba, y, info.thresholds or None, labels)
    review = review_mask(proba, labels, info.thresholds)
    wrong = pred != y
    mis = pd.DataFrame(
        {
            "id": frame["id"].astype(str).to_numpy()[wrong],
            "row": frame["row"].to_numpy()[wrong] if "row" in frame else np.arange(len(frame))[wrong] + 1,
            "label": frame["label"].to_numpy()[wrong],
            "predicted": [labels[i] for i in pred[wrong]],
            "confidence": np.round(conf[wrong], 4),
            "needs_review": review[wrong],
            # Text from ingest is masked already; masking again covers frames built elsewhere.
            "text": [mask_pii(str(t))[:500] for t in frame["text"].to_numpy()[wrong]],
        }
    )
    mis = mis.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)
    return EvaluationReport(model, data, info, metrics, calibration, coverage, mis, proba, y)


def evaluate_model(
    model_dir: str | os.PathLike[str],
    data_file: str | os.PathLike[str],
    *,
    columns: dict[str, str | None] | None = None,
    encoding: str | None = None,
    batch_size: int = 32,
    device: str = "cpu",
) -> EvaluationReport:
    """Load a model (directory or registry) and evaluate it on a labelled file."""
    from nlp.classifier import load_classifier, resolve_model_dir
    from training.data import load_labelled

    directory = resolve_model_dir(model_dir)
    frame = load_labelled(data_file, columns=columns, encoding=encoding, min_classes=1)
    clf = load_classifier(directory, device=device)
    logger.info("evaluating %s on %d rows of %s", directory, len(frame), data_file)
    logits = clf.logits(list(frame["text"]), batch_size=batch_size)
    return evaluate_predictions(frame, logits, clf.info, model=str(directory), data=str(data_file))


METRIC_KEYS = ("accuracy", "macro_f1", "weighted_f1", "top2_accuracy", "top3_accuracy")


def fmt_value(x: Any, digits: int = 4) -> str:
    """A number for a Markdown table: floats rounded, ``None`` as a dash."""
    return "–" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def metric_table(values: dict[str, Any]) -> list[str]:
    """The headline metrics present in ``values`` as the rows of a Markdown table."""
    rows = [f"| {key} | {fmt_value(values[key])} |" for key in METRIC_KEYS if key in values]
    return ["| metric | value |", "| --- | --- |", *rows]


def write_report(
    report: EvaluationReport, out_dir: str | os.PathLike[str], *, formula_guard: bool = True
) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns name -> path.

    The CSVs go through :func:`ingest.writers.write_csv`: cells that a spreadsheet would run as a
    formula (a label or complaint starting with ``=``) are neutralised unless
    ``formula_guard=False``. ``misclassified.csv`` is PII-masked in every text column (ids and
    labels come from the user's file and may hold anything).
    """
    from ingest.masking import mask_columns
    from ingest.writers import write_csv
    from training.plots import plot_confusion, plot_coverage, plot_reliability

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = report.metrics
    files: dict[str, Path] = {}

    per_class = pd.DataFrame.from_dict(m["per_class"], orient="index")
    per_class.index.name = "label"
    files["per_class"] = out / "per_class.csv"
    write_csv(per_class, files["per_class"], index=True, formula_guard=formula_guard)

    cm_labels = m["confusion"]["labels"]
    cm = np.asarray(m["confusion"]["matrix"])
    files["confusion_csv"] = out / "confusion_matrix.csv"
    write_csv(
        pd.DataFrame(cm, index=pd.Index(cm_labels, name="true"), columns=cm_labels),
        files["confusion_csv"],
        index=True,
        formula_guard=formula_guard,
    )
    files["confusion_png"] = out / "confusion_matrix.png"
    report.figures["labels_rendered_with"] = plot_confusion(cm, cm_labels, files["confusion_png"])

    from training.calibration import ReliabilityBins

    b = report.calibration["bins"]
    bins = ReliabilityBins(
        np.asarray(b["edges"]), np.asarray(b["confidence"]), np.asarray(b["accuracy"]), np.asarray(b["count"])
    )
    files["reliability_png"] = plot_reliability(bins, report.calibration["ece"], out / "reliability.png")

    files["coverage_csv"] = out / "coverage.csv"
    write_csv(
        pd.DataFrame(report.coverage), files["coverage_csv"], encoding="utf-8", formula_guard=formula_guard
    )
    cov, acc = coverage_curve(report.proba, report.y)
    point = next(
        ((r["coverage"], r["accuracy"]) for r in report.coverage if r["threshold"] == "per-class"), None
    )
    files["coverage_png"] = plot_coverage(cov, acc, point, out / "coverage.png")

    files["misclassified"] = out / "misclassified.csv"
    # The text column is masked when the report is built; mask_pii is idempotent on it.
    write_csv(mask_columns(report.misclassified), files["misclassified"], formula_guard=formula_guard)
    report.figures.update({k: v.name for k, v in files.items() if v.suffix == ".png"})

    files["json"] = atomic_write_json(out / "report.json", report.to_dict())
    files["markdown"] = atomic_write_text(out / "report.md", render_markdown(report))
    return files


def render_markdown(report: EvaluationReport) -> str:
    m, cal = report.metrics, report.calibration
    lines = [
        "# Evaluation report",
        "",
        f"- model: `{report.model}` ({report.info.model_type}, version {report.info.version or '–'})",
        f"- data: `{report.data or 'evaluation split'}`, {m['n']} rows",
        "",
        *metric_table(m),
    ]
    lines.append(
        f"| ECE (calibrated, T = {cal['temperature']:.3f}) | {fmt_value(cal['ece'])} |\n"
        f"| ECE (uncalibrated, T = 1) | {fmt_value(cal['ece_uncalibrated'])} |"
    )
    if "nll" in cal:
        lines.append(
            f"| NLL (calibrated / uncalibrated) | {cal['nll']:.4f} / {cal['nll_uncalibrated']:.4f} |"
        )
    if m.get("unknown_labels"):
        lines += ["", f"Labels the model does not know (counted as errors): {', '.join(m['unknown_labels'])}"]
    lines += ["", "## Per class", "", "| # | label | precision | recall | F1 | support | review threshold |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for i, (label, row) in enumerate(m["per_class"].items()):
        t = report.info.thresholds.get(label)
        lines.append(
            f"| {i} | {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | "
            f"{row['support']} | {fmt_value(t, 3)} |"
        )
    labels = m["confusion"]["labels"]
    lines += [
        "",
        "## Confusion matrix",
        "",
        f"Rows are true labels, columns predicted (`confusion_matrix.csv`, `confusion_matrix.png`; "
        f"figure labels: {report.figures.get('labels_rendered_with', 'n/a')}).",
        "",
        "| true \\ predicted | " + " | ".join(str(i) for i in range(len(labels))) + " |",
        "| --- |" + " --- |" * len(labels),
    ]
    for i, row in enumerate(m["confusion"]["matrix"]):
        lines.append(f"| {i} {labels[i]} | " + " | ".join(str(v) for v in row) + " |")
    lines += [
        "",
        "## Review routing: coverage / accuracy",
        "",
        "A prediction is accepted when its calibrated probability reaches the threshold; otherwise it "
        "is flagged `needs_review`. `per-class` applies the thresholds stored in `hotline.json`.",
        "",
        "| threshold | coverage | accuracy of accepted | accepted | to review |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in report.coverage:
        lines.append(
            f"| {r['threshold']} | {r['coverage']:.3f} | {fmt_value(r['accuracy'])} | {r['accepted']} | {r['review']} |"
        )
    lines += [
        "",
        "Figures: `confusion_matrix.png`, `reliability.png`, `coverage.png`. "
        f"Misclassified rows ({len(report.misclassified)}, PII-masked): `misclassified.csv`.",
        "",
    ]
    return "\n".join(lines)
