"""Generate hotline's bundled sample data. EVERYTHING IT WRITES IS SYNTHETIC.

The city (澜江市), its districts, streets, compounds and roads come from the invented
``data/gazetteer.json``; every complaint text, caller id, phone number, ID number, licence
plate, e-mail address and bank card number is made up from the templates in ``data/templates/``
(read by :mod:`data.samplegen.templates`) and a seeded random generator. No row or sentence is
taken from any real complaint log.

Outputs (see ``data/README.md`` for what each file is for):

- ``samples/complaints.csv``: about 500 complaints, UTF-8, English canonical headers
- ``samples/complaints.jsonl``: the same rows as JSON lines
- ``samples/complaints_gbk.csv``: a 150-row subset as a government system exports it (GBK,
  Chinese headers, ``2026/5/3 14:05`` times, CRLF line ends)
- ``samples/complaints_malformed.csv``: ~20 rows with the faults real exports have
- ``samples/new_labels.csv`` and ``samples/label_mapping.csv``: a retraining example
- ``samples/manifest.json``: the planted surge, incident clusters, urgent rows and PII items
- ``userdict.txt``: the jieba user dictionary (city-management terms + gazetteer names)

Usage::

    python data/make_samples.py [--out DIR] [--userdict PATH] [--seed N]

The output depends only on the seed (default 12345): running the script twice gives
byte-identical files. ``tests/test_samples.py`` checks that the committed files are current.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script (python data/make_samples.py): the generator comes from this checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.samplegen.files import (
    MALFORMED_REJECTS,
    complaints_csv,
    complaints_gbk,
    complaints_jsonl,
    complaints_malformed,
    gbk_subset,
    iso_time,
    label_mapping_csv,
    malformed_source,
    new_labels_csv,
    userdict_text,
)
from data.samplegen.places import load_gazetteer
from data.samplegen.rows import SampleLog, build
from data.samplegen.settings import (
    DATA_DIR,
    DEFAULT_SEED,
    END,
    EXPORT_TIME,
    NEW_LABEL,
    RENAMED_LABEL,
    START,
    URGENT,
)
from data.samplegen.templates import CLUSTERS, SURGE, Incident

logger = logging.getLogger(__name__)


def manifest(log: SampleLog, seed: int) -> dict[str, object]:
    """What was planted where, for tests of event detection, PII masking and error handling."""
    rows = log.rows
    by_caller: dict[str, list[str]] = {}
    for r in rows:
        by_caller.setdefault(r.caller, []).append(r.id)
    labels: dict[str, int] = {}
    for r in rows:
        labels[r.label] = labels.get(r.label, 0) + 1

    def incident(inc: Incident) -> dict[str, object]:
        members = [r for r in rows if r.group == inc.key]
        return {
            "key": inc.key,
            "labels": sorted({r.label for r in members}),
            "district": inc.district,
            "street": inc.street,
            "place": inc.name,
            "spots": list(inc.spots),
            "dates": sorted({r.time.date().isoformat() for r in members}),
            "ids": [r.id for r in members],
            "callers": sorted({r.caller for r in members}),
        }

    noise: dict[str, list[str]] = {}
    for r in rows:
        if r.noise:
            noise.setdefault(r.noise, []).append(r.id)
    return {
        "synthetic": True,
        "note": "All data invented by data/make_samples.py; the city and every person are fictional.",
        "seed": seed,
        "period": {"start": START.isoformat(), "end": END.isoformat(), "export_time": iso_time(EXPORT_TIME)},
        "rows": len(rows),
        "labels": dict(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))),
        "surge": incident(SURGE),
        "clusters": [incident(c) for c in CLUSTERS],
        "urgent_ids": [r.id for r in rows if r.urgency == URGENT],
        "repeat_callers": {c: ids for c, ids in sorted(by_caller.items()) if len(ids) > 1},
        "pii": [{"id": r.id, "kind": p.kind, "value": p.value} for r in rows for p in r.pii],
        "noise": dict(sorted(noise.items())),
        "malformed_rejects": [
            {"row": row, "problem": problem, "reason": reason} for row, problem, reason in MALFORMED_REJECTS
        ],
        "new_labels": {"renamed": {RENAMED_LABEL[0]: RENAMED_LABEL[1]}, "new_category": NEW_LABEL},
    }


def generate(out_dir: Path, userdict: Path | None = None, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write every sample file into ``out_dir`` (and the jieba dictionary to ``userdict``)."""
    gazetteer = load_gazetteer()
    log = build(seed, gazetteer)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "complaints.csv": complaints_csv(log.rows).encode("utf-8"),
        "complaints.jsonl": complaints_jsonl(log.rows).encode("utf-8"),
        "complaints_gbk.csv": complaints_gbk(gbk_subset(log.rows)),
        "complaints_malformed.csv": complaints_malformed(malformed_source(log.rows)).encode("utf-8"),
        "new_labels.csv": new_labels_csv(log.new_rows).encode("utf-8"),
        "label_mapping.csv": label_mapping_csv().encode("utf-8"),
        "manifest.json": (json.dumps(manifest(log, seed), ensure_ascii=False, indent=1) + "\n").encode(
            "utf-8"
        ),
    }
    written = []
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
        written.append(out_dir / name)
    if userdict is not None:
        userdict.parent.mkdir(parents=True, exist_ok=True)
        userdict.write_bytes(userdict_text(gazetteer).encode("utf-8"))
        written.append(userdict)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python data/make_samples.py [--out DIR] [--userdict PATH] [--seed N]``."""
    parser = argparse.ArgumentParser(description="Generate hotline's synthetic sample data.")
    parser.add_argument("--out", type=Path, default=DATA_DIR / "samples", help="sample directory")
    parser.add_argument(
        "--userdict",
        type=Path,
        default=None,
        help="where to write the jieba user dictionary (default: data/userdict.txt, or "
        "DIR/../userdict.txt when --out is given)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    userdict = args.userdict or args.out.parent / "userdict.txt"
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in generate(args.out, userdict, args.seed):
        logger.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
