"""Urgency rules (nlp.urgency) against the hand-labelled sample of real messages.

``bench/data/urgency_labels.csv`` holds message ids of teddy2020/messages.csv with a label read by a
person (紧急 / 较急 / 一般), the sampling stratum and a fixed dev/test split; how the labels were made is
in ``bench/data/urgency_labels.md``. The texts stay in ../shared/datasets. Prints a markdown table of
precision / recall / F1 for 紧急 and 较急 (and the confusion matrix) for dev, test and all rows, plus
the share of all 4,326 messages each level gets.

    .venv/bin/python bench/urgency_eval.py [--messages PATH] [--rev GIT_REV]

``--rev`` scores with the rules of an earlier commit instead (its nlp/urgency.py and, where it has
one, data/urgency_cues.json, copied to a temporary folder), so that old and new rules are compared
on the same, current labels.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.text import join_title_text  # noqa: E402
from nlp.urgency import LEVELS, assess_urgency  # noqa: E402

Assess = Callable[[str], Any]  # returns an Urgency of that revision

LABELS = ROOT / "bench" / "data" / "urgency_labels.csv"
DEFAULT_MESSAGES = ROOT.parent / "shared" / "datasets" / "teddy2020" / "messages.csv"
ORDER = ("紧急", "较急", "一般")


def prf(pred: list[str], gold: list[str], level: str) -> tuple[float, float, float, int]:
    tp = sum(p == level and g == level for p, g in zip(pred, gold, strict=True))
    fp = sum(p == level and g != level for p, g in zip(pred, gold, strict=True))
    fn = sum(p != level and g == level for p, g in zip(pred, gold, strict=True))
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp else 0.0
    return p, r, f, tp + fn


def confusion(pred: list[str], gold: list[str]) -> str:
    counts = Counter(zip(gold, pred, strict=True))
    lines = ["| gold \\ predicted | " + " | ".join(ORDER) + " |", "| --- |" + " --- |" * len(ORDER)]
    for g in ORDER:
        lines.append(f"| {g} | " + " | ".join(str(counts[(g, p)]) for p in ORDER) + " |")
    return "\n".join(lines)


def rules_at(rev: str, workdir: Path) -> Assess:
    """``assess_urgency`` as of git revision ``rev`` (module and cue file copied out of git)."""
    for rel in ("nlp/urgency.py", "data/urgency_cues.json"):
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], capture_output=True, check=False
        )
        if shown.returncode == 0:  # older revisions have no cue file
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (workdir / rel).write_bytes(shown.stdout)
    spec = importlib.util.spec_from_file_location(f"urgency_{rev}", workdir / "nlp" / "urgency.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load nlp/urgency.py at {rev}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.assess_urgency


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=Path, default=DEFAULT_MESSAGES)
    ap.add_argument("--rev", help="score with the rules of this git revision instead of the working tree")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        assess = rules_at(args.rev, Path(tmp)) if args.rev else assess_urgency
        return report(args, assess)


def report(args: argparse.Namespace, assess: Assess) -> int:
    if not args.messages.exists():
        print(f"dataset not found: {args.messages}")
        return 0
    msgs = pd.read_csv(args.messages)
    texts = {
        int(i): join_title_text(t, x) for i, t, x in zip(msgs["id"], msgs["title"], msgs["text"], strict=True)
    }
    labels = pd.read_csv(LABELS)
    labels["pred"] = [assess(texts[int(i)]).level for i in labels["id"]]

    rules = f"rules at {args.rev}" if args.rev else "rules of the working tree"
    print(f"# Urgency {rules} on {len(labels)} hand-labelled messages ({date.today().isoformat()})\n")
    print("| split | n | gold 紧急 | gold 较急 | 紧急 P | 紧急 R | 紧急 F1 | 较急 P | 较急 R | 较急 F1 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("dev", "test", "all"):
        part = labels if name == "all" else labels[labels["split"] == name]
        pred, gold = part["pred"].tolist(), part["label"].tolist()
        cells = []
        for level in ("紧急", "较急"):
            p, r, f, _ = prf(pred, gold, level)
            cells += [f"{p:.2f}", f"{r:.2f}", f"{f:.2f}"]
        print(
            f"| {name} | {len(part)} | {gold.count('紧急')} | {gold.count('较急')} | "
            + " | ".join(cells)
            + " |"
        )
    for name in ("dev", "test", "all"):
        part = labels if name == "all" else labels[labels["split"] == name]
        print(f"\nConfusion matrix, {name}:\n")
        print(confusion(part["pred"].tolist(), part["label"].tolist()))
    # The random stratum alone estimates the real rate without the oversampled strata.
    rnd = labels[labels["stratum"] == "random"]
    print(
        f"\nrandom stratum ({len(rnd)}): gold {dict(Counter(rnd['label']))}, predicted {dict(Counter(rnd['pred']))}"
    )
    everything = Counter(assess(t).level for t in texts.values())
    print(f"all {len(texts)} messages: " + ", ".join(f"{lvl} {everything[lvl]}" for lvl in reversed(LEVELS)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
