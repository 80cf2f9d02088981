"""The I/O shell around the planner: aiohttp connections writing through a sink.

The driver loop asks the planner what to do and does it; workers stream one segment
each, *claim* every chunk from the planner before buffering it (that is where a moved
segment end is enforced), write through the sink, and report. Bytes never pass
through the planner.

A download restarts from scratch (at most ``MAX_RESTARTS`` times) when the server's
file changed under it: never splice two versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import hashlib
import os
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

from lixian.engines.http.config import HttpConfig, request_headers
from lixian.engines.http.errors import map_aiohttp_errors
from lixian.engines.http.naming import filename_from_content_disposition, filename_from_url
from lixian.engines.http.planner import (
    Failed,
    Finished,
    Idle,
    Open,
    PlanLimits,
    Planner,
    Probed,
    SegmentEnded,
    SegmentFailed,
    Tick,
    Wait,
    Written,
)
from lixian.engines.http.response import Reply, check_reply, same_resource
from lixian.engines.http.throttle import RateLimiter
from lixian.errors import (
    BadUri,
    ChecksumMismatch,
    HttpStatusError,
    LixianError,
    RemoteError,
    ResourceChanged,
    TooManyRedirects,
    TooSlow,
)
from lixian.ranges import RangeSet
from lixian.storage.control import ResourceMeta
from lixian.storage.local import (
    LocalSink,
    Target,
    choose_target,
    control_path_for,
    is_local,
    open_sink,
    run_io,
)
from lixian.storage.paths import confine, sanitize_filename

__all__ = ["DownloadResult", "HttpDownload", "HttpJob", "new_session", "parse_uri"]

FLUSH = 128 * 1024  # per-connection write coalescing; also the most a kill -9 can lose
MAX_RESTARTS = 3
CHECKPOINT_EVERY = 2.0
SPEED_WINDOW = 3.0  # --lowest-speed-limit judges this many seconds, after as many of grace
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class HttpJob:
    uris: tuple[str, ...]
    directory: Path
    out: str | None
    config: HttpConfig
    control_dir: Path | None = None
    own_path: Path | None = None  # the file an earlier run of this task wrote


@dataclass(frozen=True, slots=True)
class DownloadResult:
    path: Path
    size: int
    skipped: bool = False  # --conditional-get found the local file current


@dataclass(slots=True)
class _Mirror:
    url: URL  # as given, credentials included (they define the origin's auth)
    resolved: URL | None = None  # after redirects: later segments go straight there
    active: int = 0


class _Restart(Exception):
    def __init__(self, target: Target | None = None, meta: ResourceMeta | None = None) -> None:
        super().__init__("restart")
        self.target = target
        self.meta = meta


class _NotModified(Exception):
    pass


RECEIVE_BUFFER = 128 * 1024


def _socket(addr_info: Any) -> socket.socket:
    """A TCP socket whose kernel receive queue is capped.

    Why: bytes waiting in the kernel are lost on ``kill -9`` and fetched again. Linux grows
    a receive buffer to several MiB when the reader lags (a busy machine), which made a
    killed 16-connection download re-fetch 5-7% instead of <1%. 128 KiB (the kernel
    doubles it) still carries hundreds of MB/s on a LAN or loopback.
    """
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return sock


def new_session(*, read_bufsize: int = 256 * 1024) -> aiohttp.ClientSession:
    """One session for all downloads: connections are pooled and kept alive."""
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, ttl_dns_cache=300, socket_factory=_socket
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        read_bufsize=read_bufsize,
        timeout=aiohttp.ClientTimeout(total=None),
        cookie_jar=aiohttp.DummyCookieJar(),  # cookies are the user's, sent by request_headers
        trust_env=False,  # proxies are chosen by ProxyConfig, env included
    )


def parse_uri(raw: str) -> URL:
    """A URI this engine can fetch, or BadUri (aria2c's exit 1)."""
    try:
        url = URL(raw)
    except (ValueError, TypeError) as exc:
        raise BadUri(f"invalid URI: {raw}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise BadUri(f"unsupported or invalid URI: {raw}")
    return url


class HttpDownload:
    """One file over HTTP(S) on as many connections as the planner allows."""

    def __init__(
        self,
        job: HttpJob,
        session: aiohttp.ClientSession,
        *,
        limiters: tuple[RateLimiter, ...] = (),
        on_open: Callable[[Path, int | None], Awaitable[None]] | None = None,
    ) -> None:
        self.job = job
        self.config = job.config
        self._session = session
        self._mirrors = [_Mirror(parse_uri(u)) for u in job.uris]
        if not self._mirrors:
            raise BadUri("no URI given")
        self.limiter = RateLimiter(self.config.max_download_limit)
        self._limiters = (self.limiter, *limiters)
        self._target: Target | None = None
        self._sink: LocalSink | None = None
        self._planner: Planner | None = None
        self._wake = asyncio.Event()
        self._interrupt: BaseException | None = None
        self._if_modified_since: str | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        # Called once with the file's path and size after it is opened and before the
        # first byte is written: the core records the path and may wait there for room
        # (--max-staging-space) while the probe connection holds.
        self._on_open = on_open
        self._inline = False
        self.started = time.monotonic()
        self.received = 0  # bytes taken off the wire (speeds); completed_length = on disk

    # ---- live progress, read by the core ----

    @property
    def path(self) -> Path | None:
        if self._sink is not None:
            return self._sink.path
        return self._target.path if self._target is not None else None

    @property
    def total_length(self) -> int | None:
        return self._planner.size if self._planner is not None else None

    @property
    def completed_length(self) -> int:
        return self._planner.completed if self._planner is not None else 0

    @property
    def connections(self) -> int:
        return self._planner.connections if self._planner is not None else 0

    @property
    def done_ranges(self) -> RangeSet:
        return self._planner.done.copy() if self._planner is not None else RangeSet()

    def set_limits(self, limits: PlanLimits) -> None:
        """New connection limits for a running download (changeOption)."""
        self.config = replace(self.config, limits=limits)
        if self._planner is not None:
            self._planner.limits = limits
            self._wake.set()

    # ---- the download ----

    async def run(self) -> DownloadResult:
        try:
            self._inline = await asyncio.to_thread(is_local, self.job.directory)
            self._target = await run_io(self._inline, self._initial_target)
            for _ in range(MAX_RESTARTS + 1):
                try:
                    size = await self._attempt()
                except _Restart as restart:
                    await self._apply_restart(restart)
                    continue
                except _NotModified:
                    assert self._target is not None
                    path = self._target.path
                    return DownloadResult(path, path.stat().st_size, skipped=True)
                return await self._finish(size)
            raise ResourceChanged(f"{self._mirrors[0].url} kept changing; gave up")
        finally:
            if self._sink is not None:
                await self._sink.close()
                self._sink = None

    def _initial_target(self) -> Target | None:
        """Where to write when it is known before asking (``--out``, or a resumable file)."""
        name = self.job.out
        own = self._own_path()
        if own is not None:
            # This task's own file from an earlier run (a restart before any progress
            # was recorded): it is ours to continue or overwrite, never to rename around.
            policy = replace(self.config.policy, allow_overwrite=True)
            return choose_target(own, policy, self.job.control_dir)
        if name is None:
            # One sanitized component cannot leave the dir lexically; only a symlink
            # could, and confine() below catches that before anything is opened.
            path = self.job.directory.absolute() / sanitize_filename(self._url_name())
        else:
            path = confine(self.job.directory, name)
        if name is None and not (
            control_path_for(path, self.job.control_dir).exists()
            or (
                path.exists()
                and (self.config.conditional_get or self.config.policy.resume_existing)
            )
        ):
            return None  # the server may name it (Content-Disposition)
        path = confine(self.job.directory, path.relative_to(self.job.directory.absolute()))
        target = choose_target(path, self.config.policy, self.job.control_dir)
        if (
            self.config.conditional_get
            and target.control is None
            and target.path == path
            and path.exists()
        ):
            stamp = path.stat().st_mtime
            self._if_modified_since = email.utils.formatdate(stamp, usegmt=True)
        return target

    def _own_path(self) -> Path | None:
        own = self.job.own_path
        if own is None:
            return None
        try:
            return confine(self.job.directory, own.relative_to(self.job.directory.absolute()))
        except (ValueError, LixianError):
            return None  # the dir changed since: name it afresh

    def _url_name(self) -> str:
        return filename_from_url(str(self._mirrors[0].url.with_user(None)))

    async def _apply_restart(self, restart: _Restart) -> None:
        if restart.target is not None:
            self._target = restart.target
        elif self._sink is not None and restart.meta is not None:
            await self._sink.restart(restart.meta)

    def _resume_state(self) -> tuple[int | None, RangeSet]:
        if self._sink is not None:
            return self._sink.meta.size, self._sink.done
        target = self._target
        if target is None:
            return None, RangeSet()
        if target.control is not None:
            return target.control.meta.size, target.done
        if target.trust_existing:
            return None, target.done
        return None, RangeSet()

    async def _attempt(self) -> int:
        size, done = self._resume_state()
        planner = Planner(self.config.limits, size=size if done else None, done=done)
        self._planner = planner
        self._interrupt = None
        workers: set[asyncio.Task[None]] = set()
        timers: set[asyncio.Task[None]] = set()
        history: list[tuple[float, int]] = []
        last_checkpoint = time.monotonic()
        try:
            while True:
                if self._interrupt is not None:
                    raise self._interrupt
                cmd = planner.next_command()
                if isinstance(cmd, Open):
                    task = asyncio.create_task(self._worker(planner, cmd))
                    workers.add(task)
                    task.add_done_callback(workers.discard)
                elif isinstance(cmd, Wait):
                    timer = asyncio.create_task(self._tick_after(planner, cmd.seconds))
                    timers.add(timer)
                    timer.add_done_callback(timers.discard)
                elif isinstance(cmd, Finished):
                    return cmd.size
                elif isinstance(cmd, Failed):
                    raise cmd.error
                elif cmd is Idle.IDLE:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.5)
                    self._wake.clear()
                    now = time.monotonic()
                    self._check_speed(history, now, self.received)
                    if now - last_checkpoint >= CHECKPOINT_EVERY:
                        last_checkpoint = now
                        self._start_checkpoint()
        finally:
            for task in (*workers, *timers):
                task.cancel()
            await asyncio.gather(*workers, *timers, return_exceptions=True)
            if self._checkpointing is not None:
                await asyncio.gather(self._checkpointing, return_exceptions=True)

    def _start_checkpoint(self) -> None:
        if self._sink is None or (self._checkpointing and not self._checkpointing.done()):
            return
        self._checkpointing = asyncio.create_task(self._sink.checkpoint())

    def _check_speed(self, history: list[tuple[float, int]], now: float, completed: int) -> None:
        limit = self.config.lowest_speed_limit
        if limit <= 0:
            return
        history.append((now, completed))
        while history and now - history[0][0] > SPEED_WINDOW:
            history.pop(0)
        if now - self.started < 2 * SPEED_WINDOW or len(history) < 2:
            return
        (t0, c0), (t1, c1) = history[0], history[-1]
        if t1 - t0 >= SPEED_WINDOW * 0.8 and (c1 - c0) / (t1 - t0) <= limit:
            raise TooSlow(f"download speed fell to or below --lowest-speed-limit={limit}")

    async def _tick_after(self, planner: Planner, seconds: float) -> None:
        await asyncio.sleep(seconds)
        planner.receive(Tick(time.monotonic()))
        self._wake.set()

    def _pick_mirror(self) -> _Mirror:
        return min(self._mirrors, key=lambda m: m.active)

    async def _worker(self, planner: Planner, cmd: Open) -> None:
        mirror = self._pick_mirror()
        mirror.active += 1
        seg, pos = cmd.seg, cmd.start
        chunks: list[bytes] = []
        buffered = 0
        try:
            async with self._request(mirror, cmd.start, cmd.end) as (resp, url):
                if resp.status == 304 and self._if_modified_since:
                    raise _NotModified()
                reply = check_reply(resp.status, resp.headers, str(url), cmd.start, cmd.end)
                pos = await self._accept(planner, seg, cmd, reply, resp)
                with map_aiohttp_errors(str(url)):
                    async for data in resp.content.iter_any():
                        for limiter in self._limiters:
                            await limiter.acquire(len(data))
                        n = planner.claim(seg, len(data))
                        self.received += n
                        if n:
                            chunks.append(data if n == len(data) else data[:n])
                            buffered += n
                        if buffered >= FLUSH or n < len(data):
                            pos = await self._flush(planner, seg, pos, chunks)
                            buffered = 0
                        if n < len(data) or planner.segment_end(seg) == pos + buffered:
                            break
            pos = await self._flush(planner, seg, pos, chunks)
            planner.receive(SegmentEnded(seg))
        except asyncio.CancelledError:
            if chunks and self._sink is not None:
                # Stopping (Ctrl-C, pause): the bytes in hand are good, keep them.
                with contextlib.suppress(LixianError, asyncio.CancelledError):
                    await self._flush(planner, seg, pos, chunks)
            raise
        except (_Restart, _NotModified) as exc:
            self._interrupt = exc
        except LixianError as exc:
            if chunks and not isinstance(exc, OSError):
                # The bytes that did arrive are good: keep them before reporting.
                with contextlib.suppress(LixianError):
                    await self._flush(planner, seg, pos, chunks)
            if isinstance(exc, ResourceChanged):
                self._interrupt = _Restart()
            else:
                retry_after = exc.retry_after if isinstance(exc, HttpStatusError) else None
                planner.receive(SegmentFailed(seg, exc, time.monotonic(), retry_after))
        except Exception as exc:  # a bug: stop the download loudly rather than hang
            self._interrupt = exc
        finally:
            mirror.active -= 1
            self._wake.set()

    async def _flush(self, planner: Planner, seg: int, pos: int, chunks: list[bytes]) -> int:
        if not chunks:
            return pos
        assert self._sink is not None
        parts = list(chunks)  # written with one pwritev: no joining copy
        chunks.clear()
        size = sum(len(p) for p in parts)
        await self._sink.write_at(pos, parts)
        planner.receive(Written(seg, size))
        return pos + size

    async def _accept(
        self,
        planner: Planner,
        seg: int,
        cmd: Open,
        reply: Reply,
        resp: aiohttp.ClientResponse,
    ) -> int:
        """Check a response against what we know; the first one also names the file."""
        meta = ResourceMeta(
            str(self._mirrors[0].url.with_user(None).with_password(None)),
            reply.size,
            reply.etag,
            reply.last_modified,
        )
        honoured = reply.start == cmd.start
        if self._sink is None:
            await self._open_sink(meta, resp)
            assert self._sink is not None
            if self._sink.done and (not honoured or not same_resource(self._sink.meta, meta)):
                raise _Restart(meta=meta)  # resuming a file that changed: start clean
        elif not same_resource(self._sink.meta, meta) or not honoured:
            if (
                planner.accepts_ranges is None
                and not honoured
                and same_resource(self._sink.meta, meta)
            ):
                pass  # the probe of a server without ranges: planner goes to one connection
            else:
                raise _Restart(meta=meta)
        if planner.accepts_ranges is None:
            planner.receive(Probed(seg, reply.size, reply.accepts_ranges and honoured))
            self._wake.set()  # the other connections can open now
        return reply.start if honoured else 0

    async def _open_sink(self, meta: ResourceMeta, resp: aiohttp.ClientResponse) -> None:
        await self._open_sink_now(meta, resp)
        if self._on_open is not None and self._sink is not None:
            hook, self._on_open = self._on_open, None
            await hook(self._sink.path, meta.size)

    async def _open_sink_now(self, meta: ResourceMeta, resp: aiohttp.ClientResponse) -> None:
        target = self._target
        if target is None:
            name = filename_from_content_disposition(resp.headers.get("Content-Disposition", ""))
            name = sanitize_filename(name or self._url_name())
            path = confine(self.job.directory, name)
            target, sink = await run_io(self._inline, self._choose_and_open, path, meta)
            if sink is None:
                raise _Restart(target=target)  # a resumable file under the server's name
            self._target = target
            self._sink = sink
            return
        self._sink = await run_io(
            self._inline, open_sink, target, meta, self.config.policy, self.job.control_dir
        )

    def _choose_and_open(self, path: Path, meta: ResourceMeta) -> tuple[Target, LocalSink | None]:
        """Pick the name and open it in one trip to a thread (small files feel every hop)."""
        target = choose_target(path, self.config.policy, self.job.control_dir)
        if target.control is not None:
            return target, None
        return target, open_sink(target, meta, self.config.policy, self.job.control_dir)

    @contextlib.asynccontextmanager
    async def _request(
        self, mirror: _Mirror, start: int, end: int | None
    ) -> AsyncIterator[tuple[aiohttp.ClientResponse, URL]]:
        """GET with redirects followed by hand, so credentials never leave their origin."""
        url = mirror.resolved or mirror.url
        origin = mirror.url
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self.config.connect_timeout,
            sock_connect=self.config.connect_timeout,
            sock_read=self.config.timeout,
        )
        for _ in range(self.config.max_redirects + 1):
            headers = request_headers(self.config, url, origin, start, end)
            validator = self._validator()
            if validator:
                headers["If-Range"] = validator
            if self._if_modified_since and start == 0:
                headers["If-Modified-Since"] = self._if_modified_since
            with map_aiohttp_errors(str(url)):
                resp = await self._session.get(
                    url.with_user(None),
                    headers=headers,
                    allow_redirects=False,
                    proxy=self.config.proxy.for_url(url),
                    ssl=_ssl_context(self.config) if url.scheme == "https" else True,
                    timeout=timeout,
                )
            location = resp.headers.get("Location")
            if resp.status in _REDIRECTS and location:
                resp.release()
                with map_aiohttp_errors(str(url)):
                    url = url.join(URL(location))
                if url.scheme not in ("http", "https"):
                    raise RemoteError(f"redirect to unsupported URI {url}")
                continue
            mirror.resolved = url
            try:
                yield resp, url
            finally:
                resp.close() if not resp.content.at_eof() else resp.release()
            return
        raise TooManyRedirects(f"more than {self.config.max_redirects} redirects from {origin}")

    def _validator(self) -> str | None:
        meta = self._sink.meta if self._sink is not None else None
        if meta is None and self._target is not None and self._target.control is not None:
            meta = self._target.control.meta
        if meta is None:
            return None
        if meta.etag and not meta.etag.startswith("W/"):
            return meta.etag  # If-Range needs a strong validator
        return meta.last_modified

    async def _finish(self, size: int) -> DownloadResult:
        sink = self._sink
        if sink is None:  # resumed a download whose every byte was already there
            target = self._target
            assert target is not None and target.control is not None
            meta = target.control.meta
            sink = await asyncio.to_thread(
                open_sink, target, meta, self.config.policy, self.job.control_dir
            )
        await sink.complete()
        path = sink.path
        self._sink = None
        if self.config.checksum is not None:
            algo, digest = self.config.checksum
            actual = await asyncio.to_thread(_file_digest, path, algo)
            if actual != digest.lower():
                raise ChecksumMismatch(f"{algo} of {path.name} is {actual}, expected {digest}")
        if self.config.remote_time and sink.meta.last_modified:
            with contextlib.suppress(TypeError, ValueError, OSError):
                stamp = email.utils.parsedate_to_datetime(sink.meta.last_modified).timestamp()
                os.utime(path, (stamp, stamp))
        return DownloadResult(path, size)


def _file_digest(path: Path, algo: str) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, algo).hexdigest()


def _ssl_context(config: HttpConfig) -> ssl.SSLContext | bool:
    if not config.check_certificate:
        return False
    return _verified_context(str(config.ca_certificate) if config.ca_certificate else None)


@functools.lru_cache(maxsize=16)
def _verified_context(cafile: str | None) -> ssl.SSLContext:
    """One context per CA file: loading the system's CAs costs tens of ms and ~1 MB, and
    aiohttp pools connections per context, so a context per download is a leak."""
    ctx = ssl.create_default_context()
    if cafile is not None:
        ctx.load_verify_locations(cafile=cafile)
    return ctx
