"""District and anchor accuracy of the place extractor (nlp.places) on real messages labelled by reading.

``bench/data/locations_real.csv`` holds message ids of teddy2020/messages.csv with the district
and the anchor (the finest place the complaint is about; alternatives separated by ``/``) that a
person read from the title and the opening of the text, and the seed of the sample each row was
drawn in; how they were made is in ``bench/data/locations_real.md``. The texts stay in
../shared/datasets. For each gazetteer given, prints a markdown table per sample and for all rows:

* district: the extracted district equals the label (an empty label is a message naming none;
  the extractor must then give none too), on all rows and on the rows whose label names one
  (a learned gazetteer fills in the district of a place the message names without one);
* anchor: on rows whose label names a place, the extracted anchor matches one alternative after
  ``normalize_place`` (equal, or one ends with the other and the shorter has 3+ characters:
  ``anchors_match``);
* no place: on rows whose label names none, the extractor gives no anchor either.

    .venv/bin/python bench/locations_eval.py [--messages PATH] [--gazetteer default|none|FILE ...]
        [--chars 2000] [--show-errors]

``--gazetteer`` takes several values to compare them in one run, e.g. ``default`` and a file
learned with ``hotline gazetteer build --from messages.csv``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.errors import HotlineError  # noqa: E402
from nlp.places.extract import LocationExtractor  # noqa: E402
from nlp.places.gazetteer import load_gazetteer  # noqa: E402
from nlp.places.normalize import anchors_match, normalize_place  # noqa: E402

LABELS = ROOT / "bench" / "data" / "locations_real.csv"
DEFAULT_MESSAGES = ROOT.parent / "shared" / "datasets" / "teddy2020" / "messages.csv"
# The extractor sees the title and the opening of the text: places are named early, and the
# gazetteer builder reads the same 2,000 characters (hotline.commands.gazetteer.LEARN_CHARS).
DEFAULT_CHARS = 2000


@dataclass
class Row:
    id: int
    sample: str
    district: str
    anchors: list[str]
    got_district: str = ""
    got_anchor: str = ""

    @property
    def district_ok(self) -> bool:
        return self.got_district == self.district

    @property
    def anchor_ok(self) -> bool:
        if not self.anchors:
            return not self.got_anchor
        got = normalize_place(self.got_anchor)
        return bool(got) and any(anchors_match(got, normalize_place(a)) for a in self.anchors)


def read_labels(path: Path) -> list[Row]:
    labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"id", "sample", "district", "anchor"} - set(labels.columns)
    if missing:
        raise SystemExit(f"{path}: missing columns {sorted(missing)} (expected id, sample, district, anchor)")
    return [
        Row(int(i), s, d.strip(), [a.strip() for a in anchor.split("/") if a.strip()])
        for i, s, d, anchor in zip(
            labels["id"], labels["sample"], labels["district"], labels["anchor"], strict=True
        )
    ]


def table(rows: list[Row], name: str) -> None:
    print(f"\n### gazetteer `{name}`\n")
    print(
        "| sample | rows | district | district (rows naming one) | anchor (rows naming a place) "
        "| no anchor where none is named |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    samples = sorted({r.sample for r in rows}, key=lambda s: [r.sample for r in rows].index(s))
    for sample in [*samples, "all"]:
        part = rows if sample == "all" else [r for r in rows if r.sample == sample]
        named = [r for r in part if r.anchors]
        unnamed = [r for r in part if not r.anchors]
        with_district = [r for r in part if r.district]
        d_ok = sum(r.district_ok for r in part)
        dn_ok = sum(r.district_ok for r in with_district)
        a_ok = sum(r.anchor_ok for r in named)
        n_ok = sum(r.anchor_ok for r in unnamed)
        print(
            f"| {sample} | {len(part)} | {_share(d_ok, len(part))} | {_share(dn_ok, len(with_district))} | "
            f"{_share(a_ok, len(named))} | {n_ok} of {len(unnamed)} |"
        )


def _share(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.2f}" if n else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=Path, default=DEFAULT_MESSAGES)
    ap.add_argument(
        "--gazetteer",
        nargs="+",
        default=["default"],
        help="default (national divisions), none (patterns only), demo, or a gazetteer JSON file",
    )
    ap.add_argument(
        "--chars", type=int, default=DEFAULT_CHARS, help="characters of the text the extractor sees"
    )
    ap.add_argument("--show-errors", action="store_true", help="list the rows each gazetteer gets wrong")
    args = ap.parse_args()
    if not args.messages.exists():
        print(f"dataset not found: {args.messages}")
        return 0
    msgs = pd.read_csv(args.messages).set_index("id")
    rows = read_labels(LABELS)
    absent = [r.id for r in rows if r.id not in msgs.index]
    if absent:
        raise SystemExit(f"{LABELS}: ids not in {args.messages}: {absent[:5]}")

    extractors = {}
    for name in args.gazetteer:  # all of them first: a wrong path fails before any output
        try:
            extractors[name] = LocationExtractor(load_gazetteer(name))
        except HotlineError as exc:
            print(f"--gazetteer {name}: {exc}", file=sys.stderr)
            return 2

    print(
        f"# Places on {len(rows)} hand-labelled messages ({date.today().isoformat()}, title + {args.chars} chars)"
    )
    for name, extractor in extractors.items():
        scored = []
        for r in rows:
            title, text = msgs.at[r.id, "title"], msgs.at[r.id, "text"]
            info = extractor.extract(
                str(text)[: args.chars] if isinstance(text, str) else "",
                title if isinstance(title, str) else "",
            )
            scored.append(Row(r.id, r.sample, r.district, r.anchors, info.district, info.anchor))
        table(scored, name)
        if args.show_errors:
            for r in scored:
                if not (r.district_ok and r.anchor_ok):
                    print(
                        f"- {r.id}: district {r.district or '-'} -> {r.got_district or '-'}; "
                        f"anchor {'/'.join(r.anchors) or '-'} -> {r.got_anchor or '-'}"
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
