"""The aria2 method table, driven through ``Dispatcher.handle`` over a real Manager.

Every expected message and offset rule here was read off the real aria2c 1.37
(tests/integration/test_rpc_differential.py keeps checking that); nothing is mocked:
tasks are added paused so nothing downloads unless a test says so, and then they
download from the fault server on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.fault_server import FaultServer
from lixian.core.manager import Manager
from lixian.options import resolve
from lixian.rpc import (
    NOTIFICATIONS,
    Dispatcher,
    RpcError,
    http_status,
    is_unauthorized,
    notification,
)
from lixian.store.db import Store

SECRET = "S3cret"
TOKEN = f"token:{SECRET}"
ARIA2_METHODS = [
    "aria2.addUri", "aria2.addTorrent", "aria2.getPeers", "aria2.addMetalink", "aria2.remove",
    "aria2.pause", "aria2.forcePause", "aria2.pauseAll", "aria2.forcePauseAll", "aria2.unpause",
    "aria2.unpauseAll", "aria2.forceRemove", "aria2.changePosition", "aria2.tellStatus",
    "aria2.getUris", "aria2.getFiles", "aria2.getServers", "aria2.tellActive", "aria2.tellWaiting",
    "aria2.tellStopped", "aria2.getOption", "aria2.changeUri", "aria2.changeOption",
    "aria2.getGlobalOption", "aria2.changeGlobalOption", "aria2.purgeDownloadResult",
    "aria2.removeDownloadResult", "aria2.getVersion", "aria2.getSessionInfo", "aria2.shutdown",
    "aria2.forceShutdown", "aria2.getGlobalStat", "aria2.saveSession", "system.multicall",
    "system.listMethods", "system.listNotifications",
]  # fmt: skip
RPC_SERVER_OPTIONS = [
    "enable-rpc", "rpc-listen-port", "rpc-listen-all", "rpc-allow-origin-all",
    "rpc-max-request-size", "max-download-result", "save-session", "save-session-interval",
    "daemon",
]  # fmt: skip
DEAD = "http://127.0.0.1:9/"  # nothing listens there; paused tasks never try it
BAD = "We encountered a problem while processing the option '--{}'."
HOOK = "The option '--{}' cannot be set over RPC."
OUTSIDE = "--{} is outside the download directory"  # what the test's confine says


class Rpc:
    """Calls through ``handle`` with a token, as a client would."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.requests = 0

    async def raw(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.requests += 1
        request = {"jsonrpc": "2.0", "id": self.requests, "method": method, "params": params}
        response = await self.d.handle(request)
        assert isinstance(response, dict)
        assert response["id"] == self.requests and response["jsonrpc"] == "2.0"
        return response

    async def __call__(self, method: str, *params: Any) -> Any:
        response = await self.raw(method, [TOKEN, *params])
        if "error" in response:
            raise RpcError(response["error"]["message"], response["error"]["code"])
        return response["result"]

    async def error(self, method: str, *params: Any) -> str:
        response = await self.raw(method, [TOKEN, *params])
        assert "result" not in response, response
        assert response["error"]["code"] == 1
        message = response["error"]["message"]
        assert isinstance(message, str)
        return message

    async def add(self, n: int = 1, **options: str) -> list[str]:
        opts = {"pause": "true", **options}
        return [await self("aria2.addUri", [f"{DEAD}f{i}"], opts) for i in range(n)]

    async def fail(self, n: int = 1, uri: str = f"{DEAD}e") -> list[str]:
        """Stopped results, the way aria2c makes them: downloads that fail at once (a
        refused connection, one try). One at a time, so they stop in this order. A
        removed paused task makes none: aria2 forgets it."""
        manager = self.d.manager
        gids = []
        for i in range(n):
            gid = await self("aria2.addUri", [f"{uri}{i}" if n > 1 else uri], {"max-tries": "1"})
            for _ in range(500):
                if gid in manager.stopped_gids():
                    break
                await asyncio.sleep(0.01)
            assert manager.views[gid].task.state.value == "error"
            gids.append(gid)
        return gids


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    async with Manager({"dir": str(tmp_path), "max-concurrent-downloads": 1}) as m:
        yield m


@pytest.fixture
async def running(manager: Manager) -> AsyncIterator[Manager]:
    """The manager's scheduler, for tests whose tasks really run."""
    serving = asyncio.create_task(manager.serve())
    yield manager
    await manager.stop()
    await serving


@pytest.fixture
def confined() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def dispatcher(manager: Manager, confined: list[tuple[str, str]]) -> Dispatcher:
    def confine(name: str, value: str) -> str:
        confined.append((name, value))
        if ".." in value:
            raise RpcError(f"--{name}={value} is outside the download directory")
        return value

    return Dispatcher(manager, secret=SECRET, version="1.37.0", session_id="ab" * 20,
                      confine=confine)  # fmt: skip


@pytest.fixture
def rpc(dispatcher: Dispatcher) -> Rpc:
    return Rpc(dispatcher)


# ---- the table and the envelope ----


def test_the_table_holds_every_aria2_method_in_aria2s_order(dispatcher: Dispatcher) -> None:
    names = list(dispatcher.methods)
    assert names[: len(ARIA2_METHODS)] == ARIA2_METHODS
    assert {"lixian.version", "lixian.listTasks", "lixian.listFiles"} <= set(names)
    assert all(m.name == n for n, m in dispatcher.methods.items())
    tokenless = {n for n, m in dispatcher.methods.items() if not m.needs_token}
    assert tokenless == {"system.multicall", "system.listMethods", "system.listNotifications"}


async def test_list_methods_and_notifications(rpc: Rpc, dispatcher: Dispatcher) -> None:
    assert await rpc("system.listMethods") == list(dispatcher.methods)
    assert await rpc("system.listNotifications") == [
        "aria2.onDownloadStart", "aria2.onDownloadPause", "aria2.onDownloadStop",
        "aria2.onDownloadComplete", "aria2.onDownloadError", "aria2.onBtDownloadComplete",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "code", "rid"),
    [
        ({"jsonrpc": "2.0", "method": "aria2.getVersion", "params": [TOKEN]}, -32600, None),
        ({}, -32600, None),
        ({"id": 7}, -32600, 7),
        ({"id": 7, "method": 5}, -32600, 7),
        ({"id": 7, "method": "aria2.getVersion", "params": TOKEN}, -32602, 7),
        ({"id": 7, "method": "aria2.getVersion", "params": None}, -32602, 7),
        ({"id": 7, "method": "aria2.getVersion", "params": {}}, -32602, 7),
    ],
)
async def test_malformed_requests_get_jsonrpc_codes(
    dispatcher: Dispatcher, request_: dict[str, Any], code: int, rid: object
) -> None:
    response = await dispatcher.handle(request_)
    assert isinstance(response, dict)
    assert response["id"] == rid
    assert response["error"]["code"] == code
    assert http_status(response) == (400 if code == -32600 else 500)


async def test_envelope_details(dispatcher: Dispatcher) -> None:
    assert await dispatcher.handle([]) == []
    assert await dispatcher.handle(5) == {
        "id": None, "jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request."},
    }  # fmt: skip
    ok = {"id": 1.9, "method": "aria2.getSessionInfo", "params": [TOKEN]}
    batch = await dispatcher.handle([ok, 1, "x", {}, {"id": "b", "method": "nosuch"}])
    assert isinstance(batch, list) and len(batch) == 3  # non-objects are skipped
    assert batch[0] == {"id": 1, "jsonrpc": "2.0", "result": {"sessionId": "ab" * 20}}
    assert batch[1]["error"]["code"] == -32600
    assert batch[2]["error"] == {"code": 1, "message": "Unauthorized"}
    assert http_status(batch) == 200 and is_unauthorized(batch)
    listed = await dispatcher.handle({"id": [1], "method": "system.listMethods"})
    assert isinstance(listed, dict) and listed["id"] == [1] and http_status(listed) == 200


# ---- tokens ----


async def test_token_rules(rpc: Rpc, dispatcher: Dispatcher) -> None:
    for params in ([], ["token:wrong"], ["token:"], [SECRET]):
        response = await rpc.raw("aria2.getVersion", params)
        assert response["error"] == {"code": 1, "message": "Unauthorized"}
        assert is_unauthorized(response) and http_status(response) == 400
    assert dispatcher.unauthorized_delay() > 0
    # The token is checked before the method is looked up, as aria2 does.
    assert (await rpc.raw("nosuch", []))["error"]["message"] == "Unauthorized"
    assert await rpc.error("nosuch") == "No such method: nosuch"
    assert await rpc.error("") == "No such method: "
    # These two need no token and ignore a wrong one.
    for name in ("system.listMethods", "system.listNotifications"):
        assert "result" in await rpc.raw(name, ["token:wrong", 5])
    # Parameter indices count after the token.
    assert await rpc.error("aria2.tellStatus") == "The parameter at 0 is required but missing."


async def test_multicall_tokens_and_errors(rpc: Rpc) -> None:
    calls = [
        {"methodName": "aria2.getSessionInfo", "params": [TOKEN]},
        {"methodName": "aria2.getSessionInfo"},
        {"methodName": "aria2.getSessionInfo", "params": ["token:bad"]},
        {"methodName": "system.multicall", "params": [[]]},
        5,
        {"params": []},
        {"methodName": "nosuch", "params": [TOKEN]},
        {"methodName": "aria2.tellStatus", "params": [TOKEN, "zz"]},
        {"methodName": "system.listMethods"},
        {"methodName": "aria2.getSessionInfo", "params": TOKEN},
    ]
    response = await rpc.raw("system.multicall", [calls])
    results = response["result"]
    assert results[0] == [{"sessionId": "ab" * 20}]
    assert [r.get("message") if isinstance(r, dict) else "ok" for r in results[1:]] == [
        "Unauthorized", "Unauthorized", "Recursive system.multicall forbidden.",
        "system.multicall expected struct.", "Missing methodName.", "No such method: nosuch",
        "Invalid GID zz", "ok", "Unauthorized",
    ]  # fmt: skip
    assert is_unauthorized(response)
    # multicall itself takes no token, so a leading one is a (wrong) parameter.
    assert await rpc.error("system.multicall", []) == "The parameter at 0 has wrong type."
    assert (await rpc.raw("system.multicall", [[]]))["result"] == []
    assert await rpc.error("system.multicall") == "The parameter at 0 has wrong type."


async def test_without_a_secret_any_token_passes_and_is_stripped(manager: Manager) -> None:
    d = Dispatcher(manager, secret=None, version="1.37.0", session_id="x")
    for params in ([], ["token:anything"], ["token:"]):
        response = await d.handle({"id": 1, "method": "aria2.tellActive", "params": params})
        assert response == {"id": 1, "jsonrpc": "2.0", "result": []}
    wrong = await d.handle({"id": 1, "method": "aria2.tellActive", "params": ["tokenx"]})
    assert isinstance(wrong, dict)
    assert wrong["error"]["message"] == "The parameter at 0 has wrong type."
    assert await d.call("aria2.getSessionInfo", []) == {"sessionId": "x"}
    with pytest.raises(RpcError, match="No such method: x"):
        await d.call("x", [])


# ---- durability ----


class CountingManager(Manager):
    """A real Manager that counts how often the door waits for the state file."""

    barriers = 0

    async def barrier(self) -> None:
        self.barriers += 1
        await super().barrier()


async def test_an_answer_comes_after_its_changes_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"

    def committed() -> set[str]:  # another connection sees committed rows only
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return {gid for (gid,) in conn.execute("SELECT gid FROM tasks")}

    store = Store(path)
    try:
        async with CountingManager({"dir": str(tmp_path)}, store=store) as manager:
            d = Dispatcher(manager, secret=None, version="1.37.0", session_id="x")
            calls = [
                {"methodName": "aria2.addUri", "params": [[f"{DEAD}{i}"], {"pause": "true"}]}
                for i in range(500)
            ]
            response = await d.handle({"id": 1, "method": "system.multicall", "params": [calls]})
            assert isinstance(response, dict)
            gids = [result[0] for result in response["result"]]
            assert committed() == set(gids)
            assert manager.barriers == 1  # once per request, not once per nested call
            batch = [
                {"id": i, "method": "aria2.addUri", "params": [[DEAD], {"pause": "true"}]}
                for i in range(3)
            ]
            answers = await d.handle(batch)
            assert isinstance(answers, list)
            assert {a["result"] for a in answers} <= committed()
            assert manager.barriers == 2
            gid = await d.call("aria2.addUri", [[DEAD], {"pause": "true"}])  # XML-RPC's door
            assert gid in committed() and manager.barriers == 3
            await d.call("aria2.remove", [gid])
            assert gid not in committed()
            with pytest.raises(RpcError):
                await d.call("aria2.tellStatus", [gid])
            assert manager.barriers == 5  # a failed call waits too: it may have changed things
    finally:
        store.close()


# ---- adding ----


async def test_add_uri_options_gid_pause_position(rpc: Rpc, manager: Manager) -> None:
    first = await rpc.add(2)
    gid = await rpc(
        "aria2.addUri",
        [f"{DEAD}a", "notauri", f"{DEAD}b", 5],
        {"gid": "0123456789ABCDEF", "pause": "true", "split": "3", "header": ["A: 1", "B: 2"],
         "nosuch": "1", "max-concurrent-downloads": "9", "out": ["ignored"], "max-tries": 4},
        1,
    )  # fmt: skip
    assert gid == "0123456789abcdef"
    assert manager.queue_gids() == [first[0], gid, first[1]]
    assert [u["uri"] for u in await rpc("aria2.getUris", gid)] == [f"{DEAD}a", f"{DEAD}b"]
    opts = await rpc("aria2.getOption", gid)
    assert opts["split"] == "3" and opts["header"] == "A: 1\nB: 2\n"
    assert opts["max-tries"] == "5"  # not a string: skipped, as aria2 does
    assert "out" not in opts and "nosuch" not in opts and "max-concurrent-downloads" not in opts
    glob = await rpc("aria2.getGlobalOption")
    assert glob["max-concurrent-downloads"] == "1"
    one = await rpc("aria2.addUri", [f"{DEAD}c"], {"header": "X: 1\nY: 2", "pause": "true"})
    assert (await rpc("aria2.getOption", one))["header"] == "X: 1\nY: 2\n"
    unpaused = await rpc("aria2.addUri", [f"{DEAD}d"], {"pause": "false"}, 0)
    assert (await rpc("aria2.tellStatus", unpaused, ["status"])) == {"status": "waiting"}
    assert manager.queue_gids()[0] == unpaused


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([[]], "URI is not provided."),
        ([[1, None]], "URI is not provided."),
        ([["notauri", "/etc/passwd", "file:///etc/passwd", "http://"]], "No URI to download."),
        ([[DEAD], {"gid": "xyz"}], "No URI to download."),
        ([[DEAD], {"gid": "0000000000000000"}], "No URI to download."),
        ([[DEAD], {}, -1], "Position must be greater than or equal to 0."),
        ([[DEAD], {}, "1"], "The parameter at 2 has wrong type."),
        ([[DEAD], None], "The parameter at 1 has wrong type."),
        ([DEAD], "The parameter at 0 has wrong type."),
        ([], "The parameter at 0 is required but missing."),
        ([[DEAD], {"split": "abc"}], BAD.format("split")),
        ([[DEAD], {"split": "0"}], BAD.format("split")),
        ([[DEAD], {"pause": "maybe"}], BAD.format("pause")),
        ([[DEAD], {"checksum": "sha-1=abc"}], BAD.format("checksum")),
        ([[DEAD], {"on-download-complete": "/bin/sh"}], HOOK.format("on-download-complete")),
        ([[DEAD], {"dir": "../../etc"}], OUTSIDE.format("dir=../../etc")),
        ([[DEAD], {"index-out": ["1=../x"]}], OUTSIDE.format("index-out=1=../x")),
    ],
)  # fmt: skip
async def test_add_uri_refusals(
    rpc: Rpc, manager: Manager, params: list[Any], message: str
) -> None:
    assert await rpc.error("aria2.addUri", *params) == message
    assert manager.queue_gids() == []


async def test_add_uri_duplicate_gid_and_other_adders(rpc: Rpc) -> None:
    gid = "00000000000000aa"
    assert await rpc("aria2.addUri", [DEAD], {"gid": gid, "pause": "true"}) == gid
    assert await rpc.error("aria2.addUri", [DEAD], {"gid": gid}) == "No URI to download."
    refused = await rpc.error("aria2.addTorrent", "ZGF0YQ==")  # "data": not bencode (25)
    assert refused.startswith("not a torrent file")
    assert await rpc.error("aria2.addMetalink", "ZGF0YQ==") == "Metalink is not supported yet."
    assert await rpc.error("aria2.addTorrent") == "The parameter at 0 is required but missing."


async def test_path_options_go_through_confine(rpc: Rpc, confined: list[tuple[str, str]]) -> None:
    await rpc("aria2.addUri", [DEAD], {"pause": "true", "dir": "sub", "out": "a.bin"})
    await rpc("aria2.changeGlobalOption", {"log": "x.log", "save-session": "s.txt"})
    await rpc("aria2.changeGlobalOption", {"save-cookies": "c.txt", "dht-file-path": "d"})
    names = [name for name, _ in confined]
    assert names[:2] in (["dir", "out"], ["out", "dir"])
    assert {"log", "save-session", "save-cookies", "dht-file-path"} <= set(names)


# ---- GIDs ----


async def test_gid_prefixes(rpc: Rpc) -> None:
    a = await rpc("aria2.addUri", [DEAD], {"gid": "abcdef0123456789", "pause": "true"})
    await rpc("aria2.addUri", [DEAD], {"gid": "abcdef0123456788", "pause": "true"})
    assert (await rpc("aria2.tellStatus", "ABCDEF0123456789", ["gid"])) == {"gid": a}
    assert (await rpc("aria2.unpause", "ABCDEF0123456789")) == a  # answers the full GID
    message = await rpc.error("aria2.tellStatus", "abcdef012345678", ["gid"])
    assert message == "GID abcdef012345678 is not unique"
    for text, message in [
        ("abcdef01234567890", "Invalid GID abcdef01234567890"),
        ("", "Invalid GID "),
        ("zz", "Invalid GID zz"),
        ("ffff", "GID ffff is not found"),
        ("ffffffffffffffff", "GID ffffffffffffffff is not found"),
        ("a", "GID a is not unique"),
    ]:
        assert await rpc.error("aria2.tellStatus", text) == message
    await rpc("aria2.addUri", [DEAD], {"gid": "1234000000000000", "pause": "true"})
    assert await rpc("aria2.tellStatus", "1234", ["gid"]) == {"gid": "1234000000000000"}


# Every method that takes a GID first, with valid other parameters.
GID_METHODS: dict[str, list[Any]] = {
    "aria2.remove": [], "aria2.forceRemove": [], "aria2.pause": [], "aria2.forcePause": [],
    "aria2.unpause": [], "aria2.changePosition": [0, "POS_SET"], "aria2.tellStatus": [],
    "aria2.getUris": [], "aria2.getFiles": [], "aria2.getServers": [], "aria2.getPeers": [],
    "aria2.getOption": [], "aria2.changeUri": [1, [], []], "aria2.changeOption": [{}],
    "aria2.removeDownloadResult": [], "lixian.listFiles": [],
}  # fmt: skip


async def test_gid_errors_for_every_gid_method(rpc: Rpc, dispatcher: Dispatcher) -> None:
    takes_gid = {n for n in ARIA2_METHODS if n in GID_METHODS}
    assert len(takes_gid) == 15 and set(GID_METHODS) - takes_gid == {"lixian.listFiles"}
    for name, rest in GID_METHODS.items():
        assert await rpc.error(name, "ffffffffffffffff", *rest) == (
            "GID ffffffffffffffff is not found"
        )
        assert await rpc.error(name, 5, *rest) == "The parameter at 0 has wrong type."
        assert await rpc.error(name) == "The parameter at 0 is required but missing."


async def test_unknown_gids_answer_as_aria2c_for_every_method(rpc: Rpc, running: Manager) -> None:
    """aria2c 1.37, probed: a GID it does not hold, whether it never existed, was a
    waiting/paused download removed (aria2 forgets those) or a result removed since, is
    "GID x is not found" from every method, for the full GID and for a prefix. The
    per-method messages ("Active Download not found for GID#...", "... not found in
    the waiting queue.") are only for a GID it holds in the wrong state."""
    (paused,) = await rpc.add(1)
    assert await rpc("aria2.remove", paused) == paused
    (result,) = await rpc.fail(1)
    assert await rpc("aria2.removeDownloadResult", result) == "OK"
    assert await rpc("aria2.tellStopped", 0, 10) == []
    for gid in ("ffffffffffffffff", "FFFFFFFFFFFFFFFF", paused, paused[:6], result, result[:7]):
        for name, rest in GID_METHODS.items():
            assert await rpc.error(name, gid, *rest) == f"GID {gid} is not found", name


# ---- lists and offsets ----

# (offset, num) -> indices into the queue, as aria2c answered with 7 waiting downloads.
OFFSETS = [
    ((0, 3), [0, 1, 2]), ((5, 10), [5, 6]), ((7, 1), []), ((8, 1), []), ((0, 0), []),
    ((-1, 3), [6, 5, 4]), ((-1, 10), [6, 5, 4, 3, 2, 1, 0]), ((-3, 2), [4, 3]),
    ((-7, 1), [0]), ((-7, 100), [0]), ((-8, 1), []), ((-8, 3), []), ((-100, 3), []),
    ((-1, 0), []), ((-2, 1), [5]), ((2**31, 1), []), ((1.5, 1), [1]),
]  # fmt: skip


async def test_tell_waiting_and_stopped_offsets(rpc: Rpc, running: Manager) -> None:
    waiting = await rpc.add(7)
    stopped = await rpc.fail(7)
    assert running.stopped_gids() == stopped
    for method, gids in (("aria2.tellWaiting", waiting), ("aria2.tellStopped", stopped)):
        for (offset, num), expected in OFFSETS:
            got = await rpc(method, offset, num, ["gid"])
            assert [gids.index(x["gid"]) for x in got] == expected, (method, offset, num)
        assert await rpc.error(method, 0, -1) == (
            "The integer parameter at 1 has invalid value: "
            "the value must be greater than or equal to 0."
        )
        assert await rpc.error(method, "0", 1) == "The parameter at 0 has wrong type."
        assert await rpc.error(method, True, 1) == "The parameter at 0 has wrong type."
        assert await rpc.error(method, 0) == "The parameter at 1 is required but missing."
        assert await rpc.error(method, 0, 1, "gid") == "The parameter at 2 has wrong type."
    for gid in waiting:  # aria2 forgets a removed paused download: no stopped result
        await rpc("aria2.remove", gid)
    assert await rpc("aria2.tellWaiting", 0, 10) == []
    assert [s["gid"] for s in await rpc("aria2.tellStopped", 0, 10, ["gid"])] == stopped


async def test_status_shapes_and_key_filtering(rpc: Rpc, tmp_path: Path) -> None:
    (gid,) = await rpc.add(1)
    status = await rpc("aria2.tellStatus", gid)
    assert set(status) == {
        "completedLength", "connections", "dir", "downloadSpeed", "files", "gid", "numPieces",
        "pieceLength", "status", "totalLength", "uploadLength", "uploadSpeed",
    }  # fmt: skip
    assert all(isinstance(v, str) for k, v in status.items() if k != "files")
    assert status["status"] == "paused" and status["dir"] == str(tmp_path)
    assert status["files"] == [{
        "completedLength": "0", "index": "1", "length": "0", "path": "", "selected": "true",
        "uris": [{"status": "waiting", "uri": f"{DEAD}f0"}],
    }]  # fmt: skip
    assert await rpc("aria2.tellStatus", gid, ["gid", "status", "bogus", 5]) == {
        "gid": gid, "status": "paused"
    }  # fmt: skip
    assert await rpc("aria2.tellStatus", gid, []) == status  # empty keys: every key
    assert await rpc("aria2.tellStatus", gid, [5]) == status  # no string keys: every key
    assert await rpc("aria2.tellWaiting", 0, 1) == [status]
    await rpc("aria2.remove", gid)
    assert await rpc.error("aria2.tellStatus", gid) == f"GID {gid} is not found"
    assert await rpc("aria2.tellActive") == []
    assert await rpc("aria2.tellActive", ["gid"]) == []
    assert await rpc.error("aria2.tellActive", "gid") == "The parameter at 0 has wrong type."


async def test_kept_statuses_follow_every_change(rpc: Rpc, tmp_path: Path) -> None:
    """Statuses of tasks that are not running are kept between calls (AriaNg polls
    1,000 of them a second); every change must still show at once."""
    (g,) = await rpc.add(1)
    first = await rpc("aria2.tellStatus", g)
    first["status"] = "mangled"  # a caller changing its answer changes nothing kept
    again = await rpc("aria2.tellStatus", g)
    assert again["status"] == "paused" and again == {**first, "status": "paused"}
    await rpc("aria2.changeUri", g, 1, [], [f"{DEAD}more"])
    files = (await rpc("aria2.tellWaiting", 0, 1, ["files"]))[0]["files"]
    assert [u["uri"] for u in files[0]["uris"]] == [f"{DEAD}f0", f"{DEAD}more"]
    await rpc("aria2.changeOption", g, {"dir": str(tmp_path / "sub")})
    assert await rpc("aria2.tellWaiting", 0, 1, ["dir"]) == [{"dir": str(tmp_path / "sub")}]
    await rpc("aria2.unpause", g)
    assert await rpc("aria2.tellStatus", g, ["status"]) == {"status": "waiting"}
    await rpc("aria2.pause", g)
    assert await rpc("aria2.tellStatus", g, ["status"]) == {"status": "paused"}
    await rpc("aria2.remove", g)
    assert await rpc.error("aria2.tellStatus", g) == f"GID {g} is not found"


async def test_stopped_result_shapes(rpc: Rpc, running: Manager, fault_server: FaultServer) -> None:
    (paused,) = await rpc.add(1)
    live = await rpc("aria2.tellStatus", paused)
    (failed,) = await rpc.fail(1)
    error = await rpc("aria2.tellStatus", failed)
    assert set(error) == set(live) | {"errorCode", "errorMessage"}
    assert error["status"] == "error" and error["errorCode"] not in ("0", "31")
    assert error["errorMessage"]
    # Removing an active download leaves a "removed" result with aria2's code 31.
    slow = fault_server.url("/rpc/slow.bin", size=16 << 20, seed=4, rate=256 << 10)
    gid = await rpc("aria2.addUri", [slow])
    for _ in range(500):
        if (await rpc("aria2.tellStatus", gid, ["status"]))["status"] == "active":
            break
        await asyncio.sleep(0.01)
    assert await rpc("aria2.forceRemove", gid) == gid
    removed = await rpc("aria2.tellStatus", gid)
    assert set(removed) == set(error)
    assert [removed[k] for k in ("status", "errorCode", "errorMessage")] == ["removed", "31", ""]
    assert running.stopped_gids() == [failed, gid]
    assert await rpc("aria2.getGlobalStat") == {
        "downloadSpeed": "0", "numActive": "0", "numStopped": "2", "numStoppedTotal": "2",
        "numWaiting": "1", "uploadSpeed": "0",
    }  # fmt: skip


async def test_global_stat_version_session(rpc: Rpc) -> None:
    await rpc.add(3)
    assert await rpc("aria2.getGlobalStat") == {
        "downloadSpeed": "0", "numActive": "0", "numStopped": "0", "numStoppedTotal": "0",
        "numWaiting": "3", "uploadSpeed": "0",
    }  # fmt: skip
    version = await rpc("aria2.getVersion")
    assert version["version"] == "1.37.0" and "HTTPS" in version["enabledFeatures"]
    assert await rpc("aria2.getSessionInfo") == {"sessionId": "ab" * 20}
    own = await rpc("lixian.version")
    assert own["name"] == "lixian" and own["aria2Version"] == "1.37.0"


# ---- steering ----


async def test_pause_unpause_remove_results(rpc: Rpc, running: Manager) -> None:
    a, b = await rpc.add(2)
    assert await rpc.error("aria2.pause", a) == f"GID#{a} cannot be paused now"
    assert await rpc.error("aria2.forcePause", a) == f"GID#{a} cannot be paused now"
    assert await rpc("aria2.changeOption", a, {"max-tries": "1"}) == "OK"
    assert await rpc("aria2.unpause", a) == a
    assert await rpc.error("aria2.unpause", a) == f"GID#{a} cannot be unpaused now"
    assert await rpc("aria2.forcePause", a[:12]) == a
    assert await rpc("aria2.pauseAll") == "OK"  # nothing to pause: OK all the same
    assert await rpc("aria2.forcePauseAll") == "OK"
    assert {running.views[g].task.state.value for g in (a, b)} == {"paused"}
    message = await rpc.error("aria2.removeDownloadResult", a)
    assert message == f"Could not remove download result of GID#{a}"
    # Removing a paused download forgets it, as aria2 does.
    assert await rpc("aria2.remove", b) == b
    assert await rpc.error("aria2.remove", b) == f"GID {b} is not found"
    assert await rpc("aria2.unpauseAll") == "OK"  # a runs, and fails at once
    for _ in range(500):
        if a in running.stopped_gids():
            break
        await asyncio.sleep(0.01)
    # A stopped result: each method answers for it in its own words.
    assert (await rpc("aria2.tellStatus", a, ["status"])) == {"status": "error"}
    assert await rpc.error("aria2.remove", a) == f"Active Download not found for GID#{a}"
    assert await rpc.error("aria2.forceRemove", a) == f"Active Download not found for GID#{a}"
    assert await rpc.error("aria2.pause", a) == f"GID#{a} cannot be paused now"
    assert await rpc.error("aria2.unpause", a) == f"GID#{a} cannot be unpaused now"
    assert await rpc.error("aria2.getUris", a) == f"No URI data is available for GID#{a}"
    assert await rpc.error("aria2.getPeers", a) == f"No peer data is available for GID#{a}"
    assert await rpc.error("aria2.getServers", a) == f"No active download for GID#{a}"
    assert await rpc.error("aria2.changeOption", a, {}) == f"Cannot change option for GID#{a}"
    assert await rpc("aria2.getFiles", a) == (await rpc("aria2.tellStatus", a))["files"]
    assert "split" in await rpc("aria2.getOption", a)
    assert await rpc("aria2.removeDownloadResult", a) == "OK"
    assert await rpc.error("aria2.tellStatus", a) == f"GID {a} is not found"
    await rpc.fail(2)
    assert len(running.stopped_gids()) == 2
    assert await rpc("aria2.purgeDownloadResult") == "OK"
    assert running.stopped_gids() == [] and running.views == {}


async def test_change_position(rpc: Rpc, manager: Manager) -> None:
    gids = await rpc.add(4)
    g = gids[1]
    assert await rpc("aria2.changePosition", g, 0, "POS_SET") == 0
    assert await rpc("aria2.changePosition", g, 2, "POS_CUR") == 2
    assert await rpc("aria2.changePosition", g, -1, "POS_END") == 2
    assert await rpc("aria2.changePosition", g, 100, "POS_CUR") == 3
    assert await rpc("aria2.changePosition", g, -5, "POS_SET") == 0
    assert await rpc("aria2.changePosition", g, 2.7, "POS_SET") == 2
    assert manager.queue_gids().index(g) == 2
    assert await rpc.error("aria2.changePosition", g, 0, "POS_X") == "Illegal argument."
    assert await rpc.error("aria2.changePosition", g, "0", "POS_SET") == (
        "The parameter at 1 has wrong type."
    )
    await rpc("aria2.remove", g)
    assert await rpc.error("aria2.changePosition", g, 0, "POS_SET") == f"GID {g} is not found"


async def test_change_position_of_a_result(rpc: Rpc, running: Manager) -> None:
    (g,) = await rpc.fail(1)
    assert await rpc.error("aria2.changePosition", g, 0, "POS_SET") == (
        f"GID#{g} not found in the waiting queue."
    )
    assert await rpc.error("aria2.changePosition", g, 0, "POS_X") == "Illegal argument."


async def test_change_uri(rpc: Rpc) -> None:
    (g,) = await rpc.add(1)
    first = f"{DEAD}f0"
    changed = await rpc("aria2.changeUri", g, 1, [first, "http://nope/"], [f"{DEAD}q", "bad"])
    assert changed == [1, 1]
    assert await rpc("aria2.changeUri", g, 1, [], [f"{DEAD}s"], 0) == [0, 1]
    assert [u["uri"] for u in await rpc("aria2.getUris", g)] == [f"{DEAD}s", f"{DEAD}q"]
    assert await rpc("aria2.changeUri", g, 1, [f"{DEAD}q", f"{DEAD}q"], []) == [1, 0]
    assert await rpc.error("aria2.changeUri", g, 0, [], []) == (
        "The integer parameter at 1 has invalid value: "
        "the value must be greater than or equal to 1."
    )
    assert await rpc.error("aria2.changeUri", g, 2, [], []) == "fileIndex is out of range"
    assert await rpc.error("aria2.changeUri", g, 1, [], [], -1) == (
        "Position must be greater than or equal to 0."
    )
    assert await rpc.error("aria2.changeUri", g, 1, []) == (
        "The parameter at 3 is required but missing."
    )
    await rpc("aria2.remove", g)
    assert await rpc.error("aria2.changeUri", g, 1, [], []) == f"GID {g} is not found"


async def test_change_uri_of_a_result(rpc: Rpc, running: Manager) -> None:
    (g,) = await rpc.fail(1)
    assert await rpc.error("aria2.changeUri", g, 1, [], []) == f"Cannot remove URIs from GID#{g}"
    assert await rpc.error("aria2.changeUri", g, 2, [], []) == f"Cannot remove URIs from GID#{g}"


# ---- options ----


async def test_options(rpc: Rpc, manager: Manager, tmp_path: Path) -> None:
    (g,) = await rpc.add(1)
    opts = await rpc("aria2.getOption", g)
    assert all(isinstance(v, str) for v in opts.values())
    assert opts["dir"] == str(tmp_path) and opts["continue"] == "false"
    assert "out" not in opts and "checksum" not in opts  # unset: left out, as aria2
    assert "max-concurrent-downloads" not in opts  # global options are not a task's
    change = {"split": "3", "out": "new.bin", "header": ["X: 1"], "nosuch": "1",
              "gid": "0123456789abcdee", "pause": "true", "max-download-limit": "100K"}  # fmt: skip
    assert await rpc("aria2.changeOption", g, change) == "OK"
    opts = await rpc("aria2.getOption", g)
    assert (opts["split"], opts["out"], opts["header"]) == ("3", "new.bin", "X: 1\n")
    assert opts["max-download-limit"] == "102400"
    assert await rpc("aria2.changeOption", g, {"header": "Y: 2"}) == "OK"
    assert (await rpc("aria2.getOption", g))["header"] == "Y: 2\n"  # replaced, not appended
    assert await rpc.error("aria2.changeOption", g, {"split": "x"}) == BAD.format("split")
    assert await rpc.error("aria2.changeOption", g) == "The parameter at 1 is required but missing."
    assert await rpc.error("aria2.changeOption", g, "x") == "The parameter at 1 has wrong type."

    glob = await rpc("aria2.getGlobalOption")
    assert all(isinstance(v, str) for v in glob.values())
    assert glob["max-concurrent-downloads"] == "1" and glob["dir"] == str(tmp_path)
    assert "rpc-secret" not in glob and "save-session" not in glob
    change = {"max-concurrent-downloads": "7", "split": "2", "out": "zz", "nosuch": "1", "log": "",
              "checksum": "md5=" + "a" * 32, "save-session": str(tmp_path / "s.txt")}  # fmt: skip
    assert await rpc("aria2.changeGlobalOption", change) == "OK"
    glob = await rpc("aria2.getGlobalOption")
    assert (glob["max-concurrent-downloads"], glob["split"]) == ("7", "2")
    assert glob["save-session"] == str(tmp_path / "s.txt")
    assert "out" not in glob and "checksum" not in glob  # per-download only: ignored
    assert manager.max_concurrent == 7
    message = await rpc.error("aria2.changeGlobalOption", {"max-concurrent-downloads": "x"})
    assert message == BAD.format("max-concurrent-downloads")
    message = await rpc.error("aria2.changeGlobalOption", {"on-download-error": "/bin/sh"})
    assert message == HOOK.format("on-download-error")
    assert await rpc.error("aria2.changeGlobalOption") == (
        "The parameter at 0 is required but missing."
    )
    new = await rpc("aria2.addUri", [DEAD], {"pause": "true"})
    assert (await rpc("aria2.getOption", new))["split"] == "2"  # the new default


async def test_global_options_as_a_daemon_has_them(tmp_path: Path) -> None:
    """aria2c 1.37, probed with ``--pause=true --rpc-secret=... --save-session=...``:
    getGlobalOption lists its RPC-server options but never the secret nor ``pause``;
    and the global ``pause`` holds only the downloads it starts with (``-i``): an
    addUri without ``pause`` runs, even after changeGlobalOption(pause=true)."""
    options = resolve(
        {"dir": str(tmp_path), "rpc-secret": "hush", "rpc-listen-port": 6811, "pause": True,
         "save-session": str(tmp_path / "s.txt"), "host": "127.0.0.1"},
        {}, daemon=True,
    )  # fmt: skip
    async with Manager(options) as manager:
        serving = asyncio.create_task(manager.serve())
        rpc = Rpc(Dispatcher(manager, secret=SECRET, version="1.37.0", session_id="x"))
        glob = await rpc("aria2.getGlobalOption")
        assert {k: glob[k] for k in RPC_SERVER_OPTIONS} == {
            "enable-rpc": "true", "rpc-listen-port": "6811", "rpc-listen-all": "false",
            "rpc-allow-origin-all": "false", "rpc-max-request-size": "2097152",
            "max-download-result": "1000", "save-session": str(tmp_path / "s.txt"),
            "save-session-interval": "0", "daemon": "false",
        }  # fmt: skip
        assert not {"rpc-secret", "secret", "host", "port", "state", "pause"} & set(glob)
        assert "hush" not in glob.values()
        assert await rpc("aria2.changeGlobalOption", {"pause": "true"}) == "OK"
        assert "pause" not in await rpc("aria2.getGlobalOption")
        await rpc.fail(1)  # it ran (and failed): it was not added paused
        held = await rpc("aria2.addUri", [DEAD], {"pause": "true"})
        assert (await rpc("aria2.tellStatus", held, ["status"])) == {"status": "paused"}
        await manager.stop()
        await serving


async def test_save_session(rpc: Rpc, tmp_path: Path) -> None:
    assert await rpc.error("aria2.saveSession") == "Filename is not given."
    gids = await rpc.add(2)
    path = tmp_path / "session.txt"
    await rpc("aria2.changeGlobalOption", {"save-session": str(path)})
    assert await rpc("aria2.saveSession") == "OK"
    text = path.read_text()
    assert all(f" gid={g}" in text for g in gids) and " pause=true" in text
    await rpc("aria2.changeGlobalOption", {"save-session": str(tmp_path / "no" / "such" / "x")})
    message = await rpc.error("aria2.saveSession")
    assert message == f"Failed to serialize session to '{tmp_path / 'no' / 'such' / 'x'}'."


# ---- a real download, notifications, shutdown ----


async def test_a_real_download(rpc: Rpc, manager: Manager, fault_server: FaultServer) -> None:
    events = manager.bus.subscribe()
    serving = asyncio.create_task(manager.serve())
    size = 3 << 20
    url = fault_server.url("/rpc/a.bin", size=size, seed=3, rate=2 << 20)
    gid = await rpc("aria2.addUri", [url], {"split": "2"})
    for _ in range(200):
        active = await rpc("aria2.tellActive", ["gid", "status", "totalLength", "bitfield"])
        if active and active[0].get("totalLength") not in (None, "0"):
            break
        await asyncio.sleep(0.02)
    assert active[0]["gid"] == gid and active[0]["status"] == "active"
    assert active[0]["totalLength"] == str(size)
    servers = await rpc("aria2.getServers", gid)
    assert servers[0]["index"] == "1" and isinstance(servers[0]["servers"], list)
    assert await rpc("aria2.getPeers", gid) == []
    for _ in range(500):
        if (await rpc("aria2.tellStatus", gid, ["status"]))["status"] == "complete":
            break
        await asyncio.sleep(0.02)
    done = await rpc("aria2.tellStatus", gid)
    assert [done[k] for k in ("status", "errorCode", "completedLength")] == [
        "complete",
        "0",
        str(size),
    ]
    assert done["bitfield"] == "e0" and done["numPieces"] == "3"
    assert done["files"][0]["path"].endswith("a.bin")
    assert (await rpc("aria2.tellStopped", -1, 1, ["gid"])) == [{"gid": gid}]
    names = []
    while not events.empty():
        event = events.get_nowait()
        if type(event) in NOTIFICATIONS:
            note = notification(event)
            assert note["params"] == [{"gid": gid}] and note["jsonrpc"] == "2.0"
            names.append(note["method"])
    assert names == ["aria2.onDownloadStart", "aria2.onDownloadComplete"]
    await manager.stop()
    await serving


async def test_shutdown(manager: Manager) -> None:
    calls: list[bool] = []

    async def on_shutdown(force: bool) -> None:
        calls.append(force)

    d = Dispatcher(manager, secret=None, version="1", session_id="s", on_shutdown=on_shutdown)
    assert await d.call("aria2.shutdown", []) == "OK"
    assert await d.call("aria2.forceShutdown", []) == "OK"
    for _ in range(100):
        if len(calls) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(calls) == [False, True]
    plain = Dispatcher(manager, secret=None, version="1", session_id="s")
    serving = asyncio.create_task(manager.serve())
    assert await plain.call("aria2.shutdown", []) == "OK"
    await asyncio.wait_for(serving, 5)  # the manager stopped: the daemon's loop ends


# ---- lixian.* ----


async def test_list_tasks_and_files(rpc: Rpc, running: Manager) -> None:
    a = await rpc("aria2.addUri", [f"{DEAD}zeta.iso"], {"pause": "true"})
    b = await rpc("aria2.addUri", [f"{DEAD}alpha.iso"], {"pause": "true"})
    (c,) = await rpc.fail(1, f"{DEAD}Ubuntu%20beta.iso")
    everything = await rpc("lixian.listTasks")
    assert everything["total"] == 3
    assert [t["gid"] for t in everything["tasks"]] == [a, b, c]
    assert everything["tasks"][2]["name"] == "Ubuntu beta.iso"
    paused = await rpc("lixian.listTasks", {"status": "paused"}, "name")
    assert [t["gid"] for t in paused["tasks"]] == [b, a]
    both = await rpc("lixian.listTasks", {"status": ["paused", "error"], "name": "BETA"})
    assert [t["gid"] for t in both["tasks"]] == [c]
    page = await rpc("lixian.listTasks", None, "-added", 1, 1, ["gid"])
    assert page == {"total": 3, "tasks": [{"gid": b}]}
    for params, message in [
        (({"status": "sleeping"},), "Unknown status: sleeping"),
        (({"owner": "me"},), "Unknown filter key: owner"),
        ((None, "colour"), "Unknown sort: colour"),
        ((None, None, -1), "offset must be a whole number >= 0"),
        (("paused",), "The parameter at 0 has wrong type."),
    ]:
        assert await rpc.error("lixian.listTasks", *params) == message
    files = await rpc("lixian.listFiles", a[:10])
    assert files["total"] == 1 and files["files"][0]["index"] == "1"
    assert await rpc("lixian.listFiles", a, 1, 10) == {"total": 1, "files": []}
    assert await rpc.error("lixian.listFiles", "ffff") == "GID ffff is not found"
    assert len(running.views) == 3


# ---- nothing crashes ----

JUNK: list[Any] = [None, True, -1, 2**70, 1e308, float("nan"), "", "x" * 40, [], [None], {},
                   {"a": [1]}, "token:", "ffffffffffffffff"]  # fmt: skip


async def test_junk_parameters_never_crash(rpc: Rpc, dispatcher: Dispatcher) -> None:
    await rpc.add(2)
    for name in dispatcher.methods:
        if name.endswith("hutdown"):
            continue
        for junk in JUNK:
            for params in ([junk], [junk, junk], [junk, junk, junk, junk, junk]):
                response = await rpc.raw(name, [TOKEN, *params])
                assert ("result" in response) != ("error" in response), (name, params)
                if "error" in response:
                    assert response["error"]["code"] == 1
                    assert not response["error"]["message"].startswith("Internal error")


def test_notification_names() -> None:
    assert len(NOTIFICATIONS) == 6
    assert set(NOTIFICATIONS.values()) == {
        "aria2.onDownloadStart", "aria2.onDownloadPause", "aria2.onDownloadStop",
        "aria2.onDownloadComplete", "aria2.onDownloadError", "aria2.onBtDownloadComplete",
    }  # fmt: skip


async def test_disk_space_reports_the_download_and_staging_filesystems(
    rpc: Rpc, manager: Manager, tmp_path: Path
) -> None:
    places = await rpc("lixian.diskSpace")
    assert [p["path"] for p in places] == [str(tmp_path), str(manager.staging_root)]
    for place in places:
        assert int(place["total"]) >= int(place["free"]) > 0
