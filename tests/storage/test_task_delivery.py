"""The storage step end to end: a task is complete only once its file is where the user
asked and checked there (issue 6). Real rclone servers, a real FUSE mount, the real CLI
and daemon; every file's sha256 is compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fixtures.fault_server import FaultServer
from fixtures.rclone import RcloneMount, RcloneServe

MB = 1_000_000


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def get(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lixian", "get", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_get_to_an_rclone_remote_uploads_verifies_and_frees_the_local_copy(
    fault_server: FaultServer, webdav: RcloneServe, tmp_path: Path, unique: str
) -> None:
    url = fault_server.url(f"/{unique}.bin", size=3 * MB, seed=61)
    staging = tmp_path / "staging"
    proc = get(
        "-d",
        "local",
        f"--dest={webdav.remote}{unique}",
        f"--staging-dir={staging}",
        url,
        cwd=tmp_path,
        env=webdav.env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    delivered = webdav.root / unique / f"{unique}.bin"
    assert sha256(delivered) == fault_server.expected_sha256(3 * MB, 61)
    assert f"{webdav.remote}{unique}/{unique}.bin" in proc.stdout  # where it lives now
    assert not list(staging.rglob("*.bin"))  # the local copy is gone once verified
    assert not (tmp_path / "local").exists() or not list((tmp_path / "local").iterdir())


def test_get_into_a_cloud_drive_mount_is_staged_never_partial(
    fault_server: FaultServer,
    fuse_mount: RcloneMount,
    webdav: RcloneServe,
    tmp_path: Path,
    unique: str,
) -> None:
    url = fault_server.url(f"/{unique}.bin", size=4 * MB, seed=62, rate=4 * MB)
    target = fuse_mount.mountpoint / unique
    proc = subprocess.Popen(
        [sys.executable, "-m", "lixian", "get", "-q", "-d", str(target), url],
        cwd=tmp_path,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if target.exists():
                for child in target.iterdir():
                    seen.add(child.name)
                    if child.name == f"{unique}.bin":
                        # Visible under its final name: then it must be whole.
                        assert child.stat().st_size in (0, 4 * MB) or proc.poll() is not None
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.wait(timeout=10) == 0
    assert not any(name.endswith(".lixian") for name in seen)  # no control file on the mount
    final = target / f"{unique}.bin"
    assert sha256(final) == fault_server.expected_sha256(4 * MB, 62)
    remote_copy = webdav.root / unique / f"{unique}.bin"  # what reached the "cloud"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if remote_copy.exists() and remote_copy.stat().st_size == 4 * MB:
            break
        time.sleep(0.2)
    assert sha256(remote_copy) == fault_server.expected_sha256(4 * MB, 62)
    assert not any(p.name.endswith(".lixian-partial") for p in target.iterdir())


def _rpc(port: int, method: str, *params: object) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/jsonrpc", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def test_daemon_reports_complete_only_after_delivery_with_the_verdict(
    fault_server: FaultServer, webdav: RcloneServe, tmp_path: Path, unique: str
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = subprocess.Popen(
        [
            sys.executable, "-m", "lixian", "serve", "--quiet",
            "--dir", str(tmp_path / "dl"), "--rpc-listen-port", str(port),
            "--state", str(tmp_path / "state.sqlite3"),
        ],
        env={**os.environ, **webdav.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _rpc(port, "aria2.getVersion")
                break
            except OSError:
                assert time.monotonic() < deadline, "daemon did not start"
                time.sleep(0.1)
        url = fault_server.url(f"/{unique}.bin", size=2 * MB, seed=63)
        gid = _rpc(port, "aria2.addUri", [url], {"dest": f"{webdav.remote}{unique}"})
        status: dict[str, object] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = _rpc(port, "aria2.tellStatus", gid)  # type: ignore[assignment]
            if status["status"] in ("complete", "error"):
                break
            time.sleep(0.1)
        assert status["status"] == "complete", status
        expected = fault_server.expected_sha256(2 * MB, 63)
        lixian = status["lixian"]
        assert isinstance(lixian, dict)
        assert lixian["sha256"] == expected
        assert lixian["verdict"]["ok"] is True
        assert lixian["delivery"]["verified"] == "remote"
        files = status["files"]
        assert isinstance(files, list)
        assert files[0]["path"] == f"{webdav.remote}{unique}/{unique}.bin"
        assert sha256(webdav.root / unique / f"{unique}.bin") == expected
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
