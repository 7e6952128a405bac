"""Micro-batching: coalesce concurrent requests into one forward pass.

On a GPU, or for short texts, a transformer's forward pass over 16 texts costs little more than
over one, so the service waits briefly (``max_wait_ms``) for other requests and classifies them
together, up to ``max_batch_size`` texts. (On a CPU with full-length complaints a pass over 16
costs nearly 16 single passes and batching gains a few percent: docs/benchmarks.md.) Inference runs in one worker thread, off the event loop; while it
runs, new requests queue up and form the next batch, so under load batches fill themselves
without waiting at all. ``max_batch_size=1`` (or ``max_wait_ms=0`` at low load) turns batching
off.

Each request's texts stay together in one batch and its results come back through its own
future. When a batch fails, each of its requests is retried alone, so an error reaches only the
request that caused it. The engine is read once per batch: a reload swaps
:attr:`MicroBatcher.engine` and in-flight batches finish on the engine they started with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from serving.errors import ModelNotReady, Overloaded
from serving.metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What one request gets back: its predictions and the version of the model that made them."""

    predictions: list[Any]
    model_version: str


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future[BatchResult]
    enqueued: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Queues texts from concurrent requests and runs them through ``engine.predict`` in batches."""

    def __init__(
        self,
        engine: Any,
        *,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 4096,
        metrics: Metrics | None = None,
        predict: Callable[[Any, list[str]], list[Any]] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self.engine = engine
        self.max_batch_size = max_batch_size
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics
        self._predict = predict or (lambda engine, texts: engine.predict(texts))
        self._queue: deque[_Pending] = deque()
        self._queued_texts = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        # Recent batch sizes (texts, requests), for tests and for /v1/info.
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.batch_requests: deque[int] = deque(maxlen=1000)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._closing = False
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hotline-infer")
        self._task = asyncio.create_task(self._run(), name="hotline-batcher")

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker (the lifespan's shutdown)."""
        if self._task is None:
            return
        self._closing = True
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            await self._task
        finally:
            self._task = None
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queued_texts(self) -> int:
        return self._queued_texts

    # -- submitting -----------------------------------------------------------------------------

    async def submit(self, texts: Sequence[str]) -> BatchResult:
        """Classify ``texts`` in some upcoming batch; raises what the model raised."""
        if self.engine is None:
            raise ModelNotReady("no model is loaded; check /ready and the service log")
        if not self.running or self._closing:
            raise ModelNotReady("the service is shutting down")
        if self._queued_texts + len(texts) > self.max_queue:
            raise Overloaded(
                f"{self._queued_texts} texts are already waiting for the model; retry shortly or add replicas"
            )
        loop = asyncio.get_running_loop()
        pending = _Pending(list(texts), loop.create_future())
        self._queue.append(pending)
        self._queued_texts += len(pending.texts)
        self._gauge()
        assert self._wakeup is not None
        self._wakeup.set()
        return await pending.future

    # -- the worker -----------------------------------------------------------------------------

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self._queued_texts)

    def _take(self) -> list[_Pending]:
        """Pop requests while they fit in one batch (a lone big request always fits)."""
        batch: list[_Pending] = []
        size = 0
        while self._queue:
            nxt = self._queue[0]
            if batch and size + len(nxt.texts) > self.max_batch_size:
                break
            self._queue.popleft()
            if nxt.future.done():  # the caller went away (client disconnect, timeout)
                self._queued_texts -= len(nxt.texts)
                continue
            batch.append(nxt)
            size += len(nxt.texts)
        self._queued_texts -= size
        self._gauge()
        return batch

    def _queued_size(self) -> int:
        return self._queued_texts

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.max_wait > 0 and self._queued_size() < self.max_batch_size and not self._closing:
                # Give concurrent requests a moment to join, measured from the oldest one.
                deadline = self._queue[0].enqueued + self.max_wait
                while self._queued_size() < self.max_batch_size and not self._closing:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), timeout=remaining)
                    except asyncio.TimeoutError:
                        break
            batch = self._take()
            if batch:
                await self._process(batch)

    async def _process(self, batch: list[_Pending]) -> None:
        engine = self.engine  # one engine per batch: a reload never splits a batch
        texts = [t for p in batch for t in p.texts]
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for p in batch:
            if self.metrics is not None:
                self.metrics.queue_wait.observe(started - p.enqueued)
        try:
            predictions = await loop.run_in_executor(self._executor, self._predict, engine, texts)
        except Exception as exc:
            if len(batch) == 1:
                _set_exception(batch[0].future, exc)
            else:
                logger.warning(
                    "batch of %d requests failed (%s); retrying each alone", len(batch), type(exc).__name__
                )
                for p in batch:
                    await self._process([p])
            return
        self.batch_sizes.append(len(texts))
        self.batch_requests.append(len(batch))
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(texts))
            self.metrics.batch_requests.observe(len(batch))
            self.metrics.batch_latency.observe(time.perf_counter() - started)
            self.metrics.texts.inc(len(texts))
        version = getattr(engine, "version", "unknown")
        offset = 0
        for p in batch:
            part = predictions[offset : offset + len(p.texts)]
            offset += len(p.texts)
            if not p.future.done():
                p.future.set_result(BatchResult(part, version))


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
