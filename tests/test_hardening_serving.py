"""Issue 12 (hardening), service part: event loop kept free, reload locked down, no 5xx on bad
input, no caller values echoed in errors, connections kept after a 500, log level honoured."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from events.store import EventStore
from serving.app import create_app
from serving.routers import classify as classify_router
from serving.settings import Settings
from tests.test_events_router import store  # noqa: F401 - module fixture reused
from tests.test_forecast_router import survival  # noqa: F401 - module fixture reused
from tests.test_serving import PHONE, make_registry, model_dirs  # noqa: F401 - fixture reused

ADMIN = {"Authorization": "Bearer root"}


def assert_envelope(response: Any, status: int, error_type: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"} and body["error_type"] == error_type, body
    return body


# -- 1. heavy request work off the event loop ---------------------------------------------------------


def test_health_answers_while_a_slow_request_is_being_prepared(
    model_dirs: tuple[Path, Path],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = 2.0
    entered = threading.Event()
    real_mask = classify_router.mask_pii

    def slow_mask(text: str) -> str:
        entered.set()
        time.sleep(slow)  # stands in for a pathological regex on a huge body
        return real_mask(text)

    monkeypatch.setattr(classify_router, "mask_pii", slow_mask)
    settings = Settings(model_dir=model_dirs[0], event_fields=False, num_threads=1)
    with TestClient(create_app(settings)) as c:
        result: dict[str, int] = {}
        worker = threading.Thread(
            target=lambda: result.update(status=c.post("/v1/classify", json={"text": "路灯坏了"}).status_code)
        )
        worker.start()
        assert entered.wait(10)
        started = time.perf_counter()
        assert c.get("/health").status_code == 200
        health_s = time.perf_counter() - started
        worker.join(30)
    assert result == {"status": 200}
    # On the event loop, /health waited for the whole masking call; off it, it does not.
    assert health_s < slow / 2


def test_precut_gives_the_same_classifier_input_and_never_splits_a_number() -> None:
    from nlp.pii import mask_pii
    from nlp.text import join_title_text
    from serving.schemas import Complaint

    budget = 400
    filler = "小区门口道路破损严重下雨天积水希望尽快维修"
    # Numbers everywhere, including exactly where a naive cut at `budget` would fall.
    text = "".join(f"{filler}{PHONE}" if i % 3 == 0 else filler * 2 for i in range(2000))

    def old(t: str) -> str:  # the whole text masked, then cut: the reference
        masked = mask_pii(join_title_text(None, t))
        head = budget // 4
        return masked[:head] + masked[len(masked) - (budget - head) :]

    cut, flag = classify_router.precut(text, budget)
    assert flag and len(cut) < len(text) // 10
    prepared, truncated = classify_router.prepare_text(Complaint(text=text), budget)
    assert truncated and prepared == old(text)
    assert PHONE not in prepared and PHONE[:7] not in prepared and PHONE[-7:] not in prepared
    # A text made only of digits and letters has no safe cut point: it is masked whole.
    assert classify_router.precut("a1" * 20_000, budget) == ("a1" * 20_000, False)


# -- 5. reload --------------------------------------------------------------------------------------


@pytest.fixture()
def registry(model_dirs: tuple[Path, Path], tmp_path: Path) -> Path:  # noqa: F811
    return make_registry(model_dirs, tmp_path)


def client(model_dir: Path | None, **overrides: Any) -> TestClient:
    return TestClient(
        create_app(Settings(model_dir=model_dir, event_fields=False, num_threads=1, **overrides))
    )


def test_reload_disabled_without_admin_keys_and_api_keys_do_not_open_it(registry: Path) -> None:
    with client(registry) as c:
        assert_envelope(c.post("/v1/admin/reload", json={}), 403, "admin_disabled")
    with client(registry, api_keys="k", admin_keys="root") as c:
        auth = {"Authorization": "Bearer k"}
        assert_envelope(c.post("/v1/admin/reload", json={}, headers=auth), 401, "unauthorized")
        assert (
            c.post("/v1/admin/reload", json={"version": "v2"}, headers=ADMIN).json()["model_version"] == "v2"
        )


def test_reload_refuses_every_path_with_one_message(registry: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hotline.json").write_text("{}", encoding="utf-8")
    targets = [
        str(registry / "v2"),  # an absolute path, even to a real model
        "../outside",
        "/etc",
        "v9",
        "current",
        "v1/../v2",
        "\ud800",
        "x" * 100_000,
        "",
    ]
    with client(registry, admin_keys="root", max_body_bytes=400_000) as c:
        messages = set()
        for target in targets:
            # json.dumps escapes the lone surrogate (\\ud800), as a hostile client would send it.
            raw = json.dumps({"version": target}).encode()
            r = c.post("/v1/admin/reload", content=raw, headers={**ADMIN, "content-type": "application/json"})
            body = assert_envelope(r, 404, "model_not_found")
            messages.add(body["error"])
        assert len(messages) == 1 and "etc" not in messages.pop()
        # The old field (a path) is not accepted at all, and its value is not echoed back.
        r = c.post("/v1/admin/reload", json={"model_dir": str(outside)}, headers=ADMIN)
        assert r.status_code == 422 and str(outside) not in r.text
        assert c.get("/ready").json()["model_version"] == "v1"


@pytest.mark.parametrize(
    "damage",
    [
        lambda info: "{not json",
        lambda info: json.dumps({**info, "thresholds": {"no-such-label": 0.5}}),
        lambda info: json.dumps({**info, "thresholds": {info["labels"][0]: "high"}}),
        lambda info: json.dumps({**info, "labels": info["labels"][:2]}),
        lambda info: json.dumps({**info, "temperature": -1}),
    ],
    ids=["malformed-json", "unknown-label", "non-numeric", "labels-vs-head", "bad-temperature"],
)
def test_reload_of_malformed_model_files_is_4xx_and_keeps_the_old_model(registry: Path, damage: Any) -> None:
    info_file = registry / "v2" / "hotline.json"
    info_file.write_text(damage(json.loads(info_file.read_text(encoding="utf-8"))), encoding="utf-8")
    with client(registry, admin_keys="root") as c:
        body = assert_envelope(
            c.post("/v1/admin/reload", json={"version": "v2"}, headers=ADMIN), 422, "model_invalid"
        )
        assert "v1 stays in service" in body["error"] and str(registry) not in body["error"]
        assert c.get("/ready").json()["model_version"] == "v1"
        assert c.post("/v1/classify", json={"text": "路灯坏了"}).status_code == 200


# -- 6. hand-found 5xx ------------------------------------------------------------------------------


def bare(**state: Any) -> TestClient:
    from serving.errors import install_error_handlers
    from serving.routers import events, forecast

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(events.router)
    app.include_router(forecast.router)
    for name in ("forecaster", "survival", "store"):
        setattr(app.state, name, state.get(name))
    return TestClient(app, raise_server_exceptions=False)


def test_alerts_since_empty_or_bad(tmp_path: Path) -> None:
    c = bare(store=EventStore(tmp_path / "empty.db"))
    assert c.get("/v1/alerts", params={"since": ""}).json()["count"] == 0
    for since in ("garbage", "99999-01-01", "2025-01-01T00:00:00Z", "9" * 400):
        assert_envelope(c.get("/v1/alerts", params={"since": since}), 422, "validation_error")


def test_huge_min_complaints_is_422(store: EventStore) -> None:  # noqa: F811
    c = bare(store=store)
    for path in ("/v1/incidents", "/v1/hot"):
        assert_envelope(c.get(path, params={"min_complaints": 9223372036854775808}), 422, "validation_error")
        assert c.get(path, params={"min_complaints": 2}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"cases": [{"id": "a", "time": "2025-04-20 09:00"}], "as_of": "garbage"},
        {"cases": [{"id": "a", "time": "2025-04-20 09:00"}], "as_of": "99999-01-01"},
        {"cases": [{"id": "a", "time": "2025-04-20 09:00"}], "as_of": "2025-05-01T12:00:00+08:00"},
        {"cases": [{"id": "a", "time": "2025-04-20 09:00"}], "as_of": "2025-05-01T12:00:00Z"},
        {"cases": [{"id": "a", "time": "2025-04-20T09:00Z"}], "as_of": "2025-05-01 12:00"},
        {
            "cases": [
                {"id": "a", "time": "2025-04-20 09:00"},
                {"id": "b", "time": "2025-04-21T09:00:00+08:00"},
            ],
            "as_of": "2025-05-01 12:00",
        },
        {"cases": [{"id": "a", "time": ""}], "as_of": "2025-05-01 12:00"},
        {"cases": [{"id": "a", "time": "1200-01-01"}], "as_of": "2025-05-01 12:00"},
    ],
    ids=[
        "empty-list",
        "garbage",
        "year-99999",
        "offset",
        "trailing-z",
        "case-z",
        "mixed",
        "no-time",
        "year-1200",
    ],
)
def test_reply_risk_bad_times_are_422(survival: Any, body: Any) -> None:  # noqa: F811
    assert_envelope(bare(survival=survival).post("/v1/reply-risk", json=body), 422, "validation_error")


def test_reply_risk_still_works(survival: Any) -> None:  # noqa: F811
    r = bare(survival=survival).post(
        "/v1/reply-risk",
        json={
            "cases": [{"id": "a", "time": "2025-04-20T09:00:00", "text": "路灯不亮"}],
            "as_of": "2025-05-01",
        },
    )
    assert r.status_code == 200 and r.json()["results"][0]["id"] == "a"


# -- 3. no caller values in errors ------------------------------------------------------------------


def test_error_messages_do_not_echo_caller_values(store: EventStore, survival: Any, registry: Path) -> None:  # noqa: F811
    c = bare(store=store, survival=survival)
    responses = [
        c.get("/v1/incidents", params={"since": f"电话{PHONE}"}),
        c.get(f"/v1/incidents/{PHONE}"),
        c.get("/v1/alerts", params={"since": PHONE}),
        c.post("/v1/reply-risk", json={"cases": [{"id": PHONE, "time": "soon"}]}),
        c.post("/v1/reply-risk", json={"cases": [{"id": "a", "time": "2025-01-01"}], "as_of": f"约{PHONE}"}),
    ]
    with client(registry, admin_keys="root") as app_client:
        responses.append(app_client.post("/v1/admin/reload", json={PHONE: 1}, headers=ADMIN))
        responses.append(app_client.post("/v1/classify", json={"text": "x", "title": ["a", PHONE]}))
    for r in responses:
        assert 400 <= r.status_code < 500, r.text
        assert set(r.json()) == {"error", "error_type"}
        assert PHONE not in r.text and PHONE[:7] not in r.text, r.text


# -- 6. a 500 does not cost the next pipelined request ----------------------------------------------


def test_pipelined_request_after_a_500_is_answered() -> None:
    import uvicorn

    app = create_app(Settings(event_fields=False))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\nGET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            data = b""
            while b'{"status":"ok"}' not in data:
                try:
                    chunk = s.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"HTTP/1.1 500") and b"internal_error" in data
        assert b'{"status":"ok"}' in data
    finally:
        server.should_exit = True
        thread.join(15)


# -- 6. hotline serve honours HOTLINE_LOG_LEVEL; warnings are JSON lines ----------------------------


def test_serve_log_level_from_env_and_warnings_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import warnings

    import uvicorn

    from hotline.commands.serve import serve

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    monkeypatch.setenv("HOTLINE_LOG_LEVEL", "debug")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: None)
    try:
        serve(model=tmp_path, host="127.0.0.1", port=1, max_batch_size=None, max_wait_ms=None, threads=None,
              store=None, forecast_dir=None, survival_dir=None, plain_logs=False)  # fmt: skip
        assert root.level == logging.DEBUG
        logging.getLogger("serving.test").debug("debug line")
        warnings.warn("a library warning", UserWarning, stacklevel=1)
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
        messages = " ".join(str(x.get("message")) for x in lines)
        assert "debug line" in messages and "a library warning" in messages
        monkeypatch.setenv("HOTLINE_LOG_LEVEL", "chatty")
        import typer

        with pytest.raises(typer.BadParameter, match="LOG_LEVEL"):
            serve(model=tmp_path, host="127.0.0.1", port=1, max_batch_size=None, max_wait_ms=None, threads=None,
                  store=None, forecast_dir=None, survival_dir=None, plain_logs=False)  # fmt: skip
    finally:
        logging.captureWarnings(False)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_openapi_documents_the_error_envelope_for_every_error() -> None:
    from serving.app import create_app
    from serving.settings import Settings

    schema = create_app(Settings()).openapi()
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert schema["components"]["schemas"]["ErrorResponse"]["required"] == ["error", "error_type"]
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code[:1] in ("4", "5"):
                    assert response["content"]["application/json"]["schema"] == ref, (path, method, code)
            assert {"4XX", "5XX"} <= set(operation["responses"]), (path, method)
