"""aria2's string-typed shapes, made at the RPC door and only here.

The core hands out frozen snapshots holding ints, enums and Paths (``TaskInfo``,
``GlobalStat``) and typed option values; aria2 clients expect every number as a
string (``"1048576"``), booleans as ``"true"``/``"false"`` and keys named the aria2
way. Both directions live here: snapshots out (``status_struct``, ``files_struct``,
``option_struct``) and option strings in (``gather_options``), so no other module
formats or parses anything for aria2.

Key sets follow aria2 1.37, checked against the real aria2c: every task reports
``bitfield`` (once known), ``pieceLength`` and ``numPieces`` even for HTTP (AriaNg
draws its piece map from them); only stopped tasks carry ``errorCode`` and
``errorMessage``; a removed task's ``errorCode`` is 31, aria2's "removed" code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterable, Mapping

from lixian.core.snapshot import BtInfo, FileInfo, GlobalStat, PeerInfo, TaskInfo, UriInfo
from lixian.core.task import TaskState
from lixian.errors import BadOption, LixianError
from lixian.options import (
    DAEMON_ALIASES,
    DAEMON_OPTIONS,
    IGNORED_OPTIONS,
    OPTIONS,
    Kind,
    OptionSpec,
    OptionValue,
)
from lixian.rpc.errors import RpcError

__all__ = [
    "ARIA2_PATH_OPTIONS",
    "BIG_FILE_LIST",
    "GLOBAL_SPECS",
    "HOOK_OPTIONS",
    "RPC_ONLY_OPTIONS",
    "TASK_SPECS",
    "Confine",
    "OptionScope",
    "StatusCache",
    "files_struct",
    "gather_options",
    "global_stat_struct",
    "option_struct",
    "peers_struct",
    "status_struct",
    "uris_struct",
]

Confine = Callable[[str, str], str]
"""``(option name, path) -> path``: the server's policy; raises ``RpcError`` to refuse."""

_STOPPED = (TaskState.COMPLETE, TaskState.ERROR, TaskState.REMOVED)

# ``lixian serve``'s own rows (aria2's RPC-server options such as save-session), minus
# lixian's alias spellings, the secret, ``pause`` (a flag of each addUri, which aria2
# does not list among global options) and what the daemon keeps out of the manager
# (its listen address, state file and state backup), which the manager could not
# report truly.
_NOT_REPORTED = frozenset(
    {"pause", "host", "state", "state-backup", "state-backup-interval", "backup-partials",
     "restore-from"}
)  # fmt: skip
RPC_ONLY_OPTIONS: Mapping[str, OptionSpec] = {
    name: spec
    for name, spec in DAEMON_OPTIONS.items()
    if name not in OPTIONS
    and name not in DAEMON_ALIASES
    and name not in _NOT_REPORTED
    and not spec.secret
}

# Commands run on events: only the command line and aria2.conf may set them.
HOOK_OPTIONS = frozenset(
    {
        "on-download-start",
        "on-download-pause",
        "on-download-stop",
        "on-download-complete",
        "on-download-error",
        "on-bt-download-complete",
    }
)

# Every aria2 option whose value names a file or directory. Each one arriving over RPC
# goes through the server's confinement, even those lixian ignores: a path that would
# escape is refused, whatever lixian would have done with it.
ARIA2_PATH_OPTIONS = frozenset(
    {
        "dir",
        "out",
        "index-out",
        "log",
        "save-session",
        "save-cookies",
        "load-cookies",
        "server-stat-of",
        "server-stat-if",
        "input-file",
        "conf-path",
        "dht-file-path",
        "dht-file-path6",
        "netrc-path",
        "ca-certificate",
        "certificate",
        "private-key",
        "rpc-certificate",
        "rpc-private-key",
        "torrent-file",
        "metalink-file",
    }
)


# Every option the RPC knows, one spec per name (the implemented row wins).
_SPECS: Mapping[str, OptionSpec] = {**IGNORED_OPTIONS, **RPC_ONLY_OPTIONS, **OPTIONS}
_ALL_SPECS = tuple(spec for _, spec in sorted(_SPECS.items()))
TASK_SPECS = tuple(s for s in _ALL_SPECS if s.scope == "task")
"""What ``getOption`` reports (aria2's per-download options), sorted as aria2 sorts."""
GLOBAL_SPECS = _ALL_SPECS
"""What ``getGlobalOption`` reports."""


# ---- snapshots out ----


def _flag(value: bool) -> str:
    return "true" if value else "false"


def uris_struct(uris: Iterable[UriInfo]) -> list[dict[str, object]]:
    return [{"status": u.status, "uri": u.uri} for u in uris]


def files_struct(files: Iterable[FileInfo]) -> list[dict[str, object]]:
    return [
        {
            "completedLength": str(f.completed_length),
            "index": str(f.index),
            "length": str(f.length),
            "path": str(f.path) if f.path is not None else "",
            "selected": _flag(f.selected),
            "uris": uris_struct(f.uris),
        }
        for f in files
    ]


BIG_FILE_LIST = 2000
"""A task with more files than this has its file list shaped on a worker thread (a
100,000-file torrent takes seconds); ``lixian.listFiles`` pages through it instead."""


class StatusCache:
    """``tellStatus`` structs kept per task, reused while the core hands out the same
    snapshot object (it keeps one per task that is not running: ``runner.task_info``).

    Why: AriaNg lists ``tellWaiting(0, 1000)`` every second; with 10,000 paused tasks,
    building 1,000 structs of strings each time was most of the call. A running task's
    snapshot is new every time, so it is shaped every time and never kept.

    The file list is kept apart and built only when a caller asks for ``files``: a
    torrent may hold 100,000 files, which a listing that asks for a few keys must not pay
    for.

    Callers get a new top-level dict each time (``lixian.listTasks`` adds a ``name``);
    the nested ``files`` list is shared between answers and must not be changed.
    """

    __slots__ = ("_files", "_infos", "_structs")

    def __init__(self) -> None:
        # Two dicts, not one of pairs: 10,000 kept tasks are that many fewer objects for
        # the garbage collector to walk. Holding the snapshot keeps ``is`` meaningful.
        self._infos: dict[str, TaskInfo] = {}
        self._structs: dict[str, dict[str, object]] = {}
        self._files: dict[str, list[dict[str, object]]] = {}

    def struct(self, info: TaskInfo, keys: Collection[str] | None = None) -> dict[str, object]:
        """``status_struct(info, keys)``, from the kept struct when there is one."""
        out = self.struct_without_files(info, keys)
        if keys is None or "files" in keys:
            out["files"] = self.files(info)
        return out

    def struct_without_files(
        self, info: TaskInfo, keys: Collection[str] | None = None
    ) -> dict[str, object]:
        """The struct for ``keys`` less ``files`` (a new top-level dict)."""
        gid = info.gid
        if self._infos.get(gid) is info:
            full = self._structs[gid]
        elif info.state is TaskState.ACTIVE:
            full = _status(info, False)
            return full if keys is None else {k: v for k, v in full.items() if k in keys}
        else:
            full = self._structs[gid] = _status(info, False)
            self._infos[gid] = info
            self._files.pop(gid, None)
        if keys is None:
            return dict(full)
        return {key: value for key, value in full.items() if key in keys}

    def files(self, info: TaskInfo) -> list[dict[str, object]]:
        """``files_struct(info.files)``, kept with the struct of a task that is not running."""
        gid = info.gid
        if info.state is TaskState.ACTIVE or self._infos.get(gid) is not info:
            return files_struct(info.files)
        kept = self._files.get(gid)
        if kept is None:
            kept = self._files[gid] = files_struct(info.files)
        return kept

    def forget_gone(self, live: Collection[str]) -> None:
        """Drop the structs of tasks no longer in ``live`` (called now and then)."""
        if len(self._infos) > len(live) + 1024:
            self._infos = {gid: i for gid, i in self._infos.items() if gid in live}
            self._structs = {gid: s for gid, s in self._structs.items() if gid in live}
            self._files = {gid: f for gid, f in self._files.items() if gid in live}


def status_struct(info: TaskInfo, keys: Collection[str] | None = None) -> dict[str, object]:
    """``tellStatus``'s struct; with ``keys``, only those (unknown names are skipped).

    The file list, the one costly part, is built only when asked for: AriaNg lists
    1,000 tasks at a time with a handful of keys.
    """
    full = _status(info, keys is None or "files" in keys)
    if keys is None:
        return full
    return {key: value for key, value in full.items() if key in keys}


def _status(info: TaskInfo, files: bool) -> dict[str, object]:
    state = info.state
    out: dict[str, object] = {
        "completedLength": str(info.completed_length),
        "connections": str(info.connections),
        "dir": str(info.dir),
        "downloadSpeed": str(info.download_speed),
        "gid": info.gid,
        "numPieces": str(info.num_pieces),
        "pieceLength": str(info.piece_length),
        "status": state.value,
        "totalLength": str(info.total_length),
        "uploadLength": str(info.upload_length),
        "uploadSpeed": str(info.upload_speed),
    }
    if info.bitfield:
        out["bitfield"] = info.bitfield
    if state in _STOPPED:
        code = info.error_code
        out["errorCode"] = str(int(code))
        out["errorMessage"] = info.error_message
    if files:
        out["files"] = files_struct(info.files)
    if info.bt is not None:
        _bt_fields(out, info.bt)
    if info.following:
        out["following"] = info.following
    if info.followed_by:
        out["followedBy"] = list(info.followed_by)  # an array, as aria2 has it
    if info.belongs_to:
        out["belongsTo"] = info.belongs_to
    if info.lixian:
        out["lixian"] = dict(info.lixian)  # lixian's own key; aria2 clients ignore it
    return out


def _bt_fields(out: dict[str, object], bt: BtInfo) -> None:
    """aria2's keys for a torrent: ``seeder`` only while it runs; ``bittorrent.info``,
    ``comment``, ``creationDate`` (an integer) and ``mode`` once the metadata is known."""
    out["infoHash"] = bt.info_hash
    out["numSeeders"] = str(bt.num_seeders)
    if bt.seeder is not None:
        out["seeder"] = _flag(bt.seeder)
    torrent: dict[str, object] = {"announceList": [list(tier) for tier in bt.announce_list]}
    if bt.comment:
        torrent["comment"] = bt.comment
    if bt.creation_date is not None:
        torrent["creationDate"] = bt.creation_date
    if bt.name is not None:
        torrent["info"] = {"name": bt.name}
    if bt.mode:
        torrent["mode"] = bt.mode
    out["bittorrent"] = torrent


def _percent(raw: bytes) -> str:
    """aria2's peerId: every byte but letters and digits percent-encoded."""
    return "".join(chr(b) if chr(b).isalnum() and b < 128 else f"%{b:02X}" for b in raw)


def peers_struct(peers: Iterable[PeerInfo]) -> list[dict[str, object]]:
    return [
        {
            "amChoking": _flag(p.am_choking),
            "bitfield": p.bitfield,
            "downloadSpeed": str(p.download_speed),
            "ip": p.ip,
            "peerChoking": _flag(p.peer_choking),
            "peerId": _percent(p.peer_id),
            "port": str(p.port),
            "seeder": _flag(p.seeder),
            "uploadSpeed": str(p.upload_speed),
        }
        for p in peers
    ]


def global_stat_struct(stat: GlobalStat) -> dict[str, object]:
    return {
        "downloadSpeed": str(stat.download_speed),
        "numActive": str(stat.num_active),
        "numStopped": str(stat.num_stopped),
        "numStoppedTotal": str(stat.num_stopped_total),
        "numWaiting": str(stat.num_waiting),
        "uploadSpeed": str(stat.upload_speed),
    }


def option_struct(
    values: Mapping[str, object], specs: Iterable[OptionSpec], fallback: Mapping[str, object]
) -> dict[str, str]:
    """Options as aria2 strings: the value set, else ``fallback``'s, else the default.

    aria2 leaves an option with no value at all out of ``getOption``, so None is omitted.
    """
    out: dict[str, str] = {}
    for spec in specs:
        value = values.get(spec.name)
        if value is None:
            value = fallback.get(spec.name)
        if value is None:
            value = spec.default
        if value is not None:
            out[spec.name] = spec.format(value)  # type: ignore[arg-type]
    return out


# ---- option strings in ----


class OptionScope(enum.Enum):
    """Which options a method takes, as aria2 decides per option handler."""

    ADD = "add"  # addUri: per-download options
    CHANGE = "change"  # changeOption: per-download options
    GLOBAL = "global"  # changeGlobalOption: options flagged global-changeable


def _accepts(spec: OptionSpec, scope: OptionScope) -> bool:
    if scope is OptionScope.GLOBAL:
        return spec.global_changeable
    return spec.scope == "task"


def _bad(name: str) -> RpcError:
    return RpcError(f"We encountered a problem while processing the option '--{name}'.")


def _confined(confine: Confine | None, name: str, path: str) -> str:
    if confine is None:
        return path
    try:
        return confine(name, path)
    except LixianError as exc:
        raise RpcError(str(exc)) from None


def _confine_ignored(confine: Confine | None, name: str, raw: object) -> None:
    """Refuse an escaping path even in an option lixian will ignore."""
    items = raw if isinstance(raw, list) else [raw]
    for item in items:
        if isinstance(item, str) and item:
            _confined(confine, name, item)  # index-out's INDEX=PATH goes whole


def _parse(spec: OptionSpec, raw: object) -> OptionValue | None:
    """A typed value; None when aria2 would skip it (not a string, or a list given to a
    non-list option)."""
    if isinstance(raw, str):
        return spec.parse(raw)
    if isinstance(raw, list) and spec.kind is Kind.LIST:
        items = [item for item in raw if isinstance(item, str)]
        if not items:
            return None
        parsed: tuple[str, ...] = ()
        for item in items:
            value = spec.parse(item)
            assert isinstance(value, tuple)
            parsed += value
        return parsed
    return None


def gather_options(
    raw: Mapping[str, object], scope: OptionScope, confine: Confine | None = None
) -> dict[str, OptionValue]:
    """Turn an RPC options struct into typed values the manager takes.

    aria2's rules, checked against aria2c: an unknown option, or one that does not
    belong to this method, is skipped without a word; a value that is not a string
    (nor, for ``header``-like options, an array of strings) is skipped too; a bad
    value fails the whole call. lixian adds two refusals of its own: ``on-download-*``
    hooks, and any path the server's ``confine`` policy rejects. Options lixian
    accepts but ignores are checked and then dropped for a download, so ``getOption``
    keeps telling the truth (their default).
    """
    out: dict[str, OptionValue] = {}
    for name, value in raw.items():
        if name in HOOK_OPTIONS:
            raise RpcError(f"The option '--{name}' cannot be set over RPC.")
        spec = _SPECS.get(name)
        if spec is None:
            if name in ARIA2_PATH_OPTIONS:
                _confine_ignored(confine, name, value)
            continue
        if not _accepts(spec, scope):
            if name in ARIA2_PATH_OPTIONS:
                _confine_ignored(confine, name, value)
            continue
        try:
            parsed = _parse(spec, value)
        except BadOption:
            raise _bad(name) from None
        if parsed is None:
            continue
        if name in ARIA2_PATH_OPTIONS and isinstance(parsed, str) and parsed:
            parsed = _confined(confine, name, parsed)
        elif name in ARIA2_PATH_OPTIONS and isinstance(parsed, tuple):
            parsed = tuple(_confined(confine, name, item) for item in parsed)
        if scope is OptionScope.GLOBAL or name in OPTIONS:
            out[name] = parsed
    return out


def parse_flag(name: str, raw: object) -> bool | None:
    """A boolean option read on its own (``pause``): None if absent or not a string."""
    if not isinstance(raw, str):
        return None
    if raw in ("", "true"):
        return True
    if raw == "false":
        return False
    raise _bad(name)
