"""Interrupt ``lixian get`` (kill -9, Ctrl-C) and run the same command again.

The rerun must finish with the right bytes, re-fetching little (the exact figure is the
bench's business; here: under 10% of the file), and must start over cleanly when the
file changed on the server in between.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from fixtures.fault_server import FaultServer, RequestRecord

RunGet = Callable[..., subprocess.CompletedProcess[str]]
SpawnGet = Callable[..., subprocess.Popen[str]]
Sha = Callable[[Path], str]

MB = 1 << 20
SIZE = 16 * MB
# 4 connections at 4 MB/s each: a run is ~1 s long, so the first one is caught mid-way.
RATE = 4_000_000
SPLIT = ("-x4", "-s4", "-k1M")


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def interrupt_when_partly_done(
    server: FaultServer,
    proc: subprocess.Popen[str],
    path: str,
    control: Path,
    sig: signal.Signals,
    fraction: float = 0.4,
) -> None:
    """Wait until the server sent ``fraction`` of the file and the control file exists."""

    def far_enough(records: list[RequestRecord]) -> bool:
        sent = sum(r.body_bytes for r in records if r.path == path)
        return sent >= fraction * SIZE and control.exists()

    reached = server.wait_until(far_enough, within=20)
    assert proc.poll() is None, "the first run ended before it could be interrupted"
    assert reached, f"only {server.bytes_sent(path)} bytes sent, control file: {control.exists()}"
    proc.send_signal(sig)


def test_kill_9_then_rerun_resumes(
    fault_server: FaultServer,
    spawn_get: SpawnGet,
    run_get: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    url = fault_server.url("/k9.bin", size=SIZE, seed=60, rate=RATE)
    args = (*SPLIT, "-d", "out", url)
    target, control = tmp_path / "out/k9.bin", tmp_path / "out/k9.bin.lixian"

    proc = spawn_get(*args)
    interrupt_when_partly_done(fault_server, proc, "/k9.bin", control, signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert control.exists()
    assert fault_server.bytes_sent("/k9.bin") < SIZE
    first_requests = len(fault_server.requests_for("/k9.bin"))

    ok(run_get(*args))
    assert file_sha256(target) == fault_server.expected_sha256(SIZE, 60)
    assert not control.exists()
    refetched = fault_server.bytes_sent("/k9.bin") - SIZE
    assert refetched < SIZE // 10, f"re-fetched {refetched} bytes after kill -9"
    rerun = fault_server.requests_for("/k9.bin")[first_requests:]
    assert rerun
    assert all(r.range is not None and r.range[0] > 0 for r in rerun), [
        r.range_header for r in rerun
    ]


def test_ctrl_c_exits_7_then_rerun_completes(
    fault_server: FaultServer,
    spawn_get: SpawnGet,
    run_get: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    url = fault_server.url("/intr.bin", size=SIZE, seed=61, rate=RATE)
    args = (*SPLIT, "-d", "out", url)
    target, control = tmp_path / "out/intr.bin", tmp_path / "out/intr.bin.lixian"

    proc = spawn_get(*args)
    interrupt_when_partly_done(fault_server, proc, "/intr.bin", control, signal.SIGINT)
    assert proc.wait(timeout=15) == 7
    assert control.exists()
    assert target.exists()
    first_requests = len(fault_server.requests_for("/intr.bin"))

    ok(run_get(*args))
    assert file_sha256(target) == fault_server.expected_sha256(SIZE, 61)
    assert not control.exists()
    rerun = fault_server.requests_for("/intr.bin")[first_requests:]
    assert rerun
    assert all(r.range is not None and r.range[0] > 0 for r in rerun), [
        r.range_header for r in rerun
    ]
    refetched = fault_server.bytes_sent("/intr.bin") - SIZE
    assert refetched < SIZE // 10, f"re-fetched {refetched} bytes after Ctrl-C"


def test_file_changed_between_runs_starts_over(
    fault_server: FaultServer,
    spawn_get: SpawnGet,
    run_get: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    old = FaultServer.expected(SIZE, 62, version=0)
    new = FaultServer.expected(SIZE, 62, version=1)
    path = fault_server.add_file("/changed.bin", old)
    url = fault_server.url(path, rate=RATE)
    args = (*SPLIT, "-d", "out", url)
    target, control = tmp_path / "out/changed.bin", tmp_path / "out/changed.bin.lixian"

    proc = spawn_get(*args)
    interrupt_when_partly_done(fault_server, proc, path, control, signal.SIGKILL)
    proc.wait(timeout=10)
    old_etag = '"r' + hashlib.sha256(old).hexdigest()[:20] + '"'
    first_requests = len(fault_server.requests_for(path))

    fault_server.add_file(path, new)  # the server now has another version of the file
    ok(run_get(*args))
    digest = file_sha256(target)
    assert digest == hashlib.sha256(new).hexdigest()
    assert digest != hashlib.sha256(old).hexdigest()
    assert not control.exists()
    rerun = fault_server.requests_for(path)[first_requests:]
    # The rerun asked "only if still the old one" and was answered with the new file.
    assert any(r.header("If-Range") == old_etag for r in rerun), [r.headers for r in rerun]


# ---------------------------------------------------------------- --continue without a control file


def test_continue_resumes_a_partial_file_as_aria2c(
    fault_server: FaultServer,
    run_get: RunGet,
    run_aria2c: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    """A file another tool left half done: ``-c`` trusts its bytes and fetches the rest."""
    size, have = 1 * MB, 300_000
    url = fault_server.url("/partial.bin", size=size, seed=63, rate=RATE)
    for name in ("lx", "ar"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "partial.bin").write_bytes(FaultServer.expected(size, 63)[:have])

    ok(run_aria2c("-c", "-d", "ar", url))
    aria2c_fetched = fault_server.bytes_sent("/partial.bin")
    assert file_sha256(tmp_path / "ar/partial.bin") == fault_server.expected_sha256(size, 63)
    fault_server.reset_log()

    ok(run_get("-c", "-d", "lx", url))
    assert file_sha256(tmp_path / "lx/partial.bin") == fault_server.expected_sha256(size, 63)
    fetched = fault_server.bytes_sent("/partial.bin")
    assert aria2c_fetched < size  # the reference did resume
    assert fetched <= size - have + 64 * 1024, (fetched, aria2c_fetched)


def test_continue_on_a_complete_file_is_ok_as_aria2c(
    fault_server: FaultServer,
    run_get: RunGet,
    run_aria2c: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    size = 1 * MB
    url = fault_server.url("/complete.bin", size=size, seed=64)
    for name in ("lx", "ar"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "complete.bin").write_bytes(FaultServer.expected(size, 64))
    aria2c = run_aria2c("-c", "-d", "ar", url)
    lixian = run_get("-c", "-d", "lx", url)
    assert file_sha256(tmp_path / "lx/complete.bin") == fault_server.expected_sha256(size, 64)
    assert "Traceback" not in lixian.stderr, lixian.stderr
    assert lixian.returncode == aria2c.returncode == 0
