"""``--dest`` to a :class:`Destination`: local dir, staged (FUSE/network mount) or rclone.

Why automatic: the users who lost data to zero-filled files on a mounted cloud drive
did not know a mount needs different handling. A destination on a FUSE or network
filesystem (``fuse.*``, nfs, cifs, 9p, ... from ``/proc/self/mountinfo``) is therefore
``staged`` unless the user says otherwise; ``remote:path`` is rclone's syntax and means
an rclone remote.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal

from lixian.errors import BadOption
from lixian.storage.delivery import Destination
from lixian.storage.mounts import is_remote_filesystem
from lixian.storage.rclone import RcloneDestination
from lixian.storage.rclone_cli import Rclone, is_remote_spec
from lixian.storage.staged import LocalDestination, StagedDestination

__all__ = ["Mode", "choose_destination", "open_destination"]

Mode = Literal["auto", "local", "staged", "rclone"]


def choose_destination(
    spec: str | Path,
    *,
    mode: Mode = "auto",
    mount_remote: str | None = None,
    rclone: Rclone | None = None,
    overwrite: bool = False,
    remote_wait: float = 600.0,
) -> Destination:
    """Pick the backend for ``spec`` (blocking: reads the mount table; see
    :func:`open_destination` for the async form).

    >>> choose_destination("gd:Downloads").kind, choose_destination("/tmp").kind
    ('rclone', 'local')
    """
    text = str(spec)
    remote = isinstance(spec, str) and is_remote_spec(text)
    if mode == "rclone" or (mode == "auto" and remote):
        if not remote:
            raise BadOption(f"--dest {text!r} is not an rclone remote (REMOTE:PATH)")
        return RcloneDestination(text, rclone, overwrite=overwrite)
    if remote:
        raise BadOption(f"--dest {text!r} is an rclone remote; a {mode} destination needs a path")
    if mount_remote is not None and not is_remote_spec(mount_remote):
        raise BadOption(f"--mount-remote {mount_remote!r} is not an rclone remote (REMOTE:PATH)")
    root = Path(text).expanduser()
    if mode == "local":
        if mount_remote is not None:
            raise BadOption("--mount-remote needs a staged destination, not a local one")
        return LocalDestination(root, overwrite=overwrite)
    if mode == "staged" or mount_remote is not None or is_remote_filesystem(root):
        return StagedDestination(
            root,
            mount_remote=mount_remote,
            rclone=rclone,
            remote_wait=remote_wait,
            overwrite=overwrite,
        )
    return LocalDestination(root, overwrite=overwrite)


async def open_destination(
    spec: str | Path,
    *,
    mode: Mode = "auto",
    mount_remote: str | None = None,
    rclone: Rclone | None = None,
    overwrite: bool = False,
    remote_wait: float = 600.0,
) -> Destination:
    """:func:`choose_destination` with the mount-table read in a thread."""
    return await asyncio.to_thread(
        lambda: choose_destination(
            spec,
            mode=mode,
            mount_remote=mount_remote,
            rclone=rclone,
            overwrite=overwrite,
            remote_wait=remote_wait,
        )
    )
