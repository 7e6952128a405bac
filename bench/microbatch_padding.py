"""What the engine's padding cap does to a service micro-batch: one pass, capped, one per text.

    python bench/microbatch_padding.py --model artifacts/bench/e5-teddy-256/model --batches 24

A micro-batch in ``hotline serve`` holds texts of whatever lengths the callers sent. This
draws micro-batches of ``--size`` real texts at random (``teddy2020/messages.csv``, read as
``hotline classify`` reads them) and classifies each with three engine settings, interleaved
in rotating order: the whole micro-batch in as few passes as ``max_batch_tokens`` allows (no
padding cap), passes capped at ``max_padding=0.2`` (the default), and one text per pass
(batching off). Prints texts/s and the ratio to one text per pass. The load test
(``bench/loadtest.py``) runs its modes one after the other and its run-to-run noise on a
2-core machine (±15%) is larger than the effect measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--size", type=int, default=16, help="Texts per micro-batch.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    from throughput import MESSAGES, append_result, interleaved, load_texts

    if not MESSAGES.exists():
        print(f"dataset not found: {MESSAGES}")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np

    from nlp.engine import EngineConfig, InferenceEngine

    texts = load_texts(2000)
    rng = np.random.default_rng(0)
    batches = [
        [texts[i] for i in rng.choice(len(texts), args.size, replace=False)] for _ in range(args.batches)
    ]
    configs = {
        "one_pass_no_cap": EngineConfig(num_threads=args.threads, max_padding=1e9),
        "padding_cap_0.2": EngineConfig(num_threads=args.threads, max_padding=0.2),
        "one_text_per_pass": EngineConfig(num_threads=args.threads, batch_size=1),
    }
    engines = {name: InferenceEngine.load(args.model, cfg) for name, cfg in configs.items()}
    for engine in engines.values():
        engine.predict_arrays(texts[:8])
        engine.batches_run = 0
    seconds, _ = interleaved(
        {name: (lambda batch, e=engine: e.predict_arrays(batch)) for name, engine in engines.items()}, batches
    )
    names = list(engines)
    n = args.size * args.batches
    result = {
        "bench": "microbatch_padding",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "load_avg_1m": os.getloadavg()[0],
        "texts": n,
        "results": {
            name: {
                "texts_per_s": round(n / seconds[name], 2),
                "vs_one_text_per_pass": round(seconds["one_text_per_pass"] / seconds[name], 3),
                "forward_passes": engines[name].batches_run,
            }
            for name in names
        },
    }
    print(json.dumps(result, ensure_ascii=False, indent=2))
    append_result(args.json_out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
