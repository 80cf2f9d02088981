"""What the core keeps of a torrent task, and the snapshot doors read of it.

A torrent task is a ``Task`` like any other (same states, queue, options); ``BtTask`` holds
what BitTorrent adds: the .torrent bytes (or, for a magnet's ``[METADATA]`` task, the magnet),
the aria2 links between tasks (``following``/``followedBy``/``belongsTo``), and the resume
data the engine hands back. ``bt_task_info`` builds aria2's view of it (``infoHash``,
``bittorrent``, ``numSeeders``, ``seeder``, files) from the running ``BtDownload`` when there
is one, else from the parsed torrent and what the store kept.

Files are a ``FileList``: a 100,000-file torrent is paged (``lixian.listFiles``), never built
whole unless a client asks for every file.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

from lixian.core.snapshot import BtInfo, FileInfo, FileList, PeerInfo, bitfield, bools_hex
from lixian.core.task import TaskState
from lixian.engines.bt.config import parse_index_out, parse_select_file
from lixian.errors import BadOption
from lixian.ranges import RangeSet

if TYPE_CHECKING:  # libtorrent loads with the first torrent, not with every lixian command
    from lixian.core.runner import TaskView
    from lixian.engines.bt.download import BtDownload
    from lixian.engines.bt.torrent import MagnetLink, TorrentMeta

__all__ = [
    "METADATA_PIECE",
    "BtTask",
    "bt_engine",
    "bt_task_info",
    "file_prefix",
    "is_magnet",
    "peers_of",
    "selected_length",
    "torrent_files",
    "torrent_name",
]

METADATA_PIECE = 16 * 1024  # what aria2 reports as a metadata task's pieceLength (BEP 9 blocks)


def is_magnet(text: str) -> bool:
    return text[:8].lower() == "magnet:?"


def bt_engine(view: TaskView) -> BtDownload | None:
    """A torrent task's engine (a torrent task's engine is always a ``BtDownload``)."""
    if view.bt is None or view.engine is None:
        return None
    return cast("BtDownload", view.engine)


def _parse_torrent(data: bytes) -> TorrentMeta:
    from lixian.engines.bt.torrent import parse_torrent

    return parse_torrent(data)


def _parse_magnet(uri: str) -> MagnetLink:
    from lixian.engines.bt.torrent import parse_magnet

    return parse_magnet(uri)


@dataclass(slots=True)
class BtTask:
    """A torrent task's BitTorrent side (``TaskView.bt``)."""

    torrent: bytes | None = None  # the .torrent; None for a magnet's metadata task
    magnet: MagnetLink | None = None  # set for a metadata task
    web_seeds: tuple[str, ...] = ()
    following: str | None = None  # (followedBy is the view's: an HTTP task may have one)
    belongs_to: str | None = None
    metadata_length: int = 0  # a finished metadata task: the info dict's size
    upload_length: int = 0  # bytes uploaded, all runs, as of the last stop
    resume_data: bytes | None = None  # the last the engine handed back (also in the store)
    pieces: list[int] = field(default_factory=list)  # passed since resume_data was saved
    _meta: TorrentMeta | None = None
    _spans: dict[str, tuple[int, int]] | None = None  # relative path -> (offset, length)

    @classmethod
    def from_torrent(cls, data: bytes, web_seeds: Sequence[str] = ()) -> BtTask:
        """Parse and keep ``data``; raises BencodeError (25) or BadTorrent (26)."""
        meta = _parse_torrent(data)
        return cls(torrent=bytes(data), web_seeds=tuple(web_seeds), _meta=meta)

    @classmethod
    def from_magnet(cls, uri: str) -> BtTask:
        """Raises BadMagnet (27)."""
        return cls(magnet=_parse_magnet(uri))

    @property
    def is_metadata(self) -> bool:
        return self.torrent is None

    @property
    def meta(self) -> TorrentMeta | None:
        if self._meta is None and self.torrent is not None:
            self._meta = _parse_torrent(self.torrent)
        return self._meta

    @property
    def source(self) -> TorrentMeta | MagnetLink:
        meta = self.meta
        if meta is not None:
            return meta
        assert self.magnet is not None
        return self.magnet

    @property
    def info_hash(self) -> str:
        return self.source.info_hash

    def extra(self) -> dict[str, object]:
        """What the task row keeps (the .torrent itself lives in its own table)."""
        out: dict[str, object] = {}
        if self.following:
            out["following"] = self.following
        if self.belongs_to:
            out["belongsTo"] = self.belongs_to
        if self.web_seeds:
            out["webSeeds"] = list(self.web_seeds)
        if self.metadata_length:
            out["metadataLength"] = self.metadata_length
        if self.upload_length:
            out["uploadLength"] = self.upload_length
        return out

    @classmethod
    def restore(
        cls, extra: dict[str, object], uris: Sequence[str], torrent: bytes | None
    ) -> BtTask:
        seeds = extra.get("webSeeds")
        return cls(
            torrent=torrent,
            magnet=_parse_magnet(uris[0]) if torrent is None and uris else None,
            web_seeds=tuple(str(s) for s in seeds) if isinstance(seeds, list) else (),
            following=_text(extra.get("following")),
            belongs_to=_text(extra.get("belongsTo")),
            metadata_length=_number(extra.get("metadataLength")),
            upload_length=_number(extra.get("uploadLength")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: object) -> int:
    return value if isinstance(value, int) else 0


def _selection(options: dict[str, object]) -> frozenset[int] | None:
    raw = options.get("select-file")
    if not raw:
        return None
    try:
        return parse_select_file(str(raw))
    except BadOption:
        return None


def selected_length(meta: TorrentMeta, options: dict[str, object]) -> int:
    """aria2's ``totalLength`` of a torrent: the selected files' bytes."""
    picked = _selection(options)
    sizes, pad = meta.loaded.sizes, meta.loaded.pad
    if picked is None:
        return meta.content_length
    return sum(sizes[i - 1] for i in picked if 0 < i <= len(sizes) and not pad[i - 1])


def torrent_name(bt: BtTask) -> str:
    """aria2's ``bittorrent.info.name``, or for a metadata task its ``[METADATA]`` label."""
    meta = bt.meta
    if meta is not None:
        return meta.name
    assert bt.magnet is not None
    return f"[METADATA]{bt.magnet.name or bt.magnet.info_hash}"


# ---- the snapshot -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtNumbers:
    """A torrent task's numbers at one moment, from whichever source has them."""

    total: int
    completed: int
    piece_length: int
    num_pieces: int
    bitfield: str
    connections: int
    upload_length: int
    upload_speed: int
    files: Sequence[FileInfo]
    bt: BtInfo


def bt_task_info(view: TaskView, directory: Path) -> BtNumbers:
    bt = view.bt
    assert bt is not None
    engine = bt_engine(view)
    running = engine is not None and view.task.state is TaskState.ACTIVE
    if bt.is_metadata:
        active = view.task.state is TaskState.ACTIVE
        return _metadata_numbers(view, bt, engine if running else None, active)
    meta = bt.meta
    assert meta is not None
    if running and engine is not None and engine.meta is not None:
        return _engine_numbers(bt, engine)
    options = view.task.options
    total = selected_length(meta, options)
    complete = view.task.state is TaskState.COMPLETE
    ranges = None if complete else view.saved_ranges
    if complete:
        bits, pieces = bitfield(
            RangeSet([(0, meta.total_length)]), meta.total_length, meta.piece_length
        )
        done = total
    else:
        bits, pieces = (
            bitfield(ranges, meta.total_length, meta.piece_length)
            if ranges
            else ("", meta.num_pieces)
        )
        done = min(total, view.saved_completed)
    files = torrent_files(meta, options, directory, complete, ranges)
    info = _bt_info(bt, meta, None, running=False)
    return BtNumbers(
        total, done, meta.piece_length, pieces, bits, 0, bt.upload_length, 0, files, info
    )


def _bt_info(
    bt: BtTask, meta: TorrentMeta | None, engine: BtDownload | None, *, running: bool
) -> BtInfo:
    if engine is not None and engine.announce_list:
        announce = engine.announce_list
    elif meta is not None:
        announce = meta.trackers
    else:
        assert bt.magnet is not None
        announce = bt.magnet.trackers
    return BtInfo(
        info_hash=bt.info_hash,
        num_seeders=engine.num_seeders if engine is not None else 0,
        seeder=(engine.seeder if engine is not None else False) if running else None,
        name=meta.name if meta is not None else None,
        announce_list=announce,
        creation_date=meta.loaded.creation_date if meta is not None else None,
        comment=meta.loaded.comment if meta is not None else "",
        mode=meta.mode if meta is not None else "",
    )


def _engine_numbers(bt: BtTask, engine: BtDownload) -> BtNumbers:
    meta = engine.meta
    assert meta is not None

    def page(offset: int, limit: int) -> list[FileInfo]:
        return [
            FileInfo(f.index, f.path, f.length, f.completed_length, f.selected, ())
            for f in engine.files_page(offset, limit)
        ]

    return BtNumbers(
        total=engine.total_length or 0,
        completed=engine.completed_length,
        piece_length=engine.piece_length,
        num_pieces=engine.num_pieces,
        bitfield=engine.bitfield or "0" * (-(-engine.num_pieces // 8) * 2),
        connections=engine.connections,
        upload_length=max(bt.upload_length, engine.upload_length),  # all-time, resume data
        upload_speed=engine.upload_speed,
        files=FileList(meta.num_files, page),
        bt=_bt_info(bt, meta, engine, running=True),
    )


def _metadata_numbers(
    view: TaskView, bt: BtTask, engine: BtDownload | None, active: bool
) -> BtNumbers:
    """aria2's ``[METADATA]`` task: nothing known but the info-hash until the info dict
    arrives; then complete, its length the info dict's."""
    length = bt.metadata_length if view.task.state is TaskState.COMPLETE else 0
    pieces = math.ceil(length / METADATA_PIECE)
    bits = bools_hex([True] * pieces)
    label = Path(torrent_name(bt))
    file = FileInfo(1, label, length, length, True, ())
    return BtNumbers(
        total=length,
        completed=length,
        piece_length=METADATA_PIECE,
        num_pieces=pieces,
        bitfield=bits,
        connections=engine.connections if engine is not None else 0,
        upload_length=0,
        upload_speed=0,
        files=(file,),
        bt=_bt_info(bt, None, engine, running=active),
    )


def _renamed(options: dict[str, object]) -> dict[int, str]:
    raw = options.get("index-out")
    items = (raw,) if isinstance(raw, str) else tuple(str(i) for i in raw or ())  # type: ignore[attr-defined]
    try:
        return dict(parse_index_out(items))
    except BadOption:
        return {}


def file_prefix(view: TaskView, path: Path, directory: Path) -> int | None:
    """How many bytes of a torrent's file at ``path`` are verified from its start, for
    streaming it while it downloads; None when the whole file is there (or unknown)."""
    bt = view.bt
    if bt is None or view.task.state is TaskState.COMPLETE:
        return None
    meta = bt.meta
    if meta is None:
        return 0
    if bt._spans is None:
        renamed = _renamed(view.task.options)
        bt._spans = {renamed.get(f.index, f.path): (f.offset, f.length) for f in meta.list_files()}
    engine = bt_engine(view)
    if engine is not None and view.task.state is TaskState.ACTIVE:
        directory, ranges = engine.job.directory, engine.done_ranges
    else:
        ranges = view.saved_ranges or RangeSet()
    try:
        rel = path.relative_to(directory.resolve()).as_posix()
    except ValueError:
        try:
            rel = path.relative_to(directory).as_posix()
        except ValueError:
            return None
    span = bt._spans.get(rel)
    if span is None:
        return None
    offset, length = span
    for start, end in ranges:
        if start <= offset < end:
            return min(end, offset + length) - offset
    return 0


def torrent_files(
    meta: TorrentMeta,
    options: dict[str, object],
    directory: Path,
    complete: bool,
    ranges: RangeSet | None,
) -> FileList:
    """A stopped or waiting torrent's files, from the torrent and the byte ranges stored."""
    picked = _selection(options)
    renamed = _renamed(options)
    starts: list[int] = []
    ends: list[int] = []
    for start, end in ranges or ():
        starts.append(start)
        ends.append(end)

    def done(offset: int, length: int) -> int:
        total = 0
        i = max(0, bisect.bisect_right(starts, offset) - 1)
        while i < len(starts) and starts[i] < offset + length:
            total += max(0, min(ends[i], offset + length) - max(starts[i], offset))
            i += 1
        return total

    def page(offset: int, limit: int) -> list[FileInfo]:
        out = []
        for f in meta.list_files(offset, limit):
            selected = picked is None or f.index in picked
            completed = f.length if complete and selected else done(f.offset, f.length)
            path = directory / renamed.get(f.index, f.path)
            out.append(FileInfo(f.index, path, f.length, completed, selected, ()))
        return out

    return FileList(meta.num_files, page)


def peers_of(view: TaskView) -> tuple[PeerInfo, ...]:
    """The peers of a running torrent (``aria2.getPeers``)."""
    engine = bt_engine(view)
    if engine is None:
        return ()
    return tuple(
        PeerInfo(
            ip=p.ip,
            port=p.port,
            peer_id=p.peer_id,
            download_speed=p.download_speed,
            upload_speed=p.upload_speed,
            seeder=p.seeder,
            am_choking=p.am_choking,
            peer_choking=p.peer_choking,
            bitfield=bools_hex(p.pieces),
        )
        for p in engine.peers
    )
