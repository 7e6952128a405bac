"""``POST /v1/classify``."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from typing import Any

from fastapi import APIRouter, Body, Depends
from starlette.concurrency import run_in_threadpool

from nlp.pii import mask_pii
from nlp.text import join_title_text
from serving.deps import BatcherDep, EngineDep, EventFields, EventFieldsDep, SettingsDep
from serving.errors import InvalidInput, ModelNotReady, PayloadTooLarge
from serving.routers import require_api_key
from serving.schemas import (
    ClassifyResult,
    Complaint,
    ErrorResponse,
    LabelScore,
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


# A cut point needs this many "inert" characters on each side: every PII pattern's context
# (an area code, a "电话是" cue, a plate's province character) lies within a few characters of its
# digits and letters, so a cut there can neither split a number nor separate it from its cue.
_SAFE_RUN = 8
# How far past the nominal cut to look for such a point before giving up and masking it all.
_CUT_SEARCH = 2000
_INERT_PUNCT = frozenset("，。！？、；“”‘’《》【】…")


def _inert(ch: str) -> bool:
    """A character that no PII pattern can use: a non-ASCII letter (CJK) or Chinese punctuation."""
    if ch in _INERT_PUNCT:
        return True
    if not unicodedata.category(ch).startswith("L"):
        return False
    # Full-width Latin letters and digits become ASCII in normalisation, and then plates and
    # e-mails are made of them.
    return not unicodedata.normalize("NFKC", ch).isascii()


def _cut_point(text: str, start: int, stop: int, step: int) -> int | None:
    """First index in ``range(start, stop, step)`` with ``_SAFE_RUN`` inert characters either side."""
    for pos in range(start, stop, step):
        if pos - _SAFE_RUN < 0 or pos + _SAFE_RUN > len(text):
            continue
        if all(_inert(c) for c in text[pos - _SAFE_RUN : pos + _SAFE_RUN]):
            return pos
    return None


def precut(text: str | None, budget: int) -> tuple[str | None, bool]:
    """Drop the middle of a huge raw text *before* normalising and masking it.

    Masking and normalising cost time in proportion to the text (a 120 KB body once held the event
    loop for 22 s), and the final cut keeps at most ``budget`` characters anyway. This keeps about
    ``budget`` characters at each end, cut only where no PII can straddle the cut, so masking the
    pieces gives exactly what masking the whole text would have given in the parts kept. Without
    such a point nearby the text is returned whole (correct, merely slower).
    """
    if text is None or len(text) <= 2 * budget + 2 * _CUT_SEARCH:
        return text, False
    head_end = _cut_point(text, budget, budget + _CUT_SEARCH, 1)
    tail_start = _cut_point(text, len(text) - budget, len(text) - budget - _CUT_SEARCH, -1)
    if head_end is None or tail_start is None or head_end >= tail_start:
        return text, False
    return text[:head_end] + text[tail_start:], True


def prepare_text(item: Complaint, max_chars: int) -> tuple[str, bool]:
    """The classifier input as in training (title + text, normalised, PII-masked), cut if huge."""
    title, title_cut = precut(item.title, max_chars)
    body, body_cut = precut(item.text, max_chars)
    text = mask_pii(join_title_text(title, body))
    if len(text) <= max_chars:
        return text, title_cut or body_cut
    # Same head + tail idea as the tokenizer-level cut: the opening says where and what, the
    # closing says what the caller wants.
    head = max_chars // 4
    return text[:head] + text[len(text) - (max_chars - head) :], True


def prepare_texts(items: list[Complaint], max_chars: int) -> list[tuple[str, bool]]:
    return [prepare_text(item, max_chars) for item in items]


@router.post(
    "/v1/classify",
    response_model=ClassifyResult | list[ClassifyResult],
    summary="Classify one complaint (object in, object out) or several (array in, array out).",
    responses=_ERRORS,
)
async def classify(
    settings: SettingsDep,
    batcher: BatcherDep,
    engine: EngineDep,
    event_fields: EventFieldsDep,
    body: Complaint | list[Complaint] = Body(..., description="One complaint, or an array of complaints."),
) -> ClassifyResult | list[ClassifyResult]:
    single = isinstance(body, Complaint)
    items = [body] if single else list(body)
    if not items:
        raise InvalidInput("empty list; send at least one complaint")
    if len(items) > settings.max_texts_per_request:
        raise PayloadTooLarge(
            f"{len(items)} complaints in one request; the limit is {settings.max_texts_per_request} "
            "(split the list, or raise HOTLINE_MAX_TEXTS_PER_REQUEST)"
        )
    if batcher is None or engine is None:
        raise ModelNotReady("no model is loaded; check /ready and the service log")
    # Normalising and masking are CPU work in proportion to the text: off the event loop, so that
    # /health and every other request keep being answered meanwhile.
    prepared = await run_in_threadpool(prepare_texts, items, settings.max_text_chars)
    texts = [t for t, _ in prepared]
    if logger.isEnabledFor(logging.DEBUG):
        # Text only at DEBUG, and masked (prepare_text masked it).
        logger.debug("classify texts", extra={"texts": [t[:200] for t in texts]})
    result = await batcher.submit(texts)
    events = (
        await _event_fields(event_fields, texts, items, result.predictions) if settings.event_fields else None
    )
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
    fn: EventFields | None, texts: list[str], items: list[Complaint], predictions: list[Any]
) -> list[dict[str, Any]] | None:
    """Location, urgency, time mentions and keywords (``nlp.events``), when that module exists."""
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
