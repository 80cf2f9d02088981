"""The BitTorrent engine's pure parts: settings, option parsers, trackers, priorities, errors,
and the adapter thread's plumbing (with a stand-in resource, no libtorrent)."""

from __future__ import annotations

import asyncio
import errno
import threading
import time
from pathlib import Path

import pytest

from fixtures.swarm import bencode
from lixian.engines.bt.config import (
    BtOptions,
    BtSessionConfig,
    PiecePriority,
    parse_index_out,
    parse_listen_ports,
    parse_prioritize_piece,
    parse_select_file,
)
from lixian.engines.bt.courier import Courier
from lixian.engines.bt.download import BtDownload, BtJob
from lixian.engines.bt.errors import DuplicateTorrent, error_from_code
from lixian.engines.bt.events import TorrentStatus
from lixian.engines.bt.session import BtSession, settings_pack
from lixian.engines.bt.torrent import (
    HIGH,
    NORMAL,
    SKIP,
    file_priorities,
    parse_torrent,
    piece_priorities,
)
from lixian.engines.bt.trackers import merge_trackers, parse_tracker_list, tracker_key
from lixian.errors import Aria2Code, BadOption, CannotCreateFile, DiskFull, LixianError

# ---- settings -------------------------------------------------------------------------------


def test_settings_are_explicit_and_quiet_by_default() -> None:
    pack = settings_pack(BtSessionConfig())
    assert pack["enable_lsd"] is False  # libtorrent's default is on
    assert pack["enable_upnp"] is False and pack["enable_natpmp"] is False
    assert pack["allow_multiple_connections_per_ip"] is True  # libtorrent's default is off
    assert pack["enable_outgoing_utp"] is False and pack["enable_incoming_utp"] is True
    assert pack["enable_outgoing_tcp"] is True and pack["enable_incoming_tcp"] is True
    assert pack["listen_interfaces"] == "0.0.0.0:6881,[::]:6881"
    assert pack["max_retry_port_bind"] == 118  # 6881-6999
    assert pack["enable_dht"] is True and "router.bittorrent.com:6881" in str(
        pack["dht_bootstrap_nodes"]
    )
    assert (
        str(pack["peer_fingerprint"]).startswith("-LX") and len(str(pack["peer_fingerprint"])) == 8
    )
    assert str(pack["user_agent"]).startswith("lixian/")
    assert pack["active_downloads"] == -1  # the core queues, not libtorrent


def test_settings_follow_the_options() -> None:
    config = BtSessionConfig(
        listen_hosts=("127.0.0.1",),
        listen_ports=(51413, 51413),
        enable_dht=False,
        dht_bootstrap_nodes=(("127.0.0.9", 7000),),
        enable_lpd=True,
        utp_outgoing=True,
        max_overall_upload_limit=1000,
        max_overall_download_limit=2000,
        require_crypto=True,
        min_crypto_level="arc4",
        peer_id_prefix="-XX1234-",
    )
    pack = settings_pack(config)
    assert pack["listen_interfaces"] == "127.0.0.1:51413" and pack["max_retry_port_bind"] == 0
    assert pack["enable_dht"] is False and pack["dht_bootstrap_nodes"] == "127.0.0.9:7000"
    assert pack["enable_lsd"] is True and pack["enable_upnp"] is False
    assert pack["enable_outgoing_utp"] is True
    assert (pack["upload_rate_limit"], pack["download_rate_limit"]) == (1000, 2000)
    assert pack["out_enc_policy"] == pack["in_enc_policy"] == 0  # pe_forced
    assert pack["allowed_enc_level"] == 2 and pack["prefer_rc4"] is True  # pe_rc4 only
    assert pack["peer_fingerprint"] == "-XX1234-"


def test_config_validation_and_warnings() -> None:
    with pytest.raises(BadOption):
        BtSessionConfig(listen_ports=(7000, 6000))
    with pytest.raises(BadOption):
        BtSessionConfig(min_crypto_level="rot13")
    with pytest.raises(BadOption):
        BtOptions(seed_ratio=-1)
    assert BtSessionConfig().warnings() == []
    (warning,) = BtSessionConfig(dht_listen_port=6882).warnings()
    assert "--dht-listen-port" in warning


# ---- option parsers -------------------------------------------------------------------------


def test_option_parsers() -> None:
    assert parse_listen_ports("6881-6999") == (6881, 6999)
    assert parse_listen_ports("51413") == (51413, 51413)
    assert parse_listen_ports("6881,7000-7010") == (6881, 6881)
    for bad in ("", "x", "0", "70000", "9-1"):
        with pytest.raises(BadOption):
            parse_listen_ports(bad)
    assert parse_select_file("1-3,5") == {1, 2, 3, 5}
    for bad in ("0", "a", "3-1", ""):
        with pytest.raises(BadOption):
            parse_select_file(bad)
    assert parse_prioritize_piece("head") == PiecePriority(1 << 20, 0)
    assert parse_prioritize_piece("head=2M,tail=512K") == PiecePriority(2 << 20, 512 << 10)
    with pytest.raises(BadOption):
        parse_prioritize_piece("middle")
    assert parse_index_out(("1=a/b.bin", "3=c")) == ((1, "a/b.bin"), (3, "c"))
    with pytest.raises(BadOption):
        parse_index_out(("x=y",))


@pytest.mark.parametrize(
    ("seed_time", "seed_ratio", "seconds", "ratio", "done"),
    [
        (0, 1.0, 0, 0, True),  # --seed-time=0: stop when done
        (None, 1.0, 999, 0.5, False),
        (None, 1.0, 0, 1.0, True),
        (None, 0.0, 10**6, 10.0, False),  # neither condition: seed forever
        (2, 0.0, 119, 5.0, False),
        (2, 0.0, 120, 0.0, True),
        (2, 1.0, 10, 1.0, True),  # either condition ends it, as in aria2
    ],
)
def test_seeding_rule(
    seed_time: float | None, seed_ratio: float, seconds: float, ratio: float, done: bool
) -> None:
    assert (
        BtOptions(seed_time=seed_time, seed_ratio=seed_ratio).seeding_done(seconds, ratio) is done
    )


# ---- trackers -------------------------------------------------------------------------------


def test_merge_trackers_as_aria2() -> None:
    own = [["http://a/ann", "http://b/ann"], ["udp://c:1"]]
    merged = merge_trackers(
        own,
        extra=["http://b/ann", "http://e/ann"],
        listed=["HTTP://A:80/ann/", "udp://d:2", "udp://c:1"],
        exclude=["http://b/ann"],
    )
    # b is excluded from the torrent's list but --bt-tracker adds it back (aria2: added after)
    assert merged == (
        ("http://a/ann",),
        ("udp://c:1",),
        ("http://b/ann",),
        ("http://e/ann",),
        ("udp://d:2",),
    )
    assert merge_trackers(own, exclude=["*"], extra=["http://x/"]) == (("http://x/",),)
    assert merge_trackers(own, listed=["udp://d:2"], private=True) == (
        ("http://a/ann", "http://b/ann"),
        ("udp://c:1",),
    )


def test_tracker_list_parsing() -> None:
    body = "udp://t1:1/announce\n\nhttp://t2/announce\n# comment\nftp://no\nUDP://T1:1/announce\n"
    body += "https://t3/a, wss://t4/a  javascript:alert(1)\n"
    assert parse_tracker_list(body) == (
        "udp://t1:1/announce",
        "http://t2/announce",
        "https://t3/a",
        "wss://t4/a",
    )
    assert tracker_key("http://x:80/a/") == tracker_key("HTTP://X/a")
    assert tracker_key("http://x:8080/a") != tracker_key("http://x/a")


# ---- priorities and the bitfield ------------------------------------------------------------


def _meta(sizes: list[int], piece: int = 16) -> object:
    total = sum(sizes)
    info = {
        "name": "p",
        "piece length": piece * 1024,
        "pieces": b"\0" * 20 * -(-total // (piece * 1024)),
        "files": [{"length": s, "path": [f"f{i}"]} for i, s in enumerate(sizes)],
    }
    return parse_torrent(bencode({"info": info}))


def test_piece_priorities_head_and_tail() -> None:
    kib = 1024
    meta = _meta([100 * kib, 20 * kib, 60 * kib])  # pieces of 16 KiB: 12 pieces (11.25)
    files = file_priorities(meta, frozenset({1, 3}))  # type: ignore[arg-type]
    assert files == (NORMAL, SKIP, NORMAL)
    prio = piece_priorities(meta, files, 16 * kib, 16 * kib)  # type: ignore[arg-type]
    # file 1 = bytes [0, 100K): pieces 0-6, head [0, 16K) = 0, tail [84K, 100K) = 5-6;
    # file 2 (skipped) = [100K, 120K): pieces 6-7, both shared with wanted files;
    # file 3 = [120K, 180K): pieces 7-11, head [120K, 136K) = 7-8, tail [164K, 180K) = 10-11.
    H, N = HIGH, NORMAL
    assert prio == (H, N, N, N, N, H, H, H, H, N, H, H)
    only_middle = piece_priorities(meta, (SKIP, NORMAL, SKIP), 1, 1)  # type: ignore[arg-type]
    assert [i for i, p in enumerate(only_middle) if p] == [6, 7]


class _Idle:
    async def call(self, fn: object) -> None:  # never used: nothing runs
        raise AssertionError


def test_bitfield_is_arias_layout() -> None:
    meta = _meta([16 * 1024 * 10])
    download = BtDownload(BtJob(meta, Path("/nonexistent")), _Idle())  # type: ignore[arg-type]
    assert download.bitfield == ""
    bits = (True, False, True, True, False, False, False, False, True, True)
    download.status = _status(bits)
    assert download.bitfield == "b0c0"  # 1011 0000 | 11(00 0000)
    assert download.done_ranges.total() == 5 * 16 * 1024
    assert download.completed_length == 5 * 16 * 1024


def _status(bits: tuple[bool, ...]) -> TorrentStatus:
    done = sum(bits) * 16 * 1024
    return TorrentStatus(
        state="downloading", paused=False, upload_mode=False, has_metadata=True,
        total_wanted=len(bits) * 16 * 1024, total_wanted_done=done, total_done=done,
        download_rate=0, upload_rate=0, num_peers=0, num_seeds=0, all_time_upload=0,
        all_time_download=0, total_payload_upload=0, total_payload_download=0, pieces=bits,
        num_pieces=sum(bits), seeding_seconds=0.0, is_finished=False, is_seeding=False,
        error="", total_failed_bytes=0, total_redundant_bytes=0,
    )  # fmt: skip


# ---- errors ---------------------------------------------------------------------------------


def test_libtorrent_errors_become_aria2_codes() -> None:
    full = error_from_code(
        "system", errno.ENOSPC, "No space left", filename="/x", operation="write"
    )
    assert isinstance(full, DiskFull) and full.code == Aria2Code.DISK_FULL and "/x" in str(full)
    denied = error_from_code("generic", errno.EACCES, "Permission denied", filename="/y")
    assert isinstance(denied, CannotCreateFile) and denied.code == Aria2Code.FILE_CREATE
    dup = error_from_code("libtorrent", 19, "torrent already exists in session")
    assert isinstance(dup, DuplicateTorrent) and dup.code == 12
    other = error_from_code("libtorrent", 999, "odd")
    assert type(other) is LixianError and "[libtorrent:999]" in str(other)


# ---- the adapter thread ---------------------------------------------------------------------


class _Box(Courier[list[str]]):
    """A courier over a list, ticking every 10 ms, to test the plumbing alone."""

    name = "box"

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.closed = False

    def _open(self) -> list[str]:
        return []

    def _step(self, resource: list[str]) -> float:
        self.threads.add(threading.current_thread().name)
        return 0.01

    def _news(self, resource: list[str]) -> None:
        pass

    def _shutdown(self, resource: list[str]) -> None:
        self.closed = True


async def test_courier_runs_commands_in_order_on_its_thread() -> None:
    box = _Box()
    await box._start_thread()
    results = await asyncio.gather(
        *(box.call(lambda r, i=i: r.append(str(i)) or len(r)) for i in range(50))
    )
    assert results == list(range(1, 51))
    assert await box.call(lambda r: threading.current_thread().name) == "box"
    with pytest.raises(ZeroDivisionError):
        await box.call(lambda r: 1 // 0)
    t0 = time.monotonic()
    await box.call(lambda r: None)
    assert time.monotonic() - t0 < 0.5  # a command wakes the thread, no polling delay
    parked = await box.call(lambda r: box._park("k"))
    await box._stop_thread()
    assert box.closed and box.threads == {"box"}
    with pytest.raises(LixianError, match="closed"):
        await parked  # closing fails what was still waiting
    with pytest.raises(LixianError, match="not running"):
        await box.call(lambda r: None)


async def test_one_session_per_process() -> None:
    from fixtures.swarm_fixture import loopback_config

    first = BtSession(loopback_config())
    await first.start()
    try:
        assert first.listen_port
        with pytest.raises(RuntimeError, match="already open"):
            await BtSession(loopback_config()).start()
        # changeGlobalOption reaches the running session
        await first.apply(loopback_config(max_overall_upload_limit=12345))
        settings = await first.call(lambda ses: ses.get_settings())
        assert settings["upload_rate_limit"] == 12345 and settings["enable_lsd"] is False
    finally:
        await first.close()
    again = BtSession(loopback_config())
    await again.start()
    await again.close()
