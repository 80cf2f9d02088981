"""Keep every file lixian writes inside its download root, under a name every OS accepts.

Theory of operation
-------------------
Names come from strangers: a ``Content-Disposition`` header, a URL, a torrent, an RPC client's
``out=``. aria2 trusts them (``out=../../.ssh/authorized_keys`` works over its RPC); lixian
passes each through two gates:

1. :func:`sanitize_filename` makes *one path component* from a remote name. It never fails: a
   server's bad name is not the user's error, so it is repaired, not refused.
2. :func:`confine` joins a root and a user-given relative path (``--out=sub/name`` may hold
   directories) and *refuses* (:class:`PathEscape`) anything that would leave the root: an
   absolute path, a ``..`` component, a symlink pointing out. Here the user asked for something
   illegal, so they get an error rather than a silently different file.

``confine`` checks the file system as it is when called; a symlink planted afterwards is the
opener's problem (open with ``O_NOFOLLOW`` or re-check). :func:`auto_rename` mirrors aria2's
``--auto-file-renaming``, checked against aria2c 1.37: the number goes before the *last*
extension (``archive.tar.gz`` -> ``archive.tar.1.gz``), a leading dot is not an extension
(``.bashrc`` -> ``.bashrc.1``), and after 9999 it gives up with aria2's code 13.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from pathlib import Path, PureWindowsPath

from lixian.errors import FileExists, PathEscape

__all__ = [
    "CONTROL_SUFFIX",
    "FALLBACK_NAME",
    "MAX_NAME_BYTES",
    "auto_rename",
    "confine",
    "control_path",
    "sanitize_filename",
]

CONTROL_SUFFIX = ".lixian"
"""Appended to a download's full name for its control file (``a.iso`` -> ``a.iso.lixian``)."""

FALLBACK_NAME = "download"
"""What a name that sanitizes to nothing (``""``, ``".."``, ``"\\x00"``) becomes."""

MAX_RENAMES = 9999
"""aria2 tries ``name.1.ext`` .. ``name.9999.ext`` before failing."""

MAX_NAME_BYTES = 255 - len(f".{MAX_RENAMES}") - len(CONTROL_SUFFIX)
"""243: NAME_MAX (255 bytes on ext4, APFS, NTFS) less room for ``.9999`` and ``.lixian``.

A name right at 255 bytes would download fine and then fail to get its control file or its
auto-renamed twin with ENAMETOOLONG, so sanitized names leave that room.
"""

_WINDOWS_ILLEGAL = frozenset('<>:"|?*')
# Bidirectional controls let "evil\u202eexe.txt" display as "eviltxt.exe"; they never belong
# in a file name.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"}
)
# Keep an extension through truncation only if it looks like one, not like half the name.
_MAX_EXTENSION_BYTES = 32


def sanitize_filename(name: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Make one file-name component from an untrusted name, safe on Linux, macOS and Windows.

    Keeps the basename of anything with ``/`` or ``\\``; drops control, bidi-override and NUL
    characters; replaces ``<>:"|?*`` and unpaired surrogates with ``_``; strips trailing dots
    and spaces (Windows would); suffixes Windows device names (``CON.txt`` -> ``CON_.txt``);
    cuts to ``max_bytes`` of UTF-8 keeping the extension. Never returns ``""``, ``"."`` or
    ``".."``: a name with nothing left becomes ``"download"``. Idempotent.

    >>> sanitize_filename("../../etc/passwd")
    'passwd'
    >>> sanitize_filename('CON.txt'), sanitize_filename('a<b>?.pdf. ')
    ('CON_.txt', 'a_b__.pdf')
    """
    if max_bytes < len(FALLBACK_NAME):
        raise ValueError(f"max_bytes must be at least {len(FALLBACK_NAME)}, not {max_bytes}")
    base = _last_component(name)
    cleaned = "".join(_clean_char(char) for char in base if _keep_char(char))
    cleaned = _fit(cleaned.rstrip(" ."), max_bytes).rstrip(" .")
    if not cleaned:
        return FALLBACK_NAME
    if _is_reserved(cleaned):
        stem, dot, rest = cleaned.partition(".")
        cleaned = _fit(f"{stem}_{dot}{rest}", max_bytes, keep_extension=False).rstrip(" .")
    return cleaned


def confine(root: Path, relative: str | Path) -> Path:
    """Resolve ``root / relative`` and prove it stays inside ``root``; return it absolute.

    ``relative`` may hold sub-directories (``--out=sub/name.iso``). Raises
    :class:`PathEscape` (aria2 code 28) when it is absolute (``/x``, ``\\x``, ``C:x``), has a
    ``..`` component (even a harmless one: such a name is a probe, not a mistake), holds NUL,
    or resolves, following existing symlinks, outside the resolved root. ``root`` itself need
    not exist yet (a missing ``--dir`` is created later); ``""`` or ``"."`` gives the root.

    >>> confine(Path("/srv/dl"), "sub/a.iso").as_posix()
    '/srv/dl/sub/a.iso'
    """
    text = str(relative)
    if "\x00" in text:
        raise PathEscape(f"refusing path {text!r}: it contains a NUL character")
    if (
        Path(text).is_absolute()
        or text.startswith(("/", "\\"))
        or PureWindowsPath(text).drive
        or PureWindowsPath(text).root
    ):
        raise PathEscape(f"refusing path {text!r}: it is absolute, not relative to {root}")
    if ".." in PureWindowsPath(text).parts:  # splits at "/" and "\\" alike
        raise PathEscape(f"refusing path {text!r}: '..' may not appear in it")
    try:
        base = root.resolve()
        target = (base / text).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise PathEscape(f"refusing path {text!r} under {root}: cannot resolve it ({exc})") from exc
    if not target.is_relative_to(base):
        raise PathEscape(
            f"refusing path {text!r}: it resolves to {target}, outside {base} (through a symlink)"
        )
    return target


def auto_rename(path: Path, taken: Callable[[Path], bool]) -> Path:
    """The first of ``path``, ``name.1.ext``, ... ``name.9999.ext`` that is not ``taken``.

    ``taken`` is the caller's notion of "in use" (a file on disk, a name another task has
    claimed), so this stays free of I/O. Raises :class:`FileExists` (aria2 code 13) when all
    10,000 are taken, as aria2 does.

    >>> auto_rename(Path("d/file.txt"), lambda p: p.name in {"file.txt", "file.1.txt"}).name
    'file.2.txt'
    """
    if not taken(path):
        return path
    name = path.name
    dot = name.rfind(".")
    stem, extension = (name[:dot], name[dot:]) if dot > 0 else (name, "")
    for number in range(1, MAX_RENAMES + 1):
        candidate = path.with_name(f"{stem}.{number}{extension}")
        if not taken(candidate):
            return candidate
    raise FileExists(
        f"{path} exists and so do {stem}.1{extension} .. {stem}.{MAX_RENAMES}{extension}: "
        "no free name left for --auto-file-renaming"
    )


def control_path(path: Path) -> Path:
    """Where ``path``'s lixian control file lives: beside it, full name + ``.lixian``.

    Appended rather than swapped for the suffix, so ``a.iso`` and ``a.img`` never share one.

    >>> control_path(Path("dl/a.iso")).as_posix()
    'dl/a.iso.lixian'
    """
    return path.with_name(path.name + CONTROL_SUFFIX)


# -- helpers -----------------------------------------------------------------------------------


def _last_component(name: str) -> str:
    """The last non-empty part of a name split at both ``/`` and ``\\``."""
    parts = [part for part in name.replace("\\", "/").split("/") if part]
    return parts[-1] if parts else ""


def _keep_char(char: str) -> bool:
    return unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS


def _clean_char(char: str) -> str:
    if char in _WINDOWS_ILLEGAL or unicodedata.category(char) == "Cs":
        return "_"
    return char


def _is_reserved(name: str) -> bool:
    """Windows device names, bare or with any extension (``nul.tar.gz``), any case."""
    return name.partition(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED


def _fit(name: str, max_bytes: int, *, keep_extension: bool = True) -> str:
    """Cut ``name`` to ``max_bytes`` of UTF-8 at a character boundary, keeping a short extension."""
    encoded = name.encode("utf-8")
    if len(encoded) <= max_bytes:
        return name
    dot = name.rfind(".")
    extension = name[dot:] if keep_extension and dot > 0 else ""
    extension_bytes = len(extension.encode("utf-8"))
    if extension_bytes > _MAX_EXTENSION_BYTES:
        extension, extension_bytes = "", 0
    stem = name[: len(name) - len(extension)]
    budget = max_bytes - extension_bytes
    cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return cut.rstrip(" .") + extension
