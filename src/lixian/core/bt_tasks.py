"""BitTorrent tasks in the core: the session, a torrent's run, and the tasks that follow.

The manager owns the queue and every state change; this module is what a torrent needs
beyond an HTTP download, kept here so the manager stays about the queue:

- **The session.** libtorrent runs one session per process (``BtSession``). It starts when
  the first torrent task runs (a daemon that never sees a torrent never opens a port) from
  the global options (``--listen-port``, ``--enable-dht``, ``--bt-enable-lpd``,
  ``--max-overall-upload-limit``, ``--bt-require-crypto``, ...) and takes changes of them
  live (``changeGlobalOption``); it closes with the manager.
- **A run.** ``run`` builds the engine's job from the task's options, the stored resume data
  and pieces, and the "best trackers" list (``--bt-tracker-list-url``), and keeps the task
  durable while it runs: every second the pieces that passed their hash go to SQLite, resume
  data a moment after the start and every minute after, and once more when the run stops
  (pause, shutdown, error), so ``kill -9`` and a restart fetch again at most the pieces that
  were in flight.
- **Following.** aria2 reports a magnet as a ``[METADATA]`` task that is ``followedBy`` the
  real download. When the metadata arrives the metadata task completes and the download
  task takes over the *same* running engine (no reconnect): the asyncio task running it moves
  to the new GID. ``--bt-metadata-only`` stops there; ``--pause-metadata`` adds the download
  paused. A ``.torrent`` fetched over HTTP is followed the same way (``--follow-torrent``).
- **Seeding** keeps the task ``active`` (``seeder: "true"``) until ``--seed-time`` or
  ``--seed-ratio`` holds; the moment the download part is done the bus hears
  ``TaskDownloaded`` (``aria2.onBtDownloadComplete``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from lixian.core.bt_model import (
    BtTask,
    bt_engine,
    is_magnet,
    selected_length,
    torrent_files,
    torrent_name,
)
from lixian.core.config import bt_options, bt_session_config
from lixian.core.events import Event, TaskAdded, TaskCompleted, TaskDownloaded, TaskStarted
from lixian.core.finish import Placement
from lixian.core.runner import TaskView, effective_options
from lixian.core.task import Complete, Pause, Start, Task, TaskState
from lixian.engines.bt.events import BtEvent, DownloadComplete, MetadataReceived
from lixian.engines.bt.trackers import TrackerList
from lixian.engines.http.fetcher import DownloadResult
from lixian.errors import LixianError
from lixian.gid import new_gid
from lixian.options import OptionValue
from lixian.storage.delivery import deliver

if TYPE_CHECKING:  # libtorrent loads with the first torrent that runs
    from lixian.core.manager import Manager
    from lixian.engines.bt.download import BtDownload
    from lixian.engines.bt.session import BtSession

__all__ = ["LIVE_OPTIONS", "SESSION_OPTIONS", "BtTasks", "is_magnet"]

log = logging.getLogger(__name__)

RESUME_EVERY = 60.0  # seconds between resume-data saves while a torrent runs
PIECES_EVERY = 0.5  # seconds between writes of the pieces that passed (kill -9 loses these)
TRACKER_WAIT = 5.0  # how long a start waits for the first fetch of the tracker list
MAX_FOLLOWED_TORRENT = 64 << 20  # a downloaded .torrent larger than this is not followed

LIVE_OPTIONS = frozenset(
    {"max-upload-limit", "max-download-limit", "bt-max-peers", "bt-sequential",
     "bt-remove-unselected-file"}
)  # fmt: skip
"""What a running torrent takes without a restart (the rest restart it, as in aria2)."""

SESSION_OPTIONS = frozenset(
    {"max-overall-upload-limit", "max-overall-download-limit", "bt-require-crypto",
     "bt-min-crypto-level", "bt-enable-lpd", "enable-dht"}
)  # fmt: skip
"""Global options the one libtorrent session takes live."""

Ref = list[TaskView]  # the view a run is for: a magnet's run moves on to its download


class BtTasks:
    """The manager's BitTorrent side (one per manager)."""

    def __init__(self, manager: Manager) -> None:
        self.m = manager
        self._session: BtSession | None = None
        self._lock = asyncio.Lock()
        self._trackers: TrackerList | None = None
        self._tracker_job: asyncio.Task[None] | None = None

    # ---- the session ----

    async def session(self) -> BtSession:
        async with self._lock:
            if self._session is None:
                from lixian.engines.bt.session import BtSession

                session = BtSession(bt_session_config(self.m.options))
                await session.start()
                for error in session.listen_errors:
                    log.warning("BitTorrent: %s", error)
                self._session = session
            return self._session

    async def close(self) -> None:
        if self._tracker_job is not None:
            self._tracker_job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tracker_job
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def change_global(self, changes: Mapping[str, object]) -> None:
        if self._session is not None and SESSION_OPTIONS & set(changes):
            await self._session.apply(bt_session_config(self.m.options))

    def upload_speed(self) -> int:
        engines = (bt_engine(self.m.views[g]) for g in self.m.active_gids())
        return sum(e.upload_speed for e in engines if e is not None)

    async def _tracker_list(self, options: Mapping[str, OptionValue | None]) -> tuple[str, ...]:
        url = options.get("bt-tracker-list-url")
        if not url:
            return ()
        if self._trackers is None or self._trackers.url != url:
            if self._tracker_job is not None:
                self._tracker_job.cancel()
            where = self.m.control_dir or platformdirs.user_cache_path("lixian")
            self._trackers = TrackerList(str(url), where)
            self._tracker_job = asyncio.create_task(self._trackers.run(), name="tracker-list")
        with contextlib.suppress(TimeoutError):  # offline: go without it, nothing fails
            return await asyncio.wait_for(asyncio.shield(self._trackers.get()), TRACKER_WAIT)
        return ()

    # ---- adding, restoring ----

    def restore(self, view: TaskView, extra: Mapping[str, Any], torrent: bytes | None) -> None:
        raw = extra.get("bt")
        if not isinstance(raw, dict) and torrent is None:
            return
        view.bt = BtTask.restore(raw if isinstance(raw, dict) else {}, view.task.uris, torrent)

    def warm(self) -> None:
        """(a worker thread, at restore) Parse every stored torrent now, not on the loop
        at the first status call (a 100,000-file torrent takes libtorrent ~0.5 s)."""
        for view in list(self.m.views.values()):
            if view.bt is not None:
                try:
                    _ = view.bt.meta
                except LixianError as exc:  # stored once parsed: only a damaged state file
                    log.error("%s: stored torrent unreadable: %s", view.task.gid, exc)

    def added(self, view: TaskView) -> None:
        """A new torrent task: what the queue shows before it runs."""
        bt = view.bt
        assert bt is not None
        if bt.meta is not None:
            view.saved_total = selected_length(bt.meta, view.task.options)

    def options_changed(self, view: TaskView) -> None:
        if view.bt is not None and view.bt.meta is not None:
            view.saved_total = selected_length(view.bt.meta, view.task.options)

    async def apply_live(self, view: TaskView, changes: Mapping[str, object]) -> bool:
        """Apply ``changes`` to a running torrent; False when they need a restart."""
        engine = bt_engine(view)
        if engine is None or not set(changes) <= LIVE_OPTIONS:
            return False
        opts = effective_options(view.task, self.m.options)
        await engine.apply(bt_options(opts, engine.options.tracker_list))
        return True

    def session_uris(self, view: TaskView) -> tuple[str, ...]:
        """For aria2's session file: a magnet that finds the same torrent."""
        bt = view.bt
        assert bt is not None
        if bt.is_metadata:
            return view.task.uris
        meta = bt.meta
        assert meta is not None
        query = [("xt", f"urn:btih:{meta.info_hash}"), ("dn", meta.name)]
        query += [("tr", url) for tier in meta.trackers for url in tier]
        return (f"magnet:?{urllib.parse.urlencode(query, safe=':/')}",)

    # ---- running ----

    async def run(self, ref: Ref, directory: Path) -> None:
        """Run ``ref[0]``'s torrent until it ends; raises LixianError on failure and
        CancelledError when stopped. ``ref[0]`` is the view the run ended for."""
        view = ref[0]
        bt = view.bt
        assert bt is not None
        opts = effective_options(view.task, self.m.options)
        store = self.m.store
        if bt.resume_data is None and store is not None and not bt.is_metadata:
            bt.resume_data, bt.pieces = await store.get_resume(view.task.gid)
        trackers = await self._tracker_list(opts)
        session = await self.session()
        from lixian.engines.bt.download import BtDownload, BtJob

        engine: BtDownload | None = None

        def on_event(event: BtEvent) -> None:
            assert engine is not None
            if isinstance(event, MetadataReceived):
                self._metadata(ref, engine, event)
            elif isinstance(event, DownloadComplete):
                self.m.bus.publish(TaskDownloaded(ref[0].task.gid))

        job = BtJob(
            source=bt.source,
            directory=directory,
            options=bt_options(opts, trackers),
            resume_data=bt.resume_data,
            finished_pieces=tuple(bt.pieces),
            web_seeds=bt.web_seeds,
            on_event=on_event,
        )
        engine = BtDownload(job, session)
        view.engine = engine
        keeper = asyncio.create_task(self._keep(ref, engine), name=f"bt-keep-{view.task.gid}")
        try:
            result = await engine.run()
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await self._stopped(ref[0], engine)
        view = ref[0]
        bt = view.bt
        assert bt is not None
        if result.metadata_only:
            self._metadata_only(view, engine, result.torrent)
            return
        path = result.path or directory
        view.result = DownloadResult(path, result.total_length)
        view.saved_path = path
        if store is not None:  # complete: its progress is no longer needed
            await store.forget_resume(view.task.gid)
        bt.resume_data, bt.pieces = None, []

    async def _keep(self, ref: Ref, engine: BtDownload) -> None:
        """While a torrent runs: its finished pieces every second, resume data soon after
        the start (so pieces have something to complete) and every minute."""
        store = self.m.store
        if store is None:
            return
        since: set[int] = set()
        next_resume = 0.0
        while True:
            await asyncio.sleep(PIECES_EVERY)
            view = ref[0]
            bt = view.bt
            if bt is None or engine.meta is None or engine.status is None or bt.is_metadata:
                continue
            gid = view.task.gid
            pieces = engine.drain_finished_pieces()
            if pieces:
                bt.pieces.extend(pieces)
                since.update(pieces)
                await store.add_pieces(gid, pieces)
            if time.monotonic() >= next_resume:
                covered = set(since)
                try:
                    data = await engine.save_resume_data()
                except LixianError as exc:
                    log.warning("%s: no resume data: %s", gid, exc)
                    continue
                await store.put_resume(gid, data, covered)
                bt.resume_data = data
                bt.pieces = [p for p in bt.pieces if p not in covered]
                since -= covered
                next_resume = time.monotonic() + RESUME_EVERY

    async def _stopped(self, view: TaskView, engine: BtDownload) -> None:
        """The run ended (finished, failed, paused, shut down): keep where it got to."""
        bt = view.bt
        if bt is None or bt.is_metadata or engine.meta is None:
            return
        bt.upload_length = max(bt.upload_length, engine.upload_length)
        view.saved_completed = engine.completed_length
        view.saved_ranges = engine.done_ranges
        pieces = engine.drain_finished_pieces()
        covered = set(bt.pieces)
        bt.pieces.extend(pieces)
        data = engine.resume_data
        store = self.m.store
        try:
            if store is not None and pieces:
                await store.add_pieces(view.task.gid, pieces)
            if data is not None and data is not bt.resume_data:
                bt.resume_data = data
                bt.pieces = list(pieces)
                if store is not None:
                    await store.put_resume(view.task.gid, data, covered)
        except Exception:  # the state write failing must not hide why the run ended
            log.exception("%s: cannot store the torrent's progress", view.task.gid)

    async def deliver(self, view: TaskView, placement: Placement) -> None:
        """A torrent bound for a mount or an rclone remote: once seeding has ended, each
        selected file is delivered (copied, verified) and the staging dir freed."""
        destination = placement.destination
        bt = view.bt
        if destination is None or bt is None or bt.meta is None or view.result is None:
            return
        root = placement.download_dir
        listed = torrent_files(bt.meta, view.task.options, root, True, None)
        files = [f for f in listed if f.selected]
        view.phase = "uploading"
        try:
            for i, f in enumerate(files):
                assert f.path is not None
                view.phase_progress = (i, len(files))
                rel = f.path.relative_to(root).as_posix()
                await deliver(f.path, destination, relpath=rel)
        finally:
            view.phase, view.phase_progress = "", None
        with contextlib.suppress(OSError):
            await asyncio.to_thread(shutil.rmtree, root)
        location = destination.location(bt.meta.name)
        view.result = DownloadResult(Path(location), view.result.size)

    # ---- following ----

    def _metadata(self, ref: Ref, engine: BtDownload, event: MetadataReceived) -> None:
        """(loop, from the engine) A magnet's metadata arrived: the metadata task is
        complete and the download task takes over the running engine."""
        first = ref[0]
        bt = first.bt
        m = self.m
        assert bt is not None and engine.meta is not None
        bt.metadata_length = len(engine.meta.loaded.info_section)
        if engine.options.metadata_only or engine.options.pause_metadata:
            return  # the run returns now; see _metadata_only
        if first.halting or m._running.get(first.task.gid) is None:
            return  # being paused or stopped: the magnet starts again later
        second = self._follower(
            first, BtTask(torrent=event.torrent, _meta=engine.meta), TaskState.ACTIVE
        )
        second.engine, first.engine = engine, None
        second.started = first.started
        running = m._running.pop(first.task.gid)
        m._running[second.task.gid] = running
        first.result = DownloadResult(Path(torrent_name(bt)), bt.metadata_length)
        m._end(first, Complete())
        ref[0] = second
        self._announce([second], first, [TaskAdded(second.task.gid), TaskStarted(second.task.gid)])

    def _metadata_only(self, view: TaskView, engine: BtDownload, torrent: bytes | None) -> None:
        bt = view.bt
        assert bt is not None
        view.result = DownloadResult(Path(torrent_name(bt)), bt.metadata_length)
        if engine.options.pause_metadata and torrent is not None:
            follower = self._follower(
                view, BtTask(torrent=torrent, _meta=engine.meta), TaskState.PAUSED
            )
            self.m._queue.append(follower.task.gid)
            self._announce([follower], None, [TaskAdded(follower.task.gid)])

    async def follow_torrent(self, view: TaskView, path: Path) -> None:
        """``--follow-torrent``: an HTTP download that is a .torrent starts its download."""
        mode = str(view.task.options.get("follow-torrent") or "true")
        if mode == "false" or path.suffix.lower() != ".torrent":
            return
        try:
            bt = await asyncio.to_thread(_read_torrent, path)
            follower = self._follower(view, bt, TaskState.WAITING)
        except (OSError, LixianError) as exc:
            log.warning("%s: not following %s: %s", view.task.gid, path, exc)
            return
        if mode == "mem":  # aria2 keeps it in memory only: no file left behind
            with contextlib.suppress(OSError):
                await asyncio.to_thread(path.unlink)
        self.m._queue.insert(0, follower.task.gid)
        self._announce([follower], None, [TaskAdded(follower.task.gid)])
        self.m._changed.set()

    def _follower(self, first: TaskView, bt: BtTask, state: TaskState) -> TaskView:
        """The task a metadata or .torrent download starts; same options, ``following`` it."""
        m = self.m
        options = {k: v for k, v in first.task.options.items() if k not in ("out", "pause")}
        task = Task(new_gid(m.views), (), options)
        if state is TaskState.ACTIVE:
            task.apply(Start())
        elif state is TaskState.PAUSED:
            task.apply(Pause())
        bt.following = first.task.gid
        m._seq += 1
        view = TaskView(task, seq=m._seq, bt=bt)
        self.added(view)
        m.views[task.gid] = view
        first.followed_by.append(task.gid)
        return view

    def _announce(
        self, new: Sequence[TaskView], done: TaskView | None, events: Sequence[Event]
    ) -> None:
        """Write the new tasks (torrents first) and the one they follow, then announce."""
        m = self.m
        published: list[Event] = list(events)
        if done is not None:
            published.insert(0, TaskCompleted(done.task.gid))
        if m.store is None:
            for event in published:
                m.bus.publish(event)
            return
        last: Future[Any] | None = None
        for view in new:
            assert view.bt is not None and view.bt.torrent is not None
            m.store.put_torrent_nowait(view.task.gid, view.bt.torrent)
        rows = [m._row(v) for v in (*new, *([done] if done is not None else []))]
        last = m.store.put_tasks_nowait(rows)
        loop = asyncio.get_running_loop()

        def publish() -> None:
            for event in published:
                m.bus.publish(event)

        last.add_done_callback(lambda _: loop.call_soon_threadsafe(publish))


def _read_torrent(path: Path) -> BtTask:
    if path.stat().st_size > MAX_FOLLOWED_TORRENT:
        raise LixianError(f"{path.name} is larger than a .torrent may be")
    return BtTask.from_torrent(path.read_bytes())
