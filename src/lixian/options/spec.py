"""What one option is: its kind, default, bounds, and how a string becomes its value.

Every front door hands options over as strings (argv words, aria2.conf lines,
``changeOption`` parameters, whose numbers are strings too), so each spec owns one
``parse(str)`` and one ``format(value)``, and the two round-trip. Validation lives
here, once: a value that passed ``parse`` is in range, whichever door it came in by.

Value syntax follows aria2c 1.37 (``OptionHandlerImpl.cc``), checked against the
binary:

- numbers are base 10 with surrounding blanks and a leading ``+`` tolerated
  (``strtoll``); ``0x10`` is refused;
- sizes take ``K``/``M`` in either case (1K = 1024) and, as lixian's documented
  extension, ``G``; aria2 silently drops what follows the unit (``1Mxyz`` is 1M),
  lixian refuses it;
- booleans are exactly ``true`` or ``false``; an empty value means ``true``
  (``--continue`` and a bare ``continue`` line in aria2.conf);
- choices are case-sensitive (``--file-allocation=None`` is refused, as by aria2);
- paths get ``${HOME}`` replaced by the home directory, as aria2 does;
- a list option (``--header``) adds one item per occurrence; a value holding
  newlines adds one item per line, which is how aria2 stores and splits it.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from lixian.errors import BadOption

__all__ = [
    "CHECKSUM_HEX_DIGITS",
    "Kind",
    "OptionSpec",
    "OptionValue",
    "check_checksum",
    "check_index_out",
    "check_listen_port",
    "check_prioritize_piece",
    "check_proxy",
    "check_select_file",
    "format_size",
    "parse_size",
    "split_checksum",
]

OptionValue = bool | int | float | str | tuple[str, ...]

_INT = re.compile(r"\s*[+-]?[0-9]+\s*")
_FLOAT = re.compile(r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
_SIZE = re.compile(r"\s*\+?([0-9]+)\s*([kKmMgG]?)\s*")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_INT64_MAX = (1 << 63) - 1

# aria2's spellings (``aria2c -v``, "Hash Algorithms") and their hex digest lengths.
CHECKSUM_HEX_DIGITS = {
    "sha-1": 40,
    "sha-224": 56,
    "sha-256": 64,
    "sha-384": 96,
    "sha-512": 128,
    "md5": 32,
    "adler32": 8,
}
_HEX = re.compile(r"[0-9a-fA-F]+")
_PROXY_PORTS = {"http": 80, "https": 443, "ftp": 21}


class Kind(enum.Enum):
    """The shape of an option's value; decides parsing, formatting and the CLI arity."""

    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    SIZE = "size"  # bytes; K/M/G suffixes accepted, reported as a plain integer
    STRING = "string"
    PATH = "path"
    ENUM = "enum"
    LIST = "list"  # repeatable (--header): tuple[str, ...], occurrences accumulate


def parse_size(raw: str) -> int:
    """Turn ``"1M"``, ``"512k"``, ``"2G"`` or ``"1048576"`` into bytes.

    Why not ``int()``: aria2 users write sizes with units, and ``G`` (which aria2
    lacks) saves typing ``1024M``. Junk such as ``1.5M``, ``-1K`` or ``1Mxyz`` is a
    ``BadOption``, not a silent guess.

    >>> parse_size("20M")
    20971520
    """
    m = _SIZE.fullmatch(raw)
    if m is None:
        raise BadOption(f"bad size {raw!r}: use a whole number of bytes, optionally with K, M or G")
    value = int(m.group(1)) * _UNITS[m.group(2).lower()]
    if value > _INT64_MAX:
        raise BadOption(f"bad size {raw!r}: too large")
    return value


def format_size(n: int | float) -> str:
    """Print a byte count with the largest unit that divides it exactly: ``1M``, ``1536K``."""
    n = int(n)
    for unit in ("G", "M", "K"):
        step = _UNITS[unit.lower()]
        if n and n % step == 0:
            return f"{n // step}{unit}"
    return str(n)


def check_checksum(raw: str) -> str:
    """Validate ``TYPE=DIGEST`` as aria2's ``--checksum`` does; return it unchanged.

    aria2 compares type and digest case-insensitively but keeps the string as given
    (``getOption`` shows it that way), so lixian does the same; ``split_checksum``
    gives the normalised pair.
    """
    split_checksum(raw)
    return raw


def split_checksum(value: str) -> tuple[str, str]:
    """``"SHA-256=AB.."`` -> ``("sha-256", "ab..")``, or ``BadOption`` naming the fault."""
    kind, sep, digest = value.partition("=")
    kind, digest = kind.strip().lower(), digest.strip().lower()
    if not sep:
        raise BadOption(f"--checksum must be TYPE=DIGEST, got {value!r}")
    if kind not in CHECKSUM_HEX_DIGITS:
        known = ", ".join(CHECKSUM_HEX_DIGITS)
        raise BadOption(f"--checksum type {kind!r} is not one of aria2's: {known}")
    want = CHECKSUM_HEX_DIGITS[kind]
    if len(digest) != want or not _HEX.fullmatch(digest):
        raise BadOption(f"--checksum {kind} digest must be {want} hex digits, got {digest!r}")
    return kind, digest


def check_proxy(raw: str) -> str:
    """Normalise a proxy the way aria2 does: ``proxy:8080`` -> ``http://proxy:8080/``.

    aria2 speaks plain HTTP to every proxy: a missing scheme becomes ``http://``, and
    ``https://``/``ftp://`` are rewritten to ``http://`` keeping that scheme's port
    (``https://h`` -> ``http://h:443/``). An empty value clears the proxy.
    """
    if raw == "":
        return raw
    text = raw if re.match(r"(https?|ftp)://", raw) else "http://" + raw
    try:
        parts = urlsplit(text)
        port = parts.port or _PROXY_PORTS[parts.scheme]
    except ValueError as exc:
        raise BadOption(f"unrecognized proxy format {raw!r}: {exc}") from None
    if not parts.hostname or parts.netloc.endswith(":"):
        raise BadOption(f"unrecognized proxy format {raw!r}")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host = hostport[: hostport.rfind(":")] if parts.port is not None else hostport
    netloc = f"{userinfo}{at}{host}" + ("" if port == 80 else f":{port}")
    query = f"?{parts.query}" if parts.query else ""
    return f"http://{netloc}{parts.path or '/'}{query}"


_RANGE = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")


def _ranges(raw: str, low: int, high: int, what: str) -> str:
    for part in raw.split(","):
        m = _RANGE.fullmatch(part)
        first = int(m.group(1)) if m else -1
        last = int(m.group(2) or first) if m else -1
        if not (low <= first <= last <= high):
            raise BadOption(f"bad {what} {raw!r}: use N or N-M, comma-separated, in {low}-{high}")
    return raw


def check_select_file(raw: str) -> str:
    """``--select-file=1-5,8``: aria2's 1-based file indexes (1-1048576, as aria2c)."""
    return _ranges(raw, 1, 1 << 20, "file index list")


def check_listen_port(raw: str) -> str:
    """``--listen-port=6881-6999`` (or a comma list of ports and ranges, 1024-65535)."""
    return _ranges(raw, 1024, 65535, "port list")


def check_prioritize_piece(raw: str) -> str:
    """``--bt-prioritize-piece=head[=SIZE],tail[=SIZE]``."""
    for part in raw.split(","):
        name, eq, size = part.strip().partition("=")
        if name not in ("head", "tail"):
            raise BadOption(f"bad value {raw!r}: use head[=SIZE],tail[=SIZE]")
        if eq:
            parse_size(size)
    return raw


def check_index_out(raw: str) -> str:
    """``--index-out=INDEX=PATH``: a 1-based index and a relative path."""
    index, eq, path = raw.partition("=")
    if not eq or not index.strip().isdigit() or int(index) < 1 or not path:
        raise BadOption(f"bad value {raw!r}: use INDEX=PATH")
    return raw


@dataclass(frozen=True)
class OptionSpec:
    """One row of the option table; the only place an option's rules are written.

    ``scope``: ``"task"`` options are per download (aria2's "input file" options:
    accepted by ``addUri`` and the ``-i`` file, reported by ``getOption``); their
    global value is the default for new downloads. ``"global"`` ones exist once.

    ``changeable``: may change while a download runs. For a task option that is
    aria2's ``changeOption`` applying it live (speed limits); aria2 accepts every
    other task option too, but pauses and restarts the download to apply it. For a
    global option it means ``changeGlobalOption`` accepts it.

    ``global_changeable``: ``changeGlobalOption`` accepts it (aria2's flag). False for
    per-download-only options such as ``out`` and ``checksum``, which aria2 also
    leaves out of ``getGlobalOption``.

    ``secret``: never log the value.
    """

    name: str
    kind: Kind
    default: OptionValue | None
    short: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    scope: str = "task"
    changeable: bool = False
    help: str = ""
    global_changeable: bool = False
    secret: bool = False
    check: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.scope not in ("task", "global"):
            raise ValueError(f"{self.name}: scope must be 'task' or 'global'")
        if (self.kind is Kind.ENUM) != bool(self.choices):
            raise ValueError(f"{self.name}: choices go with Kind.ENUM and only with it")

    def parse(self, raw: str) -> OptionValue:
        """Turn the string form into a checked value, or raise ``BadOption`` naming us."""
        kind = self.kind
        if kind is Kind.BOOL:
            if raw in ("", "true"):
                return True
            if raw == "false":
                return False
            raise BadOption(f"--{self.name} must be either 'true' or 'false', got {raw!r}")
        if kind is Kind.INT:
            if not _INT.fullmatch(raw):
                raise BadOption(f"--{self.name} must be a whole number, got {raw!r}")
            return self._in_range(int(raw), raw)
        if kind is Kind.FLOAT:
            if not _FLOAT.fullmatch(raw) or not math.isfinite(float(raw)):
                raise BadOption(f"--{self.name} must be a number, got {raw!r}")
            return self._in_range(float(raw), raw)
        if kind is Kind.SIZE:
            try:
                size = parse_size(raw)
            except BadOption as exc:
                raise BadOption(f"--{self.name}: {exc}") from None
            return self._in_range(size, raw)
        if kind is Kind.ENUM:
            if raw not in self.choices:
                allowed = ", ".join(self.choices)
                raise BadOption(f"--{self.name} must be one of {allowed}; got {raw!r}")
            return raw
        if kind is Kind.LIST:
            items = (line.removesuffix("\r") for line in raw.split("\n"))
            return tuple(self._checked(item) for item in items if item)
        if kind is Kind.PATH and "${HOME}" in raw:
            raw = raw.replace("${HOME}", str(Path.home()))
        return self._checked(raw)

    def format(self, value: OptionValue) -> str:
        """aria2's string form of a value, as ``getOption`` and session files carry it.

        Booleans are ``"true"``/``"false"``, sizes plain byte counts, and a list is
        each item followed by a newline (``"A: 1\\nB: 2\\n"``): aria2 keeps
        ``--header`` as one string in that form and ``getOption`` returns it as is.
        """
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, tuple):
            return "".join(item + "\n" for item in value)
        if isinstance(value, float):
            return repr(value)
        return str(value)

    def _checked(self, raw: str) -> str:
        if self.check is None:
            return raw
        try:
            return self.check(raw)
        except BadOption as exc:
            if f"--{self.name}" in exc.message:
                raise
            raise BadOption(f"--{self.name}: {exc}") from None

    def _in_range(self, value: int | float, raw: str) -> int | float:
        low, high = self.minimum, self.maximum
        if (low is None or value >= low) and (high is None or value <= high):
            return value
        show = format_size if self.kind is Kind.SIZE else _plain
        if low is not None and high is not None:
            bound = f"between {show(low)} and {show(high)}"
        elif low is not None:
            bound = f"greater than or equal to {show(low)}"
        else:
            bound = f"smaller than or equal to {show(high or 0)}"
        raise BadOption(f"--{self.name} must be {bound}, got {raw.strip()!r}")


def _plain(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else str(n)
