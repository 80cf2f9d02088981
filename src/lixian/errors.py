"""Errors as values that carry aria2's exit/errorCode table.

The tree::

    LixianError(code)
    ├── LocalError        the caller asked for something illegal
    │   ├── BadOption         (28) unknown option, bad value
    │   ├── BadUri            (1)  unparsable URL or unsupported scheme, as aria2c
    │   └── PathEscape        (28) a name or dir that would leave the download root
    ├── RemoteError       the server misbehaved or refused
    │   ├── HttpStatusError   (3/22/24/29 by status)
    │   ├── BadResponse       (22) wrong Content-Range, short body, ...
    │   ├── ResourceChanged   (22) ETag/Last-Modified/length changed under us
    │   └── TooManyRedirects  (23)
    ├── TransferError     the path between us failed
    │   ├── NetworkError      (6)
    │   ├── Timeout           (2)
    │   ├── TooSlow           (5) --lowest-speed-limit
    │   └── NameResolution    (19)
    ├── StorageError      the local disk refused
    │   ├── DiskFull          (9)  also an OSError
    │   ├── FileExists        (13)
    │   ├── CannotCreateFile  (16)
    │   └── CannotCreateDir   (18)
    ├── ChecksumMismatch  (32)
    └── Interrupted       (7) shutdown with unfinished work

Raise where the fault happens; front doors turn ``.code`` into an exit status
(``lixian get``) or a task's ``errorCode`` (RPC). Nothing else formats them.
"""

from __future__ import annotations

import enum

__all__ = [
    "Aria2Code",
    "BadOption",
    "BadResponse",
    "BadUri",
    "CannotCreateDir",
    "CannotCreateFile",
    "ChecksumMismatch",
    "DiskFull",
    "FileExists",
    "HttpStatusError",
    "Interrupted",
    "LixianError",
    "LocalError",
    "NameResolution",
    "NetworkError",
    "PathEscape",
    "RemoteError",
    "ResourceChanged",
    "StorageError",
    "Timeout",
    "TooManyRedirects",
    "TooSlow",
    "TransferError",
    "status_code_for_http",
]


class Aria2Code(enum.IntEnum):
    """aria2's exit status / errorCode table (aria2c(1), "EXIT STATUS")."""

    OK = 0
    UNKNOWN = 1
    TIMEOUT = 2
    NOT_FOUND = 3
    MAX_FILE_NOT_FOUND = 4
    TOO_SLOW = 5
    NETWORK = 6
    UNFINISHED = 7
    RESUME_UNSUPPORTED = 8
    DISK_FULL = 9
    PIECE_LENGTH_CHANGED = 10
    DUPLICATE_DOWNLOAD = 11
    DUPLICATE_INFO_HASH = 12
    FILE_EXISTS = 13
    RENAME_FAILED = 14
    FILE_OPEN = 15
    FILE_CREATE = 16
    FILE_IO = 17
    DIR_CREATE = 18
    NAME_RESOLVE = 19
    METALINK_PARSE = 20
    FTP_PROTOCOL = 21
    HTTP_PROTOCOL = 22
    HTTP_TOO_MANY_REDIRECTS = 23
    HTTP_AUTH_FAILED = 24
    BENCODE_PARSE = 25
    BITTORRENT_PARSE = 26
    MAGNET_PARSE = 27
    OPTION_ERROR = 28
    HTTP_SERVICE_UNAVAILABLE = 29
    JSON_PARSE = 30
    REMOVED = 31
    CHECKSUM = 32


class LixianError(Exception):
    """Base of every error lixian raises on purpose; ``code`` is aria2's."""

    code: Aria2Code = Aria2Code.UNKNOWN

    def __init__(self, message: str, *, code: Aria2Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class LocalError(LixianError):
    """The caller asked for something that cannot be done; retrying will not help."""

    code = Aria2Code.OPTION_ERROR


class BadOption(LocalError):
    code = Aria2Code.OPTION_ERROR


class BadUri(LocalError):
    # aria2c exits 1 for a URI it cannot use ("No URI to download"), not 28.
    code = Aria2Code.UNKNOWN


class PathEscape(LocalError):
    code = Aria2Code.OPTION_ERROR


class RemoteError(LixianError):
    """The server refused or lied. ``retryable`` says whether another try may succeed."""

    code = Aria2Code.HTTP_PROTOCOL
    retryable = False


class HttpStatusError(RemoteError):
    def __init__(self, status: int, url: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status} from {url}", code=status_code_for_http(status))
        self.status = status
        self.retry_after = retry_after
        # lixian retries 429 and 5xx (a documented difference from aria2c).
        self.retryable = status == 429 or status >= 500


class BadResponse(RemoteError):
    code = Aria2Code.HTTP_PROTOCOL
    retryable = True


class ResourceChanged(RemoteError):
    """The file on the server is not the one we started: never splice two versions."""

    code = Aria2Code.HTTP_PROTOCOL
    retryable = True


class TooManyRedirects(RemoteError):
    code = Aria2Code.HTTP_TOO_MANY_REDIRECTS


class TransferError(LixianError):
    code = Aria2Code.NETWORK
    retryable = True


class NetworkError(TransferError):
    code = Aria2Code.NETWORK


class Timeout(TransferError):
    code = Aria2Code.TIMEOUT


class TooSlow(TransferError):
    code = Aria2Code.TOO_SLOW
    retryable = False


class NameResolution(TransferError):
    code = Aria2Code.NAME_RESOLVE


class StorageError(LixianError):
    code = Aria2Code.FILE_IO


class DiskFull(StorageError, OSError):
    code = Aria2Code.DISK_FULL


class FileExists(StorageError):
    code = Aria2Code.FILE_EXISTS


class CannotCreateFile(StorageError):
    code = Aria2Code.FILE_CREATE


class CannotCreateDir(StorageError):
    code = Aria2Code.DIR_CREATE


class ChecksumMismatch(LixianError):
    code = Aria2Code.CHECKSUM


class Interrupted(LixianError):
    code = Aria2Code.UNFINISHED


def status_code_for_http(status: int) -> Aria2Code:
    """Map an HTTP status >= 400 to aria2's code, as aria2c does."""
    if status == 401:
        return Aria2Code.HTTP_AUTH_FAILED
    if status == 404:
        return Aria2Code.NOT_FOUND
    if status in (502, 503, 504):
        return Aria2Code.HTTP_SERVICE_UNAVAILABLE
    return Aria2Code.HTTP_PROTOCOL
