"""Which dynamic-int8 settings keep a fine-tuned model's predictions: per-tensor vs per-channel.

    python bench/int8_settings.py --model artifacts/bench/e5-teddy-256/model --texts 240

Exports the model to fused fp32 ONNX once (``tools.onnx_export``), quantises it with the
export's own quantiser (``hotline export --quantize``: MatMul, Gemm and fused Attention, 7-bit
weights, the classifier layer fp32) with per-tensor and with per-channel weights, and runs
torch fp32, fp32 ONNX and every int8 variant through :class:`nlp.engine.InferenceEngine` on the
same Teddy test texts, interleaved block by block. Reports texts/s, speed relative to torch,
argmax agreement with torch and the largest probability change. Prints "dataset not found" without the data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
SPLIT_TEST = REPO / "artifacts" / "bench" / "teddy" / "test.parquet"

VARIANTS = {"per_tensor_reduce_range": False, "per_channel_reduce_range": True}  # per_channel


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="Fine-tuned transformer model directory")
    ap.add_argument("--texts", type=int, default=240)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    if not SPLIT_TEST.exists():
        print(f"dataset not found: {SPLIT_TEST} (written by bench/accuracy.py from teddy2020)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import pandas as pd
    from throughput import append_result, interleaved

    from nlp.engine import EngineConfig, InferenceEngine
    from tools.onnx_export import _quantize, export_onnx

    tmp = Path(tempfile.mkdtemp(prefix="hotline-int8-"))
    export_onnx(args.model, tmp / "fp32", quantize=False)
    fp32 = tmp / "fp32" / "model.onnx"
    for name, per_channel in VARIANTS.items():
        shutil.copytree(tmp / "fp32", tmp / name, ignore=shutil.ignore_patterns("model.onnx"))
        # The export's own quantiser: same op types, classifier layer kept fp32, reduce_range.
        _quantize(fp32, tmp / name / "model.onnx", tmp, preprocess=False, per_channel=per_channel)
    texts = list(pd.read_parquet(SPLIT_TEST)["text"])[: args.texts]
    cfg = EngineConfig(num_threads=args.threads)
    engines = {
        "torch_fp32": InferenceEngine.load(args.model, cfg),
        "onnx_fp32": InferenceEngine.load(tmp / "fp32", cfg),
    }
    engines.update({name: InferenceEngine.load(tmp / name, cfg) for name in VARIANTS})
    for engine in engines.values():
        engine.predict_arrays(texts[:8])
    blocks = [[texts[i] for i in idx] for idx in np.array_split(np.arange(len(texts)), args.blocks)]
    seconds, probs = interleaved(
        {name: (lambda block, e=engine: e.predict_arrays(block).probs) for name, engine in engines.items()},
        blocks,
    )
    names = list(engines)
    ref = np.concatenate(probs["torch_fp32"])
    rows = {}
    for name in names:
        p = np.concatenate(probs[name])
        rows[name] = {
            "texts_per_s": round(len(texts) / seconds[name], 2),
            "speed_vs_torch": round(seconds["torch_fp32"] / seconds[name], 2),
            "agreement_with_torch": round(float((p.argmax(1) == ref.argmax(1)).mean()), 4),
            "max_prob_change": round(float(np.abs(p - ref).max()), 4),
        }
    result = {
        "bench": "int8_settings",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "load_avg_1m": os.getloadavg()[0],
        "texts": len(texts),
        "threads": args.threads,
        "results": rows,
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    append_result(args.json_out, result)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
