"""The ``tfidf`` model type: TF-IDF features with a linear classifier.

An input is the text itself: TF-IDF sees the whole text, so nothing is ever cut, and sparse
features are not padded, so any number of texts is one pass.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.classifier import ClassifierBase, ModelInfo


@dataclass
class TfidfFeatures:
    """Which TF-IDF features a ``tfidf`` model uses."""

    char_ngrams: tuple[int, int] | None = (1, 3)
    word_ngrams: tuple[int, int] | None = (1, 2)
    max_features: int | None = 200_000
    min_df: int = 2
    sublinear_tf: bool = True

    def __post_init__(self) -> None:
        if self.char_ngrams is None and self.word_ngrams is None:
            raise ValueError("a tfidf model needs character n-grams, word n-grams or both")
        for name in ("char_ngrams", "word_ngrams"):
            rng = getattr(self, name)
            if rng is not None:
                rng = tuple(rng)
                setattr(self, name, rng)
                if not (len(rng) == 2 and 1 <= rng[0] <= rng[1] <= 6):
                    raise ValueError(f"{name} must be (min, max) with 1 <= min <= max <= 6, got {rng}")


def _jieba_words(text: str) -> list[str]:
    from nlp.segment import segment

    return segment(text)


class TfidfClassifier(ClassifierBase):
    """TF-IDF features (character n-grams and/or jieba words) with a linear classifier.

    Scores are the linear decision values; with the stored temperature their softmax is a
    calibrated probability. The vocabulary, IDF weights and linear weights are stored as JSON
    and safetensors, so loading runs no pickled code.
    """

    def __init__(
        self,
        info: ModelInfo,
        features: TfidfFeatures,
        vectorizers: dict[str, Any],
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        self.info = info
        self.features = features
        self.vectorizers = vectorizers
        # C order matters: safetensors writes the raw buffer, and scikit-learn's coef_ can be
        # Fortran-ordered.
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)

    @staticmethod
    def make_vectorizers(features: TfidfFeatures) -> dict[str, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vecs: dict[str, Any] = {}
        common = {"sublinear_tf": features.sublinear_tf, "min_df": features.min_df, "dtype": np.float32}
        if features.char_ngrams is not None:
            vecs["char"] = TfidfVectorizer(
                analyzer="char",
                ngram_range=features.char_ngrams,
                max_features=features.max_features,
                **common,
            )
        if features.word_ngrams is not None:
            vecs["word"] = TfidfVectorizer(
                tokenizer=_jieba_words,
                token_pattern=None,
                lowercase=False,
                ngram_range=features.word_ngrams,
                max_features=features.max_features,
                **common,
            )
        return vecs

    def transform(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([vec.transform(texts) for vec in self.vectorizers.values()]).tocsr()

    def encode(self, texts: Sequence[str]) -> tuple[list[str], list[bool]]:
        return list(texts), [False] * len(texts)

    def input_lengths(self, inputs: Sequence[str]) -> None:
        return None

    def forward(self, inputs: Sequence[str]) -> np.ndarray:
        x = self.transform(list(inputs))
        return np.asarray(x @ self.coef.T + self.intercept, dtype=np.float32)

    def save(self, directory: str | os.PathLike[str]) -> Path:
        from safetensors.numpy import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {"coef": self.coef, "intercept": self.intercept}
        vocab: dict[str, Any] = {"features": asdict(self.features), "vocabularies": {}}
        for name, vec in self.vectorizers.items():
            terms = vec.get_feature_names_out()
            vocab["vocabularies"][name] = [str(t) for t in terms]
            tensors[f"idf.{name}"] = vec.idf_.astype(np.float64)
        (out / "tfidf_vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        save_file(tensors, str(out / "tfidf.safetensors"))
        self.info.save(out)
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> TfidfClassifier:
        from safetensors.numpy import load_file

        d = Path(directory)
        info = ModelInfo.load(d)
        vocab = json.loads((d / "tfidf_vocab.json").read_text(encoding="utf-8"))
        tensors = load_file(str(d / "tfidf.safetensors"))
        feats = vocab["features"]
        features = TfidfFeatures(**{k: tuple(v) if isinstance(v, list) else v for k, v in feats.items()})
        vectorizers = cls.make_vectorizers(features)
        for name, vec in vectorizers.items():
            terms = vocab["vocabularies"][name]
            # Restore a fitted vectorizer from its parts instead of unpickling one.
            vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
            vec.fixed_vocabulary_ = True
            vec.idf_ = tensors[f"idf.{name}"].astype(np.float64)
        return cls(info, features, vectorizers, tensors["coef"], tensors["intercept"])
