"""The free-space guard in the daemon (issue 6): a disk getting full pauses the task with
a reason instead of failing it, and the task resumes by itself when space returns; a
write that still hits ENOSPC is error 9 and the same GID can be retried."""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from daemon import serve

from fixtures.fault_server import FaultServer

MB = 1_000_000
MiB = 1 << 20


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_low_space_pauses_with_a_reason_and_resumes_when_space_returns(
    fault_server: FaultServer, mount_tmpfs: Callable[[Path, str], Path], tmp_path: Path
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", "size=32m")
    filler = disk / "filler.bin"
    filler.write_bytes(b"\1" * (16 * MiB))
    url = fault_server.url("/guard.bin", size=20 * MB, seed=71, rate=2 * MB)
    with serve(tmp_path, "--dir", str(disk), "--min-free-space=8M") as daemon:
        one = {"split": "1", "max-connection-per-server": "1"}  # 2 MB/s: the guard sees it
        gid = daemon.call("aria2.addUri", [url], one)
        status = daemon.wait_status(gid, ("paused", "complete", "error"), within=60)
        assert status["status"] == "paused", status
        assert "low disk space" in status["lixian"]["pausedReason"]
        # A user's own pause is not the guard's to undo.
        other = daemon.call(
            "aria2.addUri", [fault_server.url("/mine.bin", size=10)], {"pause": "true"}
        )
        filler.unlink()  # space returns
        done = daemon.wait_status(gid, ("complete", "error"), within=60)
        assert done["status"] == "complete", done
        assert daemon.call("aria2.tellStatus", other)["status"] == "paused"
    assert sha256(disk / "guard.bin") == fault_server.expected_sha256(20 * MB, 71)


def test_enospc_is_error_9_and_the_same_gid_retries(
    fault_server: FaultServer, mount_tmpfs: Callable[[Path, str], Path], tmp_path: Path
) -> None:
    disk = mount_tmpfs(tmp_path / "disk", "size=8m")
    # Throttled, so a connection the failure closed stops sending at once: the bytes the
    # retry fetches are then the retry's alone.
    url = fault_server.url("/full.bin", size=12 * MB, seed=72, rate=2 * MB)
    with serve(tmp_path, "--dir", str(disk), "--min-free-space=0") as daemon:
        gid = daemon.call("aria2.addUri", [url])
        failed = daemon.wait_status(gid, ("complete", "error"))
        assert failed["status"] == "error" and failed["errorCode"] == "9", failed
        kept = int(failed["completedLength"])
        assert kept > 0  # progress is kept
        subprocess.run(["mount", "-o", "remount,size=32m", str(disk)], check=True, timeout=30)
        time.sleep(0.5)
        fault_server.reset_log()
        assert daemon.call("lixian.retry", gid) == gid
        done = daemon.wait_status(gid, ("complete", "error"))
        assert done["status"] == "complete", done
    assert sha256(disk / "full.bin") == fault_server.expected_sha256(12 * MB, 72)
    refetched = fault_server.bytes_sent("/full.bin")
    assert refetched <= 12 * MB - kept + MiB  # the retry did not fetch the kept bytes again
