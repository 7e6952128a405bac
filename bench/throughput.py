"""Classification throughput: naive transformers pipeline vs our engine (torch fp32, ONNX int8).

The same real texts (``../shared/datasets/teddy2020/messages.csv``, title + text, read and
masked exactly as ``hotline classify`` reads them) go through three paths with the same model
directory and the same maximum input length:

1. ``transformers.pipeline("text-classification")`` called once per text (what a first script
   does);
2. :class:`nlp.engine.InferenceEngine` with the torch model (length-sorted buckets,
   ``inference_mode``);
3. the same engine over the model exported with ``hotline export --onnx --quantize``.

The texts are split into blocks and the three paths take turns block by block, in rotating
order, so that load from other processes on a shared machine hits all three alike; the ratios
are the figures to quote. With ``--eval`` the fp32 and int8 models are also compared on a
labelled split (accuracy, macro-F1, agreement).

    python bench/throughput.py --model artifacts/bench/e5-teddy-256/model --threads 2
    python bench/throughput.py --random-head-from artifacts/base-model-teddy --threads 2   # speed only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = Path(os.environ.get("HOTLINE_DATASETS", REPO.parent / "shared" / "datasets"))
MESSAGES = DATASETS / "teddy2020" / "messages.csv"
LABELED = DATASETS / "teddy2020" / "labeled.csv"
SPLIT_TEST = REPO / "artifacts" / "bench" / "teddy" / "test.parquet"
TEDDY_LABELS = ["城乡建设", "劳动和社会保障", "教育文体", "商贸旅游", "环境保护", "卫生计生", "交通运输"]


def load_texts(n: int) -> list[str]:
    from ingest.readers import ComplaintReader
    from nlp.text import join_title_text

    texts: list[str] = []
    for chunk in ComplaintReader(MESSAGES):
        texts.extend(
            join_title_text(t, x) for t, x in zip(chunk.records["title"], chunk.records["text"], strict=True)
        )
        if len(texts) >= n:
            break
    return texts[:n]


def random_head_model(base: Path, out: Path, max_length: int) -> Path:
    """A classifier on the base encoder with a randomly initialised head: for speed figures only."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from nlp.classifier import ModelInfo
    from nlp.transformer import TransformerClassifier

    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(TEDDY_LABELS),
        id2label=dict(enumerate(TEDDY_LABELS)),
        label2id={k: i for i, k in enumerate(TEDDY_LABELS)},
    )
    info = ModelInfo(
        "transformer", TEDDY_LABELS, max_length=max_length, version="random-head", name=base.name
    )
    TransformerClassifier(model.eval(), AutoTokenizer.from_pretrained(base), info).save(out)
    return out


def eval_split(seed: int = 42) -> tuple[object, str]:
    """The training colleague's fixed test split when present, else a seeded stratified 20%."""
    import pandas as pd

    if SPLIT_TEST.exists():
        return pd.read_parquet(
            SPLIT_TEST
        ), f"{SPLIT_TEST.relative_to(REPO)} (bench/accuracy.py split, seed 2020)"
    from sklearn.model_selection import train_test_split

    from ingest.readers import read_complaints

    frame = read_complaints(LABELED)
    _, test = train_test_split(frame, test_size=0.2, stratify=frame["label"], random_state=seed)
    return test, f"seeded stratified 20% of labeled.csv (sklearn, random_state={seed})"


def append_result(path: Path, result: dict[str, Any]) -> None:
    """Append one benchmark result as a JSON line (the results file and its folder may not exist yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


def interleaved(
    paths: dict[str, Callable[[list[str]], Any]], blocks: list[list[str]]
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Run every path on every block, taking turns in rotating order; seconds and outputs per path.

    Load from other processes on a shared machine then hits all paths alike, so their ratios
    hold even when absolute rates drift.
    """
    seconds = dict.fromkeys(paths, 0.0)
    outputs: dict[str, list[Any]] = {k: [] for k in paths}
    names = list(paths)
    for b, block in enumerate(blocks):
        for name in names[b % len(names) :] + names[: b % len(names)]:
            t0 = time.perf_counter()
            outputs[name].append(paths[name](block))
            elapsed = time.perf_counter() - t0
            seconds[name] += elapsed
            print(f"block {b + 1}/{len(blocks)} {name}: {len(block) / elapsed:.1f} texts/s", flush=True)
    return seconds, outputs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="Transformer model directory (hotline.json).")
    ap.add_argument(
        "--random-head-from", type=Path, help="Base encoder: build a random-head model (speed only)."
    )
    ap.add_argument("--onnx-dir", type=Path, help="Existing int8 export to reuse (default: export now).")
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--blocks", type=int, default=4, help="Rounds the paths take turns in.")
    ap.add_argument("--max-length", type=int, default=256, help="For --random-head-from only.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--eval", action="store_true", help="Compare fp32 and int8 on the Teddy test split.")
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()

    if not MESSAGES.exists():
        print(f"dataset not found: {MESSAGES}")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch
    from transformers import pipeline

    from nlp.classifier import ModelInfo
    from nlp.engine import EngineConfig, InferenceEngine
    from tools.onnx_export import classification_scores, export_onnx

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    if args.model is None:
        if args.random_head_from is None:
            ap.error("give --model DIR or --random-head-from BASE")
        args.model = random_head_model(args.random_head_from, tmp / "random-head", args.max_length)
    info = ModelInfo.load(args.model)
    onnx_dir = args.onnx_dir
    export_seconds = None
    if onnx_dir is None:
        t0 = time.perf_counter()
        export_onnx(args.model, tmp / "onnx-int8", quantize=True)
        export_seconds = time.perf_counter() - t0
        onnx_dir = tmp / "onnx-int8"

    texts = load_texts(args.texts)
    cfg = EngineConfig(batch_size=args.batch_size, num_threads=args.threads)
    engines = {
        "engine_fp32": InferenceEngine.load(args.model, cfg),
        "engine_onnx_int8": InferenceEngine.load(onnx_dir, cfg),
    }
    pipe = None
    if not args.skip_naive:
        pipe = pipeline("text-classification", model=str(args.model), tokenizer=str(args.model), device=-1)

    def run_naive(block: list[str]) -> list[str]:
        return [pipe(t, truncation=True, max_length=info.max_length)[0]["label"] for t in block]

    def run_engine(name: str):  # type: ignore[no-untyped-def]
        engine = engines[name]
        return lambda block: [engine.labels[i] for i in engine.predict_arrays(block).top]

    paths = {"engine_fp32": run_engine("engine_fp32"), "engine_onnx_int8": run_engine("engine_onnx_int8")}
    if pipe is not None:
        paths = {"naive_pipeline": run_naive, **paths}
    # Warm-up: first calls allocate, and ONNX Runtime specialises kernels on first shapes.
    for fn in paths.values():
        fn(texts[:8])
    blocks = [[texts[i] for i in idx] for idx in np.array_split(np.arange(len(texts)), args.blocks)]
    seconds, outputs = interleaved(paths, blocks)
    preds = {k: [label for out in v for label in out] for k, v in outputs.items()}

    rate = {k: len(texts) / v for k, v in seconds.items()}
    result: dict[str, object] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "machine": {
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "load_avg_1m": os.getloadavg()[0],
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "model": str(args.model),
        "model_version": info.version,
        "max_length": info.max_length,
        "texts": len(texts),
        "texts_per_s": {k: round(v, 2) for k, v in rate.items()},
        "export_seconds": round(export_seconds, 1) if export_seconds else None,
    }
    if "naive_pipeline" in rate:
        result["engine_fp32_vs_naive"] = round(rate["engine_fp32"] / rate["naive_pipeline"], 2)
        result["onnx_int8_vs_naive"] = round(rate["engine_onnx_int8"] / rate["naive_pipeline"], 2)
        result["naive_agreement_with_engine"] = round(
            float(
                np.mean([a == b for a, b in zip(preds["naive_pipeline"], preds["engine_fp32"], strict=True)])
            ),
            4,
        )
    result["onnx_int8_vs_fp32"] = round(rate["engine_onnx_int8"] / rate["engine_fp32"], 2)
    result["int8_agreement_on_messages"] = round(
        float(
            np.mean([a == b for a, b in zip(preds["engine_fp32"], preds["engine_onnx_int8"], strict=True)])
        ),
        4,
    )
    if args.eval:
        frame, source = eval_split()
        eval_texts = list(frame["text"])
        gold = list(frame["label"])
        fp32 = [
            engines["engine_fp32"].labels[i] for i in engines["engine_fp32"].predict_arrays(eval_texts).top
        ]
        int8 = [
            engines["engine_onnx_int8"].labels[i]
            for i in engines["engine_onnx_int8"].predict_arrays(eval_texts).top
        ]
        before = classification_scores(gold, fp32, info.labels)
        after = classification_scores(gold, int8, info.labels)
        result["eval"] = {
            "split": source,
            "rows": len(gold),
            "fp32": before,
            "int8": after,
            "macro_f1_change_points": round(100 * (after["macro_f1"] - before["macro_f1"]), 2),
            "agreement": round(float(np.mean([a == b for a, b in zip(fp32, int8, strict=True)])), 4),
        }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    append_result(args.json_out, {"bench": "throughput", **result})
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
