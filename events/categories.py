"""Where each complaint's category comes from in an events run.

In order: the latest prediction already in the store for its id (``hotline classify --store``
writes those), else the log's label column, else - with a classifier (``model_dir``) - its
prediction (also written to the store), else none.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from events.store import EventStore
from nlp.text import join_title_text


def _parse_top_k(value: Any) -> dict[str, float] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, list):
        out = {}
        for item in value:
            if isinstance(item, dict) and "label" in item:
                out[str(item["label"])] = float(item.get("score", 0.0))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out[str(item[0])] = float(item[1])
        return out or None
    return None


class ModelCategories:
    """Categories from ``--model DIR`` (loaded on first use; written to the store as predictions)."""

    def __init__(self, model_dir: str) -> None:
        self.model_dir = model_dir
        self.engine: Any = None

    @property
    def version(self) -> str:
        return self.engine.version if self.engine is not None else "unknown"

    def predict(self, texts: list[str]) -> tuple[list[str], list[dict[str, float]], pd.DataFrame]:
        from nlp.engine import InferenceEngine

        if self.engine is None:
            # The engine applies the model's temperature and review thresholds, as classify does.
            self.engine = InferenceEngine.load(self.model_dir)
        out = self.engine.predict_arrays(texts)
        probs, labels = out.probs, self.engine.labels
        names = [labels[i] for i in out.top]
        scores = [{labels[j]: float(p[j]) for j in np.argsort(-p)[:5]} for p in probs]
        preds = pd.DataFrame(
            {
                "label": names,
                "score": probs.max(axis=1).astype(float) if len(probs) else np.zeros(0),
                "top_k": [
                    json.dumps({k: round(v, 4) for k, v in s.items()}, ensure_ascii=False) for s in scores
                ],
                "needs_review": out.needs_review.astype(bool),
                "model_version": self.version,
            }
        )
        return names, scores, preds


def categories(
    st: EventStore, records: pd.DataFrame, model: ModelCategories | None, sources: Counter[str]
) -> tuple[list[str], list[dict[str, float] | None], pd.DataFrame | None, list[str]]:
    """Category, classifier scores (for urgency), new predictions (model path) and where each
    category came from (prediction | label | model | "")."""
    ids = records["id"].astype(str).tolist()
    preds = st.complaints.read_predictions(ids)
    by_id = {r["complaint_id"]: r for r in preds.to_dict(orient="records")} if len(preds) else {}
    cats: list[str] = []
    scores: list[dict[str, float] | None] = []
    srcs: list[str] = []
    need_model: list[int] = []
    for k, (cid, label) in enumerate(zip(ids, records["label"].fillna("").astype(str), strict=True)):
        p = by_id.get(cid)
        if p is not None and p.get("label"):
            cats.append(str(p["label"]))
            scores.append(_parse_top_k(p.get("top_k")))
            srcs.append("prediction")
        elif label:
            cats.append(label)
            scores.append(None)
            srcs.append("label")
        else:
            cats.append("")
            scores.append(None)
            srcs.append("")
            need_model.append(k)
    new_preds = None
    if model is not None and need_model:
        texts = [join_title_text(records["title"].iloc[k], records["text"].iloc[k]) for k in need_model]
        names, sc, new_preds = model.predict(texts)
        new_preds.insert(0, "id", [ids[k] for k in need_model])
        for k, name, s in zip(need_model, names, sc, strict=True):
            cats[k] = name
            scores[k] = s
            srcs[k] = "model"
    sources.update(s or "none" for s in srcs)
    return cats, scores, new_preds, srcs
