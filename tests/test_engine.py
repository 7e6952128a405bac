"""The inference engine and the ONNX export (tiny random BERT; seconds on a CPU)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from common.errors import ModelNotFoundError
from nlp.batching import length_buckets
from nlp.classifier import ClassifierBase, ModelInfo, load_classifier, predict_proba, softmax
from nlp.engine import EngineConfig, InferenceEngine
from nlp.fusion import FusionClassifier
from nlp.transformer import OnnxClassifier
from tests.test_classifier import LABELS, TEXTS, Y, fit_tfidf, make_transformer

LONG = "开头说地点在幸福路" + "中间的叙述很长很长" * 40 + "最后请求尽快处理"


def save_transformer(tiny_bert_dir: Path, out: Path, *, version: str = "v1", steps: int = 60) -> Path:
    """A transformer model directory, briefly fitted to TEXTS so that its predictions have margins.

    A randomly initialised BERT maps every text to nearly the same vector; quantisation noise
    would then decide the argmax, and an agreement test would test nothing.
    """
    import torch

    clf = make_transformer(tiny_bert_dir)
    model = clf.model.train()
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    ids, _ = clf.encode(TEXTS)
    batch = clf.collate(ids)
    labels = torch.tensor(Y)
    for _ in range(steps):
        opt.zero_grad()
        model(**batch, labels=labels).loss.backward()
        opt.step()
    model.eval()
    clf.info.version = version
    clf.save(out)
    return out


@pytest.fixture(scope="module")
def transformer_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_transformer(tiny_bert_dir, tmp_path_factory.mktemp("engine") / "transformer")


@pytest.fixture(scope="module")
def onnx_dirs(transformer_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tools.onnx_export import export_onnx

    root = tmp_path_factory.mktemp("onnx")
    export_onnx(transformer_dir, root / "fp32")
    export_onnx(transformer_dir, root / "int8", quantize=True)
    return root / "fp32", root / "int8"


def test_length_buckets_cover_everything_once_and_respect_limits() -> None:
    lengths = [5, 300, 12, 12, 80, 7, 256, 3, 40, 41]
    buckets = length_buckets(lengths, batch_size=3, max_batch_tokens=300)
    flat = sorted(int(i) for b in buckets for i in b)
    assert flat == list(range(len(lengths)))
    for b in buckets:
        assert len(b) <= 3
        widths = [lengths[i] for i in b]
        assert len(b) == 1 or len(b) * max(widths) <= 300
    # Sorted: each bucket's longest is no longer than the next bucket's shortest.
    for a, b in itertools.pairwise(buckets):
        assert max(lengths[i] for i in a) <= min(lengths[i] for i in b)


def test_engine_config_validates() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        EngineConfig(batch_size=0)
    with pytest.raises(ValueError, match="num_threads"):
        EngineConfig(num_threads=0)
    cfg = EngineConfig(batch_size=4, num_threads=1)
    assert EngineConfig.from_dict(cfg.to_dict()) == cfg


class CharClassifier(ClassifierBase):
    """A model type the engine has never heard of: inputs are the first 8 characters."""

    def __init__(self) -> None:
        self.info = ModelInfo("tfidf", ["短", "长"])
        self.batches: list[int] = []

    def encode(self, texts: list[str]) -> tuple[list[list[str]], list[bool]]:
        return [list(t[:8]) for t in texts], [len(t) > 8 for t in texts]

    def input_lengths(self, inputs: list[list[str]]) -> list[int]:
        return [len(x) for x in inputs]

    def forward(self, inputs: list[list[str]]) -> np.ndarray:
        self.batches.append(len(inputs))
        return np.array([[8 - len(x), len(x)] for x in inputs], dtype=np.float32)

    def save(self, directory: Path) -> Path:
        raise NotImplementedError


def test_engine_runs_any_classifier_through_the_protocol() -> None:
    clf = CharClassifier()
    engine = InferenceEngine(clf, EngineConfig(batch_size=2, max_batch_tokens=8, max_padding=10))
    texts = ["一二", "一二三四五六七八九十", "一", "一二三四五"]
    out = engine.predict_arrays(texts)
    assert [engine.labels[i] for i in out.top] == ["短", "长", "短", "长"]
    assert out.truncated.tolist() == [False, True, False, False]
    # Sorted by length (1, 2, 5, 8): two short ones share a pass; 2 x 8 tokens would exceed the cap.
    assert clf.batches == [2, 1, 1] and engine.batches_run == 3
    clf.batches.clear()
    np.testing.assert_allclose(softmax(clf.logits(texts)), out.probs, atol=1e-6)
    assert clf.batches == [4]  # Classifier.logits: the same loop, without a token cap


def test_transformer_engine_matches_classifier(transformer_dir: Path) -> None:
    engine = InferenceEngine.load(
        transformer_dir, EngineConfig(batch_size=2, max_batch_tokens=64, num_threads=1)
    )
    texts = [*TEXTS, LONG]
    clf = load_classifier(transformer_dir)
    expected = predict_proba(clf, texts)
    out = engine.predict_arrays(texts)
    np.testing.assert_allclose(out.probs, expected, atol=1e-5)
    # max_length is 16: the long text is cut, and so is any text over 14 characters.
    assert out.truncated.tolist() == clf.encode(texts)[1]
    assert out.truncated[-1] and not out.truncated[1]
    preds = engine.predict(texts, top_k=2)
    assert [p.label for p in preds] == [LABELS[i] for i in expected.argmax(1)]
    for p in preds:
        assert len(p.top_k) == 2 and p.top_k[0][0] == p.label and p.top_k[0][1] >= p.top_k[1][1]
        assert p.score == p.top_k[0][1]
    assert engine.batches_run >= 4  # batch_size=2: buckets, not one big batch
    assert engine.version == "v1" and engine.model_type == "transformer"


def test_thresholds_and_temperature_are_applied(transformer_dir: Path, tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "m"
    shutil.copytree(transformer_dir, d)
    info = ModelInfo.load(d)
    base = InferenceEngine.load(d).predict_arrays(TEXTS)
    top_label = LABELS[int(base.top[0])]
    info.temperature = 3.0
    info.thresholds = {top_label: 0.999}
    info.save(d)
    engine = InferenceEngine.load(d)
    out = engine.predict_arrays(TEXTS)
    # A higher temperature flattens the distribution; the argmax stays.
    assert (out.probs.max(1) < base.probs.max(1)).all()
    assert (out.top == base.top).all()
    assert out.needs_review.tolist() == [LABELS[int(t)] == top_label for t in out.top]


def test_tfidf_and_fusion_engines(transformer_dir: Path, tmp_path: Path) -> None:
    tfidf = fit_tfidf()
    tfidf.save(tmp_path / "tfidf")
    engine = InferenceEngine.load(tmp_path / "tfidf")
    preds = engine.predict([*TEXTS, LONG])
    assert [p.label for p in preds[:6]] == [LABELS[i] for i in (0, 0, 1, 1, 2, 2)]
    assert not any(p.truncated for p in preds)

    transformer = load_classifier(transformer_dir)
    fusion = FusionClassifier(
        ModelInfo("fusion", LABELS, fusion_weight=0.3, version="f1"), transformer, tfidf
    )
    fusion.save(tmp_path / "fusion")
    engine = InferenceEngine.load(tmp_path / "fusion", EngineConfig(batch_size=2))
    out = engine.predict_arrays([*TEXTS, LONG])
    np.testing.assert_allclose(out.probs, predict_proba(fusion, [*TEXTS, LONG]), atol=1e-5)
    assert out.truncated.tolist()[-1] is True


def test_registry_current_is_resolved(transformer_dir: Path, tmp_path: Path) -> None:
    import shutil

    registry = tmp_path / "registry"
    registry.mkdir()
    shutil.copytree(transformer_dir, registry / "v1")
    (registry / "current").write_text("v1\n", encoding="utf-8")
    assert InferenceEngine.load(registry).model_dir == registry / "v1"
    with pytest.raises(ModelNotFoundError, match="hotline train"):
        InferenceEngine.load(tmp_path / "missing")


def test_onnx_fp32_matches_torch_and_int8_agrees(transformer_dir: Path, onnx_dirs: tuple[Path, Path]) -> None:
    fp32_dir, int8_dir = onnx_dirs
    texts = [*TEXTS, LONG, "咨询社保卡补办流程", "楼道里堆满杂物存在消防隐患"]
    torch_clf = load_classifier(transformer_dir)
    fp32 = load_classifier(fp32_dir)
    int8 = load_classifier(int8_dir)
    assert isinstance(fp32, OnnxClassifier) and isinstance(int8, OnnxClassifier)
    ref = torch_clf.logits(texts)
    np.testing.assert_allclose(fp32.logits(texts), ref, atol=1e-4, rtol=1e-4)
    # Dynamic axes: another batch size and sequence length than the export example.
    np.testing.assert_allclose(fp32.logits(texts[:1]), ref[:1], atol=1e-4, rtol=1e-4)
    q = int8.logits(texts)
    agree = q.argmax(1) == ref.argmax(1)
    assert agree[: len(TEXTS)].all() and agree.mean() >= 0.75, (q, ref)
    assert (int8_dir / "model.onnx").stat().st_size < (fp32_dir / "model.onnx").stat().st_size
    # The engine loads both like any model, labels and calibration carried over.
    engine = InferenceEngine.load(int8_dir, EngineConfig(num_threads=1))
    assert engine.model_type == "onnx" and engine.version == "v1+onnx-int8" and engine.labels == LABELS
    preds = engine.predict(texts)
    assert preds[len(TEXTS)].truncated and not preds[1].truncated


def test_export_refuses_non_transformers_and_evaluates(
    transformer_dir: Path, onnx_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    import pandas as pd

    from tools.onnx_export import evaluate_pair, export_onnx

    fit_tfidf().save(tmp_path / "tfidf")
    with pytest.raises(ModelNotFoundError, match="transformer models only"):
        export_onnx(tmp_path / "tfidf", tmp_path / "out")
    labelled = tmp_path / "eval.csv"
    gold = load_classifier(transformer_dir).logits(TEXTS).argmax(1)
    pd.DataFrame({"text": TEXTS, "label": [LABELS[i] for i in gold]}).to_csv(labelled, index=False)
    report = evaluate_pair(transformer_dir, onnx_dirs[0], labelled)
    assert report["rows"] == len(TEXTS)
    assert report["before"]["accuracy"] == 1.0 and report["after"]["accuracy"] == 1.0
    assert report["agreement"] == 1.0


def test_length_buckets_split_mixed_lengths_to_bound_padding() -> None:
    lengths = [30, 250, 32, 240, 35, 245, 31, 120]
    plain = length_buckets(lengths, batch_size=16, max_batch_tokens=10_000)
    assert len(plain) == 1  # one pass, padded to 250: 2000 slots for 983 real tokens
    capped = length_buckets(lengths, batch_size=16, max_batch_tokens=10_000, max_padding=0.2)
    assert sorted(int(i) for b in capped for i in b) == list(range(len(lengths)))
    for b in capped:
        widths = [lengths[i] for i in b]
        assert len(b) * max(widths) - sum(widths) <= 0.2 * sum(widths)
    assert [sorted(lengths[i] for i in b) for b in capped] == [[30, 31, 32, 35], [120], [240, 245, 250]]
    # Equal lengths never pad, so the cap does not split them.
    assert len(length_buckets([64] * 10, batch_size=16, max_batch_tokens=10_000, max_padding=0.0)) == 1
    with pytest.raises(ValueError, match="max_padding"):
        EngineConfig(max_padding=-0.1)


def test_speed_ceiling_bench_runs_on_a_tiny_model(transformer_dir: Path, tmp_path: Path) -> None:
    """bench/speed_ceiling.py end to end (tiny model, fixed length): every path timed, ratios derived."""
    import json
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "ceiling.jsonl"
    cmd = [sys.executable, str(repo / "bench" / "speed_ceiling.py"), "--model", str(transformer_dir)]
    cmd += ["--length", "12", "--batch", "3", "--rounds", "1", "--threads", "1", "--json-out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    assert result["tokens_per_text"] == 12 and result["batch"] == 3
    paths = {f"{m}_{b}" for m in ("torch_fp32", "onnx_fp32", "onnx_int8") for b in ("batch1", "batch3")}
    assert set(result["ms_per_text"]) == paths
    assert all(ms > 0 for ms in result["ms_per_text"].values())
    assert set(result["batching_gain"]) == {"torch_fp32", "onnx_fp32", "onnx_int8"}
    assert result["int8_gain_vs_onnx_fp32"] > 0
    assert set(result["gemm_gflops"]) == {"tokens_12", "tokens_36"}
    for rates in result["gemm_gflops"].values():
        assert set(rates) == {"torch_fp32", "onnx_fp32", "onnx_int8"} and min(rates.values()) > 0
