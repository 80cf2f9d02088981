"""Real RPC daemons for the client tests: aria2c (the reference) and ``lixian serve``.

Both start the same way (aria2's spellings, a random loopback port, a secret, a private dir)
and are killed at teardown. ``lixian serve`` is used only when it answers ``--help``; until then
the tests that need it are marked xfail with the reason, so a missing daemon never reads as a
client bug.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ARIA2C = Path(sys.executable).parent / "aria2c"
LIXIAN = (sys.executable, "-m", "lixian")
IN_CI = os.environ.get("CI", "").lower() == "true"


@dataclass(frozen=True)
class Daemon:
    kind: str  # "aria2c" or "lixian"
    url: str
    secret: str
    dir: Path
    proc: subprocess.Popen[bytes]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` plus LIXIAN_RPC_URL/LIXIAN_RPC_SECRET pointing at this daemon."""
        return {**base, "LIXIAN_RPC_URL": self.url, "LIXIAN_RPC_SECRET": self.secret}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aria2c_binary() -> str:
    if ARIA2C.exists():
        return str(ARIA2C)
    found = shutil.which("aria2c")
    if found is None:
        if IN_CI:
            pytest.fail("aria2c is missing (make test installs it)")
        pytest.skip("aria2c is not installed")
    return found


def lixian_serve_problem(env: dict[str, str]) -> str | None:
    """Why ``lixian serve`` can't be used yet, or None when it answers ``--help``."""
    result = subprocess.run(
        [*LIXIAN, "serve", "--help"], env=env, capture_output=True, text=True, timeout=60
    )
    if result.returncode == 0:
        return None
    return f"`lixian serve --help` exits {result.returncode}: {result.stderr.strip()[-300:]}"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def run_daemon(kind: str, tmp_path: Path, env: dict[str, str]) -> Iterator[Daemon]:
    """Start ``kind`` on a free port; yield once it accepts connections; kill it afterwards."""
    if kind == "lixian":
        problem = lixian_serve_problem(env)
        if problem is not None:
            pytest.xfail(f"lixian serve is not ready yet: {problem}")
        program: list[str] = [*LIXIAN, "serve", f"--state={tmp_path / 'state.sqlite3'}"]
    else:
        program = [aria2c_binary(), "--no-conf", "--file-allocation=none"]
    secret = secrets.token_hex(8)
    directory = tmp_path / f"{kind}-dl"
    directory.mkdir(exist_ok=True)
    log = (tmp_path / f"{kind}.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        for _ in range(3):  # the free port may be taken between free_port() and the bind
            port = free_port()
            argv = [
                *program,
                "--enable-rpc=true",
                f"--rpc-listen-port={port}",
                f"--rpc-secret={secret}",
                f"--dir={directory}",
                "--quiet=true",
            ]
            # Its own process group: .venv/bin/aria2c is a wrapper that starts the real
            # binary, and killing only the wrapper would leave aria2c running.
            proc = subprocess.Popen(
                argv,
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 30
            while proc.poll() is None and not _listening(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                break
        assert proc is not None and proc.poll() is None, (tmp_path / f"{kind}.log").read_text()
        yield Daemon(kind, f"http://127.0.0.1:{port}/jsonrpc", secret, directory, proc)
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def tiny_torrent(name: str, length: int) -> bytes:
    """A minimal single-file .torrent (bencoded), enough for addTorrent with pause=true."""
    pieces = b"\0" * 20

    def b(x: object) -> bytes:
        if isinstance(x, int):
            return b"i%de" % x
        if isinstance(x, bytes):
            return b"%d:%s" % (len(x), x)
        if isinstance(x, dict):
            return b"d" + b"".join(b(k) + b(v) for k, v in sorted(x.items())) + b"e"
        raise TypeError(x)

    info = {b"name": name.encode(), b"length": length, b"piece length": 16384, b"pieces": pieces}
    return b({b"announce": b"http://127.0.0.1:9/announce", b"info": info})
