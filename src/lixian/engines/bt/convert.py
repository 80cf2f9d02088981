"""libtorrent's status, peer and tracker objects as lixian's plain values.

Runs on the adapter thread (session.py calls it); the shapes libtorrent must have are spelled
as Protocols, so mypy checks session.py's libtorrent objects against them without this module
importing libtorrent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from lixian.engines.bt.events import PeerSnapshot, TorrentStatus, TrackerSnapshot

__all__ = ["peer_snapshot", "torrent_status", "tracker_snapshot"]

# peer_info flag bits (libtorrent/peer_info.hpp); the bindings do not export utp_socket.
_CHOKED = 1 << 1  # we choke them
_REMOTE_CHOKED = 1 << 3  # they choke us
_OUTGOING = 1 << 5  # we connected to them
_SEED = 1 << 10
_UTP = 1 << 17


class _ErrorCode(Protocol):
    def value(self) -> int: ...
    def message(self) -> str: ...


class _Status(Protocol):
    @property
    def state(self) -> object: ...
    @property
    def has_metadata(self) -> bool: ...
    @property
    def total_wanted(self) -> int: ...
    @property
    def total_wanted_done(self) -> int: ...
    @property
    def total_done(self) -> int: ...
    @property
    def download_payload_rate(self) -> int: ...
    @property
    def upload_payload_rate(self) -> int: ...
    @property
    def num_peers(self) -> int: ...
    @property
    def num_seeds(self) -> int: ...
    @property
    def all_time_upload(self) -> int: ...
    @property
    def all_time_download(self) -> int: ...
    @property
    def total_payload_upload(self) -> int: ...
    @property
    def total_payload_download(self) -> int: ...
    @property
    def total_failed_bytes(self) -> int: ...
    @property
    def total_redundant_bytes(self) -> int: ...
    @property
    def pieces(self) -> Sequence[bool]: ...
    @property
    def num_pieces(self) -> int: ...
    @property
    def seeding_duration(self) -> timedelta: ...
    @property
    def is_finished(self) -> bool: ...
    @property
    def is_seeding(self) -> bool: ...
    @property
    def errc(self) -> _ErrorCode: ...


class _PeerId(Protocol):
    def to_bytes(self) -> bytes: ...


class _Peer(Protocol):
    @property
    def ip(self) -> tuple[str, int]: ...
    @property
    def pid(self) -> _PeerId: ...
    @property
    def client(self) -> bytes: ...
    @property
    def flags(self) -> int: ...
    @property
    def progress(self) -> float: ...
    @property
    def payload_down_speed(self) -> int: ...
    @property
    def payload_up_speed(self) -> int: ...
    @property
    def pieces(self) -> Sequence[bool]: ...


def torrent_status(st: _Status, *, paused: bool, upload_mode: bool) -> TorrentStatus:
    errc = st.errc
    return TorrentStatus(
        state=str(st.state),
        paused=paused,
        upload_mode=upload_mode,
        has_metadata=st.has_metadata,
        total_wanted=st.total_wanted,
        total_wanted_done=st.total_wanted_done,
        total_done=st.total_done,
        download_rate=st.download_payload_rate,
        upload_rate=st.upload_payload_rate,
        num_peers=st.num_peers,
        num_seeds=st.num_seeds,
        all_time_upload=st.all_time_upload,
        all_time_download=st.all_time_download,
        total_payload_upload=st.total_payload_upload,
        total_payload_download=st.total_payload_download,
        pieces=tuple(st.pieces) if st.has_metadata else None,
        num_pieces=st.num_pieces,
        seeding_seconds=st.seeding_duration.total_seconds(),
        is_finished=st.is_finished,
        is_seeding=st.is_seeding,
        error=errc.message() if errc.value() else "",
        total_failed_bytes=st.total_failed_bytes,
        total_redundant_bytes=st.total_redundant_bytes,
    )


def peer_snapshot(p: _Peer) -> PeerSnapshot:
    ip, port = p.ip
    client = p.client
    return PeerSnapshot(
        ip=ip,
        port=port,
        peer_id=p.pid.to_bytes(),
        client=client.decode("utf-8", "replace") if isinstance(client, bytes) else str(client),
        download_speed=p.payload_down_speed,
        upload_speed=p.payload_up_speed,
        seeder=bool(p.flags & _SEED),
        progress=p.progress,
        am_choking=bool(p.flags & _CHOKED),
        peer_choking=bool(p.flags & _REMOTE_CHOKED),
        utp=bool(p.flags & _UTP),
        incoming=not p.flags & _OUTGOING,
        pieces=tuple(p.pieces),
    )


def tracker_snapshot(entry: Mapping[str, Any]) -> TrackerSnapshot:
    """One of ``torrent_handle.trackers()``'s dicts (per listen socket "endpoints" inside)."""
    endpoints = entry.get("endpoints") or []
    working = any(e.get("fails", 1) == 0 and e.get("start_sent") for e in endpoints)
    message = next((str(e.get("message")) for e in endpoints if e.get("message")), "")
    return TrackerSnapshot(
        url=str(entry["url"]),
        tier=int(entry.get("tier", 0)),
        working=working,
        message=message,
        seeders=max((int(e.get("scrape_complete", -1)) for e in endpoints), default=-1),
        leechers=max((int(e.get("scrape_incomplete", -1)) for e in endpoints), default=-1),
    )
