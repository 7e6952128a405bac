"""``POST /v1/classify`` and ``POST /v1/admin/reload``."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from nlp.pii import mask_pii
from nlp.text import join_title_text
from serving.errors import InvalidInput, ModelNotReady, PayloadTooLarge
from serving.routers import require_api_key
from serving.schemas import (
    ClassifyResult,
    Complaint,
    ErrorResponse,
    LabelScore,
    ReloadRequest,
    ReloadResponse,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["classification"], dependencies=[Depends(require_api_key)])

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (401, "Missing or invalid API key"),
        (413, "Too many complaints or too large a body"),
        (422, "Empty or malformed input"),
        (503, "Model not loaded, or overloaded"),
    )
}


def prepare_text(item: Complaint, max_chars: int) -> tuple[str, bool]:
    """The classifier input as in training (title + text, normalised, PII-masked), cut if huge."""
    text = mask_pii(join_title_text(item.title, item.text))
    if len(text) <= max_chars:
        return text, False
    # Same head + tail idea as the tokenizer-level cut: the opening says where and what, the
    # closing says what the caller wants.
    head = max_chars // 4
    return text[:head] + text[len(text) - (max_chars - head) :], True


@router.post(
    "/v1/classify",
    response_model=ClassifyResult | list[ClassifyResult],
    summary="Classify one complaint (object in, object out) or several (array in, array out).",
    responses=_ERRORS,
)
async def classify(
    request: Request,
    body: Complaint | list[Complaint] = Body(..., description="One complaint, or an array of complaints."),
) -> ClassifyResult | list[ClassifyResult]:
    settings = request.app.state.settings
    single = isinstance(body, Complaint)
    items = [body] if single else list(body)
    if not items:
        raise InvalidInput("empty list; send at least one complaint")
    if len(items) > settings.max_texts_per_request:
        raise PayloadTooLarge(
            f"{len(items)} complaints in one request; the limit is {settings.max_texts_per_request} "
            "(split the list, or raise HOTLINE_MAX_TEXTS_PER_REQUEST)"
        )
    batcher = getattr(request.app.state, "batcher", None)
    if batcher is None or request.app.state.engine is None:
        raise ModelNotReady("no model is loaded; check /ready and the service log")
    prepared = [prepare_text(item, settings.max_text_chars) for item in items]
    texts = [t for t, _ in prepared]
    if logger.isEnabledFor(logging.DEBUG):
        # Text only at DEBUG, and masked (prepare_text masked it).
        logger.debug("classify texts", extra={"texts": [t[:200] for t in texts]})
    result = await batcher.submit(texts)
    events = await _event_fields(request, texts, items, result.predictions) if settings.event_fields else None
    out = []
    for i, (item, pred) in enumerate(zip(items, result.predictions, strict=True)):
        out.append(
            ClassifyResult(
                id=item.id,
                label=pred.label,
                score=pred.score,
                top_k=[LabelScore(label=label, score=score) for label, score in pred.top_k],
                needs_review=pred.needs_review,
                truncated=pred.truncated or prepared[i][1],
                model_version=result.model_version,
                events=events[i] if events is not None else None,
            )
        )
    return out[0] if single else out


async def _event_fields(
    request: Request, texts: list[str], items: list[Complaint], predictions: list[Any]
) -> list[dict[str, Any]] | None:
    """Location, urgency, time mentions and keywords (``nlp.events``), when that module exists."""
    fn = getattr(request.app.state, "event_fields", None)
    if fn is None:
        return None
    try:
        # jieba segmentation is CPU work: keep it off the event loop.
        return await asyncio.to_thread(
            fn,
            texts,
            times=[item.time for item in items],
            districts=[item.district or "" for item in items],
            scores=[dict(pred.top_k) for pred in predictions],
        )
    except Exception:  # event fields are an extra: a failure there must not fail classification
        logger.warning("event field extraction failed", exc_info=True)
        return None


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    summary="Load a model (or the registry's new `current`) and swap it in without dropping requests.",
    responses=_ERRORS,
    tags=["admin"],
)
async def reload(request: Request, body: ReloadRequest | None = Body(None)) -> ReloadResponse:
    from nlp.engine import InferenceEngine

    state = request.app.state
    settings = state.settings
    target = (body.model_dir if body else None) or settings.model_dir
    if target is None:
        raise InvalidInput("no model_dir given and none configured (HOTLINE_MODEL_DIR)")
    async with state.reload_lock:
        started = time.perf_counter()
        previous = state.engine.version if state.engine is not None else None
        try:
            # Load the new engine completely (in a thread: the event loop keeps serving) before
            # anything points at it; the swap itself is one attribute assignment.
            engine = await asyncio.to_thread(InferenceEngine.load, target, state.engine_config)
        except Exception:
            state.metrics.reloads.labels(outcome="error").inc()
            raise
        state.engine = engine
        state.batcher.engine = engine
        state.load_error = None
        state.metrics.set_model(engine.version, engine.model_type, engine.describe()["name"])
        state.metrics.reloads.labels(outcome="ok").inc()
        elapsed = time.perf_counter() - started
    logger.info("model reloaded", extra={"previous_version": previous, "model_version": engine.version})
    return ReloadResponse(
        previous_version=previous,
        model_version=engine.version,
        model_dir=str(engine.model_dir),
        load_seconds=round(elapsed, 3),
    )
