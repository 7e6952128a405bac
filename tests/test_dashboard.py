"""The dashboard (issue 14): every view renders from a store built from the bundled sample,
its numbers agree with the API's JSON, nothing references another host, nothing unmasked."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

# Tests that use the sample store are slow: building it takes ~1 min on a busy CPU.

VIEWS = (
    "/dashboard",
    "/dashboard/incidents",
    "/dashboard/grid",
    "/dashboard/forecasts",
    "/dashboard/risk",
    "/dashboard/model",
)
# Any absolute URL or protocol-relative reference to another host.
EXTERNAL = re.compile(r"""(?:https?:)?//(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}""", re.I)


def build_sample_state(directory: Path, samples: Path) -> dict[str, Any]:
    """Store, forecaster and survival model from data/samples, as `make demo` builds them."""
    from events.config import EventsConfig
    from events.pipeline import run_events
    from events.store import EventStore
    from forecasting.alerts import run_alerts
    from forecasting.cases import prepare_cases, read_cases
    from forecasting.config import ForecastConfig, SurvivalConfig
    from forecasting.forecaster import Forecaster
    from forecasting.sources import signal_source
    from forecasting.survival import SurvivalModel
    from ingest.options import ReaderOptions

    log = samples / "complaints.csv"
    store = EventStore(directory / "events.db")
    run_events(
        log,
        store,
        ReaderOptions(),
        EventsConfig(caller_column="caller", likes_column="likes", gazetteer="demo", progress=False),
    )
    forecaster = Forecaster.fit(
        store.signals.read(), ForecastConfig(heads=("seasonal_naive", "ets"), n_origins=2)
    )
    run_alerts(signal_source(store), forecaster, days=130)
    config = SurvivalConfig()
    survival = SurvivalModel.fit(prepare_cases(read_cases(log), config), config)
    return {"store": store, "forecaster": forecaster, "survival": survival}


def dashboard_app(state: dict[str, Any], **settings: Any) -> Any:
    from serving.app import create_app
    from serving.settings import Settings

    app = create_app(Settings(**settings))
    for name, value in state.items():
        setattr(app.state, name, value)
    return app


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> dict[str, Any]:
    st = build_sample_state(tmp_path_factory.mktemp("dash"), samples_dir)
    yield st
    st["store"].close()


@pytest.fixture(scope="module")
def client(state: dict[str, Any]) -> TestClient:
    return TestClient(dashboard_app(state))


@pytest.mark.slow
def test_every_view_renders_in_chinese_without_external_hosts(
    client: TestClient, state: dict[str, Any]
) -> None:
    incident = state["store"].incidents.hot(1).iloc[0]["incident_id"]
    pages = [
        *VIEWS,
        f"/dashboard/incidents/{incident}",
        "/dashboard/forecasts?series=category%3D供水供电燃气",
        "/docs",
    ]
    callers = set(state["store"].incidents.members_detail([incident])["caller"].dropna().astype(str))
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert not EXTERNAL.findall(r.text), (url, EXTERNAL.findall(r.text))
        if url.startswith("/dashboard"):
            assert "12345 热线决策看板" in r.text and "/dashboard/static/plotly.min.js" in r.text
            assert not any(c in r.text for c in callers), url  # hashed caller ids are never shown
            assert not re.search(r"1[3-9]\d{9}", r.text), url  # no unmasked mobile number
    docs = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "/docs-assets/swagger-ui.css" in docs


def test_assets_come_from_installed_packages() -> None:
    client = TestClient(dashboard_app({}))
    js = client.get("/dashboard/static/plotly.min.js")
    assert js.status_code == 200 and "plotly" in js.text[:2000].lower() and len(js.content) > 1_000_000
    font = client.get("/dashboard/static/NotoSansSC-Regular.otf")
    assert font.status_code == 200 and font.content[:4] == b"OTTO"  # an OpenType (CFF) font
    css = client.get("/dashboard/static/dashboard.css").text
    assert "@font-face" in css and "/dashboard/static/NotoSansSC-Regular.otf" in css
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200
    for bad in ("/dashboard/static/..%2Fapp.py", "/dashboard/static/secret", "/docs-assets/index.html"):
        assert client.get(bad).status_code == 404, bad


def _number(html: str, element_id: str) -> int:
    m = re.search(rf'id="{element_id}" data-value="(-?\d+)"', html)
    assert m, element_id
    return int(m.group(1))


@pytest.mark.slow
def test_overview_numbers_agree_with_the_api(client: TestClient) -> None:
    as_of = "2026-07-15"
    html = client.get("/dashboard", params={"as_of": as_of}).text
    assert 'data-as-of="2026-07-15 23:59"' in html
    signals = client.get("/v1/signals", params={"start": "2026-07-09", "end": as_of}).json()["signals"]
    calls = pd.DataFrame(signals).groupby("date")["calls"].sum()
    assert _number(html, "kpi-week") == int(calls.sum())
    assert _number(html, "kpi-today") == int(calls.get(as_of, 0))
    alerts = client.get("/v1/alerts", params={"since": "2026-07-09", "as_of": as_of}).json()
    assert _number(html, "kpi-alerts") == alerts["count"] >= 1  # the planted burst water main
    assert "爆管" in html or "停水" in html
    # The chart's figure is embedded as JSON for the locally served plotly.js.
    assert 'id="chart-total" data-fig="' in html


@pytest.mark.slow
def test_forecast_view_matches_the_forecast_route(client: TestClient) -> None:
    html = client.get("/dashboard/forecasts", params={"series": "total", "as_of": "2026-08-20"}).text
    api = client.get("/v1/forecast", params={"series": "total", "as_of": "2026-08-20"}).json()
    assert api["as_of"].startswith("2026-08-20") and api["points"][0]["date"] == "2026-08-21"
    shown = [float(v) for v in re.findall(r'class="n mean" data-value="([0-9.]+)"', html)]
    assert shown == pytest.approx([p["mean"] for p in api["points"]])
    assert 'id="head"' in html and "MASE" in html


@pytest.mark.slow
def test_incident_list_filters_paginates_and_drills_down(client: TestClient, state: dict[str, Any]) -> None:
    page1 = client.get("/dashboard/incidents").text
    total = int(re.search(r'data-total="(\d+)"', page1).group(1))
    assert total > 50 and "下一页" in page1  # 400+ incidents: paginated, 50 a page
    assert len(re.findall(r'<tr data-incident="', page1)) == 50
    page2 = client.get("/dashboard/incidents", params={"page": 2}).text
    assert re.findall(r'<tr data-incident="([^"]+)"', page1)[0] not in page2
    urgent = client.get("/dashboard/incidents", params={"urgency": "紧急", "q": "停水"}).text
    ids = re.findall(r'<tr data-incident="([^"]+)"', urgent)
    assert ids and len(ids) < 50
    hot = client.get("/v1/hot", params={"top": 1}).json()["hot"][0]
    assert hot["incident_id"] in ids
    detail = client.get(f"/dashboard/incidents/{hot['incident_id']}").text
    assert _number(detail, "n-complaints") == hot["n_complaints"]
    assert detail.count("<tr><td>2026-") >= hot["n_complaints"]  # one timeline row per complaint
    assert 'data-alert="' in detail  # the alert this incident raised
    assert client.get("/dashboard/incidents/INC-nope").status_code == 404
    bad = client.get("/dashboard/incidents", params={"since": "2026-08-01", "until": "2026-07-01"})
    assert bad.status_code == 422 and bad.json()["error_type"] == "validation_error"


@pytest.mark.slow
def test_grid_risk_and_model_views(client: TestClient, state: dict[str, Any]) -> None:
    grid = client.get("/dashboard/grid", params={"as_of": "2026-07-15"}).text
    cell = int(re.search(r'data-cell="城南区\|供水供电燃气" data-value="(\d+)"', grid).group(1))
    sig = client.get(
        "/v1/signals",
        params={"start": "2026-07-09", "end": "2026-07-15", "district": "城南区", "category": "供水供电燃气"},
    ).json()["signals"]
    assert cell == sum(s["calls"] for s in sig) >= 20
    risk = client.get("/dashboard/risk").text
    assert "超期风险" in risk and len(re.findall(r'<tr data-case="', risk)) > 0
    in_time = [float(p) for p in re.findall(r'class="n ">(\d+)%', risk)]
    assert in_time and in_time == sorted(in_time, reverse=True)  # savable cases first, riskiest first
    if 'class="n overdue">' in risk:  # overdue cases (past saving) come after them
        assert risk.index('class="n ">') < risk.index('class="n overdue">')
    model = client.get("/dashboard/model").text
    assert "服务未加载分类模型" in model  # no engine in this app: said, not an error


@pytest.mark.slow
def test_bad_as_of_is_a_422_envelope(client: TestClient) -> None:
    for url in ("/dashboard", "/v1/hot", "/v1/incidents", "/v1/forecast", "/v1/alerts"):
        r = client.get(url, params={"as_of": "yesterday"})
        assert r.status_code == 422 and r.json()["error_type"] == "validation_error", url


@pytest.mark.slow
def test_decision_routes_default_to_the_latest_complaint(client: TestClient) -> None:
    hot = client.get("/v1/hot").json()
    assert hot["as_of_source"] == "latest complaint" and hot["as_of"].startswith("2026-08-31")
    early = client.get("/v1/hot", params={"as_of": "2026-07-01"}).json()
    assert all(h["first_seen"] <= "2026-07-01 23:59:59" for h in early["hot"])
    inc = client.get("/v1/incidents", params={"as_of": "2026-06-01", "limit": 1000}).json()
    assert all(i["first_seen"] <= "2026-06-01 23:59:59" for i in inc["incidents"])
    assert client.get("/v1/forecast").json()["as_of_source"] == "latest complaint"


@pytest.mark.slow
def test_dashboard_needs_a_key_when_keys_are_set(state: dict[str, Any]) -> None:
    c = TestClient(dashboard_app(state, api_keys=["k-dash"]))
    r = c.get("/dashboard/model")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    basic = base64.b64encode(b"duty:k-dash").decode()
    assert c.get("/dashboard/model", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert c.get("/dashboard/model", headers={"Authorization": "Bearer k-dash"}).status_code == 200
    assert c.get("/dashboard/model", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/dashboard/static/dashboard.css").status_code == 200  # public assets stay open


def test_views_without_store_or_models_say_what_is_missing() -> None:
    client = TestClient(dashboard_app({}))
    for url in (*VIEWS, "/docs"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert not EXTERNAL.findall(r.text), (url, EXTERNAL.findall(r.text))
    assert "未配置事件库" in client.get("/dashboard").text
    assert "未加载预测模型" in client.get("/dashboard/forecasts").text
    assert client.get("/dashboard", params={"lang": "en"}).text.count("Overview") >= 1
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: off
