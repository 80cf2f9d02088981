"""What a daemon's replies become: frozen, typed snapshots, made here and only here.

aria2 answers in strings (``"12345"``, ``"true"``) and clients that parse them wherever they are
used drift apart (aria2p's ``int(struct["totalLength"])`` all over). The ``from_aria2``
constructors below are the one place lixian's client turns aria2's structs into ints and bools,
and ``aria2_options`` the one place Python values become aria2's option strings. The snapshots are
frozen (STYLE.md guideline 3): a fresh view is an explicit ``tell_status`` call, never an
attribute that does I/O.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "TERMINAL",
    "DaemonUnreachable",
    "FileInfo",
    "GlobalStat",
    "Notification",
    "OptionInput",
    "Outcome",
    "RpcError",
    "TaskPage",
    "TaskStatus",
    "Version",
    "aria2_options",
    "rpc_error",
]

TERMINAL = frozenset({"complete", "error", "removed"})
"""Statuses a task never leaves on its own: ``wait`` returns when it sees one."""

OptionInput = str | int | float | bool | os.PathLike[str] | Sequence[str] | None
"""What a Python caller may give as an option value; ``aria2_options`` makes aria2's strings."""


class RpcError(Exception):
    """The daemon refused a call; ``message`` is aria2's text ("GID 2089b05e... is not found")."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DaemonUnreachable(ConnectionError):
    """Nothing answered at ``url`` (no daemon running, wrong port): not an RPC refusal."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the daemon at {url}: {reason}")
        self.url = url
        self.reason = reason


def aria2_options(options: Mapping[str, OptionInput]) -> dict[str, str | list[str]]:
    """Python keyword options -> aria2's RPC option struct.

    Underscores become dashes (``max_concurrent_downloads`` -> ``max-concurrent-downloads``),
    booleans ``"true"``/``"false"``, paths and numbers strings, sequences (``header``) lists of
    strings; ``None`` leaves the option out. aria2 rejects non-string values: done once, here.
    """
    out: dict[str, str | list[str]] = {}
    for key, value in options.items():
        if value is None:
            continue
        name = key.replace("_", "-")
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, os.PathLike):
            out[name] = os.fspath(value)
        elif isinstance(value, str | int | float):
            out[name] = str(value)
        else:
            out[name] = [str(item) for item in value]
    return out


# --- Shapes: aria2's string-typed structs become frozen snapshots here, and only here. ------------


def _int(struct: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = struct.get(key)
    return default if value is None or value == "" else int(value)


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file of a task (``files`` in tellStatus)."""

    index: int
    path: str
    length: int
    completed_length: int
    selected: bool
    uris: tuple[str, ...]

    @classmethod
    def from_aria2(cls, struct: Mapping[str, Any]) -> FileInfo:
        return cls(
            index=_int(struct, "index", 1),
            path=str(struct.get("path", "")),
            length=_int(struct, "length"),
            completed_length=_int(struct, "completedLength"),
            selected=struct.get("selected", "true") == "true",
            uris=tuple(str(u.get("uri", "")) for u in struct.get("uris", ())),
        )


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """A snapshot of one task, as tellStatus saw it; call ``tell_status`` again for a fresh one.

    ``status`` is aria2's word: active, waiting, paused, error, complete or removed. Fields a
    ``keys`` filter left out hold their zero value; ``raw`` keeps the struct as received.
    """

    gid: str
    status: str
    total_length: int = 0
    completed_length: int = 0
    upload_length: int = 0
    download_speed: int = 0
    upload_speed: int = 0
    connections: int = 0
    dir: str = ""
    files: tuple[FileInfo, ...] = ()
    error_code: int | None = None
    error_message: str = ""
    info_hash: str | None = None
    bt_name: str | None = None
    num_seeders: int = 0
    piece_length: int = 0
    num_pieces: int = 0
    following: str | None = None
    followed_by: tuple[str, ...] = ()
    belongs_to: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_aria2(cls, struct: Mapping[str, Any]) -> TaskStatus:
        bt = struct.get("bittorrent") or {}
        code = struct.get("errorCode")
        return cls(
            gid=str(struct.get("gid", "")),
            status=str(struct.get("status", "")),
            total_length=_int(struct, "totalLength"),
            completed_length=_int(struct, "completedLength"),
            upload_length=_int(struct, "uploadLength"),
            download_speed=_int(struct, "downloadSpeed"),
            upload_speed=_int(struct, "uploadSpeed"),
            connections=_int(struct, "connections"),
            dir=str(struct.get("dir", "")),
            files=tuple(FileInfo.from_aria2(f) for f in struct.get("files", ())),
            error_code=None if code is None else int(code),
            error_message=str(struct.get("errorMessage", "")),
            info_hash=struct.get("infoHash"),
            bt_name=(bt.get("info") or {}).get("name"),
            num_seeders=_int(struct, "numSeeders"),
            piece_length=_int(struct, "pieceLength"),
            num_pieces=_int(struct, "numPieces"),
            following=struct.get("following"),
            followed_by=tuple(struct.get("followedBy", ())),
            belongs_to=struct.get("belongsTo"),
            raw=MappingProxyType(dict(struct)),
        )

    @property
    def name(self) -> str:
        """What a person calls it: the torrent's name, else the first file's, else its URI's."""
        if self.bt_name:
            return self.bt_name
        for f in self.files[:1]:
            if f.path:
                return os.path.basename(f.path)
            for uri in f.uris[:1]:
                return uri.rstrip("/").rsplit("/", 1)[-1] or uri
        return self.gid

    @property
    def progress(self) -> float:
        """Completed fraction, 0.0 to 1.0 (0.0 while the size is unknown)."""
        return self.completed_length / self.total_length if self.total_length else 0.0

    @property
    def done(self) -> bool:
        """True once the task is complete, failed or removed."""
        return self.status in TERMINAL

    @property
    def path(self) -> str:
        """The first file's path ('' until the daemon knows it)."""
        return self.files[0].path if self.files else ""

    def as_json(self) -> dict[str, Any]:
        """Typed fields for machine output (``lixian ls --json``), without ``raw``."""
        return {
            "gid": self.gid,
            "status": self.status,
            "name": self.name,
            "total_length": self.total_length,
            "completed_length": self.completed_length,
            "upload_length": self.upload_length,
            "download_speed": self.download_speed,
            "upload_speed": self.upload_speed,
            "connections": self.connections,
            "dir": self.dir,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "info_hash": self.info_hash,
            "followed_by": list(self.followed_by),
            "files": [
                {"index": f.index, "path": f.path, "length": f.length,
                 "completed_length": f.completed_length, "selected": f.selected,
                 "uris": list(f.uris)}
                for f in self.files
            ],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class GlobalStat:
    """getGlobalStat: speeds in bytes/s and the sizes of aria2's three lists."""

    download_speed: int
    upload_speed: int
    num_active: int
    num_waiting: int
    num_stopped: int
    num_stopped_total: int

    @classmethod
    def from_aria2(cls, struct: Mapping[str, Any]) -> GlobalStat:
        return cls(*(_int(struct, k) for k in (
            "downloadSpeed", "uploadSpeed", "numActive", "numWaiting", "numStopped",
            "numStoppedTotal")))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Version:
    """getVersion: ``version`` is "1.37.0" for aria2c; lixian reports its own."""

    version: str
    enabled_features: tuple[str, ...]

    @classmethod
    def from_aria2(cls, struct: Mapping[str, Any]) -> Version:
        return cls(str(struct.get("version", "")), tuple(struct.get("enabledFeatures", ())))


@dataclass(frozen=True, slots=True)
class TaskPage:
    """``lixian.listTasks``: one page of tasks and the total that matched the filter."""

    total: int
    tasks: tuple[TaskStatus, ...]

    @classmethod
    def from_aria2(cls, struct: Mapping[str, Any]) -> TaskPage:
        tasks = tuple(TaskStatus.from_aria2(t) for t in struct.get("tasks", ()))
        return cls(_int(struct, "total", len(tasks)), tasks)


@dataclass(frozen=True, slots=True)
class Notification:
    """A WebSocket push: ``method`` is e.g. "aria2.onDownloadComplete"; ``gid`` the task."""

    method: str
    gid: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answer of a ``multicall``: ``value`` when ``error`` is None."""

    value: Any = None
    error: RpcError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def rpc_error(struct: Any) -> RpcError:
    """aria2's ``{"code", "message"}`` struct (a reply's or a multicall item's) as RpcError."""
    if isinstance(struct, Mapping):
        return RpcError(int(struct.get("code", 1)), str(struct.get("message", "")))
    return RpcError(1, f"malformed error: {struct!r}")
