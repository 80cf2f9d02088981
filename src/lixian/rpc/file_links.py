"""``lixian.fileUrl``: short-lived, path-bound signed URLs for streaming a file, sans-IO.

Why: a ``<video>`` element (or a download link) fetches its ``src`` itself, with no
way to add a token to the request, and a secret in a URL ends up in histories, logs
and Referer headers. So a caller that holds the secret asks for a link to one file::

    -> lixian.fileUrl("token:S", GID, 1[, seconds])
    <- {"url": "/files/<token>/<name>", "expires": 1767225600}

and ``GET /files/<token>/<name>`` (``files.py``) serves that file, with Range, to
whoever holds the URL until it expires (``DEFAULT_TTL``, 10 minutes; up to
``MAX_TTL`` when asked; calling ``fileUrl`` again renews). The secret never appears in
it. The token is::

    base64url(JSON [expires, gid, root index, path below that root]) "." base64url(mac)
    mac = HMAC-SHA256(key, "lixian.fileUrl" NUL expires NUL gid NUL absolute path)

``key`` is 32 random bytes made when the daemon starts, not the RPC secret: links die
with the daemon, and knowing a link teaches nothing about the secret. The path in the
token is relative to its download root, so the URL does not show the machine's layout.
Serving checks the MAC (constant time), the expiry, that ``<name>`` is the signed
file's name, and, again at every request, that the path still resolves to itself
inside the download roots (``Confiner``, the rule every path set over RPC obeys): a
symlink swapped in after signing is refused.

``plan`` decides a response from the request's Range headers and what is on disk:

- A complete file: ``Accept-Ranges``, a strong ``ETag`` and ``Last-Modified``;
  ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` give 206 with ``Content-Range``; an
  unsatisfiable range 416 with ``bytes */size``; several ranges, or a malformed
  header, are ignored (200), as RFC 9110 permits. ``If-Range`` and ``If-None-Match``
  are honoured.
- A file still downloading: only the *contiguous prefix* (the bytes from 0 with no
  hole; the engine writes segments out of order) is served, and the complete length
  is never claimed: 206 answers say ``bytes a-b/*``, a 200 carries the prefix, a range
  starting at or past the prefix is 416, and so is a suffix range (the end of the file
  is not there yet). Such answers have no validators, are ``no-store``, and say how
  much is there in ``Lixian-Available-Length``. Ask again later for more.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import json
import mimetypes
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from lixian.rpc.context import current
from lixian.rpc.errors import Params, RpcError, as_integer
from lixian.rpc.security import Confiner

if TYPE_CHECKING:
    from lixian.rpc.aria2 import Dispatcher

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "FileLinks",
    "LinkRefused",
    "Plan",
    "SignedFile",
    "file_url",
    "parse_range",
    "plan",
]

DEFAULT_TTL = 600
MAX_TTL = 24 * 3600
_DOMAIN = b"lixian.fileUrl"
# Types a browser would run as a page (scripts at the daemon's own origin): downloaded,
# never shown. Every file answer is sandboxed by CSP besides.
_ACTIVE_TYPES = frozenset(
    {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"}
)


class LinkRefused(Exception):
    """A ``/files`` URL that must not be served (answered 403; the reason is logged)."""


@dataclass(frozen=True, slots=True)
class SignedFile:
    gid: str
    path: Path  # absolute and resolved, as signed
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FileLinks:
    """Signs and checks ``/files`` URLs for one daemon (one random key per instance)."""

    def __init__(
        self,
        confiner: Confiner,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.confiner = confiner
        self._key = key if key is not None else secrets.token_bytes(32)
        self._clock = clock

    def _mac(self, expires: int, gid: str, path: Path) -> bytes:
        message = b"\0".join((_DOMAIN, str(expires).encode(), gid.encode(), os.fsencode(path)))
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def confine(self, path: Path) -> Path:
        """``path`` resolved, if inside the download roots; else ``LinkRefused``. Blocking
        (it resolves symlinks): run it in a thread."""
        try:
            return Path(self.confiner("dir", str(path)))
        except RpcError:
            raise LinkRefused(f"{path} is outside the download roots") from None

    def sign(self, gid: str, path: Path, ttl: int = DEFAULT_TTL) -> tuple[str, int]:
        """(URL path, expiry in unix seconds) for ``path``, already confined."""
        roots = self.confiner.roots
        index = next((i for i, root in enumerate(roots) if path.is_relative_to(root)), None)
        if index is None:
            raise LinkRefused(f"{path} is outside the download roots")
        root = roots[index]
        expires = int(self._clock()) + ttl
        relative = str(path.relative_to(root))
        payload = json.dumps([expires, gid, index, relative], separators=(",", ":"))
        mac = self._mac(expires, gid, path)
        token = f"{_b64(payload.encode('utf-8', 'surrogateescape'))}.{_b64(mac)}"
        return f"/files/{token}/{quote(os.fsencode(path.name), safe='')}", expires

    def verify(self, token: str, name: str | bytes) -> SignedFile:
        """The file a URL's token and name stand for; ``LinkRefused`` if tampered with,
        expired, or named otherwise. ``name`` is the URL's last segment, decoded (bytes:
        a file name need not be UTF-8). Does not touch the disk (``confine`` does)."""
        try:
            head, _, tail = token.partition(".")
            payload = json.loads(_unb64(head).decode("utf-8", "surrogateescape"))
            mac = _unb64(tail)
            if _b64(mac) != tail:
                raise ValueError("not the canonical spelling")  # one URL per link
            expires, gid, index, relative = payload
            if not (
                isinstance(expires, int)
                and isinstance(gid, str)
                and isinstance(index, int)
                and isinstance(relative, str)
                and 0 <= index < len(self.confiner.roots)
            ):
                raise ValueError("bad token shape")
        except (ValueError, TypeError, binascii.Error, UnicodeError):
            raise LinkRefused("malformed token") from None
        path = self.confiner.roots[index] / relative
        if not hmac.compare_digest(mac, self._mac(expires, gid, path)):
            raise LinkRefused("bad signature")
        if self._clock() >= expires:
            raise LinkRefused("expired link")
        if os.fsencode(name) != os.fsencode(path.name):
            raise LinkRefused("the name in the URL is not the signed file's")
        return SignedFile(gid, path, expires)


# ---- the RPC method ----


def _integer(p: Params, i: int, default: int, low: int, high: int) -> int:
    raw = p.get(i)
    if raw is None:
        return default
    number = as_integer(raw)
    if number is None:
        raise RpcError(f"The parameter at {i} has wrong type.")
    if not low <= number <= high:
        raise RpcError(f"The parameter at {i} must be between {low} and {high}.")
    return number


async def file_url(rpc: Dispatcher, p: Params) -> object:
    """``lixian.fileUrl(gid, index=1, seconds=600)`` -> ``{"url", "expires"}``."""
    links = current().links
    if links is None:
        raise RpcError("lixian.fileUrl needs the daemon's HTTP server (/files)")
    gid = rpc.resolve(p.string(0))
    index = _integer(p, 1, 1, 1, 1 << 31)
    ttl = _integer(p, 2, DEFAULT_TTL, 1, MAX_TTL)
    files = rpc.manager.status(gid).files
    if index > len(files):
        raise RpcError(f"The given file index {index} is out of range.")
    path = files[index - 1].path
    if path is None:
        raise RpcError(f"GID#{gid} has no file {index} yet; ask again once it has started")

    def check() -> Path:
        resolved = links.confine(path)
        if not resolved.is_file():
            raise RpcError(f"GID#{gid}: file {index} is not on disk")
        return resolved

    try:
        resolved = await asyncio.to_thread(check)
        url, expires = links.sign(gid, resolved, ttl)
    except LinkRefused as exc:
        raise RpcError(str(exc)) from None
    return {"url": url, "expires": expires}


# ---- answering a request (sans-IO) ----


def parse_range(header: str, size: int, *, complete: bool) -> tuple[int, int] | bool:
    """One ``Range`` value against ``size`` bytes: ``(start, end)`` (end exclusive),
    True when unsatisfiable (416), False when it is to be ignored (200)."""
    unit, eq, spec = header.partition("=")
    if not eq or unit.strip().lower() != "bytes" or "," in spec:
        return False
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return False
    if first == "":
        if last == "":
            return False
        suffix = int(last)
        if suffix == 0 or size == 0 or not complete:
            return True  # a partial file's end is not there yet
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return False  # "5-3" is invalid syntax: ignored
    if start >= size:
        return True
    return start, min(int(last) + 1 if last else size, size)


@dataclass(frozen=True, slots=True)
class Plan:
    """One answer: status, headers, and which bytes of the file follow (none for 304/416)."""

    status: int
    headers: dict[str, str]
    start: int = 0
    length: int = 0


def content_headers(name: str) -> dict[str, str]:
    kind = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
    disposition = "inline"
    shown = name.encode("utf-8", "replace")  # a name that is not UTF-8 shows "?"s
    if kind in _ACTIVE_TYPES:
        kind, disposition = "application/octet-stream", "attachment"
    return {
        "Content-Type": kind,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(shown, safe='')}",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Accept-Ranges": "bytes",
    }


def validators(stat: os.stat_result) -> tuple[str, str]:
    """(strong ETag, Last-Modified) of a complete file."""
    etag = f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    return etag, email.utils.formatdate(stat.st_mtime, usegmt=True)


def plan(
    request: Mapping[str, str],
    name: str,
    available: int,
    *,
    complete: bool,
    etag: str = "",
    last_modified: str = "",
) -> Plan:
    """The answer to a GET/HEAD with ``request``'s headers, when ``available`` bytes are
    there (the whole file when ``complete``, else its contiguous prefix)."""
    headers = content_headers(name)
    if complete:
        headers.update({"ETag": etag, "Last-Modified": last_modified})
        headers["Cache-Control"] = "private, no-cache"
        total = str(available)
    else:
        headers["Cache-Control"] = "no-store"
        headers["Lixian-Available-Length"] = str(available)
        total = "*"
    wanted = request.get("Range")
    if_range = request.get("If-Range")
    if (
        wanted is not None
        and if_range is not None
        and (not complete or if_range.strip() not in (etag, last_modified))
    ):
        wanted = None  # a changed (or changing) file: send it whole (RFC 9110 13.1.5)
    if wanted is None and complete:
        match = request.get("If-None-Match")
        if match is not None and (match.strip() == "*" or etag in _tags(match)):
            return Plan(304, {"ETag": etag, "Cache-Control": "private, no-cache"})
    window = parse_range(wanted, available, complete=complete) if wanted is not None else False
    if window is True:
        if complete:
            headers["Content-Range"] = f"bytes */{available}"
        return Plan(416, headers)
    if window is False:
        return Plan(200, headers, 0, available)
    start, end = window
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    return Plan(206, headers, start, end - start)


def _tags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",")]
