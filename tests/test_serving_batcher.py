"""The micro-batcher on its own, with a fake engine: coalescing, routing of results and errors."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving.batcher import MicroBatcher
from serving.errors import ModelNotReady, Overloaded


class FakeEngine:
    """Echoes each text upper-cased; fails on texts containing "boom"; records batches."""

    def __init__(self, version: str = "fake-1", delay: float = 0.02) -> None:
        self.version = version
        self.delay = delay
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def predict(self, texts: list[str]) -> list[str]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(texts))
        time.sleep(self.delay)
        if any("boom" in t for t in texts):
            raise ValueError("boom in batch")
        return [f"{self.version}:{t.upper()}" for t in texts]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_concurrent_submits_coalesce_and_results_go_to_their_callers() -> None:
    async def main() -> tuple[FakeEngine, list]:
        engine = FakeEngine()
        batcher = MicroBatcher(engine, max_batch_size=8, max_wait_ms=30)
        await batcher.start()
        try:
            results = await asyncio.gather(*(batcher.submit([f"a{i}", f"b{i}"]) for i in range(12)))
        finally:
            await batcher.stop()
        return engine, results

    engine, results = run(main())
    for i, r in enumerate(results):
        assert r.predictions == [f"fake-1:A{i}", f"fake-1:B{i}"] and r.model_version == "fake-1"
    sizes = [len(b) for b in engine.batches]
    assert sum(sizes) == 24 and max(sizes) == 8 and len(engine.batches) == 3
    # Inference ran off the event loop, in the batcher's worker thread.
    assert all(name.startswith("hotline-infer") for name in engine.threads)


def test_no_batching_with_max_batch_size_one() -> None:
    async def main() -> FakeEngine:
        engine = FakeEngine(delay=0.0)
        batcher = MicroBatcher(engine, max_batch_size=1, max_wait_ms=0)
        await batcher.start()
        await asyncio.gather(*(batcher.submit([str(i)]) for i in range(10)))
        await batcher.stop()
        return engine

    assert [len(b) for b in run(main()).batches] == [1] * 10


def test_an_error_reaches_only_the_request_that_caused_it() -> None:
    async def main() -> list:
        engine = FakeEngine()
        batcher = MicroBatcher(engine, max_batch_size=32, max_wait_ms=30)
        await batcher.start()
        try:
            return await asyncio.gather(
                batcher.submit(["ok1"]),
                batcher.submit(["boom"]),
                batcher.submit(["ok2"]),
                return_exceptions=True,
            )
        finally:
            await batcher.stop()

    ok1, bad, ok2 = run(main())
    assert ok1.predictions == ["fake-1:OK1"] and ok2.predictions == ["fake-1:OK2"]
    assert isinstance(bad, ValueError)


def test_swapping_the_engine_between_batches() -> None:
    async def main() -> tuple:
        old, new = FakeEngine("v1", delay=0.05), FakeEngine("v2", delay=0.0)
        batcher = MicroBatcher(old, max_batch_size=4, max_wait_ms=0)
        await batcher.start()
        first = asyncio.create_task(batcher.submit(["x"]))
        await asyncio.sleep(0.01)  # the first batch is running on `old`
        batcher.engine = new
        second = await batcher.submit(["y"])
        result = await first
        await batcher.stop()
        return result, second

    first, second = run(main())
    assert first.model_version == "v1" and first.predictions == ["v1:X"]
    assert second.model_version == "v2"


def test_stop_drains_the_queue_and_later_submits_fail() -> None:
    async def main() -> tuple:
        engine = FakeEngine(delay=0.01)
        batcher = MicroBatcher(engine, max_batch_size=2, max_wait_ms=0)
        await batcher.start()
        tasks = [asyncio.create_task(batcher.submit([str(i)])) for i in range(6)]
        await asyncio.sleep(0)
        await batcher.stop()
        done = [t.result() for t in tasks]
        with pytest.raises(ModelNotReady):
            await batcher.submit(["late"])
        return done

    assert len(run(main())) == 6


def test_queue_limit_and_no_engine() -> None:
    async def main() -> None:
        batcher = MicroBatcher(FakeEngine(delay=0.05), max_batch_size=1, max_wait_ms=0, max_queue=3)
        await batcher.start()
        running = [asyncio.create_task(batcher.submit(["a", "b", "c"]))]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await batcher.submit(["d"] * 4)
        await asyncio.gather(*running)
        await batcher.stop()
        empty = MicroBatcher(None)
        await empty.start()
        with pytest.raises(ModelNotReady):
            await empty.submit(["x"])
        await empty.stop()

    run(main())
