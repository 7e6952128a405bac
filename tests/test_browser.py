"""Browser tests (issue 14.4): Debian's chromium driven by playwright loads every dashboard view
served by uvicorn on 127.0.0.1, checks key numbers against the API's JSON, clicks from the
incident list into an incident, and saves screenshots under artifacts/browser/.

Never a browser download: the system chromium (``apt-get install chromium``) is used, and the
tests skip, saying why, where it or the ``playwright`` package is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.test_dashboard import build_sample_state, dashboard_app

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SHOTS = REPO_ROOT / "artifacts" / "browser"
AS_OF = "2026-07-15"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, samples_dir: Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    import uvicorn

    state = build_sample_state(tmp_path_factory.mktemp("browser"), samples_dir)
    app = dashboard_app(state)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        srv.should_exit = True
        thread.join(timeout=15)
        state["store"].close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium (or set HOTLINE_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright; no browser download)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Any, server: tuple[str, dict[str, Any]]) -> Iterator[Any]:
    base, _ = server
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    external: list[str] = []

    def guard(route: Any) -> None:
        # Every request must go to the app itself; anything else is recorded and refused.
        if route.request.url.startswith(base):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not external, f"requests to other hosts: {external}"
    assert not errors, f"JavaScript errors: {errors}"


def _shot(pg: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_every_view_loads_and_draws(page: Any, server: tuple[str, dict[str, Any]]) -> None:
    base, _ = server
    for name, path in (
        ("overview", "/dashboard"),
        ("incidents", "/dashboard/incidents"),
        ("grid", "/dashboard/grid"),
        ("forecasts", "/dashboard/forecasts"),
        ("risk", "/dashboard/risk"),
        ("model", "/dashboard/model"),
    ):
        resp = page.goto(f"{base}{path}?as_of={AS_OF}", wait_until="load")
        assert resp is not None and resp.status == 200, path
        assert "12345 热线决策看板" in page.title()
        charts = page.locator("[data-fig]")
        for i in range(charts.count()):
            chart = charts.nth(i)
            chart.locator(".main-svg").first.wait_for()  # plotly drew it
            assert chart.get_attribute("data-drawn") == "1"
        # The served font is used: the browser loaded Noto Sans SC for the Chinese text.
        assert page.evaluate("document.fonts.check('16px \"Noto Sans SC\"', '热线')")
        _shot(page, name)


def test_overview_numbers_match_the_api(page: Any, server: tuple[str, dict[str, Any]]) -> None:
    base, _ = server
    page.goto(f"{base}/dashboard?as_of={AS_OF}")
    week = int(page.locator("#kpi-week").get_attribute("data-value"))
    signals = httpx.get(f"{base}/v1/signals", params={"start": "2026-07-09", "end": AS_OF}, timeout=30).json()
    assert week == sum(s["calls"] for s in signals["signals"])
    alerts = httpx.get(f"{base}/v1/alerts", params={"since": "2026-07-09", "as_of": AS_OF}, timeout=30).json()
    assert int(page.locator("#kpi-alerts").get_attribute("data-value")) == alerts["count"]
    assert page.locator("#chart-total .main-svg").first.is_visible()


def test_click_from_the_list_into_an_incident(page: Any, server: tuple[str, dict[str, Any]]) -> None:
    base, _ = server
    page.goto(f"{base}/dashboard/incidents?as_of={AS_OF}")
    page.select_option("select[name=urgency]", "紧急")
    page.fill("input[name=q]", "停水")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/dashboard/incidents?*urgency=*")
    first = page.locator("#incidents a.incident").first
    iid = first.get_attribute("data-incident")
    first.click()
    page.wait_for_url(f"**/dashboard/incidents/{iid}*")
    api = httpx.get(f"{base}/v1/incidents/{iid}", timeout=30).json()
    shown = int(page.locator("#n-complaints").get_attribute("data-value"))
    assert shown == api["n_complaints"] == len(api["members"])
    assert page.locator("#members tr").count() == len(api["members"]) + 1
    page.locator("#chart-timeline .main-svg").first.wait_for()
    _shot(page, "incident")
