"""Prometheus metrics, one :class:`CollectorRegistry` per app (tests build many apps per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """The service's metrics; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "hotline_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "hotline_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter("hotline_errors", "Errors returned, by error_type.", ["error_type"], registry=r)
        self.batch_size = Histogram(
            "hotline_batch_size",
            "Texts per micro-batch (the engine runs one as one or more length-bucketed passes).",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "hotline_batch_requests",
            "Requests coalesced into one micro-batch.",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.batch_latency = Histogram(
            "hotline_batch_duration_seconds",
            "Model time per forward pass.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "hotline_queue_wait_seconds",
            "Time a request waited for its batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.texts = Counter("hotline_texts_classified", "Texts classified.", registry=r)
        self.queue_depth = Gauge("hotline_queue_texts", "Texts waiting for the model.", registry=r)
        self.model = Info("hotline_model", "The model in service.", registry=r)
        self.reloads = Counter("hotline_model_reloads", "Model reloads by outcome.", ["outcome"], registry=r)

    def set_model(self, version: str | None, model_type: str | None, name: str | None) -> None:
        self.model.info({"version": version or "", "type": model_type or "", "name": name or ""})

    def render(self) -> bytes:
        return generate_latest(self.registry)
