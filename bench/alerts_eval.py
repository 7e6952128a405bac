"""Alert precision on real signals: backtest the surge alerts on a store and list the top ones.

Runs :func:`forecasting.alerts.backtest_alerts` over each day of ``--start..--end`` (each day
judged on the data up to that day) on an event store built from the Teddy messages
(``hotline events ../shared/datasets/teddy2020/messages.csv --store COPY``), and prints the top
``--top`` alerts by score with their member complaints' titles (masked), so that a reader can
judge each one against its series' normal level. The verdicts live in
``bench/data/alert_verdicts.csv`` (see ``alert_verdicts.md``); ``--verdicts`` joins them and
prints the precision.

    python bench/alerts_eval.py --store /tmp/copy/events.db [--out /tmp/alerts.json] \\
        [--verdicts bench/data/alert_verdicts.csv]

Never point it at a store others use: it only reads, but work on a copy anyway.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The settings of the recorded runs: every level (so that dedupe across them is exercised). Run r1
# used a burst threshold of 1e-2 (the default 1e-3 raised only 13 alerts over 2019-03..12 on
# Teddy); with the coherence check (r2) 1e-2 leaves 9 alerts, so r2 was read at --burst-alpha 0.05.
# The verdicts file has one row per (run, alert); an alert judged in one run keeps its verdict.
LEVELS = ("category", "district", "category_district")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True, help="event store path or URL (a copy)")
    ap.add_argument("--start", default="2019-03-01")
    ap.add_argument("--end", default="2019-12-31")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--burst-alpha", type=float, default=1e-2)
    ap.add_argument("--titles", type=int, default=12, help="member titles shown per alert")
    ap.add_argument("--out", type=Path, help="write the listing as JSON here")
    ap.add_argument("--verdicts", type=Path, help="alert_verdicts.csv to join (prints precision)")
    args = ap.parse_args(argv)

    store_path = Path(args.store)
    if "://" not in args.store and not store_path.exists():
        print(f"store not found: {args.store} (build one from the Teddy messages first)")
        return 0

    from events.store import EventStore
    from forecasting.alert_evidence import complaint_frame
    from forecasting.alerts import backtest_alerts
    from forecasting.config import AlertConfig
    from forecasting.sources import signal_source
    from nlp.pii import mask_pii

    config = AlertConfig(levels=LEVELS, burst_alpha=args.burst_alpha)
    t0 = time.perf_counter()
    with EventStore(args.store) as st:
        source = signal_source(st)
        alerts = backtest_alerts(source, args.start, args.end, config=config)
        complaints = complaint_frame(source).set_index("id")
    took = time.perf_counter() - t0
    verdicts: dict[str, dict[str, str]] = {}
    if args.verdicts and args.verdicts.exists():
        with args.verdicts.open(encoding="utf-8") as fh:
            verdicts = {r["alert_key"]: r for r in csv.DictReader(fh)}
    print(f"{len(alerts)} alert(s) over {args.start}..{args.end} in {took:.0f}s; top {args.top}:")
    listing = []
    for rank, a in enumerate(alerts[: args.top], 1):
        key = f"{a.series_key}@{a.first_seen}"
        titles = [mask_pii(str(complaints.at[c, "title"])) for c in a.complaint_ids if c in complaints.index][
            : args.titles
        ]
        v = verdicts.get(key, {})
        print(f"{rank:2d}. {a.describe()}  {v.get('verdict', '')}")
        for t in titles:
            print(f"      - {t}")
        listing.append(
            {"rank": rank, "alert_key": key, **a.to_record(), "related": a.related, "titles": titles}
        )
    if verdicts:
        judged = [verdicts[x["alert_key"]]["verdict"] for x in listing if x["alert_key"] in verdicts]
        real = sum(v == "real" for v in judged)
        print(f"precision: {real} real of {len(judged)} judged (top {args.top})")
    if args.out:
        args.out.write_text(json.dumps(listing, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
