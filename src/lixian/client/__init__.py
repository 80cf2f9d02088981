"""Talk to a running lixian (or aria2) daemon over aria2's JSON-RPC: async once, sync by generation.

Why a client of our own when aria2p exists: the CLI (``lixian add/ls/watch``) and the notebook
API (``lixian.start()``) need a small, typed, import-cheap client that returns frozen snapshots
and works the same against ``lixian serve`` and a real ``aria2c --enable-rpc``. It never imports
the daemon's side (``lixian.core``, ``lixian.rpc``): a client must stay light.

- ``shapes``: replies as frozen dataclasses (``TaskStatus`` ...), errors, option conversion;
- ``aio``: ``AsyncClient``, the only copy of every method;
- ``sync``: ``Client``, the blocking facade generated from it.

>>> with Client("http://127.0.0.1:6800/jsonrpc", "SECRET") as c:  # doctest: +SKIP
...     gid = c.add_uri("https://example.org/f.iso", {"dir": "/tmp"})
...     c.wait(gid).status
'complete'
"""

from lixian.client.aio import DEFAULT_URL, AsyncClient
from lixian.client.shapes import (
    TERMINAL,
    DaemonUnreachable,
    FileInfo,
    GlobalStat,
    Notification,
    OptionInput,
    Outcome,
    RpcError,
    TaskPage,
    TaskStatus,
    Version,
    aria2_options,
)
from lixian.client.sync import Client

__all__ = [
    "DEFAULT_URL",
    "TERMINAL",
    "AsyncClient",
    "Client",
    "DaemonUnreachable",
    "FileInfo",
    "GlobalStat",
    "Notification",
    "OptionInput",
    "Outcome",
    "RpcError",
    "TaskPage",
    "TaskStatus",
    "Version",
    "aria2_options",
]
