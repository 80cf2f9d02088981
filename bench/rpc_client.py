"""The RPC benchmark's client: aria2 JSON-RPC over HTTP POST, one keep-alive connection.

The same code drives lixian and aria2c. Request bodies are built (and responses decoded) outside
the timed region: a call's latency is from just before the POST to the last byte of the response
body, so the figure is the daemon's work plus loopback transfer, not this client's JSON.
A trace hook counts the TCP connections the session opens, so a run can show it really reused one.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Sequence
from typing import Any

import aiohttp

# What AriaNg asks for when it lists tasks (aria2RpcService.getFullTaskParams: the basic
# list-page keys plus files, bittorrent and infoHash).
ARIANG_KEYS = [
    "gid",
    "totalLength",
    "completedLength",
    "uploadSpeed",
    "downloadSpeed",
    "connections",
    "numSeeders",
    "seeder",
    "status",
    "errorCode",
    "verifiedLength",
    "verifyIntegrityPending",
    "files",
    "bittorrent",
    "infoHash",
]


class RpcFailure(Exception):
    """A call that came back with an aria2 error, a bad HTTP status or an unreadable body."""


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): the smallest sample >= q% of the samples."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


class Rpc:
    """One aiohttp session limited to a single connection, with the token on every call."""

    def __init__(self, url: str, secret: str, *, timeout: float = 60.0) -> None:
        self.url = url
        self.token = f"token:{secret}"
        self.timeout = timeout
        self.connections_opened = 0
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Rpc:
        trace = aiohttp.TraceConfig()

        async def on_create(*_: object) -> None:
            self.connections_opened += 1

        trace.on_connection_create_end.append(on_create)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, keepalive_timeout=3600),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"Content-Type": "application/json"},
            trace_configs=[trace],
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----- request bodies (built before timing)

    def body(self, method: str, *params: Any) -> bytes:
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": method,
            "params": [self.token, *params],
        }
        return json.dumps(request, separators=(",", ":")).encode()

    def multicall_body(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> bytes:
        """system.multicall carries no token itself; every inner call carries its own."""
        inner = [{"methodName": m, "params": [self.token, *p]} for m, p in calls]
        request = {
            "jsonrpc": "2.0",
            "id": next(self._ids),
            "method": "system.multicall",
            "params": [inner],
        }
        return json.dumps(request, separators=(",", ":")).encode()

    # ----- sending

    async def post(self, body: bytes, *, limit: float | None = None) -> tuple[float, bytes]:
        """POST one body; (seconds to the last byte of the response, response body).

        `limit`: this call's total timeout in seconds (default: the session's).
        """
        assert self._session is not None, "use `async with Rpc(...)`"
        kw: dict[str, Any] = {}
        if limit is not None:
            kw["timeout"] = aiohttp.ClientTimeout(total=limit)
        t0 = time.perf_counter()
        async with self._session.post(self.url, data=body, **kw) as resp:
            data = await resp.read()
            status = resp.status
        elapsed = time.perf_counter() - t0
        if status != 200:
            raise RpcFailure(f"HTTP {status}: {data[:300]!r}")
        return elapsed, data

    @staticmethod
    def result(data: bytes) -> Any:
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise RpcFailure(f"unreadable response: {data[:300]!r}") from exc
        if not isinstance(doc, dict):
            raise RpcFailure(f"unexpected response: {data[:300]!r}")
        if "error" in doc:
            raise RpcFailure(f"RPC error: {doc['error']}")
        if "result" not in doc:
            raise RpcFailure(f"no result: {data[:300]!r}")
        return doc["result"]

    async def call(self, method: str, *params: Any, limit: float | None = None) -> Any:
        _, data = await self.post(self.body(method, *params), limit=limit)
        return self.result(data)
