"""What a person reviews before adding a pasted request or cookies.txt: one shape for the page
(RPC ``lixian.parseCurl`` / ``lixian.parseCookies``) and the CLI (``lixian add --curl``).

Values of cookies and of credential-like headers are redacted in the review lists (a prefix,
an ellipsis, the length), so a screenshot or a shoulder does not carry a session away.
``options`` holds them in full: it is what the page passes to ``aria2.addUri``.

Every value is JSON: strings, booleans, ints, lists and dicts of them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from lixian.errors import BadOption
from lixian.importers.cookies import Cookie, cookie_header, cookies_for, parse_cookies_txt
from lixian.importers.curl import CurlRequest, to_options

__all__ = ["cookies_review", "curl_review", "is_sensitive", "redact"]

_SENSITIVE = re.compile(r"auth|token|key|secret|session|passw|signature|csrf|xsrf|cookie", re.I)
ELLIPSIS = "…"


def redact(value: str) -> str:
    """Keep a quarter of the value, at most 4 characters, then an ellipsis.

    >>> redact("eyJhbGciOiJIUzI1NiJ9"), redact("abc"), redact("")
    ('eyJh…', '…', '')
    """
    if not value:
        return ""
    return value[: min(4, len(value) // 4)] + ELLIPSIS


def is_sensitive(name: str) -> bool:
    """A header whose value is a credential (Authorization, X-CSRF-Token, X-Api-Key...)."""
    return bool(_SENSITIVE.search(name))


def curl_review(req: CurlRequest) -> dict[str, object]:
    """``lixian.parseCurl``'s result: the URL, aria2 options, and what to show for review."""
    return {
        "url": req.url,
        "method": req.method,
        "downloadable": req.downloadable,
        "options": to_options(req),
        "notes": list(req.notes),
        "headers": [
            {"name": name, "value": redact(value) if is_sensitive(name) else value}
            for name, value in req.headers
        ],
        "cookies": [
            {"name": name, "domain": req.host, "value": redact(value), "length": len(value)}
            for name, value in req.cookies
        ],
        "dropped": [{"name": name, "reason": reason} for name, reason in req.dropped],
    }


def cookies_review(text: str, url: str | None, now: float) -> dict[str, object]:
    """``lixian.parseCookies``'s result: the jar, and the Cookie header for ``url``.

    With a URL, the cookies that RFC 6265 sends to it (domain, path, secure flag, expiry at
    ``now``) become one ``Cookie`` header in ``options``, like a pasted curl command's: per task,
    and scoped to the URL's origin by the HTTP engine (dropped on a cross-origin redirect).
    Without one, ``options`` is empty and the review lists the jar.
    """
    jar = parse_cookies_txt(text)
    notes: list[str] = []
    options: dict[str, str | list[str]] = {}
    sent: set[int] = set()
    if url:
        host = _host_of(url)
        sent = {i for i, c in enumerate(jar) if cookies_for(url, [c], now)}
        line = cookie_header(cookies_for(url, jar, now))
        if line:
            options["header"] = [f"Cookie: {line}"]
        notes += _scope_notes(jar, sent, host, now)
    else:
        notes.append("give the download's URL to pick the cookies that apply to it")
    return {
        "url": url or "",
        "options": options,
        "notes": notes,
        "cookies": [_cookie_struct(c, i in sent) for i, c in enumerate(jar)],
    }


def _host_of(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unclosed "[" in the host, say
        host = None
    if host is None or parts.scheme.lower() not in ("http", "https"):
        raise BadOption(f"not an http(s) URL: {url[:100]!r}")
    return host


def _scope_notes(jar: Sequence[Cookie], sent: set[int], host: str, now: float) -> list[str]:
    notes: list[str] = []
    expired = sum(1 for c in jar if c.expires != 0 and c.expires <= now)
    if not sent:
        notes.append(f"none of the {len(jar)} cookies apply to {host}")
    elif len(sent) < len(jar):
        notes.append(
            f"{len(sent)} of {len(jar)} cookies apply to {host}; the others are for other "
            "domains or paths, https only, or expired, and are not sent"
        )
    if expired:
        notes.append(f"{expired} of the cookies have expired")
    if sent:
        notes.append(
            "the cookies go in this task's Cookie header: after a redirect to another host "
            "they are not sent, even to a subdomain a cookie covers"
        )
    return notes


def _cookie_struct(cookie: Cookie, sent: bool) -> dict[str, object]:
    return {
        "name": cookie.name,
        "domain": cookie.domain,
        "includeSubdomains": cookie.include_subdomains,
        "path": cookie.path,
        "secure": cookie.secure,
        "httpOnly": cookie.http_only,
        "expires": cookie.expires,
        "value": redact(cookie.value),
        "length": len(cookie.value),
        "sent": sent,
    }
