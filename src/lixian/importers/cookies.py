"""Read Netscape/Mozilla ``cookies.txt`` files (``--load-cookies``) and pick cookies for a URL.

Theory of operation
-------------------
``cookies.txt`` is what browser extensions, curl (``-c``), wget and yt-dlp export, and what
aria2c ``--load-cookies`` reads. Each cookie is one line of 7 TAB-separated fields::

    domain  include_subdomains  path  secure  expires  name  value
    .example.com  TRUE  /  FALSE  1767225600  sid  abc123

* ``include_subdomains`` (``TRUE``/``FALSE``) decides whether ``sub.example.com`` gets the
  cookie. A leading dot on ``domain`` is dropped and means nothing by itself: curl and aria2
  both go by the flag (aria2c 1.37 sends ``.example.com FALSE`` to ``example.com`` only).
* ``secure`` ``TRUE`` cookies go over https (and wss) only.
* ``expires`` is Unix seconds; ``0`` marks a session cookie, which is kept. A cookie whose time
  has come is dropped.
* A line starting ``#HttpOnly_`` is a cookie, not a comment: curl and the browser exporters write
  the HttpOnly flag that way. aria2 skips those lines, losing exactly the login cookies
  (OneDrive's ``FedAuth``, for one) users export; lixian sends them, since HttpOnly only hides a
  cookie from page scripts.
* Other ``#`` lines and blank lines are comments. CRLF and a UTF-8 BOM are tolerated.
* Like curl and aria2, a line with 6 fields is a cookie with an empty value.
* A line with no TAB at all is split on runs of spaces instead: copying a cookies.txt through a
  web page or an editor often turns its TABs into spaces, and cookie fields never hold spaces.

A malformed line is skipped, so one odd line does not cost the whole jar; but a non-empty file
where *no* line parses raises :class:`BadOption`, because that is the wrong file, not a jar.

Matching follows RFC 6265 section 5.4: host domain-match (case-insensitive; an IP address matches
only itself), path-match, the secure flag, expiry. Cookies with longer paths come first (5.4
step 2); a later line with the same (domain, host-only, path, name) replaces an earlier one, as
a browser's jar would.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from lixian.errors import BadOption

__all__ = ["Cookie", "cookie_header", "cookies_for", "parse_cookies_txt"]

_HTTPONLY_PREFIX = "#HttpOnly_"
_SECURE_SCHEMES = frozenset({"https", "wss"})


@dataclass(frozen=True)
class Cookie:
    """One cookie as a cookies.txt line states it.

    ``domain`` is lower-case without its leading dot; ``expires`` is Unix seconds, 0 for a
    session cookie.
    """

    domain: str
    include_subdomains: bool
    path: str
    secure: bool
    expires: int
    name: str
    value: str
    http_only: bool


def parse_cookies_txt(text: str) -> list[Cookie]:
    """Parse a cookies.txt file, skipping lines that are not cookies.

    Raises :class:`BadOption` when the text has lines that are neither comments nor blank and
    none of them is a cookie: a user who passed ``--load-cookies`` wants to hear that it did
    nothing. A file of comments only (an empty jar) is fine.

    >>> parse_cookies_txt(".example.com\\tTRUE\\t/\\tFALSE\\t0\\tsid\\tabc")[0].name
    'sid'
    """
    cookies: list[Cookie] = []
    first_bad: int | None = None
    for number, raw in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = raw.strip("\r\n")
        stripped = line.strip()
        if not stripped:
            continue
        http_only = stripped.startswith(_HTTPONLY_PREFIX)
        if http_only:
            line = line.lstrip()[len(_HTTPONLY_PREFIX) :]
        elif stripped.startswith("#"):
            continue
        cookie = _parse_line(line, http_only)
        if cookie is None:
            first_bad = number if first_bad is None else first_bad
        else:
            cookies.append(cookie)
    if not cookies and first_bad is not None:
        raise BadOption(
            f"no cookie found in the cookies file (line {first_bad} is not a "
            "Netscape cookies.txt line: domain, flag, path, secure, expires, name, value)"
        )
    return cookies


def _parse_line(line: str, http_only: bool) -> Cookie | None:
    """Parse one cookie line (``#HttpOnly_`` already removed), or None if it is malformed."""
    fields = line.split("\t") if "\t" in line else line.split()
    if len(fields) == 6:
        fields.append("")
    if len(fields) != 7:
        return None
    domain, subdomains, path, secure, expires_text, name, value = fields
    domain = domain.strip().lower().removeprefix(".")
    path = path.strip() or "/"
    name = name.strip()
    expires = _parse_expires(expires_text.strip())
    if not domain or not name or not path.startswith("/") or expires is None:
        return None
    return Cookie(
        domain=domain,
        include_subdomains=subdomains.strip().upper() == "TRUE",
        path=path,
        secure=secure.strip().upper() == "TRUE",
        expires=expires,
        name=name,
        value=value.strip(),
        http_only=http_only,
    )


def _parse_expires(text: str) -> int | None:
    """Unix seconds; some exporters write fractions (``1767225600.5``), so accept those too."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        seconds = float(text)
    except ValueError:
        return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return int(seconds)


def cookies_for(url: str, cookies: Sequence[Cookie], now: float) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs to send with a request for ``url`` at Unix time ``now``.

    ``now`` comes in rather than being read from a clock, so the choice is a pure function.

    >>> jar = parse_cookies_txt(".example.com\\tTRUE\\t/\\tTRUE\\t0\\tsid\\tabc")
    >>> cookies_for("https://www.example.com/x", jar, now=0.0)
    [('sid', 'abc')]
    >>> cookies_for("http://www.example.com/x", jar, now=0.0)
    []
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # e.g. an unclosed "[" in an IPv6 host: no host, no cookies
        return []
    if not host:
        return []
    secure = parts.scheme.lower() in _SECURE_SCHEMES
    request_path = parts.path or "/"
    host_is_ip = _is_ip(host)

    chosen: dict[tuple[str, bool, str, str], Cookie] = {}
    for cookie in cookies:
        if cookie.expires != 0 and cookie.expires <= now:
            continue
        if cookie.secure and not secure:
            continue
        if not _domain_matches(host, host_is_ip, cookie):
            continue
        if not _path_matches(request_path, cookie.path):
            continue
        key = (cookie.domain, cookie.include_subdomains, cookie.path, cookie.name)
        chosen.pop(key, None)  # a later duplicate replaces the earlier one, in its own place
        chosen[key] = cookie
    ordered = sorted(chosen.values(), key=lambda c: -len(c.path))  # stable: file order kept
    return [(c.name, c.value) for c in ordered]


def cookie_header(pairs: Iterable[tuple[str, str]]) -> str:
    """Join pairs into a ``Cookie`` header value, ``"a=1; b=2"`` (RFC 6265 section 5.4 step 4).

    An empty result means: send no ``Cookie`` header at all.
    """
    return "; ".join(f"{name}={value}" for name, value in pairs)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _domain_matches(host: str, host_is_ip: bool, cookie: Cookie) -> bool:
    """RFC 6265 section 5.1.3, with host-only cookies (flag FALSE) matching the host alone."""
    if host == cookie.domain:
        return True
    if not cookie.include_subdomains or host_is_ip:
        return False
    return host.endswith("." + cookie.domain)


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 section 5.1.4: ``/docs`` matches ``/docs`` and ``/docs/x`` but not ``/docsx``."""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
