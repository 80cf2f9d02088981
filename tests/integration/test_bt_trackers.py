"""The "best trackers" list: fetched from a local stand-in (never the internet), cached in the
state dir, refreshed when stale, and never a failure when the list is unreachable."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from lixian.engines.bt.trackers import TrackerList

BODY = "udp://tracker.one:1337/announce\n\nhttp://tracker.two/announce\n\nhttps://three/a\n"


@dataclass
class ListServer:
    url: str = ""
    body: str = BODY
    status: int = 200
    hits: list[dict[str, str]] = field(default_factory=list)
    etag: str = '"v1"'


@pytest.fixture
async def list_server() -> AsyncIterator[ListServer]:
    state = ListServer()

    async def handle(request: web.Request) -> web.Response:
        state.hits.append(dict(request.headers))
        if state.status != 200:
            return web.Response(status=state.status)
        if request.headers.get("If-None-Match") == state.etag:
            return web.Response(status=304)
        return web.Response(text=state.body, headers={"ETag": state.etag})

    app = web.Application()
    app.router.add_get("/best.txt", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/best.txt"
    try:
        yield state
    finally:
        await runner.cleanup()


async def test_fetch_cache_and_reuse(list_server: ListServer, tmp_path: Path) -> None:
    trackers = TrackerList(list_server.url, tmp_path)
    want = ("udp://tracker.one:1337/announce", "http://tracker.two/announce", "https://three/a")
    assert await trackers.get() == want
    assert len(list_server.hits) == 1
    assert await trackers.get() == want  # fresh: no second request
    assert len(list_server.hits) == 1
    saved = json.loads(trackers.path.read_text())
    assert saved["trackers"] == list(want) and saved["url"] == list_server.url
    # A new process (a restart) reads the cache instead of fetching.
    assert await TrackerList(list_server.url, tmp_path).get() == want
    assert len(list_server.hits) == 1


async def test_daily_refresh_is_conditional(list_server: ListServer, tmp_path: Path) -> None:
    trackers = TrackerList(list_server.url, tmp_path, max_age=0.2)
    await trackers.get()
    first = trackers.fetched_at
    await asyncio.sleep(0.3)
    assert len(await trackers.get()) == 3  # stale: asks again, with the ETag
    assert list_server.hits[-1].get("If-None-Match") == '"v1"'
    assert trackers.fetched_at is not None and first is not None and trackers.fetched_at > first
    list_server.body, list_server.etag = "udp://new:1/announce\n", '"v2"'
    assert await trackers.refresh(force=True) == ("udp://new:1/announce",)


async def test_offline_uses_the_cached_copy(list_server: ListServer, tmp_path: Path) -> None:
    await TrackerList(list_server.url, tmp_path).get()
    list_server.status = 503
    stale = TrackerList(list_server.url, tmp_path, max_age=0)
    assert len(await stale.get()) == 3  # the server fails: the old list, no exception
    assert stale.last_error == "ValueError: HTTP 503"


async def test_unreachable_without_cache_is_empty_not_an_error(tmp_path: Path) -> None:
    trackers = TrackerList("http://127.0.0.1:9/best.txt", tmp_path, timeout=2)
    assert await trackers.get() == ()
    assert trackers.last_error is not None


async def test_junk_list_keeps_the_previous_one(list_server: ListServer, tmp_path: Path) -> None:
    trackers = TrackerList(list_server.url, tmp_path)
    await trackers.get()
    list_server.body, list_server.etag = "<html>not a list</html>", '"v3"'
    assert len(await trackers.refresh(force=True)) == 3
    assert "no tracker URL" in (trackers.last_error or "")
