"""One test suite over every delivery backend (STYLE 12), against real components.

Backends: ``local`` (rename from a staging dir), ``local-inplace`` (downloaded where it
lives), ``staged-local`` (staged chosen by hand on a local dir), ``staged-mount`` (a real
``rclone mount`` of a webdav remote, with ``--mount-remote``), ``rclone-webdav`` (no
remote hashes: read-back) and ``rclone-sftp`` (md5/sha1 stored by the remote).

Every test compares hashes *at the destination*; for the mount that means through the
remote with rclone, never through the mount, whose reads come from its own cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from blockbuster import BlockingError, blockbuster_ctx

from fixtures.rclone import RcloneMount, RcloneServe
from lixian.errors import Aria2Code, FileExists
from lixian.storage.delivery import (
    PARTIAL_SUFFIX,
    Delivered,
    Destination,
    Progress,
    Verified,
    deliver,
)
from lixian.storage.destinations import choose_destination
from lixian.storage.integrity import verify
from lixian.storage.local import ensure_dir
from lixian.storage.rclone import RcloneDestination
from lixian.storage.rclone_cli import Rclone
from lixian.storage.staged import LocalDestination, StagedDestination

MiB = 1024 * 1024
BACKENDS = [
    "local",
    "local-inplace",
    "staged-local",
    "staged-mount",
    "rclone-webdav",
    "rclone-sftp",
]


@dataclass
class Backend:
    name: str
    destination: Destination
    verified: Verified
    staging: Path  # where "downloads" are written before delivery
    observe: Callable[[str], int | None]  # blocking: size under the final name, or None
    dest_sha256: Callable[[str], Awaitable[str | None]]  # hash read at the destination

    def local_file(self, relpath: str, data: bytes) -> Path:
        path = self.staging / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def _stat_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


async def _file_sha256(path: Path) -> str | None:
    def digest() -> str | None:
        if not path.exists():
            return None
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    return await asyncio.to_thread(digest)


def _remote_sha256(rclone: Rclone, root: str) -> Callable[[str], Awaitable[str | None]]:
    async def read(relpath: str) -> str | None:
        if await rclone.stat(f"{root}/{relpath}") is None:
            return None
        return await rclone.hashsum("sha256", f"{root}/{relpath}", download=True)

    return read


def make_backend(
    name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique: str,
    rclone: Rclone,
) -> Backend:
    staging = tmp_path / "staging"
    if name in ("local", "local-inplace", "staged-local"):
        root = tmp_path / "dest"
        dest: Destination = (
            StagedDestination(root) if name == "staged-local" else LocalDestination(root)
        )
        return Backend(
            name,
            dest,
            "local" if name != "staged-local" else "written",
            root if name == "local-inplace" else staging,
            lambda rel: _stat_size(root / rel),
            lambda rel: _file_sha256(root / rel),
        )
    if name == "staged-mount":
        mount: RcloneMount = request.getfixturevalue("fuse_mount")
        root = mount.mountpoint / unique
        dest = StagedDestination(root, mount_remote=f"lxwd:{unique}", rclone=rclone, remote_wait=60)
        return Backend(
            name,
            dest,
            "remote",
            staging,
            lambda rel: _stat_size(root / rel),
            _remote_sha256(rclone, f"lxwd:{unique}"),
        )
    server: RcloneServe = request.getfixturevalue("webdav" if name == "rclone-webdav" else "sftp")
    remote_root = f"{server.name}:{unique}"
    return Backend(
        name,
        RcloneDestination(remote_root, rclone),
        "remote",
        staging,
        lambda rel: _stat_size(server.root / unique / rel),
        _remote_sha256(rclone, remote_root),
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, unique: str, rclone: Rclone) -> Backend:
    return make_backend(request.param, request, tmp_path, unique, rclone)


class Recorder:
    """Progress callbacks, checked to arrive on the event loop's thread."""

    def __init__(self) -> None:
        self.events: list[Progress] = []
        self.thread = threading.get_ident()
        self.off_loop = 0

    def __call__(self, p: Progress) -> None:
        self.off_loop += threading.get_ident() != self.thread
        self.events.append(p)

    def phase(self, name: str) -> list[Progress]:
        return [e for e in self.events if e.phase == name]


async def test_deliver_puts_the_same_bytes_at_the_destination(backend: Backend) -> None:
    data = os.urandom(9 * MiB + 12345)
    local = backend.local_file("sub/dir/file.bin", data)
    progress = Recorder()

    done = await deliver(local, backend.destination, progress, relpath="sub/dir/file.bin")

    want = hashlib.sha256(data).hexdigest()
    assert done.sha256 == want
    assert done.size == len(data)
    assert done.verified == backend.verified
    assert done.location == backend.destination.location("sub/dir/file.bin")
    assert await backend.dest_sha256("sub/dir/file.bin") == want
    assert local.exists() == (backend.name == "local-inplace")  # the local copy is freed
    assert progress.off_loop == 0
    uploads = [e.done for e in progress.phase("uploading")]
    assert uploads == sorted(uploads)
    if backend.name not in ("local", "local-inplace"):
        assert uploads and uploads[-1] == len(data)
    if backend.name == "rclone-sftp":
        assert done.remote_hash is not None and done.remote_hash[0] == "sha1"
        assert done.remote_hash[1] == hashlib.sha1(data).hexdigest()


async def test_final_name_never_holds_a_partial_file(backend: Backend, rclone: Rclone) -> None:
    if isinstance(backend.destination, RcloneDestination):  # slow the upload to watch it
        backend.destination.rclone = Rclone(env=rclone.env, flags=("--bwlimit", "12M"))
    data = os.urandom(24 * MiB)
    local = backend.local_file("big.bin", data)
    stop = threading.Event()
    seen: list[int | None] = []

    def watch() -> None:
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            seen.append(backend.observe("big.bin"))
            time.sleep(0.002)

    watcher = asyncio.create_task(asyncio.to_thread(watch))
    for _ in range(500):  # the watcher is looking before delivery starts
        if seen:
            break
        await asyncio.sleep(0.01)
    try:
        done = await deliver(local, backend.destination, relpath="big.bin")
    finally:
        stop.set()
        await watcher
    assert seen
    partial = [s for s in seen if s is not None and s != len(data)]
    assert partial == [], f"final name showed partial sizes {sorted(set(partial))[:5]}"
    assert done.verified == backend.verified
    assert await backend.dest_sha256("big.bin") == hashlib.sha256(data).hexdigest()


async def test_verdict_then_delivery_of_a_media_file(backend: Backend, webm_clip: Path) -> None:
    local = backend.local_file("clip.webm", _bytes(webm_clip))

    verdict = await verify(local)
    assert verdict.ok and verdict.media and verdict.decode is not None and verdict.decode.checked
    done = await deliver(local, backend.destination, sha256=verdict.sha256)

    assert done.sha256 == verdict.sha256
    assert await backend.dest_sha256("clip.webm") == verdict.sha256


async def test_keep_local_and_redelivery(backend: Backend) -> None:
    data = os.urandom(3 * MiB)
    local = backend.local_file("seeded.bin", data)
    first = await deliver(local, backend.destination, keep_local=True)
    assert local.exists()  # a torrent still seeding reads it

    again = await deliver(local, backend.destination)  # retry after a crash: accepted
    assert (again.location, again.sha256) == (first.location, first.sha256)
    if backend.name != "local-inplace":
        other = backend.local_file("seeded.bin", os.urandom(3 * MiB))
        with pytest.raises(FileExists) as info:
            await deliver(other, backend.destination)
        assert info.value.code == Aria2Code.FILE_EXISTS
        assert other.exists()  # never freed when nothing was delivered
    assert await backend.dest_sha256("seeded.bin") == hashlib.sha256(data).hexdigest()


async def test_delivery_never_blocks_the_event_loop(backend: Backend) -> None:
    """blockbuster fails blocking calls (os.stat, os.read, os.write, mkdir, buffered file
    reads, ...) that lixian code makes on the event loop's thread; worker threads may.
    (It does not see unbuffered ``FileIO`` reads: those are kept to worker threads by
    construction, in ``integrity._read_pass``.)"""
    data = os.urandom(5 * MiB)
    local = backend.local_file("quiet.bin", data)
    with blockbuster_ctx(scanned_modules=["lixian"]):
        with pytest.raises(BlockingError):  # the detector is armed
            ensure_dir(local.parent)
        done = await deliver(local, backend.destination)
    assert done.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["staged-local", "staged-mount", "rclone-webdav"])
async def test_cancelled_delivery_leaves_nothing_under_the_final_name(
    name: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    unique: str,
    rclone: Rclone,
) -> None:
    backend = make_backend(name, request, tmp_path, unique, rclone)
    if isinstance(backend.destination, RcloneDestination):
        backend.destination.rclone = Rclone(env=rclone.env, flags=("--bwlimit", "4M"))
    local = backend.local_file("cut.bin", os.urandom(48 * MiB))
    started = asyncio.Event()

    def on_progress(p: Progress) -> None:
        if p.phase == "uploading" and p.done > 0:
            started.set()

    task = asyncio.create_task(deliver(local, backend.destination, on_progress))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.observe("cut.bin") is None
    assert backend.observe(f".cut.bin{PARTIAL_SUFFIX}") is None  # the hidden copy is gone too
    assert local.exists()  # nothing delivered, nothing freed


async def test_mount_is_only_written_not_verified_and_an_unmount_loses_the_file(
    slow_mount: RcloneMount, rclone: Rclone, tmp_path: Path, unique: str
) -> None:
    """DESIGN's measured fact, and lixian's honesty about it: without --mount-remote a
    delivery to a mount is "written" (read back from rclone's cache), and here the
    mount is unmounted right after: the remote never gets the file."""
    destination = choose_destination(slow_mount.mountpoint / unique)
    assert isinstance(destination, StagedDestination)  # detected from the mount table
    data = os.urandom(4 * MiB)
    local = tmp_path / "lost.bin"
    local.write_bytes(data)

    done = await deliver(local, destination)
    took = slow_mount.unmount()

    assert done.verified == "written" and done.verified != "remote"
    assert "--mount-remote" in done.detail
    assert took < 10  # the unmount did not wait for an upload
    assert await rclone.stat(f"lxwd:{unique}/lost.bin") is None  # never reached the remote


async def test_mount_remote_that_never_shows_the_file_stays_written(
    slow_mount: RcloneMount, rclone: Rclone, tmp_path: Path, unique: str
) -> None:
    destination = StagedDestination(
        slow_mount.mountpoint / unique,
        mount_remote=f"lxwd:{unique}",
        rclone=rclone,
        remote_wait=2,
    )
    local = tmp_path / "late.bin"
    local.write_bytes(os.urandom(MiB))

    done: Delivered = await deliver(local, destination)

    assert done.verified == "written"
    assert "not confirmed" in done.detail


def test_destination_is_chosen_from_the_spec(fuse_mount: RcloneMount, tmp_path: Path) -> None:
    assert isinstance(choose_destination(tmp_path), LocalDestination)
    assert not isinstance(choose_destination(tmp_path), StagedDestination)
    assert isinstance(choose_destination(fuse_mount.mountpoint / "x"), StagedDestination)
    assert isinstance(choose_destination(tmp_path, mode="staged"), StagedDestination)
    assert isinstance(choose_destination("lxwd:some/dir"), RcloneDestination)
    assert choose_destination("lxwd:some/dir").location("a/b.iso") == "lxwd:some/dir/a/b.iso"


def _bytes(path: Path) -> bytes:
    return path.read_bytes()
