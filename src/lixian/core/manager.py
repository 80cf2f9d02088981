"""The manager: the queue, its concurrency limit, and the life of every task.

It owns task state (through ``Task.apply`` only), persists every change before it
announces it, and hands engines frozen settings. ``lixian get`` runs one
in-process; the daemon runs one behind the RPC.

Lists, as aria2 keeps them: *active* (running), the *queue* (waiting and paused, in
order; positions refer to it) and *stopped* (complete, error, removed; oldest first,
bounded by ``max-download-result``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from lixian.core.bt_model import BtTask, file_prefix, is_magnet, peers_of
from lixian.core.bt_tasks import BtTasks
from lixian.core.events import (
    EventBus,
    TaskAdded,
    TaskCompleted,
    TaskFailed,
    TaskPaused,
    TaskRemoved,
    TaskStarted,
)
from lixian.core.finish import Placement, finish, place
from lixian.core.runner import (
    TaskView,
    apply_live,
    as_path,
    build_job,
    effective_options,
    task_info,
)
from lixian.core.snapshot import GlobalStat, PeerInfo, TaskInfo
from lixian.core.task import (
    Complete,
    Fail,
    Pause,
    Remove,
    Retry,
    Start,
    Task,
    TaskState,
    Unpause,
)
from lixian.engines.http.fetcher import DownloadResult, HttpDownload, new_session, parse_uri
from lixian.engines.http.throttle import RateLimiter
from lixian.errors import Aria2Code, BadUri, Interrupted, LixianError, LocalError
from lixian.gid import is_gid, new_gid
from lixian.options import OPTIONS, OptionValue, format_value
from lixian.ranges import RangeSet
from lixian.storage.delivery import Progress
from lixian.storage.space import (
    LowSpace,
    MinFree,
    SpaceEvent,
    SpaceGuard,
    SpaceLow,
    StagingBudget,
)
from lixian.store.backup import default_staging_root
from lixian.store.db import Store, TaskRow

__all__ = ["Manager", "TaskNotFound", "TaskView", "check_uris"]

log = logging.getLogger(__name__)

Options = Mapping[str, OptionValue | None]
_LIVE = (TaskState.WAITING, TaskState.PAUSED, TaskState.ACTIVE)
_STOPPED = (TaskState.COMPLETE, TaskState.ERROR, TaskState.REMOVED)
_SESSION_SKIP = frozenset({"pause", "gid", "input-file", "save-session", "conf-path"})


def check_uris(uris: Sequence[str]) -> None:
    """Raise BadUri for the first URI no engine can fetch (aria2c checks all up front);
    a magnet is checked by parsing it (BadMagnet, 27)."""
    for uri in uris:
        if is_magnet(uri):
            BtTask.from_magnet(uri)
        else:
            parse_uri(uri)


class TaskNotFound(LocalError):
    code = Aria2Code.UNKNOWN


class Manager:
    """Runs tasks, at most ``max-concurrent-downloads`` at a time, in queue order."""

    def __init__(
        self,
        options: Options,
        *,
        control_dir: Path | None = None,
        store: Store | None = None,
        staging_dir: Path | None = None,
    ) -> None:
        self.options: dict[str, OptionValue | None] = dict(options)
        self.control_dir = control_dir
        self.store = store
        self.staging_root = staging_dir or default_staging_root(self.options)
        self.bus = EventBus()
        self.views: dict[str, TaskView] = {}
        self.overall = RateLimiter(int(self.options.get("max-overall-download-limit") or 0))  # type: ignore[arg-type]
        self._queue: list[str] = []  # waiting + paused, in order
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopped: list[str] = []
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self._seq = 0.0
        self._finish_order: list[str] = []
        self._closing = False
        self.guard: SpaceGuard | None = None
        self.budget = StagingBudget(None)
        self._unsaved: list[TaskView] = []  # added, their rows not queued yet
        self._inherited: dict[str, object] | None = None  # see _task_options
        self.bt = BtTasks(self)  # torrents: the libtorrent session, runs, followers

    # ---- lifecycle ----

    @property
    def max_concurrent(self) -> int:
        return int(self.options.get("max-concurrent-downloads") or 5)  # type: ignore[arg-type]

    @property
    def max_results(self) -> int:
        value = self.options.get("max-download-result")
        return 1000 if value is None else int(value)  # type: ignore[arg-type]

    async def __aenter__(self) -> Manager:
        self._session = new_session()
        limit = int(self.options.get("max-staging-space") or 0)  # type: ignore[arg-type]
        self.budget = StagingBudget(limit or None)
        min_free = str(self.options.get("min-free-space") or "0")
        if MinFree.parse(min_free) != MinFree(0, 0.0):
            self.guard = SpaceGuard(MinFree.parse(min_free))
            self.guard.add_listener(self._on_space)
            self.guard.start()
        if self.store is not None:
            await self._restore()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.bt.close()
        if self.guard is not None:
            await self.guard.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _restore(self) -> None:
        """Bring back every task from the store; running ones queue up again first."""
        assert self.store is not None
        rows, settings = await asyncio.to_thread(self.store.load_now)
        torrents = await asyncio.to_thread(self.store.load_torrents_now)
        for name, text in settings.items():  # changeGlobalOption survives a restart
            self.options[name] = _decode_setting(json.loads(text))
        self._inherited = None
        self.overall.rate = int(self.options.get("max-overall-download-limit") or 0)  # type: ignore[arg-type]
        was_active = []
        for row in rows:
            state = TaskState(row.state)
            task = Task(row.gid, row.uris, dict(row.options), state)
            if row.error_code:
                task.error = LixianError(row.error_message, code=Aria2Code(row.error_code))
            view = TaskView(task, seq=row.seq)
            view.saved_total = row.total_length
            view.saved_completed = row.completed_length
            view.saved_path = Path(row.path) if row.path else None
            view.created_wall = row.created or view.created_wall
            view.finished_wall = row.finished
            view.record = row.extra.get("record") or None
            if row.extra.get("ranges"):
                view.saved_ranges = RangeSet((a, b) for a, b in row.extra["ranges"])
            view.followed_by = list(row.extra.get("followedBy") or ())
            self.bt.restore(view, row.extra, torrents.get(row.gid))
            self.views[row.gid] = view
            self._seq = max(self._seq, row.seq)
            if state is TaskState.ACTIVE:
                task.state = TaskState.WAITING  # it was interrupted: it waits to go again
                was_active.append(row.gid)
            elif state in _LIVE:
                self._queue.append(row.gid)
            else:
                self._stopped.append(row.gid)
        self._queue[:0] = was_active
        await asyncio.to_thread(self.bt.warm)  # parse the torrents off the loop
        # Tens of thousands of restored objects live as long as the daemon: keep them out
        # of every future full collection (its pauses were the p99 of tellWaiting).
        gc.collect()
        gc.freeze()
        self._stopped.sort(key=lambda g: self.views[g].finished_wall or 0.0)
        self._changed.set()

    async def serve(self) -> None:
        """Keep scheduling until ``stop`` (the daemon's main loop)."""
        while not self._closing:
            self._schedule()
            self._changed.clear()
            await self._tick()

    async def _tick(self) -> None:
        """Wait for a change, sampling speeds twice a second meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), 0.5)
        now = time.monotonic()
        for gid in self._running:
            self.views[gid].sample(now)

    async def run_until_complete(self) -> list[TaskView]:
        """Run every queued task to an end state (``lixian get``)."""
        while self._queue or self._running:
            self._schedule()
            self._changed.clear()
            await self._tick()
        return list(self.views.values())

    async def stop(self) -> None:
        """Stop every running download, keeping its progress (and its place) for later."""
        self._closing = True
        self._save_added()
        self._changed.set()
        running = list(self._running.values())
        for job in running:
            job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*running, return_exceptions=True)

    # ---- adding ----

    async def add(
        self,
        uris: Sequence[str],
        options: Options | None = None,
        *,
        position: int | None = None,
        gid: str | None = None,
        paused: bool = False,
    ) -> str:
        if not uris:
            raise BadUri("no URI to download")
        bt = None
        magnets = [u for u in uris if is_magnet(u)]
        if magnets:  # a magnet is a download of its own (its [METADATA] task)
            bt = BtTask.from_magnet(magnets[0])
            uris = magnets[:1]
        return await self._add(uris, options, position, gid, paused, bt)

    async def add_torrent(
        self,
        data: bytes,
        web_seeds: Sequence[str] = (),
        options: Options | None = None,
        *,
        position: int | None = None,
        gid: str | None = None,
        paused: bool = False,
    ) -> str:
        """aria2's addTorrent: raises BencodeError (25) or BadTorrent (26) for bad data."""
        # off the loop: a 100,000-file torrent takes libtorrent about half a second
        bt = await asyncio.to_thread(BtTask.from_torrent, data, web_seeds)
        return await self._add((), options, position, gid, paused, bt)

    async def _add(
        self,
        uris: Sequence[str],
        options: Options | None,
        position: int | None,
        gid: str | None,
        paused: bool,
        bt: BtTask | None,
    ) -> str:
        if gid is not None:
            if not is_gid(gid):
                raise LocalError(f"Invalid GID {gid}")
            gid = gid.lower()
            if gid in self.views:
                raise LocalError(f"GID {gid} is not unique.")
        task = Task(gid or new_gid(self.views), tuple(uris), self._task_options(options))
        if paused:
            task.apply(Pause())
        self._seq += 1
        view = TaskView(task, seq=self._seq, bt=bt)
        if bt is not None:
            self.bt.added(view)
        self.views[task.gid] = view
        where = len(self._queue) if position is None else max(0, min(position, len(self._queue)))
        self._queue.insert(where, task.gid)
        if where != len(self._queue) - 1:
            self._renumber()
        if self.store is None:
            self.bus.publish(TaskAdded(task.gid))
        else:
            # Written (and announced once committed) together with every other add of
            # this loop iteration; the RPC door waits on ``barrier()`` before it answers,
            # so a multicall of 10,000 adds is one write and one commit, not 10,000.
            self._unsaved.append(view)
            if len(self._unsaved) == 1:
                asyncio.get_running_loop().call_soon(self._save_added)
        self._changed.set()
        return task.gid

    def _save_added(self) -> None:
        """Queue the rows of the tasks added since the last call, in one write. Rows are
        made now, from the live views, so a task changed since is written as it is now
        and one forgotten since (a removed paused task) is not written back."""
        if not self._unsaved or self.store is None:
            return
        added, self._unsaved = self._unsaved, []
        rows = [self._row(v) for v in added if self.views.get(v.task.gid) is v]
        for view in added:
            if view.bt is not None and view.bt.torrent is not None:
                self.store.put_torrent_nowait(view.task.gid, view.bt.torrent)
        events = [TaskAdded(v.task.gid) for v in added]
        loop = asyncio.get_running_loop()

        def announce() -> None:
            for event in events:
                self.bus.publish(event)

        written = self.store.put_tasks_nowait(rows)
        written.add_done_callback(lambda _: loop.call_soon_threadsafe(announce))

    async def barrier(self) -> None:
        """Every change made so far is durable once this returns."""
        if self.store is not None:
            self._save_added()
            await self.store.barrier()

    def add_now(self, uris: Sequence[str], options: Options | None = None) -> Task:
        """Queue without persistence (``lixian get``, which keeps no state)."""
        task = Task(new_gid(self.views), tuple(uris), self._task_options(options))
        self._seq += 1
        self.views[task.gid] = TaskView(task, seq=self._seq)
        self._queue.append(task.gid)
        self._changed.set()
        return task

    def _task_options(self, options: Options | None) -> dict[str, object]:
        """A task carries the per-download options only: the global ones it inherits,
        then its own. Process-wide options (limits on the whole daemon, RPC settings)
        stay global, so changing them later reaches every task."""
        inherited = self._inherited
        if inherited is None:  # made once per change of the global options, not per add
            inherited = self._inherited = {
                k: v
                for k, v in self.options.items()
                if (spec := OPTIONS.get(k)) and spec.scope == "task"
            }
        return {**inherited, **options} if options else inherited.copy()

    # ---- steering ----

    def find(self, gid: str) -> TaskView:
        view = self.views.get(gid)
        if view is None:
            raise TaskNotFound(f"GID {gid} is not found")
        return view

    async def pause(self, gid: str) -> None:
        view = self.find(gid)
        task = view.task
        if task.state is TaskState.ACTIVE:
            await self._halt(gid)
            if task.state is not TaskState.ACTIVE:  # it finished while we stopped it
                raise LocalError(f"GID#{gid} cannot be paused now")
            task.apply(Pause())
            self._queue.insert(0, gid)  # aria2: a paused active download goes first
        elif task.state is TaskState.WAITING:
            task.apply(Pause())
        else:
            raise LocalError(f"GID#{gid} cannot be paused now")
        await self._persist(view)
        self.bus.publish(TaskPaused(gid))
        self._changed.set()

    async def unpause(self, gid: str) -> None:
        view = self.find(gid)
        if view.task.state is not TaskState.PAUSED:
            raise LocalError(f"GID#{gid} cannot be unpaused now")
        view.task.apply(Unpause())
        view.paused_reason = ""
        await self._persist(view)
        self._changed.set()

    async def remove(self, gid: str) -> None:
        view = self.find(gid)
        task = view.task
        if task.state not in _LIVE:
            raise LocalError(f"Active Download not found for GID#{gid}")
        was_active = task.state is TaskState.ACTIVE
        if was_active:
            await self._halt(gid)
        elif gid in self._queue:
            self._queue.remove(gid)
        task.apply(Remove())
        if was_active:
            self._stop(view)
            await self._persist(view)
        else:
            # aria2 forgets a waiting or paused download it removes: no stopped result.
            del self.views[gid]
            if self.store is not None:
                await self.store.delete_tasks([gid])
        self.bus.publish(TaskRemoved(gid))
        self._changed.set()

    async def _halt(self, gid: str) -> None:
        """Stop a running engine and wait for it to close its files."""
        job = self._running.pop(gid, None)
        view = self.views[gid]
        view.halting = True
        if job is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(job, return_exceptions=True)
        view.halting = False

    async def pause_all(self) -> None:
        for gid in [*self.active_gids(), *self._queue]:
            view = self.views.get(gid)
            if view is not None and view.task.state in (TaskState.ACTIVE, TaskState.WAITING):
                with contextlib.suppress(LocalError):  # one that just finished: as aria2, OK
                    await self.pause(gid)

    async def unpause_all(self) -> None:
        for gid in list(self._queue):
            if self.views[gid].task.state is TaskState.PAUSED:
                await self.unpause(gid)

    # ---- options ----

    def get_option(self, gid: str) -> dict[str, OptionValue | None]:
        return dict(self.find(gid).task.options)  # type: ignore[arg-type]

    async def change_option(self, gid: str, changes: Options) -> None:
        """Change a task's options; running downloads take live ones at once (speed
        limits, connections) and restart for the rest, as aria2 does."""
        view = self.find(gid)
        if view.task.state in _STOPPED:
            raise LocalError(f"GID#{gid} cannot change option now")
        view.task.options.update(changes)
        self.bt.options_changed(view)
        if view.task.state is TaskState.ACTIVE and view.engine is not None:
            live = {"max-download-limit", "max-connection-per-server", "split", "min-split-size"}
            if isinstance(view.engine, HttpDownload) and set(changes) <= live:
                apply_live(view.engine, view.task.options)  # type: ignore[arg-type]
            elif await self.bt.apply_live(view, changes):
                pass
            else:
                await self._halt(gid)
                view.task.state = TaskState.WAITING  # restart with the new options
                self._queue.insert(0, gid)
        await self._persist(view)
        self._changed.set()

    async def change_global_option(self, changes: Options) -> None:
        self.options.update(changes)
        self._inherited = None
        if "max-overall-download-limit" in changes:
            self.overall.rate = int(changes["max-overall-download-limit"] or 0)  # type: ignore[arg-type]
        await self.bt.change_global(changes)
        if self.store is not None:
            await self.store.put_settings(
                {k: json.dumps(v) for k, v in changes.items() if v is not None}
            )
        self._changed.set()

    async def change_uri(
        self,
        gid: str,
        file_index: int,
        del_uris: Sequence[str],
        add_uris: Sequence[str],
        position: int | None = None,
    ) -> tuple[int, int]:
        """aria2's changeUri: remove each listed URI once, then insert the new ones."""
        view = self.find(gid)
        if file_index != 1:
            raise LocalError(f"The given file index {file_index} is out of range.")
        if view.task.state in _STOPPED:
            raise LocalError(f"GID#{gid} cannot change URIs now")
        uris = list(view.task.uris)
        deleted = 0
        for uri in del_uris:
            if uri in uris:
                uris.remove(uri)
                deleted += 1
        where = len(uris) if position is None else max(0, min(position, len(uris)))
        uris[where:where] = list(add_uris)
        view.task.uris = tuple(uris)
        await self._persist(view)
        return deleted, len(add_uris)

    def session_text(self) -> str:
        """aria2's session file: unfinished and failed downloads with their GIDs and the
        options that differ from the global ones, so aria2c (or lixian) can load it."""
        lines: list[str] = []
        order = [*self.active_gids(), *self._queue, *self._stopped]
        for gid in order:
            view = self.views[gid]
            task = view.task
            if task.state in (TaskState.COMPLETE, TaskState.REMOVED):
                continue
            lines.append("\t".join(self.bt.session_uris(view) if view.bt else task.uris))
            lines.append(f" gid={gid}")
            if task.state is TaskState.PAUSED:
                lines.append(" pause=true")
            for name, value in sorted(task.options.items()):
                if value is None or self.options.get(name) == value or name in _SESSION_SKIP:
                    continue
                text = format_value(name, value)  # type: ignore[arg-type]
                for item in text.splitlines() if name == "header" else [text]:
                    lines.append(f" {name}={item}")
        return "\n".join(lines) + ("\n" if lines else "")

    async def save_session(self, path: Path) -> None:
        text = self.session_text()

        def write() -> None:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)

        await asyncio.to_thread(write)

    async def retry(self, gid: str) -> None:
        """Queue a failed download again under the same GID, keeping its progress."""
        view = self.find(gid)
        if view.task.state is not TaskState.ERROR:
            raise LocalError(f"GID#{gid} cannot be retried now")
        view.task.apply(Retry())
        self._stopped.remove(gid)
        view.engine, view.result, view.finished_wall = None, None, None
        self._queue.append(gid)
        await self._persist(view)
        self._changed.set()

    # ---- the free-space guard ----

    async def _low_space(self, view: TaskView, directory: Path) -> bool:
        """Before a download starts: pause it (with a reason) when its disk is nearly full."""
        if self.guard is None:
            return False
        where = await asyncio.to_thread(_existing, directory)
        usage = await self.guard.watch(where)
        view.device = usage.device
        remaining = max(0, (view.total_length or 0) - view.completed_length)
        verdict = await self.guard.check(where, remaining)
        if isinstance(verdict, LowSpace):
            self._guard_pause(view, verdict.reason)
            return True
        return False

    def _guard_pause(self, view: TaskView, reason: str) -> None:
        task = view.task
        if task.state is TaskState.ACTIVE:
            task.apply(Pause())
            self._queue.insert(0, task.gid)
        view.paused_reason = f"low disk space: {reason}"
        view.paused_by_guard = True
        self.bus.publish(TaskPaused(task.gid))
        persisted = asyncio.ensure_future(self._persist(view))
        persisted.add_done_callback(_log_failure)

    def _on_space(self, event: SpaceEvent) -> None:
        if isinstance(event, SpaceLow):
            for gid in list(self._running):
                view = self.views[gid]
                if view.device == event.device:
                    pausing = asyncio.ensure_future(self._pause_for_space(gid, event))
                    pausing.add_done_callback(_log_failure)
            return
        for gid in list(self._queue):
            view = self.views[gid]
            if view.paused_by_guard and view.device == event.device:
                view.paused_by_guard = False
                view.paused_reason = ""
                view.task.apply(Unpause())  # only what the guard paused; the user's stay
        self._changed.set()

    async def _pause_for_space(self, gid: str, event: SpaceLow) -> None:
        view = self.views.get(gid)
        if view is None or view.task.state is not TaskState.ACTIVE:
            return
        await self._halt(gid)
        self._guard_pause(view, f"{event.free} bytes free on {event.path}")
        self._changed.set()

    def change_position(self, gid: str, pos: int, how: str) -> int:
        if gid not in self._queue:
            self.find(gid)
            raise LocalError(f"GID#{gid} not found in the waiting queue.")
        index = self._queue.index(gid)
        if how == "POS_SET":
            target = pos
        elif how == "POS_CUR":
            target = index + pos
        elif how == "POS_END":
            target = len(self._queue) - 1 + pos
        else:
            raise LocalError(f"Illegal argument: {how}")
        target = max(0, min(target, len(self._queue) - 1))
        self._queue.pop(index)
        self._queue.insert(target, gid)
        self._renumber()
        return target

    def _renumber(self) -> None:
        for i, gid in enumerate(self._queue):
            self.views[gid].seq = float(i)
        self._seq = max(self._seq, float(len(self._queue)))
        if self.store is not None:
            rows = [self._row(self.views[g]) for g in self._queue]
            task = asyncio.ensure_future(self.store.put_tasks(rows))
            task.add_done_callback(_log_failure)

    # ---- reading ----

    def active_gids(self) -> list[str]:
        return list(self._running)  # in the order they started, as aria2 lists them

    def queue_gids(self) -> list[str]:
        return list(self._queue)

    def stopped_gids(self) -> list[str]:
        return list(self._stopped)

    def status(self, gid: str) -> TaskInfo:
        return task_info(self.find(gid), self.default_dir())

    def file_prefix(self, view: TaskView, path: Path) -> int | None:
        """The verified start of a torrent's file (streaming it while it downloads)."""
        value = view.task.options.get("dir")
        return file_prefix(view, path, as_path(str(value)) if value else self.default_dir())

    def peers(self, gid: str) -> tuple[PeerInfo, ...]:
        """A running torrent's connected peers (none for other tasks)."""
        return peers_of(self.find(gid))

    def global_stat(self) -> GlobalStat:
        speed = sum(self.views[g].speed() for g in self._running)
        waiting = len(self._queue)
        up = self.bt.upload_speed()
        return GlobalStat(
            speed, up, len(self._running), waiting, len(self._stopped), len(self._stopped)
        )

    def default_dir(self) -> Path:
        value = self.options.get("dir")
        return as_path(str(value) if value else os.getcwd())

    # ---- results ----

    async def purge_results(self) -> None:
        gone = list(self._stopped)
        self._stopped.clear()
        for gid in gone:
            self.views.pop(gid, None)
        if self.store is not None and gone:
            await self.store.delete_tasks(gone)

    async def remove_result(self, gid: str) -> None:
        view = self.find(gid)
        if view.task.state not in _STOPPED:
            raise LocalError(f"Could not remove download result of GID#{gid}")
        self._stopped.remove(gid)
        self.views.pop(gid, None)
        if self.store is not None:
            await self.store.delete_tasks([gid])

    def _stop(self, view: TaskView) -> None:
        view.finished_wall = time.time()
        self._stopped.append(view.task.gid)
        while len(self._stopped) > self.max_results:
            old = self._stopped.pop(0)
            self.views.pop(old, None)
            if self.store is not None:
                task = asyncio.ensure_future(self.store.delete_tasks([old]))
                task.add_done_callback(_log_failure)

    # ---- running ----

    def _schedule(self) -> None:
        if self._closing:
            return
        i = 0
        while i < len(self._queue) and len(self._running) < self.max_concurrent:
            gid = self._queue[i]
            view = self.views[gid]
            if view.task.state is not TaskState.WAITING:
                i += 1
                continue
            self._queue.pop(i)
            view.task.apply(Start())
            view.started = time.monotonic()
            self.bus.publish(TaskStarted(gid))
            self._running[gid] = asyncio.create_task(self._run(view), name=f"task-{gid}")

    async def _run(self, view: TaskView) -> None:
        ref = [view]  # a magnet's run moves on to the download it starts (core/bt_tasks.py)
        try:
            await self._persist(view)
            opts = effective_options(view.task, self.options)
            directory = as_path(str(opts["dir"])) if opts.get("dir") else self.default_dir()
            placement = await place(opts, directory, self.staging_root, view.task.gid)
            if await self._low_space(view, placement.download_dir):
                return
            if view.bt is not None:
                await self.bt.run(ref, placement.download_dir)
                await self.bt.deliver(ref[0], placement)
            else:
                await self._run_http(view, placement)
        except asyncio.CancelledError:
            view = ref[0]
            if not view.halting and view.task.state is TaskState.ACTIVE:
                # Shutdown: the task stays "active" on disk and resumes on restart.
                view.finished = time.monotonic()
            raise
        except LixianError as exc:
            view = ref[0]
            self._end(view, Fail(exc))
        except Exception as exc:  # a bug must end the task visibly, never hang the queue
            view = ref[0]
            log.exception("task %s crashed", view.task.gid)
            self._end(view, Fail(LixianError(f"internal error: {exc!r}")))
        else:
            view = ref[0]
            self._end(view, Complete())
        finally:
            view = ref[0]
            if view.reserved:
                self.budget.release(view.reserved)  # delivered and freed, or given up
                view.reserved = 0
            if self._running.get(view.task.gid) is asyncio.current_task():
                del self._running[view.task.gid]
            self._changed.set()
        task = view.task
        await self._persist(view)
        if task.state is TaskState.COMPLETE:
            self.bus.publish(TaskCompleted(task.gid))
        elif task.state is TaskState.ERROR:
            self.bus.publish(TaskFailed(task.gid, task.error_code))

    async def _run_http(self, view: TaskView, placement: Placement) -> None:
        task = view.task
        own = view.path if view.path is not None and view.record is None else None
        job = await build_job(task, self.options, placement.download_dir, self.control_dir, own)
        assert self._session is not None
        staged = placement.destination is not None

        async def opened(path: Path, size: int | None) -> None:
            view.saved_path = path
            await self._persist(view)  # a restart continues this file, never a renamed one
            if staged and size:
                await self.budget.reserve(size)
                view.reserved = size

        view.engine = HttpDownload(job, self._session, limiters=(self.overall,), on_open=opened)
        result = await view.engine.run()
        done = await finish(
            result.path,
            result.size,
            placement,
            check=self.store is not None,  # the daemon records a verdict for every file
            on_phase=lambda phase, progress: _set_phase(view, phase, progress),
        )
        view.record = done.record()
        view.phase, view.phase_progress = "", None
        view.result = DownloadResult(Path(done.path), result.size, result.skipped)
        await self.bt.follow_torrent(view, Path(done.path))

    def _end(self, view: TaskView, command: Complete | Fail) -> None:
        view.task.apply(command)
        view.finished = time.monotonic()
        self._finish_order.append(view.task.gid)
        self._stop(view)

    # ---- persistence ----

    def _row(self, view: TaskView) -> TaskRow:
        task = view.task
        error = task.error
        path = view.path
        return TaskRow(
            gid=task.gid,
            seq=view.seq,
            uris=task.uris,
            options={k: v for k, v in task.options.items() if v is not None},
            state=task.state.value,
            error_code=int(error.code) if error is not None else 0,
            error_message=str(error) if error is not None else "",
            total_length=view.total_length or 0,
            completed_length=view.completed_length,
            path=str(path) if path is not None else None,
            created=view.created_wall,
            finished=view.finished_wall,
            extra=_extra(view),
        )

    async def _persist(self, view: TaskView) -> None:
        if self.store is not None:
            await self.store.put_tasks([self._row(view)])

    def exit_code(self) -> int:
        """aria2c's rule: the last error's code; 7 if anything is left unfinished."""
        if any(v.task.state in _LIVE for v in self.views.values()):
            return int(Interrupted.code)
        for gid in reversed(self._finish_order):
            view = self.views.get(gid)
            if view is not None and view.task.state is TaskState.ERROR:
                return int(view.task.error_code)
        return 0


def _extra(view: TaskView) -> dict[str, object]:
    """What the store keeps beyond aria2's fields: the verdict, and the byte ranges on disk
    (so a paused task shows its piece map after a restart, as before it)."""
    extra: dict[str, object] = {}
    if view.record:
        extra["record"] = view.record
    if view.task.state in _LIVE or view.task.state is TaskState.ERROR:
        ranges = view.done_ranges()
        if ranges:
            extra["ranges"] = [list(r) for r in ranges]
    if view.followed_by:
        extra["followedBy"] = list(view.followed_by)
    if view.bt is not None:
        extra["bt"] = view.bt.extra()
    return extra


def _existing(path: Path) -> Path:
    """The nearest existing ancestor: the guard measures the filesystem a dir will be on."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _set_phase(view: TaskView, phase: str, progress: Progress | None) -> None:
    view.phase = phase
    view.phase_progress = (progress.done, progress.total) if progress is not None else None


def _decode_setting(value: object) -> OptionValue | None:
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return value  # type: ignore[return-value]


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("state write failed: %s", task.exception())
