"""The events router on a bare FastAPI app with `app.state.store` set (or not)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from events.config import EventsConfig
from events.pipeline import run_events
from events.store import EventStore
from serving.routers.events import router
from tests.test_events_cli import write_log


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> EventStore:
    d = tmp_path_factory.mktemp("router")
    st = EventStore(d / "ev.db")
    run_events(write_log(d / "log.csv"), st, config=EventsConfig(gazetteer="none", progress=False))
    return st


def client(store: EventStore | None) -> TestClient:
    from serving.errors import install_error_handlers

    app = FastAPI()
    app.state.store = store
    install_error_handlers(app)  # the router raises ServiceError; the service's handlers answer
    app.include_router(router)
    return TestClient(app)


def test_no_store_is_503_with_envelope() -> None:
    c = client(None)
    for path in ("/v1/incidents", "/v1/hot", "/v1/signals", "/v1/incidents/x"):
        r = c.get(path)
        assert r.status_code == 503
        assert r.json()["error_type"] == "store_not_configured" and "HOTLINE_STORE_URL" in r.json()["error"]


def test_hot_and_incidents(store: EventStore) -> None:
    c = client(store)
    hot = c.get("/v1/hot", params={"top": 2}).json()
    assert hot["count"] == 1 and hot["hot"][0]["n_complaints"] == 5
    iid = hot["hot"][0]["incident_id"]
    inc = c.get("/v1/incidents", params={"category": "供水供电燃气", "since": "2026-07-01"}).json()
    assert inc["incidents"][0]["incident_id"] == iid
    assert c.get("/v1/incidents", params={"district": "江北区"}).json()["count"] == 2
    assert c.get("/v1/incidents", params={"since": "2026-08-01"}).json()["count"] == 0
    one = c.get(f"/v1/incidents/{iid}").json()
    assert len(one["members"]) == 5 and "13812345678" not in str(one)
    assert c.get("/v1/incidents/INC-nope").status_code == 404


def test_signals_filters_and_validation(store: EventStore) -> None:
    c = client(store)
    r = c.get("/v1/signals", params={"start": "2026-07-13", "end": "2026-07-14", "district": "城南区"}).json()
    assert {row["date"] for row in r["signals"]} == {"2026-07-13", "2026-07-14"}
    assert all(row["district"] == "城南区" for row in r["signals"])
    bad = c.get("/v1/signals", params={"start": "yesterday"})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation_error"
    assert c.get("/v1/signals", params={"start": "2026-07-14", "end": "2026-07-01"}).status_code == 422


def test_router_mounts_on_create_app(store: EventStore, tmp_path: Path) -> None:
    from serving.app import create_app
    from serving.settings import Settings

    app = create_app(Settings())
    paths = set(app.openapi()["paths"])
    assert {"/v1/incidents", "/v1/incidents/{incident_id}", "/v1/hot", "/v1/signals"} <= paths
