"""The manager: the queue, its concurrency limit, and the life of every task.

It owns task state (through ``Task.apply`` only) and hands engines frozen settings.
``lixian get`` runs one in-process; the daemon will run one behind the RPC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from lixian.core.config import http_config, load_cookies
from lixian.core.events import (
    EventBus,
    TaskAdded,
    TaskCompleted,
    TaskFailed,
    TaskPaused,
    TaskStarted,
)
from lixian.core.task import Complete, Fail, Pause, Start, Task, TaskState
from lixian.engines.http.fetcher import DownloadResult, HttpDownload, HttpJob, new_session
from lixian.engines.http.throttle import RateLimiter
from lixian.errors import Interrupted, LixianError
from lixian.gid import new_gid
from lixian.importers.cookies import Cookie
from lixian.options import OptionValue

__all__ = ["Manager", "TaskView"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TaskView:
    """A task plus what its engine is doing right now, for displays."""

    task: Task
    engine: HttpDownload | None = None
    result: DownloadResult | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def completed_length(self) -> int:
        if self.result is not None:
            return self.result.size
        return self.engine.completed_length if self.engine is not None else 0

    @property
    def total_length(self) -> int | None:
        if self.result is not None:
            return self.result.size
        return self.engine.total_length if self.engine is not None else None

    @property
    def path(self) -> Path | None:
        if self.result is not None:
            return self.result.path
        return self.engine.path if self.engine is not None else None


class Manager:
    """Runs tasks, at most ``max-concurrent-downloads`` at a time, in queue order."""

    def __init__(
        self, options: Mapping[str, OptionValue | None], *, control_dir: Path | None = None
    ) -> None:
        self.options = dict(options)
        self.control_dir = control_dir
        self.bus = EventBus()
        self.views: dict[str, TaskView] = {}
        self.overall = RateLimiter(int(options.get("max-overall-download-limit") or 0))  # type: ignore[arg-type]
        self._waiting: list[str] = []
        self._running: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self._cookies: dict[str, tuple[Cookie, ...]] = {}
        self._finish_order: list[str] = []

    @property
    def max_concurrent(self) -> int:
        return int(self.options.get("max-concurrent-downloads") or 5)  # type: ignore[arg-type]

    async def __aenter__(self) -> Manager:
        self._session = new_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def add(
        self, uris: Sequence[str], options: Mapping[str, OptionValue | None] | None = None
    ) -> Task:
        task_options: dict[str, object] = {**self.options, **(options or {})}
        task = Task(new_gid(set(self.views)), tuple(uris), task_options)
        self.views[task.gid] = TaskView(task)
        self._waiting.append(task.gid)
        self.bus.publish(TaskAdded(task.gid))
        self._changed.set()
        return task

    async def run_until_complete(self) -> list[TaskView]:
        """Run every queued task to an end state (``lixian get``)."""
        while self._waiting or self._running:
            self._schedule()
            self._changed.clear()
            await self._changed.wait()
        return list(self.views.values())

    def _schedule(self) -> None:
        while self._waiting and len(self._running) < self.max_concurrent:
            gid = self._waiting.pop(0)
            view = self.views[gid]
            view.task.apply(Start())
            view.started = time.monotonic()
            self.bus.publish(TaskStarted(gid))
            self._running[gid] = asyncio.create_task(self._run(view), name=f"task-{gid}")

    async def _run(self, view: TaskView) -> None:
        task = view.task
        try:
            job = await self._job(task)
            assert self._session is not None
            view.engine = HttpDownload(job, self._session, limiters=(self.overall,))
            view.result = await view.engine.run()
        except asyncio.CancelledError:
            task.apply(Pause())
            self.bus.publish(TaskPaused(task.gid))
            raise
        except LixianError as exc:
            self._fail(view, exc)
        except Exception as exc:  # a bug must end the task visibly, never hang the queue
            log.exception("task %s crashed", task.gid)
            self._fail(view, LixianError(f"internal error: {exc!r}"))
        else:
            task.apply(Complete())
            self.bus.publish(TaskCompleted(task.gid))
        finally:
            view.finished = time.monotonic()
            self._running.pop(task.gid, None)
            self._finish_order.append(task.gid)
            self._changed.set()

    def _fail(self, view: TaskView, exc: LixianError) -> None:
        view.task.apply(Fail(exc))
        self.bus.publish(TaskFailed(view.task.gid, exc.code))

    async def _job(self, task: Task) -> HttpJob:
        opts: dict[str, OptionValue] = task.options  # type: ignore[assignment]
        cookie_path = opts.get("load-cookies")
        cookies: tuple[Cookie, ...] = ()
        if cookie_path:
            key = str(cookie_path)
            if key not in self._cookies:
                self._cookies[key] = await asyncio.to_thread(load_cookies, key)
            cookies = self._cookies[key]
        directory = Path(str(opts.get("dir") or os.getcwd()))
        out = opts.get("out")
        return HttpJob(
            uris=task.uris,
            directory=directory,
            out=str(out) if out else None,
            config=http_config(opts, cookies),
            control_dir=self.control_dir,
        )

    async def stop(self) -> None:
        """Stop every running download, keeping its progress for a later resume."""
        self._waiting.clear()
        running = list(self._running.values())
        for job in running:
            job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*running, return_exceptions=True)

    def exit_code(self) -> int:
        """aria2c's rule: the last error's code; 7 if anything is left unfinished."""
        states = [v.task.state for v in self.views.values()]
        if any(s in (TaskState.WAITING, TaskState.ACTIVE, TaskState.PAUSED) for s in states):
            return int(Interrupted.code)
        for gid in reversed(self._finish_order):
            task = self.views[gid].task
            if task.state is TaskState.ERROR:
                return int(task.error_code)
        return 0
