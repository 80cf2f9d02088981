"""``lixian.subscribe``: per-socket, token-checked task diffs pushed over the WebSocket.

Why not aria2's notifications: aria2 broadcasts six events to every socket, each naming
only a GID, so a page still polls ``tellActive``/``tellWaiting`` every second for
progress. A subscribed socket instead receives ``lixian.onTaskDiff`` with just what
changed in the view it asked for (``views.py`` has the view and the diff shapes)::

    -> {"jsonrpc": "2.0", "id": 1, "method": "lixian.subscribe",
        "params": ["token:S", {"status": ["active"], "limit": 50}]}
    <- {"jsonrpc": "2.0", "id": 1, "result": "OK"}
    <- {"jsonrpc": "2.0", "method": "lixian.onTaskDiff", "params": [{"full": true, ...}]}
    <- {"jsonrpc": "2.0", "method": "lixian.onTaskDiff", "params": [{"changed": [...], ...}]}

Rules:

- Only over the WebSocket at ``/jsonrpc`` (over HTTP the call fails with a message
  saying so), and with the token like any method: diffs carry task names, so they go
  only to sockets that subscribed with the secret. aria2's six notifications still go
  to every socket (``server.py``'s broadcaster), subscribed or not.
- One view per socket: subscribing again replaces it, and the next push is whole
  again (``"full": true``). ``lixian.unsubscribe`` stops the pushes.
- Pushes are coalesced: at most one every ``INTERVAL`` seconds per socket, and none
  when nothing in the view (nor the global numbers) changed. The first push after
  subscribing goes out at once.
- Backpressure: a socket still writing its previous push is skipped, and its next
  diff covers everything since; one that cannot take a push within ``SEND_TIMEOUT`` is
  closed (it can reconnect and subscribe again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from lixian.rpc.context import current
from lixian.rpc.errors import Params, RpcError
from lixian.rpc.views import Frame, NameCache, Structs, View, ViewState, parse_view

if TYPE_CHECKING:
    from lixian.core.manager import Manager
    from lixian.rpc.aria2 import Dispatcher

__all__ = [
    "DIFF_METHOD",
    "HUB",
    "INTERVAL",
    "SEND_TIMEOUT",
    "Socket",
    "Subscriber",
    "SubscriptionHub",
    "install",
    "subscribe",
    "unsubscribe",
]

log = logging.getLogger(__name__)

DIFF_METHOD = "lixian.onTaskDiff"
INTERVAL = 0.5  # seconds between two pushes to one socket, at most
SEND_TIMEOUT = 30.0
NEEDS_WEBSOCKET = (
    "{method} works over the WebSocket only: open ws://HOST:PORT/jsonrpc and call it there"
)


class Socket(Protocol):
    """The part of aiohttp's ``WebSocketResponse`` the hub uses."""

    @property
    def closed(self) -> bool: ...

    def send_str(self, data: str, compress: int | None = None) -> Awaitable[None]: ...

    def close(self) -> Awaitable[bool]: ...


class Subscriber:
    """One WebSocket's subscription (or none yet); made by ``SubscriptionHub.attach``."""

    def __init__(self, hub: SubscriptionHub, socket: Socket) -> None:
        self.hub = hub
        self.socket = socket
        self.state: ViewState | None = None
        self.last_push = 0.0
        self.sending: asyncio.Task[None] | None = None
        self._calls = 0

    def subscribe(self, view: View) -> None:
        self.state = ViewState(view)

    def unsubscribe(self) -> None:
        self.state = None

    @contextlib.contextmanager
    def calling(self) -> Iterator[None]:
        """Around answering one message on this socket: no push goes out meanwhile, so
        ``lixian.subscribe``'s "OK" arrives before its first push."""
        self._calls += 1
        try:
            yield
        finally:
            self._calls -= 1
            if self.state is not None and self.state.full:
                self.hub.kick()

    def due(self, now: float) -> bool:
        if self.state is None or self._calls or self.socket.closed:
            return False
        if self.sending is not None and not self.sending.done():
            return False
        return self.state.full or now - self.last_push >= self.hub.interval * 0.9


class SubscriptionHub:
    """Every socket's subscriber, and the one task that pushes their diffs."""

    def __init__(self, manager: Manager, *, interval: float = INTERVAL) -> None:
        self.manager = manager
        self.interval = interval
        self._subscribers: set[Subscriber] = set()
        self._kick = asyncio.Event()
        self._names = NameCache()
        self._structs: Structs = {}

    def attach(self, socket: Socket) -> Subscriber:
        subscriber = Subscriber(self, socket)
        self._subscribers.add(subscriber)
        return subscriber

    def detach(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.state = None
        if subscriber.sending is not None:
            subscriber.sending.cancel()

    def kick(self) -> None:
        """Push soon (a new subscription's first, whole view)."""
        self._kick.set()

    async def run(self) -> None:
        """Tick every ``interval`` (or when kicked) while the app runs."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.interval)
            self._kick.clear()
            try:
                self.tick()
            except Exception:  # a bug here must not stop every later push
                log.exception("lixian.onTaskDiff tick failed")

    def tick(self, now: float | None = None) -> None:
        """Compute and start sending the pushes that are due."""
        now = time.monotonic() if now is None else now
        due = [s for s in self._subscribers if s.due(now)]
        if not due:
            return
        self._names.forget_except(self.manager.views)
        frame = Frame(self.manager, self._names, self._structs)
        for subscriber in due:
            assert subscriber.state is not None
            payload = subscriber.state.diff(frame)
            if payload is None:
                continue
            message = {"jsonrpc": "2.0", "method": DIFF_METHOD, "params": [payload]}
            text = json.dumps(message, separators=(",", ":"))
            subscriber.last_push = now
            subscriber.sending = asyncio.ensure_future(self._send(subscriber, text))
        self._structs = frame.fresh

    async def _send(self, subscriber: Subscriber, text: str) -> None:
        socket = subscriber.socket
        try:
            await asyncio.wait_for(socket.send_str(text), SEND_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:  # too slow or gone: it can reconnect and subscribe again
            self.detach(subscriber)
            with contextlib.suppress(Exception):
                await socket.close()

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """For ``app.cleanup_ctx``: the pushing task lives as long as the app."""
        task = asyncio.create_task(self.run(), name="rpc-task-diffs")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for subscriber in list(self._subscribers):
                self.detach(subscriber)


def _subscriber(method: str) -> Subscriber:
    subscriber = current().subscriber
    if subscriber is None:
        raise RpcError(NEEDS_WEBSOCKET.format(method=method))
    return subscriber


async def subscribe(rpc: Dispatcher, p: Params) -> object:
    """``lixian.subscribe([view])`` -> "OK"; the whole view follows as the first push."""
    subscriber = _subscriber("lixian.subscribe")
    subscriber.subscribe(parse_view(p.get(0), rpc.resolve))
    return "OK"


async def unsubscribe(rpc: Dispatcher, p: Params) -> object:
    """``lixian.unsubscribe()`` -> "OK"; no more ``lixian.onTaskDiff`` on this socket."""
    _subscriber("lixian.unsubscribe").unsubscribe()
    return "OK"


HUB = web.AppKey("subscriptions", SubscriptionHub)


def install(app: web.Application, manager: Manager) -> SubscriptionHub:
    """Give ``app`` a hub (``app[HUB]``) whose pushing task runs while the app does."""
    hub = SubscriptionHub(manager)
    app[HUB] = hub
    app.cleanup_ctx.append(hub.running)
    return hub
