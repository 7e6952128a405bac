"""Retraining (label plans, head growth, champion/challenger) and the model registry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import ConfigError, InputFileError, ModelNotFoundError
from nlp.classifier import ModelInfo, load_classifier, resolve_model_dir
from tests.test_train import NEW_PHRASES, PHRASES, tiny_config, write_log
from training.comparison import compare
from training.config import RetrainConfig, TrainConfig
from training.label_plan import LabelPlan, plan_labels, read_mapping, relabel


def test_plan_labels_rename_merge_split_and_new() -> None:
    mapping = {"a": ["A"], "b": ["BC"], "c": ["BC"], "d": ["D1", "D2"]}
    plan = plan_labels(["a", "b", "c", "d", "e"], mapping, ["E", "E", "F", "D1"])
    assert plan.new == ["A", "BC", "D1", "D2", "e", "E", "F"]
    assert plan.sources["BC"] == ["b", "c"] and plan.sources["D2"] == ["d"] and plan.sources["E"] == []
    assert plan.added == ["E", "F"]
    assert plan.shared == ["A", "BC", "e"]  # D1/D2 cannot be told apart by the old model
    assert plan.describe() == {
        "renamed": {"a": "A"},
        "merged": {"BC": ["b", "c"]},
        "split": {"d": ["D1", "D2"]},
        "added": ["E", "F"],
    }
    frame = pd.DataFrame(
        {"id": ["1", "2", "3"], "text": ["x", "y", "z"], "label": ["a", "d", "E"], "row": [1, 2, 3]}
    )
    assert relabel(frame, plan, what="replay")["label"].tolist() == ["A", "E"]
    with pytest.raises(InputFileError, match="split into"):
        relabel(frame, plan, what="new.csv", strict=True)
    with pytest.raises(InputFileError, match=r"does not have: \['zz'\]"):
        plan_labels(["a", "b"], {"zz": ["y"]}, [])


def test_read_mapping_file(tmp_path: Path) -> None:
    good = tmp_path / "m.csv"
    good.write_text("old,new\na,A\nd,D1\nd,D2\n", encoding="utf-8")
    assert read_mapping(good) == {"a": ["A"], "d": ["D1", "D2"]}
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\na,A\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="header `old,new`"):
        read_mapping(bad)


def test_grow_head_keeps_old_rows_and_imprints_new_ones(tiny_bert_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from training.warm_start import grow_head

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=4)
    w = model.classifier.weight.detach().numpy().copy()
    b = model.classifier.bias.detach().numpy().copy()
    plan = plan_labels(["a", "b", "c", "d"], {"b": ["BC"], "c": ["BC"], "d": ["D1", "D2"]}, ["E"])
    feats = np.random.default_rng(0).normal(size=(5, w.shape[1])) + 3.0
    grow_head(model, plan, features={"E": feats}, reference=np.zeros((1, w.shape[1])))
    w2 = model.classifier.weight.detach().numpy()
    b2 = model.classifier.bias.detach().numpy()
    assert plan.new == ["a", "BC", "D1", "D2", "E"] and w2.shape == (5, w.shape[1])
    np.testing.assert_array_equal(w2[0], w[0])  # unchanged label keeps its row
    np.testing.assert_allclose(w2[1], (w[1] + w[2]) / 2, rtol=1e-6)  # merge: average
    np.testing.assert_array_equal(w2[2], w[3])  # split: a copy for each part
    np.testing.assert_array_equal(w2[3], w[3])
    assert np.linalg.norm(w2[4]) == pytest.approx(np.linalg.norm(w, axis=1).mean(), rel=1e-5)
    assert np.dot(w2[4], feats.mean(0)) > 0  # points towards the new class's features
    assert b2[4] == pytest.approx(b.mean(), abs=1e-7)
    assert model.config.id2label == dict(enumerate(plan.new)) and model.num_labels == 5


def test_comparison_gates_on_shared_labels_only() -> None:
    plan = LabelPlan(
        old=["x", "y"],
        new=["x", "y", "z"],
        sources={"x": ["x"], "y": ["y"], "z": []},
        targets={"x": ["x"], "y": ["y"]},
    )
    frame = pd.DataFrame({"label": ["x", "x", "y", "y", "z", "z"]})
    champion = np.eye(2)[[0, 0, 1, 0, 0, 1]]  # 3 of 4 shared rows right; z rows land on x/y
    challenger = np.eye(3)[[0, 0, 1, 1, 2, 0]]
    cmp = compare(champion, challenger, frame, plan, tolerance=0.01)
    assert cmp.shared_labels == ["x", "y"] and cmp.gate_rows == 4 and cmp.added_labels == ["z"]
    assert cmp.champion_macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)
    assert cmp.challenger_macro_f1 == pytest.approx(1.0)  # the z row predicted x is outside the gate
    assert cmp.promote and not cmp.forced
    x = next(r for r in cmp.per_class if r["label"] == "x")
    assert x["champion_f1"] == pytest.approx(0.8) and x["challenger_f1"] == 1.0  # on the gated rows
    z = next(r for r in cmp.per_class if r["label"] == "z")
    assert z["champion_f1"] is None and z["challenger_f1"] == pytest.approx(2 / 3)
    swapped = compare(np.eye(2)[[1, 1, 0, 0, 0, 0]], challenger, frame, plan, tolerance=0.0)
    assert swapped.champion_macro_f1 == 0.0 and swapped.promote
    text = cmp.to_text()
    assert "new" in text and "decision: promote" in text


def _tfidf_model(tmp_path: Path, name: str, n: int = 10, seed: int = 0) -> Path:
    from training.pipeline import run_training

    write_log(tmp_path / f"{name}.csv", n, seed=seed)
    run_training(
        TrainConfig(
            train_file=str(tmp_path / f"{name}.csv"),
            output_dir=str(tmp_path / name),
            model_type="tfidf",
            min_threshold_support=2,
            eval_split=0.2,
        )
    )
    return tmp_path / name


def test_registry_versions_pointer_promote_and_rollback(tmp_path: Path) -> None:
    from training.registry import ModelRegistry

    m1 = _tfidf_model(tmp_path, "m1")
    reg = ModelRegistry.init_from_model(tmp_path / "reg", m1)
    assert reg.versions() == ["v1"] and reg.current() == "v1"
    assert (tmp_path / "reg" / "current").read_text().strip() == "v1"
    assert not (tmp_path / "reg" / "current").is_symlink()
    assert ModelInfo.load(tmp_path / "reg" / "v1").version == "v1"
    assert reg.eval_set() is not None and len(reg.eval_set()) == 6
    assert resolve_model_dir(tmp_path / "reg") == tmp_path / "reg" / "v1"
    assert load_classifier(tmp_path / "reg").info.version == "v1"

    v2 = reg.add(_tfidf_model(tmp_path, "m2", seed=1))
    assert v2 == "v2" and reg.current() == "v1" and reg.status("v2") == "candidate"
    reg.promote("v2")
    assert load_classifier(tmp_path / "reg").info.version == "v2"
    assert reg.rollback() == "v1" and reg.current() == "v1"
    with pytest.raises(ConfigError, match="nothing to roll back to"):
        reg.rollback()
    reg.promote("v2")
    reg.promote("v1")
    assert reg.rollback() == "v2"
    events = [e["event"] for e in reg.history()]
    assert events[:3] == ["add", "init", "eval_set"] and events.count("rollback") == 2
    assert "**promote** v2" in (tmp_path / "reg" / "CHANGELOG.md").read_text(encoding="utf-8")
    rows = {r["version"]: r for r in reg.rows()}
    assert rows["v2"]["current"] and rows["v1"]["status"] == "promoted"
    with pytest.raises(ModelNotFoundError, match="no version 'v9'"):
        reg.promote("v9")
    (tmp_path / "reg" / "current").write_text("../m1\n")
    with pytest.raises(ModelNotFoundError, match="not a model version"):
        resolve_model_dir(tmp_path / "reg")


def test_retrain_tfidf_with_a_new_category_and_a_rename(tmp_path: Path) -> None:
    from training.registry import ModelRegistry
    from training.retrain import retrain

    m1 = _tfidf_model(tmp_path, "m1", n=12)
    new = write_log(
        tmp_path / "new.csv",
        10,
        seed=5,
        phrases={**NEW_PHRASES, "占道管理": PHRASES["占道经营"]},
    )
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("old,new\n占道经营,占道管理\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="pass --registry DIR"):
        retrain(RetrainConfig(model=str(m1), new_file=str(new)))
    result = retrain(
        RetrainConfig(
            model=str(m1), new_file=str(new), mapping_file=str(mapping), registry=str(tmp_path / "reg")
        )
    )
    reg = ModelRegistry(tmp_path / "reg")
    assert result.version == "v2" and result.promoted and reg.current() == "v2"
    challenger = load_classifier(tmp_path / "reg")
    assert challenger.labels[-1] == "新能源充电" and "占道管理" in challenger.labels
    assert "占道经营" not in challenger.labels
    assert result.comparison.added_labels == ["新能源充电"]
    assert set(result.comparison.shared_labels) == {"噪音扰民", "市容环卫", "占道管理"}
    # The fixed evaluation set now holds the held-out new rows (with the new category).
    assert "新能源充电" in set(reg.eval_set()["label"]) and "占道经营" not in set(reg.eval_set()["label"])
    entry = next(e for e in reg.history() if e["event"] == "add" and e["version"] == "v2")
    assert len(entry["data"]["new_sha256"]) == 64 and entry["comparison"]["promote"]
    assert entry["labels"]["renamed"] == {"占道经营": "占道管理"}
    assert not (tmp_path / "reg" / ".work").exists()
    assert reg.rollback() == "v1" and load_classifier(tmp_path / "reg").labels == ModelInfo.load(m1).labels


def test_retrain_transformer_warm_start_and_force(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from training.pipeline import run_training
    from training.registry import ModelRegistry
    from training.retrain import retrain

    write_log(tmp_path / "train.csv", 8)
    run_training(tiny_config(tmp_path, tiny_bert_dir, epochs=1))
    new = write_log(tmp_path / "new.csv", 8, seed=3, phrases=NEW_PHRASES)
    result = retrain(
        RetrainConfig(
            model=str(tmp_path / "model"),
            new_file=str(new),
            registry=str(tmp_path / "reg"),
            force=True,
            tolerance=0.0,
            epochs=1,
        )
    )
    assert result.promoted
    reg = ModelRegistry(tmp_path / "reg")
    v2 = load_classifier(tmp_path / "reg")
    assert v2.info.model_type == "transformer" and v2.labels[-1] == "新能源充电" and len(v2.labels) == 4
    config = json.loads((tmp_path / "reg" / "v2" / "training_config.json").read_text())
    assert config["max_length"] == 24 and config["output_dir"].endswith("v2")
    assert (tmp_path / "reg" / "v2" / "replay.parquet").exists()
    assert not (tmp_path / "reg" / "v2" / "checkpoints").exists()
    assert [r["version"] for r in reg.rows()] == ["v1", "v2"]
    # The whole cycle: evaluate the registry's current model, then roll back to v1.
    from training.evaluate import evaluate_model

    report = evaluate_model(tmp_path / "reg", new)
    assert report.info.version == "v2" and report.metrics["n"] == 8
    assert reg.rollback() == "v1" and len(load_classifier(tmp_path / "reg").labels) == 3
