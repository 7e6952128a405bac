"""Training: config validation, data checks, the accelerate loop (resume, early stopping), export."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from common.errors import ColumnNotFoundError, ConfigError, InputFileError
from training.config import TrainConfig

PHRASES = {
    "噪音扰民": ["工地夜间施工噪音很大", "广场舞音响太吵", "装修电钻声音扰民", "酒吧音乐声音太大"],
    "市容环卫": ["小区垃圾堆积无人清运", "路边垃圾桶满了", "街道卫生很差", "公厕脏乱无人打扫"],
    "占道经营": ["流动摊贩占道经营", "商户货物摆到人行道", "夜市摊位占用马路", "水果摊占道经营"],
}
NEW_PHRASES = {"新能源充电": ["小区不让装充电桩", "充电桩报装难", "公共充电桩坏了", "充电车位被燃油车占"]}


def write_log(
    path: Path,
    n_per_class: int,
    *,
    seed: int = 0,
    phrases: dict[str, list[str]] | None = None,
    header: tuple[str, ...] = ("id", "title", "text", "label"),
) -> Path:
    """A small labelled complaint log whose categories are told apart by their phrases."""
    rng = random.Random(seed)
    rows = []
    for label, options in (phrases or PHRASES).items():
        for i in range(n_per_class):
            p = rng.choice(options)
            rows.append([f"{seed}-{label}-{i}", p[:4], f"市民反映{p}，请处理。电话13812345678。", label])
    rng.shuffle(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def tiny_config(tmp_path: Path, base: Path, **overrides: object) -> TrainConfig:
    settings: dict[str, object] = {
        "train_file": str(tmp_path / "train.csv"),
        "output_dir": str(tmp_path / "model"),
        "base_model": str(base),
        "max_length": 24,
        "epochs": 2,
        "batch_size": 8,
        "eval_batch_size": 16,
        "learning_rate": 2e-3,
        "eval_split": 0.2,
        "min_threshold_support": 2,
        "replay_per_class": 5,
    }
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


# -- config and data ---------------------------------------------------------------------------


def test_config_validates_and_round_trips(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--base-model"):
        TrainConfig(train_file="t.csv", output_dir="o")
    with pytest.raises(ValueError, match="eval_split"):
        TrainConfig(train_file="t.csv", output_dir="o", model_type="tfidf", eval_split=0.7)
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(train_file="t.csv", output_dir="o", model_type="tfidf", mixed_precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="character n-grams, word n-grams or both"):
        TrainConfig(
            train_file="t.csv",
            output_dir="o",
            model_type="tfidf",
            tfidf_char_ngrams=None,
            tfidf_word_ngrams=None,
        )
    config = TrainConfig(train_file="t.csv", output_dir=str(tmp_path), model_type="tfidf")
    config.save(tmp_path)
    loaded = TrainConfig.load(tmp_path)
    assert loaded == config and loaded.tfidf_char_ngrams == (1, 3)


def test_a_training_config_saved_by_the_dataclass_version_still_loads(tmp_path: Path) -> None:
    # training_config.json as TrainConfig wrote it before it became a pydantic model
    saved = {
        "train_file": "train.csv", "output_dir": "model", "model_type": "transformer", "base_model": "bert",
        "eval_file": None, "eval_split": 0.2, "columns": {"label": "类别"}, "encoding": None, "name": None,
        "seed": 42, "max_length": 24, "head_tokens": None, "epochs": 2, "max_steps": None, "batch_size": 8,
        "eval_batch_size": 16, "gradient_accumulation_steps": 1, "learning_rate": 0.002,
        "head_learning_rate": None, "weight_decay": 0.01, "warmup_ratio": 0.06, "scheduler": "linear",
        "max_grad_norm": 1.0, "mixed_precision": "no", "freeze_embeddings": False, "class_weight": "none",
        "label_smoothing": 0.0, "group_by_length": True, "eval_steps": None, "early_stopping_patience": 2,
        "checkpoint_steps": None, "keep_checkpoints": 2, "checkpoint_dir": None, "resume_from": None,
        "tfidf_char_ngrams": [1, 3], "tfidf_word_ngrams": None, "tfidf_max_features": 300000,
        "tfidf_min_df": 2, "tfidf_classifier": "svm", "tfidf_c_grid": [0.1, 0.3, 1.0, 3.0, 10.0],
        "fusion_weight_grid": [round(0.05 * i, 2) for i in range(21)], "calibrate": True,
        "calibration_folds": 5, "target_precision": 0.95, "min_threshold_support": 2, "replay_per_class": 5,
    }  # fmt: skip
    text = json.dumps(saved, ensure_ascii=False, indent=2) + "\n"
    (tmp_path / "training_config.json").write_text(text, encoding="utf-8")
    config = TrainConfig.load(tmp_path)
    assert config.tfidf_char_ngrams == (1, 3) and config.columns == {"label": "类别"}
    assert config.learning_rate == 0.002 and config.resolved_checkpoint_dir == Path("model") / "checkpoints"
    out = tmp_path / "again"
    out.mkdir()
    config.save(out)
    assert (out / "training_config.json").read_text(encoding="utf-8") == text  # the same file, byte for byte


def test_job_configs_describe_every_field_and_name_every_bad_one() -> None:
    from training.config import RetrainConfig

    for cls in (TrainConfig, RetrainConfig):
        undescribed = [name for name, f in cls.model_fields.items() if not f.description]
        assert not undescribed, (cls.__name__, undescribed)
    with pytest.raises(ConfigError, match=r"holdout: .*; epochs: .*; colour: unknown field"):
        RetrainConfig(model="m", new_file="n", holdout=0.95, epochs=0, colour="red")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match=r"head_tokens: must be between 0 and max_length - 2"):
        TrainConfig(train_file="t.csv", output_dir="o", model_type="tfidf", max_length=16, head_tokens=15)


def test_split_and_replay_are_stratified_and_seeded() -> None:
    from training.data import replay_sample, stratified_split

    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(41)],
            "text": [f"t{i}" for i in range(41)],
            "label": ["a"] * 30 + ["b"] * 10 + ["c"],
            "row": range(1, 42),
        }
    )
    train, ev = stratified_split(frame, 0.2, seed=1)
    assert ev["label"].value_counts().to_dict() == {"a": 6, "b": 2}
    assert "c" in set(train["label"]) and len(train) + len(ev) == 41
    again, _ = stratified_split(frame, 0.2, seed=1)
    pd.testing.assert_frame_equal(train, again)
    replay = replay_sample(frame, 4, seed=0)
    assert replay["label"].value_counts().to_dict() == {"a": 4, "b": 4, "c": 1}


def test_bad_training_files_fail_clearly(tmp_path: Path) -> None:
    from training.data import load_labelled

    no_label = write_log(tmp_path / "nolabel.csv", 3, header=("id", "title", "text", "remark"))
    with pytest.raises(ColumnNotFoundError, match=r"cannot find the label column.*--label-column"):
        load_labelled(no_label)
    with pytest.raises(ColumnNotFoundError, match="no column named 'category'"):
        load_labelled(write_log(tmp_path / "ok.csv", 3), columns={"label": "category"})
    one = write_log(tmp_path / "one.csv", 5, phrases={"噪音扰民": PHRASES["噪音扰民"]})
    with pytest.raises(InputFileError, match=r"one\.csv.*only 1 class.*'噪音扰民' \(5 rows\)"):
        load_labelled(one)
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text,label\n1,,a\n2,  ,b\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no usable rows"):
        load_labelled(empty)


def test_eval_file_with_unknown_labels_is_refused(tmp_path: Path) -> None:
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 6)
    write_log(tmp_path / "eval.csv", 2, phrases=NEW_PHRASES)
    config = TrainConfig(
        train_file=str(tmp_path / "train.csv"),
        eval_file=str(tmp_path / "eval.csv"),
        output_dir=str(tmp_path / "m"),
        model_type="tfidf",
    )
    with pytest.raises(InputFileError, match=r"labels \['新能源充电'\] occur in the evaluation data"):
        run_training(config)


def test_balanced_class_weights() -> None:
    from training.model_setup import balanced_class_weights

    w = balanced_class_weights([0, 0, 0, 1], 2)
    np.testing.assert_allclose(w, [4 / 6, 2.0])
    assert (w * np.bincount([0, 0, 0, 1])).tolist() == pytest.approx([2.0, 2.0])


def test_epoch_batch_sampler_is_deterministic_and_complete() -> None:
    from training.batches import EpochBatchSampler

    lengths = list(range(100))
    s = EpochBatchSampler(lengths, 8, seed=3)
    first = list(s)
    assert len(first) == len(s) == 13
    assert sorted(i for b in first for i in b) == lengths
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) != first
    # Grouping by length: a batch spans a narrow range of lengths.
    assert np.median([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first]) < 20
    # The short batch is always last (multi-process sharding relies on it), in every epoch.
    big = EpochBatchSampler(list(range(449)), 8, seed=0)  # 50-batch pools: the short one is in the 2nd
    for epoch in range(3):
        big.set_epoch(epoch)
        sizes = [len(b) for b in big]
        assert sizes[-1] == 1 and set(sizes[:-1]) == {8}


def test_two_process_cpu_training_shards_the_data(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """torchrun + ACCELERATE_USE_CPU: a real 2-process (gloo) run, as `accelerate launch` does on GPUs."""
    import math
    import os
    import subprocess
    import sys

    write_log(tmp_path / "train.csv", 12)  # 12 rows per class
    rows = len(pd.read_csv(tmp_path / "train.csv"))
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "hotline.cli",
        "train", "--train", str(tmp_path / "train.csv"), "-o", str(tmp_path / "model"),
        "--base-model", str(tiny_bert_dir), "--eval-split", "0.25", "--epochs", "1",
        "--batch-size", "4", "--max-length", "32",
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    train_rows = rows - round(rows * 0.25)
    per_process = math.ceil(math.ceil(train_rows / 4) / 2)  # batches split over 2 processes
    assert f"training done: {per_process} steps" in run.stderr
    # Only the main process writes the model and prints the result.
    assert run.stdout.count("transformer model written") == 1
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["eval"]["macro_f1"] >= 0


# -- TF-IDF -------------------------------------------------------------------------------------


def test_tfidf_train_two_classes_round_trip(tmp_path: Path) -> None:
    from nlp.classifier import load_classifier, predict_proba
    from nlp.tfidf import TfidfClassifier
    from training.pipeline import run_training

    phrases = {k: PHRASES[k] for k in ("噪音扰民", "市容环卫")}
    write_log(tmp_path / "train.csv", 15, phrases=phrases)
    config = TrainConfig(
        train_file=str(tmp_path / "train.csv"),
        output_dir=str(tmp_path / "m"),
        model_type="tfidf",
        tfidf_classifier="logreg",
        min_threshold_support=2,
    )
    result = run_training(config)
    model = load_classifier(tmp_path / "m")
    assert isinstance(model, TfidfClassifier) and model.coef.shape[0] == 2
    p = predict_proba(model, ["工地夜间施工噪音很大", "小区垃圾堆积无人清运"])
    assert [model.labels[i] for i in p.argmax(1)] == ["噪音扰民", "市容环卫"]
    assert result.metrics["eval"]["macro_f1"] == 1.0
    assert result.metrics["tfidf"]["C"] in config.tfidf_c_grid
    assert not list((tmp_path / "m").glob("*.pkl"))


# -- transformer --------------------------------------------------------------------------------


def test_train_transformer_writes_a_complete_model(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from nlp.classifier import ModelInfo, load_classifier, predict_proba
    from nlp.transformer import TransformerClassifier
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 12)
    result = run_training(tiny_config(tmp_path, tiny_bert_dir, class_weight="balanced", scheduler="cosine"))
    out = tmp_path / "model"
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "hotline.json",
        "training_config.json",
        "metrics.json",
        "README.md",
        "replay.parquet",
        "eval.parquet",
        "eval_report/report.json",
        "eval_report/confusion_matrix.png",
        "checkpoints/last/trainer_state.json",
        "checkpoints/best/model.safetensors",
    ):
        assert (out / name).exists(), name
    info = ModelInfo.load(out)
    assert info.model_type == "transformer" and sorted(info.labels) == sorted(PHRASES)
    assert set(info.thresholds) == set(info.labels) and info.temperature > 0
    plain = AutoModelForSequenceClassification.from_pretrained(out)
    assert [plain.config.id2label[i] for i in range(3)] == info.labels
    model = load_classifier(out)
    assert isinstance(model, TransformerClassifier)
    assert predict_proba(model, ["广场舞音响太吵"]).shape == (1, 3)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["data"]["label_counts"]["train"] == {label: 10 for label in info.labels}
    assert metrics["training"]["steps"] == 8 and len(metrics["training"]["history"]) == 2
    replay = pd.read_parquet(out / "replay.parquet")
    assert replay["label"].value_counts().max() <= 5
    assert "13812345678" not in "".join(replay["text"])  # masked text only
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "## Labels" in card and "hotline classify complaints.csv" in card
    assert json.loads((out / "training_config.json").read_text())["class_weight"] == "balanced"
    assert result.metrics["eval"]["n"] == 6


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 12)
    # 30 training rows, batch 8 with 2-step accumulation: 4 batches, 2 updates an epoch; the
    # checkpoint at update 3 is in the middle of epoch 2 (two of its batches already seen).
    common = {"batch_size": 8, "gradient_accumulation_steps": 2, "epochs": 3, "keep_checkpoints": 10}
    full = run_training(
        tiny_config(tmp_path, tiny_bert_dir, output_dir=str(tmp_path / "a"), checkpoint_steps=1, **common)
    )
    mid = tmp_path / "a" / "checkpoints" / "step-0000003"
    state = json.loads((mid / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and state["batches_in_epoch"] == 2
    resumed = run_training(
        tiny_config(tmp_path, tiny_bert_dir, output_dir=str(tmp_path / "b"), resume_from=str(mid), **common)
    )
    a = load_file(str(tmp_path / "a" / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    strip = ("train_loss",)  # a running average restarted at the resume point
    hist = [{k: v for k, v in h.items() if k not in strip} for h in full.metrics["training"]["history"]]
    hist_b = [{k: v for k, v in h.items() if k not in strip} for h in resumed.metrics["training"]["history"]]
    assert hist_b == hist
    assert resumed.metrics["eval"]["macro_f1"] == full.metrics["eval"]["macro_f1"]
    assert resumed.info.temperature == pytest.approx(full.info.temperature)


def test_early_stopping_stops_after_patience(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 12)
    # A learning rate this small cannot move macro-F1: the second evaluation is no better.
    result = run_training(
        tiny_config(
            tmp_path, tiny_bert_dir, learning_rate=1e-9, eval_steps=1, early_stopping_patience=1, epochs=3
        )
    )
    training = result.metrics["training"]
    assert training["stopped_early"] is True
    assert training["steps"] == 2 and training["best_step"] == 1
    assert len(training["history"]) == 2


def test_resume_from_a_folder_without_checkpoints_is_a_clear_error(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 6)
    with pytest.raises(ConfigError, match="no checkpoint found"):
        run_training(tiny_config(tmp_path, tiny_bert_dir, resume_from=str(tmp_path)))


# -- tokenised data (datasets) -------------------------------------------------------------------


def _count_encoding(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows tokenised from now on (cache hits tokenise none)."""
    import training.tokenized as tokenized

    calls: list[int] = []
    real = tokenized._encode_batch

    def counting(batch: dict[str, list[object]], **kwargs: object) -> dict[str, list[object]]:
        calls.append(len(batch["text"]))
        return real(batch, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokenized, "_encode_batch", counting)
    return calls


def test_tokenised_data_is_cached_on_disk_by_fingerprint(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoTokenizer

    from nlp.transformer import encode_head_tail
    from training.tokenized import cache_files, prune_cache, tokenize

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    texts = [
        p * (1 + i % 4) for i, p in enumerate(phrase for options in PHRASES.values() for phrase in options)
    ]
    frame = pd.DataFrame({"text": texts, "label": [["a", "b", "c"][i % 3] for i in range(len(texts))]})
    settings = {
        "labels": ["c", "a", "b"],
        "max_length": 16,
        "head_tokens": 4,
        "cache_dir": tmp_path / "cache",
    }
    calls = _count_encoding(monkeypatch)
    first = tokenize(frame, tokenizer, **settings)
    assert sum(calls) == len(frame)
    ids, truncated = encode_head_tail(tokenizer, texts, 16, 4)
    assert list(first["input_ids"]) == ids and list(first["truncated"]) == truncated
    assert list(first["length"]) == [len(x) for x in ids]
    assert list(first["label"]) == [{"c": 0, "a": 1, "b": 2}[v] for v in frame["label"]]
    files = sorted((tmp_path / "cache").glob("*.arrow"))
    assert len(files) == 1 and cache_files(first) == files
    written = files[0].stat().st_mtime_ns

    calls.clear()
    again = tokenize(frame.copy(), tokenizer, **settings)  # same rows and settings: read, not tokenised
    assert calls == [] and cache_files(again) == files and files[0].stat().st_mtime_ns == written
    assert list(again["input_ids"]) == ids

    longer = tokenize(frame, tokenizer, **{**settings, "max_length": 24})  # other settings: another file
    assert sum(calls) == len(frame) and len(list((tmp_path / "cache").glob("*.arrow"))) == 2
    assert prune_cache(tmp_path / "cache", keep=[longer]) == files
    assert list((tmp_path / "cache").glob("*.arrow")) == cache_files(longer)


def test_a_second_run_on_the_same_data_reuses_the_tokenised_data(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.pipeline import run_training

    write_log(tmp_path / "train.csv", 6)
    first = run_training(tiny_config(tmp_path, tiny_bert_dir, epochs=1))
    cache = tmp_path / "model" / "checkpoints" / "tokenized"
    files = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.arrow")}
    assert len(files) == 2  # the training and the evaluation rows
    calls = _count_encoding(monkeypatch)
    second = run_training(tiny_config(tmp_path, tiny_bert_dir, epochs=1, learning_rate=1e-3))
    assert calls == []
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.arrow")} == files
    assert second.metrics["data"]["train_fingerprint"] == first.metrics["data"]["train_fingerprint"]


def test_a_log_streams_into_an_on_disk_dataset_that_trains_like_the_frame(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    from safetensors.numpy import load_file

    from training.data import load_labelled
    from training.tokenized import cache_files, log_dataset
    from training.trainer import train_transformer

    path = write_log(tmp_path / "train.csv", 8)
    streamed = log_dataset(path, tmp_path / "logs", chunk_rows=5)  # 24 rows read 5 at a time
    frame = load_labelled(path)
    pd.testing.assert_frame_equal(streamed.to_pandas(), frame, check_dtype=False)
    assert cache_files(streamed) and all(tmp_path / "logs" in p.parents for p in cache_files(streamed))
    assert "13812345678" not in "".join(streamed["text"])  # masked on reading, like load_labelled
    assert cache_files(log_dataset(path, tmp_path / "logs", chunk_rows=5)) == cache_files(streamed)

    labels = sorted(PHRASES)
    evaluation = frame.iloc[:6]
    weights = {}
    for name, rows in (("frame", frame), ("stream", streamed)):
        config = tiny_config(tmp_path, tiny_bert_dir, output_dir=str(tmp_path / name), epochs=1)
        result = train_transformer(config, rows, evaluation, labels)
        weights[name] = load_file(str(result.last_dir / "model.safetensors"))
    for key, value in weights["frame"].items():
        np.testing.assert_array_equal(value, weights["stream"][key], err_msg=key)
