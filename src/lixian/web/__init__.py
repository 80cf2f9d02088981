"""The daemon's own web page: the built bundle in ``static/``, served at ``/``.

The page's sources (TypeScript, CSS) live beside this file; ``make web`` bundles them
with esbuild into ``static/`` (never committed; shipped in the wheel as package data).
``install`` serves that bundle, or, when it was not built, the placeholder page the
server passes in, which says how to build it.

Every URL the page uses is relative (``static/app.js``, ``jsonrpc``, ``files/...``), so
a reverse proxy may mount the daemon under any path prefix. Answers carry a strict
Content-Security-Policy: scripts and styles only from the daemon itself, no inline
script, no eval, connections only to the daemon (its WebSocket included), media and
images from the daemon or ``blob:``, no framing, no forms posting elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

__all__ = ["CSP", "STATIC", "bundle_present", "install"]

STATIC = Path(__file__).resolve().parent / "static"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".html": "text/html",
    ".png": "image/png",
    ".json": "application/json",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bundle_present(static: Path = STATIC) -> bool:
    return (static / "index.html").is_file() and (static / "app.js").is_file()


def _secure(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def install(app: web.Application, placeholder: Handler, static: Path = STATIC) -> bool:
    """Serve the page at ``/`` and its files at ``/static/<name>``; True if the bundle
    is there, else ``placeholder`` answers ``/`` (and False is returned).

    The bundle's file list is read once, at start: only those names are served (no path
    below ``static/`` is ever built from the request)."""
    if not bundle_present(static):
        app.router.add_get("/", placeholder)
        return False
    files = {p.name: p for p in static.iterdir() if p.is_file() and p.suffix in _TYPES}

    async def index(request: web.Request) -> web.StreamResponse:
        return _secure(web.FileResponse(files["index.html"], headers={"Content-Type": "text/html"}))

    async def asset(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="no such file in the page's bundle\n")
        kind = _TYPES[path.suffix]
        return _secure(web.FileResponse(path, headers={"Content-Type": kind}))

    app.router.add_get("/", index)
    app.router.add_get("/index.html", index)
    app.router.add_get("/static/{name}", asset)
    return True
