"""What a call knows about the door it came through.

Most RPC methods are about tasks and need nothing but the ``Dispatcher``. Two of
lixian's are about the transport: ``lixian.subscribe`` registers *the WebSocket the
call arrived on*, and ``lixian.fileUrl`` signs a URL *this daemon's HTTP server* will
serve. The dispatcher stays sans-IO and socket-blind; the server binds these facts to
the running request with a context variable instead (``bind_links`` for every HTTP
request, ``bind_subscriber`` for the life of a WebSocket), and those two methods read
them with ``current()``. A call made without a server (a unit test driving the
``Dispatcher`` directly) sees an empty context and gets a clear error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lixian.rpc.file_links import FileLinks
    from lixian.rpc.subscriptions import Subscriber

__all__ = ["CallContext", "bind_links", "bind_subscriber", "current"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """``links`` signs ``/files`` URLs for this daemon; ``subscriber`` is the WebSocket
    the call came on (None over HTTP POST/GET and XML-RPC)."""

    links: FileLinks | None = None
    subscriber: Subscriber | None = None


_NONE = CallContext()
_CURRENT: ContextVar[CallContext] = ContextVar("lixian_rpc_call")


def current() -> CallContext:
    return _CURRENT.get(_NONE)


@contextlib.contextmanager
def _bound(context: CallContext) -> Iterator[CallContext]:
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def bind_links(links: FileLinks) -> contextlib.AbstractContextManager[CallContext]:
    """For the duration of one HTTP request (the server's middleware)."""
    return _bound(replace(current(), links=links))


def bind_subscriber(subscriber: Subscriber) -> contextlib.AbstractContextManager[CallContext]:
    """For the life of one WebSocket: every call on it sees its subscriber."""
    return _bound(replace(current(), subscriber=subscriber))
