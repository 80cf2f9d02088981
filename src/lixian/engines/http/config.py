"""The HTTP engine's settings: a frozen view built from the option table by the core.

The engine never sees aria2's string options; it gets validated values here.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from multidict import CIMultiDict
from yarl import URL

from lixian.engines.http.planner import PlanLimits
from lixian.importers.cookies import Cookie, cookie_header, cookies_for
from lixian.storage.local import FilePolicy

__all__ = ["HttpConfig", "ProxyConfig", "request_headers"]

MAX_REDIRECTS = 20  # aria2's limit before "too many redirects" (23)
_HOP_SENSITIVE = ("authorization", "cookie")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """aria2c's proxy rules. ``None`` = not given; ``""`` = given empty, which clears.

    Precedence, as aria2c: ``--http(s)-proxy`` > ``http(s)_proxy`` in the environment (aria2c
    reads it as ``--http(s)-proxy``) > ``--all-proxy`` > ``all_proxy``. ``--no-proxy`` (else
    ``no_proxy``) lists hosts, domains (``.example.com``) and networks (``127.0.0.0/8``).
    """

    all_proxy: str | None = None
    http_proxy: str | None = None
    https_proxy: str | None = None
    no_proxy: tuple[str, ...] | None = None
    from_env: bool = True

    def for_url(self, url: URL) -> str | None:
        host = url.host or ""
        env = _env_proxies() if self.from_env else {}
        no_proxy = self.no_proxy
        if no_proxy is None:
            no_proxy = tuple(x.strip() for x in env.get("no", "").split(",") if x.strip())
        if any(_host_matches(host, pattern) for pattern in no_proxy):
            return None
        explicit = self.https_proxy if url.scheme == "https" else self.http_proxy
        for candidate in (explicit, env.get(url.scheme), self.all_proxy, env.get("all")):
            if candidate is not None:
                return candidate or None  # an empty option clears what follows
        return None


@functools.lru_cache(maxsize=1)
def _env_proxies() -> dict[str, str]:
    """The proxy variables, read once: scanning the environment per request showed up
    in profiles of 1,000 small downloads."""
    return urllib.request.getproxies_environment()


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    host = host.strip("[]").lower()
    if pattern == "*":
        return True
    if "/" in pattern or _is_ip(pattern):
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    pattern = pattern.lstrip(".")
    return host == pattern or host.endswith("." + pattern)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class HttpConfig:
    limits: PlanLimits = field(default_factory=PlanLimits)
    headers: tuple[tuple[str, str], ...] = ()
    user_agent: str = "lixian"
    referer: str | None = None
    cookies: tuple[Cookie, ...] = ()
    http_user: str | None = None
    http_passwd: str | None = None
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    check_certificate: bool = True
    ca_certificate: Path | None = None
    timeout: float = 60.0
    connect_timeout: float = 60.0
    lowest_speed_limit: int = 0
    max_download_limit: int = 0
    policy: FilePolicy = field(default_factory=FilePolicy)
    remote_time: bool = False
    conditional_get: bool = False
    checksum: tuple[str, str] | None = None  # (hashlib name, hex digest)
    max_redirects: int = MAX_REDIRECTS


def request_headers(
    config: HttpConfig, url: URL, origin: URL, start: int, end: int | None
) -> CIMultiDict[str]:
    """Headers for one request to ``url`` of a download that began at ``origin``.

    Authorization and Cookie headers the user gave go only to the origin they were
    given for, as curl does after a cross-origin redirect; cookies from a cookies.txt
    follow their own domain rules. Header names are case-insensitive: a user's
    ``accept: x`` replaces lixian's ``Accept`` instead of being sent beside it.
    """
    same_origin = (url.scheme, url.host, url.port) == (origin.scheme, origin.host, origin.port)
    headers: CIMultiDict[str] = CIMultiDict(
        {"User-Agent": config.user_agent, "Accept-Encoding": "identity", "Accept": "*/*"}
    )
    if config.referer:
        headers["Referer"] = config.referer
    given: set[str] = set()
    for name, value in config.headers:
        if not same_origin and name.lower() in _HOP_SENSITIVE:
            continue
        if name.lower() not in given:  # the user's header replaces lixian's default...
            headers.popall(name, None)
            given.add(name.lower())
        headers.add(name, value)  # ...and repeated ones (two X-Foo) are all sent
    user = config.http_user if config.http_user is not None else origin.user
    passwd = config.http_passwd if config.http_passwd is not None else origin.password
    if same_origin and user is not None and "Authorization" not in headers:
        token = base64.b64encode(f"{user}:{passwd or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    jar = cookies_for(str(url), config.cookies, time.time())
    if jar:
        prior = headers.get("Cookie")
        headers["Cookie"] = "; ".join(x for x in (prior, cookie_header(jar)) if x)
    headers["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
    return headers
