"""A torrent with 100,000 files is valid input (issue 5, "Bad input"): it is added, listed a
page at a time through ``lixian.listFiles``, its file selection changes, and building its
whole file list (``getFiles``) does not stop the daemon from answering other calls.

The RPC runs in-process (``Dispatcher`` over a ``Manager`` with a state file); timings are
printed, not asserted: what is asserted is what came back, and that a quick call is answered
while the long one is still being built.
"""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import pytest

from fixtures.swarm import bencode
from lixian.core.manager import Manager
from lixian.rpc import Dispatcher
from lixian.store.db import Store

pytestmark = pytest.mark.timeout(300)

MANY = 100_000


def many_files() -> bytes:
    files = [([f"d{i // 1000:03d}", f"file {i:06d}.bin"], 1000 + i % 7) for i in range(MANY)]
    total = sum(size for _, size in files)
    piece = 4 << 20
    info = {
        "name": "many",
        "piece length": piece,
        "pieces": b"\1" * 20 * -(-total // piece),
        "files": [{"length": size, "path": path} for path, size in files],
    }
    return bencode({"announce": "http://127.0.0.1:9/announce", "info": info})


async def call(d: Dispatcher, method: str, *params: object) -> object:
    answer = await d.handle({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert isinstance(answer, dict) and "result" in answer, answer
    return answer["result"]


async def test_a_100k_file_torrent_pages_and_stays_responsive(tmp_path: Path) -> None:
    data = many_files()
    store = Store(tmp_path / "state.sqlite3")
    try:
        async with Manager({"dir": str(tmp_path / "dl")}, store=store) as manager:
            d = Dispatcher(manager, secret=None, version="1.37.0", session_id="x")
            t0 = time.perf_counter()
            gid = await call(d, "aria2.addTorrent", base64.b64encode(data).decode(), [], {
                "pause": "true"
            })  # fmt: skip
            added = time.perf_counter() - t0
            t0 = time.perf_counter()
            status = await call(d, "aria2.tellStatus", gid, ["status", "totalLength", "bittorrent"])
            told = time.perf_counter() - t0
            assert isinstance(status, dict) and status["status"] == "paused"
            assert status["bittorrent"]["info"] == {"name": "many"}  # type: ignore[index]
            t0 = time.perf_counter()
            page = await call(d, "lixian.listFiles", gid, 99_990, 50)
            paged = time.perf_counter() - t0
            assert isinstance(page, dict) and page["total"] == MANY
            files = page["files"]
            assert [f["index"] for f in files] == [str(i) for i in range(99_991, 100_001)]
            assert files[-1]["path"] == str(tmp_path / "dl" / "many/d099/file 099999.bin")
            await call(d, "aria2.changeOption", gid, {"select-file": "5,99999-100000"})
            status = await call(d, "aria2.tellStatus", gid, ["totalLength"])
            assert status == {
                "totalLength": str(1000 + 4 % 7 + 1000 + 99998 % 7 + 1000 + 99999 % 7)
            }
            page = await call(d, "lixian.listFiles", gid, 3, 3)
            assert [f["selected"] for f in page["files"]] == ["false", "true", "false"]  # type: ignore[index]

            t0 = time.perf_counter()
            whole = asyncio.create_task(call(d, "aria2.getFiles", gid))
            await asyncio.sleep(0)  # it has started: its file list is being shaped
            stat = await call(d, "aria2.getGlobalStat")
            answered_meanwhile = not whole.done()
            got = await whole
            listed = time.perf_counter() - t0
            assert isinstance(stat, dict) and stat["numWaiting"] == "1"
            assert isinstance(got, list) and len(got) == MANY
            assert answered_meanwhile  # the daemon answered while 100,000 rows were built
            print(
                f"100k files: addTorrent {added:.2f}s, tellStatus (3 keys) {told * 1000:.1f}ms, "
                f"listFiles page {paged * 1000:.1f}ms, getFiles {listed:.2f}s"
            )
    finally:
        store.close()
