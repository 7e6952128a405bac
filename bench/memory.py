"""Peak memory of ``hotline classify`` on a large generated complaint log.

Generates a 200,000-row CSV of varied synthetic complaints (templates x places x issues x
times, some with phone numbers to mask, some empty to reject) in a temporary directory, runs
``hotline classify`` on it in a child process and reports the child's peak resident set size
(``ru_maxrss`` from ``os.wait4``, cross-checked by polling ``/proc/PID/status``). The job reads,
classifies and writes in chunks, so the peak must not grow with the number of rows: the target
is under 2 GiB.

    python bench/memory.py --model artifacts/bench/tfidf-char13-svm/model
    python bench/memory.py --model artifacts/bench/e5-teddy-256/model --rows 20000   # transformer
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

DISTRICTS = [f"A{i}区" for i in range(1, 10)]
PLACES = [
    "幸福路",
    "人民路",
    "联丰路",
    "车站北路",
    "芙蓉中路",
    "金星大道",
    "湘江路",
    "望城坡",
    "梅溪湖",
    "星沙大道",
]
COMMUNITIES = ["阳光花园", "魅力之城", "米兰春天", "和平小区", "东方名苑", "书香门第", "滨江新城", "锦绣华庭"]
ISSUES = [
    "夜间施工噪音扰民，严重影响休息",
    "小区垃圾堆积无人清运，气味难闻",
    "流动摊贩占道经营，堵塞人行道",
    "路灯损坏多日无人维修，晚上出行不安全",
    "公司拖欠工资三个月，多次讨要无果",
    "社保缴费记录有误，无法办理退休手续",
    "学校违规收取补课费用，家长负担重",
    "医院挂号难，排队时间太长",
    "餐馆油烟直排，污染周边环境",
    "公交线路调整后出行不便，希望恢复原线路",
    "商家销售过期食品，要求查处",
    "楼道堆放杂物存在消防隐患",
    "自来水水质浑浊，有异味",
    "物业服务差，收费不透明",
    "道路积水严重，下雨天无法通行",
]
ASKS = ["请相关部门尽快处理。", "希望领导重视。", "恳请有关部门核实查处。", "盼回复，谢谢！", ""]
WHEN = ["最近一周", "从上个月开始", "昨天晚上", "每天早上六点", "已经半年了", "今年以来"]


def generate(path: Path, rows: int, seed: int = 0) -> None:
    import csv

    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单编号", "来电时间", "区县", "诉求标题", "诉求内容"])
        for i in range(rows):
            d = rng.choice(DISTRICTS)
            issue = rng.choice(ISSUES)
            text = (
                f"{rng.choice(WHEN)}，{d}{rng.choice(PLACES)}{rng.choice(COMMUNITIES)}{issue}。"
                + rng.choice(ASKS)
                + (
                    f"联系电话1{rng.randint(3, 9)}{rng.randint(100000000, 999999999)}。"
                    if rng.random() < 0.2
                    else ""
                )
                + "补充说明：" * rng.randint(0, 3)
                + issue * rng.randint(0, 2)
            )
            if rng.random() < 0.005:
                text = ""
            when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 300))
            w.writerow([f"G{i:07d}", when.strftime("%Y/%m/%d %H:%M:%S"), d, issue[:10], text])


def run(model: Path, src: Path, out: Path, chunk_size: int, threads: int | None) -> dict:
    cmd = [sys.executable, "-m", "hotline", "-q", "classify", str(src), "-o", str(out), "--model", str(model)]
    cmd += ["--chunk-size", str(chunk_size)]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    polled = {"max_kb": 0}
    stop = threading.Event()

    def poll() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        polled["max_kb"] = max(polled["max_kb"], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    stop.set()
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"hotline classify failed:\n{stderr[-3000:]}")
    return {
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "polled_peak_rss_mib": round(polled["max_kb"] / 1024, 1),
        "seconds": round(elapsed, 1),
        "summary": stdout.strip().splitlines()[:4],
    }


def main() -> int:
    from throughput import append_result  # bench/ is on sys.path when a script runs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--model", type=Path, required=True, action="append", help="Repeat to measure several models."
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--chunk-size", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json-out", type=Path, default=REPO / "artifacts" / "bench" / "serving_results.jsonl")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hotline-mem-") as tmp:
        src = Path(tmp) / "log.csv"
        t0 = time.perf_counter()
        generate(src, args.rows)
        print(
            f"generated {args.rows:,} rows ({src.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s"
        )
        results = []
        for model in args.model:
            r = run(model, src, Path(tmp) / "out.csv", args.chunk_size, args.threads)
            r.update(model=str(model), rows=args.rows, input_mib=round(src.stat().st_size / 2**20, 1))
            r["under_2_gib"] = r["peak_rss_mib"] < 2048
            print(json.dumps(r, ensure_ascii=False), flush=True)
            results.append(r)
    record = {
        "bench": "memory",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python " + " ".join(sys.argv),
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    append_result(args.json_out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
