"""BitTorrent errors with aria2's codes, and the translation of libtorrent's error codes.

The tree (under :mod:`lixian.errors`)::

    LocalError
    ├── BencodeError       (25) not bencode at all, or truncated
    ├── BadTorrent         (26) bencode, but not a torrent we can use
    ├── BadMagnet          (27) not a magnet, or no usable info-hash
    └── DuplicateTorrent   (12) the same info-hash is already running
    StorageError / DiskFull / CannotCreateFile / CannotCreateDir   from libtorrent's disk errors

libtorrent reports failures as ``(category, value)`` pairs; :func:`error_from_code` is the one
place they become :class:`~lixian.errors.LixianError`\\ s, so the core only ever sees aria2 codes.
"""

from __future__ import annotations

import errno

from lixian.errors import (
    Aria2Code,
    CannotCreateDir,
    CannotCreateFile,
    DiskFull,
    LixianError,
    LocalError,
    NetworkError,
    StorageError,
)

__all__ = [
    "BadMagnet",
    "BadTorrent",
    "BencodeError",
    "DuplicateTorrent",
    "error_from_code",
]


class BencodeError(LocalError):
    code = Aria2Code.BENCODE_PARSE


class BadTorrent(LocalError):
    code = Aria2Code.BITTORRENT_PARSE


class BadMagnet(LocalError):
    code = Aria2Code.MAGNET_PARSE


class DuplicateTorrent(LocalError):
    code = Aria2Code.DUPLICATE_INFO_HASH


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
_NO_ACCESS = {errno.EACCES, errno.EPERM, errno.EROFS}
# libtorrent's own category ("libtorrent"): values from libtorrent/error_code.hpp.
_LT_DUPLICATE_TORRENT = 19
_LT_INVALID_TORRENT_HANDLE = 20


def error_from_code(
    category: str, value: int, message: str, *, filename: str = "", operation: str = ""
) -> LixianError:
    """A libtorrent ``error_code`` (plus the file and operation it concerned) as a LixianError.

    Disk errors keep the file name and operation because "No space left on device" alone does
    not tell a user which mount filled up.
    """
    where = f" ({operation} {filename})" if filename else f" ({operation})" if operation else ""
    text = f"{message}{where}"
    if category in ("system", "generic"):
        if value in _DISK_FULL:
            return DiskFull(text)
        if value in _NO_ACCESS:
            return CannotCreateFile(text)
        if value == errno.ENOENT and operation in ("mkdir", "file_open", "create_directory"):
            return CannotCreateDir(text)
        if value in (errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH):
            return NetworkError(text)
        return StorageError(text)
    if category == "libtorrent" and value == _LT_DUPLICATE_TORRENT:
        return DuplicateTorrent(f"the torrent is already being downloaded: {message}")
    if category == "libtorrent" and value == _LT_INVALID_TORRENT_HANDLE:
        return LixianError(f"the torrent was removed: {message}")
    return LixianError(f"libtorrent: {text} [{category}:{value}]")
