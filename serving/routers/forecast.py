"""Forecast, alert and reply-risk routes.

``GET /v1/forecast?series=...&horizon=...``, ``GET /v1/forecast/series``,
``GET /v1/alerts?since=&limit=`` and ``POST /v1/reply-risk``. They get the forecaster (a
:class:`forecasting.forecaster.Forecaster`), the survival model (a
:class:`forecasting.survival.SurvivalModel`) and the event store through the dependencies of
:mod:`serving.deps`; a missing one answers 503.
Errors are raised as :class:`serving.errors.ServiceError`; the service's handlers answer them
with the envelope ``{"error": ..., "error_type": ...}`` and count them in ``/metrics``.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from common.errors import HotlineError
from common.jsonsafe import json_safe
from nlp.pii import mask_excerpt
from serving.deps import ForecasterDep, SourceDep, StoreDep, SurvivalDep
from serving.errors import InvalidInput, PayloadTooLarge, ServiceError, library_message
from serving.routers import parse_time

logger = logging.getLogger(__name__)

router = APIRouter(tags=["forecasting"])

MAX_HORIZON = 90
MAX_CASES = 1000
MAX_SERIES_CHARS = 300
# The text only feeds its length and the urgency cue words; longer than any real complaint.
MAX_CASE_CHARS = 20_000


def _unavailable(what: str, how: str) -> ServiceError:
    return ServiceError(
        f"{what} is not loaded; {how}", status_code=503, error_type=f"{what.replace(' ', '_')}_not_ready"
    )


def _error(exc: HotlineError) -> ServiceError:
    from forecasting.errors import UnknownSeriesError

    status = 404 if isinstance(exc, UnknownSeriesError) else 422
    return ServiceError(library_message(exc), status_code=status, error_type=exc.error_type)


@router.get("/v1/forecast/series", summary="Series the loaded forecaster knows.")
def forecast_series(fc: ForecasterDep) -> Any:
    if fc is None:
        raise _unavailable("forecaster", "fit one with `hotline forecast fit` and set HOTLINE_FORECAST_DIR")
    return {
        "train_end": f"{fc.end_date:%Y-%m-%d}",
        "series": [
            {"series": k, "model": m.head, "mode": m.mode, "mean_daily": round(m.mean_daily, 3)}
            for k, m in fc.models.items()
        ],
    }


@router.get("/v1/forecast", summary="Daily forecast of one series with 80% and 95% intervals.")
def forecast(
    fc: ForecasterDep,
    source: SourceDep,
    series: str = Query(
        "total",
        max_length=MAX_SERIES_CHARS,
        description="total, category=NAME, district=NAME or category=NAME|district=NAME",
    ),
    horizon: int | None = Query(
        None, ge=1, le=MAX_HORIZON, description="Days ahead (default: the fitted horizon)."
    ),
    as_of: str | None = Query(
        None,
        max_length=64,
        description="Forecast the days after this date from the history up to it (default: the "
        "latest complaint in the store, else the forecaster's last day).",
    ),
) -> Any:
    if fc is None:
        raise _unavailable("forecaster", "fit one with `hotline forecast fit` and set HOTLINE_FORECAST_DIR")
    if series not in fc.models:
        # Our own message: the library's quotes the name verbatim, and a name is caller input.
        raise ServiceError(
            f"unknown series {mask_excerpt(series)!r}; GET /v1/forecast/series lists the known ones",
            status_code=404,
            error_type="unknown_series",
        )
    from forecasting.asof import resolve
    from forecasting.history import series_values
    from forecasting.outlook import Forecasts

    if as_of:
        parse_time(as_of, "as_of")
    try:
        at = resolve(as_of, source, fc)
        table = Forecasts(fc, series_values(source, fc, at.day)).after(
            series, at.day, horizon or fc.config.horizon
        )
    except HotlineError as exc:
        raise _error(exc) from exc
    sm = fc.models[series]
    points = [
        json_safe({k: v for k, v in r.items() if k not in ("series", "model", "interval")})
        for r in table.to_dict(orient="records")
    ]
    return {
        "series": series,
        "model": sm.head,
        "mode": sm.mode,
        "interval": sm.interval,
        "train_end": f"{fc.end_date:%Y-%m-%d}",
        "as_of": at.text,
        "as_of_source": at.source,
        "points": points,
    }


@router.get("/v1/alerts", summary="Stored surge alerts, highest score first.")
def list_alerts(
    store: StoreDep,
    since: str | None = Query(None, description="Only alerts for days on/after this date (YYYY-MM-DD)."),
    limit: int = Query(50, ge=1, le=1000),
    as_of: str | None = Query(
        None, max_length=64, description="Only alerts opened by this date (default: no bound)."
    ),
) -> Any:
    if store is None:
        raise _unavailable("event store", "set HOTLINE_STORE_URL to the store written by `hotline events`")
    day = parse_time(since, "since", date_only=True)
    last = parse_time(as_of, "as_of")
    try:
        frame = store.alerts.read(
            since=None if day is None else f"{day:%Y-%m-%d}", limit=None if last is not None else limit
        )
        if last is not None and len(frame):
            # Alerts are per day: an as-of time includes its whole day.
            from forecasting.alert_records import alert_opened

            frame = frame[alert_opened(frame) <= last.normalize()].head(limit)
    except HotlineError as exc:
        raise _error(exc) from exc
    alerts = [json_safe(r) for r in frame.to_dict(orient="records")]
    return {"count": len(alerts), "alerts": alerts}


class OpenCase(BaseModel):
    """One open case: when it was filed and what it is about (text is used for length/urgency only)."""

    id: str = Field(..., min_length=1, max_length=128)
    time: str = Field(..., max_length=64, description="Submission time, e.g. 2026-08-20 09:30:00")
    title: str = Field("", max_length=MAX_CASE_CHARS)
    text: str = Field("", max_length=MAX_CASE_CHARS)
    category: str | None = Field(None, max_length=200)
    district: str | None = Field(None, max_length=200)
    urgency: str | None = Field(
        None, max_length=16, description="一般, 较急 or 紧急 (default: from the text)"
    )


class ReplyRiskRequest(BaseModel):
    cases: list[OpenCase] = Field(..., min_length=1, max_length=MAX_CASES)
    deadline_days: float = Field(15.0, gt=0, le=365)
    as_of: str | None = Field(
        None,
        max_length=64,
        description="Measure waiting time up to this time (default: now); local time, no zone.",
    )


CaseList = Annotated[list[OpenCase], Field(min_length=1, max_length=MAX_CASES)]


@router.post("/v1/reply-risk", summary="Probability that each open case is still unanswered at the deadline.")
def reply_risk(sm: SurvivalDep, body: ReplyRiskRequest | CaseList) -> Any:
    if sm is None:
        raise _unavailable(
            "survival model", "fit one with `hotline survival fit` and set HOTLINE_SURVIVAL_DIR"
        )
    req = body if isinstance(body, ReplyRiskRequest) else ReplyRiskRequest(cases=body)
    if len(req.cases) > MAX_CASES:
        raise PayloadTooLarge(f"at most {MAX_CASES} cases per request")
    as_of = parse_time(req.as_of, "as_of") if req.as_of else pd.Timestamp.now().floor("s")
    # One time at a time: a list mixing zones or formats makes pandas raise instead of coercing.
    times = [parse_time(c.time, f"time of case {mask_excerpt(c.id)!r}") for c in req.cases]
    missing = [mask_excerpt(c.id) for c, t in zip(req.cases, times, strict=True) if t is None]
    if missing:
        raise InvalidInput(f"case(s) {', '.join(missing[:5])} have no time; use YYYY-MM-DD HH:MM:SS")
    late = [mask_excerpt(c.id) for c, t in zip(req.cases, times, strict=True) if t > as_of]
    if late:
        raise InvalidInput(f"case(s) {', '.join(late[:5])} were filed after as_of={as_of}")
    frame = pd.DataFrame([c.model_dump() for c in req.cases])
    frame["time"] = [f"{t:%Y-%m-%d %H:%M:%S}" for t in times]
    if frame["urgency"].isna().all():
        frame = frame.drop(columns=["urgency"])
    for col in ("category", "district"):
        if frame[col].isna().all():
            frame = frame.drop(columns=[col])
    try:
        from forecasting.cases import prepare_cases

        cases = prepare_cases(frame, sm.config, analysis_date=as_of, source="request")
        table = sm.predict(cases, deadline_days=req.deadline_days, as_of=as_of)
    except HotlineError as exc:
        raise _error(exc) from exc
    results = [json_safe(r) for r in table.to_dict(orient="records")]
    return {"as_of": as_of.isoformat(sep=" "), "deadline_days": req.deadline_days, "results": results}
