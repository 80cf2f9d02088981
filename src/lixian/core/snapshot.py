"""Frozen snapshots of tasks: what front doors read, never live objects.

The core holds ints, enums and Paths; the RPC door turns these into aria2's string
shapes (``rpc/schema.py``), the CLI into tables. No hidden I/O behind attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lixian.core.task import TaskState
from lixian.ranges import RangeSet

__all__ = ["FileInfo", "GlobalStat", "TaskInfo", "UriInfo", "bitfield"]

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
    files: tuple[FileInfo, ...]
    paused_reason: str = ""
    # lixian's own detail: phase while verifying/uploading, sha256, verdict, delivery.
    lixian: Mapping[str, object] | None = None


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
