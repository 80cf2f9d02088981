"""Local and staged destinations: files that end up on a filesystem path.

``staged`` exists for FUSE and network mounts (a mounted cloud drive, NFS, SMB). The
download happens in a local staging dir; only the finished file goes to the mount:

1. copy to ``DEST/.NAME.lixian-partial`` (hashing the bytes as they are read);
2. ``fsync`` it, then ``rename`` it to ``NAME``: the final name never holds a partial,
   sparse or zero-filled file (aria2's preallocated file synced as zeros cannot happen);
3. read ``NAME`` back and compare sha256; on a mismatch the bad copy is removed;
4. only then delete the staged copy.

What step 3 proves on a mount is limited, and :class:`Delivered` says so: with
``rclone mount --vfs-cache-mode writes`` the read-back comes from rclone's local cache,
and the upload happens seconds later (measured: 5 s write-back, then the upload; an
unmount in between lost the file). So the result is ``"written"``, unless the remote
behind the mount is given (``--mount-remote REMOTE:PATH``): then lixian waits, bounded,
until the remote itself holds the same bytes, and reports ``"remote"``.

``local`` is the same protocol without a mount: a file already at its final place is
only hashed; one in a staging dir on the same filesystem is renamed; one on another
filesystem is copied as above. All blocking work runs in the delivery thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import threading
import time
from pathlib import Path, PurePosixPath

from lixian.errors import CannotCreateDir, ChecksumMismatch, DiskFull, FileExists, StorageError
from lixian.storage.delivery import (
    Delivered,
    DeliveryMismatch,
    Kind,
    ProgressBridge,
    ProgressCb,
    partial_name,
    run_blocking,
)
from lixian.storage.integrity import BLOCK, LOCAL_HASHES, hash_file
from lixian.storage.paths import confine
from lixian.storage.rclone import RemoteCheck, check_remote, local_hash
from lixian.storage.rclone_cli import Rclone, RcloneError, join_remote

__all__ = ["LocalDestination", "StagedDestination", "copy_into_place"]


def _oserror(exc: OSError, what: str) -> StorageError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"{what}: no space left on device")
    return StorageError(f"{what}: {exc.strerror}")


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable; FUSE and some network filesystems refuse, which is fine."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_back(path: Path, bridge: ProgressBridge, size: int, cancel: threading.Event) -> str:
    with contextlib.suppress(OSError):  # drop cached pages so the read goes to the fs
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)

    def report(done: int) -> None:
        bridge("verifying", done, size)

    return hash_file(path, ("sha256",), progress=report, cancel=cancel)["sha256"]


def copy_into_place(
    src: Path,
    final: Path,
    *,
    bridge: ProgressBridge,
    cancel: threading.Event,
    sha256: str | None = None,
    extra_hashes: tuple[str, ...] = (),
    overwrite: bool = False,
) -> dict[str, str]:
    """Copy ``src`` to ``final`` through a hidden partial name, fsync, rename, read back.

    Returns the hashes of the bytes copied (``sha256`` plus ``extra_hashes``). Blocking:
    run it with :func:`run_blocking`. A destination that already holds the same bytes
    (a retry after a crash between rename and cleanup) is accepted as delivered.
    """
    size = src.stat().st_size
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotCreateDir(f"cannot create {final.parent}: {exc.strerror}") from exc
    hashers = {t: LOCAL_HASHES[t]() for t in {"sha256", *extra_hashes}}
    if final.exists():
        if final.stat().st_size == size:
            ours = hash_file(src, tuple(hashers), cancel=cancel)
            if sha256 is not None and ours["sha256"] != sha256:
                raise ChecksumMismatch(f"{src} changed since it was verified")
            if _read_back(final, bridge, size, cancel) == ours["sha256"]:
                return ours
        if not overwrite:
            raise FileExists(f"{final} exists and differs from {src.name}")
    temp = final.with_name(partial_name(final.name))
    done = 0
    try:
        with src.open("rb", buffering=0) as fin:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                while block := fin.read(BLOCK):
                    if cancel.is_set():
                        raise InterruptedError(f"delivery of {src.name} was cancelled")
                    for h in hashers.values():
                        h.update(block)
                    view = memoryview(block)
                    while view:
                        view = view[os.write(fd, view) :]
                    done += len(block)
                    bridge("uploading", done, size)
                os.fsync(fd)
            finally:
                os.close(fd)
        digests = {t: h.hexdigest() for t, h in hashers.items()}
        if done != size or (sha256 is not None and digests["sha256"] != sha256):
            raise ChecksumMismatch(f"{src} changed while it was being delivered")
        os.replace(temp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if isinstance(exc, InterruptedError):
            raise
        raise _oserror(exc, f"cannot write {final}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    bridge("uploading", size, size, force=True)
    _fsync_dir(final.parent)
    if _read_back(final, bridge, size, cancel) != digests["sha256"]:
        with contextlib.suppress(OSError):
            final.unlink()
        raise DeliveryMismatch(f"{final} does not read back as written")
    bridge("verifying", size, size, force=True)
    return digests


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class LocalDestination:
    """A directory on a local filesystem (the default ``--dir``)."""

    kind: Kind = "local"

    def __init__(self, root: Path, *, overwrite: bool = False) -> None:
        self.root = root
        self.overwrite = overwrite

    def location(self, relpath: str | PurePosixPath) -> str:
        """Lexical only (no filesystem access): ``deliver`` confines it for real."""
        return str(self.root / PurePosixPath(relpath))

    def _final(self, relpath: str | PurePosixPath) -> Path:
        """The confined final path (blocking: resolves symlinks; call in a thread)."""
        return confine(self.root, str(relpath))

    async def deliver(
        self,
        local_path: Path,
        relpath: str | PurePosixPath,
        progress: ProgressCb | None = None,
        *,
        sha256: str | None = None,
        keep_local: bool = False,
    ) -> Delivered:
        bridge = ProgressBridge(progress, asyncio.get_running_loop())

        def work(cancel: threading.Event) -> Delivered:
            final = self._final(relpath)
            size = local_path.stat().st_size
            if _same_file(local_path, final):  # downloaded in place: nothing to move
                digest = sha256 or hash_file(local_path, cancel=cancel)["sha256"]
                return Delivered(str(final), size, digest, "local")
            if not keep_local and not final.exists() and _same_device(local_path, final.parent):
                digest = sha256 or hash_file(local_path, cancel=cancel)["sha256"]
                os.replace(local_path, final)
                _fsync_dir(final.parent)
                return Delivered(str(final), size, digest, "local")
            # Another filesystem, a copy to keep, or a name already taken (the same
            # bytes, after a crash: accepted; others: FileExists unless overwriting).
            hashes = copy_into_place(
                local_path,
                final,
                bridge=bridge,
                cancel=cancel,
                sha256=sha256,
                overwrite=self.overwrite,
            )
            if not keep_local:
                _unlink(local_path)
            return Delivered(str(final), size, hashes["sha256"], "local")

        return await run_blocking(work)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _same_device(a: Path, directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return a.stat().st_dev == directory.stat().st_dev
    except OSError:
        return False


class StagedDestination(LocalDestination):
    """A directory on a FUSE or network mount: copy, fsync, rename, read back.

    ``mount_remote`` (``REMOTE:PATH``) names what the mount shows at ``root``; with it,
    delivery waits up to ``remote_wait`` seconds for the remote to hold the same bytes.
    """

    kind: Kind = "staged"

    def __init__(
        self,
        root: Path,
        *,
        mount_remote: str | None = None,
        rclone: Rclone | None = None,
        remote_wait: float = 600.0,
        overwrite: bool = False,
    ) -> None:
        super().__init__(root, overwrite=overwrite)
        self.mount_remote = mount_remote
        self.rclone = rclone or Rclone()
        self.remote_wait = remote_wait

    async def deliver(
        self,
        local_path: Path,
        relpath: str | PurePosixPath,
        progress: ProgressCb | None = None,
        *,
        sha256: str | None = None,
        keep_local: bool = False,
    ) -> Delivered:
        bridge = ProgressBridge(progress, asyncio.get_running_loop())
        final = await asyncio.to_thread(self._final, relpath)
        remote = None
        htype = None
        if self.mount_remote is not None:
            remote = join_remote(self.mount_remote, str(PurePosixPath(relpath)))
            htype = (await self.rclone.features(remote)).best_hash()
        extra = (htype,) if htype in LOCAL_HASHES and htype != "sha256" else ()
        hashes = await run_blocking(
            lambda cancel: copy_into_place(
                local_path,
                final,
                bridge=bridge,
                cancel=cancel,
                sha256=sha256,
                extra_hashes=extra,
                overwrite=self.overwrite,
            )
        )
        size = (await asyncio.to_thread(os.stat, final)).st_size
        digest = hashes["sha256"]
        result = Delivered(
            str(final),
            size,
            digest,
            "written",
            detail="read back through the mount; its remote is unknown (--mount-remote)",
        )
        if remote is not None:
            result = await self._wait_for_remote(local_path, remote, result, hashes, bridge)
        if not keep_local:
            await asyncio.to_thread(_unlink, local_path)
        return result

    async def _wait_for_remote(
        self,
        local_path: Path,
        remote: str,
        written: Delivered,
        hashes: dict[str, str],
        bridge: ProgressBridge,
    ) -> Delivered:
        """Poll the remote (bounded) until it holds our bytes; "written" if it never does."""

        async def ours(kind: str) -> str:
            if kind not in hashes:
                hashes[kind] = await local_hash(self.rclone, local_path, kind)
            return hashes[kind]

        deadline = time.monotonic() + self.remote_wait
        delay, check = 0.5, RemoteCheck("missing")
        bridge("waiting-remote", 0, written.size, force=True)
        while True:
            try:
                check = await check_remote(self.rclone, remote, written.size, written.sha256, ours)
            except RcloneError as exc:  # the remote unreachable for now: keep waiting
                check = RemoteCheck("missing", detail=str(exc))
            if check.state == "match":
                bridge("waiting-remote", written.size, written.size, force=True)
                return Delivered(
                    written.location,
                    written.size,
                    written.sha256,
                    "remote",
                    remote_hash=check.remote_hash,
                    detail=f"on the remote as {remote}",
                )
            if time.monotonic() + delay > deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 10.0)
        if check.state == "mismatch":
            raise DeliveryMismatch(f"the mount's remote holds different bytes: {check.detail}")
        why = check.detail or check.state
        return Delivered(
            written.location,
            written.size,
            written.sha256,
            "written",
            detail=f"not confirmed on {remote} within {self.remote_wait:.0f} s ({why})",
        )
