"""The forecast router mounted on a bare FastAPI app with app.state set by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forecasting.cases import prepare_cases
from forecasting.config import SurvivalConfig
from forecasting.survival import SurvivalModel
from serving.routers.forecast import router
from tests.test_forecast_common import fitted_forecaster
from tests.test_forecast_survival import EXPORT, exponential_log


@pytest.fixture(scope="module")
def survival() -> SurvivalModel:
    cfg = SurvivalConfig(
        covariates=("category", "district", "text_length", "urgency", "weekday"), min_level_count=5
    )
    return SurvivalModel.fit(
        prepare_cases(exponential_log(n=300, seed=9, rate=1 / 40), cfg, analysis_date=EXPORT), cfg
    )


class AlertStore:
    def __init__(self) -> None:
        self.alerts = self  # the double is its own alerts repository

    def read(self, since=None, limit=100):
        rows = [
            {"alert_id": "series-1", "date": "2025-05-02", "series_key": "category=供水|district=江北区", "kind": "burst",
             "score": 9.5, "first_seen": pd.Timestamp("2025-05-01"), "last_seen": pd.Timestamp("2025-05-02"),
             "examples": ["停水"], "keywords": ["停水"], "incident_ids": [], "size": 20.0, "growth": float("nan")},
            {"alert_id": "series-0", "date": "2025-04-01", "series_key": "total", "kind": "interval", "score": 3.0,
             "first_seen": None, "last_seen": None, "examples": [], "keywords": [], "incident_ids": [], "size": 5.0,
             "growth": 2.0},
        ]  # fmt: skip
        frame = pd.DataFrame(rows)
        if since:
            frame = frame[frame["date"] >= since]
        return frame.head(limit)


def client(**state) -> TestClient:
    from serving.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)  # the router raises ServiceError; the service's handlers answer
    app.include_router(router)
    for name in ("forecaster", "survival", "store"):
        setattr(app.state, name, state.get(name))
    return TestClient(app)


def test_missing_models_and_store_answer_503_with_the_envelope() -> None:
    c = client()
    for method, url, body in (
        ("get", "/v1/forecast?series=total", None),
        ("get", "/v1/alerts", None),
        ("post", "/v1/reply-risk", [{"id": "1", "time": "2025-01-01 10:00"}]),
    ):
        r = c.request(method, url, json=body)
        assert r.status_code == 503, url
        payload = r.json()
        assert set(payload) == {"error", "error_type"} and payload["error_type"].endswith("_not_ready")


def test_forecast_route() -> None:
    c = client(forecaster=fitted_forecaster())
    r = c.get("/v1/forecast", params={"series": "category=供水", "horizon": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["series"] == "category=供水" and len(body["points"]) == 4
    p = body["points"][0]
    assert p["lower_95"] <= p["lower_80"] <= p["mean"] <= p["upper_80"] <= p["upper_95"]
    assert c.get("/v1/forecast").json()["series"] == "total"
    listed = c.get("/v1/forecast/series").json()["series"]
    assert any(s["series"] == "total" for s in listed)
    missing = c.get("/v1/forecast", params={"series": "category=燃气"})
    assert missing.status_code == 404 and missing.json()["error_type"] == "unknown_series"
    assert c.get("/v1/forecast", params={"horizon": 0}).status_code == 422


def test_alerts_route() -> None:
    c = client(store=AlertStore())
    body = c.get("/v1/alerts", params={"since": "2025-04-15", "limit": 10}).json()
    assert body["count"] == 1 and body["alerts"][0]["alert_id"] == "series-1"
    assert body["alerts"][0]["growth"] is None and body["alerts"][0]["first_seen"].startswith("2025-05-01")
    assert c.get("/v1/alerts").json()["count"] == 2
    bad = c.get("/v1/alerts", params={"since": "last week"})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation_error"


def test_reply_risk_route(survival: SurvivalModel) -> None:
    c = client(survival=survival)
    cases = [
        {
            "id": "a",
            "time": "2025-04-20 09:00:00",
            "category": "fast",
            "district": "江北区",
            "text": "路灯不亮",
        },
        {
            "id": "b",
            "time": "2025-04-28 09:00:00",
            "category": "slow",
            "district": "渝中区",
            "text": "路灯不亮",
        },
        {"id": "c", "time": "2025-03-01 09:00:00", "text": "小区闻到煤气味"},
    ]
    r = c.post("/v1/reply-risk", json={"cases": cases, "deadline_days": 5, "as_of": "2025-05-01 12:00:00"})
    assert r.status_code == 200, r.text
    results = {x["id"]: x for x in r.json()["results"]}
    assert set(results) == {"a", "b", "c"}
    assert results["c"]["overdue"] and results["c"]["p_unanswered_at_deadline"] == 1.0
    assert all(0 <= x["p_unanswered_at_deadline"] <= 1 for x in results.values())
    # A bare list of cases works too.
    assert c.post("/v1/reply-risk", json=cases[:1]).status_code == 200
    late = c.post("/v1/reply-risk", json={"cases": cases, "as_of": "2025-04-01"})
    assert late.status_code == 422 and "filed after" in late.json()["error"]
    bad = c.post("/v1/reply-risk", json={"cases": [{"id": "x", "time": "yesterday-ish"}]})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation_error"
