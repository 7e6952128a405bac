"""What a route gets from the service: typed FastAPI dependencies.

The app keeps what it loaded in ``app.state`` (the lifespan sets it; a test may set it by
hand): settings, metrics, the inference engine and its micro-batcher, the event store, the
forecaster and the survival model. This module is the only code that reads them there; a route
declares what it needs as a parameter, e.g. ``forecaster: ForecasterDep``, and gets ``None``
for a part the service runs without (the route then answers 503 with its own message).

The model and store types are imported for type checking only: resolving a dependency loads
nothing, and a service that serves no forecasts never imports statsmodels or lifelines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from serving.batcher import MicroBatcher
from serving.metrics import Metrics
from serving.settings import Settings

if TYPE_CHECKING:
    from events.store import EventStore
    from forecasting.forecaster import Forecaster
    from forecasting.sources import SignalSource
    from forecasting.survival import SurvivalModel
    from nlp.engine import EngineConfig, InferenceEngine

EventFields = Callable[..., list[dict[str, Any]]]


def _get(request: Request, name: str) -> Any:
    # Parts the service runs without (or a bare test app never set) read as None.
    return getattr(request.app.state, name, None)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def get_engine(request: Request) -> InferenceEngine | None:
    return _get(request, "engine")  # type: ignore[no-any-return]


async def get_batcher(request: Request) -> MicroBatcher | None:
    return _get(request, "batcher")  # type: ignore[no-any-return]


async def get_load_error(request: Request) -> str | None:
    """Why the configured model did not load at start-up (``None`` when it did, or none is set)."""
    return _get(request, "load_error")  # type: ignore[no-any-return]


async def get_event_fields(request: Request) -> EventFields | None:
    """``nlp.events.events_for_texts`` with the configured places, when event fields are on."""
    return _get(request, "event_fields")  # type: ignore[no-any-return]


async def get_store(request: Request) -> EventStore | None:
    return _get(request, "store")  # type: ignore[no-any-return]


async def get_source(request: Request) -> SignalSource | None:
    """The event store as forecasting reads it (:func:`forecasting.sources.signal_source`)."""
    store = _get(request, "store")
    if store is None:
        return None
    from forecasting.sources import signal_source

    return signal_source(store)


async def get_forecaster(request: Request) -> Forecaster | None:
    return _get(request, "forecaster")  # type: ignore[no-any-return]


async def get_survival(request: Request) -> SurvivalModel | None:
    return _get(request, "survival")  # type: ignore[no-any-return]


class ModelSlot:
    """The classifier in service, as ``POST /v1/admin/reload`` swaps it."""

    def __init__(self, request: Request) -> None:
        self._state = request.app.state

    @property
    def engine(self) -> InferenceEngine | None:
        return self._state.engine  # type: ignore[no-any-return]

    @property
    def config(self) -> EngineConfig:
        return self._state.engine_config  # type: ignore[no-any-return]

    @property
    def lock(self) -> asyncio.Lock:
        """Held while a reload loads and swaps (one reload at a time)."""
        return self._state.reload_lock  # type: ignore[no-any-return]

    def swap(self, engine: InferenceEngine) -> None:
        """Serve ``engine`` from now on: a batch already running finishes on the old one."""
        self._state.engine = engine
        self._state.batcher.engine = engine
        self._state.load_error = None


async def get_model_slot(request: Request) -> ModelSlot:
    return ModelSlot(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
EngineDep = Annotated["InferenceEngine | None", Depends(get_engine)]
BatcherDep = Annotated[MicroBatcher | None, Depends(get_batcher)]
LoadErrorDep = Annotated[str | None, Depends(get_load_error)]
EventFieldsDep = Annotated[EventFields | None, Depends(get_event_fields)]
StoreDep = Annotated["EventStore | None", Depends(get_store)]
SourceDep = Annotated["SignalSource | None", Depends(get_source)]
ForecasterDep = Annotated["Forecaster | None", Depends(get_forecaster)]
SurvivalDep = Annotated["SurvivalModel | None", Depends(get_survival)]
ModelSlotDep = Annotated[ModelSlot, Depends(get_model_slot)]
