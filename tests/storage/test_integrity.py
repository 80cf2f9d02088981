"""Integrity checks on real files: hashes, zero runs at exact offsets, ffmpeg decode checks.

Media fixtures are made by the real ffmpeg (lavfi ``testsrc`` + ``sine``) and then cut or
zeroed the way downloads go wrong.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lixian.storage.integrity import (
    ZeroRun,
    ZeroScanner,
    decode_check,
    find_ffmpeg,
    find_zero_runs,
    hash_file,
    is_media,
    sha256_file,
    verify,
)

MiB = 1024 * 1024


@pytest.fixture
def webm(tmp_path: Path, webm_clip: Path) -> Path:
    return Path(shutil.copy(webm_clip, tmp_path / "clip.webm"))


@pytest.fixture
def mp4(tmp_path: Path, mp4_clip: Path) -> Path:
    return Path(shutil.copy(mp4_clip, tmp_path / "clip.mp4"))


def _bytes(path: Path) -> bytes:
    return path.read_bytes()  # tiny test files: not worth a thread


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


# -- hashes ---------------------------------------------------------------------------


async def test_hashes_in_one_pass(tmp_path: Path) -> None:
    data = os.urandom(5 * MiB + 7)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    got = hash_file(path, ("sha256", "md5", "sha1", "crc32"))
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    assert got["md5"] == hashlib.md5(data).hexdigest()
    assert got["sha1"] == hashlib.sha1(data).hexdigest()
    assert got["crc32"] == f"{zlib.crc32(data):08x}"
    assert await sha256_file(path) == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="quickxor"):
        hash_file(path, ("quickxor",))


# -- zero runs ------------------------------------------------------------------------


def test_zero_runs_found_at_the_right_offsets(tmp_path: Path) -> None:
    data = bytearray(os.urandom(16 * MiB))
    data[3 * MiB + 17 : 7 * MiB + 5] = bytes(4 * MiB - 12)  # the zeroed middle
    data[9 * MiB : 9 * MiB + 512 * 1024] = bytes(512 * 1024)  # too short to report
    data[-(MiB + 3) :] = bytes(MiB + 3)  # a zero tail, as a cut-short sync leaves
    path = tmp_path / "holed.bin"
    path.write_bytes(data)

    runs = find_zero_runs(path, MiB)

    assert runs == [ZeroRun(3 * MiB + 17, 4 * MiB - 12), ZeroRun(16 * MiB - MiB - 3, MiB + 3)]
    assert find_zero_runs(path, 256 * 1024)[1] == ZeroRun(9 * MiB, 512 * 1024)


def test_all_zero_and_empty_files(tmp_path: Path) -> None:
    zeros = tmp_path / "zeros.bin"
    zeros.write_bytes(bytes(3 * MiB + 1))
    assert find_zero_runs(zeros) == [ZeroRun(0, 3 * MiB + 1)]
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert find_zero_runs(empty) == []


def _brute_runs(data: bytes, min_run: int) -> list[ZeroRun]:
    runs, i = [], 0
    while i < len(data):
        if data[i]:
            i += 1
            continue
        j = i
        while j < len(data) and not data[j]:
            j += 1
        if j - i >= min_run:
            runs.append(ZeroRun(i, j - i))
        i = j
    return runs


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(
        st.one_of(st.binary(min_size=1, max_size=300), st.integers(1, 2000).map(bytes)),
        max_size=12,
    ),
    min_run=st.sampled_from([2, 3, 16, 100, 1000]),
    chunk=st.integers(1, 777),
)
def test_scanner_agrees_with_brute_force(pieces: list[bytes], min_run: int, chunk: int) -> None:
    data = b"".join(pieces)
    scanner = ZeroScanner(min_run)
    for i in range(0, len(data), chunk):
        scanner.feed(data[i : i + chunk])
    assert scanner.finish() == _brute_runs(data, min_run)


# -- media ----------------------------------------------------------------------------


async def test_intact_webm_passes(webm: Path) -> None:
    verdict = await verify(webm, expected_size=len(_bytes(webm)))
    assert verdict.status == "ok", verdict.messages
    assert verdict.media and verdict.decode is not None and verdict.decode.checked
    assert verdict.sha256 == hashlib.sha256(_bytes(webm)).hexdigest()


async def test_truncated_webm_fails_the_decode_check(webm: Path, tmp_path: Path) -> None:
    cut = _cut(webm, tmp_path / "cut.webm", 0.5)
    verdict = await verify(cut)  # no expected size: only the content can tell
    assert verdict.status == "truncated"
    assert verdict.decode is not None and verdict.decode.errors
    assert any("prematurely" in m for m in verdict.messages)


async def test_truncated_mp4_fails_and_intact_mp4_passes(mp4: Path, tmp_path: Path) -> None:
    assert (await verify(mp4)).status == "ok"
    cut = await verify(_cut(mp4, tmp_path / "cut.mp4", 0.6))
    assert cut.status == "truncated"
    assert any("moov atom not found" in m for m in cut.messages)


async def test_zero_filled_media_is_caught(webm: Path, tmp_path: Path) -> None:
    """The seed's failure: a file of the right size whose middle synced as zeros."""
    data = bytearray(_bytes(webm))
    start, end = len(data) // 3, 2 * len(data) // 3
    data[start:end] = bytes(end - start)
    holed = tmp_path / "holed.webm"
    holed.write_bytes(data)

    verdict = await verify(holed, expected_size=len(data), min_zero_run=4096)

    assert verdict.status in ("decode-errors", "truncated")  # worse than the zero run
    assert verdict.zero_runs[0].offset <= start and verdict.zero_runs[0].length >= end - start - 1
    assert not verdict.ok


async def test_short_file_is_truncated_by_size(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(1000))
    verdict = await verify(path, expected_size=2000)
    assert verdict.status == "truncated" and verdict.messages[0] == "1000 bytes, expected 2000"
    assert (await verify(path, expected_size=1000)).status == "ok"
    assert (await verify(path, expected_size=999)).status == "wrong-size"


async def test_media_recognised_by_magic_without_an_extension(webm: Path, tmp_path: Path) -> None:
    bare = tmp_path / "download"
    bare.write_bytes(_bytes(webm))
    assert not is_media(bare)
    verdict = await verify(bare)
    assert verdict.media and verdict.decode is not None and verdict.decode.checked
    assert is_media(Path("x.MKV"))


async def test_decode_check_is_bounded_in_time(webm: Path) -> None:
    result = await decode_check(webm, time_limit=0.001)
    assert not result.checked and result.timed_out
    assert "stopped after" in result.note


async def test_ffmpeg_falls_back_to_imageio_ffmpeg(
    monkeypatch: pytest.MonkeyPatch, webm: Path
) -> None:
    pytest.importorskip("imageio_ffmpeg")
    monkeypatch.setenv("PATH", "/nonexistent")
    exe = find_ffmpeg()
    assert exe is not None and "imageio_ffmpeg" in exe
    assert (await decode_check(webm, ffmpeg=exe)).errors == ()


async def test_no_ffmpeg_means_not_checked_rather_than_ok(tmp_path: Path) -> None:
    path = tmp_path / "a.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(100))
    result = await decode_check(path, ffmpeg="/nonexistent/ffmpeg-binary")
    assert result.checked is False and "cannot run" in result.note
