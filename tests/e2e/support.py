"""Helpers for the browser tests: a real ``lixian serve`` and a JSON-RPC client for it.

The daemon runs as a subprocess on a free loopback port with its own download dir,
state file and log (``--log`` at debug level, so the access log is there to inspect:
tests check it never holds the secret, and that ``/files`` answered with 206).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium as root in a sandbox-less container, with nothing reaching out to Google.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--autoplay-policy=no-user-gesture-required",
]
ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "lixian" / "web"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RpcFailed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", error))
        self.error = error


@dataclass
class Daemon:
    port: int
    secret: str | None
    dir: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        """The page's address (with the trailing slash its relative URLs need)."""
        return f"http://127.0.0.1:{self.port}/"

    def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call over HTTP POST, with the token when there is a secret."""
        args = list(params)
        if self.secret and not method.startswith("system."):
            args.insert(0, f"token:{self.secret}")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": args}).encode()
        request = urllib.request.Request(
            self.base + "jsonrpc", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read())
        if "error" in answer:
            raise RpcFailed(answer["error"])
        return answer["result"]

    def multicall(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        token = [f"token:{self.secret}"] if self.secret else []
        specs = [{"methodName": m, "params": token + list(p)} for m, p in calls]
        return list(self.call("system.multicall", specs))

    def status(self, gid: str, *keys: str) -> dict[str, Any]:
        return dict(self.call("aria2.tellStatus", gid, *([list(keys)] if keys else [])))

    def wait_status(self, gid: str, wanted: str | set[str], within: float = 30) -> dict[str, Any]:
        words = {wanted} if isinstance(wanted, str) else wanted
        return wait_for(lambda: _matching(self.status(gid), words), within, f"{gid} -> {words}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _matching(status: dict[str, Any], words: set[str]) -> dict[str, Any] | None:
    return status if status["status"] in words else None


def wait_for(check: Callable[[], Any], within: float = 30, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy (bounded; never a timing assertion)."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextlib.contextmanager
def run_daemon(
    tmp: Path, *, secret: str | None = None, extra: tuple[str, ...] = ()
) -> Iterator[Daemon]:
    """``lixian serve`` on a free port; killed (and waited for) at the end."""
    tmp.mkdir(parents=True, exist_ok=True)
    directory = tmp / "downloads"
    directory.mkdir(exist_ok=True)
    log = tmp / "daemon.log"
    out = (tmp / "daemon.out").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(3):  # the port may be taken between free_port() and the bind
            port = free_port()
            argv = [
                sys.executable, "-m", "lixian", "serve",
                f"--dir={directory}", f"--port={port}", f"--state={tmp / 'state.sqlite3'}",
                f"--log={log}", "--log-level=debug",
                *([f"--rpc-secret={secret}"] if secret else []),
                *extra,
            ]  # fmt: skip
            proc = subprocess.Popen(
                argv, cwd=tmp, env=clean_env(tmp / "home"), stdout=out, stderr=subprocess.STDOUT
            )
            deadline = time.monotonic() + 30
            while proc.poll() is None and not _listening(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                break
        assert proc is not None and proc.poll() is None, (tmp / "daemon.out").read_text()
        yield Daemon(port, secret, directory, log, proc)
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        out.close()


def make_webm(path: Path, seconds: int = 6) -> Path:
    """A VP9 WebM with an Opus track made by ffmpeg (a test pattern and a tone)."""
    video = f"testsrc2=size=320x180:rate=25:duration={seconds}"
    audio = f"sine=frequency=440:duration={seconds}"
    vp9 = ["-c:v", "libvpx-vp9", "-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"]
    argv = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio]
    argv += [*vp9, "-c:a", "libopus", "-shortest", str(path)]
    subprocess.run(argv, check=True, timeout=120)
    return path
