"""The TF-IDF baseline: character n-grams and/or jieba words with a linear classifier.

It trains in seconds on a CPU, is the fallback when no transformer can be served, and is the
honest reference every fine-tuned model must beat. ``C`` (the inverse regularisation strength)
is chosen on the evaluation split by macro-F1 (ties: the smaller ``C``, the simpler model); the
chosen model is the one fitted on the training split, so the evaluation split stays held out
for calibration and thresholds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from nlp.classifier import ModelInfo
from nlp.tfidf import TfidfClassifier, TfidfFeatures
from training.config import TrainConfig

logger = logging.getLogger(__name__)


def linear_weights(clf: Any, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(coef, intercept)`` with one row per label, also for two classes.

    scikit-learn keeps a single row ``w`` for binary problems (the score of class 1); rows
    ``-w/2`` and ``w/2`` give logits whose softmax equals ``sigmoid(w.x + b)``.
    """
    coef = np.asarray(clf.coef_, dtype=np.float64)
    intercept = np.asarray(clf.intercept_, dtype=np.float64).reshape(-1)
    if n_labels == 2 and coef.shape[0] == 1:
        coef = np.vstack([-coef / 2, coef / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def make_linear(kind: str, c: float, seed: int) -> Any:
    if kind == "svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=c, random_state=seed, max_iter=5000)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000, random_state=seed)


def features_from_config(config: TrainConfig) -> TfidfFeatures:
    return TfidfFeatures(
        char_ngrams=config.tfidf_char_ngrams,
        word_ngrams=config.tfidf_word_ngrams,
        max_features=config.tfidf_max_features,
        min_df=config.tfidf_min_df,
    )


def fit_vectorizers(features: TfidfFeatures, texts: Sequence[str]) -> tuple[dict[str, Any], Any]:
    from scipy.sparse import hstack

    vecs = TfidfClassifier.make_vectorizers(features)
    try:
        x = hstack([v.fit_transform(texts) for v in vecs.values()]).tocsr()
    except ValueError as exc:
        if features.min_df <= 1:
            raise
        # A few hundred short texts may leave no term in two documents.
        logger.warning("tfidf: %s with min_df=%d; refitting with min_df=1", exc, features.min_df)
        features.min_df = 1
        vecs = TfidfClassifier.make_vectorizers(features)
        x = hstack([v.fit_transform(texts) for v in vecs.values()]).tocsr()
    return vecs, x


def train_tfidf(
    config: TrainConfig,
    train: pd.DataFrame,
    evaluation: pd.DataFrame,
    labels: Sequence[str],
    *,
    name: str | None = None,
) -> tuple[TfidfClassifier, dict[str, Any]]:
    """Fit the vectorisers and the linear model; returns the classifier and the C search."""
    from scipy.sparse import hstack

    from training.metrics import macro_f1

    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    y_train = np.array([index[v] for v in train["label"]])
    y_eval = np.array([index[v] for v in evaluation["label"]])
    started = time.perf_counter()
    features = features_from_config(config)
    vecs, x_train = fit_vectorizers(features, list(train["text"]))
    x_eval = hstack([v.transform(list(evaluation["text"])) for v in vecs.values()]).tocsr()
    logger.info("tfidf: %d features from %d texts", x_train.shape[1], x_train.shape[0])
    search, best = [], None
    for c in sorted(config.tfidf_c_grid):
        clf = make_linear(config.tfidf_classifier, c, config.seed).fit(x_train, y_train)
        score = macro_f1(y_eval, clf.predict(x_eval))
        search.append({"C": c, "eval_macro_f1": score})
        logger.info("tfidf %s C=%g: eval macro-F1 %.4f", config.tfidf_classifier, c, score)
        if best is None or score > best[0] + 1e-9:
            best = (score, c, clf)
    assert best is not None
    coef, intercept = linear_weights(best[2], len(labels))
    info = ModelInfo("tfidf", labels, name=name or config.name)
    model = TfidfClassifier(info, features, vecs, coef, intercept)
    details = {
        "classifier": config.tfidf_classifier,
        "C": best[1],
        "c_search": search,
        "n_features": int(x_train.shape[1]),
        "fit_seconds": time.perf_counter() - started,
    }
    return model, details


def cross_val_logits(
    config: TrainConfig,
    train: pd.DataFrame,
    labels: Sequence[str],
    c: float,
    *,
    folds: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold decision values ``(logits, y)`` on the training rows, for calibration.

    A linear model's scores on its own training rows are far more confident than on new text
    (with char n-grams it nearly separates the training set): a temperature fitted on them is
    0.01-0.1 and turns every score into 1.0. Each fold's vectorisers and model see only the
    other folds, like a real unseen complaint. Classes with fewer rows than ``folds`` are
    spread over as many folds as they have rows; rows of a single-row class are skipped.
    """
    from scipy.sparse import hstack

    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[v] for v in train["label"]])
    rng = np.random.default_rng(config.seed)
    fold = np.full(len(y), -1)
    for k in range(len(labels)):
        rows = rng.permutation(np.flatnonzero(y == k))
        if len(rows) >= 2:
            fold[rows] = np.arange(len(rows)) % folds
    texts = np.asarray(train["text"], dtype=object)
    logits = np.zeros((len(y), len(labels)))
    for f in range(folds):
        test, fit = fold == f, (fold != f)
        if not test.any() or len(np.unique(y[fit])) < 2:
            continue
        vecs, x_fit = fit_vectorizers(features_from_config(config), list(texts[fit]))
        clf = make_linear(config.tfidf_classifier, c, config.seed).fit(x_fit, y[fit])
        present = np.asarray(clf.classes_)
        coef, intercept = linear_weights(clf, len(present))
        x_test = hstack([v.transform(list(texts[test])) for v in vecs.values()]).tocsr()
        # A fold may lack a class: its column gets a score that never wins.
        scores = np.full((int(test.sum()), len(labels)), -1e3)
        scores[:, present] = x_test @ coef.T + intercept
        logits[test] = scores
    kept = fold >= 0
    return logits[kept], y[kept]
