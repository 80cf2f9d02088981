"""Is a finished file whole? Hashes, zero runs and a media decode check.

Equal hashes between two copies only prove the copy went well; the seed's real losses
were files that were *wrong at the source of the copy*: a preallocated file on a cloud
mount synced as zeros, a video cut short. So a completed file gets three checks, all
from one read of the file where possible:

- ``sha256`` (and any other hash type a remote wants, e.g. ``md5`` for sftp);
- long runs of zero bytes, with their offsets (:class:`ZeroScanner`): the "synced as
  zeros" failure leaves megabytes of them where real media and archives have none;
- for media files (by extension or magic bytes), ``ffmpeg -v error -i FILE -f null -``:
  a truncated WebM decodes with exit 0 but prints "File ended prematurely", a truncated
  MP4 fails on its missing ``moov`` atom. ffmpeg comes from PATH, else from the
  ``imageio-ffmpeg`` wheel; without either, the check is reported as not run.

Everything that reads files is blocking and runs in a thread; :func:`verify` is the
async entry point and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import os
import shutil
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = [
    "BLOCK",
    "LOCAL_HASHES",
    "MEDIA_EXTENSIONS",
    "MIN_ZERO_RUN",
    "DecodeResult",
    "Status",
    "Verdict",
    "ZeroRun",
    "ZeroScanner",
    "decode_check",
    "find_ffmpeg",
    "find_zero_runs",
    "hash_file",
    "is_media",
    "sha256_file",
    "verify",
]

BLOCK = 4 * 1024 * 1024  # one read; a multiple of every granule size used below
MIN_ZERO_RUN = 1024 * 1024
_MAX_GRANULE = 64 * 1024

Status = Literal["ok", "truncated", "wrong-size", "decode-errors", "zero-runs"]

# fmt: off
MEDIA_EXTENSIONS = frozenset((
    ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".wmv", ".flv", ".ts", ".m2ts",
    ".mts", ".mpg", ".mpeg", ".3gp", ".ogv", ".rmvb",
    ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wav", ".wma", ".ape",
    ".alac", ".mka",
))
# fmt: on

# Messages ffmpeg prints when the input simply stops: the file is cut short.
_TRUNCATION_HINTS = (
    "file ended prematurely",
    "moov atom not found",
    "truncat",
    "partial file",
    "end of file",
    "unexpected eof",
)


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Crc32:
    """zlib's crc32 behind hashlib's interface, printed as rclone prints it."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes, /) -> None:
        self._value = zlib.crc32(data, self._value)

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


LOCAL_HASHES: dict[str, Callable[[], _Hasher]] = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
    "crc32": _Crc32,
}
"""Hash types Python computes itself, under rclone's names; others need ``rclone hashsum``."""


@dataclass(frozen=True, slots=True)
class ZeroRun:
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class DecodeResult:
    """What ffmpeg said. ``checked`` is False when no ffmpeg was found or it timed out."""

    checked: bool
    errors: tuple[str, ...] = ()
    timed_out: bool = False
    note: str = ""

    @property
    def truncated(self) -> bool:
        return any(h in e.lower() for e in self.errors for h in _TRUNCATION_HINTS)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One file's integrity report; ``status`` is the worst finding."""

    path: Path
    size: int
    sha256: str
    status: Status
    zero_runs: tuple[ZeroRun, ...] = ()
    media: bool = False
    decode: DecodeResult | None = None
    expected_size: int | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    messages: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ZeroScanner:
    """Finds runs of zero bytes at least ``min_run`` long, fed the file in order.

    Why granules: comparing an aligned slice with a block of zeros is one ``memcmp``
    without a copy, so random data is rejected at its first byte and the scan costs
    almost nothing next to the hash. A run of ``2 * granule - 1`` bytes or more always
    covers a whole aligned granule, so with ``granule <= min_run // 2`` no qualifying
    run is missed; its exact ends are then found by stripping the neighbours.
    """

    def __init__(self, min_run: int = MIN_ZERO_RUN) -> None:
        if min_run < 2:
            raise ValueError("min_run must be at least 2 bytes")
        self.min_run = min_run
        self.granule = max(1, min(_MAX_GRANULE, min_run // 2))
        self._zeros = bytes(self.granule)
        self.runs: list[ZeroRun] = []
        self._pos = 0  # file offset of the next unprocessed byte
        self._carry = bytearray()
        self._prev: memoryview | None = None  # the last whole non-zero granule
        self._run_start: int | None = None

    def feed(self, data: bytes) -> None:
        if self._carry or len(data) % self.granule:
            self._carry += data
            whole = len(self._carry) - len(self._carry) % self.granule
            chunk, self._carry = bytes(self._carry[:whole]), self._carry[whole:]
        else:
            chunk = data
        view = memoryview(chunk)
        g = self.granule
        for i in range(0, len(view), g):
            self._granule(view[i : i + g])

    def _granule(self, gran: memoryview) -> None:
        if gran == self._zeros:
            if self._run_start is None:
                tail = 0
                if self._prev is not None:
                    prev = bytes(self._prev)
                    tail = len(prev) - len(prev.rstrip(b"\0"))
                self._run_start = self._pos - tail
        else:
            if self._run_start is not None:
                data = bytes(gran)
                self._end_run(self._pos + len(data) - len(data.lstrip(b"\0")))
            self._prev = gran
        self._pos += len(gran)

    def _end_run(self, end: int) -> None:
        assert self._run_start is not None
        if end - self._run_start >= self.min_run:
            self.runs.append(ZeroRun(self._run_start, end - self._run_start))
        self._run_start = None

    def finish(self) -> list[ZeroRun]:
        """Close the scan (the tail shorter than a granule included) and return the runs."""
        if self._run_start is not None:
            tail = bytes(self._carry)
            self._end_run(self._pos + len(tail) - len(tail.lstrip(b"\0")))
        self._pos += len(self._carry)
        self._carry = bytearray()
        return self.runs


def _read_pass(
    path: Path,
    consumers: Iterable[Callable[[bytes], None]],
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Read ``path`` once in big blocks, handing each block to every consumer."""
    todo = list(consumers)
    total = 0
    with path.open("rb", buffering=0) as f:
        with contextlib.suppress(OSError, AttributeError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        while True:
            if cancel is not None and cancel.is_set():
                raise InterruptedError(f"reading {path} was cancelled")
            block = f.read(BLOCK)
            if not block:
                return total
            for consume in todo:
                consume(block)
            total += len(block)
            if progress is not None:
                progress(total)


def _hashers(types: Iterable[str]) -> dict[str, _Hasher]:
    unknown = [t for t in types if t not in LOCAL_HASHES]
    if unknown:
        raise ValueError(f"cannot compute {', '.join(unknown)} in Python (use rclone hashsum)")
    return {t: LOCAL_HASHES[t]() for t in types}


def hash_file(
    path: Path,
    types: Iterable[str] = ("sha256",),
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, str]:
    """Hex digests of ``path`` for each type, in one read (blocking: call in a thread).

    >>> hash_file(Path("/dev/null"), ("sha256",))["sha256"][:8]
    'e3b0c442'
    """
    hashers = _hashers(types)
    _read_pass(path, [h.update for h in hashers.values()], progress=progress, cancel=cancel)
    return {t: h.hexdigest() for t, h in hashers.items()}


async def sha256_file(path: Path) -> str:
    """The file's sha256, computed in a thread."""
    return (await asyncio.to_thread(hash_file, path, ("sha256",)))["sha256"]


def find_zero_runs(path: Path, min_run: int = MIN_ZERO_RUN) -> list[ZeroRun]:
    """Every run of at least ``min_run`` zero bytes in ``path`` (blocking)."""
    scanner = ZeroScanner(min_run)
    _read_pass(path, [scanner.feed])
    return scanner.finish()


_MAGIC: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"),  # MP4 / MOV / 3GP / M4A
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (0, b"OggS"),
    (0, b"fLaC"),
    (0, b"ID3"),  # MP3 with a tag
    (0, b"FLV"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"),  # ASF / WMV / WMA
    (0, b"\x00\x00\x01\xba"),  # MPEG program stream
)


def is_media(path: Path, head: bytes | None = None) -> bool:
    """Media by extension or by magic bytes (``head``: the file's first bytes, if read)."""
    if path.suffix.lower() in MEDIA_EXTENSIONS:
        return True
    if head is None:
        return False
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"WAVE"):
        return True
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG-TS sync bytes
        return True
    return any(head[off : off + len(m)] == m for off, m in _MAGIC)


def find_ffmpeg() -> str | None:
    """ffmpeg from PATH (Debian's, Colab's), else the binary in the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        module: Any = importlib.import_module("imageio_ffmpeg")
        exe = module.get_ffmpeg_exe()
    except Exception:  # not installed, or its binary is missing for this platform
        return None
    return str(exe) if exe and os.access(exe, os.X_OK) else None


def _decode_timeout(size: int) -> float:
    # A full decode runs at tens of MB/s on a small VM; never wait forever.
    return 60.0 + size / (10 * 1024 * 1024)


async def decode_check(
    path: Path, *, time_limit: float | None = None, ffmpeg: str | None = None, max_errors: int = 20
) -> DecodeResult:
    """Decode every frame with ``ffmpeg -v error -i FILE -f null -`` (bounded in time).

    Any error line means the file does not decode cleanly; a non-zero exit with no
    message still counts as an error. On timeout the process is killed and the
    result says "not checked" rather than guessing.
    """
    exe = ffmpeg or find_ffmpeg()
    if exe is None:
        return DecodeResult(checked=False, note="ffmpeg not found (PATH or imageio-ffmpeg)")
    if time_limit is None:
        size = (await asyncio.to_thread(path.stat)).st_size
        time_limit = _decode_timeout(size)
    try:
        proc = await asyncio.create_subprocess_exec(
            exe, "-nostdin", "-hide_banner", "-v", "error", "-i", str(path), "-f", "null", "-",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    except OSError as exc:
        return DecodeResult(checked=False, note=f"cannot run {exe}: {exc.strerror}")
    try:
        _, err = await asyncio.wait_for(proc.communicate(), time_limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        note = f"decode check stopped after {time_limit:.0f} s"
        return DecodeResult(checked=False, timed_out=True, note=note)
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    lines = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    if proc.returncode and not lines:
        lines = [f"ffmpeg exited with status {proc.returncode}"]
    return DecodeResult(checked=True, errors=tuple(lines[:max_errors]))


def _scan(
    path: Path, min_zero_run: int, types: tuple[str, ...]
) -> tuple[int, dict[str, str], list[ZeroRun], bytes]:
    """One read: hashes, zero runs and the first bytes (for the magic check)."""
    head = bytearray()

    def keep_head(block: bytes) -> None:
        if len(head) < 512:
            head.extend(block[: 512 - len(head)])

    hashers = _hashers(types)
    scanner = ZeroScanner(min_zero_run)
    size = _read_pass(path, [keep_head, scanner.feed, *(h.update for h in hashers.values())])
    return size, {t: h.hexdigest() for t, h in hashers.items()}, scanner.finish(), bytes(head)


async def verify(
    path: Path,
    *,
    expected_size: int | None = None,
    min_zero_run: int = MIN_ZERO_RUN,
    decode: bool = True,
    decode_timeout: float | None = None,
    extra_hashes: Iterable[str] = (),
) -> Verdict:
    """Hash, zero-scan and (for media) decode-check one file; nothing blocks the loop.

    ``expected_size`` is what the source announced: a shorter file is ``truncated``
    whatever its content says. ``extra_hashes`` adds types a remote wants (``md5``).

    >>> v = await verify(Path("movie.webm"), expected_size=34490)   # doctest: +SKIP
    >>> v.status, [(r.offset, r.length) for r in v.zero_runs]        # doctest: +SKIP
    ('ok', [])
    """
    types = ("sha256", *(t for t in extra_hashes if t != "sha256"))
    size, hashes, runs, head = await asyncio.to_thread(_scan, path, min_zero_run, types)
    media = is_media(path, head)
    result = None
    if media and decode and size:
        result = await decode_check(path, time_limit=decode_timeout)
    messages: list[str] = []
    status: Status = "ok"
    if runs:
        status = "zero-runs"
        total = sum(r.length for r in runs)
        first = runs[0].offset
        messages.append(f"{len(runs)} run(s) of zeros, {total} bytes, first at offset {first}")
    if result is not None and result.errors:
        status = "truncated" if result.truncated else "decode-errors"
        messages.extend(result.errors)
    elif result is not None and not result.checked:
        messages.append(result.note)
    if expected_size is not None and size < expected_size:
        status = "truncated"
        messages.insert(0, f"{size} bytes, expected {expected_size}")
    elif expected_size is not None and size > expected_size:
        messages.insert(0, f"{size} bytes, expected {expected_size}")
        status = "wrong-size" if status == "ok" else status
    return Verdict(
        path=path,
        size=size,
        sha256=hashes["sha256"],
        status=status,
        zero_runs=tuple(runs),
        media=media,
        decode=result,
        expected_size=expected_size,
        hashes=hashes,
        messages=tuple(messages),
    )
