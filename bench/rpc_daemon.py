"""The two daemons of the RPC benchmark as child processes: command lines, start, memory, stop.

Each daemon runs in its own session (process group) with PR_SET_PDEATHSIG, so it dies with the
harness even on kill -9; every one still running is killed (SIGKILL to its group) by `kill_all`,
which the harness calls in `finally`. Memory is read from /proc with bench/measure.py's helpers:
RssAnon summed over the daemon and its descendants, and the daemon's VmHWM; a sampler thread keeps
the peak RssAnon over the process's life (every 20 ms).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from measure import _status, _tree
from server import die_with_parent

_CLK_TCK = os.sysconf("SC_CLK_TCK")

# pids of running daemons (each is its own process group leader)
RUNNING: set[int] = set()
# ports handed out in this run: never reused, so a daemon never lands on the "nothing listens" port
_TAKEN: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nothing listens on right now, never one handed out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _TAKEN:
            _TAKEN.add(port)
            return port
    raise RuntimeError("no free loopback port after 100 tries")


def nothing_listens(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


@dataclass(frozen=True)
class Layout:
    """Where one daemon instance keeps its things (a fresh dir per instance)."""

    root: Path

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def state(self) -> Path:  # lixian's SQLite state
        return self.root / "state.sqlite3"

    @property
    def session(self) -> Path:  # aria2c's session file
        return self.root / "aria2.session"

    def env(self) -> dict[str, str]:
        """The harness's environment with HOME/XDG moved here and proxies unset."""
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_DATA_HOME=str(self.home / ".local/share"),
            XDG_STATE_HOME=str(self.home / ".local/state"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            NO_COLOR="1",
        )
        return env


def command(
    tool: str,
    *,
    lixian: list[str],
    aria2c: str,
    layout: Layout,
    port: int,
    secret: str,
    restart: bool = False,
    max_request: int | None = None,
) -> list[str]:
    """The daemon's exact command line; `restart` adds aria2c's --input-file (lixian's is the same
    line: its queue is in --state)."""
    limit = [f"--rpc-max-request-size={max_request}"] if max_request else []
    if tool == "aria2c":
        argv = [
            aria2c,
            "--enable-rpc",
            f"--rpc-listen-port={port}",
            f"--rpc-secret={secret}",
            f"--dir={layout.downloads}",
            "--quiet",
            "--no-conf",
            *limit,
            f"--save-session={layout.session}",
        ]
        if restart:
            argv.append(f"--input-file={layout.session}")
        return argv
    if tool == "lixian":
        return [
            *lixian,
            "serve",
            "--dir",
            str(layout.downloads),
            "--rpc-listen-port",
            str(port),
            "--rpc-secret",
            secret,
            "--state",
            str(layout.state),
            "--quiet",
            *limit,
        ]
    raise ValueError(tool)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its reaped children excluded), from /proc/PID/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return float("nan")
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # fields 14, 15 of proc(5)


class Daemon:
    def __init__(
        self, argv: list[str], *, env: Mapping[str, str], cwd: Path, log: Path, poll: float = 0.02
    ) -> None:
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        self.poll = poll
        self.proc: subprocess.Popen[bytes] | None = None
        self.t_spawn = 0.0
        self.peak_rss_anon = 0
        self.peak_hwm = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> float:
        """Spawn; returns time.perf_counter() just before the spawn."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"=== {time.ctime()}: spawned ({Path(self.argv[0]).name})\n".encode())
            out.flush()
            self.t_spawn = time.perf_counter()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        RUNNING.add(self.proc.pid)
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self.t_spawn

    def _sample(self) -> None:
        while not self._stop.is_set():
            rss, hwm = self.memory()
            self.peak_rss_anon = max(self.peak_rss_anon, rss)
            self.peak_hwm = max(self.peak_hwm, hwm)
            self._stop.wait(self.poll)

    def memory(self) -> tuple[int, int]:
        """(RssAnon over the daemon's process tree, the daemon's VmHWM), bytes."""
        if self.proc is None or self.proc.poll() is not None:
            return 0, 0
        rss = sum(_status(p)[0] for p in _tree(self.proc.pid))
        return rss, _status(self.proc.pid)[1]

    def cpu(self) -> float:
        return _cpu_seconds(self.pid) if self.alive() else float("nan")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exited(self) -> int | None:
        """The exit code once the daemon has ended (reaping it), else None."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is not None:
            self._finish()
        return rc

    def wait(self, limit: float) -> int | None:
        """Wait up to `limit` seconds for the daemon to end; its exit code, or None."""
        if self.proc is None:
            return None
        try:
            self.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return None
        return self.exited()

    def kill(self) -> None:
        """SIGKILL the daemon's whole process group and reap it (idempotent)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self._finish()

    def _finish(self) -> None:
        self._stop.set()
        if self.proc is not None:
            RUNNING.discard(self.proc.pid)
        if self._sampler is not None and self._sampler is not threading.current_thread():
            self._sampler.join(timeout=5)

    def tail(self, n: int = 600) -> str:
        try:
            return self.log.read_bytes()[-n:].decode(errors="replace").strip()
        except OSError:
            return ""


def kill_all() -> None:
    for pid in list(RUNNING):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        RUNNING.discard(pid)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
