"""BtDownload against a local swarm: libtorrent seeders on 127.0.0.2+, a tracker on 127.0.0.1,
aria2c as a peer both ways. Every download is checked by the sha256 of every file."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import libtorrent as lt
import pytest

from fixtures.swarm import sha256_tree
from fixtures.swarm_fixture import Content, Swarm
from lixian.engines.bt.config import BtOptions, PiecePriority
from lixian.engines.bt.download import BtDownload, BtJob, BtResult
from lixian.engines.bt.errors import DuplicateTorrent
from lixian.engines.bt.events import BtEvent, DownloadComplete, MetadataReceived
from lixian.engines.bt.session import BtSession
from lixian.engines.bt.torrent import MagnetLink, parse_magnet, parse_torrent
from lixian.errors import Aria2Code

pytestmark = pytest.mark.timeout(180)

KIB = 1024
MIB = 1024 * KIB
PACK = {"a.bin": 3 * MIB + 1, "sub/b.bin": MIB, "tiny.txt": 10}
TESTS = Path(__file__).resolve().parents[1]


async def fetch(session: BtSession, job: BtJob, within: float = 60) -> tuple[BtDownload, BtResult]:
    download = BtDownload(job, session)
    result = await asyncio.wait_for(download.run(), within)
    return download, result


def assert_same_files(directory: Path, content: Content, only: set[str] | None = None) -> None:
    got = sha256_tree(directory)
    want = {k: v for k, v in content.digests.items() if only is None or k in only}
    assert {k: got.get(k) for k in want} == want


async def wait_for(check: Callable[[], object], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def magnet_for(info_hash: str, swarm: Swarm) -> MagnetLink:
    return parse_magnet(f"magnet:?xt=urn:btih:{info_hash}&tr={swarm.tracker.url}")


# ---- plain downloads ------------------------------------------------------------------------


async def test_torrent_from_two_seeders(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content, comment="made for lixian")
    swarm.seeders(data, content, 2)
    meta = parse_torrent(data)
    lags: list[float] = []

    async def probe() -> None:  # nothing libtorrent does may stall the loop
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t0 - 0.01)

    prober = asyncio.create_task(probe())
    try:
        download, result = await fetch(
            bt_session, BtJob(meta, tmp_path / "dl", BtOptions(seed_time=0))
        )
    finally:
        prober.cancel()
    assert_same_files(tmp_path / "dl", content)
    total = sum(PACK.values())
    assert (result.total_length, result.completed_length) == (total, total)
    assert result.downloaded >= total and result.resume_data
    assert result.path == tmp_path / "dl" / "pack"
    assert download.info_hash == meta.info_hash == result.info_hash
    assert download.num_pieces == meta.num_pieces and download.piece_length == 64 * KIB
    n = meta.num_pieces
    bits = "1" * n + "0" * (-n % 8)  # aria2's layout: piece 0 is the first byte's high bit
    assert download.bitfield == f"{int(bits, 2):0{len(bits) // 4}x}"
    assert [(f.index, f.path, f.length) for f in download.files] == [
        (f.index, tmp_path / "dl" / f.path, f.length) for f in meta.files
    ]
    assert {f.path.name for f in download.files} == {"a.bin", "b.bin", "tiny.txt"}
    assert all(f.completed_length == f.length and f.selected for f in download.files)
    assert download.mode == "multi" and download.comment == "made for lixian"
    assert download.creation_date == 1_700_000_000
    assert download.announce_list == ((swarm.tracker.url,),)
    assert download.seeder
    events = {a.event for a in swarm.tracker.announces() if a.ip == "127.0.0.1"}
    assert {"started", "completed"} <= events
    print(f"worst event-loop lag during the download: {max(lags) * 1000:.1f} ms")
    assert max(lags) < 0.25, f"event loop stalled {max(lags):.3f}s"


async def test_magnet_through_the_tracker(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    info_hash = parse_torrent(data).info_hash
    link = parse_magnet(f"magnet:?xt=urn:btih:{info_hash}&dn=pack&tr={swarm.tracker.url}")
    events: list[BtEvent] = []
    job = BtJob(
        link, tmp_path / "dl", BtOptions(seed_time=0, save_metadata=True), on_event=events.append
    )
    download = BtDownload(job, bt_session)
    assert download.name == "pack" and download.path is None and download.total_length is None
    result = await asyncio.wait_for(download.run(), 60)
    assert [type(e) for e in events] == [MetadataReceived, DownloadComplete]
    first = events[0]
    assert isinstance(first, MetadataReceived) and first.info_hash == info_hash
    assert parse_torrent(first.torrent).info_hash == info_hash
    assert (tmp_path / "dl" / f"{info_hash}.torrent").read_bytes() == first.torrent
    assert result.torrent == first.torrent and not result.metadata_only
    (tmp_path / "dl" / f"{info_hash}.torrent").unlink()
    assert_same_files(tmp_path / "dl", content)


@pytest.mark.parametrize("flag", ["metadata_only", "pause_metadata"])
async def test_magnet_stops_after_metadata(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path, flag: str
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 1)
    info_hash = parse_torrent(data).info_hash
    link = parse_magnet(f"magnet:?xt=urn:btih:{info_hash}&tr={swarm.tracker.url}")
    options = BtOptions(seed_time=0, save_metadata=True, **{flag: True})
    _, result = await fetch(bt_session, BtJob(link, tmp_path / "dl", options))
    assert result.metadata_only and result.path is None
    assert result.torrent is not None and parse_torrent(result.torrent).info_hash == info_hash
    assert result.metadata_path == tmp_path / "dl" / f"{info_hash}.torrent"
    assert os.listdir(tmp_path / "dl") == [f"{info_hash}.torrent"]  # not one byte of data


async def test_duplicate_torrent_is_code_12(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content({"x.bin": 200 * KIB}, name="x.bin")
    meta = parse_torrent(swarm.torrent(content))
    first = asyncio.create_task(BtDownload(BtJob(meta, tmp_path / "a"), bt_session).run())
    await wait_for(lambda: bt_session._refs)
    with pytest.raises(DuplicateTorrent) as caught:
        await BtDownload(BtJob(meta, tmp_path / "b"), bt_session).run()
    assert caught.value.code == Aria2Code.DUPLICATE_INFO_HASH
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first


# ---- selection, names, options --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "remove_unselected"), [("torrent", False), ("torrent", True), ("magnet", False)]
)
async def test_select_file(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path, kind: str, remove_unselected: bool
) -> None:
    files = {"a.bin": MIB + 100, "b.bin": MIB + 200, "c.bin": 500 * KIB}
    content = swarm.content(files)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    options = BtOptions(
        seed_time=0, select_file=frozenset({2}), remove_unselected_file=remove_unselected
    )
    meta = parse_torrent(data)
    source = meta if kind == "torrent" else magnet_for(meta.info_hash, swarm)
    download, result = await fetch(bt_session, BtJob(source, tmp_path / "dl", options))
    assert_same_files(tmp_path / "dl", content, only={"pack/b.bin"})
    assert result.total_length == files["b.bin"]
    assert [f.selected for f in download.files] == [False, True, False]
    left = sorted(p.name for p in (tmp_path / "dl").rglob("*") if p.is_file())
    if remove_unselected:
        assert left == ["b.bin"]
    else:  # unselected files are never fully fetched (boundary pieces live in a .parts file)
        assert "b.bin" in left
        assert sha256_tree(tmp_path / "dl").get("pack/a.bin") != content.digests["pack/a.bin"]
        assert sha256_tree(tmp_path / "dl").get("pack/c.bin") != content.digests["pack/c.bin"]


@pytest.mark.parametrize("kind", ["torrent", "magnet"])
async def test_hostile_names_land_inside_the_dir(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path, kind: str
) -> None:
    # On disk (Linux) the seeders use the raw names; lixian must rename every one (for a
    # magnet: after the metadata arrives, before a byte is written).
    content = swarm.content({"CON": 70 * KIB, "a:b?.txt": 5000, "nul.tar.gz": 100, "ok.bin": 10})
    data = swarm.torrent(content)
    swarm.seeders(data, content, 1)
    meta = parse_torrent(data)
    source = meta if kind == "torrent" else magnet_for(meta.info_hash, swarm)
    _, result = await fetch(bt_session, BtJob(source, tmp_path / "dl", BtOptions(seed_time=0)))
    got = sha256_tree(tmp_path / "dl")
    renamed = {
        "pack/CON": "pack/CON_",
        "pack/a:b?.txt": "pack/a_b_.txt",
        "pack/nul.tar.gz": "pack/nul_.tar.gz",
    }
    assert got == {renamed.get(k, k): v for k, v in content.digests.items()}
    assert result.path == tmp_path / "dl" / "pack"


async def test_index_out(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 1)
    options = BtOptions(seed_time=0, index_out=((1, "elsewhere/first.bin"),))
    download, _ = await fetch(bt_session, BtJob(parse_torrent(data), tmp_path / "dl", options))
    got = sha256_tree(tmp_path / "dl")
    assert got["elsewhere/first.bin"] == content.digests["pack/a.bin"]
    assert "pack/a.bin" not in got
    assert download.files[0].path == tmp_path / "dl" / "elsewhere" / "first.bin"


async def test_trackers_merged_and_excluded(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content({"x.bin": 300 * KIB}, name="x.bin")
    dead = "http://127.0.0.1:9/announce"
    data = swarm.torrent(content, trackers=[dead, swarm.tracker.url])
    swarm.seeders(data, content, 1)
    options = BtOptions(
        seed_time=0,
        exclude_trackers=(dead,),
        trackers=("udp://127.0.0.1:9",),
        tracker_list=(
            swarm.tracker.url.replace("http://", "HTTP://") + "/",
            "http://127.0.0.1:8/a",
        ),
    )
    download, _ = await fetch(bt_session, BtJob(parse_torrent(data), tmp_path / "dl", options))
    assert download.announce_list == (
        (swarm.tracker.url,),
        ("udp://127.0.0.1:9",),
        ("http://127.0.0.1:8/a",),
    )
    assert_same_files(tmp_path / "dl", content)


async def test_download_limit(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"x.bin": MIB}, name="x.bin")
    data = swarm.torrent(content, piece_length=16 * KIB)
    swarm.seeders(data, content, 2)
    options = BtOptions(seed_time=0, max_download_limit=256 * KIB)
    t0 = time.monotonic()
    await fetch(bt_session, BtJob(parse_torrent(data), tmp_path / "dl", options))
    elapsed = time.monotonic() - t0
    assert_same_files(tmp_path / "dl", content)
    assert elapsed > 2.5, f"1 MiB at 256 KiB/s took {elapsed:.2f}s"


async def test_max_peers(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"x.bin": 2 * MIB}, name="x.bin")
    data = swarm.torrent(content, piece_length=32 * KIB)
    swarm.seeders(data, content, 3, upload_limit=1 * MIB)
    download = BtDownload(
        BtJob(parse_torrent(data), tmp_path / "dl", BtOptions(seed_time=0, max_peers=1)),
        bt_session,
    )
    run = asyncio.create_task(download.run())
    seen: set[int] = set()
    while not run.done():
        seen.add(len(download.peers))
        await asyncio.sleep(0.05)
    await run
    assert max(seen) == 1  # --bt-max-peers=1 with three seeders in the swarm
    assert_same_files(tmp_path / "dl", content)


# ---- seeding --------------------------------------------------------------------------------


async def test_seed_time_zero_stops_when_done(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    done_at: list[float] = []

    def note(event: BtEvent) -> None:
        if isinstance(event, DownloadComplete):
            done_at.append(time.monotonic())

    job = BtJob(parse_torrent(data), tmp_path / "dl", BtOptions(seed_time=0), on_event=note)
    _, result = await fetch(bt_session, job)
    assert done_at and time.monotonic() - done_at[0] < 3
    assert result.seeded_seconds < 2
    assert not bt_session._refs  # left the session
    assert_same_files(tmp_path / "dl", content)


async def test_seed_ratio(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"x.bin": 2 * MIB}, name="x.bin")
    data = swarm.torrent(content)
    seeders = swarm.seeders(data, content, 1)
    complete = asyncio.Event()
    job = BtJob(
        parse_torrent(data),
        tmp_path / "dl",
        BtOptions(seed_time=None, seed_ratio=1.0),
        on_event=lambda e: complete.set() if isinstance(e, DownloadComplete) else None,
    )
    download = BtDownload(job, bt_session)
    run = asyncio.create_task(download.run())
    await asyncio.wait_for(complete.wait(), 30)
    assert download.phase == "seeding" and not run.done()
    for seeder in seeders:  # from now on lixian is the only source
        seeder.stop()
    leecher = swarm.leecher(data, tmp_path / "other")
    assert bt_session.listen_port
    leecher.connect("127.0.0.1", bt_session.listen_port)
    await asyncio.to_thread(leecher.wait_done, 60)
    result = await asyncio.wait_for(run, 30)
    assert result.uploaded >= 2 * MIB
    assert sha256_tree(tmp_path / "other") == content.digests
    assert_same_files(tmp_path / "dl", content)


async def test_upload_limit(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"x.bin": MIB}, name="x.bin")
    data = swarm.torrent(content, piece_length=16 * KIB)
    options = BtOptions(seed_time=None, seed_ratio=0.0, max_upload_limit=256 * KIB)
    # lixian seeds what is on disk, throttled; a leecher takes it all from lixian.
    download = BtDownload(BtJob(parse_torrent(data), content.path.parent, options), bt_session)
    run = asyncio.create_task(download.run())
    await wait_for(lambda: download.phase == "seeding")
    leecher = swarm.leecher(data, tmp_path / "other")
    assert bt_session.listen_port
    t0 = time.monotonic()
    leecher.connect("127.0.0.1", bt_session.listen_port)
    await asyncio.to_thread(leecher.wait_done, 60)
    elapsed = time.monotonic() - t0
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert sha256_tree(tmp_path / "other") == content.digests
    assert elapsed > 2.5, f"1 MiB at 256 KiB/s took {elapsed:.2f}s"


# ---- pause, priorities ----------------------------------------------------------------------


async def test_pause_and_resume(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"x.bin": 3 * MIB}, name="x.bin")
    data = swarm.torrent(content, piece_length=32 * KIB)
    swarm.seeders(data, content, 2, upload_limit=384 * KIB)
    download = BtDownload(
        BtJob(parse_torrent(data), tmp_path / "dl", BtOptions(seed_time=0)), bt_session
    )
    run = asyncio.create_task(download.run())
    await wait_for(lambda: download.completed_length > 512 * KIB)
    await download.pause()
    assert download.phase == "paused"
    await asyncio.sleep(0.6)  # blocks already on the wire may still land
    before = download.completed_length
    await asyncio.sleep(1.5)
    assert download.completed_length - before <= 32 * KIB
    assert download.status is not None and download.status.paused
    assert download.completed_length < 3 * MIB
    await download.resume()
    result = await asyncio.wait_for(run, 60)
    assert result.completed_length == 3 * MIB
    assert_same_files(tmp_path / "dl", content)


async def test_head_and_tail_first(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"movie.mkv": 2 * MIB}, name="movie.mkv")
    data = swarm.torrent(content, piece_length=32 * KIB)  # 64 pieces
    swarm.seeders(data, content, 2, upload_limit=512 * KIB)
    options = BtOptions(seed_time=0, prioritize=PiecePriority(head=128 * KIB, tail=96 * KIB))
    download, _ = await fetch(bt_session, BtJob(parse_torrent(data), tmp_path / "dl", options))
    assert_same_files(tmp_path / "dl", content)
    first = {0, 1, 2, 3, 61, 62, 63}
    log = download.piece_log
    assert sorted(log) == list(range(64))
    # The prioritized pieces finish first, give or take the blocks already queued at the other
    # peer: all 7 among the first 14 (in a shuffle the last of 7 comes at ~56 of 64).
    assert max(log.index(p) for p in first) < 2 * len(first), log[:16]


async def test_sequential_mode(swarm: Swarm, bt_session: BtSession, tmp_path: Path) -> None:
    content = swarm.content({"movie.mkv": 2 * MIB}, name="movie.mkv")
    data = swarm.torrent(content, piece_length=32 * KIB)
    swarm.seeders(data, content, 2, upload_limit=512 * KIB)
    options = BtOptions(seed_time=0, sequential=True)
    download, _ = await fetch(bt_session, BtJob(parse_torrent(data), tmp_path / "dl", options))
    assert_same_files(tmp_path / "dl", content)
    log = download.piece_log
    assert sorted(log) == list(range(64))
    # In order up to the pieces in flight at once (rarest-first, with every peer a seed, is a
    # shuffle: about half of all pairs out of order).
    assert disorder(log) < 0.2, log


def disorder(log: list[int]) -> float:
    """The share of pairs of pieces that finished out of order (0 = sorted, 0.5 = shuffled)."""
    pairs = len(log) * (len(log) - 1) // 2
    return sum(1 for i, a in enumerate(log) for b in log[i + 1 :] if a > b) / pairs


# ---- aria2c as the other peer ---------------------------------------------------------------


async def test_lixian_leeches_from_aria2c(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    aria2 = swarm.aria2(data, content.path.parent, seed_time=10, check_integrity=True)
    with aria2:
        await wait_for(lambda: any(a.left == 0 for a in swarm.tracker.announces()), 30)
        job = BtJob(parse_torrent(data), tmp_path / "dl", BtOptions(seed_time=0))
        _, result = await fetch(bt_session, job)
    assert_same_files(tmp_path / "dl", content)
    assert result.completed_length == sum(PACK.values())


async def test_aria2c_leeches_from_lixian(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content(PACK)
    data = swarm.torrent(content)
    # lixian seeds what is already on disk: the check finds every piece, then it seeds.
    seeding = asyncio.Event()
    job = BtJob(
        parse_torrent(data),
        content.path.parent,
        BtOptions(seed_time=None, seed_ratio=0.0),
        on_event=lambda e: seeding.set() if isinstance(e, DownloadComplete) else None,
    )
    download = BtDownload(job, bt_session)
    run = asyncio.create_task(download.run())
    await asyncio.wait_for(seeding.wait(), 30)
    aria2 = swarm.aria2(data, tmp_path / "aria2", seed_time=0)
    with aria2:
        code = await asyncio.to_thread(aria2.wait, 90)
    assert code == 0, aria2.output()[-2000:]
    assert sha256_tree(tmp_path / "aria2") == content.digests
    await wait_for(lambda: download.upload_length >= sum(PACK.values()), 5)  # all from lixian
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert download.resume_data  # cancelling (the core's pause) leaves resume data behind


# ---- integrity and crash safety -------------------------------------------------------------


def spawn_child(torrent: Path, directory: Path, *, save_at: float) -> subprocess.Popen[str]:
    """tests/fixtures/swarm_child.py: a lixian download in a process of its own, to kill."""
    path = os.environ.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "fixtures.swarm_child", str(torrent), str(directory), str(save_at)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{path}"},
        cwd=TESTS,
    )


async def test_check_integrity_repairs_a_damaged_piece(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    content = swarm.content({"x.bin": MIB}, name="x.bin")
    data = swarm.torrent(content, piece_length=64 * KIB)
    (seeder,) = swarm.seeders(data, content, 1)
    meta = parse_torrent(data)
    _, first = await fetch(bt_session, BtJob(meta, tmp_path / "dl", BtOptions(seed_time=0)))
    target = tmp_path / "dl" / "x.bin"
    with target.open("r+b") as f:  # one flipped byte in piece 5
        f.seek(5 * 64 * KIB + 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    options = BtOptions(seed_time=0, check_integrity=True)
    job = BtJob(meta, tmp_path / "dl", options, resume_data=first.resume_data)
    sent = seeder.uploaded
    await fetch(bt_session, job)
    assert_same_files(tmp_path / "dl", content)
    await asyncio.sleep(0.3)
    assert seeder.uploaded - sent == 64 * KIB  # only the damaged piece came over the wire


async def test_restart_after_kill_refetches_only_pieces_in_flight(
    swarm: Swarm, bt_session: BtSession, tmp_path: Path
) -> None:
    piece = 64 * KIB
    size = 8 * MIB
    content = swarm.content({"big.bin": size}, name="big.bin")
    data = swarm.torrent(content, piece_length=piece)  # 128 pieces
    seeders = swarm.seeders(data, content, 2, upload_limit=768 * KIB)
    torrent_file = tmp_path / "big.torrent"
    torrent_file.write_bytes(data)
    child = spawn_child(torrent_file, tmp_path / "dl", save_at=0.3)
    resume: bytes | None = None
    since: list[int] = []
    have = 0
    assert child.stdout is not None
    try:
        for line in child.stdout:  # what the core would have written to SQLite
            kind, *rest = line.split()
            if kind == "pieces":
                since.extend(int(x) for x in rest)
            elif kind == "resume":
                resume, since = base64.b64decode(rest[0]), []
            elif kind == "have":
                have = int(rest[0])
            if resume is not None and have >= 0.7 * 128:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert resume is not None
    await asyncio.sleep(0.5)  # the seeders notice the dead peer; their counters settle
    sent_before = sum(s.uploaded for s in seeders)
    for s in seeders:
        s.set_upload_limit(0)
    # What the "store" holds: the resume data's pieces plus those reported since.
    persisted = {i for i, have in enumerate(lt.read_resume_data(resume).have_pieces) if have}
    persisted |= set(since)
    in_flight = sent_before - len(persisted) * piece  # sent, but not (yet) in the store
    states: list[str] = []
    job = BtJob(
        parse_torrent(data),
        tmp_path / "dl",
        BtOptions(seed_time=0),
        resume_data=resume,
        finished_pieces=tuple(since),
    )
    download = BtDownload(job, bt_session)
    run = asyncio.create_task(download.run())
    while not run.done():
        if download.status is not None:
            states.append(download.status.state)
        await asyncio.sleep(0.02)
    await run
    await asyncio.sleep(0.3)
    assert download.status is not None
    redundant = download.status.total_redundant_bytes  # end-game duplicates, not the restart's
    refetched = sum(s.uploaded for s in seeders) - size - redundant
    print(
        f"killed at {have}/128 pieces; stored {len(persisted)} ({len(since)} since the resume "
        f"data); sent but not stored {in_flight / piece:.1f} pieces; re-fetched "
        f"{refetched / piece:.1f} pieces (+{redundant / piece:.1f} end-game duplicates)"
    )
    assert_same_files(tmp_path / "dl", content)
    assert "checking_files" not in states  # no full recheck
    # At most what was in flight at the kill; a piece half sent then is fetched whole again.
    assert refetched <= max(in_flight, 0) + piece
