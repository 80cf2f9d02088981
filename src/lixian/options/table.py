"""The option table: every option lixian implements, and the aria2 ones it ignores.

One table drives ``lixian get``'s command line, aria2.conf files and the RPC's
``getOption``/``changeOption``, so a name, default or range is written once.
Names, meanings, ranges and argument kinds are aria2c 1.37's; where a default
differs on purpose, the row says ``lixian:`` and docs/differences.md says why.

``scope`` and the ``changeable`` flags mirror aria2's ``OptionHandlerFactory.cc``:
``check-certificate``, ``ca-certificate`` and ``load-cookies`` are global there
(``addUri`` ignores them, ``getOption`` omits them), and so they are here.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping

from lixian import __version__
from lixian.errors import BadOption
from lixian.options.spec import Kind, OptionSpec, OptionValue, check_checksum, check_proxy

__all__ = [
    "ACCEPTED_IGNORED",
    "IGNORED_OPTIONS",
    "OPTIONS",
    "SHORT",
    "format_value",
    "spec_for",
]

_M = 1 << 20
_G = 1 << 30
_INT32_MAX = (1 << 31) - 1
_LOG_LEVELS = ("debug", "info", "notice", "warn", "error")

# Shorthands for the rows below; each returns one OptionSpec.


def _task(
    name: str,
    kind: Kind,
    default: OptionValue | None,
    help: str,
    *,
    short: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    changeable: bool = False,
    global_changeable: bool = True,
    secret: bool = False,
    check: Callable[[str], str] | None = None,
) -> OptionSpec:
    """A per-download option; unless told, changeGlobalOption may set its default."""
    return OptionSpec(
        name, kind, default, short, minimum, maximum, choices, "task", changeable, help,
        global_changeable, secret, check,
    )  # fmt: skip


def _global(
    name: str,
    kind: Kind,
    default: OptionValue | None,
    help: str,
    *,
    short: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    changeable: bool = False,
) -> OptionSpec:
    """A process-wide option; a ``changeable`` one is what changeGlobalOption accepts."""
    return OptionSpec(
        name, kind, default, short, minimum, maximum, choices, "global", changeable, help,
        changeable,
    )  # fmt: skip


_B, _I, _S, _P = Kind.BOOL, Kind.INT, Kind.STRING, Kind.PATH
_Z, _E, _L = Kind.SIZE, Kind.ENUM, Kind.LIST

_IMPLEMENTED = (
    # connections and splitting
    _task("max-connection-per-server", _I, 16, "connections to one server (lixian: 16, aria2: 1)",
          short="x", minimum=1, maximum=16),
    _task("split", _I, 16, "connections per download (lixian: 16, aria2: 5)", short="s", minimum=1),
    _task("min-split-size", _Z, _M, "split no range below 2*SIZE (lixian: 1M, aria2: 20M)",
          short="k", minimum=_M, maximum=_G),
    # where the bytes go
    _task("dir", _P, None, "directory to save into; unset = the working directory", short="d"),
    _task("out", _P, None, "file name, relative to --dir", short="o", global_changeable=False),
    _task("file-allocation", _E, "none", "how to reserve space (lixian: none, aria2: prealloc)",
          choices=("none", "prealloc", "trunc", "falloc")),
    _task("continue", _B, False, "resume a partial file that has no control data", short="c"),
    _task("allow-overwrite", _B, False, "restart from scratch when the file exists"),
    _task("auto-file-renaming", _B, True, "save as file.1.ext when file.ext exists"),
    _task("remote-time", _B, False, "set the file's mtime from Last-Modified", short="R"),
    _task("conditional-get", _B, False, "download only if the remote file is newer"),
    _task("checksum", _S, None, "TYPE=DIGEST to verify, e.g. sha-256=<hex>",
          check=check_checksum, global_changeable=False),
    # the HTTP request
    _task("header", _L, None, "extra request header; repeat for more"),
    _task("user-agent", _S, f"lixian/{__version__}", "User-Agent (aria2: aria2/<version>)",
          short="U"),
    _task("referer", _S, None, "Referer; * means the download URI itself"),
    _task("http-user", _S, None, "HTTP user for every URI"),
    _task("http-passwd", _S, None, "HTTP password for every URI", secret=True),
    _task("all-proxy", _S, None, "proxy for every protocol", check=check_proxy, secret=True),
    _task("http-proxy", _S, None, "proxy for http://", check=check_proxy, secret=True),
    _task("https-proxy", _S, None, "proxy for https://", check=check_proxy, secret=True),
    _task("no-proxy", _S, None, "comma-separated hosts, domains and CIDRs that bypass the proxy"),
    _global("load-cookies", _P, None, "cookies file (Mozilla/Netscape or Firefox3 format)"),
    _global("check-certificate", _B, True, "verify the server's TLS certificate"),
    _global("ca-certificate", _P, None, "PEM file of trusted certificate authorities"),
    # trying again, timing out
    _task("max-tries", _I, 5, "tries per URI; 0 = unlimited", short="m", minimum=0),
    _task("retry-wait", _I, 0, "seconds between tries (429/5xx back off anyway)",
          minimum=0, maximum=600),
    _task("timeout", _I, 60, "seconds without data before giving up a connection",
          short="t", minimum=1, maximum=600),
    _task("connect-timeout", _I, 60, "seconds to establish a connection", minimum=1, maximum=600),
    _task("lowest-speed-limit", _Z, 0, "drop a connection at or below SPEED bytes/s; 0 = off",
          minimum=0),
    _task("max-file-not-found", _I, 0, "give up after N 'not found' answers; 0 = never",
          minimum=0),
    # speed and concurrency
    _task("max-download-limit", _Z, 0, "bytes/s per download; 0 = unlimited", minimum=0,
          changeable=True),
    _global("max-overall-download-limit", _Z, 0, "bytes/s for everything; 0 = unlimited",
            minimum=0, changeable=True),
    _global("max-concurrent-downloads", _I, 5, "downloads running at once", short="j",
            minimum=1, changeable=True),
    # the run itself
    _global("input-file", _P, None, "read URIs (and per-download options) from FILE; - = stdin",
            short="i"),
    _global("force-sequential", _B, False, "one download per command-line URI, one at a time",
            short="Z"),
    _global("quiet", _B, False, "no console output", short="q"),
    _global("conf-path", _P, None, "aria2.conf to read (lixian reads none unless given)"),
    _global("no-conf", _B, False, "do not read a configuration file"),
    _global("log", _P, None, "write the log to FILE; - = stdout", short="l", changeable=True),
    _global("log-level", _E, "debug", "level of the --log file", choices=_LOG_LEVELS,
            changeable=True),
)  # fmt: skip

# aria2 options that change only the console, a cache, or a tuning knob lixian
# decides for itself: accepted (value checked as aria2 would) with a warning, so a
# command line or aria2.conf written for aria2c keeps working.
_IGNORED = (
    _global("show-console-readout", _B, True, "console readout"),
    _global("summary-interval", _I, 60, "progress summary interval", minimum=0,
            maximum=_INT32_MAX),
    _global("console-log-level", _E, "notice", "console log level", choices=_LOG_LEVELS),
    _global("enable-color", _B, True, "colour output"),
    _global("human-readable", _B, True, "human-readable sizes"),
    _global("truncate-console-readout", _B, True, "truncate the readout"),
    _global("download-result", _E, "default", "download result format",
            choices=("default", "full", "hide"), changeable=True),
    _global("stderr", _B, False, "console output to stderr"),
    _global("disable-ipv6", _B, False, "IPv6 off"),
    _global("async-dns", _B, True, "c-ares resolver"),
    _global("event-poll", _E, "epoll", "event loop backend",
            choices=("epoll", "kqueue", "port", "poll", "select")),
    _global("rlimit-nofile", _I, 1024, "open-file limit", minimum=1),
    _global("disk-cache", _Z, 16 * _M, "write cache", minimum=0),
    _global("deferred-input", _B, False, "read -i lazily"),
    _global("auto-save-interval", _I, 60, "control-file save interval (lixian saves state "
            "continuously)", minimum=0, maximum=600),
    _global("max-download-result", _I, 1000, "results kept in memory", minimum=0,
            changeable=True),
    _global("keep-unfinished-download-result", _B, True, "keep unfinished results",
            changeable=True),
    _task("max-resume-failure-tries", _I, 0, "only with --always-resume=false", minimum=0),
    _task("enable-http-keep-alive", _B, True, "persistent connections (always on)"),
    _task("enable-mmap", _B, False, "map files into memory"),
    _task("no-file-allocation-limit", _Z, 5 * _M, "skip allocation below SIZE", minimum=0),
    _task("piece-length", _Z, _M, "split boundary", minimum=_M, maximum=_G),
    _task("uri-selector", _E, "feedback", "mirror choice",
          choices=("inorder", "feedback", "adaptive")),
    _task("stream-piece-selector", _E, "default", "piece order",
          choices=("default", "inorder", "random", "geom")),
    _task("realtime-chunk-checksum", _B, True, "Metalink chunk checks"),
)  # fmt: skip

OPTIONS: Mapping[str, OptionSpec] = types.MappingProxyType({s.name: s for s in _IMPLEMENTED})
"""Every option lixian implements, by long name without dashes."""

IGNORED_OPTIONS: Mapping[str, OptionSpec] = types.MappingProxyType({s.name: s for s in _IGNORED})
"""Specs of the accepted-but-ignored aria2 options, to check and consume their values."""

ACCEPTED_IGNORED: frozenset[str] = frozenset(IGNORED_OPTIONS)

SHORT: Mapping[str, str] = types.MappingProxyType(
    {s.short: s.name for s in _IMPLEMENTED if s.short is not None}
)
"""Short letter -> long name, for implemented options only (``"x"`` -> ``"max-connection-..."``)."""


def spec_for(name: str) -> OptionSpec:
    """The spec of an implemented or ignored option, or ``BadOption`` for anything else."""
    spec = OPTIONS.get(name) or IGNORED_OPTIONS.get(name)
    if spec is None:
        raise BadOption(f"unrecognized option '--{name}'")
    return spec


def format_value(name: str, value: OptionValue) -> str:
    """aria2's string form of ``value`` for option ``name`` (``getOption``, session files).

    ``format_value("continue", True) == "true"``; sizes come out as plain byte
    counts (``"1048576"``), as aria2 reports them; ``header`` comes out as aria2's
    one string with a newline after each item, ``"A: 1\\nB: 2\\n"``. aria2 leaves an
    option that was never set (``None`` here) out of ``getOption`` altogether.
    """
    return spec_for(name).format(value)
