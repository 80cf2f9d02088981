"""``Client``: the blocking twin of ``AsyncClient``, generated, never hand-copied (STYLE.md 5).

A private event loop runs in a daemon thread; each name in ``Client``'s class body is one
generated wrapper that runs the ``AsyncClient`` coroutine of that name there and waits for it.
The async method stays the only copy of each signature, docstring and behaviour, and the types
flow through (``ParamSpec``), so ``mypy`` checks sync callers too. A blocking call from a notebook
cell, where a loop is already running, works because the coroutine runs on the private loop, not
the caller's; Ctrl-C (a kernel interrupt) cancels the call it interrupts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from lixian.client.aio import AsyncClient

__all__ = ["Client"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class _LoopThread:
    """A private event loop in a daemon thread, for blocking callers (notebooks, scripts)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="lixian-client", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, _R]) -> _R:
        if self.loop.is_closed():
            coro.close()
            raise RuntimeError("this Client is closed")
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("a blocking Client method was called from its own loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in a notebook cell stops the call, not just the wait for it
            raise

    def close(self, client: AsyncClient) -> None:
        if self.loop.is_closed():
            return
        if self.thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.aclose(), self.loop).result(5)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class _Blocking(Generic[_P, _R]):
    """A blocking method made from an ``AsyncClient`` coroutine method: same signature and doc."""

    def __init__(self, method: Callable[Concatenate[AsyncClient, _P], Coroutine[Any, Any, _R]]):
        self.method = method
        self.__doc__ = method.__doc__
        self.__name__ = method.__name__

    @overload
    def __get__(self, client: None, owner: type[Client]) -> _Blocking[_P, _R]: ...
    @overload
    def __get__(self, client: Client, owner: type[Client]) -> Callable[_P, _R]: ...
    def __get__(
        self, client: Client | None, owner: type[Client]
    ) -> _Blocking[_P, _R] | Callable[_P, _R]:
        if client is None:
            return self
        method = self.method

        @functools.wraps(method)
        def blocking(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            # Holds ``client`` itself: ``Client(url).get_version()`` must not let the finalizer
            # stop the loop between binding and calling.
            return client._thread.run(method(client._async, *args, **kwargs))

        return blocking


class Client:
    """The blocking twin of ``AsyncClient`` for scripts and notebooks.

    ``Client(url="http://127.0.0.1:6800/jsonrpc", secret=None)``, defaults from $LIXIAN_RPC_URL and
    $LIXIAN_RPC_SECRET. Every method below is generated from the ``AsyncClient`` method of the same
    name and runs on a private loop thread; ``close()`` (or ``with``) stops it.
    """

    def __init__(
        self, url: str | None = None, secret: str | None = None, *, timeout: float = 30.0
    ) -> None:
        self._async = AsyncClient(url, secret, timeout=timeout)
        self._thread = _LoopThread()
        self._closer = weakref.finalize(self, self._thread.close, self._async)

    @property
    def url(self) -> str:
        return self._async.url

    @property
    def secret(self) -> str | None:
        return self._async.secret

    def close(self) -> None:
        """Close the session and stop the loop thread (idempotent; also done when collected)."""
        self._closer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    call = _Blocking(AsyncClient.call)
    multicall = _Blocking(AsyncClient.multicall)
    add_uri = _Blocking(AsyncClient.add_uri)
    add_torrent = _Blocking(AsyncClient.add_torrent)
    add_metalink = _Blocking(AsyncClient.add_metalink)
    tell_status = _Blocking(AsyncClient.tell_status)
    tell_active = _Blocking(AsyncClient.tell_active)
    tell_waiting = _Blocking(AsyncClient.tell_waiting)
    tell_stopped = _Blocking(AsyncClient.tell_stopped)
    tell_all = _Blocking(AsyncClient.tell_all)
    list_tasks = _Blocking(AsyncClient.list_tasks)
    pause = _Blocking(AsyncClient.pause)
    unpause = _Blocking(AsyncClient.unpause)
    remove = _Blocking(AsyncClient.remove)
    remove_download_result = _Blocking(AsyncClient.remove_download_result)
    purge_download_result = _Blocking(AsyncClient.purge_download_result)
    pause_all = _Blocking(AsyncClient.pause_all)
    unpause_all = _Blocking(AsyncClient.unpause_all)
    change_option = _Blocking(AsyncClient.change_option)
    get_option = _Blocking(AsyncClient.get_option)
    change_global_option = _Blocking(AsyncClient.change_global_option)
    get_global_option = _Blocking(AsyncClient.get_global_option)
    get_global_stat = _Blocking(AsyncClient.get_global_stat)
    get_version = _Blocking(AsyncClient.get_version)
    shutdown = _Blocking(AsyncClient.shutdown)
    wait = _Blocking(AsyncClient.wait)
    wait_all = _Blocking(AsyncClient.wait_all)
