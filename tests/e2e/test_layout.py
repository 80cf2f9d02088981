"""How the page is served and laid out: CSP without inline script, the placeholder when the
bundle was not built, a phone-sized screen without sideways scrolling, dark and light.

With ``LIXIAN_SCREENSHOTS=1`` the screenshots of the main screens are written to
docs/screenshots/ (docs/web.md shows them); otherwise they go to the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from e2e.support import ROOT, Daemon, wait_for
from fixtures.fault_server import FaultServer
from lixian.web import CSP, install

MiB = 1 << 20


def test_the_page_has_a_strict_csp_and_no_inline_script(daemon: Daemon) -> None:
    with urllib.request.urlopen(daemon.base) as response:
        csp = response.headers["Content-Security-Policy"]
        html = response.read().decode()
    assert csp == CSP
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert scripts == [""]  # one script, loaded from a file
    assert re.search(r"\son\w+=", html) is None  # no inline handlers
    # every URL in the page is relative: it works under a reverse proxy's path prefix
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not url.startswith(("/", "http:", "https:")), url


def _in_a_thread(coro: Any) -> Any:
    """Run an aiohttp test client off the main thread (Playwright's loop may be there)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coro)))
    thread.start()
    thread.join(60)
    return result[0]


def test_the_placeholder_answers_when_the_bundle_is_missing(tmp_path: Path) -> None:
    async def placeholder(request: web.Request) -> web.Response:
        return web.Response(text="run make web")

    async def check() -> str:
        app = web.Application()
        assert install(app, placeholder, static=tmp_path) is False
        async with TestClient(TestServer(app)) as client:
            return await (await client.get("/")).text()

    assert _in_a_thread(check()) == "run make web"


def test_only_the_bundle_files_are_served(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    (tmp_path / "app.js").write_text("//")
    (tmp_path / "notes.txt").write_text("not part of the page")

    async def check() -> None:
        app = web.Application()
        assert install(app, lambda r: None, static=tmp_path) is True  # type: ignore[arg-type,return-value]
        async with TestClient(TestServer(app)) as client:
            ok = await client.get("/static/app.js")
            assert ok.status == 200 and ok.headers["Content-Type"].startswith("text/javascript")
            assert ok.headers["Content-Security-Policy"] == CSP
            for path in ("/static/notes.txt", "/static/..%2Findex.html", "/static/missing.js"):
                assert (await client.get(path)).status == 404, path

    _in_a_thread(check())


def _no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    overflowing = page.evaluate(
        """w => [...document.querySelectorAll('body *')].filter(e => {
            const b = e.getBoundingClientRect(); const s = getComputedStyle(e);
            return b.width > 0 && b.right > w + 1 && s.position !== 'fixed'
              && !e.closest('.tabs, .scroller, table, .chart-box, dialog');
        }).map(e => e.className).slice(0, 5)""",
        width,
    )
    assert overflowing == []


def _shots_dir(tmp_path: Path) -> Path:
    if os.environ.get("LIXIAN_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        return target
    return tmp_path


def _populate(daemon: Daemon, fault: FaultServer) -> None:
    names = [
        ("debian-13.2.0-amd64-netinst.iso", 48 * MiB, {"rate": 100_000}),
        ("lecture-07-distributed-systems.webm", 9 * MiB, {"rate": 40_000}),
        ("photos-2026-summer.zip", 3 * MiB, {}),
        ("quarterly-report.pdf", MiB, {}),
        ("firmware-v4.1.bin", 2 * MiB, {"status": 404}),
    ]
    for i, (name, size, knobs) in enumerate(names):
        daemon.call("aria2.addUri", [fault.url(f"/shots/{name}", size=size, seed=i, **knobs)])
    for i in range(1, 9):
        daemon.call(
            "aria2.addUri",
            [fault.url(f"/shots/dataset-part-{i:02d}.tar", size=MiB, seed=100 + i)],
            {"pause": "true"},
        )
    wait_for(
        lambda: daemon.call("lixian.listTasks", {"status": "complete"}, None, 0, 0)["total"] >= 2,
        30,
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_main_screens(
    scheme: str, browser: Any, daemon: Daemon, fault_server: FaultServer, tmp_path: Path
) -> None:
    _populate(daemon, fault_server)
    shots = _shots_dir(tmp_path)
    context = browser.new_context(viewport={"width": 1280, "height": 760}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(daemon.base)
        page.wait_for_selector(".row[data-status=active]")
        page.wait_for_timeout(2500)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(15, 19, 24)") == (scheme == "dark"), background
        page.screenshot(path=str(shots / f"list-{scheme}.png"))
        if scheme == "dark":
            return
        page.click(".row[data-status=active] a.name >> nth=0")
        page.wait_for_selector(".task .badge")
        page.wait_for_timeout(1500)
        page.screenshot(path=str(shots / "task.png"), full_page=True)
        page.goto(daemon.base + "#/global")
        page.wait_for_timeout(6000)  # a few seconds of the speed chart
        page.screenshot(path=str(shots / "global.png"), full_page=True)
        page.goto(daemon.base + "#/")
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.click(".add-open")
        page.click(".add-dialog .tab[data-tab=curl]")
        page.fill(
            ".add-dialog textarea.paste",
            (ROOT / "tests/fixtures/curl/chrome124_linux_bash.txt").read_text(),
        )
        page.click(".add-dialog .review-btn")
        page.wait_for_selector(".add-dialog .review-card")
        page.locator(".add-dialog .review-card h4 >> nth=0").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "add-curl.png"))
    finally:
        context.close()


def test_phone_sized_screen(
    browser: Any, daemon: Daemon, fault_server: FaultServer, tmp_path: Path
) -> None:
    _populate(daemon, fault_server)
    shots = _shots_dir(tmp_path)
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )
    page = context.new_page()
    try:
        page.goto(daemon.base)
        page.wait_for_selector(".row[data-status=active]")
        page.wait_for_timeout(1500)
        _no_sideways_scroll(page)
        page.screenshot(path=str(shots / "phone-list.png"))
        page.click(".row[data-status=complete] a.name >> nth=0")
        page.wait_for_selector(".task .badge:text-is('Complete')")
        _no_sideways_scroll(page)
        page.screenshot(path=str(shots / "phone-task.png"))
        page.goto(daemon.base + "#/global")
        page.wait_for_selector("canvas.chart")
        _no_sideways_scroll(page)
        # the theme button cycles auto -> light -> dark
        page.click("button.theme")
        page.click("button.theme")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        assert page.evaluate("localStorage.getItem('lixian.theme')") == "dark"
    finally:
        context.close()
