"""Free-space guard and staging budget: stop before the disk is full, not half-way.

:class:`SpaceGuard` watches every local filesystem lixian writes to (download dirs and
the staging dir; a FUSE mount's own cache lives on local disk too, so its filesystem
counts). ``statvfs`` runs in a thread every ``interval`` seconds (microseconds of work);
checks answer from those figures without I/O. When a filesystem drops below
``--min-free-space`` (default ``max(1 GiB, 2% of its size)``), listeners get
:class:`SpaceLow`; the core pauses the tasks writing there (a lixian pause reason, not
an error). When it is back above the minimum plus a hysteresis margin, listeners get
:class:`SpaceReturned` and the core resumes exactly the tasks it paused. The margin
keeps a task that frees a little space by finishing from flapping others on and off.

:class:`StagingBudget` is ``--max-staging-space``: bytes downloaded but not yet
delivered to a remote. New work reserves its size first and waits, in order, while the
budget is spent; delivery releases it. One file larger than the whole budget still
runs, alone: refusing it would deadlock the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from lixian.errors import BadOption
from lixian.options.spec import parse_size

__all__ = [
    "GIB",
    "FsUsage",
    "LowSpace",
    "MinFree",
    "Ok",
    "SpaceEvent",
    "SpaceGuard",
    "SpaceLow",
    "SpaceReturned",
    "StagingBudget",
]

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class MinFree:
    """The least free space to keep: ``max(size, fraction * filesystem size)``."""

    size: int = GIB
    fraction: float = 0.02

    def threshold(self, total: int) -> int:
        return max(self.size, int(total * self.fraction))

    @classmethod
    def parse(cls, raw: str) -> MinFree:
        """``"2G"``, ``"5%"`` or ``"1G,2%"`` (the larger of the two); ``"0"`` disables.

        >>> MinFree.parse("1G,2%") == MinFree()
        True
        """
        size, fraction = 0, 0.0
        for part in (p.strip() for p in raw.split(",")):
            pct = re.fullmatch(r"(\d+(?:\.\d+)?)%", part)
            if pct:
                fraction = float(pct.group(1)) / 100
                if fraction >= 1:
                    raise BadOption(f"bad --min-free-space {raw!r}: a percentage below 100")
            else:
                size = parse_size(part)
        return cls(size, fraction)


@dataclass(frozen=True, slots=True)
class FsUsage:
    """One filesystem's figures at ``when`` (monotonic): what an unprivileged writer gets."""

    device: int
    path: Path
    total: int
    free: int
    when: float


@dataclass(frozen=True, slots=True)
class Ok:
    free: int


@dataclass(frozen=True, slots=True)
class LowSpace:
    reason: str
    path: Path
    free: int
    needed: int
    min_free: int


@dataclass(frozen=True, slots=True)
class SpaceLow:
    device: int
    path: Path
    free: int
    min_free: int


@dataclass(frozen=True, slots=True)
class SpaceReturned:
    device: int
    path: Path
    free: int
    min_free: int


SpaceEvent = SpaceLow | SpaceReturned
Listener = Callable[[SpaceEvent], None]


def _usage(path: Path) -> FsUsage:
    st = os.statvfs(path)
    return FsUsage(
        device=os.stat(path).st_dev,
        path=path,
        total=st.f_blocks * st.f_frsize,
        free=st.f_bavail * st.f_frsize,
        when=time.monotonic(),
    )


def _existing(path: Path) -> Path:
    """The nearest existing directory at or above ``path`` (the file may not exist yet)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class SpaceGuard:
    """Watches local filesystems and answers "may I write N more bytes to PATH?".

    >>> guard = SpaceGuard(MinFree.parse("1G,2%"))       # doctest: +SKIP
    >>> await guard.watch(staging_dir); guard.start()      # doctest: +SKIP
    >>> await guard.check(staging_dir / "a.iso", 700 << 20)  # doctest: +SKIP
    Ok(free=...)
    """

    def __init__(
        self,
        min_free: MinFree | None = None,
        *,
        interval: float = 5.0,
        hysteresis: float = 0.125,
    ) -> None:
        self.min_free = min_free or MinFree()
        self.interval = interval
        self.hysteresis = hysteresis  # resume only above min_free * (1 + hysteresis)
        self._fs: dict[int, FsUsage] = {}  # by st_dev
        self._dirs: dict[Path, int] = {}  # a watched dir -> its filesystem
        self._low: set[int] = set()
        self._listeners: list[Listener] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- registration and figures ---------------------------------------------------
    async def watch(self, path: Path) -> FsUsage:
        """Start watching the filesystem holding ``path`` (a dir or a future file)."""
        usage = await asyncio.to_thread(lambda: _usage(_existing(path)))
        self._dirs[path] = usage.device
        self._dirs[usage.path] = usage.device  # files beside it share the filesystem
        self._fs[usage.device] = usage
        self._update_low(usage)
        return usage

    def usage(self, path: Path) -> FsUsage | None:
        """Cached figures for a watched ``path`` (or a file under a watched dir)."""
        for candidate in (path, *path.parents):
            dev = self._dirs.get(candidate)
            if dev is not None:
                return self._fs.get(dev)
        return None

    def threshold(self, usage: FsUsage) -> int:
        return self.min_free.threshold(usage.total)

    # -- checks ------------------------------------------------------------------------
    def check_cached(self, path: Path, needed: int = 0) -> Ok | LowSpace:
        """Answer from the last figures, no I/O (unwatched paths pass: nothing known)."""
        usage = self.usage(path)
        if usage is None:
            return Ok(free=-1)
        return self._judge(path, usage, needed)

    async def check(self, path: Path, needed: int = 0) -> Ok | LowSpace:
        """Would writing ``needed`` more bytes at ``path`` leave less than the minimum?

        Figures older than ``interval`` are refreshed first (in a thread).
        """
        usage = self.usage(path)
        if usage is None or time.monotonic() - usage.when > self.interval:
            usage = await self.watch(path if usage is None else usage.path)
        return self._judge(path, usage, needed)

    def _judge(self, path: Path, usage: FsUsage, needed: int) -> Ok | LowSpace:
        floor = self.threshold(usage)
        if usage.free - needed >= floor:
            return Ok(free=usage.free)
        if usage.free < floor:
            why = f"only {usage.free} bytes free on the filesystem of {path} (keeping {floor})"
        else:
            why = f"{needed} more bytes at {path} would leave less than {floor} free"
        return LowSpace(why, path, usage.free, needed, floor)

    def is_low(self, path: Path) -> bool:
        usage = self.usage(path)
        return usage is not None and usage.device in self._low

    # -- notifications -----------------------------------------------------------------
    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every low/returned transition; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _update_low(self, usage: FsUsage) -> SpaceEvent | None:
        floor = self.threshold(usage)
        event: SpaceEvent | None = None
        if usage.device not in self._low and usage.free < floor:
            self._low.add(usage.device)
            event = SpaceLow(usage.device, usage.path, usage.free, floor)
        elif usage.device in self._low and usage.free >= floor * (1 + self.hysteresis):
            self._low.discard(usage.device)
            event = SpaceReturned(usage.device, usage.path, usage.free, floor)
        if event is not None:
            for listener in list(self._listeners):
                listener(event)
            self._changed.set()
        return event

    async def refresh(self) -> list[SpaceEvent]:
        """Re-read every watched filesystem (one thread hop) and announce transitions."""
        paths = [u.path for u in self._fs.values()]
        fresh = await asyncio.to_thread(lambda: [_usage(p) for p in paths if p.exists()])
        events = []
        for usage in fresh:
            self._fs[usage.device] = usage
            event = self._update_low(usage)
            if event is not None:
                events.append(event)
        return events

    async def wait_for_space(self, path: Path, needed: int = 0, *, within: float) -> Ok | LowSpace:
        """Wait (at most ``within`` seconds) until ``check(path, needed)`` is Ok."""
        deadline = time.monotonic() + within
        while True:
            verdict = await self.check(path, needed)
            left = deadline - time.monotonic()
            if isinstance(verdict, Ok) or left <= 0:
                return verdict
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, self.interval))

    # -- the periodic watcher ----------------------------------------------------------
    def start(self) -> None:
        """Refresh every ``interval`` seconds in the background until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                await self.refresh()
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class StagingBudget:
    """``--max-staging-space``: bytes staged locally and not yet delivered.

    ``reserve`` waits in FIFO order while ``staged + n`` would exceed ``limit`` (None:
    no limit); a request larger than the whole limit proceeds once nothing else is
    staged. ``peak`` is the most ever staged at once (the benchmark's figure).
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.staged = 0
        self.peak = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def _fits(self, n: int) -> bool:
        return self.limit is None or self.staged == 0 or self.staged + n <= self.limit

    def try_reserve(self, n: int) -> bool:
        if self._waiters or not self._fits(n):
            return False
        self._take(n)
        return True

    async def reserve(self, n: int) -> None:
        """Wait until ``n`` bytes fit, then count them as staged."""
        if n < 0:
            raise ValueError("cannot reserve a negative size")
        if self.try_reserve(n):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, fut)
        self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif fut.done() and not fut.cancelled():
                self.release(n)  # granted just as we were cancelled: give it back
            self._wake()
            raise

    def release(self, n: int) -> None:
        """The staged bytes were delivered and freed (or the work was dropped)."""
        self.staged = max(0, self.staged - n)
        self._wake()

    def _take(self, n: int) -> None:
        self.staged += n
        self.peak = max(self.peak, self.staged)

    def _wake(self) -> None:
        while self._waiters:
            n, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            if not self._fits(n):
                return
            self._waiters.popleft()
            self._take(n)
            fut.set_result(None)

    @contextlib.asynccontextmanager
    async def hold(self, n: int) -> AsyncIterator[None]:
        """``async with budget.hold(size):`` reserve for the body, release after."""
        await self.reserve(n)
        try:
            yield
        finally:
            self.release(n)
