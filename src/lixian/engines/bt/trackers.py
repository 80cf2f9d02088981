"""Tracker lists: the public "best trackers" list, cached, and merged with a torrent's own.

Why: a magnet often carries no tracker, and the DHT takes minutes to find peers for a rare
one; users paste a list such as ngosang/trackerslist into every client by hand. lixian
fetches ``--bt-tracker-list-url`` at start and daily, keeps the last good copy in the state
dir, and when offline uses that copy: a missing list never fails a download.

:func:`merge_trackers` applies aria2's rules: ``--bt-exclude-tracker`` (``*`` = all) removes
from the torrent's own list (and from the fetched list), ``--bt-tracker`` is added after the
exclusion and never excluded, and each added tracker is a tier of its own. Duplicates
(same scheme, host, port and path, case-insensitively, default ports dropped) appear once.
Private torrents (BEP 27) get no list trackers: announcing a private info-hash to public
trackers leaks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

__all__ = ["TrackerList", "merge_trackers", "parse_tracker_list", "tracker_key"]

log = logging.getLogger("lixian.bt.trackers")

REFRESH_EVERY = 24 * 3600.0
MAX_LIST_BYTES = 4 << 20
MAX_TRACKERS = 500
_SCHEMES = ("http", "https", "udp", "ws", "wss")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def tracker_key(url: str) -> str:
    """The identity of a tracker URL for de-duplication.

    >>> tracker_key("HTTP://Tracker.Example.org:80/announce/") == tracker_key(
    ...     "http://tracker.example.org/announce")
    True
    """
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip().lower()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def _usable(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        _ = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() in _SCHEMES and bool(parts.hostname) and len(url) <= 2048


def merge_trackers(
    own: Sequence[Sequence[str]],
    *,
    extra: Sequence[str] = (),
    listed: Sequence[str] = (),
    exclude: Sequence[str] = (),
    private: bool = False,
) -> tuple[tuple[str, ...], ...]:
    """Tiers to announce to: the torrent's own (minus excluded), then ``--bt-tracker``, then the
    fetched list (minus excluded; none for a private torrent).

    >>> merge_trackers([["http://a/ann", "http://b/ann"]], extra=["http://c/ann"],
    ...                listed=["http://A/ann/", "udp://d:1/ann"], exclude=["http://b/ann"])
    (('http://a/ann',), ('http://c/ann',), ('udp://d:1/ann',))
    """
    drop_all = any(e.strip() == "*" for e in exclude)
    dropped = {tracker_key(e) for e in exclude}
    seen: set[str] = set()
    tiers: list[tuple[str, ...]] = []

    def take(urls: Iterable[str], excludable: bool) -> list[str]:
        kept = []
        for url in urls:
            url = url.strip()
            key = tracker_key(url)
            if not url or key in seen or (excludable and (drop_all or key in dropped)):
                continue
            seen.add(key)
            kept.append(url)
        return kept

    for tier in own:
        kept = take(tier, True)
        if kept:
            tiers.append(tuple(kept))
    tiers.extend((url,) for url in take(extra, False))
    if not private:
        tiers.extend((url,) for url in take(listed, True))
    return tuple(tiers)


def parse_tracker_list(text: str) -> tuple[str, ...]:
    """Announce URLs from a list body: one per line (blank lines between, as the popular lists
    do), or separated by commas or spaces; anything not an http(s)/udp/ws(s) URL is skipped."""
    found: list[str] = []
    seen: set[str] = set()
    for word in text.replace(",", " ").split():
        if not _usable(word):
            continue
        key = tracker_key(word)
        if key not in seen:
            seen.add(key)
            found.append(word)
        if len(found) >= MAX_TRACKERS:
            break
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Cached:
    trackers: tuple[str, ...]
    fetched_at: float
    etag: str | None
    last_modified: str | None


class TrackerList:
    """One ``--bt-tracker-list-url``, cached under ``state_dir``; every method is failure-proof.

    >>> trackers = TrackerList("https://example.org/best.txt", Path("/var/lib/lixian"))
    """

    def __init__(
        self,
        url: str,
        state_dir: Path,
        *,
        max_age: float = REFRESH_EVERY,
        timeout: float = 20.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.timeout = timeout
        self.last_error: str | None = None
        self._session = session
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        self.path = state_dir / "trackers" / f"{digest}.json"
        self._cached: _Cached | None = None
        self._lock = asyncio.Lock()

    @property
    def fetched_at(self) -> float | None:
        return self._cached.fetched_at if self._cached is not None else None

    async def get(self) -> tuple[str, ...]:
        """The list: the cached copy if fresh, else a fetch; offline, the stale copy or ()."""
        if self._cached is None:
            self._cached = await asyncio.to_thread(self._read)
        if self._cached is not None and time.time() - self._cached.fetched_at < self.max_age:
            return self._cached.trackers
        return await self.refresh()

    async def refresh(self, *, force: bool = False) -> tuple[str, ...]:
        """Fetch now (conditionally unless ``force``); on any failure keep the old copy."""
        async with self._lock:
            if self._cached is None:
                self._cached = await asyncio.to_thread(self._read)
            old = self._cached
            try:
                fresh = await self._fetch(None if force else old)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("tracker list %s: %s; using the cached copy", self.url, self.last_error)
                return old.trackers if old is not None else ()
            self.last_error = None
            self._cached = fresh
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._write, fresh)
            return fresh.trackers

    async def run(self) -> None:
        """Refresh every ``max_age`` seconds until cancelled (the daemon runs this)."""
        while True:
            await self.get()
            age = time.time() - (self.fetched_at or 0)
            await asyncio.sleep(max(60.0, self.max_age - age))

    async def _fetch(self, old: _Cached | None) -> _Cached:
        headers = {"User-Agent": "lixian", "Accept-Encoding": "gzip, identity"}
        if old is not None and old.etag:
            headers["If-None-Match"] = old.etag
        if old is not None and old.last_modified:
            headers["If-Modified-Since"] = old.last_modified
        owned = self._session is None
        session = self._session or aiohttp.ClientSession(trust_env=False)
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with session.get(self.url, headers=headers, timeout=timeout) as resp:
                if resp.status == 304 and old is not None:
                    return _Cached(old.trackers, time.time(), old.etag, old.last_modified)
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                body = await resp.content.read(MAX_LIST_BYTES + 1)
                if len(body) > MAX_LIST_BYTES:
                    raise ValueError(f"list larger than {MAX_LIST_BYTES} bytes")
                trackers = parse_tracker_list(body.decode("utf-8", "replace"))
                if not trackers:
                    raise ValueError("no tracker URL in the list")
                return _Cached(
                    trackers,
                    time.time(),
                    resp.headers.get("ETag"),
                    resp.headers.get("Last-Modified"),
                )
        finally:
            if owned:
                await session.close()

    def _read(self) -> _Cached | None:
        try:
            data = json.loads(self.path.read_text())
            return _Cached(
                tuple(t for t in data["trackers"] if isinstance(t, str) and _usable(t)),
                float(data["fetched_at"]),
                data.get("etag"),
                data.get("last_modified"),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, cached: _Cached) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "url": self.url,
                    "fetched_at": cached.fetched_at,
                    "etag": cached.etag,
                    "last_modified": cached.last_modified,
                    "trackers": list(cached.trackers),
                }
            )
        )
        os.replace(tmp, self.path)
