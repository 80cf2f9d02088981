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
from dataclasses import replace

from lixian import __version__
from lixian.errors import BadOption
from lixian.options.spec import (
    Kind,
    OptionSpec,
    OptionValue,
    check_checksum,
    check_index_out,
    check_listen_port,
    check_prioritize_piece,
    check_proxy,
    check_select_file,
)

__all__ = [
    "ACCEPTED_IGNORED",
    "DAEMON_ALIASES",
    "DAEMON_OPTIONS",
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
    secret: bool = False,
    check: Callable[[str], str] | None = None,
) -> OptionSpec:
    """A process-wide option; a ``changeable`` one is what changeGlobalOption accepts."""
    return OptionSpec(
        name, kind, default, short, minimum, maximum, choices, "global", changeable, help,
        changeable, secret, check,
    )  # fmt: skip


_B, _I, _S, _P = Kind.BOOL, Kind.INT, Kind.STRING, Kind.PATH
_Z, _E, _L, _F = Kind.SIZE, Kind.ENUM, Kind.LIST, Kind.FLOAT

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
    # lixian's storage step (docs/storage.md)
    _task("dest", _S, None, "where files go when done: a dir, or an rclone REMOTE:PATH"),
    _task("mount-remote", _S, None, "the rclone REMOTE:PATH behind a mounted --dir/--dest"),
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
    _global("staging-dir", _P, None, "local room for files bound for a mount or remote"),
    _global("min-free-space", _S, "1G,2%", "pause downloads before a disk gets this full",
            changeable=True),
    _global("max-staging-space", _Z, 0, "staged-but-undelivered bytes at most; 0 = no limit",
            minimum=0, changeable=True),
    _global("log-level", _E, "debug", "level of the --log file", choices=_LOG_LEVELS,
            changeable=True),
    # BitTorrent (docs/bittorrent.md). libtorrent has one session per process: the options
    # marked "session-wide" take the global value whatever a download says.
    _global("torrent-file", _P, None, "a .torrent to download (FILE.torrent as a URI works too)",
            short="T"),
    _task("select-file", _S, None, "download only these files of a torrent, e.g. 1-5,8",
          check=check_select_file, global_changeable=False),
    _task("index-out", _L, None, "INDEX=PATH: save file INDEX of a torrent as PATH; repeatable",
          short="O", check=check_index_out, global_changeable=False),
    _task("seed-time", _F, None, "minutes to seed after the download; 0 = do not seed",
          minimum=0),
    _task("seed-ratio", _F, 1.0, "seed until uploaded/downloaded reaches RATIO; 0 = no limit",
          minimum=0),
    _task("bt-tracker", _S, None, "more trackers, comma-separated (each a tier of its own)"),
    _task("bt-exclude-tracker", _S, None, "trackers to drop, comma-separated; * = all of the "
          "torrent's"),
    _global("bt-tracker-list-url", _S, None, "lixian: a tracker list (one URL a line) added to "
            "public torrents, fetched at start and daily, cached", changeable=True),
    _task("bt-max-peers", _I, 55, "peers per torrent; 0 = unlimited", minimum=0,
          changeable=True),
    _task("max-upload-limit", _Z, 0, "upload bytes/s per torrent; 0 = unlimited", short="u",
          minimum=0, changeable=True),
    _global("max-overall-upload-limit", _Z, 0, "upload bytes/s for everything; 0 = unlimited",
            minimum=0, changeable=True),
    _task("bt-metadata-only", _B, False, "fetch a magnet's metadata only, not its files"),
    _task("bt-save-metadata", _B, False, "save a magnet's metadata as DIR/INFOHASH.torrent"),
    _task("pause-metadata", _B, False, "add the download that follows a magnet paused"),
    _task("follow-torrent", _E, "true", "a downloaded .torrent starts its download (mem: "
          "without keeping the file)", choices=("true", "mem", "false")),
    _task("bt-remove-unselected-file", _B, False, "delete the unselected files when seeding ends",
          changeable=True),
    _task("check-integrity", _B, False, "hash the pieces on disk first, fetch only bad ones",
          short="V"),
    _task("bt-prioritize-piece", _S, None, "fetch the head/tail of each file first: "
          "head[=SIZE],tail[=SIZE]", check=check_prioritize_piece),
    _task("bt-sequential", _B, False, "lixian: fetch pieces in order, so a file plays while "
          "it downloads", changeable=True),
    _task("enable-peer-exchange", _B, True, "peer exchange (PEX)"),
    _task("bt-enable-lpd", _B, False, "Local Peer Discovery on the LAN (session-wide)"),
    _task("bt-require-crypto", _B, False, "refuse peers that will not encrypt (session-wide)"),
    _task("bt-min-crypto-level", _E, "plain", "weakest encryption accepted (session-wide)",
          choices=("plain", "arc4")),
    _global("enable-dht", _B, True, "find peers through the DHT (trackerless torrents, "
            "magnets)"),
    _global("listen-port", _S, "6881-6999", "port(s) peers connect to: the first free one of "
            "the first range is used", check=check_listen_port),
    _global("dht-listen-port", _S, "6881-6999", "DHT port (libtorrent uses --listen-port's: "
            "a different value is warned about)", check=check_listen_port),
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
    # BitTorrent knobs libtorrent decides for itself
    _task("bt-tracker-interval", _I, 0, "announce interval (the tracker's is used)", minimum=0),
    _task("bt-tracker-timeout", _I, 60, "tracker timeout", minimum=1, maximum=600),
    _task("bt-tracker-connect-timeout", _I, 60, "tracker connect timeout", minimum=1,
          maximum=600),
    _task("bt-request-peer-speed-limit", _Z, 50 * 1024, "peer-count speed target", minimum=0),
    _task("bt-hash-check-seed", _B, True, "seed after --check-integrity"),
    _task("bt-seed-unverified", _B, False, "seed without a hash check"),
    _task("bt-stop-timeout", _I, 0, "stop a stalled torrent", minimum=0),
    _task("bt-enable-hook-after-hash-check", _B, True, "hook after a hash check"),
    _task("bt-load-saved-metadata", _B, False, "read a saved .torrent for a magnet"),
    _global("bt-max-open-files", _I, 100, "open files across torrents", minimum=1),
    _global("bt-detach-seed-only", _B, False, "seeding outside max-concurrent-downloads"),
    _global("enable-dht6", _B, False, "IPv6 DHT (libtorrent runs one DHT for both)"),
    _global("dht-message-timeout", _I, 10, "DHT message timeout", minimum=1, maximum=60),
)  # fmt: skip

# What only ``lixian serve`` accepts: aria2's RPC-server options (its names, kinds and
# defaults, so an aria2c command line or aria2.conf starts the daemon unchanged), and
# lixian's short spellings of the same things. Kept out of ``OPTIONS`` on purpose:
# ``lixian get`` serves no RPC, so ``lixian get --enable-rpc`` stays an error there.
_DAEMON = (
    _global("enable-rpc", _B, False, "accepted for aria2c compatibility; lixian serve always "
            "serves RPC"),
    _global("rpc-listen-port", _I, 6800, "RPC port", minimum=1024, maximum=65535),
    _global("rpc-listen-all", _B, False, "listen on every interface (a secret is then required)"),
    _global("rpc-secret", _S, None, "RPC secret token (generated when one is required)",
            secret=True),
    _global("rpc-allow-origin-all", _B, False, "CORS for any origin (requires a secret)"),
    _global("rpc-max-request-size", _Z, 2 * _M, "largest RPC request body", minimum=0),
    _global("save-session", _P, None, "write unfinished downloads to FILE at exit and on "
            "saveSession", changeable=True),
    _global("save-session-interval", _I, 0, "also save the session every N seconds; 0 = only "
            "at exit", minimum=0),
    _global("daemon", _B, False, "run in the background (pidfile in the state dir)", short="D"),
    _global("max-download-result", _I, 1000, "stopped downloads kept in the results list",
            minimum=0, changeable=True),
    _global("pause", _B, False, "add every new download paused"),
    # lixian's own: the listen address and the durable state file.
    _global("host", _S, "127.0.0.1", "lixian: address to listen on (a secret is required "
            "unless it is loopback)"),
    _global("state", _P, None, "lixian: the SQLite state file (default: per RPC port, in the "
            "user data dir)"),
    # lixian's own: surviving the machine (store/backup.py, docs/storage.md).
    _global("state-backup", _S, None, "lixian: checkpoint the state to TARGET, an rclone "
            "REMOTE:PATH or a directory (e.g. a mounted Drive folder)"),
    _global("state-backup-interval", _I, 60, "lixian: seconds between state checkpoints",
            minimum=1, maximum=86400),
    _global("backup-partials", _B, False, "lixian: checkpoint partial downloads too"),
    _global("restore-from", _S, None, "lixian: on an empty state, restore the queue (and "
            "partial downloads) from a --state-backup TARGET"),
)  # fmt: skip
_DAEMON_BY_NAME = {s.name: s for s in _DAEMON}
DAEMON_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {"port": "rpc-listen-port", "secret": "rpc-secret"}
)
"""lixian's short spellings -> the aria2 option they set (``--port 6801``)."""

OPTIONS: Mapping[str, OptionSpec] = types.MappingProxyType({s.name: s for s in _IMPLEMENTED})
"""Every option lixian implements, by long name without dashes."""

IGNORED_OPTIONS: Mapping[str, OptionSpec] = types.MappingProxyType({s.name: s for s in _IGNORED})
"""Specs of the accepted-but-ignored aria2 options, to check and consume their values."""

DAEMON_OPTIONS: Mapping[str, OptionSpec] = types.MappingProxyType(
    {s.name: s for s in _DAEMON}
    | {alias: replace(_DAEMON_BY_NAME[target], name=alias, short=None)
       for alias, target in DAEMON_ALIASES.items()}
)  # fmt: skip
"""``lixian serve``'s options beyond ``OPTIONS`` (aria2's RPC ones, and lixian's aliases)."""

ACCEPTED_IGNORED: frozenset[str] = frozenset(IGNORED_OPTIONS)

SHORT: Mapping[str, str] = types.MappingProxyType(
    {s.short: s.name for s in _IMPLEMENTED if s.short is not None}
)
"""Short letter -> long name, for implemented options only (``"x"`` -> ``"max-connection-..."``)."""


# Options aria2 does not have: lixian's storage step and state backup. They are listed in
# docs/differences.md as additions.
LIXIAN_ONLY = frozenset(
    {"dest", "mount-remote", "staging-dir", "min-free-space", "max-staging-space",
     "state-backup", "state-backup-interval", "backup-partials", "restore-from",
     "bt-tracker-list-url", "bt-sequential"}
)  # fmt: skip


def spec_for(name: str) -> OptionSpec:
    """The spec of an implemented, daemon or ignored option, or ``BadOption`` otherwise."""
    spec = OPTIONS.get(name) or DAEMON_OPTIONS.get(name) or IGNORED_OPTIONS.get(name)
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
