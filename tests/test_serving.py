"""The HTTP service: every route and error path through TestClient, with the lifespan running."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.settings import Settings
from tests.test_classifier import TEXTS, make_transformer

PHONE = "13812345678"


@pytest.fixture(scope="module")
def model_dirs(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("serving")
    clf = make_transformer(tiny_bert_dir)
    clf.info.version = "v1"
    clf.save(root / "v1")
    clf.info.version = "v2"
    clf.save(root / "v2")
    return root / "v1", root / "v2"


def make_client(model_dir: Path | None, **overrides: object) -> TestClient:
    settings = Settings(model_dir=model_dir, event_fields=False, num_threads=1, **overrides)
    return TestClient(create_app(settings))


@pytest.fixture()
def client(model_dirs: tuple[Path, Path]) -> Iterator[TestClient]:
    with make_client(model_dirs[0], max_texts_per_request=4, max_body_bytes=4096, max_text_chars=64) as c:
        yield c


def assert_envelope(response, status: int, error_type: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_type"} and body["error_type"] == error_type and body["error"]


def test_health_ready_info_metrics_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model_version": "v1"}
    info = client.get("/v1/info").json()
    assert info["model"]["version"] == "v1" and info["model"]["model_type"] == "transformer"
    assert info["model"]["max_length"] == 16 and len(info["model"]["labels"]) == 3
    assert info["max_texts_per_request"] == 4 and info["auth"] is False
    assert client.get("/docs").status_code == 200
    assert "/v1/classify" in client.get("/openapi.json").json()["paths"]
    client.post("/v1/classify", json={"text": TEXTS[0]})
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'hotline_requests_total{method="POST",route="/v1/classify",status="200"} 1.0' in text
    assert "hotline_request_duration_seconds_bucket" in text and "hotline_batch_size_bucket" in text
    assert 'hotline_model_info{name="v1",type="transformer",version="v1"} 1.0' in text
    assert client.get("/health").headers["x-request-id"]


def test_classify_one_and_many(client: TestClient) -> None:
    one = client.post("/v1/classify", json={"id": 7, "title": "噪音", "text": TEXTS[0], "district": "A3区"})
    assert one.status_code == 200
    body = one.json()
    assert body["id"] == "7" and body["model_version"] == "v1" and body["events"] is None
    assert body["label"] == body["top_k"][0]["label"] and body["score"] == body["top_k"][0]["score"]
    assert len(body["top_k"]) == 3 and isinstance(body["needs_review"], bool)
    many = client.post("/v1/classify", json=[{"id": str(i), "text": t} for i, t in enumerate(TEXTS[:4])])
    assert [r["id"] for r in many.json()] == ["0", "1", "2", "3"]


def test_long_texts_are_truncated_and_flagged_not_rejected(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"text": "很长的投诉" * 100})
    assert r.status_code == 200 and r.json()["truncated"] is True
    short = client.post("/v1/classify", json={"text": "路灯坏了"})
    assert short.json()["truncated"] is False


def test_error_envelope_for_every_error(client: TestClient) -> None:
    assert_envelope(client.post("/v1/classify", json={"text": "   "}), 422, "validation_error")
    assert_envelope(client.post("/v1/classify", json={"title": "no text"}), 422, "validation_error")
    assert_envelope(client.post("/v1/classify", json=[]), 422, "validation_error")
    assert_envelope(client.post("/v1/classify", json="just a string"), 422, "validation_error")
    bad_json = client.post("/v1/classify", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(bad_json, 422, "validation_error")
    assert_envelope(client.post("/v1/classify", json=[{"text": "a"}] * 5), 413, "payload_too_large")
    assert_envelope(client.post("/v1/classify", json={"text": "字" * 5000}), 413, "payload_too_large")
    assert_envelope(client.get("/v1/nothing"), 404, "not_found")
    assert_envelope(client.get("/v1/classify"), 405, "method_not_allowed")
    # No admin keys configured: reload is disabled (tests/test_hardening_serving.py covers the rest).
    assert_envelope(client.post("/v1/admin/reload", json={"version": "v2"}), 403, "admin_disabled")
    # Validation messages name the field, never echo the complaint back.
    r = client.post("/v1/classify", json={"text": 12345, "title": PHONE})
    assert PHONE not in r.text


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(20):
            yield "字".encode() * 100
        yield b'"}'

    r = client.post("/v1/classify", content=chunks(), headers={"content-type": "application/json"})
    assert_envelope(r, 413, "payload_too_large")


def test_not_ready_without_a_model(tmp_path: Path) -> None:
    with make_client(None) as c:
        assert_envelope(c.get("/ready"), 503, "model_not_ready")
        assert_envelope(c.post("/v1/classify", json={"text": "路灯坏了"}), 503, "model_not_ready")
        assert c.get("/health").status_code == 200
        assert c.get("/v1/info").json()["model"] is None
    with make_client(tmp_path / "missing") as c:
        r = c.get("/ready")
        assert_envelope(r, 503, "model_not_ready")
        assert "not found" in r.json()["error"]


def test_auth_on(model_dirs: tuple[Path, Path]) -> None:
    with make_client(model_dirs[0], api_keys="alpha, beta", admin_keys="root") as c:
        assert_envelope(c.post("/v1/classify", json={"text": "路灯坏了"}), 401, "unauthorized")
        wrong = c.post("/v1/classify", json={"text": "路灯坏了"}, headers={"Authorization": "Bearer nope"})
        assert_envelope(wrong, 401, "unauthorized")
        assert wrong.headers["www-authenticate"] == "Bearer"
        assert_envelope(c.get("/v1/info", headers={"Authorization": "Basic alpha"}), 401, "unauthorized")
        ok = c.post("/v1/classify", json={"text": "路灯坏了"}, headers={"Authorization": "Bearer beta"})
        assert ok.status_code == 200
        assert_envelope(c.post("/v1/admin/reload"), 401, "unauthorized")
        # An API key is not an admin key.
        assert_envelope(
            c.post("/v1/admin/reload", headers={"Authorization": "Bearer alpha"}), 401, "unauthorized"
        )
        reload = c.post("/v1/admin/reload", headers={"Authorization": "Bearer root"})
        assert reload.status_code == 200 and reload.json()["model_version"] == "v1"
        # Operational routes stay open.
        for path in ("/health", "/ready", "/metrics", "/docs"):
            assert c.get(path).status_code == 200, path
        assert c.get("/v1/info", headers={"Authorization": "Bearer alpha"}).json()["auth"] is True


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOTLINE_API_KEYS", "k1,k2")
    monkeypatch.setenv("HOTLINE_MAX_BATCH_SIZE", "8")
    monkeypatch.setenv("HOTLINE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("HOTLINE_MAX_PADDING", "0.5")
    s = Settings()
    assert s.api_keys == ["k1", "k2"] and s.max_batch_size == 8 and s.model_dir == tmp_path
    assert s.max_padding == 0.5
    with pytest.raises(ValueError):
        Settings(max_batch_size=0)
    with pytest.raises(ValueError):
        Settings(max_padding=-0.1)


def test_concurrent_requests_are_coalesced_and_answered_correctly(model_dirs: tuple[Path, Path]) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]}{i}" for i in range(48)]
    with make_client(model_dirs[0], max_batch_size=16, max_wait_ms=50) as c:
        expected = {t: c.post("/v1/classify", json={"id": t, "text": t}).json() for t in texts[:6]}
        batcher = c.app.state.batcher
        batcher.batch_requests.clear()

        def call(t: str) -> dict:
            return c.post("/v1/classify", json={"id": t, "text": t}).json()

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, texts))
        assert [r["id"] for r in results] == texts
        for r in results[:6]:
            assert r["label"] == expected[r["id"]]["label"]
            assert abs(r["score"] - expected[r["id"]]["score"]) < 1e-4
        assert max(batcher.batch_requests) > 1, list(batcher.batch_requests)
        assert max(batcher.batch_sizes) <= 16


def test_no_batching_when_max_batch_size_is_one(model_dirs: tuple[Path, Path]) -> None:
    with make_client(model_dirs[0], max_batch_size=1, max_wait_ms=0) as c:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda t: c.post("/v1/classify", json={"text": t}), TEXTS * 3))
        assert set(c.app.state.batcher.batch_sizes) == {1}


def make_registry(model_dirs: tuple[Path, Path], root: Path, current: str = "v1") -> Path:
    import shutil

    registry = root / "registry"
    registry.mkdir()
    for d in model_dirs:
        shutil.copytree(d, registry / d.name)
    (registry / "current").write_text(current, encoding="utf-8")
    return registry


ADMIN = {"Authorization": "Bearer root"}


def test_reload_under_load_fails_no_request(model_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    registry = make_registry(model_dirs, tmp_path)
    with make_client(registry, max_batch_size=8, max_wait_ms=2, admin_keys="root") as c:
        stop = threading.Event()
        statuses: list[int] = []
        versions: set[str] = set()

        def hammer() -> None:
            while not stop.is_set():
                r = c.post("/v1/classify", json=[{"text": t} for t in TEXTS[:3]])
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.update(x["model_version"] for x in r.json())

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            for target in ("v2", "v1", "v2"):
                r = c.post("/v1/admin/reload", json={"version": target}, headers=ADMIN)
                assert r.status_code == 200, r.text
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert statuses and set(statuses) == {200}
        assert versions == {"v1", "v2"}
        assert c.get("/ready").json()["model_version"] == "v2"
        assert 'hotline_model_reloads_total{outcome="ok"} 3.0' in c.get("/metrics").text


def test_registry_reload_re_resolves_current(model_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    registry = make_registry(model_dirs, tmp_path)
    with make_client(registry, admin_keys="root") as c:
        assert c.get("/ready").json()["model_version"] == "v1"
        (registry / "current").write_text("v2", encoding="utf-8")
        r = c.post("/v1/admin/reload", headers=ADMIN)
        assert r.json()["previous_version"] == "v1" and r.json()["model_version"] == "v2"


def test_shutdown_stops_the_batcher(model_dirs: tuple[Path, Path]) -> None:
    c = make_client(model_dirs[0])
    with c:
        batcher = c.app.state.batcher
        assert batcher.running
    assert not batcher.running


def test_logs_carry_request_fields_and_no_complaint_text(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = f"我家楼下烧烤噪音很大，我的电话是{PHONE}"
    with caplog.at_level(logging.INFO):
        client.post("/v1/classify", json={"text": secret}, headers={"X-Request-ID": "req-123"})
    access = [r for r in caplog.records if r.getMessage() == "request"]
    assert access and access[-1].request_id == "req-123" and access[-1].status == 200
    assert access[-1].route == "/v1/classify" and access[-1].latency_ms >= 0
    for record in caplog.records:
        rendered = record.getMessage() + str(vars(record))
        assert "烧烤" not in rendered and PHONE not in rendered
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="serving"):
        client.post("/v1/classify", json={"text": secret})
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and hasattr(r, "texts")]
    assert debug and "[手机号]" in debug[0].texts[0] and PHONE not in str(debug[0].texts)


def test_json_log_lines_mask_pii() -> None:
    import json

    from nlp.logs import JSONFormatter, PIIMaskingFilter

    record = logging.LogRecord("serving", logging.INFO, __file__, 1, "call from %s", (PHONE,), None)
    record.request_id = "r1"
    PIIMaskingFilter().filter(record)
    line = json.loads(JSONFormatter().format(record))
    assert line["request_id"] == "r1" and PHONE not in line["message"]


def test_event_and_forecast_routers_are_mounted_behind_auth(model_dirs: tuple[Path, Path]) -> None:
    pytest.importorskip("serving.routers.events")
    pytest.importorskip("serving.routers.forecast")
    with make_client(model_dirs[0], api_keys="k") as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert {"/v1/hot", "/v1/incidents", "/v1/forecast", "/v1/reply-risk"} <= set(paths)
        assert_envelope(c.get("/v1/hot"), 401, "unauthorized")
        r = c.get("/v1/forecast", headers={"Authorization": "Bearer k"})
        assert r.status_code == 503 and set(r.json()) == {"error", "error_type"}


def test_engine_limits_come_from_settings(model_dirs: tuple[Path, Path]) -> None:
    with make_client(model_dirs[0], max_batch_tokens=512, max_padding=0.05) as c:
        cfg = c.app.state.engine_config
        assert (cfg.max_batch_tokens, cfg.max_padding) == (512, 0.05)
        assert c.app.state.batcher.engine.config.max_padding == 0.05
        assert c.post("/v1/classify", json={"id": "1", "text": TEXTS[0]}).status_code == 200
