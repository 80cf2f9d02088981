"""The one libtorrent session per process, behind an adapter thread.

Theory of operation
-------------------
libtorrent's API is thread-safe but many calls block until its network thread answers
(``status()``, ``get_peer_info()``, ``file_progress()``, ``add_torrent()``), and on a large
torrent they block for long. So no libtorrent call runs on the event loop: one thread owns the
session and everything the loop wants goes through it.

- **Commands** (add, pause, rename, save resume data, remove, ...) are closures run in order
  on the thread (:class:`~lixian.engines.bt.courier.Courier` does the plumbing); results go
  back with ``loop.call_soon_threadsafe``. One that completes by alert (resume data, removal)
  parks a future the alert resolves.
- **Alerts** wake the thread through ``set_alert_fd`` (libtorrent writes a byte to a pipe when
  its queue goes non-empty); commands wake it through a second pipe, so the ``select`` on both
  is a ``wait_for_alert`` that a command can interrupt. Every wait ends by the next tick.
- **Ticks** (``update_interval``): ``post_torrent_updates`` (only torrents whose status changed
  come back, as one ``state_update_alert``), then peers, file progress and trackers of running
  torrents (those have no usable alert form in the Python bindings, so the thread asks).
- Alerts and tick results become the plain values of :mod:`lixian.engines.bt.events`, batched
  per torrent, and go to each torrent's listener on the loop.

This is the only module that imports libtorrent (the typed stub ``_libtorrent.pyi`` makes it
pass strict mypy). Everything it returns is plain data; libtorrent objects stay opaque.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

from lixian.engines.bt.config import BtSessionConfig
from lixian.engines.bt.convert import peer_snapshot, torrent_status, tracker_snapshot
from lixian.engines.bt.courier import Courier
from lixian.engines.bt.errors import BadMagnet, BadTorrent, BencodeError, error_from_code
from lixian.engines.bt.events import (
    FileRenamed,
    FilesUpdate,
    HashFailed,
    MetadataArrived,
    PeersUpdate,
    PieceFinished,
    StatusUpdate,
    TorrentChecked,
    TorrentEvent,
    TorrentFailed,
    TorrentFinished,
    TorrentStatus,
    TrackersUpdate,
)
from lixian.engines.bt.model import AddSpec, LoadedMagnet, LoadedTorrent, TorrentLimits
from lixian.errors import LixianError

if TYPE_CHECKING:
    from lixian.engines.bt import _libtorrent as lt
else:
    import libtorrent as lt

__all__ = [
    "LIBTORRENT_VERSION",
    "AddSpec",
    "BtSession",
    "LoadedMagnet",
    "LoadedTorrent",
    "TorrentLimits",
    "TorrentRef",
    "load_magnet",
    "load_torrent",
    "settings_pack",
]

log = logging.getLogger("lixian.bt")
T = TypeVar("T")
LIBTORRENT_VERSION: str = lt.__version__
Listener = Callable[[Sequence[TorrentEvent]], None]

_ALERTS = (
    lt.alert.category_t.error_notification
    | lt.alert.category_t.status_notification
    | lt.alert.category_t.storage_notification
    | lt.alert.category_t.piece_progress_notification
    | lt.alert.category_t.file_progress_notification
    | lt.alert.category_t.tracker_notification
    | lt.alert.category_t.performance_warning
)
_TRACKER_EVERY = 5  # ticks between tracker-list refreshes (they change on announces only)
_STOP_TRACKER_TIMEOUT = 2  # seconds libtorrent may spend on "stopped" announces at close
# libtorrent's destructor waits out stop_tracker_timeout if a "stopped" announce is still in
# flight, even one answered a moment later; letting the session run this long first (only
# after a removal or with torrents running) made a 2 s close take ~0.3 s on loopback.
_STOPPED_GRACE = 0.5


# ---- settings -------------------------------------------------------------------------------


def settings_pack(config: BtSessionConfig) -> dict[str, int | str | bool]:
    """Every libtorrent setting lixian relies on, explicitly (libtorrent's defaults differ
    from aria2's: LSD on, one connection per IP, uTP first, its own peer id)."""
    first, last = config.listen_ports
    listen = ",".join(f"[{h}]:{first}" if ":" in h else f"{h}:{first}" for h in config.listen_hosts)
    forced = config.require_crypto
    return {
        "listen_interfaces": listen,
        "max_retry_port_bind": last - first,
        "outgoing_interfaces": config.outgoing_interface or "",
        "enable_dht": config.enable_dht,
        "dht_bootstrap_nodes": ",".join(f"{h}:{p}" for h, p in config.dht_bootstrap_nodes),
        "enable_lsd": config.enable_lpd,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": True,
        "allow_multiple_connections_per_ip": True,
        "enable_outgoing_utp": config.utp_outgoing,
        "enable_incoming_utp": config.utp_incoming,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "mixed_mode_algorithm": 0,  # prefer_tcp: uTP peers do not throttle TCP ones
        "connections_limit": config.max_connections,
        "upload_rate_limit": config.max_overall_upload_limit,
        "download_rate_limit": config.max_overall_download_limit,
        "out_enc_policy": int(lt.enc_policy.pe_forced if forced else lt.enc_policy.pe_enabled),
        "in_enc_policy": int(lt.enc_policy.pe_forced if forced else lt.enc_policy.pe_enabled),
        "allowed_enc_level": int(
            lt.enc_level.pe_rc4 if config.min_crypto_level == "arc4" else lt.enc_level.pe_both
        ),
        "prefer_rc4": config.min_crypto_level == "arc4",
        "user_agent": config.user_agent,
        "handshake_client_version": config.user_agent,
        "peer_fingerprint": config.peer_id_prefix,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "max_metadata_size": config.max_metadata_size,
        "min_reconnect_time": config.min_reconnect_time,
        # Rarest-first (within priorities) from the first piece: libtorrent's default picks
        # the first 4 at random, which let --bt-prioritize-piece start with any 4 pieces.
        "initial_picker_threshold": 0,
        # The core queues tasks; libtorrent's own queue must never hold one back.
        "active_downloads": -1,
        "active_seeds": -1,
        "active_checking": 2,
        "active_limit": -1,
        "stop_tracker_timeout": _STOP_TRACKER_TIMEOUT,
        "alert_mask": int(_ALERTS),
        "alert_queue_size": config.alert_queue_size,
    }


# ---- parsing (libtorrent's parsers, lixian's errors) ----------------------------------------


def load_torrent(data: bytes, limits: TorrentLimits | None = None) -> LoadedTorrent:
    """Parse .torrent bytes: :class:`BencodeError` (25) if not bencode, :class:`BadTorrent`
    (26) if bencode but not a usable torrent."""
    limits = limits or TorrentLimits()
    if len(data) > limits.max_size:
        raise BadTorrent(f"torrent file is {len(data)} bytes; the limit is {limits.max_size}")
    try:
        atp = lt.load_torrent_buffer(
            data,
            {
                "max_buffer_size": limits.max_size,
                "max_decode_tokens": limits.max_decode_tokens,
                "max_pieces": limits.max_pieces,
                "max_decode_depth": limits.max_decode_depth,
            },
        )
    except RuntimeError as exc:
        raise _parse_error(str(exc)) from None
    ti = atp.ti
    if ti is None or not ti.is_valid():
        raise BadTorrent("not a valid torrent")
    return _describe(ti, atp)


def _describe(ti: lt.torrent_info, atp: lt.add_torrent_params) -> LoadedTorrent:
    fs = ti.layout()
    n = fs.num_files()
    pad_flag = lt.file_storage.flag_pad_file
    hashes = ti.info_hashes()
    v1 = str(hashes.v1) if hashes.has_v1() else str(hashes.get_best())[:40]
    return LoadedTorrent(
        info=ti,
        info_hash=v1,
        info_hash_v2=str(hashes.v2) if hashes.has_v2() else None,
        name=ti.name(),
        piece_length=ti.piece_length(),
        num_pieces=ti.num_pieces(),
        total_length=ti.total_size(),
        paths=tuple(fs.file_path(i) for i in range(n)),
        sizes=tuple(fs.file_size(i) for i in range(n)),
        offsets=tuple(fs.file_offset(i) for i in range(n)),
        pad=tuple(bool(fs.file_flags(i) & pad_flag) for i in range(n)),
        trackers=_tiers(atp),
        web_seeds=tuple(atp.url_seeds),
        comment=atp.comment,
        created_by=atp.created_by,
        creation_date=atp.creation_date or None,
        private=ti.priv(),
        info_section=bytes(ti.info_section()),
    )


def _parse_error(message: str) -> LixianError:
    # libtorrent tags each message with its category: "[bdecode:N]" is the bencode parser.
    if "[bdecode:" in message:
        return BencodeError(f"not a torrent file: {message}")
    return BadTorrent(f"bad torrent: {message}")


def load_magnet(uri: str) -> LoadedMagnet:
    """Parse a magnet URI; :class:`BadMagnet` (27) when it is not one or has no info-hash."""
    if not uri.lower().startswith("magnet:?"):
        raise BadMagnet(f"not a magnet URI: {uri[:80]!r}")
    try:
        atp = lt.parse_magnet_uri(uri)
    except RuntimeError as exc:
        raise BadMagnet(f"bad magnet URI: {exc}") from None
    hashes = atp.info_hashes
    zero = "0" * 40
    v1 = str(hashes.v1)
    v2 = str(hashes.v2) if hashes.has_v2() else None
    if v1 == zero and (v2 is None or set(v2) == {"0"}):
        raise BadMagnet(f"bad magnet URI: no usable info-hash in {uri[:80]!r}")
    return LoadedMagnet(
        uri=uri,
        info_hash=v1 if v1 != zero else (v2 or zero)[:40],
        info_hash_v2=v2,
        name=atp.name,
        trackers=_tiers(atp),
        web_seeds=tuple(atp.url_seeds),
    )


def _tiers(atp: lt.add_torrent_params) -> tuple[tuple[str, ...], ...]:
    tiers: dict[int, list[str]] = {}
    for url, tier in zip(atp.trackers, atp.tracker_tiers or [0] * len(atp.trackers), strict=False):
        tiers.setdefault(tier, []).append(url)
    return tuple(tuple(tiers[t]) for t in sorted(tiers))


# ---- adding ---------------------------------------------------------------------------------


def _info(torrent: LoadedTorrent) -> lt.torrent_info:
    """A private copy of the parsed info (libtorrent may annotate the one it is given)."""
    assert isinstance(torrent.info, lt.torrent_info)
    return lt.torrent_info(torrent.info)


def _params(spec: AddSpec) -> lt.add_torrent_params:
    atp: lt.add_torrent_params | None = None
    if spec.resume_data:
        try:
            atp = lt.read_resume_data(spec.resume_data)
        except RuntimeError as exc:  # corrupt resume data costs a recheck, not the task
            log.warning("ignoring unreadable resume data: %s", exc)
    if atp is not None:
        if atp.ti is None and spec.torrent is not None:
            atp.ti = _info(spec.torrent)
        if spec.extra_pieces and atp.ti is not None:
            have = list(atp.have_pieces)
            have += [False] * (atp.ti.num_pieces() - len(have))
            for piece in spec.extra_pieces:
                if 0 <= piece < len(have):
                    have[piece] = True
            atp.have_pieces = have
    elif spec.magnet is not None:
        atp = lt.parse_magnet_uri(spec.magnet)
    else:
        assert spec.torrent is not None
        atp = lt.add_torrent_params()
        atp.ti = _info(spec.torrent)
    atp.save_path = spec.save_path
    renamed = dict(atp.renamed_files)
    renamed.update(spec.renamed_files)
    atp.renamed_files = renamed
    if spec.file_priorities is not None:
        atp.file_priorities = list(spec.file_priorities)
    urls = [url for tier in spec.trackers for url in tier]
    atp.trackers = urls
    atp.tracker_tiers = [i for i, tier in enumerate(spec.trackers) for _ in tier]
    atp.url_seeds = list(spec.web_seeds)
    flags = lt.torrent_flags
    on = flags.duplicate_is_error | flags.override_trackers | flags.override_web_seeds
    off = flags.auto_managed | flags.paused | flags.upload_mode | flags.sequential_download
    off |= flags.disable_pex
    on |= flags.paused if spec.paused else 0
    on |= flags.upload_mode if spec.upload_mode else 0
    on |= flags.sequential_download if spec.sequential else 0
    on |= flags.disable_pex if spec.disable_pex else 0
    atp.flags = (atp.flags & ~off) | on
    atp.max_connections = spec.max_connections or -1
    atp.upload_limit = spec.upload_limit or -1
    atp.download_limit = spec.download_limit or -1
    return atp


# ---- the session ----------------------------------------------------------------------------


class TorrentRef:
    """One torrent in the session; every method runs on the adapter thread."""

    def __init__(self, session: BtSession, handle: lt.torrent_handle, listener: Listener) -> None:
        self._session = session
        self._handle = handle
        self._listener = listener
        self.tick = 0
        self.finished = False  # all wanted pieces here: file progress no longer moves

    async def _do(self, fn: Callable[[lt.torrent_handle], T]) -> T:
        return await self._session.call(lambda _ses: fn(self._handle))

    async def pause(self) -> None:
        await self._do(lambda h: h.pause())

    async def resume(self) -> None:
        await self._do(lambda h: h.resume())

    async def set_upload_mode(self, on: bool) -> None:
        flag = lt.torrent_flags.upload_mode
        await self._do(lambda h: h.set_flags(flag) if on else h.unset_flags(flag))

    async def set_sequential(self, on: bool) -> None:
        flag = lt.torrent_flags.sequential_download
        await self._do(lambda h: h.set_flags(flag) if on else h.unset_flags(flag))

    async def rename_files(self, renames: Mapping[int, str]) -> None:
        def run(h: lt.torrent_handle) -> None:
            for index, path in renames.items():
                h.rename_file(index, path)

        await self._do(run)

    async def prioritize_files(self, priorities: Sequence[int]) -> None:
        await self._do(lambda h: h.prioritize_files(list(priorities)))

    async def prioritize_pieces(self, priorities: Sequence[int]) -> None:
        await self._do(lambda h: h.prioritize_pieces(list(priorities)))

    async def set_limits(self, upload: int, download: int, max_connections: int) -> None:
        def run(h: lt.torrent_handle) -> None:
            h.set_upload_limit(upload or -1)
            h.set_download_limit(download or -1)
            h.set_max_connections(max_connections or -1)

        await self._do(run)

    async def refresh(self) -> tuple[TorrentStatus, tuple[int, ...]]:
        """Status and per-file progress now (the periodic ones may be a tick old)."""

        def run(h: lt.torrent_handle) -> tuple[TorrentStatus, tuple[int, ...]]:
            status = _status(h.status(lt.status_flags_t.query_pieces))
            files = h.file_progress(lt.file_progress_flags_t.piece_granularity)
            return status, tuple(files) if status.has_metadata else ()

        return await self._do(run)

    async def info_section(self) -> bytes | None:
        """The raw info dict once the torrent has metadata (a magnet: after it arrived)."""

        def run(h: lt.torrent_handle) -> bytes | None:
            ti = h.torrent_file()
            return bytes(ti.info_section()) if ti is not None else None

        return await self._do(run)

    async def save_resume_data(self) -> bytes:
        """libtorrent's resume data (with the info dict, so a magnet needs no peers to
        restart); pieces that pass after this call come as :class:`PieceFinished`."""
        flags = lt.save_resume_flags_t.flush_disk_cache | lt.save_resume_flags_t.save_info_dict

        def run(ses: lt.session) -> asyncio.Future[bytes]:
            future = self._session._park(("resume", self._handle))
            self._handle.save_resume_data(flags)
            return future

        return await (await self._session.call(run))

    async def remove(self, *, delete_files: bool = False) -> None:
        """Take the torrent out of the session and wait until its files are closed."""

        def run(ses: lt.session) -> asyncio.Future[bytes]:
            future = self._session._park(("removed", self._handle))
            self._session._refs.pop(self._handle, None)
            self._session._last_removal = time.monotonic()
            ses.remove_torrent(self._handle, lt.options_t.delete_files if delete_files else 0)
            return future

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(await self._session.call(run), 10)


class BtSession(Courier[lt.session]):
    """The process's libtorrent session. ``await start()`` before use, ``await close()`` after.

    >>> session = BtSession(BtSessionConfig(listen_hosts=("127.0.0.1",), enable_dht=False))
    """

    name = "libtorrent"
    _open_count = 0  # one per process: a second would fight over ports, limits and the DHT

    def __init__(self, config: BtSessionConfig) -> None:
        super().__init__()
        self.config = config
        self.listen_port: int | None = None
        self.listen_errors: list[str] = []
        self._refs: dict[lt.torrent_handle, TorrentRef] = {}
        self._last_removal = 0.0
        self._next_tick = 0.0

    async def start(self) -> None:
        if BtSession._open_count:
            raise RuntimeError("a BtSession is already open in this process")
        BtSession._open_count += 1
        try:
            await self._start_thread()
        except BaseException:
            BtSession._open_count -= 1
            raise
        for warning in self.config.warnings():
            log.warning("%s", warning)

    async def close(self) -> None:
        """Stop the thread; "stopped" announces take at most ``_STOP_TRACKER_TIMEOUT`` s."""
        if self._thread is not None and not self._stopping:
            await self._stop_thread()
            BtSession._open_count -= 1

    async def apply(self, config: BtSessionConfig) -> None:
        """New global settings (limits, encryption, ...) for the running session."""
        pack = settings_pack(config)
        await self.call(lambda ses: ses.apply_settings(pack))
        self.config = config

    async def add(self, spec: AddSpec, listener: Listener) -> TorrentRef:
        """Add a torrent; raises DuplicateTorrent (12) when its info-hash is already here."""

        def run(ses: lt.session) -> TorrentRef:
            try:
                handle = ses.add_torrent(_params(spec))
            except RuntimeError as exc:
                if "already" in str(exc):
                    raise error_from_code("libtorrent", 19, str(exc)) from None
                raise LixianError(f"libtorrent refused the torrent: {exc}") from None
            if spec.piece_priorities is not None:
                # Not in add_torrent_params: libtorrent lets file priorities overwrite them.
                # Still on this thread, before any peer can have been dialled.
                handle.prioritize_pieces(list(spec.piece_priorities))
            ref = TorrentRef(self, handle, listener)
            self._refs[handle] = ref
            return ref

        return await self.call(run)

    # ---- thread side (Courier's hooks) ----

    def _open(self) -> lt.session:
        ses = lt.session(settings_pack(self.config))
        ses.set_alert_fd(self.news_fd)
        if self.config.limit_local_peers:
            _limit_local_peers(ses)
        return ses

    def _started(self, ses: lt.session) -> None:
        deadline = time.monotonic() + 5
        while self.listen_port is None and not self.listen_errors and time.monotonic() < deadline:
            self._wait(0.05)
            self._news(ses)

    def _step(self, ses: lt.session) -> float:
        now = time.monotonic()
        if now >= self._next_tick:
            self._tick(ses)
            self._next_tick = now + self.config.update_interval
        return self._next_tick - time.monotonic()

    def _news(self, ses: lt.session) -> None:
        self._dispatch(ses.pop_alerts())

    def _shutdown(self, ses: lt.session) -> None:
        busy = bool(self._refs) or time.monotonic() - self._last_removal < _STOPPED_GRACE
        ses.pause()  # "stopped" announces for every running torrent
        deadline = time.monotonic() + (_STOPPED_GRACE if busy else 0.0)
        while time.monotonic() < deadline:
            self._wait(deadline - time.monotonic())
            ses.pop_alerts()
        # Courier drops the session next: that blocks for the announces still in flight,
        # bounded by stop_tracker_timeout.

    def _tick(self, ses: lt.session) -> None:
        ses.post_torrent_updates(lt.status_flags_t.query_pieces)
        batches: dict[TorrentRef, list[TorrentEvent]] = {}
        for handle, ref in list(self._refs.items()):
            if not handle.is_valid():
                continue
            ref.tick += 1
            events = batches.setdefault(ref, [])
            try:
                events.append(PeersUpdate(tuple(peer_snapshot(p) for p in handle.get_peer_info())))
                if not ref.finished and handle.torrent_file() is not None:
                    flags = lt.file_progress_flags_t.piece_granularity
                    events.append(FilesUpdate(tuple(handle.file_progress(flags))))
                if ref.tick % _TRACKER_EVERY == 1:
                    events.append(
                        TrackersUpdate(tuple(tracker_snapshot(t) for t in handle.trackers()))
                    )
            except RuntimeError as exc:  # removed between the check and the call
                log.debug("tick for a vanishing torrent: %s", exc)
        self._hand_over(batches)

    def _dispatch(self, alerts: Sequence[lt.alert]) -> None:
        batches: dict[TorrentRef, list[TorrentEvent]] = {}
        for alert in alerts:
            try:
                self._one(alert, batches)
            except Exception:
                log.exception("while handling %s", type(alert).__name__)
        self._hand_over(batches)

    def _hand_over(self, batches: dict[TorrentRef, list[TorrentEvent]]) -> None:
        for ref, events in batches.items():
            if events:
                self._deliver(ref._listener, tuple(events))

    def _one(self, alert: lt.alert, batches: dict[TorrentRef, list[TorrentEvent]]) -> None:
        if isinstance(alert, lt.state_update_alert):
            for st in alert.status:
                ref = self._refs.get(st.handle)
                if ref is not None:
                    status = _status(st)
                    ref.finished = status.is_finished and status.has_metadata
                    batches.setdefault(ref, []).append(StatusUpdate(status))
            return
        if isinstance(alert, lt.listen_succeeded_alert):
            if self.listen_port is None or alert.socket_type == lt.socket_type_t.tcp:
                self.listen_port = alert.port
            return
        if isinstance(alert, lt.listen_failed_alert):
            self.listen_errors.append(alert.message())
            log.warning("BitTorrent: %s", alert.message())
            return
        if isinstance(alert, lt.torrent_removed_alert):
            self._resolve(("removed", alert.handle), None, None)
            return
        handle = getattr(alert, "handle", None)
        ref = self._refs.get(handle) if handle is not None else None
        if isinstance(alert, lt.save_resume_data_alert):
            self._resolve(("resume", alert.handle), lt.write_resume_data_buf(alert.params), None)
        elif isinstance(alert, lt.save_resume_data_failed_alert):
            error = _alert_error(alert.error, "saving resume data")
            self._resolve(("resume", alert.handle), None, error)
        if ref is None:
            if isinstance(alert, lt.tracker_error_alert | lt.performance_alert):
                log.debug("%s", alert.message())
            return
        event = _event(alert)
        if event is not None:
            batches.setdefault(ref, []).append(event)


def _event(alert: lt.alert) -> TorrentEvent | None:
    """(thread) One alert about a known torrent as a plain event, or None."""
    if isinstance(alert, lt.piece_finished_alert):
        return PieceFinished(alert.piece_index)
    if isinstance(alert, lt.hash_failed_alert):
        return HashFailed(alert.piece_index)
    if isinstance(alert, lt.metadata_received_alert):
        ti = alert.handle.torrent_file()
        return MetadataArrived(bytes(ti.info_section())) if ti is not None else None
    if isinstance(alert, lt.torrent_checked_alert):
        return TorrentChecked()
    if isinstance(alert, lt.torrent_finished_alert):
        return TorrentFinished()
    if isinstance(alert, lt.file_renamed_alert):
        return FileRenamed(alert.index, alert.new_name)
    if isinstance(alert, lt.file_rename_failed_alert):
        return TorrentFailed(_alert_error(alert.error, f"renaming file {alert.index}"))
    if isinstance(alert, lt.file_error_alert):
        return TorrentFailed(_alert_error(alert.error, "", filename=alert.filename))
    if isinstance(alert, lt.torrent_error_alert):
        return TorrentFailed(_alert_error(alert.error, ""))
    if isinstance(alert, lt.fastresume_rejected_alert):
        log.info("%s: resume data rejected (%s), rechecking", alert.torrent_name, alert.message())
    elif isinstance(alert, lt.tracker_error_alert):
        log.debug("%s", alert.message())
    return None


def _status(st: lt.torrent_status) -> TorrentStatus:
    flags = st.flags
    return torrent_status(
        st,
        paused=bool(flags & lt.torrent_flags.paused),
        upload_mode=bool(flags & lt.torrent_flags.upload_mode),
    )


def _alert_error(code: lt.error_code, operation: str, *, filename: str = "") -> LixianError:
    return error_from_code(
        code.category().name(), code.value(), code.message(), filename=filename, operation=operation
    )


def _limit_local_peers(ses: lt.session) -> None:
    """Put LAN and loopback peers in the global peer class, so rate limits apply to them as
    aria2's do (libtorrent exempts them by default)."""
    cls = 1 << ses.global_peer_class_id
    rules = lt.ip_filter()
    rules.add_rule("0.0.0.0", "255.255.255.255", cls)
    rules.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", cls)
    ses.set_peer_class_filter(rules)
