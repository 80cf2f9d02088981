"""The Python API: ``lixian.Client``/``AsyncClient`` and ``lixian.start()``, against real daemons.

Plain aria2 protocol runs against the real aria2c (the reference) and ``lixian serve``
(xfail until it starts); ``start(detach=True)`` runs aria2c in its place where the test is
about the detach/re-attach machinery, and the real ``lixian serve`` where it is about lixian.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rpc_daemons import (
    Daemon,
    aria2c_binary,
    free_port,
    lixian_serve_problem,
    run_daemon,
    tiny_torrent,
)

import lixian
import lixian.api
from fixtures.fault_server import FaultServer
from lixian.client import (
    AsyncClient,
    Client,
    DaemonUnreachable,
    Notification,
    RpcError,
    TaskStatus,
)
from lixian.client.sync import _Blocking

Sha = Callable[[Path], str]
MiB = 1 << 20


@pytest.fixture(params=["aria2c", "lixian"])
def daemon(
    request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str]
) -> Iterator[Daemon]:
    with run_daemon(request.param, tmp_path, cli_env) as d:
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[Client]:
    with Client(daemon.url, daemon.secret) as c:
        yield c


@pytest.fixture
def private_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep detach records and default state files out of the real user dirs."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    return tmp_path / "xdg-data" / "lixian"


@pytest.fixture
def aria2c_as_daemon(monkeypatch: pytest.MonkeyPatch, private_state: Path) -> Path:
    """``start(detach=True)`` runs aria2c: same argv, so the detach machinery is tested alone."""
    monkeypatch.setattr(lixian.api, "_DAEMON_COMMAND", (aria2c_binary(), "--no-conf", "--quiet"))
    return private_state


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


# --- import cost and the generated facade ----------------------------------------------------


def test_import_lixian_is_cheap_and_exports_lazily() -> None:
    code = (
        "import sys, lixian\n"
        "assert 'aiohttp' not in sys.modules and 'lixian.client' not in sys.modules\n"
        "assert lixian.Client.__module__ == 'lixian.client.sync'\n"
        "assert lixian.start.__module__ == 'lixian.api'\n"
        "assert not [m for m in sys.modules if m.startswith(('lixian.core', 'lixian.rpc'))]\n"
        "assert set(lixian.__all__) <= set(dir(lixian))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_sync_facade_is_generated_for_every_async_method() -> None:
    not_blocking = {"aclose", "notifications"}  # lifecycle; a stream has no blocking form
    async_methods = {
        name
        for name, fn in vars(AsyncClient).items()
        if not name.startswith("_") and inspect.iscoroutinefunction(fn)
    } | {"notifications"}
    generated = {name for name, v in vars(Client).items() if isinstance(v, _Blocking)}
    assert generated == async_methods - not_blocking
    for name in generated:
        assert getattr(Client, name).__doc__ == getattr(AsyncClient, name).__doc__


def test_client_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIXIAN_RPC_URL", "http://127.0.0.1:1234/jsonrpc")
    monkeypatch.setenv("LIXIAN_RPC_SECRET", "s3")
    with Client() as c:
        assert (c.url, c.secret) == ("http://127.0.0.1:1234/jsonrpc", "s3")
    with Client("http://127.0.0.1:99/jsonrpc", "") as c:
        assert (c.url, c.secret) == ("http://127.0.0.1:99/jsonrpc", None)
    monkeypatch.delenv("LIXIAN_RPC_URL")
    with Client() as c:
        assert c.url == "http://127.0.0.1:6800/jsonrpc"


# --- the client against real daemons ---------------------------------------------------------


def test_add_wait_and_typed_snapshots(
    client: Client, daemon: Daemon, fault_server: FaultServer, file_sha256: Sha
) -> None:
    size = 2 * MiB
    gid = client.add_uri(
        fault_server.url("/a.bin", size=size, seed=1), {"out": "a.bin", "split": 4}
    )
    final = client.wait(gid, timeout=60)
    assert isinstance(final, TaskStatus)
    assert (final.gid, final.status, final.done) == (gid, "complete", True)
    assert final.total_length == final.completed_length == size
    assert final.progress == 1.0 and final.name == "a.bin"
    assert final.files[0].path == str(daemon.dir / "a.bin") and final.files[0].selected is True
    assert file_sha256(daemon.dir / "a.bin") == fault_server.expected_sha256(size, 1)
    assert client.tell_status(gid[:7]).gid == gid  # a unique prefix, as aria2 accepts
    stat = client.get_global_stat()
    assert (stat.num_active, stat.num_stopped) == (0, 1)
    assert [t.gid for t in client.tell_stopped()] == [gid]
    with pytest.raises(dataclasses_frozen_error()):
        final.status = "error"  # type: ignore[misc]


def dataclasses_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_rpc_errors_carry_aria2s_message(client: Client, fault_server: FaultServer) -> None:
    with pytest.raises(RpcError) as info:
        client.tell_status("0123456789abcdef")
    assert info.value.code == 1
    assert "0123456789abcdef" in info.value.message and "not found" in info.value.message
    gid = client.add_uri(fault_server.url("/p.bin", size=10, seed=2), {"pause": True})
    first, second = client.multicall(
        [("aria2.tellStatus", [gid, ["gid", "status"]]), ("aria2.pause", [gid])]
    )
    assert first.ok and first.value == {"gid": gid, "status": "paused"}
    assert not second.ok and second.error is not None
    assert second.error.message == f"GID#{gid} cannot be paused now"


def test_wrong_secret_and_no_daemon(daemon: Daemon) -> None:
    with Client(daemon.url, "wrong") as c, pytest.raises(RpcError, match="Unauthorized"):
        c.get_version()
    url = f"http://127.0.0.1:{free_port()}/jsonrpc"
    with Client(url, "x") as c, pytest.raises(DaemonUnreachable) as info:
        c.get_version()
    assert isinstance(info.value, ConnectionError) and info.value.url == url


def test_pause_unpause_remove_and_wait_all(
    client: Client, daemon: Daemon, fault_server: FaultServer, file_sha256: Sha
) -> None:
    slow = client.add_uri(fault_server.url("/s.bin", size=MiB, seed=3, rate=MiB), {"out": "s.bin"})
    held = client.add_uri(fault_server.url("/h.bin", size=10, seed=4), {"pause": "true"})
    client.pause(slow)
    with pytest.raises(TimeoutError):
        client.wait(slow, timeout=0.5)  # paused: wait doesn't return
    client.unpause(slow)
    finals = client.wait_all(timeout=60)  # the paused one is not waited for
    assert [(t.gid, t.status) for t in finals] == [(slow, "complete")]
    assert file_sha256(daemon.dir / "s.bin") == fault_server.expected_sha256(MiB, 3)
    assert client.remove(held) == held  # aria2c forgets a never-started task at once
    client.remove_download_result(slow)
    deadline = time.monotonic() + 10
    while client.tell_waiting() and time.monotonic() < deadline:
        time.sleep(0.05)
    client.purge_download_result()
    assert client.tell_all() == []


def test_client_works_inside_a_running_loop(client: Client, fault_server: FaultServer) -> None:
    async def notebook_cell() -> str:  # a notebook's cell runs while the kernel's loop runs
        gid = client.add_uri(fault_server.url("/n.bin", size=100, seed=5))
        return client.wait(gid, timeout=30).status

    assert asyncio.run(notebook_cell()) == "complete"


async def test_async_client_notifications(daemon: Daemon, fault_server: FaultServer) -> None:
    async with AsyncClient(daemon.url, daemon.secret) as c:
        seen: list[Notification] = []

        async def listen() -> None:
            async with contextlib.aclosing(c.notifications()) as events:
                async for note in events:
                    seen.append(note)
                    if note.method == "aria2.onDownloadComplete":
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.3)  # the socket is open before the download starts
        gid = await c.add_uri(fault_server.url("/w.bin", size=MiB, seed=6, rate=4 * MiB))
        await asyncio.wait_for(listener, 30)
        assert Notification("aria2.onDownloadStart", gid) in seen
        assert seen[-1] == Notification("aria2.onDownloadComplete", gid)
        assert (await c.wait(gid, timeout=5)).status == "complete"


# --- lixian.start() ------------------------------------------------------------------------


def test_detached_start_reattaches_and_stops(
    aria2c_as_daemon: Path, tmp_path: Path, fault_server: FaultServer, file_sha256: Sha
) -> None:
    port = free_port()
    h = lixian.start(detach=True, rpc_listen_port=port, dir=tmp_path / "dl")
    try:
        assert h.detached and h.url == f"http://127.0.0.1:{port}/jsonrpc" and h.secret
        record = json.loads((aria2c_as_daemon / f"state-{port}.daemon.json").read_text())
        assert record["pid"] == h.pid and record["secret"] == h.secret
        assert (aria2c_as_daemon / f"state-{port}.daemon.json").stat().st_mode & 0o077 == 0
        again = lixian.start(detach=True, rpc_listen_port=port, rpc_secret="ignored")
        assert (again.pid, again.secret) == (h.pid, h.secret)
        again.client.close()
        gid = h.add(fault_server.url("/d.bin", size=MiB, seed=7), out="d.bin")
        assert h.wait(gid, timeout=60).status == "complete"
        assert h.status(gid).completed_length == MiB
        assert [t.gid for t in h.wait(timeout=5)] == []  # nothing left to wait for
        assert file_sha256(tmp_path / "dl" / "d.bin") == fault_server.expected_sha256(MiB, 7)
    finally:
        h.stop()
    assert _gone(h.pid)
    assert not (aria2c_as_daemon / f"state-{port}.daemon.json").exists()


def test_detached_daemon_outlives_its_starter(
    aria2c_as_daemon: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    port = free_port()
    starter = (
        "import sys, lixian, lixian.api\n"
        f"lixian.api._DAEMON_COMMAND = ({aria2c_binary()!r}, '--no-conf', '--quiet')\n"
        f"h = lixian.start(detach=True, rpc_listen_port={port}, dir={str(tmp_path)!r})\n"
        "print(h.pid, h.secret)\n"
    )
    env = {**cli_env, "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    result = subprocess.run(
        [sys.executable, "-c", starter], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    pid, secret = result.stdout.split()
    h = lixian.start(detach=True, rpc_listen_port=port)  # the starter is gone; the daemon isn't
    try:
        assert (h.pid, h.secret) == (int(pid), secret)
        assert h.client.get_version().version
    finally:
        h.stop()
    assert _gone(int(pid))


def test_start_refuses_a_port_someone_else_holds(aria2c_as_daemon: Path, daemon: Daemon) -> None:
    port = int(daemon.url.split(":")[2].split("/")[0])
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{port} is in use"):
        lixian.start(detach=True, rpc_listen_port=port)


def test_handle_adds_a_torrent_file(aria2c_as_daemon: Path, tmp_path: Path) -> None:
    (tmp_path / "t.torrent").write_bytes(tiny_torrent("shared.iso", 1000))
    with lixian.start(detach=True, rpc_listen_port=free_port(), dir=tmp_path) as h:
        gid = h.add(tmp_path / "t.torrent", pause=True)
        status = h.status(gid)
        assert (status.bt_name, status.name, status.status) == (
            "shared.iso",
            "shared.iso",
            "paused",
        )


def test_start_detached_lixian_serve(
    private_state: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    fault_server: FaultServer,
    file_sha256: Sha,
) -> None:
    problem = lixian_serve_problem(cli_env)
    if problem is not None:
        pytest.xfail(f"lixian serve is not ready yet: {problem}")
    port = free_port()
    state = tmp_path / "st" / "queue.sqlite3"
    h = lixian.start(detach=True, rpc_listen_port=port, dir=tmp_path / "dl", state=state)
    try:
        assert (tmp_path / "st" / "queue.daemon.json").exists()
        again = lixian.start(detach=True, rpc_listen_port=port, state=state)
        assert again.pid == h.pid
        again.client.close()
        gid = h.add(fault_server.url("/l.bin", size=MiB, seed=8), out="l.bin")
        assert h.wait(gid, timeout=60).status == "complete"
        assert file_sha256(tmp_path / "dl" / "l.bin") == fault_server.expected_sha256(MiB, 8)
    finally:
        h.stop()
    assert _gone(h.pid)


def test_start_in_process(
    private_state: Path, tmp_path: Path, fault_server: FaultServer, file_sha256: Sha
) -> None:
    try:
        h = lixian.start(rpc_listen_port=free_port(), dir=tmp_path / "dl")
    except NotImplementedError as exc:
        pytest.xfail(f"needs lixian.cli.serve.run_daemon(argv, *, ready): {exc}")
    try:
        assert not h.detached and h.pid == os.getpid()
        gid = h.add(fault_server.url("/i.bin", size=MiB, seed=9), out="i.bin")
        assert h.wait(gid, timeout=60).status == "complete"
        assert file_sha256(tmp_path / "dl" / "i.bin") == fault_server.expected_sha256(MiB, 9)
    finally:
        h.stop()
    with pytest.raises(DaemonUnreachable), Client(h.url, h.secret) as c:
        c.get_version()


def test_a_bad_option_fails_start_with_the_daemons_message(
    private_state: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    problem = lixian_serve_problem(cli_env)
    if problem is not None:
        pytest.xfail(f"lixian serve is not ready yet: {problem}")
    for detach in (False, True):
        with pytest.raises(RuntimeError, match=r"did not start.*--split") as info:
            lixian.start(detach=detach, rpc_listen_port=free_port(), dir=tmp_path, split="many")
        assert "must be a whole number" in str(info.value)


def test_a_stale_record_is_replaced(aria2c_as_daemon: Path, tmp_path: Path) -> None:
    port = free_port()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    aria2c_as_daemon.mkdir(parents=True, exist_ok=True)
    record = aria2c_as_daemon / f"state-{port}.daemon.json"
    record.write_text(
        json.dumps({"url": "http://127.0.0.1:1/jsonrpc", "secret": "s", "pid": dead.pid})
    )
    with lixian.start(detach=True, rpc_listen_port=port, dir=tmp_path) as h:
        assert h.pid != dead.pid and h.client.get_version().version
        assert json.loads(record.read_text())["pid"] == h.pid
    assert not record.exists()
