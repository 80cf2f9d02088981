"""The RPC front door: aria2's JSON-RPC/XML-RPC method table over the core.

- ``aria2``: the method table, ``Dispatcher`` (sans-IO: decoded JSON in, response
  objects out), notifications;
- ``schema``: core snapshots -> aria2's string-typed structs, RPC option strings ->
  typed values;
- ``errors``: ``RpcError`` and aria2's exact error texts;
- ``lixian_methods``: ``lixian.*`` additions.

The aiohttp server (``server``) only moves bytes to and from a ``Dispatcher``.
"""

from lixian.rpc.aria2 import (
    NOTIFICATIONS,
    Dispatcher,
    Method,
    http_status,
    is_unauthorized,
    notification,
)
from lixian.rpc.errors import RpcError

__all__ = [
    "NOTIFICATIONS",
    "Dispatcher",
    "Method",
    "RpcError",
    "http_status",
    "is_unauthorized",
    "notification",
]
