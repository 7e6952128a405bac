"""Urgency rules (nlp.urgency) against the hand-labelled real messages, sample and census.

``bench/data/urgency_labels.csv`` holds message ids of teddy2020/messages.csv with a label read by a
person (紧急 / 较急 / 一般), the sampling stratum and a fixed dev/test split; how the labels were made is
in ``bench/data/urgency_labels.md``. The texts stay in ../shared/datasets. Prints:

* a markdown table of precision / recall / F1 for 紧急 and 较急 (and the confusion matrices) for dev,
  test and all labelled rows;
* the corpus figures of the census: how many of all 4,326 messages the rules grade 紧急 / 较急 and
  how many of those are labelled (precision over the whole corpus is exact when all are), recall
  over every gold 紧急 found, and how many gold 紧急 may lie outside the census region (the
  messages that neither hit the hazard net nor were flagged by the rules at ``--census-rev``),
  estimated from the ``random`` rows that fall outside it, with a one-sided 95% upper bound.

    .venv/bin/python bench/urgency_eval.py [--messages PATH] [--rev GIT_REV] [--census-rev REV]

``--rev`` scores with the rules of an earlier commit instead (its nlp/urgency.py and, where it has
one, data/urgency_cues.json, copied to a temporary folder), so that old and new rules are compared
on the same, current labels.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
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
# The census of round 3 (urgency_labels.md): every message these rules flagged, or that hits the
# net, was read. The region is fixed by what was read, so later rules do not move it.
CENSUS_REV = "cbca20b"
HAZARD_NET = re.compile(
    "火灾|起火|着火|失火|火情|浓烟|燃气|煤气|天然气|漏气|坍塌|倒塌|塌陷|垮塌|塌方|淹|内涝|积水|被困|困在"
    "|受伤|伤亡|死亡|身亡|停电|停水|断电|断水|爆炸|触电|漏电|电线|坠落|掉落|砸"
)


def prf(pred: list[str], gold: list[str], level: str) -> tuple[float, float, float, int]:
    tp = sum(p == level and g == level for p, g in zip(pred, gold, strict=True))
    fp = sum(p == level and g != level for p, g in zip(pred, gold, strict=True))
    fn = sum(p != level and g == level for p, g in zip(pred, gold, strict=True))
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp else 0.0
    return p, r, f, tp + fn


def upper_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of a rate seen k times in n draws (bisection)."""
    if k >= n:
        return 1.0

    def cdf(p: float) -> float:
        return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))

    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1 - confidence else (lo, mid)
    return hi


def confusion(pred: list[str], gold: list[str]) -> str:
    counts = Counter(zip(gold, pred, strict=True))
    lines = ["| gold \\ predicted | " + " | ".join(ORDER) + " |", "| --- |" + " --- |" * len(ORDER)]
    for g in ORDER:
        lines.append(f"| {g} | " + " | ".join(str(counts[(g, p)]) for p in ORDER) + " |")
    return "\n".join(lines)


def rules_at(rev: str, workdir: Path) -> Assess:
    """``assess_urgency`` as of git revision ``rev`` (module and cue file copied out of git)."""
    workdir = workdir / rev
    for rel in ("nlp/urgency.py", "data/urgency_cues.json"):
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{rel}"], capture_output=True, check=False
        )
        if shown.returncode == 0:  # older revisions have no cue file
            (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (workdir / rel).write_bytes(shown.stdout)
    if not (workdir / "nlp" / "urgency.py").exists():
        raise SystemExit(f"cannot read nlp/urgency.py at {rev} (is it a commit of this repository?)")
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
    ap.add_argument(
        "--census-rev",
        default=CENSUS_REV,
        help="the rules whose 紧急/较急 messages were read in full (defines the census region)",
    )
    args = ap.parse_args()
    if not args.messages.exists():
        print(f"dataset not found: {args.messages}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        assess = rules_at(args.rev, Path(tmp)) if args.rev else assess_urgency
        census = rules_at(args.census_rev, Path(tmp))
        return report(args, assess, census)


def split_table(labels: pd.DataFrame) -> None:
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


def corpus_figures(labels: pd.DataFrame, corpus: pd.DataFrame, census_rev: str) -> None:
    """Precision over every message the rules flag, recall over every gold 紧急, and the rest."""
    gold = dict(zip(labels["id"], labels["label"], strict=True))
    corpus = corpus.assign(label=corpus["id"].map(gold))
    print(
        f"\n## Corpus ({len(corpus)} messages; census region = net hit or 紧急/较急 by the rules at {census_rev})\n"
    )
    region = corpus["in_region"]
    print(
        f"census region: {int(region.sum())} messages, {int(corpus.loc[region, 'label'].notna().sum())} labelled"
    )
    print("\n| level | rules grade | labelled | correct | unlabelled | precision (labelled) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for level in ("紧急", "较急"):
        flagged = corpus[corpus["pred"] == level]
        read = flagged[flagged["label"].notna()]
        right = int((read["label"] == level).sum())
        precision = right / len(read) if len(read) else float("nan")
        print(
            f"| {level} | {len(flagged)} | {len(read)} | {right} | {len(flagged) - len(read)} | {precision:.2f} |"
        )
    found = corpus[corpus["label"] == "紧急"]
    hit = int((found["pred"] == "紧急").sum())
    print(
        f"\ngold 紧急 found (all labelled rows): {len(found)}; graded 紧急: {hit}; recall {hit / len(found):.2f}"
    )
    for split in ("dev", "test"):
        part = found[found["split"] == split]
        if len(part):
            print(f"  {split}: {int((part['pred'] == '紧急').sum())} of {len(part)}")

    # The random rows are a uniform sample: those outside the region estimate how many gold 紧急
    # the unlabelled rest of the corpus holds.
    outside = corpus[~region]
    rnd = outside[outside["stratum"] == "random"]
    k = int((rnd["label"] == "紧急").sum())
    n = len(rnd)
    unread = int(outside["label"].isna().sum())
    rate_hi = upper_bound(k, n)
    est, est_hi = unread * k / n if n else float("nan"), unread * rate_hi
    print(
        f"\noutside the region: {len(outside)} messages, {unread} unlabelled; the {n} random rows there hold "
        f"{k} gold 紧急 -> estimated {est:.0f} gold 紧急 unlabelled (one-sided 95% upper bound {est_hi:.0f})"
    )
    print(
        f"recall with that estimate: {hit / (len(found) + est):.2f}; at the upper bound: "
        f"{hit / (len(found) + est_hi):.2f}"
    )
    read_outside = outside[outside["label"].notna()]
    print(
        f"all labelled rows outside the region (every stratum, not a uniform sample): {len(read_outside)}, "
        f"gold {dict(Counter(read_outside['label']))}"
    )


def report(args: argparse.Namespace, assess: Assess, census: Assess) -> int:
    msgs = pd.read_csv(args.messages)
    texts = {
        int(i): join_title_text(t, x) for i, t, x in zip(msgs["id"], msgs["title"], msgs["text"], strict=True)
    }
    raw = {int(i): f"{t}{x}" for i, t, x in zip(msgs["id"], msgs["title"], msgs["text"], strict=True)}
    labels = pd.read_csv(LABELS)
    missing = sorted(set(labels["id"]) - set(texts))
    if missing:
        raise SystemExit(f"{LABELS}: ids not in {args.messages}: {missing[:5]}")
    strata = dict(zip(labels["id"], labels["stratum"], strict=True))
    corpus = pd.DataFrame({"id": list(texts)})
    corpus["pred"] = [assess(texts[i]).level for i in corpus["id"]]
    corpus["in_region"] = [
        bool(HAZARD_NET.search(raw[i])) or census(texts[i]).level != "一般" for i in corpus["id"]
    ]
    corpus["stratum"] = corpus["id"].map(strata)
    corpus["split"] = corpus["id"].map(dict(zip(labels["id"], labels["split"], strict=True)))
    labels["pred"] = labels["id"].map(dict(zip(corpus["id"], corpus["pred"], strict=True)))

    rules = f"rules at {args.rev}" if args.rev else "rules of the working tree"
    print(f"# Urgency {rules} on {len(labels)} hand-labelled messages ({date.today().isoformat()})\n")
    split_table(labels)
    for name in ("dev", "test", "all"):
        part = labels if name == "all" else labels[labels["split"] == name]
        print(f"\nConfusion matrix, {name}:\n")
        print(confusion(part["pred"].tolist(), part["label"].tolist()))
    # The random stratum alone estimates the real rate without the oversampled strata.
    rnd = labels[labels["stratum"] == "random"]
    print(
        f"\nrandom stratum ({len(rnd)}): gold {dict(Counter(rnd['label']))}, predicted {dict(Counter(rnd['pred']))}"
    )
    everything = Counter(corpus["pred"])
    print(f"all {len(texts)} messages: " + ", ".join(f"{lvl} {everything[lvl]}" for lvl in reversed(LEVELS)))
    corpus_figures(labels, corpus, args.census_rev)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
