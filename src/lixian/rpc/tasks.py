"""aria2's task methods: adding, steering, reading, options and results.

Each handler reads its parameters in aria2's order (so the first bad one is the one
reported, as aria2 reports it), resolves the GID, asks the core, and shapes the answer
with ``schema``. Messages that the core does not produce in aria2's words (a stopped
task's "Cannot change option for GID#...", "fileIndex is out of range") are checked
here first, so the core can stay free of RPC wording.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lixian.core.snapshot import TaskInfo
from lixian.core.task import TaskState
from lixian.errors import Aria2Code, LixianError
from lixian.rpc.errors import Params, RpcError
from lixian.rpc.schema import (
    BIG_FILE_LIST,
    GLOBAL_SPECS,
    TASK_SPECS,
    OptionScope,
    gather_options,
    global_stat_struct,
    option_struct,
    parse_flag,
    peers_struct,
    uris_struct,
)

if TYPE_CHECKING:
    from lixian.rpc.aria2 import Dispatcher

__all__ = [
    "add_metalink",
    "add_torrent",
    "add_uri",
    "change_global_option",
    "change_option",
    "change_position",
    "change_uri",
    "get_files",
    "get_global_option",
    "get_global_stat",
    "get_option",
    "get_peers",
    "get_servers",
    "get_uris",
    "pause",
    "pause_all",
    "purge_download_result",
    "remove",
    "remove_download_result",
    "tell_active",
    "tell_status",
    "tell_stopped",
    "tell_waiting",
    "unpause",
    "unpause_all",
]

_POSITIONS = ("POS_SET", "POS_CUR", "POS_END")
_LIVE = (TaskState.WAITING, TaskState.PAUSED, TaskState.ACTIVE)


# scheme "://" [userinfo "@"] host: what aria2 needs before it will try a URI.
_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://(?:[^/?#@]*@)?(?:\[[^\]/?#]+\]|[^/?#:\[\]]+)")


def _valid_uri(uri: str) -> bool:
    """aria2's test for a URI it will try: a scheme and a host (``file:`` and plain
    paths are refused over RPC), or a magnet. A regex, not ``urlsplit``: 10,000 adds in
    one multicall are a real workload."""
    match = _URI.match(uri)
    if match is None:
        return uri[:8].lower() == "magnet:?"
    return match.group(1).lower() != "file"


def _gid_option(rpc: Dispatcher, raw: dict[str, object]) -> tuple[str | None, bool]:
    """The ``gid`` option: (the GID or None, whether it is usable). aria2 drops the
    download when it is not 16 hex digits, all zeros, or taken."""
    gid = raw.get("gid")
    if not isinstance(gid, str):
        return None, True
    bad = len(gid) != 16 or gid == "0" * 16 or gid.lower() in rpc.manager.views
    return gid, not (bad or any(c not in "0123456789abcdefABCDEF" for c in gid))


def _live(rpc: Dispatcher, gid: str) -> bool:
    return rpc.manager.views[gid].task.state in _LIVE


async def _statuses(
    rpc: Dispatcher, gids: Sequence[str], keys: list[str] | None
) -> list[dict[str, object]]:
    status = rpc.manager.status
    cache = rpc.statuses
    wanted = None if keys is None else frozenset(keys)
    infos = [status(gid) for gid in gids]
    out = [cache.struct_without_files(info, wanted) for info in infos]
    if wanted is None or "files" in wanted:
        for struct, info in zip(out, infos, strict=True):
            struct["files"] = await _files(rpc, info)
    cache.forget_gone(rpc.manager.views)
    return out


async def _files(rpc: Dispatcher, info: TaskInfo) -> list[dict[str, object]]:
    """A task's file list; a torrent's long one is shaped off the event loop."""
    if len(info.files) <= BIG_FILE_LIST:
        return rpc.statuses.files(info)
    return await asyncio.to_thread(rpc.statuses.files, info)


def _page(items: Sequence[str], offset: int, num: int) -> Sequence[str]:
    """aria2's pagination: a negative offset counts from the end (-1 is the last)
    and walks backwards, so ``(-1, 1000)`` is the newest thousand, newest first."""
    if offset >= 0:
        return items[offset : offset + num]
    start = len(items) + offset
    if start < 0 or num == 0:
        return []
    stop = start - num
    return items[start : stop if stop >= 0 else None : -1]


# ---- adding ----


async def add_uri(rpc: Dispatcher, p: Params) -> object:
    uris = p.strings(0)
    raw = p.optional_struct(1) or {}
    position = p.optional_integer(2)
    if not uris:
        raise RpcError("URI is not provided.")
    options = gather_options(raw, OptionScope.ADD, rpc.confine)
    paused = parse_flag("pause", raw.get("pause"))
    if position is not None and position < 0:
        raise RpcError("Position must be greater than or equal to 0.")
    usable = [u for u in uris if _valid_uri(u)]
    gid, good = _gid_option(rpc, raw)
    if not good:
        usable = []  # aria2 drops the download, then has nothing to add
    if not usable:
        raise RpcError("No URI to download.")
    return await rpc.manager.add(usable, options, position=position, gid=gid, paused=bool(paused))


MAX_TORRENT_TEXT = 96 << 20  # base64 of the largest .torrent lixian parses (64 MiB)


async def add_torrent(rpc: Dispatcher, p: Params) -> object:
    """aria2.addTorrent(torrent, [uris], [options], [position]): base64 .torrent bytes;
    ``uris`` are web seeds. Bad data fails the call (25 not bencode, 26 not a torrent:
    told in the message) and nothing is added."""
    text = p.string(0)
    seeds = p.optional_array(1) or []
    raw = p.optional_struct(2) or {}
    position = p.optional_integer(3)
    options = gather_options(raw, OptionScope.ADD, rpc.confine)
    paused = parse_flag("pause", raw.get("pause"))
    if position is not None and position < 0:
        raise RpcError("Position must be greater than or equal to 0.")
    if len(text) > MAX_TORRENT_TEXT:
        raise RpcError("bad torrent: larger than lixian accepts (64 MiB)")
    try:
        data = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise RpcError("Bencode decoding failed: the torrent is not base64") from None
    gid, good = _gid_option(rpc, raw)
    if not good:
        raise RpcError(f"Invalid GID {gid}" if gid else "Invalid GID")
    web_seeds = [u for u in seeds if isinstance(u, str) and _URI.match(u)]
    try:
        return await rpc.manager.add_torrent(
            data, web_seeds, options, position=position, gid=gid, paused=bool(paused)
        )
    except LixianError as exc:
        if exc.code in (Aria2Code.BENCODE_PARSE, Aria2Code.BITTORRENT_PARSE):
            raise RpcError(str(exc)) from None
        raise


async def add_metalink(rpc: Dispatcher, p: Params) -> object:
    p.string(0)
    raise RpcError("Metalink is not supported yet.")


# ---- steering ----


async def remove(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    await rpc.manager.remove(gid)
    return gid


async def pause(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    await rpc.manager.pause(gid)
    return gid


async def pause_all(rpc: Dispatcher, p: Params) -> object:
    await rpc.manager.pause_all()
    return "OK"


async def unpause(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    await rpc.manager.unpause(gid)
    return gid


async def unpause_all(rpc: Dispatcher, p: Params) -> object:
    await rpc.manager.unpause_all()
    return "OK"


async def change_position(rpc: Dispatcher, p: Params) -> object:
    text, pos, how = p.string(0), p.integer(1), p.string(2)
    gid = rpc.resolve(text)
    if how not in _POSITIONS:
        raise RpcError("Illegal argument.")
    return rpc.manager.change_position(gid, pos, how)


async def change_uri(rpc: Dispatcher, p: Params) -> object:
    text, index = p.string(0), p.integer(1, minimum=1)
    removed, added = p.array(2), p.array(3)
    position = p.optional_integer(4)
    gid = rpc.resolve(text)
    if position is not None and position < 0:
        raise RpcError("Position must be greater than or equal to 0.")
    if not _live(rpc, gid):
        raise RpcError(f"Cannot remove URIs from GID#{gid}")
    if index > len(rpc.manager.status(gid).files):
        raise RpcError("fileIndex is out of range")
    gone = [u for u in removed if isinstance(u, str)]
    new = [u for u in added if isinstance(u, str) and _valid_uri(u)]
    deleted, inserted = await rpc.manager.change_uri(gid, index, gone, new, position)
    return [deleted, inserted]


# ---- reading ----


async def tell_status(rpc: Dispatcher, p: Params) -> object:
    text, keys = p.string(0), p.keys(1)
    gid = rpc.resolve(text)
    return (await _statuses(rpc, [gid], keys))[0]


async def get_uris(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    if not _live(rpc, gid):
        raise RpcError(f"No URI data is available for GID#{gid}")
    files = rpc.manager.status(gid).files
    return uris_struct(files[0].uris) if files else []


async def get_files(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    return await _files(rpc, rpc.manager.status(gid))


async def get_peers(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    if not _live(rpc, gid):
        raise RpcError(f"No peer data is available for GID#{gid}")
    return peers_struct(rpc.manager.peers(gid))


async def get_servers(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    info = rpc.manager.status(gid)
    if info.state is not TaskState.ACTIVE:
        raise RpcError(f"No active download for GID#{gid}")
    out: list[object] = []
    for file in info.files:
        used = [u.uri for u in file.uris if u.status == "used"] if info.connections else []
        speed = str(info.download_speed // len(used)) if used else "0"
        servers = [{"currentUri": u, "downloadSpeed": speed, "uri": u} for u in used]
        out.append({"index": str(file.index), "servers": servers})
    return out


async def tell_active(rpc: Dispatcher, p: Params) -> object:
    return await _statuses(rpc, rpc.manager.active_gids(), p.keys(0))


async def tell_waiting(rpc: Dispatcher, p: Params) -> object:
    offset, num, keys = p.integer(0), p.integer(1, minimum=0), p.keys(2)
    return await _statuses(rpc, _page(rpc.manager.queue_gids(), offset, num), keys)


async def tell_stopped(rpc: Dispatcher, p: Params) -> object:
    offset, num, keys = p.integer(0), p.integer(1, minimum=0), p.keys(2)
    return await _statuses(rpc, _page(rpc.manager.stopped_gids(), offset, num), keys)


async def get_global_stat(rpc: Dispatcher, p: Params) -> object:
    return global_stat_struct(rpc.manager.global_stat())


# ---- options ----


async def get_option(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    values = dict(rpc.manager.get_option(gid))
    values["dir"] = str(rpc.manager.status(gid).dir)
    return option_struct(values, TASK_SPECS, rpc.manager.options)


async def change_option(rpc: Dispatcher, p: Params) -> object:
    text, raw = p.string(0), p.struct(1)
    gid = rpc.resolve(text)
    if not _live(rpc, gid):
        raise RpcError(f"Cannot change option for GID#{gid}")
    options = gather_options(raw, OptionScope.CHANGE, rpc.confine)
    if options:
        await rpc.manager.change_option(gid, options)
    return "OK"


async def get_global_option(rpc: Dispatcher, p: Params) -> object:
    values = dict(rpc.manager.options)
    values["dir"] = str(values.get("dir") or Path.cwd())
    values["enable-rpc"] = True  # whatever the command line said, we are serving it
    return option_struct(values, GLOBAL_SPECS, {})


async def change_global_option(rpc: Dispatcher, p: Params) -> object:
    options = gather_options(p.struct(0), OptionScope.GLOBAL, rpc.confine)
    if options:
        await rpc.manager.change_global_option(options)
    return "OK"


# ---- results ----


async def purge_download_result(rpc: Dispatcher, p: Params) -> object:
    await rpc.manager.purge_results()
    return "OK"


async def remove_download_result(rpc: Dispatcher, p: Params) -> object:
    gid = rpc.resolve(p.string(0))
    await rpc.manager.remove_result(gid)
    return "OK"
