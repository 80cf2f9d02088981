"""Pasting "Copy as cURL" from Chrome, Firefox and Edge (bash and cmd): the page shows the
daemon's reading for review, adds the download, and every header and cookie the browser
sent arrives at the server (the fault server records them)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from e2e.support import Daemon, wait_for
from fixtures import browser_curl
from fixtures.fault_server import FaultServer
from lixian.importers.curl import NOT_COPIED

FIXTURES = browser_curl.FIXTURES


def _source_requests() -> dict[str, browser_curl.Request]:
    """Each fixture's request, found by rendering every request the module defines the
    ways browsers do and matching the fixture's text (robust to renames there)."""
    requests = [v for v in vars(browser_curl).values() if isinstance(v, browser_curl.Request)]
    renders = []
    for req in requests:
        for shell in ("bash", "cmd"):
            for b in (True, False):
                renders.append((browser_curl.chrome(req, shell, cookies_as_b=b), req))
            for one in (True, False):
                renders.append((browser_curl.firefox(req, shell, one_line=one), req))
    found = {}
    for name, text in browser_curl.FIXTURE_TEXTS.items():
        for rendered, req in renders:
            if rendered == text:
                found[name] = req
                break
    return found


REQUESTS = _source_requests()
DOWNLOADABLE = sorted(n for n in REQUESTS if n not in browser_curl.NOT_DOWNLOADABLE)


def _text(name: str, base: str) -> str:
    raw = (FIXTURES / name).read_bytes().decode("utf-8")
    return raw.replace(browser_curl.PLACEHOLDER, base)


def _same(received: str | None, sent: str) -> bool:
    """Header values travel as bytes; non-ASCII ones are UTF-8 on the wire (the fault
    server decodes lines as latin-1)."""
    if received is None:
        return False
    if received == sent:
        return True
    try:
        return received.encode("latin-1").decode("utf-8") == sent
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False


def _paste_and_review(page: Any, text: str) -> None:
    page.click(".add-open")
    page.click(".add-dialog .tab[data-tab=curl]")
    page.fill(".add-dialog textarea.paste", text)
    page.click(".add-dialog .review-btn")
    page.wait_for_selector(".add-dialog .review-card")


def test_every_fixture_has_its_source_request() -> None:
    assert set(REQUESTS) == set(browser_curl.FIXTURE_TEXTS)
    assert {p.name for p in FIXTURES.glob("*.txt")} == set(browser_curl.FIXTURE_TEXTS)


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_pasted_curl_reaches_the_server_with_every_header_and_cookie(
    name: str, daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    req = REQUESTS[name]
    path = unquote(urlsplit(req.url).path)
    data = random.Random(name).randbytes(200_000)
    fault_server.add_file(path, data)
    page.goto(daemon.base)
    _paste_and_review(page, _text(name, fault_server.base))

    # the review shows what will be sent: the URL, each cookie (values redacted), headers
    review = page.locator(".add-dialog .review-card")
    assert fault_server.base in review.locator(".review-url").inner_text()
    cookies = [c for n, v in req.headers if n.lower() == "cookie" for c in v.split("; ")]
    for cookie in cookies:
        cookie_name = cookie.split("=", 1)[0]
        assert review.locator(f".review-cookies td:text-is('{cookie_name}')").count() >= 1, cookie
    assert page.locator(".add-dialog .not-downloadable").count() == 0

    before = {
        t["gid"] for t in daemon.call("lixian.listTasks", None, None, 0, 1000, ["gid"])["tasks"]
    }
    page.click(".add-dialog .add-btn")
    page.wait_for_selector(".add-dialog", state="hidden")

    def new_gid() -> str | None:
        listed = daemon.call("lixian.listTasks", None, None, 0, 1000, ["gid"])["tasks"]
        return next((t["gid"] for t in listed if t["gid"] not in before), None)

    gid = wait_for(new_gid)
    status = daemon.wait_status(gid, {"complete", "error"})
    assert status["status"] == "complete", status
    saved = Path(status["files"][0]["path"])
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()

    seen = fault_server.requests_for(path)
    assert seen
    for record in seen:
        for header, value in req.headers:
            low = header.lower()
            if low in NOT_COPIED or low.startswith("sec-fetch-"):
                continue  # not copied on purpose: the review lists why
            if low == "cookie":
                got = (record.header("Cookie") or "").split("; ")
                received = [c for c in got]
                for cookie in value.split("; "):
                    assert any(_same(c, cookie) for c in received), (name, cookie, got)
                continue
            assert _same(record.header(header), value), (name, header, value, record.header(header))
        for header in (
            "sec-fetch-site",
            "if-none-match",
            "if-modified-since",
            "authority",
            "alt-used",
        ):
            assert record.header(header) is None, (name, header)


@pytest.mark.parametrize("name", sorted(browser_curl.NOT_DOWNLOADABLE))
def test_a_request_that_is_not_a_plain_get_is_explained(
    name: str, daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    page.goto(daemon.base)
    _paste_and_review(page, _text(name, fault_server.base))
    explanation = page.locator(".add-dialog .not-downloadable")
    assert "not a plain GET" in explanation.inner_text()
    assert "POST" in explanation.inner_text()
    assert page.locator(".add-dialog .add-btn").is_disabled()


def test_a_cookies_txt_is_scoped_to_its_domain(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    path = fault_server.add_file("/jar/private.bin", random.Random(3).randbytes(50_000))
    jar = "\n".join(
        [
            "# Netscape HTTP Cookie File",
            "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc123",
            "127.0.0.1\tFALSE\t/jar\tFALSE\t0\tscoped\tyes",
            "other.example\tTRUE\t/\tFALSE\t0\tforeign\tno",
        ]
    )
    page.goto(daemon.base)
    page.click(".add-open")
    page.click(".add-dialog .tab[data-tab=curl]")
    page.fill(".add-dialog textarea.paste", jar)
    page.fill(".add-dialog textarea.paste-urls", fault_server.base + path)
    page.click(".add-dialog .review-btn")
    page.wait_for_selector(".add-dialog .review-card h4:has-text('2 of 3')")
    page.click(".add-dialog .add-btn")
    page.wait_for_selector(".add-dialog", state="hidden")
    assert fault_server.wait_until(
        lambda rs: any(r.path == path and r.status in (200, 206) for r in rs), 30
    )
    cookie = fault_server.requests_for(path)[0].header("Cookie") or ""
    assert sorted(cookie.split("; ")) == ["scoped=yes", "sid=abc123"]
