"""``lixian serve`` as a user runs it: a real daemon process, its command line, its state.

Covers starting from an aria2c command line (aria2p's suite starts servers exactly so),
the state lock (a second daemon on the same state exits with a clear error), ``-D``, the
``--input-file`` merge, session files, and ``kill -9`` then restart: every task is back
with the same GID, status, position and options, and the interrupted download finishes
with the right bytes.

The ``serve`` fixture (``serve_fixture``) and ``Daemon`` are shared with
test_rpc_server.py and test_rpc_security.py, which import them from here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fixtures.fault_server import FaultServer
from lixian.cli.serve import configure

LIXIAN_SERVE = (sys.executable, "-m", "lixian", "serve")
READY_TIMEOUT = 30.0
MB = 1 << 20


def free_port() -> int:
    """A port nobody listens on right now (aria2 has no ``--port 0``, so tests pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RpcFailure(Exception):
    """A JSON-RPC error answer: ``status`` is the HTTP status, ``message`` aria2's text."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message = status, code, message


def post(
    url: str, body: bytes, headers: dict[str, str] | None = None, timeout: float = 15
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body``; (status, headers, body) whatever the status."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    return _open(request, timeout)


def get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 15
) -> tuple[int, dict[str, str], bytes]:
    return _open(urllib.request.Request(url, headers=headers or {}), timeout)


def send(
    method: str, url: str, headers: dict[str, str] | None = None, timeout: float = 15
) -> tuple[int, dict[str, str], bytes]:
    """Any bodiless request (OPTIONS for CORS preflights)."""
    return _open(urllib.request.Request(url, headers=headers or {}, method=method), timeout)


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_params(params: Sequence[object]) -> str:
    """aria2's GET form of ``params``: base64 of the JSON array."""
    return base64.b64encode(json.dumps(list(params)).encode()).decode()


@dataclass
class Daemon:
    """One running ``lixian serve`` process and a JSON-RPC caller for it."""

    proc: subprocess.Popen[str]
    port: int
    dir: Path
    state: Path
    out_path: Path
    err_path: Path
    secret: str | None = None
    _ids: int = field(default=0, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/jsonrpc"

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def call(self, method: str, *params: object, token: bool = True) -> object:
        """One call; raises ``RpcFailure`` on an error answer."""
        if token and self.secret is not None and not method.startswith("system."):
            params = (f"token:{self.secret}", *params)
        self._ids += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params})
        status, _, raw = post(self.url, body.encode(), {"Content-Type": "application/json"})
        answer = json.loads(raw)
        if "error" in answer:
            raise RpcFailure(status, answer["error"]["code"], answer["error"]["message"])
        assert status == 200
        return answer["result"]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"lixian serve exited {self.proc.returncode}\n{self.stdout()}\n{self.stderr()}"
                )
            with contextlib.suppress(OSError, ValueError):
                self.call("system.listMethods")
                return
            time.sleep(0.05)
        raise AssertionError(f"lixian serve not ready in {READY_TIMEOUT}s\n{self.stderr()}")

    def wait_for(self, gid: str, status: str, timeout: float = 60) -> dict[str, object]:
        """Poll tellStatus until ``status`` (failing fast on an unexpected end state)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.call("aria2.tellStatus", gid)
            assert isinstance(info, dict)
            if info["status"] == status:
                return info
            if info["status"] in ("complete", "error", "removed") or time.monotonic() > deadline:
                raise AssertionError(f"wanted {status}, got {info}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Serve:
    """Starts daemons in a test's tmp_path; every one still running is killed at teardown."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.procs: list[subprocess.Popen[str]] = []

    def output(self, n: int) -> tuple[Path, Path]:
        """stdout and stderr files of the ``n``-th process started (0-based)."""
        return self.tmp_path / f"serve{n}.out", self.tmp_path / f"serve{n}.err"

    def spawn(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """The raw process for ``lixian serve ARGS``; see ``output`` for what it printed."""
        out_path, err_path = self.output(len(self.procs))
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(
                [*LIXIAN_SERVE, *args],
                cwd=cwd or self.tmp_path,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                text=True,
            )
        self.procs.append(proc)
        return proc

    def start(
        self,
        *args: str,
        port: int | None = None,
        state: Path | None = None,
        directory: Path | None = None,
        secret: str | None = None,
        defaults: bool = True,
        wait: bool = True,
    ) -> Daemon:
        """``lixian serve --dir D --port P --state S ARGS``; waits until it answers.

        Each daemon gets its own state file unless ``state`` is given.
        """
        n = len(self.procs)
        port = port or free_port()
        directory = directory or self.tmp_path / "downloads"
        state = state or self.tmp_path / "state" / f"lixian-{n}.sqlite3"
        argv = [f"--dir={directory}", f"--port={port}", f"--state={state}"] if defaults else []
        if secret is not None:
            argv.append(f"--rpc-secret={secret}")
        proc = self.spawn(*argv, *args)
        daemon = Daemon(proc, port, directory, state, *self.output(n), secret)
        if wait:
            daemon.wait_ready()
        return daemon

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(10)


@pytest.fixture(name="serve")
def serve_fixture(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[Serve]:
    """Start real ``lixian serve`` processes (see ``Serve.start``)."""
    starter = Serve(tmp_path, cli_env)
    yield starter
    starter.close()


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# ---- starting the way aria2c is started ----


def test_aria2c_command_line_starts_lixian_unchanged(serve: Serve, tmp_path: Path) -> None:
    """aria2p's suite: --dir= --file-allocation=none --quiet --enable-rpc=true
    --rpc-listen-port= --conf-path= --input-file= --rpc-secret=SECRET WITH SPACES."""
    conf = tmp_path / "max-2.conf"
    conf.write_text("max-concurrent-downloads=2\n# a comment\nmax-download-limit=10000\n")
    session = tmp_path / "downloads" / "_session.txt"
    session.parent.mkdir()
    session.write_text(
        "http://127.0.0.1:9/a.iso\n gid=2089b05ecca3d829\n pause=true\n"
        "http://127.0.0.1:9/b.iso\thttp://127.0.0.2:9/b.iso\n gid=cca3d8292089b05e\n"
        " pause=true\n out=bee.iso\n"
    )
    port = free_port()
    daemon = serve.start(
        f"--dir={tmp_path / 'downloads'}",
        "--file-allocation=none",
        "--quiet",
        "--enable-rpc=true",
        f"--rpc-listen-port={port}",
        f"--conf-path={conf}",
        f"--input-file={session}",
        "--rpc-secret=SECRET WITH SPACES",
        f"--state={tmp_path / 'state.sqlite3'}",
        port=port,
        defaults=False,
        secret="SECRET WITH SPACES",
    )
    assert daemon.stdout() == ""  # --quiet
    waiting = daemon.call("aria2.tellWaiting", 0, 10, ["gid", "status"])
    assert waiting == [
        {"gid": "2089b05ecca3d829", "status": "paused"},
        {"gid": "cca3d8292089b05e", "status": "paused"},
    ]
    options = daemon.call("aria2.getGlobalOption")
    assert isinstance(options, dict)
    assert options["max-concurrent-downloads"] == "2"
    assert options["max-download-limit"] == "10000"
    task = daemon.call("aria2.getOption", "cca3d829")  # a unique prefix, as aria2
    assert isinstance(task, dict)
    assert task["out"] == "bee.iso"
    with pytest.raises(RpcFailure) as info:
        daemon.call("aria2.getVersion", token=False)
    assert info.value.message == "Unauthorized"


def test_lixian_spellings_print_the_url(serve: Serve) -> None:
    daemon = serve.start()  # --dir --port --state
    out = daemon.stdout()
    assert f"http://127.0.0.1:{daemon.port}/jsonrpc" in out
    assert "secret" not in out  # loopback, nobody else can reach it: none needed
    version = daemon.call("aria2.getVersion")
    assert isinstance(version, dict)
    assert version["version"] == "1.37.0"
    assert daemon.terminate() == 0


def test_default_state_is_per_port_in_the_user_data_dir(
    serve: Serve, cli_env: dict[str, str]
) -> None:
    p1 = free_port()
    while (p2 := free_port()) == p1:
        pass
    first = serve.start(
        f"--dir={serve.tmp_path / 'a'}", f"--rpc-listen-port={p1}", defaults=False, port=p1
    )
    second = serve.start(f"--dir={serve.tmp_path / 'b'}", f"--port={p2}", defaults=False, port=p2)
    data = Path(cli_env["XDG_DATA_HOME"]) / "lixian"
    assert (data / f"state-{p1}.sqlite3").exists()
    assert (data / f"state-{p2}.sqlite3").exists()
    assert first.terminate() == 0
    assert second.terminate() == 0


def test_a_second_daemon_on_the_same_state_exits_with_a_clear_error(serve: Serve) -> None:
    first = serve.start()
    second = serve.start(state=first.state, wait=False)
    assert second.proc.wait(30) != 0
    assert "in use by another lixian daemon" in second.stderr()
    first.call("aria2.getVersion")  # the first one is unharmed


def test_bad_option_exits_28_naming_it(serve: Serve) -> None:
    proc = serve.spawn("--rpc-listen-port=notaport")
    assert proc.wait(30) == 28
    assert "--rpc-listen-port must be a whole number" in serve.output(0)[1].read_text()


def test_daemon_mode_detaches_with_a_pidfile(serve: Serve, tmp_path: Path) -> None:
    state = tmp_path / "st" / "d.sqlite3"
    port = free_port()
    launcher = serve.start("-D", port=port, state=state, wait=False)
    assert launcher.proc.wait(30) == 0, launcher.stderr()
    pidfile = state.with_suffix(".pid")
    pid = int(pidfile.read_text())
    try:
        assert pid != launcher.proc.pid
        daemon = Daemon(
            launcher.proc, port, launcher.dir, state, launcher.out_path, launcher.err_path
        )
        assert "aria2 RPC at" in launcher.stdout()
        assert daemon.call("aria2.getVersion")
        assert daemon.call("aria2.shutdown") == "OK"
        deadline = time.monotonic() + 20
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pidfile.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ---- durable state ----


def _dump(daemon: Daemon) -> dict[str, object]:
    """Everything that must survive a crash, without the fields that tick (speed, bytes)."""
    keys = ["gid", "status", "totalLength", "dir", "errorCode", "files"]
    active = daemon.call("aria2.tellActive", ["gid"])
    waiting = daemon.call("aria2.tellWaiting", 0, 100, ["gid", "status", "dir"])
    stopped = daemon.call("aria2.tellStopped", 0, 100, keys)
    assert isinstance(active, list) and isinstance(waiting, list)
    gids = [t["gid"] for t in active + waiting]
    return {
        "queue": [t["gid"] for t in active] + waiting,
        "stopped": stopped,
        "options": {g: daemon.call("aria2.getOption", g) for g in gids},
    }


def test_kill_9_then_restart_keeps_every_task(
    serve: Serve, fault_server: FaultServer, tmp_path: Path
) -> None:
    size = 4 * MB
    slow = fault_server.url("/slow.bin", size=size, seed=3, rate=300_000)
    daemon = serve.start("--max-concurrent-downloads=1")
    failed = daemon.call("aria2.addUri", [fault_server.url("/missing.bin")], {"max-tries": "1"})
    assert isinstance(failed, str)
    daemon.wait_for(failed, "error")
    active = daemon.call("aria2.addUri", [slow], {"split": "2", "max-connection-per-server": "2"})
    assert isinstance(active, str)
    daemon.wait_for(active, "active")
    waiting = daemon.call("aria2.addUri", [fault_server.url("/w.bin", size=1000)], {"out": "w"})
    paused = daemon.call(
        "aria2.addUri", [fault_server.url("/p.bin", size=1000)], {"pause": "true", "split": "3"}
    )
    last = daemon.call("aria2.addUri", [fault_server.url("/l.bin", size=10)], {"header": ["A: 1"]})
    assert daemon.call("aria2.changePosition", last, 0, "POS_SET") == 0
    daemon.call("aria2.changeOption", waiting, {"max-download-limit": "1M"})
    before = _dump(daemon)
    assert before["queue"] == [  # type: ignore[comparison-overlap]
        active,
        {"gid": last, "status": "waiting", "dir": str(daemon.dir)},
        {"gid": waiting, "status": "waiting", "dir": str(daemon.dir)},
        {"gid": paused, "status": "paused", "dir": str(daemon.dir)},
    ]
    done = daemon.call("aria2.tellStatus", active, ["completedLength"])
    assert int(done["completedLength"]) < size  # type: ignore[index]
    daemon.kill9()

    again = serve.start("--max-concurrent-downloads=1", port=daemon.port, state=daemon.state)
    assert _dump(again) == before
    info = again.wait_for(active, "complete", timeout=60)
    path = Path(info["files"][0]["path"])  # type: ignore[index]
    assert sha256(path) == fault_server.expected_sha256(size, 3)


def test_input_file_entries_already_in_the_state_are_merged(serve: Serve, tmp_path: Path) -> None:
    session = tmp_path / "session.txt"
    session.write_text(
        "http://127.0.0.1:9/x\n gid=00000000000000a1\n pause=true\n"
        "http://127.0.0.1:9/y\n pause=true\n"
    )
    first = serve.start(f"--input-file={session}")
    assert len(first.call("aria2.tellWaiting", 0, 10, ["gid"])) == 2  # type: ignore[arg-type]
    first.terminate()
    second = serve.start(f"--input-file={session}", port=first.port, state=first.state)
    gids = [t["gid"] for t in second.call("aria2.tellWaiting", 0, 10, ["gid"])]  # type: ignore[union-attr]
    # the entry with a gid is merged; one without a gid is new each time, as in aria2c
    assert gids.count("00000000000000a1") == 1
    assert len(gids) == 3


def test_save_session_in_aria2_format_on_shutdown(serve: Serve, tmp_path: Path) -> None:
    session = tmp_path / "downloads" / "out.session"
    daemon = serve.start(f"--save-session={session}")
    gid = daemon.call(
        "aria2.addUri", ["http://127.0.0.1:9/a.iso"], {"pause": "true", "out": "a b.iso"}
    )
    assert daemon.terminate() == 0
    text = session.read_text()
    assert text.splitlines()[:2] == ["http://127.0.0.1:9/a.iso", f" gid={gid}"]
    assert " pause=true" in text.splitlines()
    assert " out=a b.iso" in text.splitlines()


def test_save_session_over_rpc_where_the_client_set_it(serve: Serve, tmp_path: Path) -> None:
    """aria2p's suite sets save-session with changeGlobalOption, then calls saveSession."""
    daemon = serve.start()
    target = daemon.dir / "s.txt"
    daemon.call("aria2.changeGlobalOption", {"save-session": str(target)})
    gid = daemon.call("aria2.addUri", ["http://127.0.0.1:9/z"], {"pause": "true"})
    assert daemon.call("aria2.saveSession") == "OK"
    assert f" gid={gid}" in target.read_text().splitlines()


def test_configure_reads_aria2_and_lixian_spellings(tmp_path: Path) -> None:
    """In-process: what the command line and aria2.conf turn into (no daemon started)."""
    conf = tmp_path / "aria2.conf"
    conf.write_text("rpc-listen-port=6900\npause=true\nsave-session-interval=30\n")
    config = configure([f"--conf-path={conf}", f"--state={tmp_path / 's.sqlite3'}", "-D"])
    assert (config.port, config.host, config.secret) == (6900, "127.0.0.1", None)
    assert config.options["pause"] is True
    assert config.options["save-session-interval"] == 30
    assert config.options["daemon"] is True
    assert config.pid_path == tmp_path / "s.pid"
    short = configure(["--port", "7001", "--secret", "s", "--host=::1", "--dir=rel"])
    assert (short.port, short.secret, short.url) == (7001, "s", "http://[::1]:7001/jsonrpc")
    assert short.options["dir"] == str(Path.cwd() / "rel")  # -D changes directory: absolute
    assert short.state_path.name == "state-7001.sqlite3"
