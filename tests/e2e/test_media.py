"""Playing a downloaded video in the page through a ``lixian.fileUrl`` link: a VP9 WebM made
by ffmpeg plays (readyState >= 3, currentTime advances), fetched with Range requests, also
while it is still downloading."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from e2e.support import IN_CI, Daemon, make_webm, wait_for
from fixtures.fault_server import FaultServer


@pytest.fixture(scope="module")
def webm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("ffmpeg") is None:
        if IN_CI:
            pytest.fail("ffmpeg is missing")
        pytest.skip("ffmpeg is missing")
    return make_webm(tmp_path_factory.mktemp("media") / "clip.webm", seconds=8).read_bytes()


def _add(page: Any, url: str) -> None:
    page.click(".add-open")
    page.fill(".add-dialog textarea.links", url)
    page.click(".add-dialog .add-btn")
    page.wait_for_selector(".add-dialog", state="hidden")


def _plays(page: Any) -> float:
    video = page.locator(".player video")
    video.wait_for()
    wait_for(
        lambda: page.evaluate("document.querySelector('.player video').readyState") >= 3,
        30,
        "readyState >= 3",
    )
    first = page.evaluate("document.querySelector('.player video').currentTime")
    later = wait_for(
        lambda: (
            (t := page.evaluate("document.querySelector('.player video').currentTime"))
            > first + 0.5
            and t
        ),
        30,
        "currentTime to advance",
    )
    assert page.evaluate("document.querySelector('.player video').error") is None
    return float(later)


def _ranged_file_requests(daemon: Daemon, name: str) -> list[str]:
    return [
        line for line in daemon.log_text().splitlines()
        if re.search(rf"lixian\.access GET /files/\S+/{re.escape(name)} 206 ", line)
    ]  # fmt: skip


def test_play_a_complete_webm(
    daemon: Daemon, page: Any, fault_server: FaultServer, webm: bytes
) -> None:
    path = fault_server.add_file("/media/clip.webm", webm)
    page.goto(daemon.base)
    _add(page, fault_server.url(path))
    row = page.locator(".row:has(a.name:text-is('clip.webm'))")
    row.locator("xpath=self::*[@data-status='complete']").wait_for(timeout=30_000)
    row.locator("a.name").click()
    page.click(".files-table button:text-is('Play')")
    _plays(page)
    assert _ranged_file_requests(daemon, "clip.webm"), daemon.log_text()[-2000:]
    # the link carries a signed token, never the secret, and works from this page's origin only
    src = page.evaluate("document.querySelector('.player video').currentSrc")
    assert src.startswith(daemon.base + "files/")


def test_play_while_it_downloads(
    daemon: Daemon, page: Any, fault_server: FaultServer, webm: bytes
) -> None:
    path = fault_server.add_file("/media/live.webm", webm)
    rate = max(len(webm) // 20, 16 * 1024)  # one connection alone would take ~20 s
    page.goto(daemon.base)
    _add(page, fault_server.url(path, rate=rate))
    row = page.locator(".row:has(a.name:text-is('live.webm'))")
    row.locator("xpath=self::*[@data-status='active']").wait_for(timeout=30_000)
    gid = daemon.call("lixian.listTasks", {"name": "live.webm"}, None, 0, 1, ["gid"])["tasks"][0][
        "gid"
    ]
    row.locator("a.name").click()
    wait_for(
        lambda: page.locator(".files-table button:text-is('Play')").count(), 30, "a Play button"
    )
    page.click(".files-table button:text-is('Play')")
    _plays(page)
    status = daemon.status(gid, "status", "completedLength", "totalLength")
    assert status["status"] == "active", "the video played only after the download ended"
    assert int(status["completedLength"]) < int(status["totalLength"])
    assert _ranged_file_requests(daemon, "live.webm")
