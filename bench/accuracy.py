"""Accuracy benchmark: fine-tuned base model vs the TF-IDF baseline on real Chinese data.

Data (never copied into the repository; read from ``../shared/datasets`` or ``HOTLINE_DATASETS``):

- ``teddy2020/labeled.csv``: 5,267 citizen messages, 7 categories. One fixed, seeded, stratified
  80/20 split (``split``): ``OUT/teddy/train.parquet``, ``test.parquet`` (masked text) and
  ``split_ids.csv`` (id, part) so the split can be reproduced. Training uses 10% of the 80% as
  its evaluation split (early stopping, temperature, thresholds, C, fusion weight); the 20% test
  part is only used for the final figures.
- ``chnsenticorp/{train,dev,test}.tsv``: train on train, select on dev, report test accuracy
  (published BERT-base: 95.0).

Commands (each appends one JSON line to ``OUT/results.jsonl``; ``summary`` prints a table)::

    python bench/accuracy.py split
    python bench/accuracy.py teddy --name tfidf-char13 --model-type tfidf
    python bench/accuracy.py teddy --name e5-256 --model-type transformer \\
        --base-model artifacts/base-model-teddy --set max_length=256 --set epochs=3
    python bench/accuracy.py fuse --name fusion --transformer OUT/e5-256/model --tfidf OUT/tfidf-char13/model
    python bench/accuracy.py chnsenticorp --name csc-e5 --model-type transformer --base-model DIR
    python bench/accuracy.py summary

``--set KEY=VALUE`` sets any ``training.config.TrainConfig`` field (JSON values). Run long jobs
with ``nohup ... > OUT/NAME.log 2>&1 &``; a transformer run checkpoints every epoch and
``--set resume_from=OUT/NAME/model`` continues it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = Path(os.environ.get("HOTLINE_DATASETS", REPO.parent / "shared" / "datasets"))
TEDDY = DATASETS / "teddy2020" / "labeled.csv"
CSC = DATASETS / "chnsenticorp"
SPLIT_SEED = 2020
PUBLISHED_CSC_BERT_BASE = 95.0


def hardware() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def record(out: Path, entry: dict[str, Any]) -> None:
    entry = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/accuracy.py", *sys.argv[1:]]),
        "hardware": hardware(),
        **entry,
    }
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
    keys = ("name", "dataset", "model_type", "test_accuracy", "test_macro_f1", "train_seconds", "device")
    print(json.dumps({k: entry.get(k) for k in keys}, ensure_ascii=False))


def parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


# -- data ------------------------------------------------------------------------------------------


def cmd_split(args: argparse.Namespace) -> int:
    from training.data import load_labelled, save_frame, stratified_split

    if not TEDDY.exists():
        print(f"dataset not found: {TEDDY}")
        return 0
    frame = load_labelled(TEDDY)
    train, test = stratified_split(frame, 0.2, SPLIT_SEED)
    d = args.out / "teddy"
    save_frame(train, d / "train.parquet")
    save_frame(test, d / "test.parquet")
    import pandas as pd

    ids = pd.concat(
        [pd.DataFrame({"id": train["id"], "part": "train"}), pd.DataFrame({"id": test["id"], "part": "test"})]
    )
    ids.to_csv(d / "split_ids.csv", index=False)
    # The pruning corpus for `hotline base-model build --prune-vocab`: training texts only.
    (d / "train_texts.txt").write_text("\n".join(train["text"]) + "\n", encoding="utf-8")
    print(f"split {len(frame)} rows (seed {SPLIT_SEED}): train {len(train)}, test {len(test)} -> {d}")
    return 0


def csc_frames() -> dict[str, Any]:
    import pandas as pd

    from nlp.pii import mask_pii
    from nlp.text import normalize_text

    frames = {}
    for part in ("train", "dev", "test"):
        raw = pd.read_csv(CSC / f"{part}.tsv", sep="\t", quoting=3, dtype=str, keep_default_na=False)
        frames[part] = pd.DataFrame(
            {
                "id": [f"{part}-{i}" for i in range(len(raw))],
                # What ingest does to every complaint: normalise, then mask personal data.
                "text": [mask_pii(normalize_text(t)) for t in raw["text_a"]],
                "label": raw["label"].map({"0": "负面", "1": "正面"}),
                "row": range(1, len(raw) + 1),
            }
        )
    return frames


# -- runs ------------------------------------------------------------------------------------------


def train_and_test(
    args: argparse.Namespace,
    dataset: str,
    train_file: Path,
    test_frame: Any,
    eval_file: Path | None = None,
) -> int:
    from nlp.classifier import load_classifier
    from training.config import TrainConfig
    from training.evaluate import evaluate_predictions, write_report
    from training.pipeline import run_training

    run_dir = args.out / args.name
    settings = {
        "train_file": str(train_file),
        "eval_file": str(eval_file) if eval_file else None,
        "output_dir": str(run_dir / "model"),
        "model_type": args.model_type,
        "base_model": args.base_model,
        "name": args.name,
        "eval_split": 0.1,
        **parse_sets(args.set or []),
    }
    config = TrainConfig(**settings)
    started = time.perf_counter()
    result = run_training(config)
    wall = time.perf_counter() - started
    model = load_classifier(run_dir / "model")
    t0 = time.perf_counter()
    logits = model.logits(list(test_frame["text"]), batch_size=64)
    predict_seconds = time.perf_counter() - t0
    report = evaluate_predictions(test_frame, logits, model.info, model=str(run_dir / "model"), data="test")
    write_report(report, run_dir / "test_report")
    training = result.metrics.get("training", {})
    record(
        args.out,
        {
            "name": args.name,
            "dataset": dataset,
            "model_type": args.model_type,
            "config": config.to_dict(),
            "eval_split_macro_f1": result.metrics["eval"]["macro_f1"],
            "test_rows": len(test_frame),
            "test_accuracy": report.metrics["accuracy"],
            "test_macro_f1": report.metrics["macro_f1"],
            "test_weighted_f1": report.metrics["weighted_f1"],
            "test_ece": report.calibration["ece"],
            "train_seconds": training.get("seconds"),
            "wall_seconds": wall,
            "predict_seconds": predict_seconds,
            "device": training.get("device"),
            "steps": training.get("steps"),
            "best_step": training.get("best_step"),
            "stopped_early": training.get("stopped_early"),
            "temperature": model.info.temperature,
        },
    )
    return 0


def cmd_teddy(args: argparse.Namespace) -> int:
    import pandas as pd

    d = args.out / "teddy"
    if not TEDDY.exists():
        print(f"dataset not found: {TEDDY}")
        return 0
    if not (d / "train.parquet").exists():
        print(f"run `python bench/accuracy.py split --out {args.out}` first")
        return 2
    return train_and_test(args, "teddy2020", d / "train.parquet", pd.read_parquet(d / "test.parquet"))


def cmd_chnsenticorp(args: argparse.Namespace) -> int:
    from training.data import save_frame

    if not (CSC / "train.tsv").exists():
        print(f"dataset not found: {CSC}")
        return 0
    frames = csc_frames()
    d = args.out / "chnsenticorp"
    save_frame(frames["train"], d / "train.parquet")
    save_frame(frames["dev"], d / "dev.parquet")
    save_frame(frames["test"], d / "test.parquet")
    (d / "train_texts.txt").write_text("\n".join(frames["train"]["text"]) + "\n", encoding="utf-8")
    if args.prepare_only:
        print(f"wrote {d}")
        return 0
    return train_and_test(
        args, "chnsenticorp", d / "train.parquet", frames["test"], eval_file=d / "dev.parquet"
    )


def cmd_fuse(args: argparse.Namespace) -> int:
    import pandas as pd

    from nlp.classifier import load_classifier
    from training.evaluate import evaluate_predictions, write_report
    from training.fusion import fuse_models

    test = pd.read_parquet(args.out / args.dataset_dir / args.test_file)
    run_dir = args.out / args.name
    started = time.perf_counter()
    result = fuse_models(args.transformer, args.tfidf, run_dir / "model", name=args.name)
    model = load_classifier(run_dir / "model")
    logits = model.logits(list(test["text"]), batch_size=64)
    report = evaluate_predictions(test, logits, model.info, model=str(run_dir / "model"), data="test")
    write_report(report, run_dir / "test_report")
    record(
        args.out,
        {
            "name": args.name,
            "dataset": args.dataset_dir,
            "model_type": "fusion",
            "parts": {"transformer": str(args.transformer), "tfidf": str(args.tfidf)},
            "fusion_weight": model.info.fusion_weight,
            "eval_split_macro_f1": result.metrics["eval"]["macro_f1"],
            "test_rows": len(test),
            "test_accuracy": report.metrics["accuracy"],
            "test_macro_f1": report.metrics["macro_f1"],
            "test_weighted_f1": report.metrics["weighted_f1"],
            "test_ece": report.calibration["ece"],
            "wall_seconds": time.perf_counter() - started,
            "device": "cpu",
        },
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    path = args.out / "results.jsonl"
    if not path.exists():
        print(f"no results in {path}")
        return 0
    print(
        "| name | dataset | type | test accuracy | test macro-F1 | eval macro-F1 | train s | device | date |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        secs = r.get("train_seconds") or r.get("wall_seconds")
        print(
            f"| {r['name']} | {r['dataset']} | {r['model_type']} | {r['test_accuracy']:.4f} | "
            f"{r['test_macro_f1']:.4f} | {r.get('eval_split_macro_f1', 0):.4f} | "
            f"{secs:.0f} | {r.get('device')} | {r['date'][:10]} |"
        )
    return 0


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import logging

    from nlp.logs import configure_logging

    configure_logging(logging.INFO)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "artifacts" / "bench")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("split", help="write the fixed Teddy 80/20 split")
    for name in ("teddy", "chnsenticorp"):
        p = sub.add_parser(name, help=f"train on {name} and test")
        p.add_argument("--name", required=True)
        p.add_argument("--model-type", default="tfidf", choices=("transformer", "tfidf", "fusion"))
        p.add_argument("--base-model", default=None)
        p.add_argument("--set", action="append", metavar="KEY=VALUE")
        if name == "chnsenticorp":
            p.add_argument("--prepare-only", action="store_true")
    p = sub.add_parser("fuse", help="fuse a trained transformer and tfidf model")
    p.add_argument("--name", required=True)
    p.add_argument("--transformer", type=Path, required=True)
    p.add_argument("--tfidf", type=Path, required=True)
    p.add_argument("--dataset-dir", default="teddy")
    p.add_argument("--test-file", default="test.parquet")
    sub.add_parser("summary", help="print the results table")
    args = parser.parse_args()
    handlers = {
        "split": cmd_split,
        "teddy": cmd_teddy,
        "chnsenticorp": cmd_chnsenticorp,
        "fuse": cmd_fuse,
        "summary": cmd_summary,
    }
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
