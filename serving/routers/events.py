"""``GET /v1/incidents``, ``GET /v1/incidents/{id}``, ``GET /v1/hot`` and ``GET /v1/signals``.

Read-only views of the event store that ``hotline events`` fills. The store comes from
:data:`serving.deps.StoreDep` (an :class:`events.store.EventStore`, or ``None`` when the service
runs without ``HOTLINE_STORE_URL``; then every route answers 503 with the error envelope
``{"error": ..., "error_type": "store_not_configured"}``). Errors are raised as
:class:`serving.errors.ServiceError`, which the service's handlers turn into that envelope.
Store calls are blocking SQL: the routes are plain ``def`` so FastAPI runs them in its thread
pool. Complaint texts in the answers are the masked texts the store holds.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd
from fastapi import APIRouter, Path, Query

from common.jsonsafe import json_safe
from nlp.pii import mask_excerpt
from serving.deps import StoreDep
from serving.errors import InvalidInput, ServiceError
from serving.routers import parse_time

if TYPE_CHECKING:
    from events.store import EventStore

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

MAX_LIMIT = 1000
# Far above any real incident, far below SQLite's 64-bit integers (a bigger bound overflowed there).
MAX_COMPLAINTS = 1_000_000


def _required(store: EventStore | None) -> EventStore:
    if store is None:
        raise ServiceError(_NO_STORE, status_code=503, error_type="store_not_configured")
    return store


_NO_STORE = (
    "the event store is not configured; start the service with HOTLINE_STORE_URL set to the store "
    "that `hotline events INPUT --store URL` fills"
)


def _parse_day(value: str | None, name: str) -> date | None:
    ts = parse_time(value, name, date_only=True)
    return None if ts is None else ts.to_pydatetime().date()


AS_OF = "Decisions as of this date/time (default: the latest complaint in the store); nothing later is read."


def _as_of(store: EventStore, value: str | None) -> tuple[pd.Timestamp | None, str]:
    """The as-of time (422 on a bad date) and how it was chosen."""
    from forecasting.asof import resolve_as_of
    from forecasting.sources import signal_source

    if value:
        parse_time(value, "as_of")
        return resolve_as_of(value)
    try:
        return resolve_as_of(None, signal_source(store))
    except ValueError:
        return None, "empty store"


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [json_safe(r) for r in frame.to_dict(orient="records")]


def _incident_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows = _rows(frame)
    for r in rows:
        r.pop("created_at", None)
    return rows


@router.get(
    "/v1/incidents",
    summary="Incidents (same-problem, same-place complaint groups), hottest first.",
)
def list_incidents(
    store: StoreDep,
    since: str | None = Query(None, description="Only incidents with a complaint on/after this date."),
    until: str | None = Query(None, description="Only incidents that started on/before this date."),
    category: str | None = Query(None, description="Only this category."),
    district: str | None = Query(None, description="Only this district."),
    min_complaints: int = Query(1, ge=1, le=MAX_COMPLAINTS, description="Smallest incident to list."),
    order: str = Query("heat", pattern="^(heat|last_seen|first_seen)$", description="heat or last_seen."),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    as_of: str | None = Query(None, max_length=64, description=AS_OF),
) -> Any:
    store = _required(store)
    start = _parse_day(since, "since")
    end = _parse_day(until, "until")
    ts, how = _as_of(store, as_of)
    last = datetime.combine(end, datetime.max.time()) if end else None
    if ts is not None:
        last = min(last, ts.to_pydatetime()) if last else ts.to_pydatetime()
    frame = store.incidents.read(
        since=start,
        until=last,
        category=category,
        district=district,
        min_complaints=min_complaints,
        limit=limit,
        order=order,
    )
    return {"incidents": _incident_rows(frame), "count": len(frame), **_as_of_fields(ts, how)}


def _as_of_fields(ts: pd.Timestamp | None, how: str) -> dict[str, Any]:
    return {"as_of": None if ts is None else f"{ts:%Y-%m-%d %H:%M:%S}", "as_of_source": how}


@router.get("/v1/incidents/{incident_id}", summary="One incident with its member complaints (masked).")
def get_incident(store: StoreDep, incident_id: str = Path(..., max_length=200)) -> Any:
    store = _required(store)
    frame = store.incidents.read(ids=[incident_id], limit=1)
    if frame.empty:
        raise ServiceError(
            f"no incident {mask_excerpt(incident_id)!r}", status_code=404, error_type="not_found"
        )
    members = store.incidents.members_detail([incident_id])
    keep = ["id", "time", "title", "text", "category", "district", "location_key", "urgency", "similarity"]
    members = members[[c for c in keep if c in members.columns]]
    out = _incident_rows(frame)[0]
    out["members"] = _rows(members)
    return out


@router.get("/v1/hot", summary="Hot issues (热点问题): the top incidents by heat score.")
def hot(
    store: StoreDep,
    top: int = Query(10, ge=1, le=MAX_LIMIT, description="How many hot issues."),
    since: str | None = Query(None, description="Only incidents active on/after this date."),
    category: str | None = Query(None),
    district: str | None = Query(None),
    min_complaints: int = Query(2, ge=1, le=MAX_COMPLAINTS),
    as_of: str | None = Query(None, max_length=64, description=AS_OF),
) -> Any:
    store = _required(store)
    start = _parse_day(since, "since")
    ts, how = _as_of(store, as_of)
    frame = store.incidents.hot(
        top,
        since=start,
        until=None if ts is None else ts.to_pydatetime(),
        category=category,
        district=district,
        min_complaints=min_complaints,
    )
    return {"hot": _incident_rows(frame), "count": len(frame), **_as_of_fields(ts, how)}


@router.get(
    "/v1/signals",
    summary="Daily calls, incidents and new incidents per category × district, with calendar features.",
)
def signals(
    store: StoreDep,
    start: str | None = Query(None, description="First date, YYYY-MM-DD (inclusive)."),
    end: str | None = Query(None, description="Last date, YYYY-MM-DD (inclusive)."),
    category: str | None = Query(None),
    district: str | None = Query(None),
) -> Any:
    store = _required(store)
    first = _parse_day(start, "start")
    last = _parse_day(end, "end")
    if first and last and first > last:
        raise InvalidInput(f"start {first} is after end {last}")
    frame = store.signals.read(first, last, category=category, district=district)
    return {"signals": _rows(frame), "count": len(frame)}
