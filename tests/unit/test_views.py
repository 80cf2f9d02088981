"""``rpc/views.py`` and ``rpc/subscriptions.py`` over a real Manager, without a server.

Tasks are added paused (nothing downloads); sockets are stand-ins that record what
they are sent. The end-to-end protocol over a real WebSocket is in
tests/integration/test_subscribe.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian.core.manager import Manager
from lixian.rpc import Dispatcher, RpcError
from lixian.rpc.context import bind_subscriber
from lixian.rpc.subscriptions import DIFF_METHOD, SubscriptionHub
from lixian.rpc.views import Frame, NameCache, View, ViewState, _uri_name, parse_view

DEAD = "http://127.0.0.1:9/"


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[Manager]:
    async with Manager({"dir": str(tmp_path)}) as m:
        yield m


async def add(manager: Manager, *names: str) -> list[str]:
    return [await manager.add([DEAD + name], paused=True) for name in names]


def same(gid: str) -> str:
    return gid


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed = False
        self.hold: asyncio.Event | None = None  # set: sends wait on it (a slow client)

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.sent.append(json.loads(data))

    async def close(self) -> bool:
        self.closed = True
        return True


# ---- views ----


def test_parse_view_defaults_and_errors() -> None:
    assert parse_view(None, same) == View()
    view = parse_view({"status": ["paused", "active"], "name": "ISO", "sort": "-size"}, same)
    assert [s.value for s in view.states or ()] == ["active", "paused"]
    assert (view.needle, view.sort, view.offset, view.limit) == ("iso", "-size", 0, 100)
    assert parse_view({"gids": ["a", "b", "a"]}, str.upper).gids == ("A", "B")
    for raw, message in [
        ([], "The parameter at 0 has wrong type."),
        ({"status": 3}, "view.status must be"),
        ({"status": ["nope"]}, "Unknown status: nope"),
        ({"limit": 1001}, "view.limit must be at most 1000"),
        ({"offset": "1"}, "view.offset must be"),
        ({"sort": "-colour"}, "Unknown sort: -colour"),
        ({"name": 1}, "view.name must be a string"),
        ({"gids": ["a"], "limit": 1}, "view.gids cannot be combined"),
        ({"gids": ["a"] * 1001}, "view.gids may list at most 1000"),
        ({"extra": 1}, "Unknown view key: extra"),
    ]:
        with pytest.raises(RpcError) as failure:
            parse_view(raw, same)
        assert failure.value.message.startswith(message), raw


URIS = st.text(st.sampled_from("ab/.%2F?#:é~ "), max_size=12).map(lambda t: "http://h" + t) | (
    st.text(st.sampled_from("ab/.%?#:"), max_size=14)
)


@given(URIS)
def test_fast_uri_name_is_the_exact_one(uri: str) -> None:
    assert _uri_name(uri) == (PurePosixPath(unquote(urlsplit(uri).path)).name or uri)


@pytest.mark.parametrize("sort", ["", "name", "-name", "size", "-added", "progress"])
async def test_pages_are_list_tasks_pages(manager: Manager, tmp_path: Path, sort: str) -> None:
    await add(manager, "b.iso", "A.iso", "c%20d.iso", "z/", "x.iso?y=1", "m.iso", "a.iso")
    rpc = Dispatcher(manager, secret=None, version="1.37.0", session_id="00" * 20)
    for offset, limit in [(0, 100), (2, 3), (6, 5), (9, 1)]:
        view = parse_view(
            {"status": "paused", "sort": sort, "offset": offset, "limit": limit}, same
        )
        listed = await rpc.call(
            "lixian.listTasks", [{"status": "paused"}, sort or None, offset, limit]
        )
        assert isinstance(listed, dict)
        total, page = Frame(manager, NameCache()).page(view)
        assert (total, page) == (listed["total"], [t["gid"] for t in listed["tasks"]])


# ---- diffs ----


async def test_whole_view_then_only_changes(manager: Manager, tmp_path: Path) -> None:
    first, second = await add(manager, "one.iso", "two.iso")
    names = NameCache()
    state = ViewState(parse_view({"limit": 10}, same))
    whole = state.diff(Frame(manager, names))
    assert whole is not None and whole["full"] is True
    assert whole["order"] == [first, second] and whole["total"] == 2
    changed = whole["changed"]
    assert isinstance(changed, list) and [c["name"] for c in changed] == ["one.iso", "two.iso"]
    assert "files" not in changed[0] and changed[0]["status"] == "paused"
    assert state.diff(Frame(manager, names)) is None  # nothing moved: no push

    await manager.change_option(first, {"dir": str(tmp_path / "sub")})
    diff = state.diff(Frame(manager, names))
    assert diff == {
        "changed": [{"gid": first, "dir": str(tmp_path / "sub")}],
        "removed": [],
        "stats": {},
    }
    await manager.remove(second)
    diff = state.diff(Frame(manager, names))
    assert diff is not None
    assert (diff["removed"], diff["order"], diff["total"]) == ([second], [first], 1)
    assert diff["counts"] == {
        "waiting": 0,
        "active": 0,
        "paused": 1,
        "complete": 0,
        "error": 0,
        "removed": 0,
    }
    await manager.unpause(first)  # aria2 sends no notification for this one
    diff = state.diff(Frame(manager, names))
    assert diff is not None and diff["changed"] == [{"gid": first, "status": "waiting"}]


async def test_unchanged_tasks_are_not_rebuilt(manager: Manager) -> None:
    gids = await add(manager, *(f"f{i}.iso" for i in range(50)))
    state = ViewState(parse_view({"keys": ["status"]}, same))
    frame = Frame(manager, NameCache())
    state.diff(frame)
    again = Frame(manager, NameCache(), frame.fresh)
    assert state.diff(again) is None
    assert all(again.fresh[k] is frame.fresh[k] for k in frame.fresh)  # the same dicts
    assert set(again.fresh) == {(g, frozenset({"status"})) for g in gids}


async def test_diffs_applied_give_what_tell_status_gives(manager: Manager, tmp_path: Path) -> None:
    first, second, third = await add(manager, "a.iso", "b.iso", "c.iso")
    rpc = Dispatcher(manager, secret=None, version="1.37.0", session_id="00" * 20)
    state = ViewState(parse_view({"sort": "name"}, same))
    model: dict[str, dict[str, object]] = {}
    structs: dict[Any, Any] = {}

    async def push() -> None:
        nonlocal structs
        frame = Frame(manager, NameCache(), structs)
        diff = state.diff(frame)
        structs = frame.fresh
        assert diff is not None
        for entry in diff["changed"]:  # type: ignore[attr-defined]
            model.setdefault(entry["gid"], {}).update(entry)
        for gid in diff["removed"]:  # type: ignore[attr-defined]
            del model[gid]
        expected = {}
        for gid in list(manager.views):
            info = await rpc.call("aria2.tellStatus", [gid])
            assert isinstance(info, dict)
            del info["files"]
            expected[gid] = info
        for gid, task in model.items():
            assert {k: v for k, v in task.items() if k != "name"} == expected[gid]
        assert set(model) == set(expected)

    await push()
    await manager.change_option(first, {"dir": str(tmp_path / "elsewhere")})
    await push()
    await manager.change_uri(second, 1, [DEAD + "b.iso"], [DEAD + "renamed.iso"])
    await push()
    assert model[second]["name"] == "renamed.iso"
    await manager.unpause(third)
    await push()
    await manager.remove(first)
    await push()
    (fourth,) = await add(manager, "0.iso")
    await push()
    assert set(model) == {fourth, second, third}


# ---- the hub ----


async def test_hub_pushes_only_to_subscribers_and_waits_for_slow_ones(manager: Manager) -> None:
    (gid,) = await add(manager, "a.iso")
    hub = SubscriptionHub(manager, interval=0.05)
    plain, fast, slow = FakeSocket(), FakeSocket(), FakeSocket()
    subs = [hub.attach(s) for s in (plain, fast, slow)]
    subs[1].subscribe(View())
    subs[2].subscribe(View())
    slow.hold = asyncio.Event()
    hub.tick()
    await asyncio.sleep(0.01)
    assert plain.sent == [] and slow.sent == []
    assert [m["method"] for m in fast.sent] == [DIFF_METHOD]
    assert fast.sent[0]["params"][0]["full"] is True

    await manager.unpause(gid)
    hub.tick(now=1e9)  # the slow socket is still writing: skipped, not queued up
    await asyncio.sleep(0.01)
    assert len(fast.sent) == 2 and slow.sent == []
    slow.hold.set()
    await asyncio.sleep(0.01)
    hub.tick(now=2e9)
    await asyncio.sleep(0.01)
    full, catch_up = (m["params"][0] for m in slow.sent)
    assert full["full"] is True
    assert full["changed"][0]["status"] == "paused"  # as it was when computed
    assert catch_up["changed"] == [{"gid": gid, "status": "waiting"}]  # all since, at once
    assert catch_up["counts"]["waiting"] == 1
    assert fast.sent[1]["params"][0]["changed"] == catch_up["changed"]

    hub.detach(subs[1])
    await manager.pause(gid)
    hub.tick(now=3e9)
    await asyncio.sleep(0.01)
    assert len(fast.sent) == 2


async def test_no_push_while_a_call_is_answered(manager: Manager) -> None:
    hub = SubscriptionHub(manager)
    runner = asyncio.create_task(hub.run())
    socket = FakeSocket()
    subscriber = hub.attach(socket)
    rpc = Dispatcher(manager, secret=None, version="1.37.0", session_id="00" * 20)
    with bind_subscriber(subscriber), subscriber.calling():
        assert await rpc.call("lixian.subscribe", [{"limit": 5}]) == "OK"
        await asyncio.sleep(0.7)  # more than a tick
        assert socket.sent == []
    await asyncio.sleep(0.05)  # the end of the call kicks the first push out at once
    assert [m["params"][0]["full"] for m in socket.sent] == [True]
    with bind_subscriber(subscriber):
        assert await rpc.call("lixian.unsubscribe", []) == "OK"
    with pytest.raises(RpcError, match="works over the WebSocket only"):
        await rpc.call("lixian.subscribe", [])
    with pytest.raises(RpcError, match="needs the daemon's HTTP server"):
        await rpc.call("lixian.fileUrl", ["0" * 16])
    runner.cancel()
