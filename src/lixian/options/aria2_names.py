"""Every option name aria2c 1.37 accepts on its command line, with its argument kind.

Why lixian needs names it does not implement: to tell a user "``--dry-run`` is not
supported yet" (an aria2 option lixian will grow) from "unrecognized option
``--splt``" (a typo), and to consume an ignored option's value exactly as aria2c
would, so ``--summary-interval 5 URL`` never mistakes ``5`` for a URI.

Facts, not code: the list is ``aria2c --help=#all`` of aria2 1.37.0. aria2's hidden
options (``dns-timeout``, ``bt-timeout``, ...) are absent on purpose: aria2c rejects
them on the command line and ignores them in aria2.conf. A unit test compares this
table with the installed aria2c when one is on PATH.

Argument kinds, as aria2 hands them to ``getopt_long``:

``=``  required: ``--split=4`` or ``--split 4`` (the next word is taken, even ``-x``)
``?``  optional: only ``--continue=false`` attaches a value; ``--continue false`` makes
       ``false`` a URI. Every boolean is optional, except ``show-console-readout``,
       whose value is required although ``--help`` prints ``[=true|false]``.
``-``  none (``--version`` only)
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ARIA2_OPTIONS", "ARIA2_OPTION_NAMES", "ARIA2_SHORT", "ArgKind", "Aria2Name"]


class ArgKind(enum.Enum):
    """How the command line attaches a value to an option (getopt's has_arg)."""

    REQUIRED = "="
    OPTIONAL = "?"
    NONE = "-"


@dataclass(frozen=True)
class Aria2Name:
    """One aria2c option as its command-line parser sees it."""

    name: str
    arg: ArgKind
    short: str | None = None


# name, argument kind, short letter: one aria2c option a line, sorted.
_TABLE = """
all-proxy =
all-proxy-passwd =
all-proxy-user =
allow-overwrite ?
allow-piece-length-change ?
always-resume ?
async-dns ?
async-dns-server =
auto-file-renaming ?
auto-save-interval =
bt-detach-seed-only ?
bt-enable-hook-after-hash-check ?
bt-enable-lpd ?
bt-exclude-tracker =
bt-external-ip =
bt-force-encryption ?
bt-hash-check-seed ?
bt-load-saved-metadata ?
bt-lpd-interface =
bt-max-open-files =
bt-max-peers =
bt-metadata-only ?
bt-min-crypto-level =
bt-prioritize-piece =
bt-remove-unselected-file ?
bt-request-peer-speed-limit =
bt-require-crypto ?
bt-save-metadata ?
bt-seed-unverified ?
bt-stop-timeout =
bt-tracker =
bt-tracker-connect-timeout =
bt-tracker-interval =
bt-tracker-timeout =
ca-certificate =
certificate =
check-certificate ?
check-integrity ? V
checksum =
conditional-get ?
conf-path =
connect-timeout =
console-log-level =
content-disposition-default-utf8 ?
continue ? c
daemon ? D
deferred-input ?
dht-entry-point =
dht-entry-point6 =
dht-file-path =
dht-file-path6 =
dht-listen-addr6 =
dht-listen-port =
dht-message-timeout =
dir = d
disable-ipv6 ?
disk-cache =
download-result =
dry-run ?
dscp =
enable-async-dns6 ?
enable-color ?
enable-dht ?
enable-dht6 ?
enable-http-keep-alive ?
enable-http-pipelining ?
enable-mmap ?
enable-peer-exchange ?
enable-rpc ?
event-poll =
file-allocation =
follow-metalink =
follow-torrent =
force-save ?
force-sequential ? Z
ftp-passwd =
ftp-pasv ? p
ftp-proxy =
ftp-proxy-passwd =
ftp-proxy-user =
ftp-reuse-connection ?
ftp-type =
ftp-user =
gid =
hash-check-only ?
header =
help ? h
http-accept-gzip ?
http-auth-challenge ?
http-no-cache ?
http-passwd =
http-proxy =
http-proxy-passwd =
http-proxy-user =
http-user =
https-proxy =
https-proxy-passwd =
https-proxy-user =
human-readable ?
index-out = O
input-file = i
interface =
keep-unfinished-download-result ?
listen-port =
load-cookies =
log = l
log-level =
lowest-speed-limit =
max-concurrent-downloads = j
max-connection-per-server = x
max-download-limit =
max-download-result =
max-file-not-found =
max-mmap-limit =
max-overall-download-limit =
max-overall-upload-limit =
max-resume-failure-tries =
max-tries = m
max-upload-limit = u
metalink-base-uri =
metalink-enable-unique-protocol ?
metalink-file = M
metalink-language =
metalink-location =
metalink-os =
metalink-preferred-protocol =
metalink-version =
min-split-size = k
min-tls-version =
multiple-interface =
netrc-path =
no-conf ?
no-file-allocation-limit =
no-netrc ? n
no-proxy =
no-want-digest-header ?
on-bt-download-complete =
on-download-complete =
on-download-error =
on-download-pause =
on-download-start =
on-download-stop =
optimize-concurrent-downloads ?
out = o
parameterized-uri ? P
pause ?
pause-metadata ?
peer-agent =
peer-id-prefix =
piece-length =
private-key =
proxy-method =
quiet ? q
realtime-chunk-checksum ?
referer =
remote-time ? R
remove-control-file ?
retry-wait =
reuse-uri ?
rlimit-nofile =
rpc-allow-origin-all ?
rpc-certificate =
rpc-listen-all ?
rpc-listen-port =
rpc-max-request-size =
rpc-passwd =
rpc-private-key =
rpc-save-upload-metadata ?
rpc-secret =
rpc-secure ?
rpc-user =
save-cookies =
save-not-found ?
save-session =
save-session-interval =
seed-ratio =
seed-time =
select-file =
server-stat-if =
server-stat-of =
server-stat-timeout =
show-console-readout =
show-files ? S
socket-recv-buffer-size =
split = s
ssh-host-key-md =
stderr ?
stop =
stop-with-process =
stream-piece-selector =
summary-interval =
timeout = t
torrent-file = T
truncate-console-readout ?
uri-selector =
use-head ?
user-agent = U
version - v
"""


def _load(table: str) -> dict[str, Aria2Name]:
    rows: dict[str, Aria2Name] = {}
    for line in table.split("\n"):
        if not line:
            continue
        name, arg, *short = line.split()
        rows[name] = Aria2Name(name, ArgKind(arg), short[0] if short else None)
    return rows


ARIA2_OPTIONS: Mapping[str, Aria2Name] = types.MappingProxyType(_load(_TABLE))
ARIA2_OPTION_NAMES: frozenset[str] = frozenset(ARIA2_OPTIONS)
ARIA2_SHORT: Mapping[str, str] = types.MappingProxyType(
    {o.short: o.name for o in ARIA2_OPTIONS.values() if o.short is not None}
)
