"""Plain values that cross the libtorrent boundary inward: parsed torrents and add requests.

``session.py`` fills :class:`LoadedTorrent` and :class:`LoadedMagnet` from libtorrent's parsers
and turns an :class:`AddSpec` into libtorrent's ``add_torrent_params``; everything else reads
and writes these without touching libtorrent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["AddSpec", "LoadedMagnet", "LoadedTorrent", "TorrentLimits"]


@dataclass(frozen=True, slots=True)
class TorrentLimits:
    """What a .torrent may hold. 100,000 files is ~5 MB and ~600,000 tokens: well inside."""

    max_size: int = 64 << 20
    max_decode_tokens: int = 10_000_000
    max_pieces: int = 1 << 22
    max_decode_depth: int = 100


@dataclass(frozen=True, slots=True)
class LoadedTorrent:
    """A parsed torrent as plain columns (fast for 100,000 files), plus the opaque info."""

    info: object  # libtorrent.torrent_info, opaque outside session.py
    info_hash: str  # 40 hex: v1, or v2 truncated (what trackers and aria2 show)
    info_hash_v2: str | None
    name: str
    piece_length: int
    num_pieces: int
    total_length: int
    paths: tuple[str, ...]  # libtorrent's (already stripped of "..", "/" and controls)
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    pad: tuple[bool, ...]
    trackers: tuple[tuple[str, ...], ...]  # tiers
    web_seeds: tuple[str, ...]
    comment: str
    created_by: str
    creation_date: int | None
    private: bool
    info_section: bytes


@dataclass(frozen=True, slots=True)
class LoadedMagnet:
    uri: str
    info_hash: str
    info_hash_v2: str | None
    name: str
    trackers: tuple[tuple[str, ...], ...]
    web_seeds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddSpec:
    """How to add one torrent; built by BtDownload from its job."""

    save_path: str
    torrent: LoadedTorrent | None = None
    magnet: str | None = None
    resume_data: bytes | None = None
    extra_pieces: tuple[int, ...] = ()  # passed their hash after resume_data was saved
    renamed_files: Mapping[int, str] = field(default_factory=dict)
    file_priorities: tuple[int, ...] | None = None
    piece_priorities: tuple[int, ...] | None = None
    trackers: tuple[tuple[str, ...], ...] = ()  # replaces the torrent's own
    web_seeds: tuple[str, ...] = ()
    upload_mode: bool = False  # hold a magnet until its names are made safe
    sequential: bool = False
    paused: bool = False
    disable_pex: bool = False
    max_connections: int = 0  # 0 = unlimited
    upload_limit: int = 0
    download_limit: int = 0
