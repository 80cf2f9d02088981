"""lixian: an offline download server with an aria2-compatible face.

``lixian.start()`` runs a daemon for a notebook or script; ``lixian.Client`` (and
``AsyncClient``) talk to a running one. They are loaded on first use (PEP 562), so
``import lixian`` stays cheap for the CLI, which imports this package on every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AsyncClient", "Client", "Handle", "RpcError", "TaskStatus", "__version__", "start"]

if TYPE_CHECKING:
    from lixian.api import Handle, start
    from lixian.client import AsyncClient, Client, RpcError, TaskStatus

_LAZY = {
    "start": "lixian.api",
    "Handle": "lixian.api",
    "Client": "lixian.client",
    "AsyncClient": "lixian.client",
    "RpcError": "lixian.client",
    "TaskStatus": "lixian.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lixian' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
