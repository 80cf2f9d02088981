"""A task's live side: its engine, its speed, and the snapshot doors read.

Kept apart from the manager so the manager stays about the queue.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lixian.core.bt_model import BtTask, bt_engine, bt_task_info
from lixian.core.config import http_config, load_cookies
from lixian.core.snapshot import PIECE_LENGTH, FileInfo, TaskInfo, UriInfo, bitfield
from lixian.core.task import Task, TaskState
from lixian.engines.http.fetcher import DownloadResult, HttpDownload, HttpJob
from lixian.importers.cookies import Cookie
from lixian.options import OptionValue
from lixian.ranges import RangeSet

if TYPE_CHECKING:  # libtorrent loads with the first torrent
    from lixian.engines.bt.download import BtDownload

__all__ = ["TaskView", "apply_live", "as_path", "build_job", "effective_options", "task_info"]

SPEED_WINDOW = 3.0


@dataclass(slots=True)
class TaskView:
    """A task plus what its engine is doing right now."""

    task: Task
    seq: float = 0.0
    engine: HttpDownload | BtDownload | None = None
    result: DownloadResult | None = None
    bt: BtTask | None = None  # a torrent (or a magnet's metadata) task
    followed_by: list[str] = field(default_factory=list)  # tasks it started (aria2's followedBy)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    created_wall: float = field(default_factory=time.time)
    finished_wall: float | None = None
    halting: bool = False
    paused_reason: str = ""
    saved_total: int = 0
    saved_completed: int = 0
    saved_path: Path | None = None
    phase: str = ""  # lixian's step after the download: "verifying", "uploading"
    phase_progress: tuple[int, int] | None = None
    record: dict[str, object] | None = None  # sha256, verdict, delivery (core/finish.py)
    paused_by_guard: bool = False  # the free-space guard paused it; it resumes it too
    device: int | None = None  # the filesystem its download is written to
    reserved: int = 0  # bytes held in the staging budget
    saved_ranges: RangeSet | None = None  # bytes on disk, as the store last had them
    _samples: deque[tuple[float, int]] = field(default_factory=deque)
    # The last snapshot of a task that is not running, and what it was made from.
    _info: TaskInfo | None = field(default=None, repr=False, compare=False)
    _info_key: tuple[object, ...] = field(default=(), repr=False, compare=False)

    @property
    def completed_length(self) -> int:
        if self.result is not None:
            return self.result.size
        if self.engine is not None:
            return self.engine.completed_length
        return self.saved_completed

    @property
    def total_length(self) -> int | None:
        if self.result is not None:
            return self.result.size
        if self.engine is not None and self.engine.total_length is not None:
            return self.engine.total_length
        return self.saved_total or None

    @property
    def path(self) -> Path | None:
        if self.result is not None:
            return self.result.path
        if self.engine is not None and self.engine.path is not None:
            return self.engine.path
        return self.saved_path

    def done_ranges(self) -> RangeSet | None:
        if self.engine is not None:
            return self.engine.done_ranges
        return self.saved_ranges

    def sample(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        # Bytes off the wire, not on disk: writes come in 256 KiB batches per connection,
        # which would make a slow download look stalled.
        count = self.engine.received if self.engine is not None else self.completed_length
        self._samples.append((now, count))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:
            self._samples.popleft()

    def speed(self) -> int:
        if self.task.state is not TaskState.ACTIVE or len(self._samples) < 2:
            return 0
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        return int((c1 - c0) / (t1 - t0)) if t1 > t0 else 0


_cookie_cache: dict[str, tuple[Cookie, ...]] = {}


def effective_options(
    task: Task, global_options: Mapping[str, OptionValue | None]
) -> dict[str, OptionValue | None]:
    """The task's own options over the global ones (some, such as --load-cookies and
    --check-certificate, are global-only in aria2)."""
    return {**global_options, **task.options}  # type: ignore[dict-item]


async def build_job(
    task: Task,
    global_options: Mapping[str, OptionValue | None],
    directory: Path,
    control_dir: Path | None,
    own_path: Path | None = None,
) -> HttpJob:
    """The HTTP engine's job for a task, writing into ``directory`` (see core/finish.py)."""
    opts = effective_options(task, global_options)
    cookie_path = opts.get("load-cookies")
    cookies: tuple[Cookie, ...] = ()
    if cookie_path:
        key = str(cookie_path)
        if key not in _cookie_cache:
            _cookie_cache[key] = await asyncio.to_thread(load_cookies, key)
        cookies = _cookie_cache[key]
    out = opts.get("out")
    return HttpJob(
        uris=task.uris,
        directory=directory,
        out=str(out) if out else None,
        config=http_config(opts, cookies),
        control_dir=control_dir,
        own_path=own_path,
    )


def apply_live(engine: HttpDownload, options: dict[str, OptionValue | None]) -> None:
    """Options a running HTTP download takes without restarting."""
    config = http_config(options, engine.config.cookies)
    engine.limiter.rate = config.max_download_limit
    engine.set_limits(config.limits)


def task_info(view: TaskView, default_dir: Path) -> TaskInfo:
    """The frozen snapshot doors read.

    A task that is not running changes only when something is done to it, and AriaNg
    asks for 1,000 of them every second: its snapshot is kept and handed out again
    (the same object, so a door may keep what it derived from it) for as long as
    everything it is made of is the same.
    """
    task = view.task
    if task.state is TaskState.ACTIVE:
        return _task_info(view, default_dir)
    key: tuple[object, ...] = (
        task.state,
        task.uris,
        task.options.get("dir"),
        default_dir,
        task.error,
        view.paused_reason,
        view.phase,
        view.phase_progress,
        id(view.record),
        view.engine,
        id(view.saved_ranges),
        view.total_length,
        view.completed_length,
        view.path,
        len(view.followed_by),
    )
    if view.bt is not None:  # what its files and links are made of
        bt = view.bt
        key += (
            task.options.get("select-file"),
            task.options.get("index-out"),
            bt.metadata_length,
            bt.torrent is None,
        )
    info = view._info
    if info is None or view._info_key != key:
        info = view._info = _task_info(view, default_dir)
        view._info_key = key
    return info


def _task_info(view: TaskView, default_dir: Path) -> TaskInfo:
    if view.bt is not None:
        return _bt_info(view, default_dir)
    task = view.task
    total = view.total_length or 0
    completed = view.completed_length
    engine = view.engine
    if task.state is TaskState.COMPLETE:
        bits, pieces = bitfield_full(total)
    elif (ranges := view.done_ranges()) is not None:
        bits, pieces = bitfield(ranges, total)
    else:
        bits, pieces = ("", (total + PIECE_LENGTH - 1) // PIECE_LENGTH if total else 0)
    value = task.options.get("dir")
    directory = as_path(str(value)) if value else default_dir
    tried = task.state not in (TaskState.WAITING, TaskState.PAUSED)
    running = task.state is TaskState.ACTIVE
    uris = tuple(UriInfo(u, "used" if tried else "waiting") for u in task.uris)
    file = FileInfo(1, view.path, total, completed, True, uris)
    error = task.error
    return TaskInfo(
        gid=task.gid,
        state=task.state,
        total_length=total,
        completed_length=completed,
        upload_length=0,
        download_speed=view.speed(),
        upload_speed=0,
        connections=engine.connections if engine is not None and running else 0,
        piece_length=PIECE_LENGTH,
        num_pieces=pieces,
        bitfield=bits,
        error_code=int(task.error_code),
        error_message=str(error) if error is not None and task.state is TaskState.ERROR else "",
        dir=directory,
        files=(file,),
        paused_reason=view.paused_reason,
        lixian=_lixian_fields(view),
        followed_by=tuple(view.followed_by),
    )


def _bt_info(view: TaskView, default_dir: Path) -> TaskInfo:
    task = view.task
    bt = view.bt
    assert bt is not None
    value = task.options.get("dir")
    directory = as_path(str(value)) if value else default_dir
    n = bt_task_info(view, directory)
    error = task.error
    return TaskInfo(
        gid=task.gid,
        state=task.state,
        total_length=n.total,
        completed_length=n.completed,
        upload_length=n.upload_length,
        download_speed=view.speed(),
        upload_speed=n.upload_speed,
        connections=n.connections,
        piece_length=n.piece_length,
        num_pieces=n.num_pieces,
        bitfield=n.bitfield,
        error_code=int(task.error_code),
        error_message=str(error) if error is not None and task.state is TaskState.ERROR else "",
        dir=directory,
        files=n.files,
        paused_reason=view.paused_reason,
        lixian=_lixian_fields(view),
        bt=n.bt,
        following=bt.following,
        followed_by=tuple(view.followed_by),
        belongs_to=bt.belongs_to,
    )


def _lixian_fields(view: TaskView) -> dict[str, object] | None:
    """lixian's own per-task detail (tellStatus key ``lixian``); None when there is none."""
    out: dict[str, object] = dict(view.record or {})
    engine = bt_engine(view)
    if engine is not None and engine.phase in ("checking", "metadata"):
        out["phase"] = engine.phase  # a torrent hashing its files, or a magnet's wait
    if view.phase:
        out["phase"] = view.phase
        if view.phase_progress is not None:
            done, total = view.phase_progress
            out["phaseCompletedLength"], out["phaseTotalLength"] = str(done), str(total)
    if view.paused_reason:
        out["pausedReason"] = view.paused_reason
    return out or None


@functools.lru_cache(maxsize=1024)
def as_path(text: str) -> Path:
    """Interned Paths: snapshots of 1,000 tasks built a Path each, 70% of tellWaiting."""
    return Path(text)


def bitfield_full(total: int) -> tuple[str, int]:
    return bitfield(RangeSet([(0, total)]) if total else RangeSet(), total)
