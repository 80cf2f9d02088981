"""``--dest REMOTE:PATH``: upload each completed file with rclone, verify it on the remote,
then free the local copy, so a job larger than the local disk fits through it.

Theory of operation
-------------------
1. Hash the local copy once: sha256 (recorded) and, in the same read, the remote's own
   hash type if it has one (``rclone backend features``; sftp has md5/sha1, S3 md5,
   Drive md5/sha1/sha256, plain WebDAV none).
2. Upload with ``rclone copyto``. Where the remote can move server-side, the upload goes
   to a hidden ``.NAME.lixian-partial`` first and is then moved to ``NAME``, so the
   final name never shows a partial file even on a server that writes uploads in
   place (measured: ``rclone serve webdav`` over a directory does). Object stores
   without a move commit uploads atomically anyway, so there the upload is direct.
3. Verify on the remote: same size and the remote's stored hash equals ours; with no
   stored hash, read the object back through rclone (``hashsum sha256 --download``).
   Only then is ``verified == "remote"`` and the local copy deleted.

:func:`check_remote` is shared with staged delivery's ``--mount-remote`` wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from lixian.errors import FileExists
from lixian.storage.delivery import (
    Delivered,
    DeliveryMismatch,
    Kind,
    ProgressBridge,
    ProgressCb,
    partial_name,
    run_blocking,
)
from lixian.storage.integrity import LOCAL_HASHES, hash_file
from lixian.storage.rclone_cli import Rclone, RcloneError, join_remote

__all__ = ["RcloneDestination", "RemoteCheck", "check_remote", "local_hash"]


@dataclass(frozen=True, slots=True)
class RemoteCheck:
    """What the remote holds at a path, compared with our copy."""

    state: Literal["match", "missing", "wrong-size", "mismatch"]
    remote_hash: tuple[str, str] | None = None
    detail: str = ""


async def local_hash(rclone: Rclone, path: Path, hash_type: str) -> str:
    """A hash of a local file of any type rclone knows (Python for the common ones)."""
    if hash_type in LOCAL_HASHES:
        return (await asyncio.to_thread(hash_file, path, (hash_type,)))[hash_type]
    return await rclone.hashsum(hash_type, path)


async def check_remote(
    rclone: Rclone,
    remote_path: str,
    size: int,
    sha256: str,
    local_hash_of: Callable[[str], Awaitable[str]],
) -> RemoteCheck:
    """Compare ``remote_path`` with our copy, using the remote's hash where it keeps one.

    ``local_hash_of(type)`` gives our copy's hash of that type (computed on demand,
    since the type depends on the remote). Without a stored hash the object is read
    back through rclone and its sha256 compared: slower, but proof all the same.
    """
    htype = (await rclone.features(remote_path)).best_hash()
    obj = await rclone.stat(remote_path, hash_type=htype)
    if obj is None:
        return RemoteCheck("missing", detail=f"{remote_path} is not on the remote")
    if obj.size != size:
        return RemoteCheck("wrong-size", detail=f"{remote_path}: {obj.size} bytes, expected {size}")
    stored = obj.hashes.get(htype) if htype is not None else None
    if htype is not None and stored:
        ours = sha256 if htype == "sha256" else await local_hash_of(htype)
        if stored == ours.lower():
            return RemoteCheck("match", remote_hash=(htype, stored))
        return RemoteCheck("mismatch", detail=f"{remote_path}: {htype} {stored}, expected {ours}")
    # Reading it all back: allow for a slow link (1 MiB/s) but never wait forever.
    limit = 600 + size / (1 << 20)
    read_back = await rclone.hashsum("sha256", remote_path, download=True, time_limit=limit)
    if read_back == sha256:
        return RemoteCheck("match")
    return RemoteCheck("mismatch", detail=f"{remote_path}: read back sha256 {read_back}")


class RcloneDestination:
    """Files go to ``root`` (``remote:path``) through rclone, verified on the remote."""

    kind: Kind = "rclone"

    def __init__(
        self,
        root: str,
        rclone: Rclone | None = None,
        *,
        overwrite: bool = False,
        stall_after: float = 300.0,
        appear_within: float = 30.0,
    ) -> None:
        self.root = root
        self.rclone = rclone or Rclone()
        self.overwrite = overwrite
        self.stall_after = stall_after
        self.appear_within = appear_within  # eventually consistent listings

    def location(self, relpath: str | PurePosixPath) -> str:
        return join_remote(self.root, str(relpath))

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
        target = self.location(relpath)
        feats = await self.rclone.features(target)
        htype = feats.best_hash()
        size = (await asyncio.to_thread(os.stat, local_path)).st_size
        hashes = await self._hash_local(local_path, size, sha256, htype, bridge)
        digest = hashes["sha256"]

        async def ours(kind: str) -> str:
            if kind not in hashes:
                hashes[kind] = await local_hash(self.rclone, local_path, kind)
            return hashes[kind]

        existing = await check_remote(self.rclone, target, size, digest, ours)
        if existing.state == "match":  # delivered before (a retry after a crash)
            return await self._done(local_path, target, size, digest, existing, keep_local)
        if existing.state != "missing" and not self.overwrite:
            raise FileExists(f"{target} exists on the remote and differs from {local_path.name}")

        rel = PurePosixPath(relpath)
        temp = self.location(rel.with_name(partial_name(rel.name)))
        await self._upload(
            local_path, target, temp if feats.server_side_move else None, size, bridge
        )
        bridge("verifying", 0, size, force=True)
        check = await self._await_remote(target, size, digest, ours)
        if check.state != "match":
            with contextlib.suppress(RcloneError):
                await self.rclone.deletefile(target)
            raise DeliveryMismatch(f"upload to {target} did not verify: {check.detail}")
        bridge("verifying", size, size, force=True)
        return await self._done(local_path, target, size, digest, check, keep_local)

    async def _hash_local(
        self,
        path: Path,
        size: int,
        sha256: str | None,
        htype: str | None,
        bridge: ProgressBridge,
    ) -> dict[str, str]:
        types = [t for t in ("sha256", htype) if t is not None and t in LOCAL_HASHES]
        if sha256 is not None:
            types = [t for t in types if t != "sha256"]
        if not types:
            return {"sha256": sha256} if sha256 else {}
        computed = await run_blocking(
            lambda cancel: hash_file(
                path,
                types,
                progress=lambda done: bridge("verifying", done, size),
                cancel=cancel,
            )
        )
        if sha256 is not None:
            computed["sha256"] = sha256
        return computed

    async def _upload(
        self,
        local_path: Path,
        target: str,
        temp: str | None,
        size: int,
        bridge: ProgressBridge,
    ) -> None:
        """Upload to ``temp`` then move it to ``target`` (or straight to ``target``)."""

        def report(done: int, total: int) -> None:
            bridge("uploading", done, total or size)

        bridge("uploading", 0, size, force=True)
        stall = self.stall_after
        if temp is None:
            await self.rclone.copyto(local_path, target, progress=report, stall_after=stall)
            return
        try:
            await self.rclone.copyto(local_path, temp, progress=report, stall_after=stall)
            await self.rclone.moveto(temp, target)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.rclone.deletefile(temp))
            raise
        bridge("uploading", size, size, force=True)

    async def _await_remote(
        self, target: str, size: int, digest: str, ours: Callable[[str], Awaitable[str]]
    ) -> RemoteCheck:
        """Check right after the upload; a remote whose listing lags gets a short grace."""
        deadline = time.monotonic() + self.appear_within
        delay = 0.25
        while True:
            check = await check_remote(self.rclone, target, size, digest, ours)
            if check.state != "missing" or time.monotonic() + delay > deadline:
                return check
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)

    async def _done(
        self,
        local_path: Path,
        target: str,
        size: int,
        digest: str,
        check: RemoteCheck,
        keep_local: bool,
    ) -> Delivered:
        if not keep_local:
            await asyncio.to_thread(_unlink, local_path)
        return Delivered(
            location=target,
            size=size,
            sha256=digest,
            verified="remote",
            remote_hash=check.remote_hash,
        )


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
