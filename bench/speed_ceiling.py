"""How much batching and int8 can buy on this CPU at all, measured without padding or I/O.

    python bench/speed_ceiling.py --model artifacts/bench/e5-teddy-256/model --threads 2

The issue 4 speed targets (engine 3x a per-text pipeline, int8 1.5x fp32, micro-batching 2x)
assume that one text per forward pass wastes the machine and that int8 matrix products are
faster than fp32 ones. This script measures both assumptions directly, so that a missed target
can be told apart from a slow engine:

1. **Model level.** The same encoder (torch fp32, ONNX Runtime fp32 fused, ONNX Runtime int8 as
   ``hotline export --onnx --quantize`` writes it) on a batch of one text and on a batch of
   ``--batch`` texts, all exactly ``--length`` tokens long (no padding), taking turns.
   Per-text time at batch 1 over per-text time at the full batch is the most any batching
   (length buckets, micro-batching) can gain; ONNX fp32 over ONNX int8 is the most dynamic int8
   can gain.
2. **Kernel level.** One feed-forward-sized matrix product ([tokens, hidden] x [hidden, 4 hidden])
   in fp32 (torch) and as ONNX Runtime's dynamically quantised int8 product, in GFLOP/s, at
   one text's worth of tokens and at a full batch's.

``--length`` defaults to the median token count of the Teddy messages (``dataset not found``
without the data: pass ``--length``). Results are appended to ``--json-out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def cpu_description() -> dict[str, Any]:
    """Model name, family/model numbers and the SIMD flags that decide int8 speed."""
    info: dict[str, Any] = {"machine": platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    info.update(
        model_name=fields.get("model name"),
        family=fields.get("cpu family"),
        model=fields.get("model"),
        simd={f: f in flags for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")},
    )
    return info


def median_token_length(model_dir: Path) -> int | None:
    from throughput import MESSAGES, load_texts
    from transformers import AutoTokenizer

    if not MESSAGES.exists():
        return None
    tok = AutoTokenizer.from_pretrained(model_dir)
    lengths = [len(ids) for ids in tok(load_texts(500), truncation=True, max_length=512)["input_ids"]]
    return int(statistics.median(lengths))


def gemm_rates(tokens: list[int], hidden: int, threads: int, reps: int) -> dict[str, dict[str, float]]:
    """GFLOP/s of [t, hidden] x [hidden, 4 hidden] in torch fp32 and ONNX Runtime dynamic int8."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    w = (rng.standard_normal((hidden, 4 * hidden)) * 0.05).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["t", hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["t", 4 * hidden])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), fp32_path)
        quantize_dynamic(
            fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True
        )
        sessions = {
            name: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            for name, p in (("onnx_fp32", fp32_path), ("onnx_int8", int8_path))
        }
        wt = torch.from_numpy(w)
        out: dict[str, dict[str, float]] = {}
        for t in tokens:
            x = rng.standard_normal((t, hidden)).astype(np.float32)
            xt = torch.from_numpy(x)
            calls = {
                "torch_fp32": lambda xt=xt: torch.mm(xt, wt),
                **{name: (lambda s=s, x=x: s.run(None, {"x": x})) for name, s in sessions.items()},
            }
            best = dict.fromkeys(calls, float("inf"))
            # Each kernel runs reps times in a row (a thread pool that has just woken up is not
            # what a forward pass sees), three rounds taking turns; best time of each.
            for _ in range(3):
                for name, call in calls.items():
                    call()
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        call()
                        best[name] = min(best[name], time.perf_counter() - t0)
            flops = 2.0 * t * hidden * 4 * hidden
            out[f"tokens_{t}"] = {name: round(flops / s / 1e9, 1) for name, s in best.items()}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="Transformer model directory (hotline.json)")
    ap.add_argument("--length", type=int, help="Tokens per text (default: median of the Teddy messages)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=6, help="Rounds the paths take turns in")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    length = args.length or median_token_length(args.model)
    if length is None:
        print("dataset not found: teddy2020/messages.csv (pass --length to run without it)")
        return 0

    import numpy as np
    import torch
    from throughput import append_result, interleaved
    from transformers import AutoConfig

    from nlp.batching import plan_batches, run_batches
    from nlp.transformer import OnnxClassifier, TransformerClassifier
    from tools.onnx_export import export_onnx

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="hotline-ceiling-"))
    export_onnx(args.model, tmp / "fp32", quantize=False)
    export_onnx(args.model, tmp / "int8", quantize=True)
    models = {
        "torch_fp32": TransformerClassifier.load(args.model),
        "onnx_fp32": OnnxClassifier.load(tmp / "fp32", num_threads=args.threads),
        "onnx_int8": OnnxClassifier.load(tmp / "int8", num_threads=args.threads),
    }
    hidden = int(AutoConfig.from_pretrained(args.model).hidden_size)
    tok = models["torch_fp32"].tokenizer
    vocab = len(tok)
    rng = np.random.default_rng(0)
    # Token values do not change the cost; lengths do, and every text here has the same one.
    ids = [
        [tok.cls_token_id, *rng.integers(5, vocab, length - 2).tolist(), tok.sep_token_id]
        for _ in range(args.batch)
    ]

    def logits_of(clf: Any, block: list[list[int]], batch_size: int) -> Any:
        return run_batches(clf, block, plan_batches(clf, block, batch_size=batch_size))

    paths: dict[str, Any] = {}
    for name, clf in models.items():
        # One text per pass, as a per-text pipeline or an unbatched service runs it ...
        paths[f"{name}_batch1"] = lambda block, clf=clf: logits_of(clf, block, 1)
        # ... and the same texts in one pass, as the engine's buckets run them.
        paths[f"{name}_batch{args.batch}"] = lambda block, clf=clf: logits_of(clf, block, len(block))
    for path in paths.values():
        path(ids[:2])
    seconds, _ = interleaved(paths, [ids] * args.rounds)
    per_text = {name: s / (args.rounds * args.batch) for name, s in seconds.items()}
    full = f"batch{args.batch}"
    result = {
        "benchmark": "speed_ceiling",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_description(),
        "load_avg_1m": os.getloadavg()[0],
        "model": str(args.model),
        "tokens_per_text": length,
        "batch": args.batch,
        "threads": args.threads,
        "ms_per_text": {k: round(1000 * v, 1) for k, v in per_text.items()},
        "batching_gain": {
            name: round(per_text[f"{name}_batch1"] / per_text[f"{name}_{full}"], 2) for name in models
        },
        "int8_gain_vs_onnx_fp32": round(per_text[f"onnx_fp32_{full}"] / per_text[f"onnx_int8_{full}"], 2),
        "int8_gain_vs_torch_fp32": round(per_text[f"torch_fp32_{full}"] / per_text[f"onnx_int8_{full}"], 2),
        "gemm_gflops": gemm_rates([length, length * args.batch], hidden, args.threads, reps=10),
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    append_result(args.json_out, result)
    shutil.rmtree(tmp, ignore_errors=True)  # two exports, ~170 MB
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
