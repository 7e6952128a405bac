"""Evaluate the event step on the real message-board data (teddy2020/messages.csv).

Measures, on files that nobody on the project wrote:

1. location extraction against a hand-labelled sample (``bench/data/events_locations.csv``:
   60 message ids with the expected district / street / community / road / landmark; the
   extractor reads the title and the first 400 characters, as the labeller did);
2. same-incident grouping against hand-checked pairs (``bench/data/events_pairs.csv``: 130
   message-id pairs labelled same incident / different, sampled by stratum - see
   docs/benchmarks.md), pair by pair for each link method, and for the incidents the
   real run produced (transitive groups);
3. the throughput of the whole event step (read + extract + group + store into SQLite +
   signals) on all 4,326 messages, and that a second run changes no row counts;
4. the top hot issues of the run.

Only ids and labels are stored in bench/data; the texts stay in ../shared/datasets.

    .venv/bin/python bench/events_eval.py [--embed-model artifacts/base-model] [--out results.json]

``--from-store DB`` skips the event step: it copies a store that ``hotline events`` built (e.g.
with predicted categories, ``--model-dir``, and callers, ``--caller-column user``), groups all its
complaints again with the current grouping code (one batch, on the copy) and evaluates the pairs
and the incidents of a few named places (``--place 丽发新城 --place 魅力之城``) on it. The
store is never written.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from events.config import EventsConfig, GroupingConfig  # noqa: E402
from events.grouping import IncidentGrouper  # noqa: E402
from events.pipeline import run_events  # noqa: E402
from events.store import EventStore  # noqa: E402
from nlp.places.extract import LocationExtractor  # noqa: E402
from nlp.places.gazetteer import load_gazetteer  # noqa: E402
from nlp.places.normalize import anchors_match, normalize_place  # noqa: E402

DATA = ROOT / "bench" / "data"
DEFAULT_MESSAGES = ROOT.parent / "shared" / "datasets" / "teddy2020" / "messages.csv"
FIELDS = ("district", "street", "community", "road", "landmark")
LOCATION_CHARS = 400


def prf(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    tp = int((pred & gold).sum())
    fp = int((pred & ~gold).sum())
    fn = int((~pred & gold).sum())
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if p and r and not (math.isnan(p) or math.isnan(r)) else float("nan")
    return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def _match(pred: str, expected: str) -> bool:
    alternatives = [normalize_place(a) for a in expected.split("/") if a]
    p = normalize_place(pred)
    return any(anchors_match(p, a) for a in alternatives)


def location_accuracy(messages: pd.DataFrame) -> dict[str, object]:
    labels = pd.read_csv(DATA / "events_locations.csv", dtype=str).fillna("")
    by_id = messages.set_index("id")
    ex = LocationExtractor(load_gazetteer("none"))
    rows = []
    for r in labels.itertuples(index=False):
        m = by_id.loc[r.id]
        info = ex.extract(str(m["text"])[:LOCATION_CHARS], str(m["title"]))
        rows.append((r, info))
    out: dict[str, object] = {"messages": len(rows)}
    for f in FIELDS:
        exp = [getattr(r, f) for r, _ in rows]
        got = [getattr(i, f) for _, i in rows]
        correct = sum(
            1 for e, g in zip(exp, got, strict=True) if (not e and not g) or (e and g and _match(g, e))
        )
        n_exp = sum(1 for e in exp if e)
        n_got = sum(1 for g in got if g)
        hit = sum(1 for e, g in zip(exp, got, strict=True) if e and g and _match(g, e))
        out[f] = {
            "accuracy": correct / len(rows),
            "precision": hit / n_got if n_got else float("nan"),
            "recall": hit / n_exp if n_exp else float("nan"),
            "expected": n_exp,
            "found": n_got,
        }
    # The anchor (what grouping compares): right if it matches any expected fine-level place.
    anchored = [(r, i) for r, i in rows if r.community or r.road or r.landmark]
    good = sum(
        1
        for r, i in anchored
        if i.anchor and any(_match(i.anchor, e) for e in (r.community, r.road, r.landmark) if e)
    )
    out["anchor"] = {
        "messages_with_a_place": len(anchored),
        "correct": good,
        "accuracy": good / len(anchored) if anchored else float("nan"),
        "no_place_but_anchor": sum(
            1 for r, i in rows if not (r.community or r.road or r.landmark) and i.anchor
        ),
    }
    return out


def cached_embedder(model_dir: str, max_chars: int):
    from events.embeddings import E5Embedder

    model = E5Embedder(model_dir, max_chars=max_chars)
    cache: dict[str, np.ndarray] = {}

    def embed(texts):
        todo = [t for t in dict.fromkeys(texts) if t not in cache]
        if todo:
            for t, v in zip(todo, model(todo), strict=True):
                cache[t] = v
        return np.stack([cache[t] for t in texts])

    return embed


def evaluate_pairs(frame: pd.DataFrame, members: pd.DataFrame, args: argparse.Namespace) -> dict[str, object]:
    pairs = pd.read_csv(DATA / "events_pairs.csv", dtype=str)
    gold = pairs["same_incident"].astype(int).to_numpy() == 1
    ids = list(zip(pairs["id_a"], pairs["id_b"], strict=True))
    cfg = GroupingConfig(window_days=args.window_days)
    embed = None
    if args.embed_model:
        # Only the documents of the pairs: a cosine does not depend on the rest of the batch,
        # and the 12-layer encoder on a 2-core CPU manages about one complaint a second.
        embed = cached_embedder(args.embed_model, args.embed_chars)
    g = IncidentGrouper(cfg, embed=None)
    sub_ids = set(pairs["id_a"]) | set(pairs["id_b"])
    table = g.pair_features(frame, ids)  # TF-IDF/MinHash on the whole corpus (batch idf)
    if embed is not None:
        from nlp.text import join_title_text

        t0 = time.perf_counter()
        sub = frame[frame["id"].isin(sub_ids)]
        texts = {
            i: join_title_text(t, x) for i, t, x in zip(sub["id"], sub["title"], sub["text"], strict=True)
        }
        vecs = dict(zip(texts, embed(list(texts.values())), strict=True))
        table["embedding"] = [float(np.dot(vecs[a], vecs[b])) for a, b in ids]
        embed_seconds = time.perf_counter() - t0
    in_window = table["days_apart"].fillna(0).to_numpy() <= cfg.window_days
    lexical = table.assign(embedding=np.nan)  # the rules without embeddings
    results: dict[str, object] = {
        "pairs": len(pairs),
        "positive": int(gold.sum()),
        "negative": int((~gold).sum()),
    }
    methods: dict[str, object] = {}
    methods["minhash (Jaccard ≥ 0.5, within window)"] = prf(
        (table["minhash"].to_numpy() >= 0.5) & in_window, gold
    )
    for name in ("minhash", "place", "text", "combined"):
        methods[f"rule: {name}"] = prf(g.decide_table(lexical, name) != "", gold)
    if embed is not None:
        for thr in (0.85, 0.88, 0.9, 0.92, 0.94):
            methods[f"embedding (cosine ≥ {thr}, within window)"] = prf(
                (table["embedding"].to_numpy() >= thr) & in_window, gold
            )
        methods["rule: embedding"] = prf(g.decide_table(table, "embedding") != "", gold)
        methods["rule: combined + embedding"] = prf(g.decide_table(table, "combined") != "", gold)
    inc = dict(zip(members["complaint_id"], members["incident_id"], strict=True))
    same = np.array([inc.get(a) is not None and inc.get(a) == inc.get(b) for a, b in ids])
    methods["incidents of the run (combined, transitive)"] = prf(same, gold)
    results["methods"] = methods
    sweeps: dict[str, object] = {}
    sweeps["minhash"] = {
        str(t): prf((table["minhash"].to_numpy() >= t) & in_window, gold)
        for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    }
    place = (table["place"] != "").to_numpy() & in_window
    sweeps["place + tfidf"] = {
        str(t): prf(place & (table["tfidf"].to_numpy() >= t), gold) for t in (0.05, 0.08, 0.1, 0.15, 0.2, 0.3)
    }
    results["sweeps"] = sweeps
    results["by_stratum"] = {
        s: {
            "pairs": int((pairs["stratum"] == s).sum()),
            "positive": int(gold[(pairs["stratum"] == s).to_numpy()].sum()),
        }
        for s in sorted(pairs["stratum"].unique())
    }
    if embed is not None:
        results["embedding_seconds"] = round(embed_seconds, 1)
        results["embedding_docs"] = len(sub_ids)
    return results


def place_incidents(st: EventStore, places: list[str]) -> dict[str, object]:
    """For each named place: the incidents its complaints belong to (members, distinct callers,
    categories), largest first. Only counts and category names: no text leaves the store."""
    complaints = st.complaints.read()
    events = st.complaints.read_events().rename(columns={"complaint_id": "id"})
    members = st.incidents.read_members()
    inc = dict(zip(members["complaint_id"], members["incident_id"], strict=True))
    frame = complaints[["id", "title", "text", "caller"]].merge(events[["id", "category"]], on="id")
    frame["incident_id"] = frame["id"].map(inc)
    out: dict[str, object] = {}
    for name in places:
        hit = frame["title"].fillna("").str.contains(name, regex=False) | frame["text"].fillna(
            ""
        ).str.contains(name, regex=False)
        ids = frame.loc[hit, "incident_id"].dropna().unique()
        rows = []
        for iid in ids:
            g = frame[frame["incident_id"] == iid]
            rows.append(
                {
                    "incident_id": iid,
                    "complaints": len(g),
                    "naming_the_place": int(hit[g.index].sum()),
                    "callers": int(g["caller"].fillna(g["id"]).nunique()),
                    "categories": {
                        str(k): int(v) for k, v in g["category"].fillna("").value_counts().items()
                    },
                }
            )
        rows.sort(key=lambda r: (-r["complaints"], r["incident_id"]))
        out[name] = {"complaints_naming_it": int(hit.sum()), "incidents": rows}
    return out


def from_store(args: argparse.Namespace) -> dict[str, object]:
    """Pairs and named places on a regrouped copy of an existing store (see the module docstring)."""
    import shutil
    import sqlite3

    from events.pipeline import regroup_store

    tmp = tempfile.mkdtemp(prefix="events-eval-")
    copy = Path(tmp) / "events.db"
    # sqlite3's backup API: a consistent copy even while the source is in WAL mode.
    with sqlite3.connect(f"file:{args.from_store}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    results: dict[str, object] = {"store": str(args.from_store)}
    try:
        with EventStore(copy) as st:
            results["before"] = place_incidents(st, args.place)
            t0 = time.perf_counter()
            regroup_store(st, IncidentGrouper(GroupingConfig(window_days=args.window_days)))
            results["regroup_seconds"] = round(time.perf_counter() - t0, 1)
            results["after"] = place_incidents(st, args.place)
            complaints = st.complaints.read()
            events = st.complaints.read_events().rename(columns={"complaint_id": "id"})
            frame = complaints.drop(columns=["district"]).merge(events, on="id")
            results["pairs"] = evaluate_pairs(frame, st.incidents.read_members(), args)
            results["hot"] = [
                {k: (str(v) if k in ("first_seen", "last_seen") else v) for k, v in r.items()}
                for r in st.incidents.hot(8)[
                    ["rank", "anchor", "n_complaints", "n_callers", "likes", "growth", "heat", "category"]
                ].to_dict(orient="records")
            ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def print_store_report(res: dict[str, object]) -> None:
    print(f"# grouping on a regrouped copy of {res['store']}  ({res['date']})\n")
    for when in ("before", "after"):
        print(f"## named places, {when} regrouping with this code\n")
        for name, v in res[when].items():
            print(f"{name}: {v['complaints_naming_it']} complaints name it")
            for r in v["incidents"][:4]:
                print(
                    f"  {r['incident_id']}: {r['complaints']} complaints ({r['naming_the_place']} name it), "
                    f"{r['callers']} callers, {r['categories']}"
                )
        print()
    p = res["pairs"]
    print("| method | precision | recall | F1 | tp | fp | fn |\n|---|---|---|---|---|---|---|")
    for name, m in p["methods"].items():
        print(
            f"| {name} | {_f(m['precision'])} | {_f(m['recall'])} | {_f(m['f1'])} | {m['tp']} | {m['fp']} | {m['fn']} |"
        )
    print(f"\nregrouping took {res['regroup_seconds']} s\n\n## hot issues\n")
    for h in res["hot"]:
        print(h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_MESSAGES), help="messages.csv (teddy2020)")
    ap.add_argument("--window-days", type=float, default=30.0)
    ap.add_argument("--embed-model", default=None, help="converted base model dir (optional)")
    ap.add_argument("--embed-chars", type=int, default=256, help="characters of each text to embed")
    ap.add_argument("--store", default=None, help="SQLite file to write (default: a temporary file)")
    ap.add_argument("--out", default=None, help="also write the results as JSON")
    ap.add_argument("--from-store", default=None, help="evaluate on a regrouped copy of this SQLite store")
    ap.add_argument("--place", action="append", default=[], help="with --from-store: a place to report on")
    args = ap.parse_args(argv)
    if args.from_store:
        import logging

        logging.basicConfig(level=logging.WARNING)
        res = {"date": datetime.now().strftime("%Y-%m-%d"), **from_store(args)}
        print_store_report(res)
        if args.out:
            Path(args.out).write_text(
                json.dumps(res, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
            )
        return 0

    data = Path(args.data)
    if not data.exists():
        print(f"dataset not found: {data}")
        return 0
    import logging

    logging.basicConfig(level=logging.WARNING)
    results: dict[str, object] = {
        "date": datetime.now().strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, Python {platform.python_version()}",
        "data": str(data),
        "window_days": args.window_days,
    }
    messages = pd.read_csv(data, dtype={"id": str})
    results["location"] = location_accuracy(messages)

    tmp = tempfile.TemporaryDirectory()
    store_path = Path(args.store) if args.store else Path(tmp.name) / "events.db"
    if store_path.exists():
        store_path.unlink()
    cfg = EventsConfig(window_days=args.window_days, gazetteer="none", progress=False)
    t0 = time.perf_counter()
    with EventStore(store_path) as st:
        report = run_events(data, st, config=cfg)
        total = time.perf_counter() - t0
        counts = st.counts()
        t1 = time.perf_counter()
        run_events(data, st, config=cfg)
        rerun = time.perf_counter() - t1
        counts_again = st.counts()
        results["throughput"] = {
            "complaints": report.complaints,
            "seconds": round(total, 1),
            "complaints_per_second": round(report.complaints / total, 1),
            "stages": report.seconds,
            "rerun_seconds": round(rerun, 1),
            "rerun_changed_counts": counts != counts_again,
            "store_counts": counts,
            "incidents_with_2_or_more": int((st.incidents.read(min_complaints=2)).shape[0]),
        }
        complaints = st.complaints.read()
        events = st.complaints.read_events().rename(columns={"complaint_id": "id"})
        frame = complaints.drop(columns=["district"]).merge(events, on="id")
        members = st.incidents.read_members()
        results["pairs"] = evaluate_pairs(frame, members, args)
        hot = st.incidents.hot(5)
        results["hot"] = [
            {
                "rank": int(r["rank"]),
                "incident_id": r["incident_id"],
                "place": r["location_key"] or r["anchor"],
                "first_seen": str(r["first_seen"])[:10],
                "last_seen": str(r["last_seen"])[:10],
                "complaints": int(r["n_complaints"]),
                "callers": int(r["n_callers"]),
                "likes": int(r["likes"]),
                "heat": round(float(r["heat"]), 1),
                "description": r["description"],
                "keywords": r["keywords"],
            }
            for _, r in hot.iterrows()
        ]
    print_report(results)
    if args.out:
        Path(args.out).write_text(
            json.dumps(results, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
        )
    tmp.cleanup()
    return 0


def _f(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def print_report(res: dict[str, object]) -> None:
    print(f"# event step on {res['data']}  ({res['date']}, {res['machine']})\n")
    loc = res["location"]
    print(
        f"## location extraction ({loc['messages']} labelled messages, title + first {LOCATION_CHARS} chars)\n"
    )
    print("| field | accuracy | precision | recall | expected | found |\n|---|---|---|---|---|---|")
    for f in FIELDS:
        m = loc[f]
        print(
            f"| {f} | {_f(m['accuracy'])} | {_f(m['precision'])} | {_f(m['recall'])} | {m['expected']} | {m['found']} |"
        )
    a = loc["anchor"]
    print(
        f"\nanchor (finest place, what grouping compares): {a['correct']}/{a['messages_with_a_place']} = "
        f"{_f(a['accuracy'])}; anchors on messages without a place: {a['no_place_but_anchor']}\n"
    )
    p = res["pairs"]
    print(
        f"## grouping ({p['pairs']} hand-checked pairs: {p['positive']} same incident, {p['negative']} different)\n"
    )
    print("| method | precision | recall | F1 | tp | fp | fn |\n|---|---|---|---|---|---|---|")
    for name, m in p["methods"].items():
        print(
            f"| {name} | {_f(m['precision'])} | {_f(m['recall'])} | {_f(m['f1'])} | {m['tp']} | {m['fp']} | {m['fn']} |"
        )
    for sweep, rows in p["sweeps"].items():
        print(
            f"\n{sweep} threshold sweep: "
            + "; ".join(f"{t}: P {_f(m['precision'])} R {_f(m['recall'])}" for t, m in rows.items())
        )
    t = res["throughput"]
    print(
        f"\n## throughput\n\n{t['complaints']} complaints in {t['seconds']} s = {t['complaints_per_second']} "
        f"complaints/s (stages: {t['stages']}); re-run {t['rerun_seconds']} s, row counts changed: "
        f"{t['rerun_changed_counts']}; store: {t['store_counts']}\n"
    )
    print("## hot issues\n")
    for h in res["hot"]:
        print(
            f"{h['rank']}. {h['place']}  {h['first_seen']} ~ {h['last_seen']}  {h['complaints']} complaints / "
            f"{h['callers']} callers / {h['likes']} likes  heat {h['heat']}\n   {h['description']}  "
            f"[{'、'.join(h['keywords'][:6])}]"
        )


if __name__ == "__main__":
    raise SystemExit(main())
