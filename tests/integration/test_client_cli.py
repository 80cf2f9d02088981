"""``lixian add|ls|status|pause|resume|rm|watch`` as subprocesses, against real daemons.

Every test runs against the real aria2c (the protocol's reference) and against ``lixian serve``
(xfail until it starts). Downloads come from the fault server and are checked by sha256.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rpc_daemons import Daemon, free_port, run_daemon, tiny_torrent

from fixtures.fault_server import FaultServer

Sha = Callable[[Path], str]
MiB = 1 << 20


@pytest.fixture(params=["aria2c", "lixian"])
def daemon(
    request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str]
) -> Iterator[Daemon]:
    with run_daemon(request.param, tmp_path, cli_env) as d:
        yield d


class Cli:
    """``python -m lixian ARGS`` with the daemon's URL and secret in the environment."""

    def __init__(self, daemon: Daemon, env: dict[str, str], cwd: Path) -> None:
        self.env = daemon.env(env)
        self.cwd = cwd

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "lixian", *args],
            cwd=self.cwd,
            env=env if env is not None else self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, timeout: float = 60) -> str:
        result = self(*args, timeout=timeout)
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def ls(self, *args: str) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = json.loads(self.ok("ls", "--json", *args))
        return tasks

    def wait_status(self, gid: str, wanted: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            task: dict[str, Any] = json.loads(self.ok("status", "--json", gid))
            if task["status"] == wanted or time.monotonic() > deadline:
                assert task["status"] == wanted, task
                return task
            time.sleep(0.2)


@pytest.fixture
def cli(daemon: Daemon, cli_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(daemon, cli_env, tmp_path)


def test_add_watch_downloads_the_file(
    cli: Cli, daemon: Daemon, fault_server: FaultServer, file_sha256: Sha
) -> None:
    size = 3 * MiB
    gid = cli.ok(
        "add", "-x4", "-o", "a.bin", fault_server.url("/a.bin", size=size, seed=1, rate=2 * MiB)
    ).strip()
    assert len(gid) == 16 and int(gid, 16) >= 0
    watched = cli("watch", timeout=90)
    assert watched.returncode == 0, watched.stderr
    assert gid in watched.stdout and "complete" in watched.stdout
    assert file_sha256(daemon.dir / "a.bin") == fault_server.expected_sha256(size, 1)
    (task,) = cli.ls()
    assert task["gid"] == gid and task["status"] == "complete"
    assert task["total_length"] == task["completed_length"] == size
    assert task["name"] == "a.bin"


def test_add_relative_dir_is_the_daemons(
    cli: Cli, daemon: Daemon, tmp_path: Path, fault_server: FaultServer, file_sha256: Sha
) -> None:
    url = fault_server.url("/b.bin", size=1000, seed=2)
    gid = cli.ok("add", "-d", "sub", "--out=b.bin", url).strip()
    task = cli.wait_status(gid, "complete")
    # lixian serve keeps a relative dir inside its download root; aria2c uses its own cwd
    where = daemon.dir / "sub" if daemon.kind == "lixian" else tmp_path / "sub"
    assert (tmp_path / task["dir"]).resolve() == where.resolve()  # aria2c reports "sub" as is
    assert file_sha256(where / "b.bin") == fault_server.expected_sha256(1000, 2)


def test_add_absolute_dir(
    cli: Cli, daemon: Daemon, fault_server: FaultServer, file_sha256: Sha
) -> None:
    target = daemon.dir / "abs"
    url = fault_server.url("/c.bin", size=1000, seed=9)
    gid = cli.ok("add", f"--dir={target}", "-o", "c.bin", url).strip()
    assert cli.wait_status(gid, "complete")["dir"] == str(target)
    assert file_sha256(target / "c.bin") == fault_server.expected_sha256(1000, 9)


def test_ls_table_and_status_filter(cli: Cli, fault_server: FaultServer) -> None:
    paused = cli.ok(
        "add", "--pause", "-o", "p.bin", fault_server.url("/p.bin", size=10, seed=3)
    ).strip()
    done = cli.ok("add", "-o", "d.bin", fault_server.url("/d.bin", size=10, seed=4)).strip()
    cli.wait_status(done, "complete")
    table = cli.ok("ls")
    header, *rows = table.splitlines()
    assert header.split() == ["gid", "status", "name", "progress", "size", "speed"]
    assert any(paused in r and "paused" in r and "p.bin" in r for r in rows)
    assert any(done in r and "complete" in r and "100%" in r for r in rows)
    assert [t["gid"] for t in cli.ls("--status", "paused")] == [paused]
    assert [t["gid"] for t in cli.ls("--status", "complete,error")] == [done]
    bad = cli("ls", "--status", "finished")
    assert bad.returncode == 1 and "unknown status finished" in bad.stderr


def test_status_accepts_a_prefix(cli: Cli, fault_server: FaultServer) -> None:
    gid = cli.ok("add", "--pause", fault_server.url("/s.bin", size=10, seed=5)).strip()
    text = cli.ok("status", gid[:6])
    assert f"gid          {gid}" in text
    assert "status       paused" in text
    assert json.loads(cli.ok("status", "--json", gid[:6]))["gid"] == gid


def test_pause_resume_rm(
    cli: Cli, daemon: Daemon, fault_server: FaultServer, file_sha256: Sha
) -> None:
    size = 2 * MiB
    url = fault_server.url("/slow.bin", size=size, seed=6, rate=MiB)
    gid = cli.ok("add", "-o", "slow.bin", url).strip()
    cli.wait_status(gid, "active")
    assert cli.ok("pause", gid[:8]).split() == ["paused", gid]
    cli.wait_status(gid, "paused")
    assert cli.ok("resume", gid).split() == ["resumed", gid]
    cli.wait_status(gid, "complete", timeout=60)
    assert file_sha256(daemon.dir / "slow.bin") == fault_server.expected_sha256(size, 6)
    # rm forgets a stopped task; its file stays
    assert cli.ok("rm", gid).split() == ["removed", gid]
    assert cli.ls() == []
    assert (daemon.dir / "slow.bin").exists()


def test_all_flags(cli: Cli, fault_server: FaultServer) -> None:
    gids = [
        cli.ok(
            "add",
            "-o",
            f"r{i}.bin",
            fault_server.url(f"/r{i}.bin", size=4 * MiB, seed=i, rate=MiB // 4),
        ).strip()
        for i in range(2)
    ]
    assert cli.ok("pause", "--all").strip() == "paused all"
    for gid in gids:
        cli.wait_status(gid, "paused")
    assert cli.ok("resume", "--all").strip() == "resumed all"
    for gid in gids:
        cli.wait_status(gid, "active")
    assert cli.ok("rm", "--all").strip() == "removed all"
    assert cli.ls() == []
    neither = cli("pause")
    assert neither.returncode == 1 and "give GIDs or --all" in neither.stderr


def test_rpc_errors_exit_1_with_the_daemons_message(cli: Cli, fault_server: FaultServer) -> None:
    unknown = cli("status", "0123456789abcdef")
    assert unknown.returncode == 1
    assert "0123456789abcdef" in unknown.stderr and "not found" in unknown.stderr
    gid = cli.ok("add", "--pause", fault_server.url("/e.bin", size=10, seed=7)).strip()
    twice = cli("pause", gid)
    assert twice.returncode == 1 and f"GID#{gid} cannot be paused now" in twice.stderr
    both = cli("resume", gid, "0123456789abcdef")  # one good, one bad: exit 1, the good one done
    assert both.returncode == 1
    assert f"resumed {gid}" in both.stdout and "0123456789abcdef" in both.stderr


def test_wrong_secret_is_unauthorized(cli: Cli) -> None:
    result = cli("ls", "--secret", "wrong")
    assert result.returncode == 1
    assert "Unauthorized" in result.stderr and "secret" in result.stderr


def test_flags_override_the_environment(cli: Cli, daemon: Daemon, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "LIXIAN_RPC_URL": "http://127.0.0.1:1/jsonrpc", "LIXIAN_RPC_SECRET": "no"}
    result = cli("ls", "--json", "--rpc-url", daemon.url, "--secret", daemon.secret, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_unreachable_daemon_is_a_clear_message(cli: Cli, cli_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/jsonrpc"
    for args in (("ls",), ("add", "http://127.0.0.1/x"), ("watch",), ("rm", "--all")):
        result = cli(*args, "--rpc-url", url, env=cli_env)
        assert result.returncode == 6, (args, result.stderr)
        assert f"no daemon answers at {url}" in result.stderr
        assert "lixian serve" in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_option_exits_28_before_any_request(cli: Cli) -> None:
    result = cli("add", "--spilt=4", "http://127.0.0.1/x")
    assert result.returncode == 28
    assert "--spilt" in result.stderr


def test_watch_reports_a_failure(cli: Cli, fault_server: FaultServer) -> None:
    # slow enough for watch to see it start, then the connection is reset: a network error
    url = fault_server.url("/broken.bin", size=MiB, seed=8, rate=MiB // 2, reset_after=MiB // 2)
    gid = cli.ok("add", "--max-tries=1", "-o", "broken.bin", url).strip()
    watched = cli("watch", timeout=60)
    assert watched.returncode == 1, watched.stdout + watched.stderr
    assert f"error     {gid} broken.bin" in watched.stdout
    assert "done: 1 error" in watched.stdout


def test_watch_with_nothing_queued(cli: Cli) -> None:
    result = cli("watch")
    assert result.returncode == 0
    assert "nothing active or queued" in result.stdout


def test_add_torrent_file_and_magnet(
    daemon: Daemon, cli_env: dict[str, str], tmp_path: Path
) -> None:
    cli = Cli(daemon, cli_env, tmp_path)
    (tmp_path / "t.torrent").write_bytes(tiny_torrent("shared.iso", 1000))
    gid = cli.ok("add", "--pause", "t.torrent").strip()
    task = json.loads(cli.ok("status", "--json", gid))
    assert task["name"] == "shared.iso" and task["info_hash"]
    magnet = "magnet:?xt=urn:btih:" + base64.b32encode(b"\1" * 20).decode()
    other = cli.ok("add", "--pause", magnet).strip()
    assert other != gid and len(other) == 16
