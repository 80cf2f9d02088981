"""Who may talk to the daemon, and where a path set over RPC may point.

Theory of operation (DESIGN.md, "Security model"). Everything here is a pure decision
over header values and paths; ``server.py`` applies it to every HTTP request and
WebSocket handshake, the method table applies ``Confiner`` to every option set over RPC.

*Reachability decides whether a secret is needed.* A daemon on 127.0.0.1 is reachable
only from this machine, but ``--rpc-listen-all``, a non-loopback ``--host``,
``--rpc-allow-origin-all`` and tunnels or reverse proxies make it reachable by others.
The first three are known at start (``secret_required``): a secret is generated then if
none was given. A tunnel connects from 127.0.0.1 and is only visible by the headers it
adds (``Forwarded``, ``X-Forwarded-For``, ``CF-Connecting-IP``, ``X-Real-IP``): such a
request is refused when no secret is set, with a message saying how to set one.

*Browsers are an attacker's tool even on loopback.* A page the user visits can send a
``text/plain`` POST without a preflight, open a WebSocket, load a ``<script>`` (JSONP)
or ``<img>`` (a GET call) from 127.0.0.1, or rebind its own DNS name to 127.0.0.1. So:

- ``Host`` must name us: a loopback name (``127.0.0.1``, ``localhost``, ``[::1]``, any
  port), any IP literal (a rebinding attack needs a DNS name: a request whose Host is
  an IP went to that IP), or the configured ``--host``. Any other name is DNS
  rebinding, unless a secret is set and the daemon is reachable by others (a LAN name,
  a tunnel's public name): then every call needs the secret anyway.
- ``Origin``, when present, must be our own (the page at ``/``); any other origin only
  with ``--rpc-allow-origin-all`` (which implies a secret). No ``Origin`` is a
  non-browser client (aria2p, curl) and passes. A cross-site request that carries no
  ``Origin`` (``<img>``, ``<script>``) is recognised by ``Sec-Fetch-Site`` and refused
  the same way.

*Paths set over RPC are confined* (``Confiner``): ``dir`` and the files the daemon
reads or writes (``log``, ``save-session``, ...) must resolve inside the download
roots (``--dir`` and below) or the state dir; ``out`` and ``index-out`` are relative
names below the task's ``dir``; ``on-download-*`` hooks run commands and are refused
outright. aria2's RPC lets a client write ``~/.bashrc``; lixian's does not. The
command line and aria2.conf are the operator's and are not confined.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from lixian.errors import PathEscape
from lixian.rpc.errors import RpcError
from lixian.storage.paths import confine

__all__ = [
    "FILE_OPTIONS",
    "HOOK_OPTIONS",
    "PROXY_HEADERS",
    "AccessPolicy",
    "Confiner",
    "Refusal",
    "generate_secret",
    "is_loopback",
    "secret_required",
    "split_host",
]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names that always mean this machine (``localhost.`` with its root dot too)."""

PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "CF-Connecting-IP", "X-Real-IP")
"""Headers a reverse proxy or tunnel adds; their presence means "someone else's request"."""

FILE_OPTIONS = frozenset(
    {
        "log",
        "save-session",
        "save-cookies",
        "server-stat-of",
        "server-stat-if",
        "input-file",
        "dht-file-path",
        "dht-file-path6",
        "load-cookies",
        "ca-certificate",
        "certificate",
        "private-key",
        "netrc-path",
        "conf-path",
        "torrent-file",
        "metalink-file",
        "rpc-certificate",
        "rpc-private-key",
    }
)
"""Options naming a file the daemon reads or writes: confined to the roots or state dir."""

HOOK_OPTIONS = frozenset(
    {
        "on-download-start",
        "on-download-pause",
        "on-download-stop",
        "on-download-complete",
        "on-download-error",
        "on-bt-download-complete",
    }
)
"""Options that run a command: command line and aria2.conf only, never over RPC."""

_RELATIVE_NAMES = frozenset({"out", "index-out"})
_DAEMON_SUFFIXES = (".sqlite3", ".sqlite3-wal", ".sqlite3-shm", ".lock", ".pid", ".secret")


def split_host(value: str) -> tuple[str, int | None]:
    """``"[::1]:6800"`` -> ``("::1", 6800)``; lowercased, root dot dropped; port may be None.

    >>> split_host("LocalHost.:80")
    ('localhost', 80)
    """
    text = value.strip().lower()
    port: int | None = None
    if text.startswith("["):
        name, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        name, _, tail = text.partition(":")
        if tail.isdigit():
            port = int(tail)
    else:
        name = text
    return name.rstrip("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """True when listening on ``host`` is reachable from this machine only."""
    name = host.strip("[]").lower().rstrip(".")
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def secret_required(*, host: str, listen_all: bool, allow_origin_all: bool) -> str | None:
    """Why this configuration makes the daemon reachable by others, or None if it does not.

    The reason is printed next to a generated secret, so the user learns why one appeared.
    """
    if listen_all:
        return "--rpc-listen-all makes the daemon reachable from other machines"
    if not is_loopback(host):
        return f"--host {host} is not a loopback address"
    if allow_origin_all:
        return "--rpc-allow-origin-all lets any web page call the daemon"
    return None


def generate_secret() -> str:
    """A fresh secret: 192 random bits, URL-safe, so it fits in a URL or a shell line."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is turned away: an HTTP status and a message for the client."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The Host/Origin/proxy rules for one daemon (see the module doc).

    ``host`` is the configured listen address; ``public`` says the daemon is reachable
    by others (listen-all or a non-loopback host), which a secret then guards.
    """

    secret: str | None
    host: str = "127.0.0.1"
    public: bool = False
    allow_origin_all: bool = False

    def check(self, headers: Mapping[str, str]) -> Refusal | None:
        """Decide on one request (or WebSocket handshake) from its headers alone."""
        proxied = [name for name in PROXY_HEADERS if name in headers]
        if proxied and not self.secret:
            return Refusal(
                403,
                f"request arrived through a proxy or tunnel ({proxied[0]} header) and this "
                "daemon has no secret; restart lixian serve with --rpc-secret=SECRET "
                "to allow remote access",
            )
        host = headers.get("Host", "")
        if not self.host_allowed(host, proxied=bool(proxied)):
            return Refusal(
                403,
                f"Host {host!r} is not this daemon's name (DNS rebinding?); use "
                "http://127.0.0.1:PORT/ or the --host it listens on",
            )
        origin = headers.get("Origin")
        if origin is not None:
            if not self.origin_allowed(origin, host):
                return Refusal(
                    403,
                    f"cross-origin request from {origin} refused; start the daemon with "
                    "--rpc-allow-origin-all (and a secret) to allow web pages elsewhere",
                )
        elif headers.get("Sec-Fetch-Site", "").lower() in ("cross-site", "same-site") and not (
            self.allow_origin_all and self.secret
        ):
            return Refusal(403, "cross-site request refused")
        return None

    def host_allowed(self, value: str, *, proxied: bool = False) -> bool:
        """Is ``value`` (a Host header) a name this daemon answers to?"""
        if not value:
            return False  # HTTP/1.1 requires Host; browsers always send one
        name, _port = split_host(value)
        if name in LOOPBACK_NAMES or _is_ip(name):
            return True
        if name == split_host(self.host)[0]:
            return True
        return bool(self.secret) and (self.public or proxied)

    def origin_allowed(self, origin: str, host: str) -> bool:
        """Is ``origin`` our own page (same scheme-less authority as Host), or allowed?"""
        if self.allow_origin_all and self.secret:
            return True
        if origin == "null":
            return False  # sandboxed frames and file:// pages
        try:
            parts = urlsplit(origin)
            origin_port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        default = 443 if parts.scheme == "https" else 80
        own_name, own_port = split_host(host)
        return (parts.hostname.rstrip("."), origin_port or default) == (
            own_name,
            own_port or default,
        )


class Confiner:
    """``confine(name, value)`` for options set over RPC: the value to use, or ``RpcError``.

    ``roots`` are the download roots (``--dir``; their subdirectories are inside them).
    The state file's directory may also receive session files, logs and cookies, but
    never the daemon's own files there (databases, locks, pid and secret files: a
    ``log`` pointed at the state database would corrupt it). Relative ``dir`` and file
    values are taken relative to the first root; accepted ones come back absolute, so a
    later change of working directory cannot move them. Other names come back unchanged.

    >>> c = Confiner([Path("/srv/dl")])
    >>> c("dir", "movies")
    '/srv/dl/movies'
    """

    def __init__(self, roots: Iterable[Path], state_file: Path | None = None) -> None:
        self.roots = tuple(Path(r).resolve() for r in roots)
        if not self.roots:
            raise ValueError("at least one download root is required")
        state = state_file.resolve() if state_file is not None else None
        self.state_dir = state.parent if state is not None else None
        self._own_prefix = state.stem + "." if state is not None else None

    def __call__(self, name: str, value: str) -> str:
        if name in HOOK_OPTIONS:
            raise RpcError(
                f"--{name} runs a command and can only be set on the command line or in "
                "the configuration file, not over RPC"
            )
        if "\x00" in value:
            raise RpcError(f"--{name}: refusing a value with a NUL character")
        if name == "dir":
            return str(self._inside(name, value, self.roots))
        if name in FILE_OPTIONS:
            if value in ("", "-") and name in ("log", "save-session"):
                return value  # "" turns the file off; log "-" is the console
            places = self.roots + ((self.state_dir,) if self.state_dir else ())
            target = self._inside(name, value, places)
            if self._is_daemon_file(target):
                raise RpcError(f"--{name}={value} names one of the daemon's own files")
            return str(target)
        if name in _RELATIVE_NAMES:
            self._relative(name, value)
        return value

    def _is_daemon_file(self, target: Path) -> bool:
        if self._own_prefix is None or self.state_dir is None:
            return False
        if not target.is_relative_to(self.state_dir):
            return False
        # The first component under the state dir decides: state-6800.sqlite3, its -wal
        # and .lock, .pid, .secret, and whole dirs such as state-6800.backup/ (other
        # daemons' too). A file deeper inside one of those is the daemon's as well.
        first = target.relative_to(self.state_dir).parts[0]
        return first.startswith(self._own_prefix) or first.endswith(_DAEMON_SUFFIXES)

    def _inside(self, name: str, value: str, places: tuple[Path, ...]) -> Path:
        text = value.replace("${HOME}", str(Path.home()))  # as the option parser will
        raw = Path(text)
        if not raw.is_absolute():
            raw = self.roots[0] / raw
        try:
            target = raw.resolve()
        except (OSError, RuntimeError) as exc:
            raise RpcError(f"--{name}: cannot resolve {value!r}: {exc}") from None
        if any(target.is_relative_to(place) for place in places):
            return target
        allowed = ", ".join(str(p) for p in places)
        raise RpcError(f"--{name}={value} is outside the directories lixian may use ({allowed})")

    def _relative(self, name: str, value: str) -> None:
        """``out=sub/a.iso``; ``index-out=3=sub/a.iso``: a relative name, never ``..``."""
        index, eq, rest = value.partition("=")
        path = rest if name == "index-out" and eq and index.strip().isdigit() else value
        if not path:
            return
        try:
            confine(self.roots[0], path)  # the syntax rules; the engine re-checks at open
        except PathEscape as exc:
            raise RpcError(f"--{name}: {exc}") from None
