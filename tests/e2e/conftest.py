"""Browser tests: the page in Debian's chromium (Playwright), against a real ``lixian serve``.

Each test gets a fresh browser context (its own localStorage), and fails if the page
logged a Content-Security-Policy violation or threw an uncaught error.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.support import CHROMIUM, CHROMIUM_ARGS, IN_CI, ROOT, WEB, Daemon, run_daemon


def _need(condition: bool, why: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def bundle() -> Path:
    """The built page; built here when npm is available and it is missing."""
    static = WEB / "static"
    if not (static / "index.html").exists() and shutil.which("npm"):
        subprocess.run(["make", "-C", str(ROOT), "web"], check=False, timeout=600)
    _need((static / "index.html").exists(), "the web page is not built (make web)")
    return static


@pytest.fixture(scope="module")
def browser(bundle: Path) -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps its
    event loop marked as running in this thread while it is started, and async tests
    elsewhere (pytest-asyncio) cannot run their own loop meanwhile."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright is not installed (pip install playwright)")
        raise
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused to" in text):
            self.messages.append(f"CSP: {text}")

    def error(self, exc: Any) -> None:
        self.messages.append(f"uncaught: {exc}")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(context: Any, problems: PageProblems) -> Iterator[Any]:
    page = context.new_page()
    page.on("console", problems.console)
    page.on("pageerror", problems.error)
    yield page
    assert problems.messages == [], problems.messages


@pytest.fixture
def daemon(tmp_path: Path, bundle: Path) -> Iterator[Daemon]:
    """A daemon on loopback without a secret: the page needs no sign-in."""
    with run_daemon(tmp_path / "daemon") as d:
        yield d
