"""Surviving the VM (issue 6): ``--state-backup`` checkpoints, ``--restore-from`` on a new machine.

Every test drives a real ``lixian serve`` subprocess over JSON-RPC. "The VM is lost" means
``kill -9`` of the daemon and the deletion of its whole machine directory (state, downloads,
staging); the next daemon starts in an empty one and restores from the target: a plain
directory, or a local ``rclone serve webdav`` remote. Downloads are compared by sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.fault_server import FaultServer
from fixtures.rclone import RcloneMount, RcloneServe

MB = 1_000_000
MANIFEST = "lixian-backup.json"
SLOW = {"max-download-limit": "300K"}  # stays partial long enough to be paused
FAST = {"max-download-limit": "0"}  # lifted after the restore


@dataclass
class Machine:
    """One "VM": its own state, download dir and caches, all under ``root``."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "data" / "state.sqlite3"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def env(self) -> dict[str, str]:
        return {
            "XDG_CACHE_HOME": str(self.root / "cache"),
            "XDG_DATA_HOME": str(self.root / "data-home"),
        }


class Daemon:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.proc = proc
        self.log = log

    def call(self, method: str, *params: object) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/jsonrpc",
            body.encode(),
            {"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["result"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method}{params}: {exc.read().decode()}") from None

    def wait_for(
        self, gid: str, test: Callable[[dict[str, Any]], bool], what: str, within: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self.call("aria2.tellStatus", gid)
            if test(status):
                return status
            assert self.proc.poll() is None, f"lixian serve exited: {self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"{gid} never {what}: {status}")

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_argv(machine: Machine, port: int, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "lixian", "serve", "--rpc-listen-port", str(port),
        "--state", str(machine.state), "--dir", str(machine.downloads), *args,
    ]  # fmt: skip


@contextlib.contextmanager
def serve(machine: Machine, *args: str, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    port = free_port()
    machine.root.mkdir(parents=True, exist_ok=True)
    log = machine.root.parent / f"{machine.root.name}-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_argv(machine, port, *args),
            env={**os.environ, **machine.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    daemon = Daemon(port, proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                daemon.call("aria2.getVersion")
                break
            except OSError:
                assert proc.poll() is None, f"lixian serve exited: {daemon.output()}"
                assert time.monotonic() < deadline, f"no answer: {daemon.output()}"
                time.sleep(0.1)
        yield daemon
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(where: Path) -> dict[str, Any] | None:
    with contextlib.suppress(OSError, ValueError):
        return json.loads((where / MANIFEST).read_text())  # type: ignore[no-any-return]
    return None


def wait_manifest(
    where: Path, test: Callable[[dict[str, Any]], bool], daemon: Daemon, within: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        manifest = read_manifest(where)
        if manifest is not None and test(manifest):
            return manifest
        assert daemon.proc.poll() is None, f"lixian serve exited: {daemon.output()}"
        time.sleep(0.2)
    raise AssertionError(f"no matching checkpoint in {where}: {read_manifest(where)}")


def backed_up_state(where: Path, manifest: dict[str, Any], gid: str) -> str | None:
    """The status ``gid`` has in the database a manifest names (read from a copy)."""
    probe = where.parent / f".probe-{gid}.sqlite3"
    try:
        probe.write_bytes((where / manifest["state"]["name"]).read_bytes())
        conn = sqlite3.connect(probe)
        try:
            row = conn.execute("SELECT state FROM tasks WHERE gid=?", (gid,)).fetchone()
        finally:
            conn.close()
    except OSError:
        return None
    finally:
        probe.unlink(missing_ok=True)
    return str(row[0]) if row else None


def wait_paused_partial(where: Path, daemon: Daemon, gid: str, done: int) -> dict[str, Any]:
    """A checkpoint taken after ``gid`` was paused with ``done`` bytes: its database says
    paused and its copy of the partial claims all of them."""
    return wait_manifest(
        where,
        lambda m: (
            any(p["gid"] == gid and p["claimed"] == done for p in m["partials"])
            and backed_up_state(where, m, gid) == "paused"
        ),
        daemon,
    )


QUEUE_KEYS = ["gid", "status", "totalLength", "completedLength", "errorCode", "errorMessage",
              "dir", "files"]  # fmt: skip


def dumps(daemon: Daemon) -> tuple[Any, Any, Any]:
    """What a client sees of the queue: waiting (in order), stopped, and every option."""
    waiting = daemon.call("aria2.tellWaiting", 0, 1000, QUEUE_KEYS)
    stopped = daemon.call("aria2.tellStopped", 0, 1000, QUEUE_KEYS)
    options = {t["gid"]: daemon.call("aria2.getOption", t["gid"]) for t in waiting}
    return waiting, stopped, options


@dataclass
class Target:
    """Where backups go: ``spec`` for lixian, ``local`` to look at what arrived."""

    spec: str
    local: Path
    env: dict[str, str]


@pytest.fixture(params=["dir", "webdav"])
def target(request: pytest.FixtureRequest, tmp_path: Path, unique: str) -> Target:
    if request.param == "dir":
        return Target(str(tmp_path / "drive" / "lixian"), tmp_path / "drive" / "lixian", {})
    webdav: RcloneServe = request.getfixturevalue("webdav")
    return Target(f"{webdav.remote}{unique}/backup", webdav.root / unique / "backup", webdav.env)


def queue_some_tasks(daemon: Daemon, fault_server: FaultServer, unique: str) -> dict[str, str]:
    """A partial paused download, paused never-started ones, a complete one and a failed one."""
    partial_url = fault_server.url(f"/{unique}/partial.bin", size=3 * MB, seed=71, rate=150_000)
    gids = {
        "partial": daemon.call("aria2.addUri", [partial_url], {"gid": "a1a1a1a1a1a1a1a1"}),
        "done": daemon.call(
            "aria2.addUri", [fault_server.url(f"/{unique}/done.bin", size=MB, seed=72)]
        ),
        "failed": daemon.call(
            "aria2.addUri", [fault_server.url(f"/{unique}/gone.bin", status=404)]
        ),
    }
    daemon.wait_for(gids["done"], lambda s: s["status"] == "complete", "completed")
    daemon.wait_for(gids["failed"], lambda s: s["status"] == "error", "failed")
    daemon.wait_for(
        gids["partial"], lambda s: int(s["completedLength"]) >= MB, "got 1 MB", within=60
    )
    daemon.call("aria2.forcePause", gids["partial"])
    daemon.wait_for(gids["partial"], lambda s: s["status"] == "paused", "paused")
    for i in range(3):  # queued behind it, never started, with options of their own
        url = fault_server.url(f"/{unique}/later{i}.bin", size=MB, seed=80 + i)
        gid = daemon.call(
            "aria2.addUri", [url], {"pause": "true", "out": f"later-{i}.bin", "split": str(2 + i)}
        )
        gids[f"later{i}"] = gid
    daemon.call("aria2.changePosition", gids["later2"], 0, "POS_SET")  # positions survive too
    # The last change: a checkpoint holding this task holds every change made before it.
    url = fault_server.url(f"/{unique}/marker.bin", size=MB, seed=79)
    gids["marker"] = daemon.call("aria2.addUri", [url], {"pause": "true"})
    return gids


def test_checkpoint_kill9_lose_the_vm_restore_and_finish(
    fault_server: FaultServer, target: Target, tmp_path: Path, unique: str
) -> None:
    first = Machine(tmp_path / "vm1")
    backup = ["--state-backup", target.spec, "--state-backup-interval", "1", "--backup-partials"]
    with serve(first, *backup, env=target.env) as daemon:
        gids = queue_some_tasks(daemon, fault_server, unique)
        before = dumps(daemon)
        partial_now = int(daemon.call("aria2.tellStatus", gids["partial"])["completedLength"])
        assert partial_now < 3 * MB
        manifest = wait_manifest(
            target.local,
            lambda m: (
                m["tasks"] == len(gids)
                and any(
                    p["gid"] == gids["partial"] and p["claimed"] == partial_now
                    for p in m["partials"]
                )
            ),
            daemon,
        )
        copy = next(p for p in manifest["partials"] if p["gid"] == gids["partial"])
        daemon.kill9()  # no final checkpoint: the periodic one is all there is
    shutil.rmtree(first.root)  # the VM is gone: state, downloads, staging, caches

    fault_server.reset_log()
    second = Machine(tmp_path / "vm1")  # the new VM: same paths, nothing on them
    with serve(second, "--restore-from", target.spec, *backup, env=target.env) as daemon:
        after = dumps(daemon)
        assert [t["gid"] for t in after[0]] == [t["gid"] for t in before[0]]  # same order
        assert [t["gid"] for t in after[1]] == [t["gid"] for t in before[1]]
        assert after == before
        restored = second.downloads / "partial.bin"
        assert restored.exists() and (second.downloads / "partial.bin.lixian").exists()

        daemon.call("aria2.unpause", gids["partial"])
        daemon.wait_for(gids["partial"], lambda s: s["status"] == "complete", "completed", 120)
        assert sha256(restored) == fault_server.expected_sha256(3 * MB, 71)
        resent = fault_server.bytes_sent(f"/{unique}/partial.bin")
        assert resent <= 3 * MB - copy["claimed"] + 256 * 1024, "resumed, not restarted"

        # The restored daemon keeps backing up to the same target (same lineage).
        later = gids["later0"]
        daemon.call("aria2.unpause", later)
        daemon.wait_for(later, lambda s: s["status"] == "complete", "completed")
        assert sha256(second.downloads / "later-0.bin") == fault_server.expected_sha256(MB, 80)
    final = read_manifest(target.local)
    assert final is not None and not final["partials"]  # nothing partial at the last checkpoint


def test_a_partial_whose_backup_is_damaged_starts_again_from_zero(
    fault_server: FaultServer, tmp_path: Path, unique: str
) -> None:
    drive = tmp_path / "drive"
    first = Machine(tmp_path / "vm")
    url = fault_server.url(f"/{unique}/p.bin", size=2 * MB, seed=73)
    backup = ["--state-backup", str(drive), "--state-backup-interval", "1", "--backup-partials"]
    with serve(first, *backup) as daemon:
        gid = daemon.call("aria2.addUri", [url], SLOW)
        daemon.wait_for(gid, lambda s: int(s["completedLength"]) >= MB // 2, "got 0.5 MB")
        daemon.call("aria2.forcePause", gid)
        status = daemon.wait_for(gid, lambda s: s["status"] == "paused", "paused")
        wait_paused_partial(drive, daemon, gid, int(status["completedLength"]))
    # A clean stop takes a final checkpoint; then the data copy gets damaged on the "drive".
    manifest = read_manifest(drive)
    assert manifest is not None
    copy = next(p for p in manifest["partials"] if p["gid"] == gid)
    data = drive / copy["data"]["name"]
    data.write_bytes(data.read_bytes()[: copy["data"]["size"] // 2])
    shutil.rmtree(first.root)

    fault_server.reset_log()
    with serve(Machine(tmp_path / "vm"), "--restore-from", str(drive)) as daemon:
        status = daemon.call("aria2.tellStatus", gid)
        assert status["status"] == "paused" and status["completedLength"] == "0"
        assert not (first.downloads / "p.bin").exists()
        assert not (first.downloads / "p.bin.lixian").exists()
        daemon.call("aria2.changeOption", gid, FAST)
        daemon.call("aria2.unpause", gid)
        daemon.wait_for(gid, lambda s: s["status"] == "complete", "completed", 120)
        assert sha256(first.downloads / "p.bin") == fault_server.expected_sha256(2 * MB, 73)
        assert fault_server.bytes_sent(f"/{unique}/p.bin") >= 2 * MB  # from zero, cleanly
        assert "starts again from zero" in daemon.output()


def test_the_backup_is_an_sqlite_backup_not_a_copy_of_the_live_wal(
    tmp_path: Path, fault_server: FaultServer, unique: str
) -> None:
    drive = tmp_path / "drive"
    machine = Machine(tmp_path / "vm")
    with serve(machine, "--state-backup", str(drive), "--state-backup-interval", "1") as daemon:
        url = fault_server.url(f"/{unique}/x.bin", size=MB, seed=74)
        calls = [
            {"methodName": "aria2.addUri", "params": [[url], {"pause": "true", "out": f"{i}.bin"}]}
            for i in range(300)
        ]
        gids = [r[0] for r in daemon.call("system.multicall", calls)]
        manifest = wait_manifest(drive, lambda m: m["tasks"] == 300, daemon)
        # The live database is in WAL mode and the WAL holds data right now.
        assert machine.state.with_name("state.sqlite3-wal").stat().st_size > 0
        copy = drive / manifest["state"]["name"]
        raw = copy.read_bytes()
        assert len(raw) == manifest["state"]["size"]
        assert hashlib.sha256(raw).hexdigest() == manifest["state"]["sha256"]
        assert raw[18:20] == b"\x01\x01", "a rollback-journal file, not a WAL-mode copy"
        assert not list(drive.glob("*-wal")) and not list(drive.glob("*-shm"))
        probe = tmp_path / "probe.sqlite3"
        probe.write_bytes(raw)  # opened as a copy: the backup itself stays untouched
        conn = sqlite3.connect(probe)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            got = [r[0] for r in conn.execute("SELECT gid FROM tasks ORDER BY seq")]
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        finally:
            conn.close()
        assert got == gids


@pytest.mark.parametrize("kind", ["missing dir", "empty dir", "empty remote"])
def test_restore_from_an_empty_or_missing_target_fails_clearly(
    kind: str, tmp_path: Path, unique: str, request: pytest.FixtureRequest
) -> None:
    env: dict[str, str] = {}
    if kind == "missing dir":
        spec = str(tmp_path / "no-such-dir")
    elif kind == "empty dir":
        (tmp_path / "empty").mkdir()
        spec = str(tmp_path / "empty")
    else:
        webdav: RcloneServe = request.getfixturevalue("webdav")
        spec, env = f"{webdav.remote}{unique}-nothing", webdav.env
    machine = Machine(tmp_path / "vm")
    machine.root.mkdir()
    done = subprocess.run(
        serve_argv(machine, free_port(), "--restore-from", spec),
        env={**os.environ, **machine.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot restore from {spec}: nothing to restore" in done.stderr
    assert "lixian-backup.json is missing" in done.stderr
    assert not machine.state.exists()  # nothing half-made


def test_an_empty_new_state_never_overwrites_another_machines_backup(
    fault_server: FaultServer, tmp_path: Path, unique: str
) -> None:
    drive = tmp_path / "drive"
    backup = ["--state-backup", str(drive), "--state-backup-interval", "1"]
    with serve(Machine(tmp_path / "vm1"), *backup) as daemon:
        daemon.call("aria2.addUri", [fault_server.url(f"/{unique}/a.bin", size=MB)],
                    {"pause": "true"})  # fmt: skip
        wait_manifest(drive, lambda m: m["tasks"] == 1, daemon)
    before = (drive / MANIFEST).read_bytes()
    machine = Machine(tmp_path / "vm2")  # forgot --restore-from on the new VM
    machine.root.mkdir()
    done = subprocess.run(
        serve_argv(machine, free_port(), "--state-backup", str(drive)),
        env={**os.environ, **machine.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"--restore-from {drive}" in done.stderr
    assert (drive / MANIFEST).read_bytes() == before


def test_restore_into_another_download_dir_moves_the_queue_there(
    fault_server: FaultServer, tmp_path: Path, unique: str
) -> None:
    drive = tmp_path / "drive"
    first = Machine(tmp_path / "vm1")
    url = fault_server.url(f"/{unique}/m.bin", size=2 * MB, seed=75)
    backup = ["--state-backup", str(drive), "--state-backup-interval", "1", "--backup-partials"]
    with serve(first, *backup) as daemon:
        gid = daemon.call("aria2.addUri", [url], SLOW)
        daemon.wait_for(gid, lambda s: int(s["completedLength"]) >= MB // 2, "got 0.5 MB")
        daemon.call("aria2.forcePause", gid)
        status = daemon.wait_for(gid, lambda s: s["status"] == "paused", "paused")
        wait_paused_partial(drive, daemon, gid, int(status["completedLength"]))
        daemon.kill9()
    shutil.rmtree(first.root)

    second = Machine(tmp_path / "elsewhere")
    with serve(second, "--restore-from", str(drive)) as daemon:
        assert daemon.call("aria2.getOption", gid)["dir"] == str(second.downloads)
        assert (second.downloads / "m.bin.lixian").exists()
        daemon.call("aria2.changeOption", gid, FAST)
        daemon.call("aria2.unpause", gid)
        daemon.wait_for(gid, lambda s: s["status"] == "complete", "completed", 120)
        assert sha256(second.downloads / "m.bin") == fault_server.expected_sha256(2 * MB, 75)


def test_a_staged_partial_for_a_drive_mount_comes_back_and_is_delivered(
    fault_server: FaultServer,
    fuse_mount: RcloneMount,
    webdav: RcloneServe,
    tmp_path: Path,
    unique: str,
) -> None:
    """The Colab case: --dir on the Drive mount (so the partial lives in the local staging
    dir, which the lost VM takes with it), backups in a folder on the same mount."""
    drive_dir = fuse_mount.mountpoint / unique / "Downloads"
    drive_backup = fuse_mount.mountpoint / unique / "lixian-backup"
    url = fault_server.url(f"/{unique}/movie.bin", size=2 * MB, seed=76)
    backup = ["--state-backup", str(drive_backup), "--state-backup-interval", "1",
              "--backup-partials"]  # fmt: skip
    first = Machine(tmp_path / "vm")
    with serve(first, "--dir", str(drive_dir), *backup) as daemon:
        gid = daemon.call("aria2.addUri", [url], SLOW)
        daemon.wait_for(gid, lambda s: int(s["completedLength"]) >= MB // 2, "got 0.5 MB")
        daemon.call("aria2.forcePause", gid)
        status = daemon.wait_for(gid, lambda s: s["status"] == "paused", "paused")
        done = int(status["completedLength"])
        staged = first.root / "cache" / "lixian" / "staging" / gid / "movie.bin"
        assert staged.exists(), "a download for a mount is staged locally"
        wait_paused_partial(drive_backup, daemon, gid, done)
        daemon.kill9()
    shutil.rmtree(first.root)

    fault_server.reset_log()
    with serve(Machine(tmp_path / "vm"), "--dir", str(drive_dir), "--restore-from",
               str(drive_backup), *backup) as daemon:  # fmt: skip
        assert staged.exists() and staged.with_name("movie.bin.lixian").exists()
        daemon.call("aria2.changeOption", gid, FAST)
        daemon.call("aria2.unpause", gid)
        daemon.wait_for(gid, lambda s: s["status"] == "complete", "completed", 120)
        assert fault_server.bytes_sent(f"/{unique}/movie.bin") <= 2 * MB - done + 256 * 1024
    remote = webdav.root / unique / "Downloads" / "movie.bin"
    deadline = time.monotonic() + 60  # the mount uploads after its write-back delay
    while not (remote.exists() and remote.stat().st_size == 2 * MB) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sha256(remote) == fault_server.expected_sha256(2 * MB, 76)


def test_a_backup_cannot_put_files_outside_the_download_dirs(
    fault_server: FaultServer, tmp_path: Path, unique: str
) -> None:
    drive = tmp_path / "drive"
    first = Machine(tmp_path / "vm")
    url = fault_server.url(f"/{unique}/e.bin", size=2 * MB, seed=77)
    backup = ["--state-backup", str(drive), "--state-backup-interval", "1", "--backup-partials"]
    with serve(first, *backup) as daemon:
        gid = daemon.call("aria2.addUri", [url], SLOW)
        daemon.wait_for(gid, lambda s: int(s["completedLength"]) >= MB // 2, "got 0.5 MB")
        daemon.call("aria2.forcePause", gid)
        status = daemon.wait_for(gid, lambda s: s["status"] == "paused", "paused")
        wait_paused_partial(drive, daemon, gid, int(status["completedLength"]))
        daemon.kill9()
    shutil.rmtree(first.root)
    # Someone with write access to the backup folder points the partial elsewhere.
    manifest = read_manifest(drive)
    assert manifest is not None
    evil = tmp_path / "home" / ".bashrc"
    for copy in manifest["partials"]:
        copy["path"], copy["control"] = str(evil), f"{evil}.lixian"
    (drive / MANIFEST).write_text(json.dumps(manifest))

    with serve(Machine(tmp_path / "vm"), "--restore-from", str(drive)) as daemon:
        assert not evil.exists() and not evil.parent.exists()
        assert "outside the download and staging dirs" in daemon.output()
        daemon.call("aria2.changeOption", gid, FAST)
        daemon.call("aria2.unpause", gid)
        daemon.wait_for(gid, lambda s: s["status"] == "complete", "completed", 120)
        assert sha256(first.downloads / "e.bin") == fault_server.expected_sha256(2 * MB, 77)


# ---- the pure pieces ----


def test_paths_move_to_the_new_machine_and_stay_confined() -> None:
    from lixian.store.backup import _inside, _Mover

    move = _Mover([("/vm/cache/staging", "/new/staging"), ("/vm/dl", "/new/dl"), ("/x", "/x")])
    assert move("/vm/dl") == "/new/dl"
    assert move("/vm/dl/sub/a.iso") == "/new/dl/sub/a.iso"
    assert move("/vm/dlx/a.iso") == "/vm/dlx/a.iso"  # a sibling, not below it
    assert move("/vm/cache/staging/0123/a.iso") == "/new/staging/0123/a.iso"
    roots = [Path("/new/dl"), Path("/new/staging")]
    assert _inside(Path("/new/dl/sub/a.iso"), roots)
    assert not _inside(Path("/new/dl"), roots)
    assert not _inside(Path("/new/dl/../../etc/passwd"), roots)
    assert not _inside(Path("relative/a.iso"), roots)


def test_the_snapshot_holds_commits_that_are_only_in_the_wal(tmp_path: Path) -> None:
    from lixian.store.backup import snapshot_database

    live = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # every commit stays in the WAL
    conn.execute("CREATE TABLE tasks (gid TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO tasks VALUES (?)", [(f"{i:016x}",) for i in range(500)])
    try:
        copy_of_main_file = tmp_path / "raw.sqlite3"
        copy_of_main_file.write_bytes(live.read_bytes())  # what a file copy would get
        with contextlib.suppress(sqlite3.DatabaseError):
            raw = sqlite3.connect(copy_of_main_file)
            assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
            raw.close()
        snap = tmp_path / "snap.sqlite3"
        assert snapshot_database(live, snap) == 500
        assert snap.read_bytes()[18:20] == b"\x01\x01"
        assert not Path(f"{snap}-wal").exists()
    finally:
        conn.close()
