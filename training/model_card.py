"""The model card (``README.md``) written next to every trained model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common.files import atomic_write_text
from nlp.classifier import ModelInfo
from training.evaluate import fmt_value as _f
from training.evaluate import metric_table


def render_model_card(info: ModelInfo, metrics: dict[str, Any], config: dict[str, Any]) -> str:
    data = metrics.get("data", {})
    ev = metrics.get("eval", {})
    cal = metrics.get("calibration", {})
    counts = data.get("label_counts", {})
    name = info.name or f"hotline-{info.model_type}"
    front = [
        "---",
        "language: zh",
        f"library_name: {'transformers' if info.model_type == 'transformer' else 'hotline'}",
        "pipeline_tag: text-classification",
        "tags: [hotline, 12345-hotline, complaint-classification]",
    ]
    if info.base_model:
        front.append(f"base_model: {info.base_model}")
    front.append("---")
    lines = [
        *front,
        "",
        f"# {name}",
        "",
        f"A `{info.model_type}` classifier that assigns a category to 12345 citizen-hotline complaints "
        f"(input: title + message, {info.max_length} tokens max, cut head + tail). "
        f"Version: {info.version or '–'}; created {info.created_at}.",
        "",
        "## Data",
        "",
        f"- training: `{data.get('train_file')}` (sha256 `{str(data.get('train_sha256', ''))[:16]}…`), "
        f"{data.get('train_rows')} rows",
        f"- evaluation: {data.get('eval_source')}, {data.get('eval_rows')} rows",
        f"- replay sample kept for retraining: `replay.parquet` ({data.get('replay_rows', 0)} rows, "
        "PII-masked text only)",
        "",
        "## Labels",
        "",
        "| id | label | train rows | eval rows | eval F1 | review threshold |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    per_class = ev.get("per_class", {})
    for i, label in enumerate(info.labels):
        lines.append(
            f"| {i} | {label} | {counts.get('train', {}).get(label, '–')} | "
            f"{counts.get('eval', {}).get(label, '–')} | {_f(per_class.get(label, {}).get('f1'))} | "
            f"{_f(info.thresholds.get(label))} |"
        )
    lines += [
        "",
        "## Metrics (evaluation split)",
        "",
        *metric_table(ev),
    ]
    if cal:
        lines.append(f"| temperature | {_f(cal.get('temperature'))} |")
        lines.append(
            f"| ECE before / after temperature scaling | {_f(cal.get('ece_uncalibrated'))} / {_f(cal.get('ece_calibrated'))} |"
        )
    lines += [
        "",
        "The evaluation split also chose the temperature, the review thresholds"
        + (", the best epoch" if info.model_type != "tfidf" else "")
        + (" and C" if info.model_type == "tfidf" else "")
        + (" and the fusion weight" if info.model_type == "fusion" else "")
        + ", so these figures are slightly optimistic; `hotline evaluate` on a held-out file gives "
        "the honest number. Full report: `eval_report/report.md`.",
        "",
        f"Review routing: a prediction whose calibrated probability is below its class threshold is "
        f"flagged `needs_review` (thresholds: lowest confidence reaching precision "
        f"{_f(metrics.get('thresholds', {}).get('target_precision'))} on the evaluation split).",
    ]
    tr = metrics.get("training")
    if tr:
        lines += [
            "",
            "## Training",
            "",
            f"- device: {tr.get('device')}, {tr.get('num_processes', 1)} process(es); "
            f"{_f(tr.get('seconds'))} s; {tr.get('steps')} optimizer steps; best step {tr.get('best_step')}"
            + ("; stopped early" if tr.get("stopped_early") else ""),
            f"- base model `{info.base_model}`; lr {config.get('learning_rate')} (head "
            f"{config.get('head_learning_rate') or config.get('learning_rate')}), batch "
            f"{config.get('batch_size')} x {config.get('gradient_accumulation_steps')} accumulation, "
            f"{config.get('epochs')} epochs, {config.get('scheduler')} schedule, warm-up "
            f"{config.get('warmup_ratio')}, max length {config.get('max_length')}, frozen word "
            f"embeddings: {config.get('freeze_embeddings')}, class weights: {config.get('class_weight')}",
            "- all settings: `training_config.json`; per-evaluation history: `metrics.json`",
        ]
    if metrics.get("tfidf"):
        t = metrics["tfidf"]
        lines += ["", f"TF-IDF: {t.get('classifier')} with C = {t.get('C')}, {t.get('n_features')} features."]
    if metrics.get("fusion"):
        lines += ["", f"Fusion weight (transformer share): {metrics['fusion'].get('weight')}."]
    lines += [
        "",
        "## How to use",
        "",
        "Command line:",
        "",
        "```bash",
        "hotline classify complaints.csv -o classified.csv --model DIR   # adds label, score, top_k, needs_review",
        "hotline evaluate --model DIR --data labelled.csv -o report/",
        "hotline serve --model DIR                                        # HTTP service",
        "```",
        "",
        "Python:",
        "",
        "```python",
        "from nlp.classifier import load_classifier, needs_review, predict_proba",
        "",
        'model = load_classifier("DIR")            # a model directory or a registry',
        'proba = predict_proba(model, ["小区门口垃圾堆积多日无人清运"])',
        "label = model.labels[proba[0].argmax()]",
        "review = needs_review(proba, model.info)[0]",
        "```",
    ]
    if info.model_type == "transformer":
        lines += [
            "",
            "transformers alone (no temperature, no head + tail cut):",
            "",
            "```python",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            'tok = AutoTokenizer.from_pretrained("DIR")',
            'model = AutoModelForSequenceClassification.from_pretrained("DIR")',
            "```",
        ]
    lines += [
        "",
        "HTTP (`hotline serve --model DIR`; every `/v1` route needs `Authorization: Bearer <key>`):",
        "",
        "```bash",
        "curl -X POST http://localhost:8000/v1/classify -H 'Authorization: Bearer KEY' \\",
        "     -H 'Content-Type: application/json' \\",
        """     -d '{"id": "1", "title": "小区门口道路破损", "text": "道路破损严重，下雨天积水"}'""",
        "```",
        "",
        "The answer has `label`, `score` (calibrated), `top_k`, `needs_review` and `truncated`; send an",
        "array of complaints to classify several at once.",
        "",
        "## Limitations",
        "",
        "Trained on one city's categories and wording; other cities' taxonomies need retraining "
        "(`hotline retrain`). Text is PII-masked before training; the model never saw phone numbers "
        "or ID numbers, only their placeholders.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(
    directory: str | os.PathLike[str], info: ModelInfo, metrics: dict[str, Any], config: dict[str, Any]
) -> Path:
    path = Path(directory) / "README.md"
    atomic_write_text(path, render_model_card(info, metrics, config))
    return path
