"""One error envelope for every error the service returns: ``{"error": ..., "error_type": ...}``.

FastAPI answers validation errors, unknown routes and wrong methods in its own shapes; the
handlers below rewrite those too, so that a client needs exactly one error parser.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import HotlineError, ModelNotFoundError
from nlp.pii import mask_excerpt

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """An error with an HTTP status and a stable ``error_type`` for clients to branch on."""

    status_code = 500
    error_type = "internal_error"

    def __init__(
        self, message: str, *, status_code: int | None = None, error_type: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type


class PayloadTooLarge(ServiceError):
    status_code = 413
    error_type = "payload_too_large"


class InvalidInput(ServiceError):
    status_code = 422
    error_type = "validation_error"


class ModelNotReady(ServiceError):
    status_code = 503
    error_type = "model_not_ready"


class Overloaded(ServiceError):
    status_code = 503
    error_type = "overloaded"


class Unauthorized(ServiceError):
    status_code = 401
    error_type = "unauthorized"


_HTTP_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def envelope(
    message: str, error_type: str, status_code: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": message, "error_type": error_type}, status_code=status_code, headers=headers
    )


def _count(request: Request, error_type: str) -> None:
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(error_type=error_type).inc()


def _validation_message(errors: list[dict[str, Any]]) -> str:
    import re

    # A body that may be one complaint or a list fails both ways; keep the errors of the shape
    # that was sent and drop the "should be a valid list/object" of the other.
    shape = [e for e in errors if e.get("type") in ("list_type", "model_type", "model_attributes_type")]
    specific = [e for e in errors if e not in shape]
    chosen = specific or shape
    parts = []
    for err in chosen[:5]:
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        loc = [x for x in loc if not re.fullmatch(r"\w+|list\[\w+\]", x) or x[0].islower() or x.isdigit()]
        # A location can be a caller's own key (an unexpected field), and some messages quote the
        # input (a union tag): both only as short masked excerpts.
        where = ".".join(mask_excerpt(x, limit=40) for x in loc) or "body"
        parts.append(f"{where}: {mask_excerpt(err.get('msg', 'invalid'), limit=200)}")
    more = f" (+{len(chosen) - 5} more)" if len(chosen) > 5 else ""
    return "; ".join(parts) + more


def library_message(exc: BaseException, limit: int = 500) -> str:
    """A library error's message for a response: library messages may quote the caller's values."""
    return mask_excerpt(str(exc), limit=limit)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception to the envelope, with the right status."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        _count(request, exc.error_type)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return envelope(exc.message, exc.error_type, exc.status_code, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        _count(request, "validation_error")
        # The error list quotes the offending input; complaint text must not come back in logs,
        # so only locations and messages are kept (no `input`).
        return envelope(_validation_message(list(exc.errors())), "validation_error", 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error_type = _HTTP_TYPES.get(exc.status_code, "http_error")
        _count(request, error_type)
        return envelope(str(exc.detail), error_type, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(ModelNotFoundError)
    async def _model_not_found(request: Request, exc: ModelNotFoundError) -> JSONResponse:
        _count(request, exc.error_type)
        return envelope(library_message(exc), exc.error_type, 422)

    @app.exception_handler(HotlineError)
    async def _hotline_error(request: Request, exc: HotlineError) -> JSONResponse:
        _count(request, exc.error_type)
        return envelope(library_message(exc), exc.error_type, 400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _count(request, "internal_error")
        logger.error("unhandled error", exc_info=exc, extra={"route": request.url.path})
        return envelope("internal server error; see the service log", "internal_error", 500)
