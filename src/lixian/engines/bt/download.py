"""One torrent as a lixian task: the BitTorrent engine's counterpart of ``HttpDownload``.

Theory of operation
-------------------
``run()`` walks four phases and returns a :class:`BtResult` (or raises a LixianError):

1. **metadata** (magnets only): the torrent is added in libtorrent's *upload mode*, so not one
   byte is requested until the info dict has arrived and every name in it is made safe and
   confined (renames and priorities are applied first, then upload mode is lifted). The core
   hears :class:`~lixian.engines.bt.events.MetadataReceived`: aria2 ends the ``[METADATA]``
   task there and starts a ``followedBy`` one. ``--bt-metadata-only`` and ``--pause-metadata``
   return here, with the .torrent in the result.
2. **checking**: libtorrent verifies existing data (skipped with resume data, forced by
   ``--check-integrity``).
3. **downloading** until every selected piece passed its hash:
   :class:`~lixian.engines.bt.events.DownloadComplete` (aria2's ``onBtDownloadComplete``).
4. **seeding** until ``--seed-time`` (minutes, 0 = not at all) or ``--seed-ratio`` holds.

Cancelling ``run()`` (the core's pause or shutdown) saves resume data into ``resume_data``
and takes the torrent out of the session, files closed. ``pause()``/``resume()`` instead keep
it in the session, stopped.

Crash safety: the core persists ``await save_resume_data()`` now and then, and between saves
the pieces :meth:`BtDownload.drain_finished_pieces` hands it (each passed its hash and sits
in the page cache, which survives kill -9). A restart passes both back in :class:`BtJob`;
libtorrent trusts them without a recheck, so only the pieces in flight at the kill are
fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from lixian.engines.bt.config import BtOptions
from lixian.engines.bt.events import (
    BtEvent,
    DownloadComplete,
    FilesUpdate,
    MetadataArrived,
    MetadataReceived,
    PeerSnapshot,
    PeersUpdate,
    PieceFinished,
    StatusUpdate,
    TorrentEvent,
    TorrentFailed,
    TorrentFinished,
    TorrentStatus,
    TrackerSnapshot,
    TrackersUpdate,
)
from lixian.engines.bt.job import BtJob, BtResult, FileSnapshot
from lixian.engines.bt.model import AddSpec
from lixian.engines.bt.session import BtSession, TorrentRef
from lixian.engines.bt.torrent import (
    MagnetLink,
    TorrentMeta,
    file_priorities,
    piece_priorities,
    plan_paths,
    torrent_from_metadata,
)
from lixian.engines.bt.trackers import merge_trackers
from lixian.errors import CannotCreateDir, LixianError, StorageError
from lixian.ranges import RangeSet
from lixian.storage.paths import confine

__all__ = ["BtDownload", "BtJob", "BtResult", "FileSnapshot"]

_STOP_TIMEOUT = 10.0  # resume data + removal when a run is cancelled


class BtDownload:
    """One torrent through its phases; live properties are snapshots the adapter refreshes."""

    def __init__(self, job: BtJob, session: BtSession) -> None:
        self.job = job
        self.options = job.options
        self._session = session
        self.meta: TorrentMeta | None = job.source if isinstance(job.source, TorrentMeta) else None
        self.phase = "waiting"  # metadata | checking | downloading | seeding | paused | done
        self.status: TorrentStatus | None = None
        self.peers: tuple[PeerSnapshot, ...] = ()
        self.trackers: tuple[TrackerSnapshot, ...] = ()
        self.announce_list: tuple[tuple[str, ...], ...] = ()
        self.resume_data: bytes | None = job.resume_data
        self.piece_log: list[int] = []  # every piece that passed, in order, this run
        self._pieces_since: list[int] = list(job.finished_pieces)
        self._file_done: tuple[int, ...] = ()
        self._metadata: bytes | None = None
        self._finished = False
        self._error: LixianError | None = None
        self._ref: TorrentRef | None = None
        self._changed = asyncio.Event()
        self._files_cache: tuple[FileSnapshot, ...] | None = None

    # ---- live progress, read by the core (same names as HttpDownload) ----

    @property
    def info_hash(self) -> str:
        return self.job.source.info_hash

    @property
    def name(self) -> str:
        if self.meta is not None:
            return self.meta.name
        assert isinstance(self.job.source, MagnetLink)
        return self.job.source.name or self.info_hash

    @property
    def path(self) -> Path | None:
        meta = self.meta
        if meta is None:
            return None
        if meta.mode == "single":
            return self.job.directory / self.files[0].path if self.files else None
        return self.job.directory / meta.name

    @property
    def total_length(self) -> int | None:
        """Bytes of the selected files (aria2's ``totalLength`` for a torrent)."""
        if self.meta is None:
            return None
        picked = self.options.select_file
        if picked is None:
            return self.meta.content_length
        sizes = self.meta.loaded.sizes
        return sum(sizes[i - 1] for i in picked if 0 < i <= len(sizes))

    @property
    def completed_length(self) -> int:
        """Verified bytes of the selected files (libtorrent counts whole boundary pieces,
        so with --select-file the files' own progress is summed)."""
        total = self.total_length
        if total is None or self.status is None:
            return 0
        if self._finished:
            return total
        if self.options.select_file is None:
            return min(total, self.status.total_wanted_done)
        picked, done = self.options.select_file, self._file_done
        return sum(done[i] for i in range(len(done)) if i + 1 in picked)

    @property
    def received(self) -> int:
        return self.status.total_payload_download if self.status is not None else 0

    @property
    def connections(self) -> int:
        return self.status.num_peers if self.status is not None else 0

    @property
    def done_ranges(self) -> RangeSet:
        """Verified bytes in the torrent's byte stream (every file, selected or not)."""
        done = RangeSet()
        bits = self.status.pieces if self.status is not None else None
        if self.meta is None or bits is None:
            return done
        size, total = self.meta.piece_length, self.meta.total_length
        for i, have in enumerate(bits):
            if have:
                done.add(i * size, min(total, (i + 1) * size))
        return done

    # ---- BitTorrent's own (aria2's tellStatus/getFiles/getPeers fields) ----

    @property
    def piece_length(self) -> int:
        return self.meta.piece_length if self.meta is not None else 0

    @property
    def num_pieces(self) -> int:
        return self.meta.num_pieces if self.meta is not None else 0

    @property
    def bitfield(self) -> str:
        """aria2's hex bitfield: piece 0 is the high bit of the first byte."""
        bits = self.status.pieces if self.status is not None else None
        if not bits:
            return ""
        text = bytes(bits).translate(_BIT_CHARS).decode().ljust(-(-len(bits) // 8) * 8, "0")
        return f"{int(text, 2):0{len(text) // 4}x}"

    @property
    def num_seeders(self) -> int:
        return self.status.num_seeds if self.status is not None else 0

    @property
    def seeder(self) -> bool:
        return self.status is not None and self.status.is_finished and self.status.has_metadata

    @property
    def upload_length(self) -> int:
        return _uploaded(self.status)

    @property
    def download_speed(self) -> int:
        return self.status.download_rate if self.status is not None else 0

    @property
    def upload_speed(self) -> int:
        return self.status.upload_rate if self.status is not None else 0

    @property
    def creation_date(self) -> int | None:
        return self.meta.loaded.creation_date if self.meta is not None else None

    @property
    def comment(self) -> str:
        return self.meta.loaded.comment if self.meta is not None else ""

    @property
    def mode(self) -> str:
        return self.meta.mode if self.meta is not None else ""

    @property
    def files(self) -> tuple[FileSnapshot, ...]:
        """Every file (cached between file-progress updates; page with :meth:`files_page`)."""
        if self._files_cache is None:
            self._files_cache = tuple(self.files_page(0, None))
        return self._files_cache

    def files_page(self, offset: int, limit: int | None) -> list[FileSnapshot]:
        meta = self.meta
        if meta is None:
            return []
        picked = self.options.select_file
        done = self._file_done
        renamed = dict(self.options.index_out)
        out = []
        for f in meta.list_files(offset, limit):
            rel = renamed.get(f.index, f.path)
            completed = done[f.index - 1] if f.index - 1 < len(done) else 0
            selected = picked is None or f.index in picked
            out.append(
                FileSnapshot(f.index, self.job.directory / rel, f.length, completed, selected)
            )
        return out

    def drain_finished_pieces(self) -> list[int]:
        """Pieces that passed their hash since the last drain (for the store, with the
        resume data they complete)."""
        pieces, self._pieces_since = self._pieces_since, []
        return pieces

    # ---- control ----

    async def save_resume_data(self) -> bytes:
        """Fresh resume data (the info dict included). Pieces drained before this call are
        in it; later ones may be too (harmless)."""
        if self._ref is None:
            if self.resume_data is None:
                raise LixianError("no resume data: the torrent is not running")
            return self.resume_data
        self.resume_data = await self._ref.save_resume_data()
        return self.resume_data

    async def pause(self) -> None:
        if self._ref is not None:
            await self._ref.pause()
            self.phase = "paused"
            self._changed.set()

    async def resume(self) -> None:
        if self._ref is not None:
            await self._ref.resume()
            self.phase = "seeding" if self._finished else "downloading"
            self._changed.set()

    async def apply(self, options: BtOptions) -> None:
        """Options a running torrent takes live (limits, peers, sequential)."""
        self.options = options
        if self._ref is not None:
            await self._ref.set_limits(
                options.max_upload_limit, options.max_download_limit, options.max_peers
            )
            await self._ref.set_sequential(options.sequential)

    # ---- the run ----

    async def run(self) -> BtResult:
        try:
            # Disk work (the dir, confining every path) off the loop: 100,000 files take ~0.1 s.
            spec = await asyncio.to_thread(self._prepare)
            self._ref = await self._session.add(spec, self._on_events)
            if self.meta is None:
                early = await self._metadata_phase()
                if early is not None:
                    return early
            self.phase = "downloading"
            await self._until(lambda: self._finished)
            await self._refresh()  # the last update may predate the end
            self._emit(DownloadComplete(self.info_hash))
            self.phase = "seeding"
            await self._until(self._seeding_done, poll=True)
            self.resume_data = await self.save_resume_data()
            await self._refresh()
            return self._result()
        except asyncio.CancelledError:
            if self._ref is not None:
                with contextlib.suppress(LixianError, TimeoutError):
                    self.resume_data = await asyncio.wait_for(
                        self._ref.save_resume_data(), _STOP_TIMEOUT
                    )
            raise
        finally:
            ref, self._ref = self._ref, None
            if ref is not None:
                with contextlib.suppress(LixianError):  # the session may have closed first
                    await asyncio.shield(ref.remove())
            if self.phase == "seeding" and self.options.remove_unselected_file:
                await asyncio.to_thread(self._remove_unselected)
            self.phase = "done"

    async def _refresh(self) -> None:
        assert self._ref is not None
        self.status, self._file_done = await self._ref.refresh()
        self._files_cache = None

    def _prepare(self) -> AddSpec:
        try:
            self.job.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotCreateDir(f"cannot create {self.job.directory}: {exc}") from exc
        return self._add_spec()

    def _add_spec(self) -> AddSpec:
        opts, source = self.options, self.job.source
        private = isinstance(source, TorrentMeta) and source.private
        tiers = merge_trackers(
            source.trackers,
            extra=opts.trackers,
            listed=opts.tracker_list,
            exclude=opts.exclude_trackers,
            private=private,
        )
        self.announce_list = tiers
        common = AddSpec(
            save_path=str(self.job.directory),
            trackers=tiers,
            web_seeds=(*source.web_seeds, *self.job.web_seeds),
            sequential=opts.sequential,
            disable_pex=not opts.enable_peer_exchange,
            max_connections=opts.max_peers,
            upload_limit=opts.max_upload_limit,
            download_limit=opts.max_download_limit,
            # --check-integrity: no resume data, so libtorrent hashes what is on disk.
            resume_data=None if opts.check_integrity else self.job.resume_data,
            extra_pieces=() if opts.check_integrity else tuple(self._pieces_since),
        )
        self._pieces_since = []
        if isinstance(source, MagnetLink):
            return replace(common, magnet=source.uri, upload_mode=True)
        return replace(
            common,
            torrent=source.loaded,
            renamed_files=plan_paths(source, self.job.directory, opts.index_out),
            file_priorities=self._file_priorities(source),
            piece_priorities=self._piece_priorities(source),
        )

    async def _metadata_phase(self) -> BtResult | None:
        assert isinstance(self.job.source, MagnetLink) and self._ref is not None
        self.phase = "metadata"
        info = await self._ref.info_section()
        if info is None:
            await self._until(lambda: self._metadata is not None)
            info = self._metadata
            assert info is not None
        meta = torrent_from_metadata(info, self.job.source)
        self.meta = meta
        self._files_cache = None
        metadata_path = None
        if self.options.save_metadata:
            metadata_path = self.job.directory / f"{meta.info_hash}.torrent"
            await asyncio.to_thread(metadata_path.write_bytes, meta.torrent)
        self._emit(MetadataReceived(meta.info_hash, meta.name, meta.torrent))
        if self.options.metadata_only or self.options.pause_metadata:
            return self._result(metadata_only=True, metadata_path=metadata_path)
        renames = await asyncio.to_thread(
            plan_paths, meta, self.job.directory, self.options.index_out
        )
        await self._ref.rename_files(renames)
        await self._ref.prioritize_files(self._file_priorities(meta))
        pieces = self._piece_priorities(meta)
        if pieces is not None:
            await self._ref.prioritize_pieces(pieces)
        await self._ref.set_upload_mode(False)
        return None

    def _file_priorities(self, meta: TorrentMeta) -> tuple[int, ...]:
        return file_priorities(meta, self.options.select_file)

    def _piece_priorities(self, meta: TorrentMeta) -> tuple[int, ...] | None:
        head, tail = self.options.prioritize.head, self.options.prioritize.tail
        if not head and not tail:
            return None
        return piece_priorities(meta, self._file_priorities(meta), head, tail)

    def _seeding_done(self) -> bool:
        st = self.status
        if st is None or self.phase == "paused":
            return False
        ratio = _uploaded(st) / max(1, st.total_wanted_done)
        return self.options.seeding_done(st.seeding_seconds, ratio)

    async def _until(self, done: Callable[[], bool], *, poll: bool = False) -> None:
        """Wait for ``done()``; a sticky torrent error ends the wait with that error."""
        while True:
            if self._error is not None:
                raise self._error
            if done():
                return
            self._changed.clear()
            if poll:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 1.0)
            else:
                await self._changed.wait()

    def _on_events(self, events: Sequence[TorrentEvent]) -> None:
        """(loop) A batch from the adapter thread."""
        for event in events:
            if isinstance(event, StatusUpdate):
                self.status = event.status
                if event.status.state.startswith("checking") and self.phase == "downloading":
                    self.phase = "checking"
                elif self.phase == "checking" and not event.status.state.startswith("checking"):
                    self.phase = "downloading"
                st = event.status
                if st.is_finished and st.has_metadata and not st.upload_mode and self.meta:
                    self._finished = True
            elif isinstance(event, PieceFinished):
                self._pieces_since.append(event.index)
                self.piece_log.append(event.index)
            elif isinstance(event, PeersUpdate):
                self.peers = event.peers
            elif isinstance(event, FilesUpdate):
                self._file_done = event.completed
                self._files_cache = None
            elif isinstance(event, TrackersUpdate):
                self.trackers = event.trackers
            elif isinstance(event, MetadataArrived):
                self._metadata = event.info_section
            elif isinstance(event, TorrentFinished):
                if self.meta is not None:
                    self._finished = True
            elif isinstance(event, TorrentFailed):
                self._error = self._error or event.error
        self._changed.set()

    def _emit(self, event: BtEvent) -> None:
        if self.job.on_event is not None:
            self.job.on_event(event)

    def _remove_unselected(self) -> None:
        """--bt-remove-unselected-file, once the torrent has left the session (it may still
        read boundary pieces of those files while seeding)."""
        for f in self.files:
            if f.selected:
                continue
            try:
                path = confine(self.job.directory, f.path.relative_to(self.job.directory))
                if path.is_file() and not path.is_symlink():
                    path.unlink()
            except (OSError, LixianError) as exc:
                raise StorageError(f"cannot remove unselected file {f.path}: {exc}") from exc
        parts = self.job.directory / f".{self.info_hash}.parts"
        with contextlib.suppress(OSError):
            parts.unlink()

    def _result(
        self, *, metadata_only: bool = False, metadata_path: Path | None = None
    ) -> BtResult:
        st = self.status
        meta = self.meta
        return BtResult(
            info_hash=self.info_hash,
            name=self.name,
            path=None if metadata_only else self.path,
            total_length=self.total_length or 0,
            completed_length=self.completed_length,
            uploaded=_uploaded(st),
            downloaded=max(st.all_time_download, st.total_payload_download) if st else 0,
            seeded_seconds=st.seeding_seconds if st is not None else 0.0,
            metadata_only=metadata_only,
            torrent=meta.torrent if meta is not None else None,
            metadata_path=metadata_path,
            resume_data=self.resume_data,
        )


_BIT_CHARS = bytes.maketrans(b"\x00\x01", b"01")


def _uploaded(st: TorrentStatus | None) -> int:
    """Payload sent, all sessions. libtorrent folds this session's bytes into its all-time
    counter only once a second, so a short run would read 0 without the max."""
    return max(st.all_time_upload, st.total_payload_upload) if st is not None else 0
