"""The ``lixian`` command line itself: help, version, getopt quirks, what it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from fixtures.fault_server import FaultServer

RunGet = Callable[..., subprocess.CompletedProcess[str]]
Sha = Callable[[Path], str]


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_get_help(run_get: RunGet) -> None:
    result = run_get("--help", timeout=30)
    assert result.returncode == 0
    assert "usage: lixian get" in result.stdout
    assert "--max-connection-per-server" in result.stdout


def test_version(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lixian", "--version"],
        cwd=tmp_path,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"lixian {version('lixian')}"


def test_no_uri_is_an_error_as_aria2c(run_get: RunGet, run_aria2c: RunGet) -> None:
    lixian = run_get("-d", "out", timeout=30)
    aria2c = run_aria2c("-d", "ar", timeout=30)
    assert lixian.returncode == aria2c.returncode == 1
    assert "URI" in lixian.stderr


def test_boolean_takes_no_separate_argument(
    fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    """``--continue true URL``: as with getopt's optional argument, ``true`` is a URI.

    It is not a valid one, so the download fails with an error naming it, and nothing is
    requested (aria2c refuses the whole command line the same way).
    """
    url = fault_server.url("/quirk.bin", size=100_000, seed=70)
    result = run_get("-d", "out", "--continue", "true", url)
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert re.search(r"(invalid|unsupported|unrecognized)[^\n]*URI[^\n]*\btrue\b", text, re.I), text
    assert not fault_server.requests
    assert not (tmp_path / "out" / "quirk.bin").exists()


def test_boolean_quirk_exit_code_matches_aria2c(
    fault_server: FaultServer, run_get: RunGet, run_aria2c: RunGet
) -> None:
    url = fault_server.url("/quirk2.bin", size=100_000, seed=71)
    lixian = run_get("-d", "lx", "--continue", "true", url)
    aria2c = run_aria2c("-d", "ar", "--continue", "true", url)
    assert lixian.returncode == aria2c.returncode


def test_invalid_uri_among_force_sequential_downloads_nothing_as_aria2c(
    fault_server: FaultServer, run_get: RunGet, run_aria2c: RunGet, tmp_path: Path
) -> None:
    url = fault_server.url("/seq-valid.bin", size=100_000, seed=75)
    aria2c = run_aria2c("-Z", "-d", "ar", "notaurl", url)
    assert aria2c.returncode == 1
    assert not fault_server.requests
    lixian = run_get("-Z", "-d", "lx", "notaurl", url)
    assert lixian.returncode == aria2c.returncode
    assert not fault_server.requests
    assert not (tmp_path / "lx" / "seq-valid.bin").exists()


def test_boolean_with_attached_value_works(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/attached.bin", size=100_000, seed=72)
    ok(run_get("--continue=true", url))
    assert file_sha256(tmp_path / "attached.bin") == fault_server.expected_sha256(100_000, 72)


def test_download_results_when_not_a_tty(
    fault_server: FaultServer,
    run_get: RunGet,
    run_aria2c: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    url = fault_server.url("/results.bin", size=1 << 20, seed=73)
    result = run_get("-d", "out", url)
    ok(result)
    assert file_sha256(tmp_path / "out/results.bin") == fault_server.expected_sha256(1 << 20, 73)
    lines = result.stdout.splitlines()
    assert "Download Results:" in lines
    # The table head is aria2c's, to the character.
    aria2c = run_aria2c("-d", "ar", "--quiet=false", url)
    ok(aria2c)
    head = "gid   |stat|avg speed  |path/URI"
    assert head in aria2c.stdout.splitlines()
    assert head in lines
    row = next(line for line in lines if "|OK  |" in line)
    assert re.match(r"^[0-9a-f]{6}\|OK  \|", row), row
    assert row.endswith(str(tmp_path / "out" / "results.bin"))
    assert "(OK):download completed." in lines


def test_quiet_prints_nothing(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/quiet.bin", size=1 << 20, seed=74)
    result = run_get("-q", url)
    ok(result)
    assert result.stdout == ""
    assert file_sha256(tmp_path / "quiet.bin") == fault_server.expected_sha256(1 << 20, 74)


def test_failed_download_shows_err_and_code(fault_server: FaultServer, run_get: RunGet) -> None:
    url = fault_server.url("/gone.bin")
    result = run_get("-d", "out", url)
    assert result.returncode == 3
    row = next(line for line in result.stdout.splitlines() if "|ERR |" in line)
    assert re.match(r"^[0-9a-f]{6}\|ERR \|", row), row
    assert "(ERR):error occurred." in result.stdout
