"""Operational routes: ``/health``, ``/ready``, ``/metrics`` (open) and ``/v1/info``."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from serving.deps import BatcherDep, EngineDep, LoadErrorDep, MetricsDep, SettingsDep
from serving.errors import envelope
from serving.routers import require_api_key
from serving.schemas import InfoResponse, ModelSummary
from serving.version import service_version

router = APIRouter(tags=["operations"])
info_router = APIRouter(tags=["operations"], dependencies=[Depends(require_api_key)])


@router.get("/health", summary="Liveness: the process answers.")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: a model is loaded and the batcher runs (503 otherwise).",
    responses={503: {"description": "Not ready", "model": None}},
)
async def ready(engine: EngineDep, batcher: BatcherDep, load_error: LoadErrorDep) -> JSONResponse:
    if engine is None or batcher is None or not batcher.running:
        reason = load_error or "no model loaded (set HOTLINE_MODEL_DIR / --model)"
        return envelope(f"not ready: {reason}", "model_not_ready", 503)
    return JSONResponse({"status": "ready", "model_version": engine.version})


@router.get("/metrics", summary="Prometheus metrics.", response_class=Response)
async def metrics(registry: MetricsDep) -> Response:
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


@info_router.get("/v1/info", response_model=InfoResponse, summary="Model and limits.")
async def info(s: SettingsDep, engine: EngineDep) -> InfoResponse:
    model = None
    if engine is not None:
        d = engine.describe()
        model = ModelSummary(
            name=d["name"],
            version=d["version"],
            model_type=d["model_type"],
            labels=d["labels"],
            max_length=d["max_length"],
        )
    return InfoResponse(
        model=model,
        ready=engine is not None,
        max_batch_size=s.max_batch_size,
        max_wait_ms=s.max_wait_ms,
        max_texts_per_request=s.max_texts_per_request,
        max_body_bytes=s.max_body_bytes,
        max_text_chars=s.max_text_chars,
        top_k=s.top_k,
        auth=bool(s.api_keys),
        service_version=service_version(),
    )
