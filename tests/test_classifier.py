from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import ModelNotFoundError
from nlp.classifier import ModelInfo, load_classifier, predict_proba, softmax
from nlp.fusion import FusionClassifier
from nlp.tfidf import TfidfClassifier, TfidfFeatures
from nlp.transformer import SpecialTokens, TransformerClassifier, encode_head_tail, head_tail_ids

LABELS = ["噪音扰民", "市容环卫", "占道经营"]
TEXTS = [
    "工地夜间施工噪音扰民，影响休息",
    "广场舞音响太吵",
    "小区垃圾堆积无人清运",
    "路边垃圾桶满了没人倒",
    "流动摊贩占道经营堵塞人行道",
    "商户把货物摆到人行道上占道",
]
Y = [0, 0, 1, 1, 2, 2]


def fit_tfidf(features: TfidfFeatures | None = None) -> TfidfClassifier:
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    features = features or TfidfFeatures(min_df=1)
    vecs = TfidfClassifier.make_vectorizers(features)
    x = hstack([v.fit_transform(TEXTS) for v in vecs.values()]).tocsr()
    clf = LogisticRegression(max_iter=200).fit(x, Y)
    return TfidfClassifier(
        ModelInfo("tfidf", LABELS), features, vecs, clf.coef_.T.copy(order="F").T, clf.intercept_
    )


def make_transformer(tiny_bert_dir: Path) -> TransformerClassifier:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert_dir,
        num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={k: i for i, k in enumerate(LABELS)},
    )
    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    return TransformerClassifier(
        model.eval(), tok, ModelInfo("transformer", LABELS, max_length=16, head_tokens=4)
    )


def test_model_info_validates() -> None:
    with pytest.raises(ValueError, match="at least 2 labels"):
        ModelInfo("tfidf", ["only"])
    with pytest.raises(ValueError, match="unknown labels"):
        ModelInfo("tfidf", LABELS, thresholds={"其他": 0.5})
    with pytest.raises(ValueError, match="temperature"):
        ModelInfo("tfidf", LABELS, temperature=0)
    with pytest.raises(ValueError, match="fusion_weight"):
        ModelInfo("fusion", LABELS)
    assert ModelInfo("transformer", LABELS, max_length=512).resolved_head_tokens == 127


def test_head_tail_ids() -> None:
    ids = list(range(20))
    assert head_tail_ids(ids, 30, 4) == ids
    assert head_tail_ids(ids, 10, 4) == [0, 1, 2, 3, 14, 15, 16, 17, 18, 19]
    assert head_tail_ids(ids, 10, 10) == list(range(10))


def test_encode_head_tail_keeps_start_and_end(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    special = SpecialTokens(tok)
    assert special.prefix == [tok.cls_token_id] and special.suffix == [tok.sep_token_id]
    text = "开头说地点" + "中间的叙述" * 50 + "最后提要求"
    (ids,), (truncated,) = encode_head_tail(tok, [text], max_length=16, head_tokens=5, special=special)
    assert len(ids) == 16 and truncated
    decoded = tok.decode(ids[1:-1]).replace(" ", "")
    assert decoded.startswith("开头说地点") and decoded.endswith("最后提要求")
    (short,), (flag,) = encode_head_tail(tok, ["短文本"], 16, 5, special)
    assert not flag and len(short) == 5


def test_tfidf_round_trip_is_exact(tmp_path: Path) -> None:
    model = fit_tfidf()
    before = model.logits(TEXTS)
    model.save(tmp_path / "m")
    loaded = load_classifier(tmp_path / "m")
    assert isinstance(loaded, TfidfClassifier)
    np.testing.assert_array_equal(loaded.logits(TEXTS), before)
    assert (before.argmax(1) == np.array(Y)).all()
    assert not list(tmp_path.glob("m/*.pkl"))


def test_transformer_round_trip(tiny_bert_dir: Path, tmp_path: Path) -> None:
    clf = make_transformer(tiny_bert_dir)
    before = clf.logits(TEXTS)
    assert before.shape == (6, 3)
    clf.save(tmp_path / "t")
    loaded = load_classifier(tmp_path / "t")
    assert isinstance(loaded, TransformerClassifier)
    np.testing.assert_allclose(loaded.logits(TEXTS), before, atol=1e-5)
    # Order of inputs does not matter (batches are sorted by length internally).
    np.testing.assert_allclose(loaded.logits(TEXTS[::-1], batch_size=2)[::-1], before, atol=1e-5)
    from transformers import AutoModelForSequenceClassification

    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "t")
    assert plain.config.id2label == dict(enumerate(LABELS))


def test_fusion_and_temperature(tiny_bert_dir: Path, tmp_path: Path) -> None:
    tr, tf = make_transformer(tiny_bert_dir), fit_tfidf()
    fusion = FusionClassifier(ModelInfo("fusion", LABELS, fusion_weight=0.0), tr, tf)
    # With weight 0 the fusion is the TF-IDF model's log-probabilities.
    np.testing.assert_allclose(softmax(fusion.logits(TEXTS)), predict_proba(tf, TEXTS), atol=1e-5)
    fusion.info.fusion_weight = 0.5
    fusion.save(tmp_path / "f")
    loaded = load_classifier(tmp_path / "f")
    np.testing.assert_allclose(loaded.logits(TEXTS), fusion.logits(TEXTS), atol=1e-5)
    hot = softmax(np.array([[2.0, 0.0, 0.0]]), temperature=2.0)
    assert hot[0, 0] < softmax(np.array([[2.0, 0.0, 0.0]]))[0, 0]


def test_load_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="hotline train"):
        load_classifier(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="not a hotline model"):
        load_classifier(tmp_path / "empty")
