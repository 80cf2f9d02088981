"""Fixtures for end-to-end tests of ``lixian get``: the real CLI, as a subprocess.

Every run has a timeout, runs in the test's ``tmp_path`` with a scrubbed environment
(no proxy variables, a private HOME and XDG dirs) and talks only to the fault server on
loopback. ``run_aria2c`` runs the reference, aria2c, the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

import pytest

LIXIAN_GET = (sys.executable, "-m", "lixian", "get")
ARIA2C = Path(sys.executable).parent / "aria2c"
# aria2c as the reference: no preallocation (lixian's default), quiet, one try.
ARIA2C_DEFAULTS = ("--no-conf", "--file-allocation=none", "-q", "--max-tries=1")
IN_CI = os.environ.get("CI", "").lower() == "true"


class RunGet(Protocol):
    def __call__(
        self, *args: str, timeout: float = 60, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]: ...


class SpawnGet(Protocol):
    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]: ...


class MountTmpfs(Protocol):
    def __call__(self, directory: Path, options: str) -> Path: ...


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment every lixian/aria2c subprocess of a test runs with."""
    return _clean_env(tmp_path / ".home")


@pytest.fixture
def file_sha256() -> Callable[[Path], str]:
    """Hex sha256 of a file's content."""
    return sha256_of


def _runner(workdir: Path, env: dict[str, str]) -> RunGet:
    def run(
        *args: str, timeout: float = 60, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*LIXIAN_GET, *args],
            cwd=cwd or workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def run_get(tmp_path: Path, cli_env: dict[str, str]) -> RunGet:
    """Run ``lixian get ARGS...`` to completion (cwd: tmp_path); returns the CompletedProcess."""
    return _runner(tmp_path, cli_env)


@pytest.fixture(scope="module")
def module_run_get(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunGet, Path]:
    """``run_get`` for one expensive download shared by a module's tests: (run, its cwd)."""
    workdir = tmp_path_factory.mktemp("shared-cli")
    return _runner(workdir, _clean_env(workdir / ".home")), workdir


@pytest.fixture
def run_aria2c(tmp_path: Path, cli_env: dict[str, str]) -> RunGet:
    """Run the reference ``aria2c`` with ARIA2C_DEFAULTS + ARGS (pass ``-d DIR``)."""
    if not ARIA2C.exists() and shutil.which("aria2c") is None:
        if IN_CI:
            pytest.fail("aria2c is missing (make test installs it)")
        pytest.skip("aria2c is not installed")
    binary = str(ARIA2C) if ARIA2C.exists() else str(shutil.which("aria2c"))

    def run(
        *args: str, timeout: float = 60, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *ARIA2C_DEFAULTS, *args],
            cwd=cwd or tmp_path,
            env=cli_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def spawn_get(tmp_path: Path, cli_env: dict[str, str]) -> Iterator[SpawnGet]:
    """Start ``lixian get ARGS...`` without waiting (for kill and Ctrl-C tests).

    stdout/stderr go to files under tmp_path (a pipe nobody reads could block it); every
    process still alive at teardown is killed.
    """
    procs: list[subprocess.Popen[str]] = []
    files: list[IO[str]] = []

    def spawn(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        n = len(procs)
        out = (tmp_path / f"spawn{n}.stdout").open("w")
        err = (tmp_path / f"spawn{n}.stderr").open("w")
        files.extend((out, err))
        proc = subprocess.Popen(
            [*LIXIAN_GET, *args],
            cwd=cwd or tmp_path,
            env=cli_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            text=True,
        )
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    for f in files:
        f.close()


@pytest.fixture
def mount_tmpfs() -> Iterator[MountTmpfs]:
    """Mount a tmpfs with OPTIONS on DIR (created); unmounted at teardown. Needs root."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if IN_CI:
            pytest.fail("tmpfs tests need root and mount(8) under CI")
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(directory: Path, options: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        mounted.append(directory)
        return directory

    yield mount
    for directory in reversed(mounted):
        result = subprocess.run(
            ["umount", str(directory)], capture_output=True, timeout=30, check=False
        )
        if result.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], timeout=30, check=False)
