"""A real ``lixian serve`` for the storage tests, driven over JSON-RPC with urllib."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class Daemon:
    def __init__(self, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.proc = proc

    def call(self, method: str, *params: object) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/jsonrpc",
            body.encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["result"]

    def wait_status(self, gid: str, states: tuple[str, ...], within: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + within
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.call("aria2.tellStatus", gid)
            if status["status"] in states:
                return status
            time.sleep(0.1)
        raise AssertionError(f"{gid} never reached {states}: {status}")


@contextlib.contextmanager
def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "lixian", "serve", "--quiet",
            "--rpc-listen-port", str(port), "--state", str(tmp_path / "state.sqlite3"), *args,
        ],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    daemon = Daemon(port, proc)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                daemon.call("aria2.getVersion")
                break
            except OSError:
                assert proc.poll() is None, "lixian serve exited"
                assert time.monotonic() < deadline, "lixian serve did not start"
                time.sleep(0.1)
        yield daemon
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
