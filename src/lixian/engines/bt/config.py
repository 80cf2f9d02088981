"""The BitTorrent engine's settings: frozen views the core builds from the option table.

Two views, because libtorrent has two scopes: :class:`BtSessionConfig` is the one session per
process (ports, DHT, LPD, encryption, overall limits), :class:`BtOptions` is one torrent
(files, seeding, trackers, its own limits). The engine never sees aria2's option strings; the
parsers here (``--listen-port`` ranges, ``--select-file``, ``--bt-prioritize-piece``,
``--index-out``) are pure and raise :class:`~lixian.errors.BadOption` (28) for the option table
to use.

Defaults are lixian's product defaults (aria2's where lixian does not differ on purpose); a test
builds its own loopback-only config and never relies on them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from lixian import __version__
from lixian.errors import BadOption
from lixian.options.spec import parse_size

__all__ = [
    "DEFAULT_DHT_ROUTERS",
    "BtOptions",
    "BtSessionConfig",
    "PiecePriority",
    "parse_index_out",
    "parse_listen_ports",
    "parse_prioritize_piece",
    "parse_select_file",
]

DEFAULT_DHT_ROUTERS: tuple[tuple[str, int], ...] = (
    ("router.bittorrent.com", 6881),
    ("router.utorrent.com", 6881),
    ("dht.transmissionbt.com", 6881),
    ("dht.libtorrent.org", 25401),
)
"""Where a fresh node joins the DHT (the routers every major client ships)."""

_PORT_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


@dataclass(frozen=True, slots=True)
class BtSessionConfig:
    """Everything the process-wide libtorrent session is set up from.

    Each field maps to libtorrent settings in ``session.settings_pack``; see
    docs/bittorrent.md for the why of each default (uTP above all).
    """

    listen_hosts: tuple[str, ...] = ("0.0.0.0", "::")
    listen_ports: tuple[int, int] = (6881, 6999)  # first, last: libtorrent tries each in turn
    dht_listen_port: int | None = None  # aria2's --dht-listen-port; libtorrent shares the socket
    outgoing_interface: str | None = None  # bind outgoing peer connections (aria2 --interface)
    enable_dht: bool = True
    dht_bootstrap_nodes: tuple[tuple[str, int], ...] = DEFAULT_DHT_ROUTERS
    enable_lpd: bool = False  # --bt-enable-lpd: local multicast, off unless asked
    utp_outgoing: bool = False  # connect out over TCP only (docs/bittorrent.md: uTP)
    utp_incoming: bool = True  # but accept peers that reach us over uTP
    max_connections: int = 500  # whole session; per torrent: BtOptions.max_peers
    max_overall_upload_limit: int = 0  # bytes/s, 0 = none
    max_overall_download_limit: int = 0
    limit_local_peers: bool = True  # aria2 limits LAN peers too; libtorrent exempts them
    require_crypto: bool = False  # --bt-require-crypto: refuse plaintext handshakes
    min_crypto_level: str = "plain"  # --bt-min-crypto-level: plain | arc4
    peer_id_prefix: str = "-LX" + "".join(__version__.split(".")[:3]).ljust(4, "0")[:4] + "-"
    user_agent: str = f"lixian/{__version__}"
    min_reconnect_time: int = 10  # s before redialling a peer (libtorrent: 60; a resume waited it)
    max_metadata_size: int = 64 << 20  # the largest info dict a magnet may fetch
    update_interval: float = 1.0  # seconds between status/peer/file refreshes
    alert_queue_size: int = 10_000

    def __post_init__(self) -> None:
        first, last = self.listen_ports
        if not (0 <= first <= last <= 65535):
            raise BadOption(f"bad listen port range {first}-{last}")
        if self.min_crypto_level not in ("plain", "arc4"):
            raise BadOption(f"bad --bt-min-crypto-level {self.min_crypto_level!r}")
        if not re.fullmatch(r"[\x21-\x7e]{1,20}", self.peer_id_prefix):
            raise BadOption(f"bad --peer-id-prefix {self.peer_id_prefix!r}")
        if self.update_interval <= 0:
            raise BadOption("update interval must be positive")

    def warnings(self) -> list[str]:
        """What the user asked for that libtorrent cannot do exactly as aria2 does."""
        found = []
        if self.dht_listen_port is not None and self.dht_listen_port != self.listen_ports[0]:
            found.append(
                f"--dht-listen-port={self.dht_listen_port} ignored: libtorrent runs the DHT on "
                f"the BitTorrent listen port ({self.listen_ports[0]}-{self.listen_ports[1]})"
            )
        return found


@dataclass(frozen=True, slots=True)
class PiecePriority:
    """``--bt-prioritize-piece``: bytes at the head and tail of every file to fetch first."""

    head: int = 0
    tail: int = 0


@dataclass(frozen=True, slots=True)
class BtOptions:
    """One torrent's options, aria2's meanings (``lixian`` additions marked).

    ``select_file`` and ``index_out`` use aria2's 1-based file indexes.
    """

    select_file: frozenset[int] | None = None  # None = every file
    seed_time: float | None = None  # minutes; 0 = stop when done; None = only --seed-ratio
    seed_ratio: float = 1.0  # 0 = no ratio condition
    trackers: tuple[str, ...] = ()  # --bt-tracker: added after exclusion, never excluded
    exclude_trackers: tuple[str, ...] = ()  # --bt-exclude-tracker; "*" = every tracker
    tracker_list: tuple[str, ...] = ()  # the "best trackers" list (skipped for private)
    max_peers: int = 55  # --bt-max-peers; 0 = unlimited
    max_upload_limit: int = 0
    max_download_limit: int = 0
    prioritize: PiecePriority = field(default_factory=PiecePriority)
    sequential: bool = False  # lixian: fetch in order, so a file plays while downloading
    metadata_only: bool = False
    save_metadata: bool = False
    remove_unselected_file: bool = False
    pause_metadata: bool = False
    check_integrity: bool = False
    index_out: tuple[tuple[int, str], ...] = ()
    enable_peer_exchange: bool = True

    def __post_init__(self) -> None:
        if self.seed_time is not None and (self.seed_time < 0 or math.isnan(self.seed_time)):
            raise BadOption(f"bad --seed-time {self.seed_time}")
        if self.seed_ratio < 0 or math.isnan(self.seed_ratio):
            raise BadOption(f"bad --seed-ratio {self.seed_ratio}")
        if self.max_peers < 0:
            raise BadOption(f"bad --bt-max-peers {self.max_peers}")

    def seeding_done(self, seconds: float, ratio: float) -> bool:
        """aria2's rule: seeding ends when either given condition holds (seed-time=0: at once)."""
        if self.seed_time is not None and seconds >= self.seed_time * 60:
            return True
        return self.seed_ratio > 0 and ratio >= self.seed_ratio


def parse_listen_ports(raw: str) -> tuple[int, int]:
    """``--listen-port``: ``6881-6999`` or ``6881,6885`` -> the first contiguous range.

    libtorrent binds one port, trying ``first``..``last`` in turn; aria2 accepts any list,
    so the later ranges of a list are not used (documented).

    >>> parse_listen_ports("6881-6999"), parse_listen_ports("51413")
    ((6881, 6999), (51413, 51413))
    """
    first = raw.split(",")[0].strip()
    m = _PORT_RANGE.fullmatch(first)
    if m is None:
        raise BadOption(f"bad --listen-port {raw!r}: use PORT, PORT-PORT or a comma list")
    low = int(m.group(1))
    high = int(m.group(2) or low)
    if not (1 <= low <= high <= 65535):
        raise BadOption(f"bad --listen-port {raw!r}: ports run from 1 to 65535")
    return low, high


def parse_select_file(raw: str) -> frozenset[int]:
    """``--select-file=1-5,8``: aria2's 1-based file indexes.

    >>> sorted(parse_select_file("1-3,5"))
    [1, 2, 3, 5]
    """
    picked: set[int] = set()
    for part in raw.split(","):
        m = _PORT_RANGE.fullmatch(part.strip())
        if m is None:
            raise BadOption(f"bad --select-file {raw!r}: use indexes like 1-5,8")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if low < 1 or high < low or high - low > 10_000_000:
            raise BadOption(f"bad --select-file {raw!r}: indexes start at 1")
        picked.update(range(low, high + 1))
    return frozenset(picked)


def parse_prioritize_piece(raw: str) -> PiecePriority:
    """``--bt-prioritize-piece=head[=SIZE],tail[=SIZE]``; SIZE defaults to 1M as in aria2.

    >>> parse_prioritize_piece("head=2M,tail")
    PiecePriority(head=2097152, tail=1048576)
    """
    head = tail = 0
    for part in raw.split(","):
        name, eq, size = part.strip().partition("=")
        value = parse_size(size) if eq else 1 << 20
        if name == "head":
            head = value
        elif name == "tail":
            tail = value
        else:
            raise BadOption(f"bad --bt-prioritize-piece {raw!r}: use head[=SIZE],tail[=SIZE]")
    return PiecePriority(head, tail)


def parse_index_out(values: tuple[str, ...]) -> tuple[tuple[int, str], ...]:
    """``--index-out=INDEX=PATH`` (repeatable), aria2's 1-based index; the path is confined later.

    >>> parse_index_out(("2=sub/x.bin",))
    ((2, 'sub/x.bin'),)
    """
    out = []
    for value in values:
        index, eq, path = value.partition("=")
        if not eq or not index.strip().isdigit() or int(index) < 1 or not path:
            raise BadOption(f"bad --index-out {value!r}: use INDEX=PATH")
        out.append((int(index), path))
    return tuple(out)
