"""Torrents as tasks, through the front doors: ``lixian get`` and ``lixian serve``'s RPC,
against the local swarm (a tracker on 127.0.0.1, libtorrent seeders on 127.0.0.2+).

Every download is checked by the sha256 of every file. Each lixian process runs with DHT,
LPD and peer exchange off and its own listen port, so nothing leaves loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import libtorrent as lt
import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    Daemon,
    RpcFailure,
    Serve,
    get,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
)

from conftest import RunGet
from fixtures.fault_server import FaultServer
from fixtures.swarm import free_port, sha256_tree
from fixtures.swarm_fixture import Content, Swarm
from lixian.engines.bt.torrent import parse_torrent

pytestmark = pytest.mark.timeout(240)

KIB = 1024
MIB = 1024 * KIB
PACK = {"a.bin": 3 * MIB + 1, "sub/b.bin": MIB, "tiny.txt": 10}


def quiet_bt() -> list[str]:
    """lixian's BitTorrent options for a loopback test: no DHT/LPD/PEX, a port of its own."""
    return [
        "--enable-dht=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        f"--listen-port={free_port()}",
    ]


def same_files(directory: Path, content: Content, only: set[str] | None = None) -> bool:
    got = sha256_tree(directory)
    want = {k: v for k, v in content.digests.items() if only is None or k in only}
    return {k: got.get(k) for k in want} == want


def magnet(data: bytes, swarm: Swarm) -> str:
    return f"magnet:?xt=urn:btih:{parse_torrent(data).info_hash}&tr={swarm.tracker.url}"


def wait_until(check: Callable[[], Any], timeout: float = 60, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(every)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Notifications:
    """aria2's notifications from a daemon's WebSocket, collected on a thread."""

    def __init__(self, daemon: Daemon) -> None:
        self.url = f"ws://127.0.0.1:{daemon.port}/jsonrpc"
        self.seen: list[tuple[str, str]] = []
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Notifications:
        self._thread.start()
        assert self._ready.wait(10), "the WebSocket did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self._ready.set()
            stopper = asyncio.create_task(self._stop.wait())
            while not self._stop.is_set():
                receiver = asyncio.create_task(ws.receive())
                await asyncio.wait({receiver, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done():
                    receiver.cancel()
                    break
                message = receiver.result()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(message.data)
                if "method" in data:
                    self.seen.append((data["method"], data["params"][0]["gid"]))

    def of(self, gid: str) -> list[str]:
        return [method for method, g in self.seen if g == gid]


@pytest.fixture
def bt_daemon(serve: Serve) -> Callable[..., Daemon]:
    """``lixian serve`` with loopback-only BitTorrent settings (and any extra options)."""

    def start(*args: str, **kw: Any) -> Daemon:
        return serve.start(*quiet_bt(), *args, **kw)

    return start


# ---- lixian get ---------------------------------------------------------------------------


def test_get_a_torrent_a_magnet_and_a_torrent_url(
    swarm: Swarm, run_get: RunGet, tmp_path: Path, fault_server: FaultServer
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    torrent = tmp_path / "pack.torrent"
    torrent.write_bytes(data)
    opts = ["--seed-time=0", *quiet_bt()]

    done = run_get(*opts, f"--dir={tmp_path / 'from-file'}", str(torrent), timeout=120)
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "from-file", content)

    done = run_get(*opts, f"--dir={tmp_path / 'from-magnet'}", magnet(data, swarm), timeout=120)
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "from-magnet", content)
    assert "[METADATA]" in done.stdout  # the metadata task, then the download it started

    url = fault_server.url(fault_server.add_file("/files/pack.torrent", data))
    done = run_get(*opts, f"--dir={tmp_path / 'from-url'}", url, timeout=120)
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "from-url", content)
    assert (tmp_path / "from-url" / "pack.torrent").read_bytes() == data  # --follow-torrent=true

    done = run_get(*opts, "--follow-torrent=mem", f"--dir={tmp_path / 'mem'}", url, timeout=120)
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "mem", content)
    assert not (tmp_path / "mem" / "pack.torrent").exists()


def test_get_select_file_and_bad_input(swarm: Swarm, run_get: RunGet, tmp_path: Path) -> None:
    content = swarm.content({"a.bin": MIB + 100, "b.bin": MIB + 200, "c.bin": 500 * KIB})
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    torrent = tmp_path / "pack.torrent"
    torrent.write_bytes(data)
    done = run_get(
        "--seed-time=0", "--select-file=2", *quiet_bt(), f"--dir={tmp_path / 'dl'}", str(torrent)
    )
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "dl", content, only={"pack/b.bin"})
    got = sha256_tree(tmp_path / "dl")
    assert got.get("pack/a.bin") != content.digests["pack/a.bin"]
    bad = tmp_path / "bad.torrent"
    for payload, code in ((b"d3:foo", 25), (b"d3:fooi1ee", 26)):
        bad.write_bytes(payload)
        assert run_get(*quiet_bt(), str(bad)).returncode == code
    assert run_get(*quiet_bt(), "magnet:?xt=urn:btih:zzzz").returncode == 27
    assert run_get("--select-file=0", str(torrent)).returncode == 28


# ---- the daemon ---------------------------------------------------------------------------


def test_add_torrent_and_magnet_over_rpc(
    swarm: Swarm, bt_daemon: Callable[..., Daemon], fault_server: FaultServer
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content, comment="for the daemon")
    other = swarm.content({"one.bin": 2 * MIB + 3}, name="one.bin", seed=5)
    data2 = swarm.torrent(other)
    swarm.seeders(data, content, 2)
    swarm.seeders(data2, other, 1)
    daemon = bt_daemon("--seed-time=0")
    with Notifications(daemon) as heard:
        gid = daemon.call("aria2.addTorrent", b64(data), [], {"dir": str(daemon.dir / "t")})
        first = daemon.call("aria2.addUri", [magnet(data2, swarm)], {"dir": str(daemon.dir / "m")})
        info = daemon.wait_for(gid, "complete", 120)
        metadata = daemon.wait_for(first, "complete", 120)
        (second,) = metadata["followedBy"]
        follower = daemon.wait_for(second, "complete", 120)
        wait_until(lambda: "aria2.onDownloadComplete" in heard.of(second), 10)
    assert same_files(daemon.dir / "t", content)
    assert same_files(daemon.dir / "m", other)
    meta = parse_torrent(data)
    assert info["infoHash"] == meta.info_hash and info["numSeeders"] == "0"
    assert info["bittorrent"] == {
        "announceList": [[swarm.tracker.url]],
        "comment": "for the daemon",
        "creationDate": 1_700_000_000,
        "info": {"name": "pack"},
        "mode": "multi",
    }
    assert info["totalLength"] == info["completedLength"] == str(sum(PACK.values()))
    assert info["pieceLength"] == str(64 * KIB) and info["numPieces"] == str(meta.num_pieces)
    assert set(info["bitfield"]) <= set("f08")
    assert [(f["index"], f["path"], f["selected"]) for f in info["files"]] == [
        (str(f.index), str(daemon.dir / "t" / f.path), "true") for f in meta.files
    ]
    assert metadata["files"][0]["path"].startswith("[METADATA]")
    assert metadata["infoHash"] == follower["infoHash"] == parse_torrent(data2).info_hash
    assert follower["following"] == first and "followedBy" not in follower
    assert follower["bittorrent"]["info"] == {"name": "one.bin"}
    assert follower["bittorrent"]["mode"] == "single"
    # aria2's order: the download part ends (onBtDownloadComplete), then the task
    assert heard.of(gid)[-2:] == ["aria2.onBtDownloadComplete", "aria2.onDownloadComplete"]
    assert heard.of(first)[-1] == "aria2.onDownloadComplete"
    assert "aria2.onDownloadStart" in heard.of(second)
    stopped = daemon.call("aria2.tellStopped", 0, 10, ["gid", "followedBy", "following"])
    assert {"gid": first, "followedBy": [second]} in stopped
    assert {"gid": second, "following": first} in stopped
    # a .torrent fetched over HTTP is followed the same way (--follow-torrent=true)
    url = fault_server.url(fault_server.add_file("/t/pack.torrent", data))
    fetched = daemon.call("aria2.addUri", [url], {"dir": str(daemon.dir / "h")})
    (started,) = daemon.wait_for(fetched, "complete", 60)["followedBy"]
    assert daemon.wait_for(started, "complete", 120)["following"] == fetched
    assert same_files(daemon.dir / "h", content)


def test_seeding_stays_active_until_seed_time(
    swarm: Swarm, bt_daemon: Callable[..., Daemon]
) -> None:
    content = swarm.content({"x.bin": MIB}, name="x.bin")
    data = swarm.torrent(content)
    swarm.seeders(data, content, 1)
    daemon = bt_daemon()
    gid = daemon.call("aria2.addTorrent", b64(data), [], {"seed-time": "0.05"})  # 3 s
    seeding = wait_until(
        lambda: (s := daemon.call("aria2.tellStatus", gid)).get("seeder") == "true" and s, 60
    )
    assert seeding["status"] == "active" and seeding["completedLength"] == str(MIB)
    t0 = time.monotonic()
    done = daemon.wait_for(gid, "complete", 30)
    assert time.monotonic() - t0 > 1.5  # it seeded (aria2 semantics: active while seeding)
    assert "seeder" not in done  # aria2 reports it only while the task runs
    assert same_files(daemon.dir, content)


def test_select_file_pause_unpause_remove(swarm: Swarm, bt_daemon: Callable[..., Daemon]) -> None:
    files = {"a.bin": MIB + 100, "b.bin": 2 * MIB + 200, "c.bin": 500 * KIB}
    content = swarm.content(files)
    data = swarm.torrent(content, piece_length=32 * KIB)
    seeders = swarm.seeders(data, content, 2, upload_limit=256 * KIB)
    daemon = bt_daemon("--seed-time=0")
    gid = daemon.call("aria2.addTorrent", b64(data), [], {"pause": "true"})
    files_before = daemon.call("aria2.getFiles", gid)
    assert [f["selected"] for f in files_before] == ["true", "true", "true"]
    daemon.call("aria2.changeOption", gid, {"select-file": "2"})
    assert daemon.call("aria2.getOption", gid)["select-file"] == "2"
    assert [f["selected"] for f in daemon.call("aria2.getFiles", gid)] == ["false", "true", "false"]
    assert daemon.call("aria2.tellStatus", gid, ["totalLength"]) == {
        "totalLength": str(files["b.bin"])
    }
    page = daemon.call("lixian.listFiles", gid, 1, 1)
    assert page["total"] == 3 and [f["index"] for f in page["files"]] == ["2"]
    daemon.call("aria2.unpause", gid)
    wait_until(lambda: int(daemon.call("aria2.tellStatus", gid)["completedLength"]) > 300 * KIB)
    assert daemon.call("aria2.getPeers", gid)  # peers while it runs, aria2's keys
    peer = daemon.call("aria2.getPeers", gid)[0]
    assert set(peer) == {
        "amChoking", "bitfield", "downloadSpeed", "ip", "peerChoking", "peerId", "port",
        "seeder", "uploadSpeed",
    }  # fmt: skip
    daemon.call("aria2.pause", gid)
    paused = daemon.wait_for(gid, "paused")
    assert int(paused["completedLength"]) < files["b.bin"]
    # live option changes on a running torrent (limits) are taken without a restart
    daemon.call("aria2.unpause", gid)
    daemon.wait_for(gid, "active")
    daemon.call("aria2.changeOption", gid, {"max-upload-limit": "10K", "bt-max-peers": "10"})
    for seeder in seeders:
        seeder.set_upload_limit(0)
    daemon.wait_for(gid, "complete", 60)
    assert same_files(daemon.dir, content, only={"pack/b.bin"})
    # remove: a running torrent leaves the session and is reported "removed"
    gid2 = daemon.call("aria2.addTorrent", b64(data), [], {"dir": str(daemon.dir / "again")})
    daemon.wait_for(gid2, "active")
    daemon.call("aria2.remove", gid2)
    assert daemon.call("aria2.tellStatus", gid2, ["status"]) == {"status": "removed"}


BAD_INPUT = [
    ("aria2.addTorrent", [b64(b"d3:foo")], "not a torrent file"),  # 25: truncated bencode
    ("aria2.addTorrent", [b64(b"\x00\x01junk")], "not a torrent file"),  # 25: not bencode
    ("aria2.addTorrent", [b64(b"d3:fooi1ee")], "bad torrent"),  # 26: bencode, no info
    ("aria2.addTorrent", [b64(b"d4:infod4:name1:x12:piece lengthi0eee")], "bad torrent"),
    ("aria2.addUri", [["magnet:?xt=urn:btih:zzzz"]], "bad magnet"),  # 27
    ("aria2.addUri", [["magnet:?dn=no-hash"]], "bad magnet"),
]


def test_bad_input_is_refused_and_the_daemon_keeps_serving(
    bt_daemon: Callable[..., Daemon],
) -> None:
    daemon = bt_daemon()
    for method, params, message in BAD_INPUT:
        with pytest.raises(RpcFailure) as caught:
            daemon.call(method, *params)
        assert (caught.value.status, caught.value.code) == (400, 1)  # aria2's error shape
        assert caught.value.message.startswith(message), caught.value.message
    assert daemon.call("aria2.getVersion")["version"]
    for listing in (
        daemon.call("aria2.tellActive"),
        daemon.call("aria2.tellWaiting", 0, 100),
        daemon.call("aria2.tellStopped", 0, 100),
    ):
        assert listing == []
    assert not daemon.dir.exists() or not any(daemon.dir.iterdir())
    with sqlite3.connect(daemon.state) as db:
        assert db.execute("SELECT count(*) FROM bt_torrents").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (0,)


# ---- kill -9 ------------------------------------------------------------------------------


def stored_pieces(state: Path, gid: str) -> set[int]:
    """The pieces the state file holds for a torrent: its resume data's and those since."""
    with sqlite3.connect(state) as db:
        row = db.execute("SELECT data FROM bt_resume WHERE gid=?", (gid,)).fetchone()
        since = {p for (p,) in db.execute("SELECT piece FROM bt_pieces WHERE gid=?", (gid,))}
    have: set[int] = set()
    if row is not None:
        have = {i for i, on in enumerate(lt.read_resume_data(row[0]).have_pieces) if on}
    return have | since


def test_kill9_mid_download_resumes_without_a_recheck(
    swarm: Swarm, serve: Serve, tmp_path: Path
) -> None:
    piece = 64 * KIB
    size = 8 * MIB  # 128 pieces
    content = swarm.content({"big.bin": size}, name="big.bin")
    data = swarm.torrent(content, piece_length=piece)
    seeders = swarm.seeders(data, content, 2, upload_limit=512 * KIB)
    state = tmp_path / "state.sqlite3"
    port = free_port()
    args = [*quiet_bt(), "--seed-time=0"]
    daemon = serve.start(*args, port=port, state=state)
    gid = daemon.call("aria2.addTorrent", b64(data))
    wait_until(lambda: int(daemon.call("aria2.tellStatus", gid)["completedLength"]) >= size // 2)
    daemon.kill9()
    time.sleep(0.5)  # the seeders notice the dead peer; their counters settle
    sent_before = sum(s.uploaded for s in seeders)
    persisted = stored_pieces(state, gid)
    in_flight = sent_before / piece - len(persisted)  # sent but not in the store at the kill
    # Every piece the store lacks is now put on disk too: a restart that hashed the file
    # (a "full recheck") would find them all and fetch nothing; one that trusts the store
    # fetches exactly the pieces the store lacks.
    (daemon.dir / "big.bin").write_bytes(content.path.read_bytes())
    # After the restart only one seeder serves, unthrottled: no end-game duplicates, so
    # every byte it sends is one the restart needed.
    seeders[1].stop()
    seeders[0].set_upload_limit(0)
    base = seeders[0].uploaded
    daemon = serve.start(*args, port=port, state=state)
    phases: list[object] = []

    def finished() -> bool:
        info = daemon.call("aria2.tellStatus", gid, ["status", "lixian"])
        phases.append((info.get("lixian") or {}).get("phase"))
        assert info["status"] in ("active", "waiting", "complete"), info
        return info["status"] == "complete"

    wait_until(finished, 60, every=0.01)
    time.sleep(0.3)
    refetched_total = (seeders[0].uploaded - base) / piece
    wasted = (sent_before / piece + refetched_total) - size / piece
    print(
        f"killed with {len(persisted)}/128 pieces stored ({sent_before / piece:.1f} sent); "
        f"after the restart {refetched_total:.1f} pieces fetched, {wasted:.1f} of them again "
        f"(sent before the kill but not stored: {in_flight:.1f})"
    )
    assert same_files(daemon.dir, content)
    assert "checking" not in phases
    assert len(persisted) >= 0.4 * 128
    # Exactly what the store lacked: no recheck (which would have fetched nothing).
    assert 128 - len(persisted) - 1 <= refetched_total <= 128 - len(persisted) + 1


def test_a_torrent_file_streams_while_it_downloads(
    swarm: Swarm, bt_daemon: Callable[..., Daemon]
) -> None:
    """``lixian.fileUrl`` of a torrent's file serves only its verified start (sequential
    mode fetches it in order, so a player can start)."""
    size = 2 * MIB
    content = swarm.content({"movie.mkv": size}, name="movie.mkv")
    data = swarm.torrent(content, piece_length=32 * KIB)
    seeders = swarm.seeders(data, content, 2, upload_limit=128 * KIB)
    daemon = bt_daemon("--seed-time=0")
    gid = daemon.call("aria2.addTorrent", b64(data), [], {"bt-sequential": "true"})
    wait_until(lambda: int(daemon.call("aria2.tellStatus", gid)["completedLength"]) > 300 * KIB)
    link = daemon.base + daemon.call("lixian.fileUrl", gid, 1)["url"]
    body = (content.path).read_bytes()
    status, headers, prefix = get(link)
    assert status == 200
    available = int(headers["Lixian-Available-Length"])
    assert 32 * KIB <= available == len(prefix) < size
    assert prefix == body[:available]  # verified pieces only: never a hole of zeros
    for seeder in seeders:
        seeder.set_upload_limit(0)
    daemon.wait_for(gid, "complete", 60)
    status, headers, whole = get(link)
    assert (status, whole) == (200, body)
