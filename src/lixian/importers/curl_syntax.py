"""curl's command-line syntax: which options take an argument, and what their values mean.

Why a table: to read ``curl URL --foo bar`` we must know whether ``bar`` belongs to ``--foo``
or is a second URL. The names and arities are curl 8's (``curl --help all``); an option that is
not listed is taken to have no argument and reported in the notes as ignored.

The functions read one option value as curl does (``-H``, ``-b``, ``--data-urlencode``, URL
globbing), appending a note where curl would do something we do not (read a file, glob).
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = [
    "IGNORED_WITH_REASON",
    "LONG_WITH_ARG",
    "SHORT",
    "SILENT_FLAGS",
    "cookie_pairs",
    "data_part",
    "encode_query",
    "header",
    "unglob",
]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")  # RFC 9110 field names
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but TAB

LONG_WITH_ARG = frozenset(
    """
    abstract-unix-socket alt-svc aws-sigv4 cacert capath cert cert-type ciphers config
    connect-timeout connect-to continue-at cookie cookie-jar create-file-mode crlfile curves
    data data-ascii data-binary data-raw data-urlencode delegation dns-interface dns-ipv4-addr
    dns-ipv6-addr dns-servers doh-url dump-header ech egd-file engine etag-compare etag-save
    expect100-timeout form form-string ftp-account ftp-alternative-to-user ftp-method ftp-port
    ftp-ssl-ccc-mode happy-eyeballs-timeout-ms haproxy-clientip header help hostpubmd5
    hostpubsha256 hsts interface ip-tos ipfs-gateway json keepalive-cnt keepalive-time key
    key-type knownhosts krb libcurl limit-rate local-port login-options mail-auth mail-from
    mail-rcpt max-filesize max-redirs max-time netrc-file noproxy oauth2-bearer output
    output-dir parallel-max pass pinnedpubkey preproxy proto proto-default proto-redir proxy
    proxy-cacert proxy-capath proxy-cert proxy-cert-type proxy-ciphers proxy-crlfile
    proxy-header proxy-key proxy-key-type proxy-pass proxy-pinnedpubkey proxy-service-name
    proxy-tls13-ciphers proxy-tlsauthtype proxy-tlspassword proxy-tlsuser proxy-user proxy1.0
    pubkey quote random-file range rate referer request request-target resolve retry
    retry-delay retry-max-time sasl-authzid service-name sigalgs socks4 socks4a socks5
    socks5-gssapi-service socks5-hostname speed-limit speed-time ssl-sessions stderr
    telnet-option tftp-blksize time-cond tls-max tls13-ciphers tlsauthtype tlspassword tlsuser
    trace trace-ascii trace-config unix-socket upload-file upload-flags url url-query user
    user-agent variable vlan-priority write-out
    """.split()  # noqa: SIM905 - a table of names reads best as words
)

# One-letter options and the long option each stands for.
SHORT = {
    "0": "http1.0", "1": "tlsv1", "2": "sslv2", "3": "sslv3", "4": "ipv4", "6": "ipv6",
    "#": "progress-bar", ":": "next", "A": "user-agent", "B": "use-ascii", "C": "continue-at",
    "D": "dump-header", "E": "cert", "F": "form", "G": "get", "H": "header", "I": "head",
    "J": "remote-header-name", "K": "config", "L": "location", "M": "manual", "N": "no-buffer",
    "O": "remote-name", "P": "ftp-port", "Q": "quote", "R": "remote-time", "S": "show-error",
    "T": "upload-file", "U": "proxy-user", "V": "version", "X": "request", "Y": "speed-limit",
    "Z": "parallel", "a": "append", "b": "cookie", "c": "cookie-jar", "d": "data",
    "e": "referer", "f": "fail", "g": "globoff", "h": "help", "i": "include", "j":
    "junk-session-cookies", "k": "insecure", "l": "list-only", "m": "max-time", "n": "netrc",
    "o": "output", "p": "proxytunnel", "q": "disable", "r": "range", "s": "silent",
    "t": "telnet-option", "u": "user", "v": "verbose", "w": "write-out", "x": "proxy",
    "y": "speed-time", "z": "time-cond",
}  # fmt: skip

# Flags that change nothing lixian would do differently (output, progress, transport details,
# following redirects, decompression): accepted without a note.
SILENT_FLAGS = frozenset(
    """
    compressed location location-trusted silent show-error verbose include fail
    fail-with-body fail-early progress-bar no-progress-meter no-buffer remote-name
    remote-name-all remote-header-name remote-time http1.0 http1.1 http2 http2-prior-knowledge
    http3 http3-only ipv4 ipv6 path-as-is tcp-nodelay tcp-fastopen no-keepalive no-sessionid
    no-alpn no-npn ssl-no-revoke ssl-revoke-best-effort tr-encoding raw basic disable
    create-dirs globoff max-time connect-timeout retry retry-delay retry-max-time
    retry-all-errors retry-connrefused keepalive-time keepalive-cnt styled-output
    """.split()  # noqa: SIM905
)


IGNORED_WITH_REASON = {
    "output": "ignored -o/--output: set the file name with lixian's --out",
    "range": "ignored -r/--range: lixian downloads the whole file, in ranges of its choosing",
    "proxy": "ignored -x/--proxy: give lixian --all-proxy to use a proxy",
    "config": "ignored -K/--config: lixian reads no files named in a pasted command",
}


def header(raw: str, notes: list[str]) -> tuple[str, str] | None:
    """One ``-H`` value as curl reads it, or None (with a note) when nothing is sent."""
    if raw.startswith("@"):
        notes.append(f"-H {raw[:60]}: curl would read headers from that file; lixian does not")
        return None
    pseudo = raw.startswith(":")  # :authority, :path... (HTTP/2), as some tools copy them
    name, colon, value = raw[pseudo:].partition(":")
    if not colon:
        if raw.endswith(";") and _TOKEN.match(raw[:-1].strip()):
            return raw[:-1].strip(), ""  # curl's way of sending a header with an empty value
        notes.append(f"ignored -H {raw[:60]!r}: not 'Name: value'")
        return None
    name, value = ":" * pseudo + name.strip(), value.strip(" \t")
    if not _TOKEN.match(name[pseudo:]):
        notes.append(f"ignored -H {raw[:60]!r}: {name[:40]!r} is not a header name")
        return None
    if not value:
        notes.append(f"-H '{name}:' tells curl not to send {name}; nothing to copy")
        return None
    if _BAD_VALUE.search(value):
        notes.append(
            f"dropped the header {name}: its value holds a line break or control character, "
            "which would inject other headers"
        )
        return None
    return name, value


def cookie_pairs(text: str, notes: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for piece in text.split(";"):
        piece = piece.strip(" \t")
        if not piece:
            continue
        name, eq, value = piece.partition("=")
        pair = (name.strip(), value.strip()) if eq else ("", piece)
        if _BAD_VALUE.search(pair[0] + pair[1]):
            notes.append(f"dropped the cookie {pair[0][:40]!r}: it holds a control character")
            continue
        pairs.append(pair)
    return pairs


def unglob(url: str, notes: list[str]) -> str:
    """curl's URL globbing: ``\\[`` is a literal ``[``; an unescaped ``{a,b}``/``[1-9]`` would
    make several requests, which we do not, and say so."""
    _, _, rest = url.partition("://")
    path = rest[rest.find("/") :] if "/" in rest else ""
    if re.search(r"(?<!\\)[\[{]", path):
        notes.append(
            "curl would expand {...} or [...] in this URL into several requests; "
            "lixian takes the URL as written"
        )
    return re.sub(r"\\([\[\]{}])", r"\1", url)


def _urlencode(text: str) -> str:
    return quote(text, safe="")


def data_part(option: str, value: str, notes: list[str]) -> str | None:
    """One ``-d``-style argument, as ``-G`` appends it to the URL."""
    if option == "data-urlencode":
        return encode_query(value, notes)
    if option != "data-raw" and value.startswith("@"):
        notes.append(f"--{option} {value[:60]}: curl would read that file; lixian does not")
        return None
    return value if option == "data-raw" else value.replace("\r", "").replace("\n", "")


def encode_query(value: str, notes: list[str]) -> str | None:
    """``--data-urlencode``/``--url-query`` syntax: ``content``, ``=content``,
    ``name=content``, ``name@file`` (not read), and for --url-query ``+content`` (as is)."""
    if value.startswith("+"):
        return value[1:]
    name, eq, content = value.partition("=")
    if eq:
        return f"{name}={_urlencode(content)}" if name else _urlencode(content)
    if "@" in value:
        notes.append(f"{value[:60]}: curl would read that file; lixian does not")
        return None
    return _urlencode(value)
