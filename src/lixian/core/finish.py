"""The storage step: where a task downloads, and what happens before it is "complete".

A task is complete only when its bytes are where the user asked and lixian has checked
them (DESIGN, "Storage model"). So:

* ``place`` decides where the engine writes: straight into ``--dir`` on a local disk; into
  a staging dir when the destination is a FUSE/network mount (``--dir`` on a cloud-drive
  mount) or an rclone remote (``--dest REMOTE:PATH``).
* ``finish`` then runs, with the task still ``active``: phase ``verifying`` (sha256, zero
  runs, a media decode check) and phase ``uploading`` (staged copy or rclone upload,
  verified), and returns what to record.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lixian.options import OptionValue
from lixian.storage.delivery import Delivered, Destination, Progress, deliver
from lixian.storage.destinations import open_destination
from lixian.storage.integrity import Verdict, verify
from lixian.storage.local import is_local
from lixian.storage.rclone_cli import is_remote_spec

__all__ = ["Finished", "Placement", "finish", "place"]


@dataclass(frozen=True, slots=True)
class Placement:
    download_dir: Path  # where the engine writes
    destination: Destination | None  # None: the file stays where it was downloaded
    kind: str  # "local" | "staged" | "rclone"


@dataclass(frozen=True, slots=True)
class Finished:
    path: str  # where the file lives now: a path, or REMOTE:PATH
    verdict: Verdict | None
    delivered: Delivered | None

    def record(self) -> dict[str, Any]:
        """What the store keeps and ``lixian ls --json`` shows."""
        out: dict[str, Any] = {}
        if self.verdict is not None:
            v = self.verdict
            out["sha256"] = v.sha256
            out["verdict"] = {
                "status": v.status,
                "ok": v.ok,
                "messages": list(v.messages),
                "zeroRuns": [[r.offset, r.length] for r in v.zero_runs],
            }
        if self.delivered is not None:
            d = self.delivered
            out["delivery"] = {
                "location": d.location,
                "verified": d.verified,
                "remoteHash": list(d.remote_hash) if d.remote_hash else None,
                "detail": d.detail,
            }
        return out


def _text(options: Mapping[str, OptionValue | None], name: str) -> str | None:
    value = options.get(name)
    return str(value) if value not in (None, "") else None


def _resolve(dest: str | None, directory: Path) -> tuple[Path, bool]:
    final = Path(dest).expanduser() if dest is not None else directory
    return final, is_local(final)


async def place(
    options: Mapping[str, OptionValue | None], directory: Path, staging_root: Path, gid: str
) -> Placement:
    """Where this task's engine should write, and where its file goes after."""
    dest = _text(options, "dest")
    mount_remote = _text(options, "mount-remote")
    overwrite = bool(options.get("allow-overwrite"))
    if dest is not None and is_remote_spec(dest):
        target = await open_destination(dest, mode="rclone", overwrite=overwrite)
        return Placement(staging_root / gid, target, "rclone")
    final, local = await asyncio.to_thread(_resolve, dest, directory)
    if mount_remote is not None or not local:
        # A cloud-drive mount must never see a partial or preallocated file.
        target = await open_destination(
            final, mode="staged", mount_remote=mount_remote, overwrite=overwrite
        )
        return Placement(staging_root / gid, target, "staged")
    return Placement(final, None, "local")


async def finish(
    path: Path,
    size: int,
    placement: Placement,
    *,
    check: bool,
    on_phase: Callable[[str, Progress | None], None],
) -> Finished:
    """Verify and deliver a downloaded file; raises a StorageError (the local copy is kept)."""
    verdict: Verdict | None = None
    if check or placement.destination is not None:
        on_phase("verifying", None)
        verdict = await verify(path, expected_size=size)
    if placement.destination is None:
        return Finished(str(path), verdict, None)
    on_phase("uploading", None)
    relpath = path.relative_to(placement.download_dir).as_posix()
    delivered = await deliver(
        path,
        placement.destination,
        lambda progress: on_phase("uploading", progress),
        relpath=relpath,
        sha256=verdict.sha256 if verdict is not None else None,
    )
    with contextlib.suppress(OSError):  # the staging dir of this task, now empty
        await asyncio.to_thread(shutil.rmtree, placement.download_dir)
    return Finished(delivered.location, verdict, delivered)
