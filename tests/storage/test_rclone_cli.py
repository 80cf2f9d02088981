"""lixian's rclone runner: remote syntax, binary discovery, progress, errors, stalls."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from fixtures.rclone import RcloneServe
from lixian.errors import StorageError
from lixian.storage.rclone_cli import (
    Rclone,
    RcloneError,
    RemoteFeatures,
    find_rclone,
    is_remote_spec,
    join_remote,
    parse_stats_line,
    split_remote,
)

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("spec", "remote"),
    [
        ("gdrive:", True),
        ("gdrive:Downloads/films", True),
        ("my remote:x", True),
        (":webdav,url='http://127.0.0.1:8080':dir", True),
        ("s3,provider=AWS:bucket", True),
        ("/mnt/drive", False),
        ("./a:b", False),
        ("downloads", False),
        ("~/x:y", False),
        ("", False),
    ],
)
def test_remote_spec(spec: str, remote: bool) -> None:
    assert is_remote_spec(spec) is remote


def test_split_and_join() -> None:
    assert split_remote("gd:a/b") == ("gd", "a/b")
    assert split_remote(":local:/tmp/x") == (":local", "/tmp/x")
    assert join_remote("gd:", "a/b.iso") == "gd:a/b.iso"
    assert join_remote("gd:dir", "a/b.iso") == "gd:dir/a/b.iso"
    assert join_remote("gd:dir/", "/b.iso") == "gd:dir/b.iso"
    with pytest.raises(ValueError, match="not an rclone remote"):
        split_remote("/local/path")


def test_stats_lines() -> None:
    line = json.dumps({"level": "notice", "msg": "x", "stats": {"bytes": 5, "totalBytes": 9}})
    assert parse_stats_line(line) == (5, 9)
    assert parse_stats_line('{"level":"info","msg":"Copied (new)"}') is None
    assert parse_stats_line("2026/01/01 NOTICE: plain text") is None
    assert parse_stats_line("{broken") is None


def test_best_hash_prefers_what_python_computes() -> None:
    assert RemoteFeatures(("md5", "sha1"), True).best_hash() == "sha1"
    assert RemoteFeatures(("quickxor",), True).best_hash() == "quickxor"
    assert RemoteFeatures((), False).best_hash() is None


def test_binary_found_without_path(monkeypatch: pytest.MonkeyPatch, rclone_bin: Path) -> None:
    """A venv that is not activated (notebook kernels, ``.venv/bin/python -m lixian``)."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("LIXIAN_RCLONE", raising=False)
    found = find_rclone()
    assert found is not None and os.access(found, os.X_OK)
    monkeypatch.setenv("LIXIAN_RCLONE", "/nonexistent/rclone")
    assert find_rclone() is None


async def test_on_the_fly_local_remote_has_hashes(tmp_path: Path, rclone_bin: Path) -> None:
    rclone = Rclone(rclone_bin)
    feats = await rclone.features(f":local:{tmp_path}")
    assert "sha256" in feats.hashes and feats.best_hash() == "sha256"
    (tmp_path / "f").write_bytes(b"abc")
    obj = await rclone.stat(f":local:{tmp_path}/f", hash_type="sha256")
    assert obj is not None and obj.size == 3
    assert obj.hashes["sha256"].startswith("ba7816bf")
    assert await rclone.stat(f":local:{tmp_path}/missing") is None


async def test_unknown_remote_is_a_storage_error(rclone_bin: Path, tmp_path: Path) -> None:
    rclone = Rclone(rclone_bin, config=tmp_path / "empty.conf")
    (tmp_path / "f").write_bytes(b"x")
    with pytest.raises(RcloneError) as info:
        await rclone.copyto(tmp_path / "f", "nosuchremote:dir/f")
    assert isinstance(info.value, StorageError)
    assert info.value.exit_code is not None and info.value.exit_code != 0
    assert "nosuchremote" in str(info.value)


async def test_a_stalled_upload_is_killed(tmp_path: Path, rclone_bin: Path) -> None:
    """The server freezes mid-upload (SIGSTOP): the watchdog kills rclone, bounded."""
    with RcloneServe(tmp_path / "root", tmp_path, name="lxstall") as server:
        rclone = Rclone(rclone_bin, env=server.env, flags=("--bwlimit", "2M"))
        local = tmp_path / "big.bin"
        local.write_bytes(os.urandom(16 * MiB))
        seen: list[int] = []

        def progress(done: int, total: int) -> None:
            if done and not seen and server.pid is not None:
                os.kill(server.pid, signal.SIGSTOP)
            if done:
                seen.append(done)

        try:
            with pytest.raises(RcloneError, match="stalled"):
                await rclone.copyto(
                    local, "lxstall:big.bin", progress=progress, stall_after=2, stats_every=0.2
                )
        finally:
            if server.pid is not None:
                os.kill(server.pid, signal.SIGCONT)
        assert seen  # it was moving before the freeze
