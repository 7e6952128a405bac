"""Evaluation report, calibration, review thresholds and fusion on hand-checkable numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nlp.classifier import ModelInfo, needs_review, softmax

LABELS = ["A", "B", "C"]
# Probabilities per row (logits = log p, temperature 1): predictions A, B, B, B, C, A.
P = np.array(
    [
        [0.82, 0.09, 0.09],
        [0.30, 0.62, 0.08],
        [0.09, 0.82, 0.09],
        [0.20, 0.72, 0.08],
        [0.09, 0.09, 0.82],
        [0.62, 0.30, 0.08],
    ]
)
TRUE = ["A", "A", "B", "B", "C", "C"]


def hand_frame() -> pd.DataFrame:
    texts = [f"text {i}" for i in range(6)]
    texts[1] = "请回电13812345678"
    return pd.DataFrame({"id": [f"r{i}" for i in range(6)], "text": texts, "label": TRUE, "row": range(2, 8)})


def test_report_numbers_on_a_hand_checkable_case(tmp_path: Path) -> None:
    from training.evaluate import evaluate_predictions, write_report

    info = ModelInfo("tfidf", LABELS, thresholds={"A": 0.7, "B": 0.65, "C": 0.0})
    report = evaluate_predictions(hand_frame(), np.log(P), info, model="m", data="d.csv")
    m = report.metrics
    assert m["accuracy"] == pytest.approx(4 / 6)
    # A: P 1/2 R 1/2; B: P 2/3 R 1; C: P 1 R 1/2  ->  F1 0.5, 0.8, 2/3.
    assert m["per_class"]["A"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert m["per_class"]["B"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["C"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["weighted_f1"] == pytest.approx(m["macro_f1"])  # equal supports
    assert m["top2_accuracy"] == pytest.approx(5 / 6)  # row 5's truth C is third
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # ECE: bin 0.82 (3 right) |1-.82|*3/6 + bin 0.62 (2 wrong) .62*2/6 + bin 0.72 (1 right) .28/6.
    assert report.calibration["ece"] == pytest.approx(0.18 * 0.5 + 0.62 / 3 + 0.28 / 6)
    per_class_row = next(r for r in report.coverage if r["threshold"] == "per-class")
    assert per_class_row == {
        "threshold": "per-class",
        "coverage": 4 / 6,
        "accuracy": 1.0,
        "accepted": 4,
        "review": 2,
    }

    files = write_report(report, tmp_path / "report")
    for name in ("confusion_matrix.png", "reliability.png", "coverage.png", "report.md", "coverage.csv"):
        assert (tmp_path / "report" / name).stat().st_size > 0
    cm = pd.read_csv(files["confusion_csv"], index_col=0, encoding="utf-8-sig")
    assert cm.loc["C", "A"] == 1 and cm.loc["B", "B"] == 2
    mis = pd.read_csv(files["misclassified"], encoding="utf-8-sig").sort_values("id")
    assert mis[["id", "row", "label", "predicted"]].values.tolist() == [
        ["r1", 3, "A", "B"],
        ["r5", 7, "C", "A"],
    ]
    assert mis["needs_review"].tolist() == [True, True]
    assert "13812345678" not in mis.to_csv() and "[手机号]" in mis.iloc[0]["text"]
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    assert data["macro_f1"] == pytest.approx(m["macro_f1"]) and data["misclassified"] == 2
    md = files["markdown"].read_text(encoding="utf-8")
    assert "| macro_f1 | 0.6556 |" in md and "| per-class | 0.667 | 1.0000 | 4 | 2 |" in md


def test_unknown_true_labels_count_as_errors() -> None:
    from training.metrics import classification_metrics

    m = classification_metrics(["A", "D"], P[:2], LABELS)
    assert m["unknown_labels"] == ["D"] and m["accuracy"] == 0.5
    assert m["per_class"]["D"]["recall"] == 0.0 and m["confusion"]["labels"] == ["A", "B", "D"]


def test_temperature_fit_recovers_the_true_temperature() -> None:
    from training.calibration import expected_calibration_error, fit_temperature, nll

    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(4000, 4))
    p = softmax(z, 2.0)
    y = np.array([rng.choice(4, p=row / row.sum()) for row in p.astype(np.float64)])
    t = fit_temperature(z, y)
    assert t == pytest.approx(2.0, rel=0.1)
    assert nll(z, y, t) < nll(z, y, 1.0)
    calibrated = softmax(z, t)
    raw = softmax(z, 1.0)
    correct = calibrated.argmax(1) == y
    assert expected_calibration_error(calibrated.max(1), correct) < expected_calibration_error(
        raw.max(1), correct
    )


def test_lowest_threshold_and_per_class_thresholds() -> None:
    from training.thresholds import choose_thresholds, lowest_threshold

    conf = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([1, 1, 0, 1, 0], dtype=bool)
    # Precision of the rows at or above each cut: 1, 1, 2/3, 3/4, 3/5.
    assert lowest_threshold(conf, correct, 0.75, z=0) == 0.6
    assert lowest_threshold(conf, correct, 0.8, z=0) == 0.8
    assert lowest_threshold(conf, correct, 1.01, z=0) is None
    y = np.array([0, 0, 1, 1, 2, 2])
    t = choose_thresholds(P, y, LABELS, target_precision=0.9, min_support=2, z=0)
    # A: predictions 0.82 (right), 0.62 (wrong) -> 0.82. B: 0.82, 0.72 right, 0.62 wrong -> 0.72.
    # C: one prediction (< min_support) -> the pooled threshold, 0.72.
    assert t == {"A": 0.82, "B": 0.72, "C": 0.72}


def test_needs_review_semantics() -> None:
    info = ModelInfo("tfidf", LABELS, thresholds={"A": 0.7, "B": 0.65})
    flags = needs_review(P.astype(np.float32), info)
    assert flags.tolist() == [False, True, False, False, False, True]
    with pytest.raises(ValueError, match="shape"):
        needs_review(P[:, :2], info)


def test_fusion_weight_prefers_the_better_part() -> None:
    from nlp.fusion import fuse_logits
    from training.fusion import choose_fusion_weight

    y = np.array([0, 1, 2] * 10)
    good = np.eye(3)[y] * 5.0
    noise = np.random.default_rng(0).normal(size=(30, 3))
    w, search = choose_fusion_weight(noise, 1.0, good, 1.0, y, [0.0, 0.5, 1.0])
    assert w == 0.0 and [s["weight"] for s in search] == [0.0, 0.5, 1.0]
    assert search[0]["eval_macro_f1"] == 1.0
    fused = fuse_logits(noise, 1.0, good, 2.0, 0.0)
    np.testing.assert_allclose(softmax(fused), softmax(good, 2.0), atol=1e-5)


def test_fusion_training_is_consistent_with_the_saved_model(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from nlp.classifier import load_classifier
    from nlp.fusion import FusionClassifier
    from tests.test_train import tiny_config, write_log
    from training.evaluate import evaluate_model
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 8)
    result = run_training(
        tiny_config(
            tmp_path, tiny_bert_dir, model_type="fusion", epochs=1, fusion_weight_grid=(0.0, 0.5, 1.0)
        )
    )
    out = tmp_path / "model"
    assert isinstance(load_classifier(out), FusionClassifier)
    assert (out / "transformer" / "config.json").exists() and (out / "tfidf" / "tfidf.safetensors").exists()
    assert result.info.fusion_weight in (0.0, 0.5, 1.0)
    # The served model reproduces the numbers training computed from cached part logits.
    again = evaluate_model(out, out / "eval.parquet")
    assert again.metrics["accuracy"] == result.metrics["eval"]["accuracy"]
    assert again.calibration["ece"] == pytest.approx(
        result.metrics["calibration"]["ece_calibrated"], abs=1e-5
    )
