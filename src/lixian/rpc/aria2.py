"""The aria2 JSON-RPC method table and its dispatch, sans-IO.

One table (``_TABLE``, at the end) names every wire method once with its handler, the
way aria2p's client does; ``system.listMethods``, token handling, ``system.multicall``,
XML-RPC and the tests all go through it. The task methods live in ``tasks``, lixian's
own in ``lixian_methods``; what is about the process or the protocol stays here.

``Dispatcher.handle`` takes one decoded JSON-RPC request (or a batch) and returns the
response object(s); the aiohttp server only moves bytes, sleeps ``unauthorized_delay()``
when ``is_unauthorized`` says so, and picks ``http_status``.

aria2 1.37's behaviour, checked against the real aria2c and kept here:

- ``"token:SECRET"`` as the first parameter is removed before the method sees its
  parameters, even when no secret is set (then any token passes). The check comes
  before the method lookup: an unknown method with a bad token is "Unauthorized".
  ``system.listMethods``/``listNotifications`` need no token; ``system.multicall``
  takes none itself (a leading token is *not* stripped there) and each nested call
  carries its own.
- A request without ``id`` (a JSON-RPC notification) is answered with -32600, and so
  is one whose ``method`` is not a string; ``params`` that is not an array is -32602.
  A batch skips items that are not objects; an empty batch answers ``[]``.
- GIDs: 16 hex digits or a unique prefix, any case; longer or non-hex is
  "Invalid GID x", no match "GID x is not found", several "GID x is not unique".
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from lixian import __version__
from lixian.core.events import (
    Event,
    TaskCompleted,
    TaskDownloaded,
    TaskFailed,
    TaskPaused,
    TaskRemoved,
    TaskStarted,
)
from lixian.errors import LixianError
from lixian.rpc import file_links, lixian_methods, subscriptions, tasks
from lixian.rpc.errors import (
    ENVELOPE_MESSAGES,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    UNAUTHORIZED,
    Params,
    RpcError,
)
from lixian.rpc.schema import (
    Confine,
    StatusCache,
)

if TYPE_CHECKING:
    from lixian.core.manager import Manager

__all__ = [
    "NOTIFICATIONS",
    "Dispatcher",
    "Method",
    "http_status",
    "is_unauthorized",
    "notification",
]

log = logging.getLogger(__name__)

Handler = Callable[[Params], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Method:
    """One wire method: its name, its handler, and whether it checks the token."""

    name: str
    handler: Handler
    needs_token: bool = True


NOTIFICATIONS: Mapping[type[Event], str] = MappingProxyType(
    {
        TaskStarted: "aria2.onDownloadStart",
        TaskPaused: "aria2.onDownloadPause",
        TaskRemoved: "aria2.onDownloadStop",
        TaskCompleted: "aria2.onDownloadComplete",
        TaskFailed: "aria2.onDownloadError",
        TaskDownloaded: "aria2.onBtDownloadComplete",
    }
)
"""Core event class -> aria2 notification. ``TaskAdded`` has none (aria2 sends none)."""

NOTIFICATION_NAMES = (
    "aria2.onDownloadStart",
    "aria2.onDownloadPause",
    "aria2.onDownloadStop",
    "aria2.onDownloadComplete",
    "aria2.onDownloadError",
    "aria2.onBtDownloadComplete",
)

# What getVersion lists: only features lixian has (aria2 lists its build's).
ENABLED_FEATURES = ("BitTorrent", "Firefox3 Cookie", "HTTPS", "Message Digest", "XML-RPC")

SHUTDOWN_DELAY = 0.5  # seconds; lets the "OK" reach the client (aria2 waits 3)


def notification(event: Event) -> dict[str, object]:
    """The aria2 notification for ``event``; ``KeyError`` if aria2 has none for it
    (check ``type(event) in NOTIFICATIONS`` first)."""
    return {
        "jsonrpc": "2.0",
        "method": NOTIFICATIONS[type(event)],
        "params": [{"gid": event.gid}],
    }


def _response(rid: object, *, result: object = None, error: object = None) -> dict[str, object]:
    if error is not None:
        return {"id": rid, "jsonrpc": "2.0", "error": error}
    return {"id": rid, "jsonrpc": "2.0", "result": result}


def _envelope_error(rid: object, code: int) -> dict[str, object]:
    return _response(rid, error={"code": code, "message": ENVELOPE_MESSAGES[code]})


def is_unauthorized(response: object) -> bool:
    """Whether a response (single, batch, or a multicall inside one) holds an
    "Unauthorized" error: aria2 then delays its answer to slow down guessing."""
    if isinstance(response, list):
        return any(is_unauthorized(item) for item in response)
    if not isinstance(response, dict):
        return False
    if response.get("message") == UNAUTHORIZED and response.get("code") == 1:
        return True
    error = response.get("error")
    if isinstance(error, dict) and error.get("message") == UNAUTHORIZED:
        return True
    return is_unauthorized(response.get("result")) if "id" in response else False


def http_status(response: object) -> int:
    """The HTTP status aria2 sends with a response: 200, 400 for method errors and
    -32600, 404 for -32601, 500 for the other JSON-RPC codes; a batch is always 200."""
    if not isinstance(response, dict) or "error" not in response:
        return 200
    error = response["error"]
    code = error.get("code") if isinstance(error, dict) else None
    if code in (1, INVALID_REQUEST):
        return 400
    return 404 if code == METHOD_NOT_FOUND else 500


def _normalise_id(rid: object) -> object:
    # aria2's JSON reader keeps integers only: an id of 1.5 comes back as 1.
    if isinstance(rid, float) and math.isfinite(rid):
        return int(rid)
    return rid


class Dispatcher:
    """aria2's RPC over a ``Manager``: no sockets, no sleeping, no JSON bytes."""

    def __init__(
        self,
        manager: Manager,
        *,
        secret: str | None,
        version: str,
        session_id: str,
        confine: Confine | None = None,
        on_shutdown: Callable[[bool], Awaitable[None]] | None = None,
    ) -> None:
        self.manager = manager
        self._secret = secret.encode() if secret else None
        self.version = version
        self.session_id = session_id
        self.confine = confine
        self._on_shutdown = on_shutdown
        self._background: set[asyncio.Task[None]] = set()
        self.statuses = StatusCache()  # tellStatus structs of tasks that are not running
        self.methods: Mapping[str, Method] = MappingProxyType(
            {
                name: Method(name, functools.partial(call, self), needs_token)
                for name, call, needs_token in _TABLE
            }
        )

    # ---- the envelope ----

    async def handle(self, payload: object) -> object | None:
        """One decoded request (dict) or a batch (list) -> the response object(s).

        Every change the request made is durable before the answer is returned (one
        ``barrier`` per request, however many calls a batch or multicall holds), so an
        acknowledged add survives a crash and 10,000 adds cost one commit.
        """
        response: object
        if isinstance(payload, list):
            response = [await self._one(item) for item in payload if isinstance(item, dict)]
        elif isinstance(payload, dict):
            response = await self._one(payload)
        else:
            return _envelope_error(None, INVALID_REQUEST)
        try:
            await self.manager.barrier()
        except Exception as exc:  # the state file failed: nothing may be acknowledged
            log.exception("state write failed")
            error = RpcError(f"Internal error: state write failed: {exc}").to_dict()
            if isinstance(response, list):
                return [_response(r.get("id"), error=error) for r in response]
            assert isinstance(response, dict)
            return _response(response.get("id"), error=error)
        return response

    async def _one(self, request: dict[str, object]) -> dict[str, object]:
        if "id" not in request:
            return _envelope_error(None, INVALID_REQUEST)
        rid = _normalise_id(request["id"])
        method = request.get("method")
        if not isinstance(method, str):
            return _envelope_error(rid, INVALID_REQUEST)
        params = request.get("params", [])
        if not isinstance(params, list):
            return _envelope_error(rid, INVALID_PARAMS)
        try:
            return _response(rid, result=await self._call(method, params))
        except RpcError as exc:
            return _response(rid, error=exc.to_dict())

    async def call(self, method: str, params: list[object]) -> object:
        """Run one method as a whole request (XML-RPC uses this); raises ``RpcError``.
        Its changes are durable when it returns, as with ``handle``."""
        try:
            return await self._call(method, params)
        finally:
            try:
                await self.manager.barrier()
            except Exception as exc:
                log.exception("state write failed")
                raise RpcError(f"Internal error: state write failed: {exc}") from None

    async def _call(self, method: str, params: list[object]) -> object:
        """Run one method, without waiting for its writes (multicall's entries)."""
        entry = self.methods.get(method)
        if entry is None or entry.needs_token:
            params = self._authorize(params)
        if entry is None:
            raise RpcError(f"No such method: {method}")
        try:
            return await entry.handler(Params(params))
        except RpcError:
            raise
        except LixianError as exc:
            raise RpcError(str(exc)) from None
        except Exception as exc:  # a bug answers as an error, never kills the server
            log.exception("RPC method %s failed", method)
            raise RpcError(f"Internal error: {exc!r}") from None

    def _authorize(self, params: list[object]) -> list[object]:
        token = ""
        if params and isinstance(params[0], str) and params[0].startswith("token:"):
            token = params[0][6:]
            params = params[1:]
        if self._secret is not None and not hmac.compare_digest(token.encode(), self._secret):
            raise RpcError(UNAUTHORIZED)
        return params

    def unauthorized_delay(self) -> float:
        """Seconds to wait before answering a bad token (aria2 waits about one)."""
        return 1.0

    # ---- helpers ----

    def resolve(self, text: str) -> str:
        """A GID or unique GID prefix -> the full GID, with aria2's messages."""
        if not text or len(text) > 16 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise RpcError(f"Invalid GID {text}")
        views = self.manager.views
        prefix = text.lower()
        if len(prefix) == 16:
            if prefix in views:
                return prefix
            raise RpcError(f"GID {text} is not found")
        found = [gid for gid in views if gid.startswith(prefix)]
        if not found:
            raise RpcError(f"GID {text} is not found")
        if len(found) > 1:
            raise RpcError(f"GID {text} is not unique")
        return found[0]

    # ---- the process ----

    async def get_version(self, p: Params) -> object:
        return {"enabledFeatures": list(ENABLED_FEATURES), "version": self.version}

    async def get_session_info(self, p: Params) -> object:
        return {"sessionId": self.session_id}

    async def shutdown(self, p: Params) -> object:
        return self._shutdown(force=False)

    async def force_shutdown(self, p: Params) -> object:
        return self._shutdown(force=True)

    def _shutdown(self, *, force: bool) -> str:
        """Answer "OK" first and stop a moment later, as aria2 does, so the reply
        gets out; ``Manager.serve`` then returns and the daemon exits."""

        async def later() -> None:
            await asyncio.sleep(SHUTDOWN_DELAY)
            if self._on_shutdown is not None:
                await self._on_shutdown(force)
            else:
                await self.manager.stop()

        task = asyncio.ensure_future(later())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return "OK"

    async def save_session(self, p: Params) -> object:
        path = self.manager.options.get("save-session")
        if not path:
            raise RpcError("Filename is not given.")
        try:
            await self.manager.save_session(Path(str(path)))
        except (OSError, LixianError):
            raise RpcError(f"Failed to serialize session to '{path}'.") from None
        return "OK"

    # ---- system.* ----

    async def multicall(self, p: Params) -> object:
        results: list[object] = []
        for spec in p.array(0):
            if not isinstance(spec, dict):
                results.append(RpcError("system.multicall expected struct.").to_dict())
                continue
            name = spec.get("methodName")
            if not isinstance(name, str):
                results.append(RpcError("Missing methodName.").to_dict())
                continue
            if name == "system.multicall":
                results.append(RpcError("Recursive system.multicall forbidden.").to_dict())
                continue
            params = spec.get("params")
            try:
                result = await self._call(name, params if isinstance(params, list) else [])
            except RpcError as exc:
                results.append(exc.to_dict())
            else:
                results.append([result])
        return results

    async def list_methods(self, p: Params) -> object:
        return list(self.methods)

    async def list_notifications(self, p: Params) -> object:
        return list(NOTIFICATION_NAMES)

    # ---- lixian.* ----

    async def lixian_version(self, p: Params) -> object:
        return {"name": "lixian", "version": __version__, "aria2Version": self.version}

    async def lixian_list_tasks(self, p: Params) -> object:
        return lixian_methods.list_tasks(self.manager, p)

    async def lixian_list_files(self, p: Params) -> object:
        return lixian_methods.list_files(self.manager, p, self.resolve)


Call = Callable[[Dispatcher, Params], Awaitable[object]]

# The method table: wire name, handler, needs a token. aria2's own order (listMethods).
_TABLE: tuple[tuple[str, Call, bool], ...] = (
    ("aria2.addUri", tasks.add_uri, True),
    ("aria2.addTorrent", tasks.add_torrent, True),
    ("aria2.getPeers", tasks.get_peers, True),
    ("aria2.addMetalink", tasks.add_metalink, True),
    ("aria2.remove", tasks.remove, True),
    ("aria2.pause", tasks.pause, True),
    ("aria2.forcePause", tasks.pause, True),  # the core halts a download at once anyway
    ("aria2.pauseAll", tasks.pause_all, True),
    ("aria2.forcePauseAll", tasks.pause_all, True),
    ("aria2.unpause", tasks.unpause, True),
    ("aria2.unpauseAll", tasks.unpause_all, True),
    ("aria2.forceRemove", tasks.remove, True),
    ("aria2.changePosition", tasks.change_position, True),
    ("aria2.tellStatus", tasks.tell_status, True),
    ("aria2.getUris", tasks.get_uris, True),
    ("aria2.getFiles", tasks.get_files, True),
    ("aria2.getServers", tasks.get_servers, True),
    ("aria2.tellActive", tasks.tell_active, True),
    ("aria2.tellWaiting", tasks.tell_waiting, True),
    ("aria2.tellStopped", tasks.tell_stopped, True),
    ("aria2.getOption", tasks.get_option, True),
    ("aria2.changeUri", tasks.change_uri, True),
    ("aria2.changeOption", tasks.change_option, True),
    ("aria2.getGlobalOption", tasks.get_global_option, True),
    ("aria2.changeGlobalOption", tasks.change_global_option, True),
    ("aria2.purgeDownloadResult", tasks.purge_download_result, True),
    ("aria2.removeDownloadResult", tasks.remove_download_result, True),
    ("aria2.getVersion", Dispatcher.get_version, True),
    ("aria2.getSessionInfo", Dispatcher.get_session_info, True),
    ("aria2.shutdown", Dispatcher.shutdown, True),
    ("aria2.forceShutdown", Dispatcher.force_shutdown, True),
    ("aria2.getGlobalStat", tasks.get_global_stat, True),
    ("aria2.saveSession", Dispatcher.save_session, True),
    ("system.multicall", Dispatcher.multicall, False),
    ("system.listMethods", Dispatcher.list_methods, False),
    ("system.listNotifications", Dispatcher.list_notifications, False),
    ("lixian.version", Dispatcher.lixian_version, True),
    ("lixian.listTasks", Dispatcher.lixian_list_tasks, True),
    ("lixian.listFiles", Dispatcher.lixian_list_files, True),
    ("lixian.subscribe", subscriptions.subscribe, True),
    ("lixian.unsubscribe", subscriptions.unsubscribe, True),
    ("lixian.fileUrl", file_links.file_url, True),
    ("lixian.parseCurl", lixian_methods.parse_curl, True),
    ("lixian.parseCookies", lixian_methods.parse_cookies, True),
    ("lixian.retry", lixian_methods.retry, True),
    ("lixian.diskSpace", lixian_methods.disk_space, True),
)
