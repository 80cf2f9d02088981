"""``lixian.start()``: a daemon for a notebook or a script, in one call, and a handle to drive it.

Why two ways to run it. In a notebook the common case is "download these while I work, and stop
when the kernel does": ``start()`` runs the daemon in this process, in a thread with its own
event loop (the kernel's loop is never touched). A download that must survive the kernel (a Colab
session that restarts, a script that exits) wants ``start(detach=True)``: a separate process in
its own session, so a kernel interrupt or SIGHUP doesn't reach it, logging to a file, never to
the kernel's pipes (which would close under it).

Re-attaching. A detached daemon is recorded next to its state file, in a small JSON file (mode
0600: it holds the secret) with the url, secret and pid: ``state-6800.sqlite3`` gets
``state-6800.daemon.json`` (the state file is ``state=PATH``, else ``lixian serve``'s default, one
per port in the user data dir). A second ``start(detach=True)`` for the same state and port finds
the record, checks the pid is alive and the daemon answers with that secret, and returns a handle
to it instead of starting another; a lock file serialises two ``start()`` calls racing.

Both ways speak the same RPC to the daemon through ``lixian.Client``, so a ``Handle`` is the same
object either way. Its methods are explicit calls; nothing is fetched behind an attribute.

>>> import lixian                                                        # doctest: +SKIP
>>> h = lixian.start(dir="./downloads", max_concurrent_downloads=4)
>>> gid = h.add("https://example.org/big.iso", split=8)
>>> h.wait(gid).status
'complete'
>>> h.stop()
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import importlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, overload

from lixian.client import (
    Client,
    DaemonUnreachable,
    OptionInput,
    RpcError,
    TaskStatus,
    aria2_options,
)

__all__ = ["Handle", "start"]

DEFAULT_PORT = 6800
_READY_TIMEOUT = 30.0
_RESTORE_TIMEOUT = 3600.0
"""With ``restore_from=...`` the daemon fetches its backup (partial downloads included, maybe
gigabytes from a cloud drive) before it listens; it still reports a failure at once."""

_DAEMON_COMMAND: tuple[str, ...] = (sys.executable, "-m", "lixian", "serve")
"""What ``detach=True`` runs; the tests point it at the real aria2c, which takes the same argv."""


def _ready_timeout(argv: list[str]) -> float:
    restoring = any(a.startswith("--restore-from=") for a in argv)
    return _RESTORE_TIMEOUT if restoring else _READY_TIMEOUT


def start(detach: bool = False, **aria2_options: OptionInput) -> Handle:
    """Start a daemon in the background (or find the detached one already running) -> ``Handle``.

    Options are aria2's names with underscores: ``dir="./downloads"``,
    ``max_concurrent_downloads=4``, ``rpc_listen_port=6800``, ``rpc_secret=...`` (a random one when
    not given), plus lixian's ``state=PATH``. The daemon listens on 127.0.0.1 unless told otherwise.
    ``detach=False``: in this process, in a thread with its own loop; it ends with ``stop()`` or
    with the process. ``detach=True``: a separate process that outlives this one; calling again
    with the same port and state returns a handle to the running daemon (with its secret,
    whatever ``rpc_secret`` says now).
    """
    options = dict(aria2_options)
    port = int(str(options.pop("rpc_listen_port", None) or DEFAULT_PORT))
    if options.get("dir") is not None:
        options["dir"] = os.path.abspath(str(options["dir"]))
    if options.get("state") is not None:
        options["state"] = os.path.abspath(str(options["state"]))
    given_secret = options.pop("rpc_secret", None)
    secret = str(given_secret) if given_secret else secrets.token_urlsafe(18)
    url = f"http://127.0.0.1:{port}/jsonrpc"
    argv = _daemon_argv(port, secret, options)
    if not detach:
        _check_port_free(port)
        return Handle(url, secret, _InProcess.start(argv))
    state = _state_path(options.get("state"), port)
    with _locked(state.with_suffix(".daemon.lock")):
        record_path = state.with_suffix(".daemon.json")
        running = _attach(record_path)
        if running is not None:
            return running
        _check_port_free(port)
        return _spawn(url, secret, argv, record_path, state.with_suffix(".daemon.log"))


class Handle:
    """A running daemon: its ``url`` and ``secret``, a few verbs, and ``client`` for the rest.

    ``add`` takes a URL, a magnet or a local .torrent/.metalink path; ``status`` and ``wait``
    return frozen ``TaskStatus`` snapshots; ``stop`` ends the daemon (detached ones too).
    """

    def __init__(self, url: str, secret: str | None, runner: _Runner) -> None:
        self.url = url
        self.secret = secret
        self.client = Client(url, secret or "")
        self._runner = runner

    @property
    def pid(self) -> int:
        """The daemon's process id (this process's own for an in-process daemon)."""
        return self._runner.pid

    @property
    def detached(self) -> bool:
        return not isinstance(self._runner, _InProcess)

    def __repr__(self) -> str:
        kind = "detached" if self.detached else "in-process"
        return f"<lixian.Handle {self.url} {kind} pid={self.pid}>"

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(self, source: str | os.PathLike[str], **options: OptionInput) -> str:
        """Add a download -> its GID. ``options`` are aria2's (``out="x.iso"``, ``split=8``).

        A path to an existing .torrent or .metalink/.meta4 file is read here and sent as content
        (aria2's RPC takes the bytes, not the path); anything else is a URI or a magnet.
        """
        path = Path(os.fspath(source))
        suffix = path.suffix.lower()
        if suffix in (".torrent", ".metalink", ".meta4") and path.is_file():
            data = path.read_bytes()
            if suffix == ".torrent":
                return self.client.add_torrent(data, (), options)
            return self.client.add_metalink(data, options)[0]
        return self.client.add_uri(os.fspath(source), options)

    def status(self, gid: str) -> TaskStatus:
        """A fresh snapshot of one task (a unique GID prefix works)."""
        return self.client.tell_status(gid)

    @overload
    def wait(self, gid: str, timeout: float | None = None) -> TaskStatus: ...
    @overload
    def wait(self, gid: None = None, timeout: float | None = None) -> list[TaskStatus]: ...
    def wait(
        self, gid: str | None = None, timeout: float | None = None
    ) -> TaskStatus | list[TaskStatus]:
        """Block until ``gid`` (or every active/queued task) is complete, failed or removed.

        Returns the final snapshot(s); check ``.status`` (``"complete"``) and ``.error_message``.
        Listens to the daemon's notifications and polls once a second; ``TimeoutError`` after
        ``timeout`` seconds. Ctrl-C (a kernel interrupt) stops the wait, not the download.
        """
        if gid is None:
            return self.client.wait_all(timeout)
        return self.client.wait(gid, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the daemon (gracefully; forced after ``timeout`` s) and close the client."""
        try:
            self._runner.stop(self.client, timeout)
        finally:
            self.client.close()


# --- Building the command line: aria2's spellings, which lixian serve and aria2c both take. ------


def _daemon_argv(port: int, secret: str, options: Mapping[str, OptionInput]) -> list[str]:
    argv = ["--enable-rpc=true", f"--rpc-listen-port={port}", f"--rpc-secret={secret}"]
    for name, value in aria2_options(options).items():
        for item in [value] if isinstance(value, str) else value:
            argv.append(f"--{name}={item}")
    return argv


def _state_path(state: OptionInput, port: int) -> Path:
    """The daemon's state file, as ``lixian serve`` picks it (its default is one per port)."""
    if state is not None:
        path = Path(str(state))
    else:
        import platformdirs  # only here: the in-process path never needs it

        path = platformdirs.user_data_path("lixian") / f"state-{port}.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _check_port_free(port: int) -> None:
    """Refuse early when something already listens there: our secret would meet a stranger."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise RuntimeError(
                f"127.0.0.1:{port} is in use by another program (another daemon?); "
                "pass rpc_listen_port=... or use lixian.Client to talk to it"
            )


def _wait_ready(client: Client, failed: Callable[[], str | None], timeout: float) -> None:
    """Poll ``aria2.getVersion`` (every daemon has it) until it answers, fails, or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        reason = failed()
        if reason is not None:
            raise RuntimeError(f"the lixian daemon did not start: {reason}")
        with contextlib.suppress(DaemonUnreachable):
            client.get_version()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no daemon answered at {client.url} within {timeout:.0f} s")
        time.sleep(0.05)


# --- The two runners. ------------------------------------------------------------------------


DaemonEntry = Callable[..., Awaitable[object]]


def _daemon_entry() -> DaemonEntry:
    """``lixian.cli.serve.run_daemon(argv, *, ready)``: serve until cancelled, ``ready()`` once
    listening. Imported here, lazily: ``import lixian`` must not pull the daemon's side in."""
    try:
        serve = importlib.import_module("lixian.cli.serve")
        entry: DaemonEntry = serve.run_daemon
    except (ImportError, AttributeError) as exc:
        raise NotImplementedError(
            "this lixian cannot run the daemon in-process yet (lixian.cli.serve.run_daemon "
            "is missing); use lixian.start(detach=True)"
        ) from exc
    return entry


class _Runner:
    pid: int

    def stop(self, client: Client | None, timeout: float) -> None:
        raise NotImplementedError


class _InProcess(_Runner):
    """The daemon's coroutine on a private loop in a daemon thread of this process."""

    def __init__(self, argv: list[str], entry: DaemonEntry) -> None:
        self.pid = os.getpid()
        self.argv = argv
        self.entry = entry
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None
        self.thread = threading.Thread(target=self._main, name="lixian-daemon", daemon=True)

    @classmethod
    def start(cls, argv: list[str]) -> _InProcess:
        runner = cls(argv, _daemon_entry())
        runner.thread.start()
        timeout = _ready_timeout(argv)
        if not runner.ready.wait(timeout):
            runner.stop(None, 5)
            raise TimeoutError(f"the in-process daemon was not ready in {timeout:.0f} s")
        if runner.error is not None:
            raise RuntimeError(f"the lixian daemon did not start: {runner.error}") from runner.error
        atexit.register(runner.stop, None, 5)  # a clean shutdown when the kernel exits
        return runner

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or dropped after stop()
            self.error = exc
        finally:
            self.ready.set()
            self.loop.close()

    async def _serve(self) -> None:
        self.task = asyncio.current_task()
        await self.entry(self.argv, ready=self.ready.set)
        if not self.ready.is_set():
            raise RuntimeError("the daemon exited before it was ready")

    def stop(self, client: Client | None, timeout: float) -> None:
        atexit.unregister(self.stop)
        if self.thread.is_alive() and self.task is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed already
                self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout)


class _Detached(_Runner):
    """A daemon in its own process: spawned by us (``proc``) or found through its record."""

    def __init__(self, pid: int, record: Path, proc: subprocess.Popen[bytes] | None) -> None:
        self.pid = pid
        self.record = record
        self.proc = proc

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None  # reaps our child: a zombie would look alive
        return _pid_alive(self.pid)

    def stop(self, client: Client | None, timeout: float) -> None:
        steps: list[Callable[[], object]] = [
            lambda: os.kill(self.pid, signal.SIGTERM),
            lambda: os.kill(self.pid, signal.SIGKILL),
        ]
        if client is not None:
            steps[:0] = [client.shutdown, lambda: client.shutdown(force=True)]
        for i, step in enumerate(steps):
            if not self.alive():
                break
            with contextlib.suppress(RpcError, ConnectionError, TimeoutError, OSError):
                step()
            deadline = time.monotonic() + (timeout if i == 0 else 5.0)
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError):
            self.record.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _attach(record_path: Path) -> Handle | None:
    """The daemon a record names, if it is alive and answers with the recorded secret."""
    try:
        record = json.loads(record_path.read_text())
        url, secret, pid = str(record["url"]), str(record["secret"]), int(record["pid"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(pid):
        return None
    handle = Handle(url, secret, _Detached(pid, record_path, None))
    try:
        handle.client.get_version()
    except (RpcError, ConnectionError, TimeoutError):
        handle.client.close()
        return None
    return handle


def _spawn(url: str, secret: str, argv: list[str], record_path: Path, log_path: Path) -> Handle:
    """Start the daemon in its own session, record it, and wait until it answers."""
    log: IO[bytes]
    with log_path.open("ab") as log:
        os.chmod(log_path, 0o600)
        proc = subprocess.Popen(
            [*_DAEMON_COMMAND, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # no SIGINT/SIGHUP from the kernel's terminal or process group
            close_fds=True,
        )
    record = {"url": url, "secret": secret, "pid": proc.pid, "argv": argv, "log": str(log_path)}
    fd = os.open(record_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    handle = Handle(url, secret, _Detached(proc.pid, record_path, proc))

    def failed() -> str | None:
        if proc.poll() is None:
            return None
        return f"exit status {proc.returncode}; {_tail(log_path)}"

    try:
        _wait_ready(handle.client, failed, _ready_timeout(argv))
    except BaseException:
        handle.stop(timeout=5)
        raise
    return handle


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or f"(nothing in {path})"
