"""Load test of ``hotline serve`` on loopback: micro-batching on vs off, 1/8/32 clients.

The service runs in a subprocess (uvicorn, as in production); an asyncio + httpx client keeps
``C`` requests in flight (one complaint per request, real texts from
``../shared/datasets/teddy2020/messages.csv``) for a bounded number of requests per level and
reports throughput, p50/p95/p99 latency and errors. "Batching off" is ``--max-batch-size 1
--max-wait-ms 0``: every request is its own forward pass.

Both services run side by side (an idle one costs memory, not CPU) and the two modes take turns
at each level, ``--rounds`` times in rotating order, so that drift in the machine's speed
(±15% between back-to-back runs on a shared VM) hits both alike; throughput is all requests of
a mode over all its seconds, latency percentiles are over all its requests.

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
    """``total`` requests with ``concurrency`` in flight; raw latencies (seconds) and errors."""
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
    return {"seconds": elapsed, "latencies": latencies, "errors": errors}


def summarise(concurrency: int, rounds: list[dict]) -> dict:
    """One row for a level and mode from its rounds: pooled requests, seconds and latencies."""
    latencies = sorted(x for r in rounds for x in r["latencies"])
    seconds = sum(r["seconds"] for r in rounds)

    def pct(p: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "clients": concurrency,
        "requests": len(latencies),
        "rounds": len(rounds),
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(latencies) / seconds, 2),
        "requests_per_s_by_round": [round(len(r["latencies"]) / r["seconds"], 2) for r in rounds],
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "errors": sum(r["errors"] for r in rounds),
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
    from throughput import append_result  # bench/ is on sys.path when a script runs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--requests", type=int, default=200, help="Per level and mode (at least 4 x clients).")
    ap.add_argument("--rounds", type=int, default=3, help="Turns the two modes take at each level.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32, help="max_batch_size with batching on.")
    ap.add_argument("--wait-ms", type=float, default=5.0, help="max_wait_ms with batching on.")
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    if not MESSAGES.exists():
        print(f"dataset not found: {MESSAGES}")
        return 0
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    complaints = load_complaints(1000)
    random.Random(0).shuffle(complaints)
    levels = [int(c) for c in args.clients.split(",")]
    modes = {"batching_on": (args.batch_size, args.wait_ms), "batching_off": (1, 0.0)}
    bases: dict[str, str] = {}
    servers: list[subprocess.Popen] = []
    results: dict[str, list[dict]] = {mode: [] for mode in modes}
    try:
        for mode, (batch, wait_ms) in modes.items():
            port = free_port()
            bases[mode] = f"http://127.0.0.1:{port}"
            log = Path(os.environ.get("TMPDIR", "/tmp")) / f"hotline-loadtest-{mode}.log"
            servers.append(start_server(args.model, port, batch, wait_ms, args.threads, log))
        for base in bases.values():
            asyncio.run(wait_ready(base))
            asyncio.run(run_level(base, complaints, 4, 16))  # warm-up
        names = list(modes)
        for c in levels:
            # Every round keeps all clients busy for a few waves, so the last, partly filled
            # wave does not dominate a round.
            per_round = max(max(args.requests, 4 * c) // args.rounds, 2 * c)
            rounds: dict[str, list[dict]] = {mode: [] for mode in modes}
            batches = dict.fromkeys(modes, 0.0)
            texts = dict.fromkeys(modes, 0.0)
            for r in range(args.rounds):
                for mode in names[r % 2 :] + names[: r % 2]:
                    before = asyncio.run(scrape_batches(bases[mode]))
                    rounds[mode].append(asyncio.run(run_level(bases[mode], complaints, c, per_round)))
                    after = asyncio.run(scrape_batches(bases[mode]))
                    batches[mode] += after["hotline_batch_size_count"] - before.get(
                        "hotline_batch_size_count", 0
                    )
                    texts[mode] += after["hotline_batch_size_sum"] - before.get("hotline_batch_size_sum", 0)
            for mode in modes:
                row = summarise(c, rounds[mode])
                row.update(
                    micro_batches=int(batches[mode]),
                    mean_batch_size=round(texts[mode] / batches[mode], 2) if batches[mode] else None,
                )
                print(mode, json.dumps(row), flush=True)
                results[mode].append(row)
    finally:
        for server in servers:
            server.send_signal(signal.SIGINT)
        for server in servers:
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
    append_result(args.json_out, {"bench": "loadtest", **summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
