"""Differential test: the same RPC calls against the real aria2c and against lixian.

aria2c runs as ``aria2c --enable-rpc`` on a free loopback port; lixian's ``Dispatcher``
runs in-process over a real ``Manager``. Both get the same state (the same paused
URIs with the same GIDs, one finished and one failed download from the fault server
and a dead port, one slow download kept active) and then every method in aria2's
``system.listMethods``, each with at least one error case. Responses are compared
structurally: the same JSON types, the same keys, the same values (after putting
``<DIR>`` for each side's download directory), the same error messages and HTTP
statuses. Each deliberate difference is in ``ALLOWED`` with its reason; an entry that
never fires fails the test, so the list cannot go stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fixtures.fault_server import FaultServer
from lixian.core.manager import Manager
from lixian.rpc import Dispatcher, http_status

SECRET = "S"
TOKEN = f"token:{SECRET}"
BAD_TOKEN = "token:wrong"
ARIA2C = Path(sys.executable).parent / "aria2c"
DEAD = "http://127.0.0.1:9/"  # nothing listens: a refused connection, at once
P = [f"a00000000000000{i}" for i in range(1, 9)]  # paused; same GIDs on both sides
DONE, FAILED, ACTIVE = "b000000000000001", "c000000000000001", "d000000000000001"

# "label:path" patterns (fnmatch) -> why lixian answers differently on purpose.
ALLOWED: dict[str, str] = {
    "addTorrent:error.message": "aria2 says 'Bencode decoding failed'; lixian says what is"
    " wrong with the data (its code 25 error); tests/integration/test_bt_rpc.py has the rest",
    "addMetalink:error.message": "no Metalink support; aria2 parses the document",
    "getVersion:result.enabledFeatures": "lixian lists only the features it has",
    "getSessionInfo:result.sessionId": "a random id per process",
    "multicall:result.0.0.sessionId": "a random id per process",
    "listMethods:result": "lixian adds its own lixian.* methods after aria2's",
    "names:result": "lixian adds its own lixian.* methods after aria2's",
    "listMethods-err:result": "lixian adds its own lixian.* methods after aria2's",
    "*.errorMessage": "a download's failure is told in lixian's words; errorCode is aria2's",
    # The core reports every URI of a task that is not running as "waiting"; aria2 marks
    # the ones it tried "used" and keeps a spare "waiting" copy of each.
    "done:result.files.0.uris": "URI status of a stopped task (core: runner.task_info)",
    "failed:result.files.0.uris": "URI status of a stopped task (core: runner.task_info)",
    "getFiles-done:result.0.uris": "URI status of a stopped task (core: runner.task_info)",
    "tellStopped:result.*.files.0.uris": "URI status of a stopped task (core: runner.task_info)",
    "options-*:result.*only-in-aria2": "aria2 options lixian does not implement (BitTorrent,"
    " FTP, Metalink, ...) or ignores; docs/differences.md",
    "options-*:result.max-connection-per-server": "lixian default 16 (aria2 1): differences.md",
    "options-*:result.split": "lixian default 16 (aria2 5): docs/differences.md",
    "options-*:result.min-split-size": "lixian default 1M (aria2 20M): docs/differences.md",
    "options-*:result.user-agent": "lixian/<version>, not aria2/<version>",
    "options-global*:result.force-sequentialonly-in-lixian": "lixian lists -Z (lixian get's);"
    " aria2 keeps it off the RPC",
    "options-*:result.bt-sequentialonly-in-lixian": "lixian's sequential mode for torrents"
    " (docs/bittorrent.md, additions in docs/differences.md)",
    "options-global*:result.min-free-spaceonly-in-lixian": "lixian's storage options"
    " (docs/storage.md, additions in docs/differences.md)",
    "options-global*:result.max-staging-spaceonly-in-lixian": "lixian's storage options"
    " (docs/storage.md, additions in docs/differences.md)",
    "options-global*:result.no-conf": "aria2c was started with --no-conf",
    "options-global*:result.quiet": "aria2c was started with --quiet",
    "options-global*:result.rpc-listen-port": "each daemon's own port",
}
# Values that depend on timing, not on behaviour: compared by type only.
TIMING = (
    "*.downloadSpeed",
    "*.uploadSpeed",
    "active*.completedLength",
    "active*.bitfield",
    "active*.connections",
    "active*.files.0.completedLength",
    "active*.files.0.uris",
    "servers:result.0.servers",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _join(where: str, key: str) -> str:
    return f"{where}{key}" if where.endswith(":") else f"{where}.{key}"


@dataclass
class Side:
    name: str
    directory: Path
    send: Callable[[dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]

    def normal(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(str(self.directory), "<DIR>")
        if isinstance(value, list):
            return [self.normal(v) for v in value]
        if isinstance(value, dict):
            return {k: self.normal(v) for k, v in value.items()}
        return value


@dataclass
class Differ:
    aria2: Side
    lixian: Side
    diffs: list[str] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    outcomes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def _allowed(self, where: str) -> bool:
        hits = [p for p in ALLOWED if fnmatch.fnmatchcase(where, p)]
        self.fired.update(hits)
        return bool(hits) or any(fnmatch.fnmatchcase(where, p) for p in TIMING)

    def compare(self, a: Any, b: Any, where: str) -> None:
        if self._allowed(where):
            return
        if type(a) is not type(b):
            self.diffs.append(f"{where}: aria2 {a!r} vs lixian {b!r}")
        elif isinstance(a, dict):
            for key in sorted(a.keys() | b.keys()):
                inner = _join(where, key)
                if key not in b:
                    if not self._allowed(f"{inner}only-in-aria2"):
                        self.diffs.append(f"{inner}: only in aria2 ({a[key]!r})")
                elif key not in a:
                    if not self._allowed(f"{inner}only-in-lixian"):
                        self.diffs.append(f"{inner}: only in lixian ({b[key]!r})")
                else:
                    self.compare(a[key], b[key], inner)
        elif isinstance(a, list):
            if len(a) != len(b):
                self.diffs.append(f"{where}: {len(a)} items vs {len(b)}: {a!r} vs {b!r}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                self.compare(x, y, _join(where, str(i)))
        elif a != b:
            self.diffs.append(f"{where}: aria2 {a!r} vs lixian {b!r}")

    def _record(self, method: str, params: list[Any], outcome: dict[str, Any]) -> None:
        self.outcomes[method].add("error" if "error" in outcome else "ok")
        if method == "system.multicall" and params and isinstance(params[0], list):
            results = outcome.get("result") or []
            for spec, result in zip(params[0], results, strict=False):
                if isinstance(spec, dict) and isinstance(spec.get("methodName"), str):
                    kind = "error" if isinstance(result, dict) else "ok"
                    self.outcomes[spec["methodName"]].add(kind)

    async def both(self, label: str, method: str, *params: Any, token: str | None = TOKEN) -> Any:
        """Call both; compare; return lixian's result (None after an error)."""
        args = [token, *params] if token is not None else list(params)
        request = {"jsonrpc": "2.0", "id": label, "method": method, "params": args}
        status_a, a = await self.aria2.send(request)
        status_b, b = await self.lixian.send(request)
        self._record(method, list(params), a)
        a, b = self.aria2.normal(a), self.lixian.normal(b)
        if status_a != status_b and not self._allowed(f"{label}:status"):
            self.diffs.append(f"{label}: HTTP {status_a} vs {status_b}")
        self.compare(a, b, f"{label}:")
        return b.get("result")

    async def wait(self, gid: str, states: set[str]) -> None:
        """Until both sides report ``gid`` in one of ``states`` (bounded)."""
        for side in (self.aria2, self.lixian):
            for _ in range(300):
                request = {"id": 0, "method": "aria2.tellStatus", "params": [TOKEN, gid]}
                _, answer = await side.send(request)
                if answer.get("result", {}).get("status") in states:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"{side.name}: {gid} never reached {states}")


@pytest.fixture
def aria2c(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[tuple[int, Path]]:
    binary = str(ARIA2C) if ARIA2C.exists() else shutil.which("aria2c")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("aria2c is missing (make test installs it)")
        pytest.skip("aria2c is not installed")
    port, directory = _free_port(), tmp_path / "aria2"
    directory.mkdir()
    proc = subprocess.Popen(
        [binary, "--enable-rpc", f"--rpc-listen-port={port}", f"--dir={directory}", "--quiet",
         "--file-allocation=none", f"--rpc-secret={SECRET}", "--no-conf"],
        env=cli_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                pytest.fail(f"aria2c exited with {proc.returncode}")
            time.sleep(0.05)
        yield port, directory
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
async def differ(
    aria2c: tuple[int, Path], tmp_path: Path, fault_server: FaultServer
) -> AsyncIterator[Differ]:
    port, aria2_dir = aria2c
    lixian_dir = tmp_path / "lixian"
    lixian_dir.mkdir()
    stopped: list[bool] = []

    async def on_shutdown(force: bool) -> None:
        stopped.append(force)

    async with aiohttp.ClientSession() as http, Manager({"dir": str(lixian_dir)}) as manager:
        dispatcher = Dispatcher(manager, secret=SECRET, version="1.37.0", session_id="0" * 40,
                                on_shutdown=on_shutdown)  # fmt: skip

        async def to_aria2(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            async with http.post(f"http://127.0.0.1:{port}/jsonrpc", json=request) as resp:
                return resp.status, await resp.json(content_type=None)

        async def to_lixian(request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            response = await dispatcher.handle(request)
            assert isinstance(response, dict)
            return http_status(response), response

        serving = asyncio.create_task(manager.serve())
        yield Differ(Side("aria2c", aria2_dir, to_aria2), Side("lixian", lixian_dir, to_lixian))
        await manager.stop()
        await serving


async def test_every_method_against_aria2c(differ: Differ, fault_server: FaultServer) -> None:
    d = differ
    paused = {"pause": "true"}
    # ---- the same state on both sides ----
    for i, gid in enumerate(P[:7]):
        await d.both("add", "aria2.addUri", [f"{DEAD}f{i}"], {**paused, "gid": gid})
    done_url = fault_server.url("/diff/done.bin", size=100_000, seed=1)
    await d.both("add-done", "aria2.addUri", [done_url], {"gid": DONE})
    await d.wait(DONE, {"complete"})  # one at a time: tellStopped lists them in end order
    failed_url = fault_server.url("/diff/failed.bin", status=404)
    await d.both("add-failed", "aria2.addUri", [failed_url], {"gid": FAILED, "max-tries": "1"})
    await d.wait(FAILED, {"error"})

    # ---- adding ----
    await d.both("addUri", "aria2.addUri", [f"{DEAD}x"], {**paused, "gid": P[7]}, 7)
    await d.both("addUri-err", "aria2.addUri", [])
    await d.both("addUri-err2", "aria2.addUri", ["notauri"], paused)
    await d.both("addUri-err3", "aria2.addUri", [DEAD], {"split": "x"})
    await d.both("addUri-err4", "aria2.addUri", [DEAD], {}, -1)
    await d.both("addTorrent", "aria2.addTorrent", "ZGF0YQ==")
    await d.both("addMetalink", "aria2.addMetalink", "ZGF0YQ==")

    # ---- reading ----
    for label, gid in (("paused", P[0]), ("done", DONE), ("failed", FAILED)):
        await d.both(label, "aria2.tellStatus", gid)
        await d.both(f"{label}-keys", "aria2.tellStatus", gid, ["gid", "status", "bogus"])
        await d.both(f"options-{label}", "aria2.getOption", gid)
    await d.both("getFiles", "aria2.getFiles", P[0])
    await d.both("getFiles-done", "aria2.getFiles", DONE)
    await d.both("getUris", "aria2.getUris", P[0])
    await d.both("getPeers", "aria2.getPeers", P[0])
    gids = {"notfound": "ffffffffffffffff", "invalid": "zz", "ambiguous": "a00000000000000",
            "prefix": "b00000000000000", "upper": DONE.upper(), "long": DONE + "0"}  # fmt: skip
    for label, text in gids.items():
        await d.both(f"tellStatus-{label}", "aria2.tellStatus", text, ["gid"])
    await d.both("tellStatus-type", "aria2.tellStatus", P[0], "gid")
    await d.both("getFiles-err", "aria2.getFiles", "ffffffffffffffff")
    await d.both("getUris-err", "aria2.getUris", DONE)
    await d.both("getPeers-err", "aria2.getPeers", DONE)
    await d.both("getServers-err", "aria2.getServers", P[0])
    await d.both("getOption-err", "aria2.getOption", "ffffffffffffffff")
    keys = ["gid", "status", "errorCode"]
    for offset, num in ((0, 100), (2, 3), (-1, 3), (-3, 100), (-9, 2), (-100, 1), (9, 1)):
        await d.both(f"waiting{offset},{num}", "aria2.tellWaiting", offset, num, keys)
        await d.both(f"stopped{offset},{num}", "aria2.tellStopped", offset, num, keys)
    await d.both("tellWaiting", "aria2.tellWaiting", 0, 2)
    await d.both("tellStopped", "aria2.tellStopped", 0, 10)
    await d.both("tellWaiting-err", "aria2.tellWaiting", 0, -1)
    await d.both("tellStopped-err", "aria2.tellStopped", "0", 1)
    await d.both("tellActive", "aria2.tellActive")
    await d.both("tellActive-err", "aria2.tellActive", "gid")
    await d.both("getGlobalStat", "aria2.getGlobalStat")
    await d.both("getVersion", "aria2.getVersion")
    await d.both("getSessionInfo", "aria2.getSessionInfo")
    await d.both("options-global", "aria2.getGlobalOption")
    await d.both("listMethods", "system.listMethods", token=None)
    await d.both("listNotifications", "system.listNotifications", token=None)

    # ---- an active download ----
    slow = fault_server.url("/diff/slow.bin", size=16 << 20, seed=2, rate=256 << 10)
    await d.both("add-active", "aria2.addUri", [slow], {"gid": ACTIVE}, 0)
    await d.wait(ACTIVE, {"active"})
    await asyncio.sleep(1.0)  # both have the length and a connection by now
    await d.both("active", "aria2.tellActive", ["gid", "status", "totalLength", "numPieces"])
    await d.both("active-full", "aria2.tellStatus", ACTIVE)
    await d.both("servers", "aria2.getServers", ACTIVE)
    await d.both("forceRemove", "aria2.forceRemove", ACTIVE)
    await d.wait(ACTIVE, {"removed"})
    await d.both("active-removed", "aria2.tellStatus", ACTIVE, ["gid", "status", "errorCode"])

    # ---- steering (a multicall is atomic in aria2: an unpaused task cannot start) ----
    def mc(*calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
        return [{"methodName": m, "params": [TOKEN, *p]} for m, p in calls]

    await d.both("unpause-pause", "system.multicall",
                 mc(("aria2.unpause", [P[0]]), ("aria2.pause", [P[0]]),
                    ("aria2.unpause", [P[0]]), ("aria2.forcePause", [P[0].upper()])),
                 token=None)  # fmt: skip
    await d.both("all", "system.multicall",
                 mc(("aria2.unpauseAll", []), ("aria2.pauseAll", []), ("aria2.unpauseAll", []),
                    ("aria2.forcePauseAll", [])),
                 token=None)  # fmt: skip
    await d.both("pause-err", "aria2.pause", P[1])
    await d.both("forcePause-err", "aria2.forcePause", DONE)
    await d.both("unpause-err", "aria2.unpause", DONE)
    await d.both("after-steering", "aria2.tellWaiting", 0, 100, ["gid", "status"])
    await d.both("changePosition", "aria2.changePosition", P[2], 0, "POS_SET")
    await d.both("changePosition2", "aria2.changePosition", P[2], -1, "POS_END")
    await d.both("changePosition3", "aria2.changePosition", P[2], -2, "POS_CUR")
    await d.both("changePosition-err", "aria2.changePosition", P[2], 0, "POS_X")
    await d.both("changePosition-err2", "aria2.changePosition", DONE, 0, "POS_SET")
    await d.both("positions", "aria2.tellWaiting", 0, 100, ["gid"])
    await d.both("changeUri", "aria2.changeUri", P[0], 1, [f"{DEAD}f0", "http://x/"],
                 [f"{DEAD}z", "bad", f"{DEAD}y"], 0)  # fmt: skip
    await d.both("changeUri-uris", "aria2.getUris", P[0])
    await d.both("changeUri-err", "aria2.changeUri", P[0], 2, [], [])
    await d.both("changeUri-err2", "aria2.changeUri", P[0], 0, [], [])
    await d.both("changeUri-err3", "aria2.changeUri", DONE, 1, [], [])
    change = {"split": "3", "max-download-limit": "100K", "header": ["A: 1", "B: 2"],
              "nosuch": "1", "out": "renamed.bin"}  # fmt: skip
    await d.both("changeOption", "aria2.changeOption", P[0], change)
    await d.both("options-changed", "aria2.getOption", P[0])
    await d.both("changeOption-err", "aria2.changeOption", P[0], {"split": "x"})
    await d.both("changeOption-err2", "aria2.changeOption", DONE, {"split": "2"})
    await d.both("changeGlobalOption", "aria2.changeGlobalOption",
                 {"max-overall-download-limit": "1M", "split": "4", "nosuch": "1"})  # fmt: skip
    await d.both("options-global-changed", "aria2.getGlobalOption")
    await d.both("changeGlobalOption-err", "aria2.changeGlobalOption", {"max-tries": "-1"})

    # ---- results, sessions, multicall, tokens ----
    await d.both("saveSession-err", "aria2.saveSession")
    for side in (d.aria2, d.lixian):
        session = side.directory / "session.txt"
        request = {"id": 0, "method": "aria2.changeGlobalOption",
                   "params": [TOKEN, {"save-session": str(session)}]}  # fmt: skip
        await side.send(request)
    await d.both("saveSession", "aria2.saveSession")
    saved = [
        {line.strip() for line in (side.directory / "session.txt").read_text().splitlines()
         if line.strip().startswith("gid=")}
        for side in (d.aria2, d.lixian)
    ]  # fmt: skip
    assert saved[0] == saved[1], "the two session files hold different downloads"
    await d.both("removeDownloadResult", "aria2.removeDownloadResult", FAILED)
    await d.both("removeDownloadResult-err", "aria2.removeDownloadResult", P[0])
    await d.both("remove", "aria2.remove", P[6])
    await d.both("remove-err", "aria2.remove", DONE)
    await d.both("forceRemove-err", "aria2.forceRemove", "zz")
    await d.both("removed-waiting", "aria2.tellStatus", P[6], ["gid", "status"])
    # A GID aria2 no longer holds (a removed paused download, a removed result, one
    # never seen) is "GID x is not found" from every method, full or as a prefix.
    gid_methods = {
        "aria2.remove": [], "aria2.forceRemove": [], "aria2.pause": [], "aria2.forcePause": [],
        "aria2.unpause": [], "aria2.changePosition": [0, "POS_SET"], "aria2.tellStatus": [],
        "aria2.getUris": [], "aria2.getFiles": [], "aria2.getPeers": [], "aria2.getServers": [],
        "aria2.getOption": [], "aria2.changeUri": [1, [], []], "aria2.changeOption": [{}],
        "aria2.removeDownloadResult": [],
    }  # fmt: skip
    for label, gid in (("forgotten", P[6]), ("result-removed", FAILED[:9]),
                       ("never-seen", "e" * 16)):  # fmt: skip
        await d.both(label, "system.multicall",
                     mc(*[(name, [gid, *rest]) for name, rest in gid_methods.items()]),
                     token=None)  # fmt: skip
    await d.both("purgeDownloadResult", "aria2.purgeDownloadResult")
    await d.both("purged", "aria2.tellStopped", 0, 100, ["gid"])
    await d.both("multicall", "system.multicall",
                 [*mc(("aria2.getSessionInfo", []), ("nosuch", [])), 5, {"params": []},
                  {"methodName": "system.multicall", "params": [[]]}],
                 token=None)  # fmt: skip
    await d.both("multicall-err", "system.multicall", token=None)
    await d.both("nosuch", "nosuch")
    # One multicall of every aria2 method with a wrong token: "Unauthorized" each.
    names = [n for n in (await d.both("names", "system.listMethods", token=None))
             if n.startswith("aria2.")]  # fmt: skip
    await d.both("unauthorized", "system.multicall",
                 [{"methodName": n, "params": [BAD_TOKEN]} for n in names], token=None)  # fmt: skip
    await d.both("unauthorized-one", "aria2.getGlobalStat", token=BAD_TOKEN)
    await d.both("shutdown-err", "aria2.shutdown", token=BAD_TOKEN)
    await d.both("listNotifications-err", "system.listNotifications", token=BAD_TOKEN)
    await d.both("listMethods-err", "system.listMethods", 5, token=BAD_TOKEN)
    await d.both("shutdown", "system.multicall",
                 mc(("aria2.shutdown", []), ("aria2.forceShutdown", [])), token=None)  # fmt: skip

    # ---- the verdict ----
    assert d.diffs == [], "unexpected differences:\n" + "\n".join(d.diffs)
    stale = set(ALLOWED) - d.fired
    assert stale == set(), f"allow-list entries that never fired: {sorted(stale)}"
    missing = [n for n in [*names, "system.multicall"] if "error" not in d.outcomes[n]]
    assert missing == [], f"methods without an error case: {missing}"
    never_ok = {n for n in names if "ok" not in d.outcomes[n]}
    # no Metalink yet; the torrents here are junk (test_bt_rpc.py adds real ones)
    assert never_ok == {"aria2.addTorrent", "aria2.addMetalink"}
