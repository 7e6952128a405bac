"""The FastAPI application: ``create_app(settings)``.

The app owns, in ``app.state``: ``settings``, ``metrics`` (its own Prometheus registry),
``engine`` (the :class:`nlp.engine.InferenceEngine` in service, or ``None``), ``batcher`` (the
:class:`serving.batcher.MicroBatcher` feeding it), ``store`` (``events.store.EventStore`` or
``None``), ``forecaster`` and ``survival`` (loaded models or ``None``). The lifespan loads them on
start-up and stops the batcher cleanly (queued requests finish) on shutdown. Routes get them
through the typed dependencies of :mod:`serving.deps`, never from ``app.state`` themselves.

Run it with ``hotline serve`` or ``uvicorn serving.app:app_from_env --factory``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.batcher import MicroBatcher
from serving.errors import envelope, install_error_handlers
from serving.metrics import Metrics
from serving.routers import require_api_key
from serving.settings import Settings
from serving.version import service_version

if TYPE_CHECKING:
    from pathlib import Path

    from events.store import EventStore
    from forecasting.forecaster import Forecaster
    from forecasting.survival import SurvivalModel

T = TypeVar("T")

logger = logging.getLogger(__name__)


# Routers built by other areas; included when their module exists.
def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service (nothing is loaded until the lifespan starts)."""
    from nlp.engine import EngineConfig
    from serving.routers import admin, classify, events, forecast, health

    settings = settings or Settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _startup(app)
        try:
            yield
        finally:
            await _shutdown(app)

    app = FastAPI(
        title="hotline",
        version=service_version(),
        description=(
            "Classification of 12345 citizen-hotline complaints, plus event and forecast routes. "
            'Every error is `{"error": ..., "error_type": ...}`. With API keys configured, '
            "`/v1/*` routes need `Authorization: Bearer <key>`; `/health`, `/ready`, `/metrics` stay open."
        ),
        lifespan=lifespan,
        # The default /docs loads swagger-ui from a CDN (a blank page on an intranet): served
        # from the swagger-ui-bundle wheel instead, below. ReDoc has no packaged copy: off.
        docs_url=None,
        redoc_url=None,
    )
    state = app.state
    state.settings = settings
    state.metrics = metrics
    state.engine = None
    state.batcher = None
    state.store = None
    state.forecaster = None
    state.survival = None
    state.warmup = None  # the dashboard warm-up thread, started with the forecaster
    state.event_fields = None
    state.load_error = None
    state.engine_config = EngineConfig(
        batch_size=settings.max_batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        max_padding=settings.max_padding,
        num_threads=settings.num_threads,
        top_k=settings.top_k,
    )

    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(health.info_router)
    app.include_router(classify.router)
    app.include_router(admin.router)
    for module in (events, forecast):
        app.include_router(module.router, dependencies=[Depends(require_api_key)])
    _install_docs(app)
    _install_openapi(app)
    from serving.dashboard import router as dashboard_router
    from serving.dashboard import static_router

    app.include_router(dashboard_router)
    app.include_router(static_router)
    app.add_middleware(_RequestMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
    return app


DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def _swagger_dir() -> Any:
    """The swagger-ui files inside the ``swagger-ui-bundle`` wheel."""
    from pathlib import Path

    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error", "error_type"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong and how to fix it."},
        "error_type": {"type": "string", "description": "Stable code for clients to branch on."},
    },
}


def _install_openapi(app: FastAPI) -> None:
    """Publish the one error envelope, not FastAPI's ``HTTPValidationError``, for every error.

    Every 4xx/5xx this service sends is ``{"error", "error_type"}`` (serving/errors.py); the
    default schema documents 422 as ``{"detail": [...]}``, which no response has, and leaves other
    errors undocumented, so clients (and the schemathesis conformance check) could not rely on it.
    """
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ErrorResponse"] = ERROR_SCHEMA
        content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                for code, response in responses.items():
                    if code[:1] in ("4", "5"):
                        response["content"] = content
                        if code == "422":
                            response["description"] = "Invalid request"
                responses.setdefault("4XX", {"description": "Client error", "content": content})
                responses.setdefault("5XX", {"description": "Server error", "content": content})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _install_docs(app: FastAPI) -> None:
    """``/docs`` with swagger-ui served by the app itself (no CDN), and its assets."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import FileResponse, HTMLResponse

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Any:
        media = DOCS_ASSETS.get(name)  # a whitelist: never a path taken from the request
        path = _swagger_dir() / name if media else None
        if path is None or not path.is_file():
            raise StarletteHTTPException(404, "not found")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def app_from_env() -> FastAPI:
    """uvicorn factory: settings from ``HOTLINE_*`` variables, JSON-lines logs."""
    from nlp.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    # Library warnings (pandas, torch) as log records, so that they arrive as JSON lines too.
    logging.captureWarnings(True)
    return create_app(settings)


# -- lifespan ----------------------------------------------------------------------------------------


async def _startup(app: FastAPI) -> None:
    from nlp.engine import InferenceEngine

    state = app.state
    settings: Settings = state.settings
    state.reload_lock = asyncio.Lock()
    if not settings.api_keys:
        # Open routes are fine on a developer's laptop, not on a shared intranet: say so loudly.
        logger.warning("HOTLINE_API_KEYS is empty: every /v1 route is open to anyone who can reach this port")
    if settings.model_dir is not None:
        try:
            state.engine = await asyncio.to_thread(
                InferenceEngine.load, settings.model_dir, state.engine_config
            )
            d = state.engine.describe()
            state.metrics.set_model(d["version"], d["model_type"], d["name"])
        except Exception as exc:
            # Stay up and answer /ready with 503 and the reason: an orchestrator shows it, and
            # POST /v1/admin/reload can fix it without a restart.
            state.load_error = str(exc)
            logger.error("model failed to load", exc_info=True, extra={"model_dir": str(settings.model_dir)})
    state.batcher = MicroBatcher(
        state.engine,
        max_batch_size=settings.max_batch_size,
        max_wait_ms=settings.max_wait_ms,
        max_queue=settings.max_queue,
        metrics=state.metrics,
    )
    await state.batcher.start()
    if settings.event_fields:
        state.event_fields = await asyncio.to_thread(_event_fields_function, settings.gazetteer)
    state.store = _load_store(settings.store_url)
    state.forecaster = _load_dir("forecaster", settings.forecast_dir, _load_forecaster)
    state.survival = _load_dir("survival model", settings.survival_dir, _load_survival)
    if settings.dashboard_warmup:
        state.warmup = _start_warmup(state.store, state.forecaster)
    logger.info(
        "service started",
        extra={
            "model_version": state.engine.version if state.engine else None,
            "max_batch_size": settings.max_batch_size,
            "max_wait_ms": settings.max_wait_ms,
            "auth": bool(settings.api_keys),
            "admin": bool(settings.admin_keys),
        },
    )


def _start_warmup(store: EventStore | None, forecaster: Forecaster | None) -> threading.Thread | None:
    """Fill the dashboard's caches in the background, so that its first request is fast.

    Building the series from the store's signals and forecasting every series of the overview
    takes seconds (tens on a real city); a daemon thread does it while the service already
    answers. A request arriving meanwhile computes what it needs itself (the caches are locked).
    """
    if forecaster is None:
        return None

    def run() -> None:
        from forecasting.sources import signal_source
        from serving.dashboard import data

        t0 = time.perf_counter()
        try:
            data.warm(signal_source(store) if store is not None else None, forecaster)
        except Exception:  # a failed warm-up only means a slower first page
            logger.warning("dashboard warm-up failed", exc_info=True)
            return
        logger.info("dashboard warm-up done", extra={"seconds": round(time.perf_counter() - t0, 2)})

    thread = threading.Thread(target=run, name="dashboard-warmup", daemon=True)
    thread.start()
    return thread


async def _shutdown(app: FastAPI) -> None:
    state = app.state
    if state.batcher is not None:
        await state.batcher.stop()
    close = getattr(state.store, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.warning("event store did not close cleanly", exc_info=True)
    logger.info("service stopped")


def _load_store(url: str | None) -> EventStore | None:
    if not url:
        return None
    from events.store import EventStore

    return EventStore(url)


# Imported on use: statsmodels and lifelines add seconds to start-up for a service that may not
# serve forecasts at all.
def _load_forecaster(directory: Path) -> Forecaster:
    from forecasting.forecaster import load_forecaster

    return load_forecaster(directory)


def _load_survival(directory: Path) -> SurvivalModel:
    from forecasting.survival import load_survival

    return load_survival(directory)


def _load_dir(what: str, directory: Path | None, loader: Callable[[Path], T]) -> T | None:
    if directory is None:
        return None
    try:
        return loader(directory)
    except Exception:
        # The classification service is still useful without forecasts; the forecast routes
        # answer 503 while this is None.
        logger.error("%s failed to load from %s", what, directory, exc_info=True)
        return None


def _event_fields_function(gazetteer: str = "default") -> Callable[..., list[dict[str, Any]]] | None:
    """``nlp.events.events_for_texts`` (texts -> event field dicts) with the configured places, warmed up."""
    from functools import partial

    from nlp.events import EventExtractor, events_for_texts

    try:
        fields = partial(events_for_texts, extractor=EventExtractor(gazetteer))
        fields(["预热"])  # loads jieba and the gazetteer now, not in the first request
    except Exception:
        logger.warning("event field extraction does not work; event fields disabled", exc_info=True)
        return None
    return fields


# -- middleware --------------------------------------------------------------------------------------


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so that FastAPI's body reader passes it on."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes; send fewer complaints per request")


class _RequestMiddleware:
    """Request id, body-size limit, access log (JSON fields, never the body) and HTTP metrics.

    A plain ASGI middleware rather than ``BaseHTTPMiddleware``: it sees the body as it streams
    (a chunked upload has no Content-Length to check) and costs less per request.
    """

    def __init__(self, app: Any, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = {"code": 500, "sent": False}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            length = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            length = 0
        if length > self.max_body_bytes:
            await self._too_large(scope, send_wrapper)
            self._record(scope, status["code"], started, request_id)
            return
        received = 0

        async def receive_wrapper() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge(self.max_body_bytes)
            return message

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except _BodyTooLarge:
            if not status["sent"]:
                await self._too_large(scope, send_wrapper)
        except Exception as exc:
            # Answered here rather than re-raised: Starlette's outermost middleware re-raises
            # after its handler has answered, and the server then closes the connection, dropping
            # the client's next pipelined request along with it.
            self.metrics.errors.labels(error_type="internal_error").inc()
            logger.error(
                "unhandled error",
                exc_info=exc,
                extra={"request_id": request_id, "route": getattr(scope.get("route"), "path", None)},
            )
            if not status["sent"]:
                response = envelope("internal server error; see the service log", "internal_error", 500)
                await response(scope, _empty_receive, send_wrapper)
        finally:
            self._record(scope, status["code"], started, request_id)

    async def _too_large(self, scope: dict[str, Any], send: Callable[..., Any]) -> None:
        self.metrics.errors.labels(error_type="payload_too_large").inc()
        response = envelope(
            f"request body larger than {self.max_body_bytes} bytes; send fewer complaints per request",
            "payload_too_large",
            413,
        )
        await response(scope, _empty_receive, send)

    def _record(self, scope: dict[str, Any], code: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        # The route template, not the raw path: unknown paths must not create new label values.
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.requests.labels(route=template, method=method, status=str(code)).inc()
        self.metrics.latency.labels(route=template).observe(elapsed)
        logger.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "route": template,
                "status": code,
                "latency_ms": round(elapsed * 1000, 2),
            },
        )


async def _empty_receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}
