"""The daemon's front door: aria2's RPC transports on one aiohttp app.

Routes (DESIGN.md, "Transports"), each a thin shell that only moves bytes: decoding and
answering are the ``Dispatcher``'s (``rpc/aria2.py``), the access rules ``security.py``'s.

``/jsonrpc``  POST: one call or a batch. GET: ``method``, ``id`` and base64 ``params``
              in the query (``jsoncallback`` wraps the answer as JSONP, only when a
              secret is set). GET with ``Upgrade: websocket``: a socket carrying whole
              requests and responses, plus aria2's six notifications, broadcast to every
              socket from the core's event bus, and ``lixian.onTaskDiff`` only to sockets
              that called ``lixian.subscribe`` with the token (``rpc/subscriptions.py``).
``/rpc``      XML-RPC over the same method table (``rpc/xmlrpc.py``).
``/files/<token>/<name>``  a file, with Range, through a ``lixian.fileUrl`` link
              (``rpc/file_links.py``, ``rpc/files.py``).
``/``         the web page (``lixian.web``: the bundle ``make web`` builds, with its
              files at ``/static/``), or a placeholder saying how to build it.

HTTP statuses are aria2c 1.37's, measured: a single call that fails is 400, malformed
JSON is 500 (``-32700``), a batch is always 200, errors included. Every request and
WebSocket handshake passes ``AccessPolicy.check`` first (Host, Origin, proxy headers);
bodies and socket messages are capped at ``--rpc-max-request-size``. A wrong token is
answered only after ``Dispatcher.unauthorized_delay()``.

Nothing here logs a query string or a body: the GET form carries the token in its URL,
so the access log records the method, the path without its query, the status and time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from lixian import __version__
from lixian.core.events import Event
from lixian.core.manager import Manager
from lixian.rpc import files, subscriptions
from lixian.rpc.aria2 import NOTIFICATIONS, Dispatcher, http_status, is_unauthorized, notification
from lixian.rpc.context import bind_subscriber
from lixian.rpc.security import AccessPolicy, Confiner, Refusal
from lixian.rpc.xmlrpc import handle_xmlrpc
from lixian.web import install as install_page

__all__ = [
    "DISPATCHER",
    "MANAGER",
    "PARSE_ERROR",
    "QuietAccessLogger",
    "ServerConfig",
    "create_app",
    "scheduler_stopped",
]

log = logging.getLogger(__name__)

MANAGER = web.AppKey("manager", Manager)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
_CONFIG: web.AppKey[ServerConfig] = web.AppKey("config")
_SOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("sockets")
_STOPPED: web.AppKey[asyncio.Event] = web.AppKey("stopped")

JSON_RPC_TYPE = "application/json-rpc"  # what aria2c sends; clients accept it
PARSE_ERROR = {"id": None, "jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error."}}
_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")
_SEND_TIMEOUT = 5.0  # a socket that cannot take a notification this fast is dropped

INDEX_HTML = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>lixian</title></head>
<body>
<h1>lixian is running</h1>
<p>lixian {__version__} speaks aria2's RPC: JSON-RPC and WebSocket at <code>/jsonrpc</code>,
XML-RPC at <code>/rpc</code>. Point an aria2 client (AriaNg, aria2p, ...) at it.</p>
<p>The web page was not built: run <code>make web</code> (or <code>npm ci</code> then
<code>npm run build</code> in <code>src/lixian/web</code>), then restart the daemon.</p>
</body>
</html>
"""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What the transports need beyond the dispatcher: access rules and the size cap."""

    policy: AccessPolicy
    max_request_size: int = 2 << 20

    @property
    def secret(self) -> str | None:
        return self.policy.secret


class QuietAccessLogger(AbstractAccessLogger):
    """Method, path (never the query string: GET calls carry the token), status, time."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, request.path, response.status, time)


def create_app(manager: Manager, dispatcher: Dispatcher, config: ServerConfig) -> web.Application:
    """The aiohttp application over an entered ``Manager``.

    Its start-up (``runner.setup()``) starts the manager's scheduler, before any port is
    open, so the first caller already sees restored downloads running; its clean-up
    stops it. ``scheduler_stopped(app)`` is set when the scheduler ends on its own
    (``aria2.shutdown``). Run it with ``web.AppRunner(app,
    access_log_class=QuietAccessLogger)`` so the access log stays token-free.
    """
    app = web.Application(client_max_size=max(config.max_request_size, 1), middlewares=[_guard])
    app[MANAGER] = manager
    app[DISPATCHER] = dispatcher
    app[_CONFIG] = config
    app[_SOCKETS] = set()
    app[_STOPPED] = asyncio.Event()
    install_page(app, _index)
    app.router.add_post("/jsonrpc", _jsonrpc_post)
    app.router.add_get("/jsonrpc", _jsonrpc_get, allow_head=False)
    app.router.add_route("OPTIONS", "/jsonrpc", _preflight)
    app.router.add_post("/rpc", _xmlrpc_post)
    app.router.add_route("OPTIONS", "/rpc", _preflight)
    app.on_response_prepare.append(_common_headers)
    app.cleanup_ctx.append(_scheduler)
    app.cleanup_ctx.append(_broadcaster)
    subscriptions.install(app, manager)
    confine = dispatcher.confine
    open_to_all = config.policy.allow_origin_all and bool(config.secret)
    confiner = confine if isinstance(confine, Confiner) else None
    files.install(app, manager, confiner, cross_origin=open_to_all)
    app.on_shutdown.append(_close_sockets)
    return app


# ---- access control, headers ----


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host/Origin/proxy rules on every request, before any handler runs."""
    refusal = request.app[_CONFIG].policy.check(request.headers)
    if refusal is not None:
        log.warning("refused %s %s: %s", request.method, request.path, refusal.message)
        return _refused(request, refusal)
    return await handler(request)


def _refused(request: web.Request, refusal: Refusal) -> web.Response:
    if request.path == "/jsonrpc":
        body = {"id": None, "jsonrpc": "2.0", "error": {"code": 1, "message": refusal.message}}
        return _json(body, status=refusal.status)
    return web.Response(status=refusal.status, text=refusal.message + "\n")


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """aria2's no-cache; nosniff (a JSON answer must never run as a script); CORS if asked."""
    response.headers.setdefault("Cache-Control", "no-cache")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    config = request.app[_CONFIG]
    if config.policy.allow_origin_all and config.secret:
        response.headers["Access-Control-Allow-Origin"] = "*"


async def _preflight(request: web.Request) -> web.Response:
    """CORS preflight: answered with permissions only under ``--rpc-allow-origin-all``."""
    response = web.Response(status=200)
    config = request.app[_CONFIG]
    if config.policy.allow_origin_all and config.secret:
        response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
        wanted = request.headers.get("Access-Control-Request-Headers")
        response.headers["Access-Control-Allow-Headers"] = wanted or "Content-Type"
        response.headers["Access-Control-Max-Age"] = "1728000"
    return response


async def _index(request: web.Request) -> web.Response:
    response = web.Response(text=INDEX_HTML, content_type="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


# ---- JSON-RPC over HTTP ----


def _json(payload: object, *, status: int = 200) -> web.Response:
    body = json.dumps(payload, separators=(",", ":"))
    return web.Response(body=body.encode(), status=status, content_type=JSON_RPC_TYPE)


def _decode(data: bytes | str) -> tuple[object, bool]:
    """JSON text -> (value, ok). Deep nesting and bad UTF-8 count as malformed."""
    try:
        return json.loads(data), True
    except (ValueError, RecursionError):
        return None, False


async def _answer(dispatcher: Dispatcher, payload: object) -> object | None:
    """Dispatch, then slow a wrong token down before anyone sees the answer."""
    response = await dispatcher.handle(payload)
    if is_unauthorized(response):
        await asyncio.sleep(dispatcher.unauthorized_delay())
    return response


async def _read_body(request: web.Request) -> bytes | web.Response:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[_CONFIG].max_request_size
        message = f"request body larger than --rpc-max-request-size ({limit} bytes)"
        body = {"id": None, "jsonrpc": "2.0", "error": {"code": 1, "message": message}}
        return _json(body, status=413)


async def _jsonrpc_post(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    payload, ok = _decode(body)
    if not ok:
        return _json(PARSE_ERROR, status=500)
    response = await _answer(request.app[DISPATCHER], payload)
    if response is None:
        return web.Response(status=204)
    return _json(response, status=http_status(response))


async def _jsonrpc_get(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _websocket(request)
    query = request.query
    callback = query.get("jsoncallback")
    if callback is not None:
        if not request.app[_CONFIG].secret:
            return web.Response(
                status=403,
                text="JSONP (jsoncallback) is served only when the daemon has a secret\n",
            )
        if not _CALLBACK.fullmatch(callback):
            return web.Response(status=400, text="jsoncallback must be a JavaScript name\n")
    payload = _query_payload(query.get("method"), query.get("id"), query.get("params"))
    if payload is None:
        response: object | None = PARSE_ERROR
    else:
        response = await _answer(request.app[DISPATCHER], payload)
    if response is None:
        return web.Response(status=204)
    status = http_status(response)
    if callback is None:
        return _json(response, status=status)
    text = f"{callback}({json.dumps(response, separators=(',', ':'))})"
    return web.Response(text=text, status=status, content_type="text/javascript")


def _query_payload(method: str | None, ident: str | None, params: str | None) -> object | None:
    """aria2's GET form as a request object; None when ``params`` is not base64 JSON."""
    payload: dict[str, object] = {"jsonrpc": "2.0"}
    if method is not None:
        payload["method"] = method
    if ident is not None:
        payload["id"] = ident
    if params:
        try:
            raw = base64.b64decode(params + "=" * (-len(params) % 4), altchars=b"-_")
        except (binascii.Error, ValueError):
            return None
        value, ok = _decode(raw)
        if not ok:
            return None
        payload["params"] = value
    return payload


# ---- WebSocket ----


async def _websocket(request: web.Request) -> web.WebSocketResponse:
    """Full calls both ways; notifications arrive from ``_broadcaster`` meanwhile."""
    config = request.app[_CONFIG]
    ws = web.WebSocketResponse(max_msg_size=max(config.max_request_size, 1), heartbeat=None)
    await ws.prepare(request)
    sockets = request.app[_SOCKETS]
    sockets.add(ws)
    dispatcher = request.app[DISPATCHER]
    hub = request.app[subscriptions.HUB]
    subscriber = hub.attach(ws)  # lixian.subscribe on this socket registers it
    try:
        with bind_subscriber(subscriber):
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue  # aiohttp answers pings and closes by itself
                payload, ok = _decode(message.data)
                with subscriber.calling():  # its answer goes out before any diff push
                    response = await _answer(dispatcher, payload) if ok else PARSE_ERROR
                    if response is not None and not ws.closed:
                        await ws.send_str(json.dumps(response, separators=(",", ":")))
    finally:
        sockets.discard(ws)
        hub.detach(subscriber)
    return ws


def scheduler_stopped(app: web.Application) -> asyncio.Event:
    """Set once the manager's scheduler has ended (an RPC shutdown, or a crash)."""
    return app[_STOPPED]


async def _scheduler(app: web.Application) -> AsyncIterator[None]:
    """The core runs while the app does (STYLE.md guideline 4)."""
    manager = app[MANAGER]
    task = asyncio.create_task(manager.serve(), name="scheduler")
    task.add_done_callback(lambda _: app[_STOPPED].set())
    await asyncio.sleep(0)  # its first step: restored downloads are active again
    try:
        yield
    finally:
        if not task.done():
            await manager.stop()
        try:
            await task
        except Exception:
            log.exception("the scheduler failed")


async def _broadcaster(app: web.Application) -> AsyncIterator[None]:
    """One bus subscription for the app, fanned out to every open socket."""
    bus = app[MANAGER].bus
    queue = bus.subscribe()
    task = asyncio.create_task(_broadcast(queue, app[_SOCKETS]), name="rpc-notifications")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bus.unsubscribe(queue)


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: close every socket now, or the server would wait for them to end."""
    sockets: set[web.WebSocketResponse] = app[_SOCKETS]
    for ws in list(sockets):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"lixian is shutting down")


async def _broadcast(queue: asyncio.Queue[Event], sockets: set[web.WebSocketResponse]) -> None:
    while True:
        event = await queue.get()
        if type(event) not in NOTIFICATIONS or not sockets:
            continue
        text = json.dumps(notification(event), separators=(",", ":"))
        targets = [ws for ws in sockets if not ws.closed]
        results = await asyncio.gather(
            *(asyncio.wait_for(ws.send_str(text), _SEND_TIMEOUT) for ws in targets),
            return_exceptions=True,
        )
        for ws, result in zip(targets, results, strict=True):
            if isinstance(result, Exception):
                sockets.discard(ws)  # too slow or gone: it can reconnect and poll
                with contextlib.suppress(Exception):
                    await ws.close()


# ---- XML-RPC ----


async def _xmlrpc_post(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    status, text = await handle_xmlrpc(request.app[DISPATCHER], body)
    if status != 200:
        return web.Response(status=status)
    return web.Response(body=text, content_type="text/xml")
