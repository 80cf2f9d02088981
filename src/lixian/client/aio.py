"""``AsyncClient``: aria2's JSON-RPC over aiohttp, the only copy of every client method.

Theory of operation

- One aiohttp session, made on first use inside the loop that uses it; each call is a POST to
  ``/jsonrpc``. ``"token:SECRET"`` goes first in the params, except for the methods aria2 exempts
  (``system.listMethods``, ``system.listNotifications``); ``system.multicall`` carries none itself,
  each nested call carries its own.
- Every method failure arrives as ``{"error": {"code", "message"}}`` (HTTP 400) and is raised as
  ``RpcError(code, message)`` with aria2's wording. A daemon that cannot be reached is
  ``DaemonUnreachable``, a ``ConnectionError``: "no daemon" is not "the daemon said no".
- Replies are shaped by ``lixian.client.shapes`` and nowhere here.
- Notifications (``aria2.onDownloadComplete`` ...) come over a WebSocket on the same path. ``wait``
  listens to them to wake early and polls ``tellStatus`` as the source of truth, so it also works
  where WebSockets don't.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any

import aiohttp

from lixian.client.shapes import (
    DaemonUnreachable,
    GlobalStat,
    Notification,
    OptionInput,
    Outcome,
    RpcError,
    TaskPage,
    TaskStatus,
    Version,
    aria2_options,
    rpc_error,
)

__all__ = ["DEFAULT_URL", "AsyncClient"]

DEFAULT_URL = "http://127.0.0.1:6800/jsonrpc"
_NO_TOKEN = frozenset({"system.listMethods", "system.listNotifications", "system.multicall"})
_PAGE = 1000  # aria2 clients (AriaNg) page tellWaiting/tellStopped by 1000


def _reason(exc: aiohttp.ClientConnectionError) -> str:
    """The OS's words (Connection refused), not aiohttp's sentence with ``ssl:default`` in it."""
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def _ws_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme, scheme) + sep + rest


class AsyncClient:
    """aria2 JSON-RPC over aiohttp; ``url``/``secret`` default to $LIXIAN_RPC_URL/_SECRET.

    ``async with AsyncClient() as c: gid = await c.add_uri(url)``; a secret of ``""`` means none.
    """

    def __init__(
        self, url: str | None = None, secret: str | None = None, *, timeout: float = 30.0
    ) -> None:
        self.url = url or os.environ.get("LIXIAN_RPC_URL") or DEFAULT_URL
        self.secret = (os.environ.get("LIXIAN_RPC_SECRET") if secret is None else secret) or None
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session (idempotent)."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            self._http = aiohttp.ClientSession(timeout=timeout, trust_env=False)
        return self._http

    def _params(self, method: str, params: Iterable[object]) -> list[object]:
        if self.secret is None or method in _NO_TOKEN:
            return list(params)
        return [f"token:{self.secret}", *params]

    async def _post(self, payload: Mapping[str, object]) -> Any:
        try:
            async with self._session().post(self.url, json=payload) as resp:
                body = await resp.read()
                status = resp.status
        except aiohttp.ClientConnectionError as exc:
            raise DaemonUnreachable(self.url, _reason(exc)) from exc
        try:
            reply = json.loads(body)
        except ValueError:
            raise RpcError(-32700, f"HTTP {status}: not a JSON-RPC reply from {self.url}") from None
        if isinstance(reply, Mapping) and "error" in reply:
            raise rpc_error(reply["error"])
        if not isinstance(reply, Mapping) or "result" not in reply:
            raise RpcError(-32600, f"HTTP {status}: malformed JSON-RPC reply from {self.url}")
        return reply["result"]

    async def call(self, method: str, *params: object) -> Any:
        """Call any method by its wire name, the token added; returns the raw JSON result."""
        payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                   "params": self._params(method, params)}  # fmt: skip
        return await self._post(payload)

    async def multicall(self, calls: Iterable[tuple[str, Sequence[object]]]) -> list[Outcome]:
        """``system.multicall``: many calls in one request; each answer succeeds or fails alone."""
        nested = [{"methodName": m, "params": self._params(m, p)} for m, p in calls]
        results = await self.call("system.multicall", nested)
        return [
            Outcome(value=r[0]) if isinstance(r, list) and r else Outcome(error=rpc_error(r))
            for r in results
        ]

    async def add_uri(
        self,
        uris: str | Sequence[str],
        options: Mapping[str, OptionInput] | None = None,
        *,
        position: int | None = None,
    ) -> str:
        """Add one download; several URIs are mirrors of the same file (a magnet alone). -> GID."""
        params: list[object] = [[uris] if isinstance(uris, str) else list(uris)]
        params.append(aria2_options(options or {}))
        if position is not None:
            params.append(position)
        return str(await self.call("aria2.addUri", *params))

    async def add_torrent(
        self,
        torrent: bytes,
        uris: Sequence[str] = (),
        options: Mapping[str, OptionInput] | None = None,
        *,
        position: int | None = None,
    ) -> str:
        """Add a .torrent given as its bytes (the caller reads the file, as aria2's RPC wants)."""
        params: list[object] = [base64.b64encode(torrent).decode("ascii"), list(uris)]
        params.append(aria2_options(options or {}))
        if position is not None:
            params.append(position)
        return str(await self.call("aria2.addTorrent", *params))

    async def add_metalink(
        self,
        metalink: bytes,
        options: Mapping[str, OptionInput] | None = None,
        *,
        position: int | None = None,
    ) -> list[str]:
        """Add a Metalink document given as its bytes; one GID per file it describes."""
        params: list[object] = [base64.b64encode(metalink).decode("ascii")]
        params.append(aria2_options(options or {}))
        if position is not None:
            params.append(position)
        return [str(g) for g in await self.call("aria2.addMetalink", *params)]

    async def tell_status(self, gid: str, keys: Sequence[str] | None = None) -> TaskStatus:
        """A fresh snapshot of one task (a unique GID prefix is accepted, as aria2 does)."""
        params: list[object] = [gid] if keys is None else [gid, list(keys)]
        return TaskStatus.from_aria2(await self.call("aria2.tellStatus", *params))

    async def tell_active(self, keys: Sequence[str] | None = None) -> list[TaskStatus]:
        """Tasks downloading now."""
        params: list[object] = [] if keys is None else [list(keys)]
        return [TaskStatus.from_aria2(t) for t in await self.call("aria2.tellActive", *params)]

    async def tell_waiting(
        self, offset: int = 0, num: int = _PAGE, keys: Sequence[str] | None = None
    ) -> list[TaskStatus]:
        """Queued and paused tasks, in queue order (a negative offset counts from the end)."""
        params: list[object] = [offset, num] + ([] if keys is None else [list(keys)])
        return [TaskStatus.from_aria2(t) for t in await self.call("aria2.tellWaiting", *params)]

    async def tell_stopped(
        self, offset: int = 0, num: int = _PAGE, keys: Sequence[str] | None = None
    ) -> list[TaskStatus]:
        """Finished, failed and removed tasks still remembered by the daemon."""
        params: list[object] = [offset, num] + ([] if keys is None else [list(keys)])
        return [TaskStatus.from_aria2(t) for t in await self.call("aria2.tellStopped", *params)]

    async def tell_all(self, keys: Sequence[str] | None = None) -> list[TaskStatus]:
        """Every task: active, then waiting, then stopped; the first page in one multicall so a
        task moving between lists mid-read is neither lost nor doubled (deduplicated by GID)."""
        k: list[object] = [] if keys is None else [list(keys)]
        first = await self.multicall([
            ("aria2.tellActive", k),
            ("aria2.tellWaiting", [0, _PAGE, *k]),
            ("aria2.tellStopped", [0, _PAGE, *k]),
        ])  # fmt: skip
        for outcome in first:
            if outcome.error is not None:
                raise outcome.error
        active, waiting, stopped = (list(o.value) for o in first)
        for lst, method in ((waiting, "aria2.tellWaiting"), (stopped, "aria2.tellStopped")):
            page = lst
            while len(page) == _PAGE:
                page = await self.call(method, len(lst), _PAGE, *k)
                lst.extend(page)
        seen: dict[str, TaskStatus] = {}
        for struct in itertools.chain(active, waiting, stopped):
            task = TaskStatus.from_aria2(struct)
            seen.setdefault(task.gid, task)
        return list(seen.values())

    async def list_tasks(
        self,
        filter: object = None,
        sort: object = None,
        offset: int = 0,
        limit: int = 100,
    ) -> TaskPage:
        """``lixian.listTasks`` (lixian only; aria2c answers "No such method")."""
        return TaskPage.from_aria2(await self.call("lixian.listTasks", filter, sort, offset, limit))

    async def pause(self, gid: str, *, force: bool = False) -> str:
        """Pause one task (``force``: without waiting for connections to wind down). -> GID."""
        return str(await self.call("aria2.forcePause" if force else "aria2.pause", gid))

    async def unpause(self, gid: str) -> str:
        """Put a paused task back in the queue. -> GID."""
        return str(await self.call("aria2.unpause", gid))

    async def remove(self, gid: str, *, force: bool = False) -> str:
        """Stop an active/waiting task; it stays in the stopped list as "removed". -> GID."""
        return str(await self.call("aria2.forceRemove" if force else "aria2.remove", gid))

    async def remove_download_result(self, gid: str) -> None:
        """Forget a stopped task (its files stay on disk)."""
        await self.call("aria2.removeDownloadResult", gid)

    async def purge_download_result(self) -> None:
        """Forget every stopped task."""
        await self.call("aria2.purgeDownloadResult")

    async def pause_all(self, *, force: bool = False) -> None:
        """Pause every active and waiting task."""
        await self.call("aria2.forcePauseAll" if force else "aria2.pauseAll")

    async def unpause_all(self) -> None:
        """Resume every paused task."""
        await self.call("aria2.unpauseAll")

    async def change_option(self, gid: str, options: Mapping[str, OptionInput]) -> None:
        """Change a task's options; speed limits and connections reach a running download."""
        await self.call("aria2.changeOption", gid, aria2_options(options))

    async def get_option(self, gid: str) -> dict[str, str]:
        """A task's options, in aria2's string form."""
        return dict(await self.call("aria2.getOption", gid))

    async def change_global_option(self, options: Mapping[str, OptionInput]) -> None:
        """Change daemon-wide options (``max_concurrent_downloads=4``)."""
        await self.call("aria2.changeGlobalOption", aria2_options(options))

    async def get_global_option(self) -> dict[str, str]:
        """The daemon's global options, in aria2's string form."""
        return dict(await self.call("aria2.getGlobalOption"))

    async def get_global_stat(self) -> GlobalStat:
        """Overall speeds and list sizes (what AriaNg polls every second)."""
        return GlobalStat.from_aria2(await self.call("aria2.getGlobalStat"))

    async def get_version(self) -> Version:
        """The daemon's version and features."""
        return Version.from_aria2(await self.call("aria2.getVersion"))

    async def shutdown(self, *, force: bool = False) -> None:
        """Ask the daemon to exit (``force``: without waiting for connections to close)."""
        await self.call("aria2.forceShutdown" if force else "aria2.shutdown")

    async def notifications(self) -> AsyncGenerator[Notification, None]:
        """The daemon's pushes over a WebSocket, until the daemon goes away or the caller stops.

        ``async with contextlib.aclosing(c.notifications()) as events: async for n in events: ...``
        """
        try:
            ws = await self._session().ws_connect(_ws_url(self.url), heartbeat=30)
        except aiohttp.ClientConnectionError as exc:
            raise DaemonUnreachable(self.url, _reason(exc)) from exc
        async with ws:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if not isinstance(data, dict) or "method" not in data or "id" in data:
                    continue
                for param in data.get("params") or ():
                    if isinstance(param, dict) and "gid" in param:
                        yield Notification(str(data["method"]), str(param["gid"]))

    @contextlib.asynccontextmanager
    async def _wakeups(self) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
        """A ``sleep(poll)`` that a notification cuts short; plain sleeps if there is no socket."""
        event = asyncio.Event()

        async def listen() -> None:
            with contextlib.suppress(aiohttp.ClientError, ConnectionError, ValueError):
                async with contextlib.aclosing(self.notifications()) as events:
                    async for _ in events:
                        event.set()

        async def sleep(seconds: float) -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), seconds)
            event.clear()

        listener = asyncio.create_task(listen())
        try:
            yield sleep
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def wait(
        self,
        gid: str,
        timeout: float | None = None,  # noqa: ASYNC109 - the sync facade has no asyncio.timeout
        *,
        poll: float = 1.0,
    ) -> TaskStatus:
        """Block until the task is complete, failed or removed; -> its final snapshot.

        A completed task that is ``followed_by`` another (a magnet's metadata, then the torrent)
        is followed to the end of the chain. A paused task keeps it waiting. ``TimeoutError`` after
        ``timeout`` seconds; the status is polled every ``poll`` s and on every notification.
        """
        async with asyncio.timeout(timeout), self._wakeups() as sleep:
            while True:
                status = await self.tell_status(gid)
                if status.status == "complete" and status.followed_by:
                    gid = status.followed_by[0]
                    continue
                if status.done:
                    return status
                await sleep(poll)

    async def wait_all(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 - the sync facade has no asyncio.timeout
        *,
        poll: float = 1.0,
    ) -> list[TaskStatus]:
        """Wait for every task active or queued now (and their followers); -> final snapshots.

        Tasks paused at the call are left out; ``TimeoutError`` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout), self._wakeups() as sleep:
            pending = [t.gid for t in await self.tell_all(["gid", "status"]) if not t.done
                       and t.status != "paused"]  # fmt: skip
            final: dict[str, TaskStatus] = {}
            while pending:
                outcomes = await self.multicall([("aria2.tellStatus", [g]) for g in pending])
                still: list[str] = []
                for gid, outcome in zip(pending, outcomes, strict=True):
                    if outcome.error is not None:
                        raise outcome.error
                    status = TaskStatus.from_aria2(outcome.value)
                    if status.done:
                        final[gid] = status
                        still.extend(g for g in status.followed_by if g not in final)
                    else:
                        still.append(gid)
                if still == pending:
                    await sleep(poll)
                pending = still
            return list(final.values())
