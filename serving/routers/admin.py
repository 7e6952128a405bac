"""``POST /v1/admin/reload``: swap in another version of the configured model, without a restart.

Reload reads only what the operator configured (``HOTLINE_MODEL_DIR``): its registry's ``current``
or a version *name* in that registry, never a caller-supplied path. It needs an admin key
(``HOTLINE_ADMIN_KEYS``, separate from the API keys) and is disabled when none is configured.
Every refused target gets the same answer, so that errors say nothing about the file system; a
model that fails to load or to answer a probe leaves the previous one in service.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Body, Depends

from serving.deps import MetricsDep, ModelSlotDep, SettingsDep
from serving.errors import ServiceError
from serving.routers import require_admin_key
from serving.schemas import ErrorResponse, ReloadRequest, ReloadResponse

if TYPE_CHECKING:
    from nlp.engine import EngineConfig, InferenceEngine

logger = logging.getLogger(__name__)

router = APIRouter(tags=["admin"], dependencies=[Depends(require_admin_key)])

# What `hotline model` names versions; anything else (separators, "..", control characters,
# lone surrogates) is refused before it comes near a path.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_REFUSED = (
    "no such model version in the configured model registry; "
    "list the versions with `hotline model list --registry DIR`"
)
_PROBE = ["模型加载检查"]


class ModelRejected(ServiceError):
    status_code = 422
    error_type = "model_invalid"


def _refused() -> ServiceError:
    return ServiceError(_REFUSED, status_code=404, error_type="model_not_found")


def _target(configured: Path, version: str | None) -> Path:
    """The directory to load, or the one refusal for every target that is not allowed."""
    from nlp.classifier import INFO_FILE

    if version is None:
        return configured
    if not _VERSION.fullmatch(version) or (configured / INFO_FILE).is_file():
        # A single model directory has no versions to pick from.
        raise _refused()
    candidate = configured / version
    if candidate.parent != configured or not (candidate / INFO_FILE).is_file():
        raise _refused()
    return candidate


def _load_checked(target: Path, config: EngineConfig) -> InferenceEngine:
    """Load and probe a model; any failure means "do not serve this", whatever the cause."""
    from nlp.engine import InferenceEngine

    engine = InferenceEngine.load(target, config)
    # One prediction exercises what loading does not: thresholds against labels, the head's
    # width against the label list, the tokenizer. A model that cannot answer this must not
    # replace one that can.
    (prediction,) = engine.predict(_PROBE)
    if prediction.label not in engine.labels or not 0.0 <= float(prediction.score) <= 1.0:
        raise ValueError(f"probe prediction {prediction.label!r} is not one of the model's labels")
    for label, value in engine.info.thresholds.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold of {label!r} is {value!r}; thresholds are numbers in [0, 1]")
    return engine


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "Missing or invalid admin key"),
        (403, "Admin routes disabled (no HOTLINE_ADMIN_KEYS)"),
        (404, "No such version in the configured registry"),
        (422, "Malformed request, or the model files are invalid (the previous model stays)"),
        (503, "No model directory configured"),
    )
}


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    summary="Load a version of the configured model (or re-read the registry's `current`) and swap it in.",
    responses=_ERRORS,
)
async def reload(
    settings: SettingsDep, slot: ModelSlotDep, metrics: MetricsDep, body: ReloadRequest | None = Body(None)
) -> ReloadResponse:
    configured = settings.model_dir
    if configured is None:
        raise ServiceError(
            "no model directory configured; start the service with --model / HOTLINE_MODEL_DIR",
            status_code=503,
            error_type="model_not_configured",
        )
    version = body.version if body else None
    target = await asyncio.to_thread(_target, Path(configured), version)
    async with slot.lock:
        started = time.perf_counter()
        previous = slot.engine.version if slot.engine is not None else None
        try:
            # Load completely (in a thread: the event loop keeps serving) before anything points
            # at it; the swap itself is one attribute assignment.
            engine = await asyncio.to_thread(_load_checked, target, slot.config)
        except Exception as exc:
            metrics.reloads.labels(outcome="error").inc()
            # The cause (paths, parser errors) goes to the operator's log, not to the caller.
            logger.error("model reload failed; the previous model stays in service", exc_info=exc)
            kept = f" ({previous} stays in service)" if previous else ""
            raise ModelRejected(
                f"the model could not be loaded: its files are missing or malformed{kept}; "
                "see the service log"
            ) from None
        slot.swap(engine)
        metrics.set_model(engine.version, engine.model_type, engine.describe()["name"])
        metrics.reloads.labels(outcome="ok").inc()
        elapsed = time.perf_counter() - started
    logger.info("model reloaded", extra={"previous_version": previous, "model_version": engine.version})
    return ReloadResponse(
        previous_version=previous, model_version=engine.version, load_seconds=round(elapsed, 3)
    )
