"""Adding, watching, pausing, resuming, retrying and removing downloads from the page."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from e2e.support import Daemon, wait_for
from fixtures.fault_server import FaultServer

MiB = 1 << 20


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_links(page: Any, *links: str, paused: bool = False) -> None:
    page.click(".add-open")
    page.fill(".add-dialog textarea.links", "\n".join(links))
    if paused:
        page.check(".add-dialog input.paused")
    page.click(".add-dialog .add-btn")
    page.wait_for_selector(".add-dialog", state="hidden")


def row(page: Any, name: str) -> Any:
    return page.locator(f".row:has(a.name:text-is('{name}'))")


def only_gid(daemon: Daemon, name: str) -> str:
    page = daemon.call("lixian.listTasks", {"name": name}, None, 0, 10)
    assert page["total"] == 1, page
    return str(page["tasks"][0]["gid"])


def test_add_by_url_and_watch_it_complete(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    size, seed = 4 * MiB, 11
    url = fault_server.url("/web/first.bin", size=size, seed=seed, rate=512 * 1024)
    page.goto(daemon.base)
    add_links(page, url)
    r = row(page, "first.bin")
    r.wait_for()
    # the list follows the download live: active with progress, then complete
    wait_for(lambda: r.get_attribute("data-status") in ("active", "complete"), 20, "active")
    r.locator("xpath=self::*[@data-status='complete']").wait_for(timeout=60_000)
    assert r.locator(".pct").inner_text() == "100%"
    expected = fault_server.expected_sha256(size, seed)
    assert sha256(daemon.dir / "first.bin") == expected

    # its page: the facts, the piece map, and the file's hash computed from the daemon's bytes
    r.locator("a.name").click()
    page.wait_for_selector(".task .badge:text-is('Complete')")
    assert page.locator(".task .facts").inner_text().count("4.00 MiB") >= 1
    assert page.locator("canvas.pieces").count() == 1
    # the daemon's own record (sha256 and integrity verdict), shown on the page...
    facts = page.locator(".task .facts").inner_text()
    assert expected in facts
    assert "Integrity" in facts
    # ...and the same hash computed in the browser from the bytes /files serves
    page.click(".files-table button:text-is('SHA-256')")
    code = page.wait_for_selector(".files-table code.sha256")
    assert code.inner_text() == expected
    page.wait_for_selector(".files-table .hash-check .ok")
    page.click(".section-tabs .tab[data-section=sources]")
    page.wait_for_selector(f".section-body td:text-is('{url}')")
    page.click(".back")
    page.wait_for_selector(".list .row")


def test_pause_and_resume(daemon: Daemon, page: Any, fault_server: FaultServer) -> None:
    size, seed = 2 * MiB, 12
    url = fault_server.url("/web/slow.bin", size=size, seed=seed, rate=96 * 1024)
    page.goto(daemon.base)
    add_links(page, url)
    r = row(page, "slow.bin")
    r.locator("xpath=self::*[@data-status='active']").wait_for()
    gid = only_gid(daemon, "slow.bin")
    r.locator("button.act:text-is('Pause')").click()
    r.locator("xpath=self::*[@data-status='paused']").wait_for()
    assert daemon.status(gid, "status")["status"] == "paused"
    done = int(daemon.status(gid, "completedLength")["completedLength"])
    assert done < size
    r.locator("button.act:text-is('Resume')").click()
    r.locator("xpath=self::*[@data-status='active' or @data-status='complete']").wait_for()
    r.locator("xpath=self::*[@data-status='complete']").wait_for(timeout=60_000)
    assert sha256(daemon.dir / "slow.bin") == fault_server.expected_sha256(size, seed)


def test_select_many_then_pause_resume_and_remove(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    names = [f"many-{i}.bin" for i in range(3)]
    page.goto(daemon.base)
    add_links(
        page,
        *(fault_server.url(f"/web/{n}", size=MiB, seed=i) for i, n in enumerate(names)),
        paused=True,
    )
    for n in names:
        row(page, n).locator("xpath=self::*[@data-status='paused']").wait_for()
    gids = [only_gid(daemon, n) for n in names]
    page.locator(".tab[data-status=paused] .tab-count").filter(has_text="3").wait_for()

    for n in names[:2]:
        row(page, n).locator("input.sel").check()
    page.wait_for_selector(".selbar .sel-label:text-is('2 selected')")
    page.click(".selbar button:text-is('Resume')")
    for n in names[:2]:
        row(page, n).locator("xpath=self::*[@data-status!='paused']").wait_for()
    assert daemon.status(gids[2], "status")["status"] == "paused"  # not selected: untouched
    for gid in gids[:2]:
        daemon.wait_status(gid, "complete")

    page.on("dialog", lambda dialog: dialog.accept())
    page.click(".list .allwrap input.all")  # every task matching the filter
    page.wait_for_selector(".selbar .sel-label:text-is('3 selected')")
    page.click(".selbar button:text-is('Remove')")
    wait_for(
        lambda: daemon.call("lixian.listTasks", None, None, 0, 10)["total"] == 0, 20, "removal"
    )
    page.wait_for_selector(".list .count:text-is('0 tasks')")
    assert page.locator(".row:not([hidden])").count() == 0


def test_an_error_in_plain_words_and_retry(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    url = fault_server.url("/web/flaky.bin", size=MiB, seed=5, status=404, fail_times=1)
    page.goto(daemon.base)
    add_links(page, url)
    r = row(page, "flaky.bin")
    r.locator("xpath=self::*[@data-status='error']").wait_for(timeout=30_000)
    assert "not there" in r.locator(".st").inner_text()
    old = only_gid(daemon, "flaky.bin")

    r.locator("a.name").click()
    page.wait_for_selector(".task .plain-error:has-text('not there (not found)')")
    page.click(".task-actions button:text-is('Retry')")
    # lixian.retry: the same download (GID) runs again, and its page follows it
    page.wait_for_selector(".task .badge:text-is('Complete')", timeout=30_000)
    assert only_gid(daemon, "flaky.bin") == old
    page.click(".back")
    row(page, "flaky.bin").locator("xpath=self::*[@data-status='complete']").wait_for()
    assert sha256(daemon.dir / "flaky.bin") == fault_server.expected_sha256(MiB, 5)


def test_task_options_are_edited_on_its_page(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    page.goto(daemon.base)
    add_links(page, fault_server.url("/web/opt.bin", size=MiB, seed=1), paused=True)
    gid = only_gid(daemon, "opt.bin")
    page.goto(daemon.base + f"#/task/{gid}")
    page.wait_for_selector(".task .badge:text-is('Paused')")
    page.click(".section-tabs .tab[data-section=options]")
    field = page.locator(".options-table input[aria-label='max-download-limit']")
    field.fill("300K")
    page.locator(".options-table tr:has(input[aria-label='max-download-limit']) button").click()
    wait_for(lambda: daemon.call("aria2.getOption", gid)["max-download-limit"] == str(300 * 1024))
    page.click(".task-actions button:text-is('Resume')")
    page.wait_for_selector(".task .badge:text-is('Complete'), .task .badge:text-is('Downloading')")


def test_global_limits_and_speed_chart(daemon: Daemon, page: Any) -> None:
    page.goto(daemon.base + "#/global")
    page.wait_for_selector("canvas.chart")
    page.fill("input.limit-down", "2M")
    page.fill("input.max-concurrent", "3")
    page.click("form.settings button[type=submit]")
    page.wait_for_selector(".toast:has-text('Settings saved')")
    options = daemon.call("aria2.getGlobalOption")
    assert options["max-overall-download-limit"] == str(2 * MiB)
    assert options["max-concurrent-downloads"] == "3"
    page.wait_for_selector(".chart-legend:has-text('keeps 5')")
    assert "Free space" in page.locator(".space").inner_text()


def test_retry_from_the_list_keeps_the_download(
    daemon: Daemon, page: Any, fault_server: FaultServer
) -> None:
    url = fault_server.url("/web/flaky2.bin", size=MiB, seed=6, status=404, fail_times=1)
    page.goto(daemon.base)
    add_links(page, url)
    r = row(page, "flaky2.bin")
    r.locator("xpath=self::*[@data-status='error']").wait_for(timeout=30_000)
    assert "not there" in r.locator(".st").inner_text()
    gid = only_gid(daemon, "flaky2.bin")
    r.locator("button.act:text-is('Retry')").click()
    r.locator("xpath=self::*[@data-status='complete']").wait_for(timeout=30_000)
    assert only_gid(daemon, "flaky2.bin") == gid
    assert sha256(daemon.dir / "flaky2.bin") == fault_server.expected_sha256(MiB, 6)
