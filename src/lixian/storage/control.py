"""The control file: which bytes of a partial download are on disk.

Why this layout: progress must survive ``kill -9`` losing only in-flight buffers, and
survive a power cut (or a lost VM) losing at most the work since the last checkpoint,
without an fsync per write.

* A *live* slot is rewritten (one ``pwrite``) right after every data write. The page
  cache outlives a killed process, so after ``kill -9`` the live slot is exact.
* Two *durable* slots take turns; one is written only after ``fdatasync`` of the data
  and is itself fsync'd, so it never claims bytes the disk lacks.
* Every slot carries the boot id. After a reboot the page cache is gone and the live
  slot may be ahead of the data, so a live slot from another boot is ignored.
* Each slot has a generation and a CRC; the newest valid slot wins.

File layout: ``MAGIC`` | header (u32 length + JSON metadata, in the first 4 KiB) |
live slot | durable slot A | durable slot B. A slot is ``u32 len | u32 crc | u64 gen |
16-byte boot id | len bytes of u64 (start, end) pairs``.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from lixian.ranges import RangeSet

__all__ = ["ControlFile", "ResourceMeta", "boot_id"]

MAGIC = b"LIXIANC1"
HEADER_SIZE = 4096
SLOT_SIZE = 64 * 1024
_SLOT_HEAD = struct.Struct("<IIQ16s")
_MAX_RANGES = (SLOT_SIZE - _SLOT_HEAD.size) // 16
LIVE, DURABLE_A, DURABLE_B = (HEADER_SIZE + i * SLOT_SIZE for i in range(3))


@dataclass(frozen=True, slots=True)
class ResourceMeta:
    """What identifies the remote file, so a resume never splices two versions."""

    url: str
    size: int | None
    etag: str | None = None
    last_modified: str | None = None


def boot_id() -> bytes:
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return uuid.UUID(text).bytes
    except (OSError, ValueError):
        return b"\0" * 16  # unknown boot: live slots are then never trusted across runs


_BOOT = boot_id()


class ControlFile:
    """An open control file. Not thread-safe: the sink serialises calls."""

    def __init__(self, path: Path, fd: int, meta: ResourceMeta, generation: int = 0) -> None:
        self.path = path
        self.meta = meta
        self._fd = fd
        self._gen = generation
        self._durable_turn = 0

    @classmethod
    def create(cls, path: Path, meta: ResourceMeta, done: RangeSet) -> ControlFile:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            header = json.dumps(asdict(meta)).encode()
            if len(header) > HEADER_SIZE - len(MAGIC) - 4:
                # An absurdly long URL: keep the identity fields, drop the URL.
                header = json.dumps({**asdict(meta), "url": ""}).encode()
            os.pwrite(fd, MAGIC + struct.pack("<I", len(header)) + header, 0)
            ctl = cls(path, fd, meta)
            ctl.write_live(done)
            os.rename(tmp, path)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        return ctl

    @classmethod
    def load(cls, path: Path) -> tuple[ControlFile, RangeSet] | None:
        """Open an existing control file; None when absent or unreadable."""
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return None
        try:
            head = os.pread(fd, HEADER_SIZE, 0)
            if not head.startswith(MAGIC):
                raise ValueError("not a lixian control file")
            (n,) = struct.unpack_from("<I", head, len(MAGIC))
            raw = json.loads(head[len(MAGIC) + 4 : len(MAGIC) + 4 + n])
            meta = ResourceMeta(**raw)
            best: tuple[int, RangeSet] | None = None
            for offset in (LIVE, DURABLE_A, DURABLE_B):
                slot = _read_slot(fd, offset, live=offset == LIVE)
                if slot is not None and (best is None or slot[0] > best[0]):
                    best = slot
        except (OSError, ValueError, TypeError, struct.error):
            os.close(fd)
            return None
        gen, done = best if best is not None else (0, RangeSet())
        return cls(path, fd, meta, gen), done

    def write_live(self, done: RangeSet) -> None:
        self._gen += 1
        os.pwrite(self._fd, _encode_slot(self._gen, done), LIVE)

    def write_durable(self, done: RangeSet) -> None:
        """Call only after the data file was fdatasync'd up to ``done``."""
        self._gen += 1
        offset = (DURABLE_A, DURABLE_B)[self._durable_turn]
        self._durable_turn ^= 1
        os.pwrite(self._fd, _encode_slot(self._gen, done), offset)
        os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _encode_slot(gen: int, done: RangeSet) -> bytes:
    pairs = list(done)[:_MAX_RANGES]  # fewer ranges only ever claim less: safe
    payload = struct.pack(f"<{2 * len(pairs)}Q", *(x for pair in pairs for x in pair))
    crc = zlib.crc32(payload, zlib.crc32(struct.pack("<Q", gen) + _BOOT))
    return _SLOT_HEAD.pack(len(payload), crc, gen, _BOOT) + payload


def _read_slot(fd: int, offset: int, *, live: bool) -> tuple[int, RangeSet] | None:
    raw = os.pread(fd, SLOT_SIZE, offset)
    if len(raw) < _SLOT_HEAD.size:
        return None
    n, crc, gen, boot = _SLOT_HEAD.unpack_from(raw)
    payload = raw[_SLOT_HEAD.size : _SLOT_HEAD.size + n]
    if n % 16 or len(payload) != n or gen == 0:
        return None
    if zlib.crc32(payload, zlib.crc32(struct.pack("<Q", gen) + boot)) != crc:
        return None
    if live and (boot != _BOOT or boot == b"\0" * 16):
        return None  # the page cache that made this slot true is gone
    values = struct.unpack(f"<{n // 8}Q", payload)
    return gen, RangeSet(zip(values[::2], values[1::2], strict=True))
