"""Free-space guard and staging budget on real, small tmpfs mounts (as root).

A few-MiB tmpfs fills in milliseconds, so "the guard speaks before ENOSPC" and "a job
larger than the local disk goes through it" are tested for real, not simulated.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.rclone import RcloneServe
from lixian.errors import Aria2Code, BadOption, DiskFull
from lixian.storage.control import ResourceMeta
from lixian.storage.delivery import PARTIAL_SUFFIX, deliver
from lixian.storage.local import FilePolicy, choose_target, open_sink
from lixian.storage.rclone import RcloneDestination
from lixian.storage.rclone_cli import Rclone
from lixian.storage.space import (
    GIB,
    LowSpace,
    MinFree,
    Ok,
    SpaceEvent,
    SpaceGuard,
    SpaceLow,
    SpaceReturned,
    StagingBudget,
)
from lixian.storage.staged import StagedDestination

MiB = 1024 * 1024
MountTmpfs = Callable[[Path, str], Path]


def _write(path: Path, data: bytes, mode: str = "ab") -> None:
    with path.open(mode) as f:
        f.write(data)


# -- --min-free-space -----------------------------------------------------------------


def test_min_free_space_default_and_syntax() -> None:
    default = MinFree()
    assert default == MinFree.parse("1G,2%")
    assert default.threshold(10 * GIB) == GIB  # small disk: 1 GiB
    assert default.threshold(1000 * GIB) == 20 * GIB  # big disk: 2%
    assert MinFree.parse("500M") == MinFree(500 * MiB, 0.0)
    assert MinFree.parse("5%").threshold(100 * GIB) == 5 * GIB
    assert MinFree.parse("0").threshold(100 * GIB) == 0
    for bad in ("150%", "lots", "1.5G"):
        with pytest.raises(BadOption):
            MinFree.parse(bad)


async def test_guard_says_low_before_the_disk_fills(
    tmp_path: Path, mount_tmpfs: MountTmpfs
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", "size=8m")
    guard = SpaceGuard(MinFree(2 * MiB, 0.0), interval=0)  # interval 0: always fresh figures
    await guard.watch(disk)
    target = disk / "download.bin"
    chunk = os.urandom(256 * 1024)
    verdict: Ok | LowSpace = Ok(free=0)
    written = 0
    for _ in range(100):  # 8 MiB / 256 KiB = 32 at most
        verdict = await guard.check(target, len(chunk))
        if isinstance(verdict, LowSpace):
            break
        await asyncio.to_thread(_write, target, chunk)  # never ENOSPC: the guard spoke first
        written += len(chunk)
    assert isinstance(verdict, LowSpace)
    assert verdict.free >= 2 * MiB and verdict.min_free == 2 * MiB
    assert str(target) in verdict.reason
    assert written >= 5 * MiB  # it did not stop needlessly early


async def test_guard_notifies_low_and_returned(tmp_path: Path, mount_tmpfs: MountTmpfs) -> None:
    disk = mount_tmpfs(tmp_path / "disk", "size=8m")
    guard = SpaceGuard(MinFree(3 * MiB, 0.0), interval=0.02, hysteresis=0.25)
    events: list[SpaceEvent] = []
    guard.add_listener(events.append)
    await guard.watch(disk / "sub" / "not-yet.bin")  # a path that does not exist yet
    guard.start()
    try:
        filler = disk / "filler.bin"
        await asyncio.to_thread(_write, filler, bytes(6 * MiB), "wb")
        for _ in range(200):
            if events:
                break
            await asyncio.sleep(0.02)
        assert [type(e) for e in events] == [SpaceLow]
        assert guard.is_low(disk / "sub" / "not-yet.bin")
        assert isinstance(guard.check_cached(disk / "x.bin", 0), LowSpace)

        waiter = asyncio.create_task(guard.wait_for_space(disk / "x.bin", MiB, within=30))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await asyncio.to_thread(filler.unlink)
        assert isinstance(await waiter, Ok)
        for _ in range(200):
            if len(events) > 1:
                break
            await asyncio.sleep(0.02)
        assert [type(e) for e in events] == [SpaceLow, SpaceReturned]
        assert events[1].free >= 3 * MiB * 1.25
    finally:
        await guard.aclose()


async def test_enospc_is_error_9_and_keeps_its_progress(
    tmp_path: Path, mount_tmpfs: MountTmpfs
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", "size=4m")
    filler = disk / "filler.bin"
    await asyncio.to_thread(_write, filler, bytes(2 * MiB), "wb")
    size = 3 * MiB
    data = os.urandom(size)
    meta = ResourceMeta("http://127.0.0.1/x.bin", size)
    policy = FilePolicy()
    target = await asyncio.to_thread(choose_target, disk / "x.bin", policy, None)
    sink = await asyncio.to_thread(open_sink, target, meta, policy, None)
    step = 256 * 1024

    async def write_all() -> None:
        for offset in range(0, size, step):
            await sink.write_at(offset, data[offset : offset + step])

    with pytest.raises(DiskFull) as info:
        await write_all()
    assert info.value.code == Aria2Code.DISK_FULL
    kept = sink.done.total()
    assert 0 < kept < size

    await asyncio.to_thread(filler.unlink)  # space returns: the same sink carries on
    for offset in range(kept - kept % step, size, step):
        await sink.write_at(offset, data[offset : offset + step])
    await sink.complete()
    assert hashlib.sha256((disk / "x.bin").read_bytes()).digest() == hashlib.sha256(data).digest()


async def test_staged_delivery_to_a_full_destination(
    tmp_path: Path, mount_tmpfs: MountTmpfs
) -> None:
    dest = mount_tmpfs(tmp_path / "dest", "size=2m")
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(3 * MiB))
    with pytest.raises(DiskFull) as info:
        await deliver(local, StagedDestination(dest))
    assert info.value.code == Aria2Code.DISK_FULL
    assert sorted(os.listdir(dest)) == []  # no partial, hidden or not
    assert local.exists()  # the only good copy is kept for a retry
    assert not (dest / f".big.bin{PARTIAL_SUFFIX}").exists()


# -- --max-staging-space ----------------------------------------------------------------


async def test_staging_budget_waits_in_order() -> None:
    budget = StagingBudget(10 * MiB)
    await budget.reserve(6 * MiB)
    big = asyncio.create_task(budget.reserve(8 * MiB))
    small = asyncio.create_task(budget.reserve(MiB))  # fits, but waits behind `big`
    await asyncio.sleep(0.01)
    assert not big.done() and not small.done()
    budget.release(6 * MiB)
    await asyncio.wait_for(big, 5)
    await asyncio.wait_for(small, 5)
    assert budget.staged == 9 * MiB and budget.peak == 9 * MiB


async def test_staging_budget_oversize_alone_and_cancellation() -> None:
    budget = StagingBudget(4 * MiB)
    await budget.reserve(20 * MiB)  # larger than the budget: runs alone
    waiting = asyncio.create_task(budget.reserve(MiB))
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    budget.release(20 * MiB)
    assert budget.staged == 0
    async with budget.hold(3 * MiB):
        assert budget.staged == 3 * MiB
        assert not budget.try_reserve(2 * MiB)
    assert budget.staged == 0 and budget.try_reserve(4 * MiB)


async def test_a_job_larger_than_the_local_disk_fits_through_it(
    tmp_path: Path, mount_tmpfs: MountTmpfs, webdav: RcloneServe, rclone: Rclone, unique: str
) -> None:
    """24 MiB of files staged on a 12 MiB disk with an 8 MiB budget, each uploaded to
    a webdav remote, verified there and freed locally before the next needs the room."""
    staging = mount_tmpfs(tmp_path / "staging", "size=12m")
    budget = StagingBudget(8 * MiB)
    destination = RcloneDestination(f"lxwd:{unique}", rclone)
    files = {f"part{i}.bin": os.urandom(4 * MiB) for i in range(6)}

    async def one(name: str, data: bytes) -> str:
        async with budget.hold(len(data)):
            path = staging / name
            await asyncio.to_thread(path.write_bytes, data)  # the "download"
            done = await deliver(path, destination)
            assert done.verified == "remote"
            return done.sha256

    results = await asyncio.gather(*(one(n, d) for n, d in files.items()))

    assert results == [hashlib.sha256(d).hexdigest() for d in files.values()]
    assert budget.peak <= 8 * MiB
    assert os.listdir(staging) == []
    for name, data in files.items():
        got = await rclone.hashsum("sha256", f"lxwd:{unique}/{name}", download=True)
        assert got == hashlib.sha256(data).hexdigest()
