"""Champion against challenger on the same evaluation set: the gate of a retrain.

The gate is the macro-F1 over the labels both models can predict (see :mod:`training.retrain`);
categories only the challenger knows are scored and reported, not gated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from nlp.text import pad
from training.label_plan import LabelPlan


@dataclass
class Comparison:
    """Champion vs challenger on the same evaluation set."""

    rows: int
    gate_rows: int
    shared_labels: list[str]
    added_labels: list[str]
    champion_macro_f1: float
    challenger_macro_f1: float
    challenger_macro_f1_all: float
    tolerance: float
    per_class: list[dict[str, Any]]
    promote: bool
    forced: bool = False

    @property
    def delta(self) -> float:
        return self.challenger_macro_f1 - self.champion_macro_f1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "delta": self.delta}

    def to_text(self) -> str:
        lines = [
            "per class (shared labels on the rows of shared labels, as gated; new labels on all rows):",
            f"{pad('label', 16)} {'support':>7} {'champion F1':>12} {'challenger F1':>14} {'change':>8}",
        ]
        for r in self.per_class:
            champ = "–" if r["champion_f1"] is None else f"{r['champion_f1']:.4f}"
            change = "new" if r["champion_f1"] is None else f"{r['challenger_f1'] - r['champion_f1']:+.4f}"
            lines.append(
                f"{pad(r['label'], 16)} {r['support']:>7} {champ:>12} {r['challenger_f1']:>14.4f} {change:>8}"
            )
        lines.append(
            f"macro-F1 over the {len(self.shared_labels)} shared labels ({self.gate_rows} of {self.rows} rows): "
            f"champion {self.champion_macro_f1:.4f}, challenger {self.challenger_macro_f1:.4f} "
            f"({self.delta:+.4f}; tolerance {self.tolerance})"
        )
        if self.added_labels:
            lines.append(
                f"new categories {', '.join(self.added_labels)}: only the challenger knows them (not gated); "
                f"challenger macro-F1 over all {self.rows} rows {self.challenger_macro_f1_all:.4f}"
            )
        verdict = "promote" if self.promote else "keep the champion"
        lines.append(f"decision: {verdict}{' (forced)' if self.forced else ''}")
        return "\n".join(lines)


def compare(
    champion_proba: np.ndarray,
    challenger_proba: np.ndarray,
    frame: pd.DataFrame,
    plan: LabelPlan,
    *,
    tolerance: float,
    force: bool = False,
) -> Comparison:
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    truth = list(frame["label"])
    champ = [plan.single_target(plan.old[i]) or "<split>" for i in champion_proba.argmax(1)]
    chall = [plan.new[i] for i in challenger_proba.argmax(1)]
    shared = plan.shared
    gate = np.array([t in shared for t in truth])
    t_g = [t for t, g in zip(truth, gate, strict=True) if g]

    def gated_f1(pred: list[str]) -> float:
        if not t_g:
            return 0.0
        p_g = [p for p, g in zip(pred, gate, strict=True) if g]
        return float(f1_score(t_g, p_g, labels=shared, average="macro", zero_division=0))

    champion_f1, challenger_f1 = gated_f1(champ), gated_f1(chall)
    per_class = []
    if t_g:
        # Shared labels: scored on the gated rows, as the gate scores them.
        p_cp = [p for p, g in zip(champ, gate, strict=True) if g]
        p_ch = [p for p, g in zip(chall, gate, strict=True) if g]
        _, _, f_cp, s = precision_recall_fscore_support(t_g, p_cp, labels=shared, zero_division=0)
        _, _, f_ch, _ = precision_recall_fscore_support(t_g, p_ch, labels=shared, zero_division=0)
        per_class += [
            {
                "label": label,
                "support": int(s[i]),
                "champion_f1": float(f_cp[i]),
                "challenger_f1": float(f_ch[i]),
            }
            for i, label in enumerate(shared)
        ]
    others = [label for label in plan.new if label not in shared and label in set(truth) | set(chall)]
    if others:
        # Labels only the challenger can predict: scored on all rows.
        _, _, f_ch, s = precision_recall_fscore_support(truth, chall, labels=others, zero_division=0)
        per_class += [
            {"label": label, "support": int(s[i]), "champion_f1": None, "challenger_f1": float(f_ch[i])}
            for i, label in enumerate(others)
        ]
    present = [label for label in plan.new if label in set(truth) | set(chall)]
    all_f1 = (
        float(f1_score(truth, chall, labels=present, average="macro", zero_division=0)) if present else 0.0
    )
    ok = challenger_f1 >= champion_f1 - tolerance
    return Comparison(
        rows=len(truth),
        gate_rows=int(gate.sum()),
        shared_labels=shared,
        added_labels=plan.added,
        champion_macro_f1=champion_f1,
        challenger_macro_f1=challenger_f1,
        challenger_macro_f1_all=all_f1,
        tolerance=tolerance,
        per_class=per_class,
        promote=ok or force,
        forced=force and not ok,
    )
