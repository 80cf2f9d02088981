"""What the core hands the BitTorrent engine, and what it gets back.

Kept apart from ``download.py`` so the core can build and persist these without the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lixian.engines.bt.config import BtOptions
from lixian.engines.bt.events import BtEvent
from lixian.engines.bt.torrent import MagnetLink, TorrentMeta

__all__ = ["BtJob", "BtResult", "FileSnapshot"]


@dataclass(frozen=True, slots=True)
class BtJob:
    """What to download and how; ``resume_data``/``finished_pieces`` come from the store."""

    source: TorrentMeta | MagnetLink
    directory: Path
    options: BtOptions = field(default_factory=BtOptions)
    resume_data: bytes | None = None
    finished_pieces: tuple[int, ...] = ()  # passed their hash after resume_data was saved
    web_seeds: tuple[str, ...] = ()  # aria2.addTorrent's uris
    on_event: Callable[[BtEvent], None] | None = None


@dataclass(frozen=True, slots=True)
class BtResult:
    info_hash: str
    name: str
    path: Path | None  # the file or top directory; None when only metadata was fetched
    total_length: int  # of the selected files
    completed_length: int
    uploaded: int
    downloaded: int
    seeded_seconds: float
    metadata_only: bool = False  # a magnet stopped after its metadata (--bt-metadata-only...)
    torrent: bytes | None = None  # the .torrent (built from a magnet's metadata)
    metadata_path: Path | None = None  # --bt-save-metadata's file
    resume_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class FileSnapshot:
    index: int  # aria2's 1-based
    path: Path
    length: int
    completed_length: int
    selected: bool
