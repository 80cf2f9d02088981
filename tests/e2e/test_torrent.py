"""A .torrent added from the page, and its files selected on the task's page.

The torrent is added paused (its tracker is a dead port): its files are listed from the
torrent itself through ``lixian.listFiles``, and the selection goes back as ``select-file``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from e2e.support import Daemon, wait_for

PIECE = 16 * 1024


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(value)


def multi_file_torrent(files: dict[str, bytes]) -> bytes:
    blob = b"".join(files.values())
    pieces = b"".join(
        hashlib.sha1(blob[i : i + PIECE]).digest() for i in range(0, len(blob), PIECE)
    )
    info = {
        "name": "album",
        "piece length": PIECE,
        "pieces": pieces,
        "files": [{"length": len(data), "path": [name]} for name, data in files.items()],
    }
    return bencode({"announce": "http://127.0.0.1:9/announce", "info": info})


def test_select_files_of_a_torrent(daemon: Daemon, page: Any, tmp_path: Path) -> None:
    files = {f"track-{i}.ogg": bytes([i]) * (40_000 + i) for i in range(1, 4)}
    torrent = tmp_path / "album.torrent"
    torrent.write_bytes(multi_file_torrent(files))
    page.goto(daemon.base)
    page.click(".add-open")
    page.click(".add-dialog .tab[data-tab=torrent]")
    page.set_input_files(".add-dialog input.torrent-input", str(torrent))
    page.wait_for_selector(".torrent-list li:has-text('album.torrent')")
    page.check(".add-dialog input.paused")
    page.click(".add-dialog .add-btn")
    refused = page.locator(".add-status .errors li")
    page.wait_for_selector(".add-dialog:not([open]), .add-status .errors li", state="attached")
    assert not refused.count(), refused.inner_text()
    listed = wait_for(lambda: daemon.call("lixian.listTasks", None, None, 0, 10, ["gid"])["tasks"])
    gid = listed[0]["gid"]
    page.goto(daemon.base + f"#/task/{gid}")
    table = page.locator(".files-table")
    table.locator("tbody tr").nth(2).wait_for()
    assert table.locator("tbody tr").count() == 3
    table.locator("tr[data-index='2'] input[type=checkbox]").uncheck()
    page.click(".apply button:text-is('Apply selection')")
    page.wait_for_selector(".toast:has-text('Downloading 2 files')")
    wait_for(lambda: daemon.call("aria2.getOption", gid).get("select-file") == "1,3")
    selected = [f["selected"] for f in daemon.call("aria2.getFiles", gid)]
    assert selected == ["true", "false", "true"]
