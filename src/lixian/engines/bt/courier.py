"""A thread that owns a blocking resource, and the asyncio plumbing to talk to it.

``session.py`` runs libtorrent on one of these; nothing here knows libtorrent. The rules:

- The loop hands the thread closures with :meth:`Courier.call`; the thread runs them in order
  (``_run_commands``) and results cross back with ``loop.call_soon_threadsafe`` only.
- The thread sleeps in ``select`` on two pipes: one the resource writes to when it has news
  (libtorrent's ``set_alert_fd``), one :meth:`call` writes to. So a command never waits for a
  timeout, and every sleep is bounded by the subclass's next tick.
- A result that arrives later (by alert) is a *parked* future, keyed by the subclass, settled
  with :meth:`_resolve`. Closing fails every pending future: no caller waits forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from lixian.errors import LixianError

__all__ = ["Courier"]

log = logging.getLogger("lixian.bt")
S = TypeVar("S")
T = TypeVar("T")


class Courier(Generic[S]):
    """Base of an adapter thread over a resource of type ``S`` (see module docstring)."""

    name = "courier"
    close_timeout = 15.0

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._commands: deque[tuple[Callable[[S], Any], asyncio.Future[Any]]] = deque()
        self._parked: dict[Hashable, list[asyncio.Future[Any]]] = {}
        self._stopping = False
        self._ready: asyncio.Future[None] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._news_r, self.news_fd = os.pipe()  # the resource writes a byte here on news
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._news_r, self.news_fd, self._wake_r, self._wake_w):
            os.set_blocking(fd, False)

    # ---- loop side ----

    async def _start_thread(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = self._loop.create_future()
        self._closed = self._loop.create_future()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        await self._ready

    async def _stop_thread(self) -> None:
        if self._thread is None or self._stopping:
            return
        self._stopping = True
        self._wake()
        assert self._closed is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), self.close_timeout)
        for fd in (self._news_r, self.news_fd, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    async def call(self, fn: Callable[[S], T]) -> T:
        """Run ``fn(resource)`` on the thread; its exception is raised here."""
        if self._loop is None or self._stopping:
            raise LixianError(f"the {self.name} thread is not running")
        future: asyncio.Future[T] = self._loop.create_future()
        self._commands.append((fn, future))
        self._wake()
        return await future

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    @staticmethod
    def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    # ---- thread side ----

    def _open(self) -> S:
        """(thread) Create the resource; an exception fails ``start()``."""
        raise NotImplementedError

    def _started(self, resource: S) -> None:
        """(thread) Anything to do before ``start()`` returns (e.g. wait to be listening)."""

    def _step(self, resource: S) -> float:
        """(thread) One round of periodic work; return the seconds until the next round."""
        raise NotImplementedError

    def _news(self, resource: S) -> None:
        """(thread) The resource signalled news (or a wait ended): handle it."""
        raise NotImplementedError

    def _shutdown(self, resource: S) -> None:
        """(thread) Release the resource."""

    def _main(self) -> None:
        assert self._ready is not None and self._closed is not None
        try:
            resource = self._open()
            self._started(resource)
        except Exception as exc:
            self._post(self._ready, None, LixianError(f"cannot start {self.name}: {exc}"))
            self._post(self._closed, None, None)
            return
        self._post(self._ready, None, None)
        try:
            while not self._stopping:
                self._run_commands(resource)
                delay = self._step(resource)
                self._wait(delay)
                self._news(resource)
        except Exception:  # a bug here must not leave the loop waiting forever
            log.exception("%s thread crashed", self.name)
        finally:
            self._fail_pending()
            try:
                self._shutdown(resource)
            finally:
                del resource  # the resource's destructor runs here, before close() returns
                self._post(self._closed, None, None)

    def _post(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            self._loop.call_soon_threadsafe(self._settle, future, result, error)

    def _deliver(self, callback: Callable[..., None], *args: Any) -> None:
        """(thread) Run ``callback(*args)`` on the loop."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback, *args)

    def _wait(self, timeout: float) -> None:
        ready, _, _ = select.select([self._news_r, self._wake_r], [], [], max(0.0, timeout))
        for fd in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(fd, 4096)

    def _run_commands(self, resource: S) -> None:
        while self._commands:
            fn, future = self._commands.popleft()
            try:
                result = fn(resource)
            except BaseException as exc:
                self._post(future, None, exc)
            else:
                self._post(future, result, None)

    def _park(self, key: Hashable) -> asyncio.Future[Any]:
        """(thread) A future that :meth:`_resolve` with the same key will settle."""
        assert self._loop is not None
        future: asyncio.Future[Any] = self._loop.create_future()
        self._parked.setdefault(key, []).append(future)
        return future

    def _resolve(self, key: Hashable, result: Any, error: BaseException | None) -> None:
        for future in self._parked.pop(key, []):
            self._post(future, result, error)

    def _fail_pending(self) -> None:
        error = LixianError(f"the {self.name} thread closed")
        while self._commands:
            self._post(self._commands.popleft()[1], None, error)
        for futures in self._parked.values():
            for future in futures:
                self._post(future, None, error)
        self._parked.clear()
