"""How a champion's labels become a retrained model's: the mapping file, the plan, relabelling rows.

Mapping semantics (CSV ``old,new``): ``A,B`` renames; ``A,C`` and ``B,C`` merge A and B into C;
``A,A1`` and ``A,A2`` split A into A1 and A2. Unmapped labels keep their name; categories that
occur only in the new data follow, most frequent first (see :mod:`training.retrain`).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from common.errors import InputFileError

logger = logging.getLogger(__name__)


@dataclass
class LabelPlan:
    """How the champion's labels become the challenger's."""

    old: list[str]
    new: list[str]
    sources: dict[str, list[str]]  # new label -> old labels it comes from ([] for new categories)
    targets: dict[str, list[str]]  # old label -> new labels

    def single_target(self, old: str) -> str | None:
        """The one new label an old label maps to (None for a split)."""
        t = self.targets.get(old, [])
        return t[0] if len(t) == 1 else None

    @property
    def added(self) -> list[str]:
        return [label for label in self.new if not self.sources[label]]

    @property
    def shared(self) -> list[str]:
        """Challenger labels the champion can predict too (through a rename or merge)."""
        reachable = {self.single_target(o) for o in self.old} - {None}
        return [label for label in self.new if label in reachable]

    def describe(self) -> dict[str, Any]:
        renamed = {
            o: t[0]
            for o, t in self.targets.items()
            if len(t) == 1 and t[0] != o and len(self.sources[t[0]]) == 1
        }
        merged = {n: s for n, s in self.sources.items() if len(s) > 1}
        split = {o: t for o, t in self.targets.items() if len(t) > 1}
        return {"renamed": renamed, "merged": merged, "split": split, "added": self.added}


def read_mapping(path: str | os.PathLike[str] | None) -> dict[str, list[str]]:
    """``old,new`` CSV (header required) -> old label -> new labels, in file order."""
    if path is None:
        return {}
    mapping: dict[str, list[str]] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in reader.fieldnames or []]
        if header[:2] != ["old", "new"]:
            raise InputFileError(
                f"a label mapping needs the header `old,new`, found {reader.fieldnames}", path=str(path)
            )
        for i, row in enumerate(reader, start=1):
            values = list(row.values())
            old, new = str(values[0] or "").strip(), str(values[1] or "").strip()
            if not old or not new:
                raise InputFileError("empty old or new label", path=str(path), row=i)
            targets = mapping.setdefault(old, [])
            if new not in targets:
                targets.append(new)
    return mapping


def plan_labels(
    old: Sequence[str], mapping: dict[str, list[str]], new_data_labels: Sequence[str]
) -> LabelPlan:
    unknown = sorted(set(mapping) - set(old))
    if unknown:
        raise InputFileError(
            f"the mapping names labels the current model does not have: {unknown}; its labels are {list(old)}"
        )
    targets = {o: mapping.get(o, [o]) for o in old}
    new: list[str] = []
    sources: dict[str, list[str]] = {}
    for o in old:
        for t in targets[o]:
            if t not in sources:
                new.append(t)
                sources[t] = []
            sources[t].append(o)
    counts = pd.Series(list(new_data_labels), dtype="object").value_counts()
    for label in sorted(counts.index, key=lambda k: (-counts[k], k)):
        if label not in sources and label not in targets:
            new.append(label)
            sources[label] = []
    if len(new) < 2:
        raise InputFileError(f"after the mapping only {new} remain; a classifier needs at least 2 labels")
    return LabelPlan(list(old), new, sources, targets)


def relabel(frame: pd.DataFrame, plan: LabelPlan, *, what: str, strict: bool = False) -> pd.DataFrame:
    """Map old label names to new ones; rows of split labels are dropped (or an error if strict)."""
    out = frame.copy()
    mapped, dropped = [], 0
    for label in out["label"]:
        if label in plan.targets:
            target = plan.single_target(label)
            if target is None:
                if strict:
                    raise InputFileError(
                        f"{what}: label {label!r} was split into {plan.targets[label]}; label these rows "
                        "with one of the new categories"
                    )
                dropped += 1
            mapped.append(target)
        else:
            mapped.append(label)
    out["label"] = mapped
    if dropped:
        logger.info("%s: %d rows of split categories dropped (their new category is unknown)", what, dropped)
    return out[out["label"].notna()].reset_index(drop=True)
