"""Load test of ``hotline serve`` on loopback: micro-batching on vs off, 1/8/32 clients.

The service runs in a subprocess (uvicorn, as in production); an asyncio + httpx client keeps
``C`` requests in flight (one complaint per request, real texts from
``../shared/datasets/teddy2020/messages.csv``) for a bounded number of requests per level and
reports throughput, p50/p95/p99 latency and errors. "Batching off" is ``--max-batch-size 1
--max-wait-ms 0``: every request is its own forward pass.

    python bench/loadtest.py --model artifacts/bench/e5-teddy-256/model --threads 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATASETS = Path(os.environ.get("HOTLINE_DATASETS", REPO.parent / "shared" / "datasets"))
MESSAGES = DATASETS / "teddy2020" / "messages.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_complaints(n: int) -> list[dict[str, str]]:
    import pandas as pd

    frame = pd.read_csv(MESSAGES, nrows=n, dtype=str).fillna("")
    return [{"id": r.id, "title": r.title, "text": r.text} for r in frame.itertuples()]


def start_server(
    model: Path, port: int, batch: int, wait_ms: float, threads: int, log: Path
) -> subprocess.Popen:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HOTLINE_EVENT_FIELDS": os.environ.get("HOTLINE_EVENT_FIELDS", "false"),
    }
    cmd = [
        sys.executable, "-m", "hotline", "serve", "--model", str(model), "--port", str(port),
        "--max-batch-size", str(batch), "--max-wait-ms", str(wait_ms), "--threads", str(threads),
    ]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))


async def wait_ready(base: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{base}/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError("service did not become ready")


async def run_level(base: str, complaints: list[dict[str, str]], concurrency: int, total: int) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body = complaints[i % len(complaints)]
                t0 = time.perf_counter()
                try:
                    r = await client.post("/v1/classify", json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "clients": concurrency,
        "requests": total,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(total / elapsed, 2),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "errors": errors,
    }


async def scrape_batches(base: str) -> dict:
    import httpx

    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{base}/metrics")).text
    out = {}
    for line in text.splitlines():
        if line.startswith(("hotline_batch_size_sum", "hotline_batch_size_count")):
            name, value = line.split()
            out[name] = float(value)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--requests", type=int, default=200, help="Per level (at least 4 x clients).")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="max_batch_size with batching on.")
    ap.add_argument("--wait-ms", type=float, default=5.0, help="max_wait_ms with batching on.")
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    if not MESSAGES.exists():
        print(f"dataset not found: {MESSAGES}")
        return 0
    complaints = load_complaints(1000)
    random.Random(0).shuffle(complaints)
    levels = [int(c) for c in args.clients.split(",")]
    modes = {"batching_on": (args.batch_size, args.wait_ms), "batching_off": (1, 0.0)}
    results: dict[str, list[dict]] = {}
    for mode, (batch, wait_ms) in modes.items():
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"hotline-loadtest-{mode}.log"
        server = start_server(args.model, port, batch, wait_ms, args.threads, log)
        try:
            asyncio.run(wait_ready(base))
            asyncio.run(run_level(base, complaints, 4, 16))  # warm-up
            results[mode] = []
            for c in levels:
                before = asyncio.run(scrape_batches(base))
                row = asyncio.run(run_level(base, complaints, c, max(args.requests, 4 * c)))
                after = asyncio.run(scrape_batches(base))
                passes = after["hotline_batch_size_count"] - before.get("hotline_batch_size_count", 0)
                texts = after["hotline_batch_size_sum"] - before.get("hotline_batch_size_sum", 0)
                row.update(
                    forward_passes=int(passes), mean_batch_size=round(texts / passes, 2) if passes else None
                )
                print(mode, json.dumps(row), flush=True)
                results[mode].append(row)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
    summary = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],
        "model": str(args.model),
        "results": results,
        "speedup_by_clients": {
            str(on["clients"]): round(on["requests_per_s"] / off["requests_per_s"], 2)
            for on, off in zip(results["batching_on"], results["batching_off"], strict=True)
        },
    }
    print(json.dumps(summary, ensure_ascii=False, indent=2))
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.json_out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"bench": "loadtest", **summary}, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
