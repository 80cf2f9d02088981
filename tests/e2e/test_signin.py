"""Signing in: the secret is asked for only when the daemon has one, kept only when the user
ticks "remember", and never put in a URL or a log."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from e2e.support import Daemon, run_daemon


def test_no_sign_in_on_loopback_without_a_secret(daemon: Daemon, page: Any) -> None:
    page.goto(daemon.base)
    page.wait_for_selector(".list .count:has-text('0 tasks')")
    assert page.locator("form.signin").count() == 0
    assert page.locator(".sign-out").is_hidden()


def test_sign_in_with_the_secret(tmp_path: Path, context: Any, page: Any) -> None:
    secret = secrets.token_urlsafe(16)
    with run_daemon(tmp_path / "d", secret=secret) as daemon:
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.on("websocket", lambda ws: seen.append(ws.url))
        page.goto(daemon.base)
        page.wait_for_selector("form.signin")
        assert page.locator(".list").count() == 0  # nothing is shown before signing in

        page.fill("form.signin input[name=secret]", "not-the-secret")
        page.click("form.signin button[type=submit]")
        page.wait_for_selector("form.signin .error:has-text('not the daemon')")

        page.fill("form.signin input[name=secret]", secret)
        page.click("form.signin button[type=submit]")
        page.wait_for_selector(".list .count:has-text('0 tasks')")
        assert page.evaluate("localStorage.getItem('lixian.secret')") is None

        # not remembered: a reload asks again
        page.reload()
        page.wait_for_selector("form.signin")

        page.fill("form.signin input[name=secret]", secret)
        page.check("form.signin input[name=remember]")
        page.click("form.signin button[type=submit]")
        page.wait_for_selector(".list .count:has-text('0 tasks')")
        assert page.evaluate("localStorage.getItem('lixian.secret')") == secret
        page.reload()
        page.wait_for_selector(".list .count:has-text('0 tasks')")
        assert page.locator("form.signin").count() == 0

        # signing out forgets it
        page.click(".sign-out")
        page.wait_for_selector("form.signin")
        assert page.evaluate("localStorage.getItem('lixian.secret')") is None

        assert seen and not any(secret in url for url in seen)
        log = daemon.log_text()
        assert "lixian.access GET / 200" in log  # the access log is on...
        assert secret not in log  # ...and never holds the secret


def test_a_wrong_remembered_secret_asks_again(tmp_path: Path, context: Any, page: Any) -> None:
    with run_daemon(tmp_path / "d", secret="right-secret") as daemon:
        page.goto(daemon.base)
        page.wait_for_selector("form.signin")
        page.evaluate("localStorage.setItem('lixian.secret', 'old-secret')")
        page.reload()
        page.wait_for_selector("form.signin .error:has-text('no longer works')")
        assert page.evaluate("localStorage.getItem('lixian.secret')") is None
