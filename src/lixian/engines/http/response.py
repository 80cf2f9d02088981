"""Sans-IO checks of what a server answered to a (range) request.

Rules, from RFC 9110 §14 and what aria2 insists on:

* ``206`` must carry ``Content-Range: bytes FIRST-LAST/TOTAL`` starting exactly where we
  asked; a different start is a lie (the bytes would land in the wrong place).
* ``200`` to a request for ``bytes=N-`` with N > 0 means the server ignored Range, or
  ``If-Range`` found a different version; the body starts at byte 0.
* ``416`` with ``bytes */N`` for a request from byte N means nothing is missing; any
  other ``416`` is an error.
* Statuses >= 400 become ``HttpStatusError`` with aria2's code and any ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lixian.errors import BadResponse, HttpStatusError, ResourceChanged
from lixian.storage.control import ResourceMeta

__all__ = [
    "Reply",
    "check_reply",
    "check_same",
    "parse_content_range",
    "parse_retry_after",
    "same_resource",
]

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_EMPTY_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a good response means for the download."""

    start: int  # where the body's first byte goes
    size: int | None  # the whole file's size, None when unknown
    accepts_ranges: bool
    etag: str | None
    last_modified: str | None


def parse_content_range(value: str) -> tuple[int, int, int | None]:
    """``bytes 0-99/1000`` -> ``(0, 100, 1000)`` (end exclusive; total None for ``*``)."""
    m = _CONTENT_RANGE.match(value)
    if not m:
        raise BadResponse(f"malformed Content-Range: {value!r}")
    first, last = int(m[1]), int(m[2])
    total = None if m[3] == "*" else int(m[3])
    if last < first or (total is not None and last >= total):
        raise BadResponse(f"impossible Content-Range: {value!r}")
    return first, last + 1, total


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def check_reply(
    status: int, headers: Mapping[str, str], url: str, start: int, end: int | None
) -> Reply:
    """Validate a response to ``Range: bytes=start-(end-1)``; raise what is wrong."""
    etag = headers.get("ETag")
    last_modified = headers.get("Last-Modified")
    length = _int_or_none(headers.get("Content-Length"))
    if status >= 400:
        if status == 416:
            m = _EMPTY_RANGE.match(headers.get("Content-Range", ""))
            if m and int(m[1]) == start:
                # We asked from the very end: an empty file, or (--continue) one we
                # already have whole.
                return Reply(start, start, True, etag, last_modified)
        raise HttpStatusError(
            status, url, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    if status == 206:
        value = headers.get("Content-Range")
        if value is None:
            raise BadResponse(f"206 without Content-Range from {url}")
        first, last, total = parse_content_range(value)
        if first != start or (end is not None and last > end):
            raise BadResponse(
                f"asked for bytes {start}-{'' if end is None else end - 1}, got {value!r}"
            )
        if length is not None and length != last - first:
            raise BadResponse(f"Content-Length {length} does not match Content-Range {value!r}")
        return Reply(first, total, total is not None, etag, last_modified)
    if status == 200:
        # The whole entity. Ranges work only if the server says so *and* honoured ours.
        ranges = "bytes" in headers.get("Accept-Ranges", "").lower() and start == 0
        return Reply(0, length, ranges and length is not None, etag, last_modified)
    if status == 204:
        return Reply(0, 0, False, etag, last_modified)
    raise BadResponse(f"unexpected HTTP status {status} from {url}")


def same_resource(old: ResourceMeta, new: ResourceMeta) -> bool:
    """True when ``new`` describes the same bytes as ``old`` (never splice two versions)."""
    if old.size is not None and new.size is not None and old.size != new.size:
        return False
    if old.etag and new.etag:
        return old.etag == new.etag
    if old.last_modified and new.last_modified:
        return old.last_modified == new.last_modified
    return old.size is not None and old.size == new.size


def check_same(old: ResourceMeta, new: ResourceMeta) -> None:
    if not same_resource(old, new):
        raise ResourceChanged(f"{new.url} changed on the server (ETag/Last-Modified/size)")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
