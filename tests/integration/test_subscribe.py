"""``lixian.subscribe`` end to end: a real ``lixian serve``, aiohttp's WebSocket client.

What is proved: the token is required (and a WebSocket: over POST the call fails
saying so); a subscribed socket first gets its whole view, then only what changed
while a download against the fault server (``rate`` knob) progresses, until applying
every push to a local copy gives exactly what ``tellStatus`` reports; a page of a
large queue follows ``lixian.listTasks``'s page as tasks leave it; a socket that did
not subscribe (or tried without the token) gets aria2's notifications and never a
``lixian.onTaskDiff``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    Daemon,
    RpcFailure,
    Serve,
    post,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
    sha256,
)

from fixtures.fault_server import FaultServer

SECRET = "sub-secret"
JSON = {"Content-Type": "application/json"}
DIFF = "lixian.onTaskDiff"
ARIA2_NOTIFICATIONS = {
    "aria2.onDownloadStart",
    "aria2.onDownloadPause",
    "aria2.onDownloadStop",
    "aria2.onDownloadComplete",
    "aria2.onDownloadError",
    "aria2.onBtDownloadComplete",
}
GLOBAL_STAT_KEYS = {
    "downloadSpeed",
    "uploadSpeed",
    "numActive",
    "numWaiting",
    "numStopped",
    "numStoppedTotal",
}
STATES = ("waiting", "active", "paused", "error", "complete", "removed")
RECEIVE_TIMEOUT = 30.0


class Socket:
    """One WebSocket to the daemon: calls answered by id, pushes kept in arrival order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, secret: str | None) -> None:
        self.ws = ws
        self.secret = secret
        self.pushes: list[dict[str, Any]] = []  # not yet taken by next_push
        self.seen: list[str] = []  # every notification's method, in order
        self._ids = 0

    async def _receive(self, within: float = RECEIVE_TIMEOUT) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.receive(), within)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        value = json.loads(message.data)
        assert isinstance(value, dict)
        if "method" in value and "id" not in value:
            self.seen.append(value["method"])
            self.pushes.append(value)
        return value

    async def request(self, method: str, *params: object, token: str | None = "") -> Any:
        """The whole response object; ``token=""`` sends the right one, None none."""
        if token == "":
            token = f"token:{self.secret}" if self.secret else None
        self._ids += 1
        ident = self._ids
        body = {"jsonrpc": "2.0", "id": ident, "method": method, "params": list(params)}
        if token is not None:
            body["params"] = [token, *params]
        await self.ws.send_str(json.dumps(body))
        while True:
            answer = await self._receive()
            if answer.get("id") == ident:
                return answer

    async def call(self, method: str, *params: object) -> Any:
        answer = await self.request(method, *params)
        assert "result" in answer, answer
        return answer["result"]

    async def next_push(self, method: str = DIFF, within: float = RECEIVE_TIMEOUT) -> Any:
        """The next notification named ``method`` (others are kept in ``seen``)."""
        deadline = time.monotonic() + within
        while True:
            for i, push in enumerate(self.pushes):
                if push["method"] == method:
                    del self.pushes[i]
                    return push["params"][0]
            await self._receive(max(0.01, deadline - time.monotonic()))

    async def quiet_for(self, seconds: float, method: str = DIFF) -> bool:
        """True when no ``method`` push arrives for ``seconds``."""
        try:
            await self.next_push(method, within=seconds)
        except TimeoutError:
            return True
        return False


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def connect(
    session: aiohttp.ClientSession, daemon: Daemon, secret: str | None = SECRET
) -> Socket:
    return Socket(await session.ws_connect(daemon.url), secret)


def apply(model: dict[str, dict[str, Any]], diff: dict[str, Any]) -> None:
    """A client's copy of its view, after one push."""
    if diff.get("full"):
        model.clear()
    for entry in diff["changed"]:
        task = model.setdefault(entry["gid"], {})
        for key, value in entry.items():
            if value is None:
                task.pop(key, None)
            else:
                task[key] = value
    for gid in diff["removed"]:
        del model[gid]
    if "order" in diff:
        assert set(diff["order"]) == set(model)


def status_as_pushed(daemon: Daemon, gid: str, name: str) -> dict[str, Any]:
    """What a subscriber's copy of a task must equal: tellStatus without files, + name."""
    info = daemon.call("aria2.tellStatus", gid)
    assert isinstance(info, dict)
    info.pop("files")
    return {**info, "name": name}


def add_paused(daemon: Daemon, count: int) -> list[str]:
    calls = [
        {
            "methodName": "aria2.addUri",
            "params": [f"token:{SECRET}", [f"http://127.0.0.1:9/f{i:03}.iso"], {"pause": "true"}],
        }
        for i in range(count)
    ]
    results = daemon.call("system.multicall", calls)
    assert isinstance(results, list)
    return [r[0] for r in results]


def list_page(daemon: Daemon, status: str, sort: str, offset: int, limit: int) -> list[str]:
    page = daemon.call("lixian.listTasks", {"status": status}, sort, offset, limit, ["gid"])
    assert isinstance(page, dict)
    return [t["gid"] for t in page["tasks"]]


# ---- who may subscribe ----


async def test_subscribe_needs_the_token_and_a_websocket(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    daemon = serve.start(secret=SECRET)
    (gid,) = add_paused(daemon, 1)
    sock = await connect(session, daemon)
    unauthorized = {"code": 1, "message": "Unauthorized"}
    assert (await sock.request("lixian.subscribe", {}, token=None))["error"] == unauthorized
    answer = await sock.request("lixian.subscribe", {}, token="token:wrong")
    assert answer["error"] == unauthorized
    # Something changes: the socket hears aria2's notification, and no diff.
    daemon.call("aria2.remove", gid)
    assert await sock.next_push("aria2.onDownloadStop") == {"gid": gid}
    assert await sock.quiet_for(1.5)
    assert DIFF not in sock.seen

    for method in ("lixian.subscribe", "lixian.unsubscribe"):
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": [f"token:{SECRET}"]}
        status, _, raw = post(daemon.url, json.dumps(body).encode(), JSON)
        assert status == 400
        error = json.loads(raw)["error"]
        assert error["code"] == 1
        assert error["message"].startswith(f"{method} works over the WebSocket only")
        with pytest.raises(RpcFailure) as failure:  # and the token is checked first
            daemon.call(method, token=False)
        assert failure.value.message == "Unauthorized"
    await sock.ws.close()


async def test_bad_views_get_aria2_shaped_errors(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    daemon = serve.start(secret=SECRET)
    (gid,) = add_paused(daemon, 1)
    sock = await connect(session, daemon)
    cases = [
        ({"status": "bogus"}, "Unknown status: bogus"),
        ({"limit": 5000}, "view.limit must be at most 1000"),
        ({"offset": -1}, "view.offset must be a whole number >= 0"),
        ({"sort": "colour"}, "Unknown sort: colour"),
        ({"colour": "red"}, "Unknown view key: colour"),
        ({"gids": ["zz"]}, "Invalid GID zz"),
        ({"gids": ["0123456789abcdef"]}, "GID 0123456789abcdef is not found"),
        ({"gids": [gid], "status": "paused"}, "view.gids cannot be combined"),
        ("paused", "The parameter at 0 has wrong type."),
    ]
    for view, message in cases:
        answer = await sock.request("lixian.subscribe", view)
        assert answer["error"]["code"] == 1
        assert answer["error"]["message"].startswith(message), (view, answer)
    assert await sock.quiet_for(1.0)  # a failed subscribe registers nothing
    await sock.ws.close()


# ---- what a subscriber receives ----


async def test_whole_view_first_then_only_what_changed(
    serve: Serve, session: aiohttp.ClientSession, fault_server: FaultServer
) -> None:
    daemon = serve.start(secret=SECRET)
    (paused,) = add_paused(daemon, 1)
    size = 1_500_000
    url = fault_server.url("/diff.bin", size=size, seed=21, rate=400_000)
    sock = await connect(session, daemon)
    assert await sock.call("lixian.subscribe", {"limit": 50}) == "OK"
    assert sock.pushes == []  # the answer comes before the first push

    first = await sock.next_push()
    assert first["full"] is True
    assert first["removed"] == []
    assert first["order"] == [paused]
    assert first["total"] == 1
    assert first["counts"] == {s: int(s == "paused") for s in STATES}
    assert set(first["stats"]) == GLOBAL_STAT_KEYS
    assert first["changed"] == [status_as_pushed(daemon, paused, "f000.iso")]
    model: dict[str, dict[str, Any]] = {}
    apply(model, first)
    stats = dict(first["stats"])

    started = time.monotonic()
    gid = await sock.call("aria2.addUri", [url])
    progress: list[int] = []
    pushes = 0
    while model.get(gid, {}).get("status") != "complete":
        diff = await sock.next_push()
        pushes += 1
        assert "full" not in diff
        assert diff["changed"] or diff["removed"] or diff["stats"] or "counts" in diff
        for entry in diff["changed"]:
            before = model.get(entry["gid"])
            if before is not None:  # only the fields that changed, and the gid
                assert all(before.get(k) != v for k, v in entry.items() if k != "gid"), entry
        apply(model, diff)
        stats.update(diff["stats"])
        if gid in model:
            progress.append(int(model[gid]["completedLength"]))
        assert time.monotonic() - started < 60
    elapsed = time.monotonic() - started
    assert progress == sorted(progress)
    assert len(set(progress)) >= 3, progress  # progress arrived in several pushes
    assert pushes <= elapsed / 0.45 + 3  # coalesced: about one push per 0.5 s at most

    assert model == {
        paused: status_as_pushed(daemon, paused, "f000.iso"),
        gid: status_as_pushed(daemon, gid, "diff.bin"),
    }
    # Nothing moves any more: the pushes stop (after at most a last stats update).
    for _ in range(10):
        if await sock.quiet_for(1.5):
            break
    else:
        raise AssertionError("diffs kept coming with nothing changing")
    assert sha256(Path(daemon.call("aria2.getFiles", gid)[0]["path"])) == (  # type: ignore[index]
        fault_server.expected_sha256(size, 21)
    )
    assert DIFF in sock.seen
    assert {"aria2.onDownloadStart", "aria2.onDownloadComplete"} <= set(sock.seen)

    # The page can play the file through a link it got on the same socket.
    link = await sock.call("lixian.fileUrl", gid, 1)
    async with session.get(daemon.base + link["url"], headers={"Range": "bytes=10-19"}) as r:
        assert r.status == 206
        assert await r.read() == fault_server.expected(size, 21)[10:20]
    await sock.ws.close()


async def test_only_subscribed_sockets_get_diffs(
    serve: Serve, session: aiohttp.ClientSession, fault_server: FaultServer
) -> None:
    daemon = serve.start(secret=SECRET)
    subscribed = await connect(session, daemon)
    plain = await connect(session, daemon)
    tokenless = await connect(session, daemon)
    assert await subscribed.call("lixian.subscribe") == "OK"
    assert "error" in await tokenless.request("lixian.subscribe", token=None)
    await subscribed.next_push()  # the (empty) whole view

    size = 400_000
    gid = daemon.call("aria2.addUri", [fault_server.url("/n.bin", size=size, seed=4, rate=300_000)])
    for sock in (subscribed, plain, tokenless):  # aria2's notifications go to every socket
        assert await sock.next_push("aria2.onDownloadStart") == {"gid": gid}
        assert await sock.next_push("aria2.onDownloadComplete") == {"gid": gid}
    model: dict[str, dict[str, Any]] = {}
    while model.get(gid, {}).get("status") != "complete":
        apply(model, await subscribed.next_push())
    assert await plain.quiet_for(1.2)
    assert await tokenless.quiet_for(0.1)
    for sock in (plain, tokenless):
        assert set(sock.seen) == {"aria2.onDownloadStart", "aria2.onDownloadComplete"}
    for sock in (subscribed, plain, tokenless):
        await sock.ws.close()


async def test_a_page_of_a_large_queue_follows_list_tasks(
    serve: Serve, session: aiohttp.ClientSession
) -> None:
    daemon = serve.start(secret=SECRET)
    gids = add_paused(daemon, 300)
    sock = await connect(session, daemon)
    view = {"status": ["paused"], "sort": "-name", "offset": 10, "limit": 20}
    assert await sock.call("lixian.subscribe", {**view, "keys": ["status", "totalLength"]}) == "OK"
    first = await sock.next_push()
    page = list_page(daemon, "paused", "-name", 10, 20)
    assert first["order"] == page
    assert first["total"] == 300
    assert first["counts"]["paused"] == 300
    assert [e["gid"] for e in first["changed"]] == page
    assert all(set(e) == {"gid", "status", "totalLength"} for e in first["changed"])
    model: dict[str, dict[str, Any]] = {}
    apply(model, first)

    # A task on the page goes: it leaves, the next one comes in whole, the page shifts.
    leaving = page[0]
    daemon.call("aria2.remove", leaving)
    assert await sock.next_push("aria2.onDownloadStop") == {"gid": leaving}
    diff = await sock.next_push()
    new_page = list_page(daemon, "paused", "-name", 10, 20)
    assert diff["removed"] == [leaving]
    assert diff["order"] == new_page
    assert diff["total"] == 299
    assert diff["counts"]["paused"] == 299
    (newcomer,) = [g for g in new_page if g not in page]
    assert diff["changed"] == [{"gid": newcomer, "status": "paused", "totalLength": "0"}]
    apply(model, diff)
    assert list(model) == sorted(model, key=new_page.index)

    # One before the page goes: everything shifts by one; unchanged tasks are not resent.
    before = list_page(daemon, "paused", "-name", 0, 1)[0]
    daemon.call("aria2.remove", before)
    assert await sock.next_push("aria2.onDownloadStop") == {"gid": before}
    diff = await sock.next_push()
    assert diff["removed"] == [new_page[0]]
    assert diff["order"] == list_page(daemon, "paused", "-name", 10, 20)
    assert [e["gid"] for e in diff["changed"]] == [diff["order"][-1]]

    # An explicit list of tasks replaces the view, and comes whole.
    chosen = [gids[100], gids[5]]
    assert await sock.call("lixian.subscribe", {"gids": [g[:8] for g in chosen]}) == "OK"
    diff = await sock.next_push()
    assert diff["full"] is True
    assert diff["order"] == chosen
    assert diff["total"] == 2
    assert [e["gid"] for e in diff["changed"]] == chosen
    assert diff["changed"][0]["name"] == "f100.iso"

    assert await sock.call("lixian.unsubscribe") == "OK"
    daemon.call("aria2.remove", chosen[0])
    assert await sock.next_push("aria2.onDownloadStop") == {"gid": chosen[0]}
    assert await sock.quiet_for(1.5)
    await sock.ws.close()
