"""``lixian get`` speed options end to end: --lowest-speed-limit, --max-(overall-)download-limit.

The real CLI runs as a subprocess against the fault server's throttled responses (``rate``
knob). Timing never decides a test except as a lower bound that a throttle guarantees;
upper bounds are only the generous subprocess timeouts that stop a hung run. lixian judges
--lowest-speed-limit over a 3 s window after 6 s of grace (fetcher.SPEED_WINDOW), aria2c after
its own grace (about 10 s), so the aria2c reference runs concurrently with lixian.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fixtures.fault_server import FaultServer
from lixian.errors import Aria2Code
from lixian.storage.control import ControlFile

pytestmark = pytest.mark.slow

MB = 1 << 20
LIXIAN_GET = (sys.executable, "-m", "lixian", "get")
ARIA2C_DEFAULTS = ("--no-conf", "--file-allocation=none", "-q", "--max-tries=1")
TIMEOUT = 60.0
TOO_SLOW = int(Aria2Code.TOO_SLOW)  # 5


# ---------------------------------------------------------------- helpers


def _aria2c() -> str | None:
    local = Path(sys.executable).parent / "aria2c"
    return str(local) if local.exists() else shutil.which("aria2c")


@pytest.fixture
def aria2c() -> str:
    binary = _aria2c()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("aria2c is missing (make test installs it)")
        pytest.skip("aria2c is not installed")
    return binary


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), NO_COLOR="1")
    return env


class Run:
    """One CLI process started in its own directory and timed; ``wait`` bounds it.

    A thread collects its output and stamps its end, so processes that run side by side
    each get their own duration whatever order they are waited for in.
    """

    def __init__(self, argv: list[str], cwd: Path) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.cwd = cwd
        self.returncode: int | None = None
        self.elapsed = 0.0
        self.output = ""
        self.began = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=_env(cwd.parent / ".home"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        out, _ = self.proc.communicate()
        self.elapsed = time.monotonic() - self.began
        self.output = out

    def wait(self, timeout: float = TIMEOUT) -> Run:
        self._reader.join(max(0.0, self.began + timeout - time.monotonic()))
        if self._reader.is_alive():
            self.proc.kill()
            self._reader.join(10)
            raise subprocess.TimeoutExpired(self.proc.args, timeout, self.output)
        self.returncode = self.proc.returncode
        return self

    def describe(self) -> str:
        return f"exit {self.returncode} after {self.elapsed:.1f} s\n{self.output}"


def lixian(cwd: Path, *args: str) -> Run:
    return Run([*LIXIAN_GET, *args], cwd)


def aria2(binary: str, cwd: Path, *args: str) -> Run:
    return Run([binary, *ARIA2C_DEFAULTS, *args], cwd)


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def assert_ranges_hold_the_right_bytes(path: Path, expected: bytes) -> list[tuple[int, int]]:
    """The ranges the .lixian control file records as done hold the expected bytes.

    Returns those ranges, as (start, end) with ``end`` exclusive.
    """
    loaded = ControlFile.load(path.with_name(path.name + ".lixian"))
    assert loaded is not None, f"no readable control file beside {path}"
    control, done = loaded
    control.close()
    assert control.meta.size == len(expected)
    data = path.read_bytes()
    for start, end in done:
        assert data[start:end] == expected[start:end], f"wrong bytes in {start}-{end}"
    return list(done)


# ---------------------------------------------------------------- --lowest-speed-limit


def test_lowest_speed_limit_aborts_with_exit_5_like_aria2c(
    fault_server: FaultServer, tmp_path: Path, aria2c: str
) -> None:
    size = 2 * MB
    url = fault_server.url("/slow.bin", size=size, seed=1, rate=20_000)
    # Both at once: aria2c's grace is longer than lixian's, and neither disturbs the other
    # (each response is throttled on its own).
    ours = lixian(tmp_path / "lixian", "--lowest-speed-limit=1M", url)
    reference = aria2(aria2c, tmp_path / "aria2c", "--lowest-speed-limit=1M", url)
    ours.wait()
    reference.wait()
    assert ours.returncode == TOO_SLOW, ours.describe()
    assert reference.returncode == TOO_SLOW, reference.describe()
    assert "lowest-speed-limit" in ours.output
    # aria2c keeps what it got for a later resume; the bytes it kept are the file's.
    kept = (tmp_path / "aria2c" / "slow.bin").read_bytes()
    assert (tmp_path / "aria2c" / "slow.bin.aria2").exists()
    assert 0 < len(kept) < size
    assert kept == fault_server.expected(size, 1)[: len(kept)]
    # No request was allowed to run to its end at 20 KB/s: the limit stopped them.
    assert fault_server.bytes_sent("/slow.bin") < 2 * size


def test_too_slow_download_keeps_resumable_progress(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """Slow (below the limit) but fast enough that each connection has flushed data."""
    size = 2 * MB
    expected = fault_server.expected(size, 2)
    url = fault_server.url("/resume.bin", size=size, seed=2, rate=100_000)
    run = lixian(tmp_path, "--lowest-speed-limit=1M", url).wait()
    assert run.returncode == TOO_SLOW, run.describe()
    partial = tmp_path / "resume.bin"
    done = assert_ranges_hold_the_right_bytes(partial, expected)
    assert 0 < sum(end - start for start, end in done) < size
    # Resume at full speed from another URL of the same file: only the rest is fetched.
    fault_server.reset_log()
    run = lixian(tmp_path, fault_server.url("/resume.bin", size=size, seed=2)).wait()
    assert run.returncode == 0, run.describe()
    assert sha256_of(partial) == fault_server.expected_sha256(size, 2)
    assert not partial.with_name("resume.bin.lixian").exists()
    starts = [r.range[0] for r in fault_server.requests_for("/resume.bin") if r.range]
    assert starts, "resumed with ranges"
    for first in starts:
        assert not any(start <= first < end for start, end in done), (first, done)


def test_too_slow_download_keeps_what_it_received(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    size = 2 * MB
    """At 20 KB/s no connection fills its 256 KiB write buffer before the abort: what it
    holds must still be written, and recorded in the control file."""
    url = fault_server.url("/kept.bin", size=size, seed=3, rate=20_000)
    run = lixian(tmp_path, "--lowest-speed-limit=1M", url).wait()
    assert run.returncode == TOO_SLOW, run.describe()
    received = fault_server.bytes_sent("/kept.bin")
    assert received > 0
    partial = tmp_path / "kept.bin"
    assert partial.exists(), sorted(p.name for p in tmp_path.iterdir())
    done = assert_ranges_hold_the_right_bytes(partial, fault_server.expected(size, 3))
    assert done, f"the server sent {received} bytes, none were kept"


def test_lowest_speed_limit_spares_a_download_above_it(
    fault_server: FaultServer, tmp_path: Path, aria2c: str
) -> None:
    size = 400_000  # 10 s at 40 KB/s on one connection
    url = fault_server.url("/steady.bin", size=size, seed=4, rate=40_000)
    args = ("--lowest-speed-limit=10K", "-x1", "-s1", url)
    ours = lixian(tmp_path / "lixian", *args)
    reference = aria2(aria2c, tmp_path / "aria2c", *args)
    reference.wait()
    ours.wait()
    assert reference.returncode == 0, reference.describe()
    assert sha256_of(tmp_path / "aria2c" / "steady.bin") == fault_server.expected_sha256(size, 4)
    assert ours.returncode == 0, ours.describe()
    assert sha256_of(tmp_path / "lixian" / "steady.bin") == fault_server.expected_sha256(size, 4)


# ---------------------------------------------------------------- download limits


@pytest.mark.parametrize(
    "args",
    [
        ("--max-download-limit=1M",),
        ("--max-overall-download-limit=1M",),
        ("--max-download-limit=1M", "-x1", "-s1"),
    ],
    ids=["per-download", "overall", "per-download-one-connection"],
)
def test_download_limit_completes_and_is_not_faster(
    fault_server: FaultServer, tmp_path: Path, aria2c: str, args: tuple[str, ...]
) -> None:
    size = 4 * MB
    url = fault_server.url("/limited.bin", size=size, seed=5)
    ours = lixian(tmp_path / "lixian", *args, url)
    reference = aria2(aria2c, tmp_path / "aria2c", *args, url)
    ours.wait()
    reference.wait()
    assert ours.returncode == 0, ours.describe()
    assert sha256_of(tmp_path / "lixian" / "limited.bin") == fault_server.expected_sha256(size, 5)
    assert reference.returncode == 0, reference.describe()
    assert sha256_of(tmp_path / "aria2c" / "limited.bin") == fault_server.expected_sha256(size, 5)
    # 4 MiB at 1 MiB/s takes 4 s; allow the limiter's burst and the first reads.
    assert ours.elapsed >= 2.0, ours.describe()
    assert reference.elapsed >= 2.0, reference.describe()


def test_overall_limit_is_shared_by_concurrent_downloads(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    size = 2 * MB
    urls = [fault_server.url(f"/shared{n}.bin", size=size, seed=10 + n) for n in range(2)]
    run = lixian(tmp_path, "--max-overall-download-limit=1M", "-Z", "-j2", *urls).wait()
    assert run.returncode == 0, run.describe()
    for n in range(2):
        assert sha256_of(tmp_path / f"shared{n}.bin") == fault_server.expected_sha256(size, 10 + n)
    # 4 MiB in all at 1 MiB/s overall, whatever the split between the two downloads.
    assert run.elapsed >= 2.0, run.describe()
