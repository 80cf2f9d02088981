"""Frozen snapshots of tasks: what front doors read, never live objects.

The core holds ints, enums and Paths; the RPC door turns these into aria2's string
shapes (``rpc/schema.py``), the CLI into tables. No hidden I/O behind attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lixian.core.task import TaskState
from lixian.ranges import RangeSet

__all__ = [
    "BtInfo",
    "FileInfo",
    "FileList",
    "GlobalStat",
    "PeerInfo",
    "TaskInfo",
    "UriInfo",
    "bitfield",
    "bools_hex",
]

PIECE_LENGTH = 1024 * 1024  # what HTTP tasks report as pieceLength (AriaNg draws its map from it)


@dataclass(frozen=True, slots=True)
class UriInfo:
    uri: str
    status: str  # "used" or "waiting", as aria2 says


@dataclass(frozen=True, slots=True)
class FileInfo:
    index: int  # 1-based, as aria2
    path: Path | None
    length: int
    completed_length: int
    selected: bool
    uris: tuple[UriInfo, ...]


class FileList(Sequence[FileInfo]):
    """A torrent's files, built a page at a time: ``len`` and slices are cheap, so
    ``lixian.listFiles`` pages through 100,000 files without building every row (iterating
    builds them all, as ``getFiles`` must)."""

    __slots__ = ("_all", "_count", "_page")

    def __init__(self, count: int, page: Callable[[int, int], Sequence[FileInfo]]) -> None:
        self._count = count
        self._page = page
        self._all: tuple[FileInfo, ...] | None = None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int | slice) -> FileInfo | tuple[FileInfo, ...]:  # type: ignore[override]
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step != 1:
                return self._rows()[index]
            return tuple(self._page(start, max(0, stop - start)))
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._page(index, 1)[0]

    def __iter__(self) -> Iterator[FileInfo]:
        return iter(self._rows())

    def _rows(self) -> tuple[FileInfo, ...]:
        if self._all is None:
            self._all = tuple(self._page(0, self._count))
        return self._all

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileList):
            return self is other or self._rows() == other._rows()
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class BtInfo:
    """What aria2 reports for a torrent: ``infoHash``, ``numSeeders``, ``seeder`` and the
    ``bittorrent`` struct (no ``info`` for a magnet's metadata task)."""

    info_hash: str
    num_seeders: int
    seeder: bool | None  # None when not running (aria2 then leaves the key out)
    name: str | None  # bittorrent.info.name; None until the metadata is known
    announce_list: tuple[tuple[str, ...], ...]
    creation_date: int | None
    comment: str
    mode: str  # "single" | "multi" | "" (metadata task)


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """One connected peer (``aria2.getPeers``)."""

    ip: str
    port: int
    peer_id: bytes
    download_speed: int
    upload_speed: int
    seeder: bool
    am_choking: bool
    peer_choking: bool
    bitfield: str  # aria2's hex


@dataclass(frozen=True, slots=True)
class TaskInfo:
    gid: str
    state: TaskState
    total_length: int
    completed_length: int
    upload_length: int
    download_speed: int
    upload_speed: int
    connections: int
    piece_length: int
    num_pieces: int
    bitfield: str  # hex, aria2's form; "" when nothing is known
    error_code: int
    error_message: str
    dir: Path
    files: Sequence[FileInfo]  # a tuple, or a FileList for a torrent
    paused_reason: str = ""
    # lixian's own detail: phase while verifying/uploading, sha256, verdict, delivery.
    lixian: Mapping[str, object] | None = None
    bt: BtInfo | None = None
    following: str | None = None  # the GID this download follows (a magnet's metadata task)
    followed_by: tuple[str, ...] = ()  # GIDs started by this one (aria2's followedBy)
    belongs_to: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalStat:
    download_speed: int
    upload_speed: int
    num_active: int
    num_waiting: int
    num_stopped: int
    num_stopped_total: int


def bitfield(done: RangeSet, total: int, piece_length: int = PIECE_LENGTH) -> tuple[str, int]:
    """aria2's bitfield: one bit per piece, high bit first, hex; and the piece count."""
    if total <= 0:
        return "", 0
    pieces = (total + piece_length - 1) // piece_length
    bits = bytearray((pieces + 7) // 8)
    for start, end in done:
        first = (start + piece_length - 1) // piece_length  # only whole pieces count
        last = end // piece_length if end < total else pieces
        for piece in range(first, last):
            bits[piece // 8] |= 0x80 >> (piece % 8)
    return bits.hex(), pieces


def bools_hex(bits: Sequence[bool]) -> str:
    """aria2's hex bitfield from one bool per piece (piece 0 is the first byte's high bit)."""
    if not bits:
        return ""
    out = bytearray((len(bits) + 7) // 8)
    for i, have in enumerate(bits):
        if have:
            out[i >> 3] |= 0x80 >> (i & 7)
    return out.hex()
