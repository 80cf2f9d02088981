"""Delivery: after a file is complete locally, put it where it finally lives, and prove it.

One interface, sibling backends (STYLE 12): :class:`LocalDestination` and
:class:`StagedDestination` in ``staged.py``, :class:`RcloneDestination` in ``rclone.py``;
:func:`choose_destination` in ``destinations.py`` picks one from ``--dest``.

Every backend answers with a :class:`Delivered` whose ``verified`` field says what was
actually proven, and no more:

``"local"``   the bytes are on a local filesystem and were read back (or never moved);
``"written"`` written to a mount and read back *through the mount*; on an ``rclone
              mount`` with write-back caching that read comes from the local cache, and
              an unmount right after the write loses the file (measured, DESIGN.md), so
              this is not a claim that the cloud has it;
``"remote"``  the remote itself reports the same size and hash (or a read-back from the
              remote hashes equal).

The core keeps a task ``active`` (phases ``uploading`` then ``verifying``, driven by the
:class:`Progress` callbacks) until ``deliver`` returns, and only then calls it complete.

Blocking work (copies to a slow mount, hashing) runs in this module's own thread pool,
so a 4 GiB copy to a FUSE drive never holds up the engines' I/O pool or the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol, TypeVar

from lixian.errors import ChecksumMismatch

__all__ = [
    "PARTIAL_SUFFIX",
    "Delivered",
    "DeliveryMismatch",
    "Destination",
    "Kind",
    "Phase",
    "Progress",
    "ProgressBridge",
    "ProgressCb",
    "Verified",
    "deliver",
    "partial_name",
    "run_blocking",
]

PARTIAL_SUFFIX = ".lixian-partial"

Verified = Literal["remote", "written", "local"]
Kind = Literal["local", "staged", "rclone"]
Phase = Literal["uploading", "verifying", "waiting-remote"]
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lixian-deliver")


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a delivery is: ``done`` of ``total`` bytes in ``phase``."""

    phase: Phase
    done: int
    total: int


ProgressCb = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the file finally lives and what was proven about it.

    ``location`` is a local path (as a string) or ``remote:path``; ``remote_hash`` is
    ``(type, hex)`` as the remote stores it, when it stores one; ``detail`` explains a
    weaker-than-asked ``verified`` (e.g. the remote copy did not appear in time).
    """

    location: str
    size: int
    sha256: str
    verified: Verified
    remote_hash: tuple[str, str] | None = None
    detail: str = ""


class DeliveryMismatch(ChecksumMismatch):
    """The destination's copy differs from the local one (aria2 code 32). The bad copy
    has been removed from under the final name; the local copy is kept, so a retry
    of the same delivery can succeed."""


class Destination(Protocol):
    """Where completed files go. ``relpath`` is the file's path under the destination
    root (``"a/b.iso"``); the local copy is freed after a verified delivery unless
    ``keep_local`` (BitTorrent: seeding still reads it)."""

    kind: Kind

    def location(self, relpath: str | PurePosixPath) -> str:
        """Where ``relpath`` will live: a path or ``remote:path`` (``files[].path``)."""

    async def deliver(
        self,
        local_path: Path,
        relpath: str | PurePosixPath,
        progress: ProgressCb | None = None,
        *,
        sha256: str | None = None,
        keep_local: bool = False,
    ) -> Delivered:
        """Copy, verify, then free the local copy; raises ``StorageError``/``ChecksumMismatch``."""


async def deliver(
    local_path: Path,
    destination: Destination,
    progress_cb: ProgressCb | None = None,
    *,
    relpath: str | PurePosixPath | None = None,
    sha256: str | None = None,
    keep_local: bool = False,
) -> Delivered:
    """Deliver one completed file; ``relpath`` defaults to the file's name.

    ``sha256``: the hash already computed (by ``integrity.verify``) saves a re-read
    where the backend needs the source hash separately, and is checked against the
    bytes actually copied where the backend reads them anyway.

    >>> d = await deliver(Path("/staging/a.iso"), choose_destination("gd:isos"))  # doctest: +SKIP
    >>> d.location, d.verified                                                    # doctest: +SKIP
    ('gd:isos/a.iso', 'remote')
    """
    name = relpath if relpath is not None else local_path.name
    return await destination.deliver(
        local_path, name, progress_cb, sha256=sha256, keep_local=keep_local
    )


def partial_name(name: str) -> str:
    """The hidden name a file has while it is being written at the destination.

    Within NAME_MAX (255 bytes) even for long names, since the destination may not
    accept more: a long name is shortened and made unique with its own hash.
    """
    full = f".{name}{PARTIAL_SUFFIX}"
    if len(full.encode()) <= 255:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f".{digest}{PARTIAL_SUFFIX}"


class ProgressBridge:
    """Hands progress from a worker thread to the event loop, at most every ``every`` s."""

    def __init__(
        self, cb: ProgressCb | None, loop: asyncio.AbstractEventLoop, every: float = 0.25
    ) -> None:
        self._cb = cb
        self._loop = loop
        self._every = every
        self._last = 0.0

    def __call__(self, phase: Phase, done: int, total: int, *, force: bool = False) -> None:
        if self._cb is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._every:
            self._last = now
            self._loop.call_soon_threadsafe(self._cb, Progress(phase, done, total))


async def run_blocking(func: Callable[[threading.Event], T], *, grace: float = 30.0) -> T:
    """Run ``func(cancel_event)`` in the delivery pool; cancelling the caller sets the
    event and waits (bounded by ``grace``) for the worker to stop and clean up, so a
    cancelled delivery leaves no half-written file behind it."""
    cancel = threading.Event()
    fut: concurrent.futures.Future[T] = _POOL.submit(func, cancel)
    wrapped = asyncio.wrap_future(fut)
    try:
        return await asyncio.shield(wrapped)
    except asyncio.CancelledError:
        cancel.set()
        await asyncio.wait([wrapped], timeout=grace)
        raise
