"""What the libtorrent adapter reports, as plain frozen values.

The adapter thread turns libtorrent's alerts and status objects into these before they cross
to the event loop, so nothing above ``session.py`` holds a libtorrent object or has to know
which of its calls block. Two families:

- :data:`TorrentEvent`: session -> :class:`~lixian.engines.bt.download.BtDownload` (one torrent's
  status, peers, files, trackers, pieces that passed their hash, metadata, completion, errors).
- :data:`BtEvent`: BtDownload -> the core, through ``BtJob.on_event``: the moments the task
  model needs (a magnet's metadata arrived: aria2's ``followedBy``; the download finished:
  ``onBtDownloadComplete``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lixian.errors import LixianError

__all__ = [
    "BtEvent",
    "DownloadComplete",
    "FileRenamed",
    "FilesUpdate",
    "HashFailed",
    "MetadataArrived",
    "MetadataReceived",
    "PeerSnapshot",
    "PeersUpdate",
    "PieceFinished",
    "StatusUpdate",
    "TorrentChecked",
    "TorrentEvent",
    "TorrentFailed",
    "TorrentFinished",
    "TorrentStatus",
    "TrackerSnapshot",
    "TrackersUpdate",
]


@dataclass(frozen=True, slots=True)
class TorrentStatus:
    """One torrent's numbers at one moment (libtorrent's ``torrent_status``, trimmed)."""

    state: str  # checking_files | downloading_metadata | downloading | finished | seeding | ...
    paused: bool
    upload_mode: bool
    has_metadata: bool
    total_wanted: int  # bytes of the selected files
    total_wanted_done: int
    total_done: int  # every verified byte, selected or not
    download_rate: int  # payload bytes/s
    upload_rate: int
    num_peers: int  # connected
    num_seeds: int  # connected seeds
    all_time_upload: int
    all_time_download: int
    total_payload_upload: int  # this session only
    total_payload_download: int
    pieces: tuple[bool, ...] | None  # None until metadata; refreshed every update
    num_pieces: int  # pieces we have
    seeding_seconds: float
    is_finished: bool  # every selected piece is here
    is_seeding: bool  # every piece is here
    error: str  # "" when fine
    total_failed_bytes: int
    total_redundant_bytes: int


@dataclass(frozen=True, slots=True)
class PeerSnapshot:
    ip: str
    port: int
    peer_id: bytes  # the raw 20 bytes
    client: str
    download_speed: int
    upload_speed: int
    seeder: bool
    progress: float
    am_choking: bool
    peer_choking: bool
    utp: bool
    incoming: bool
    pieces: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class TrackerSnapshot:
    url: str
    tier: int
    working: bool
    message: str
    seeders: int  # from the last scrape/announce, -1 when unknown
    leechers: int


# ---- session -> BtDownload ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    status: TorrentStatus


@dataclass(frozen=True, slots=True)
class PeersUpdate:
    peers: tuple[PeerSnapshot, ...]


@dataclass(frozen=True, slots=True)
class FilesUpdate:
    completed: tuple[int, ...]  # bytes done per file, libtorrent's order (0-based)


@dataclass(frozen=True, slots=True)
class TrackersUpdate:
    trackers: tuple[TrackerSnapshot, ...]


@dataclass(frozen=True, slots=True)
class PieceFinished:
    """A piece passed its hash check and was handed to the disk (durable across kill -9:
    libtorrent writes through mmap, so the page cache holds it even if the process dies)."""

    index: int


@dataclass(frozen=True, slots=True)
class HashFailed:
    index: int


@dataclass(frozen=True, slots=True)
class MetadataArrived:
    """A magnet's info dict, as received (its SHA-1 is the info-hash)."""

    info_section: bytes


@dataclass(frozen=True, slots=True)
class TorrentChecked:
    pass


@dataclass(frozen=True, slots=True)
class TorrentFinished:
    pass


@dataclass(frozen=True, slots=True)
class FileRenamed:
    index: int
    path: str


@dataclass(frozen=True, slots=True)
class TorrentFailed:
    """A sticky error: libtorrent paused the torrent; the task ends with ``error``."""

    error: LixianError


TorrentEvent = (
    StatusUpdate
    | PeersUpdate
    | FilesUpdate
    | TrackersUpdate
    | PieceFinished
    | HashFailed
    | MetadataArrived
    | TorrentChecked
    | TorrentFinished
    | FileRenamed
    | TorrentFailed
)


# ---- BtDownload -> core ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetadataReceived:
    """A magnet became a torrent. aria2 ends the ``[METADATA]`` task here and starts the
    real one (``followedBy``); ``torrent`` is the .torrent the core may persist."""

    info_hash: str
    name: str
    torrent: bytes


@dataclass(frozen=True, slots=True)
class DownloadComplete:
    """Every selected byte is here and verified (aria2's ``onBtDownloadComplete``);
    seeding may go on."""

    info_hash: str


BtEvent = MetadataReceived | DownloadComplete
