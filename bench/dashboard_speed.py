"""Server time of each dashboard view on a given store (issue 14.5).

    python bench/dashboard_speed.py --store artifacts/demo/events.db \
        --forecaster artifacts/demo/forecaster --survival artifacts/demo/survival [--as-of 2020-01-07]

Requests go through FastAPI's TestClient (no network): the time is the server's, rendering
included. Each view is requested ``--repeat`` times; the first request of a view is "cold"
(imports, forecasts not yet cached), the median of the others "warm". With ``--warmup`` the
service's start-up warm-up runs first, as it does in ``hotline serve`` before the first request.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from datetime import datetime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="event store path or URL")
    ap.add_argument("--forecaster", help="forecaster directory")
    ap.add_argument("--survival", help="survival model directory")
    ap.add_argument("--model", help="classifier directory or registry (for the model view)")
    ap.add_argument("--as-of", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--warmup",
        action="store_true",
        help="run the service's start-up warm-up first (timed), as `hotline serve` does",
    )
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from events.store import EventStore
    from serving.app import create_app
    from serving.settings import Settings

    app = create_app(Settings())
    store = EventStore(args.store)
    app.state.store = store
    if args.forecaster:
        from forecasting.forecaster import load_forecaster

        app.state.forecaster = load_forecaster(args.forecaster)
    if args.survival:
        from forecasting.survival import load_survival

        app.state.survival = load_survival(args.survival)
    if args.model:
        from nlp.engine import InferenceEngine

        app.state.engine = InferenceEngine.load(args.model)
    client = TestClient(app)
    if args.warmup:
        from serving.app import _start_warmup

        t0 = time.perf_counter()
        thread = _start_warmup(store, getattr(app.state, "forecaster", None))
        if thread is not None:
            thread.join()
        print(f"# start-up warm-up (background thread in the service): {time.perf_counter() - t0:.3f} s")
    params = {"as_of": args.as_of} if args.as_of else {}
    hot = store.incidents.hot(1)
    views = ["/dashboard", "/dashboard/incidents", "/dashboard/grid", "/dashboard/forecasts", "/dashboard/risk",
             "/dashboard/model"]  # fmt: skip
    if len(hot):
        views.append(f"/dashboard/incidents/{hot.iloc[0]['incident_id']}")
    print(f"# {datetime.now():%Y-%m-%d %H:%M}  {platform.processor() or platform.machine()}  "
          f"{os.cpu_count()} CPUs  load {os.getloadavg()[0]:.2f}  store {args.store}  counts {store.counts()}")  # fmt: skip
    print(f"{'view':<48} {'status':>6} {'cold s':>8} {'warm s':>8}")
    for url in views:
        times = []
        status = 0
        for _ in range(max(args.repeat, 1)):
            t0 = time.perf_counter()
            r = client.get(url, params=params)
            times.append(time.perf_counter() - t0)
            status = r.status_code
        warm = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        print(f"{url[:48]:<48} {status:>6} {times[0]:>8.3f} {warm:>8.3f}")
    store.close()


if __name__ == "__main__":
    main()
