"""lixian's own RPC methods (``lixian.*``), over the same table and token as aria2's.

Why they exist: aria2 can only list a queue in the order it runs, one list at a
time, so a page showing "the 50 largest paused downloads named *ubuntu*" would fetch
every task. ``lixian.listTasks`` filters, sorts and pages on the server. Results use
aria2's status structs (strings), plus a ``name``, so a client renders both the same
way; the page envelopes (``total``) are plain integers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lixian.core.snapshot import TaskInfo
from lixian.core.task import TaskState
from lixian.errors import BadOption, LixianError
from lixian.importers.curl import Flavour
from lixian.importers.curl import parse_curl as read_curl
from lixian.importers.paste_review import cookies_review, curl_review
from lixian.rpc.errors import Params, RpcError, as_integer
from lixian.rpc.schema import files_struct, status_struct

if TYPE_CHECKING:
    from lixian.core.manager import Manager

__all__ = ["list_files", "list_tasks", "parse_cookies", "parse_curl", "task_name"]

DEFAULT_LIMIT = 100
_STATES = {state.value: state for state in TaskState}
_FILTER_KEYS = frozenset({"status", "name"})


def task_name(info: TaskInfo) -> str:
    """What a person calls the download: a torrent's name, its file's name, else the
    URI's last segment."""
    if info.bt is not None:
        if info.bt.name is not None:
            return info.bt.name
        return str(info.files[0].path) if info.files else info.bt.info_hash
    for file in info.files:
        if file.path is not None and file.path.name:
            return file.path.name
    for file in info.files:
        for uri in file.uris:
            segment = PurePosixPath(unquote(urlsplit(uri.uri).path)).name
            return segment or uri.uri
    return ""


def _progress(info: TaskInfo) -> float:
    return info.completed_length / info.total_length if info.total_length else 0.0


_SORTS: dict[str, Callable[[TaskInfo, float], object]] = {
    "name": lambda info, added: task_name(info).casefold(),
    "size": lambda info, added: info.total_length,
    "progress": lambda info, added: _progress(info),
    "added": lambda info, added: added,
}


def _count(p: Params, i: int, default: int, what: str) -> int:
    raw = p.get(i)
    if raw is None:
        return default
    number = as_integer(raw)
    if number is None or number < 0:
        raise RpcError(f"{what} must be a whole number >= 0")
    return number


def _filter(p: Params) -> tuple[set[TaskState] | None, str]:
    raw = p.get(0)
    if raw is None:
        return None, ""
    if not isinstance(raw, dict):
        raise RpcError("The parameter at 0 has wrong type.")
    unknown = set(raw) - _FILTER_KEYS
    if unknown:
        raise RpcError(f"Unknown filter key: {sorted(unknown)[0]}")
    words = raw.get("status")
    states: set[TaskState] | None = None
    if words is not None:
        listed = [words] if isinstance(words, str) else words
        if not isinstance(listed, list) or not all(isinstance(w, str) for w in listed):
            raise RpcError("filter.status must be a status word or an array of them")
        states = set()
        for word in listed:
            if word not in _STATES:
                raise RpcError(f"Unknown status: {word}")
            states.add(_STATES[word])
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise RpcError("filter.name must be a string")
    return states, name.casefold()


def list_tasks(manager: Manager, p: Params) -> dict[str, object]:
    """``lixian.listTasks(filter, sort, offset, limit[, keys])``.

    ``filter``: ``{"status": "paused" | [...], "name": "substring"}`` (case-insensitive);
    ``sort``: ``name``, ``size``, ``progress`` or ``added``, ``-`` first for descending;
    without it, aria2's order: active, then the queue, then stopped results.
    """
    states, needle = _filter(p)
    sort = p.get(1)
    if sort is not None and not isinstance(sort, str):
        raise RpcError("The parameter at 1 has wrong type.")
    offset = _count(p, 2, 0, "offset")
    limit = _count(p, 3, DEFAULT_LIMIT, "limit")
    keys = p.keys(4) if p.get(4) is not None else None

    views = manager.views
    order = [*manager.active_gids(), *manager.queue_gids(), *manager.stopped_gids()]
    if states is not None:
        order = [g for g in order if views[g].task.state in states]
    infos = [manager.status(g) for g in order]
    if needle:
        infos = [i for i in infos if needle in task_name(i).casefold()]
    if sort:
        descending = sort.startswith("-")
        key = _SORTS.get(sort.lstrip("-"))
        if key is None:
            raise RpcError(f"Unknown sort: {sort}")
        added = {g: views[g].created_wall for g in order}
        infos.sort(key=lambda i: key(i, added[i.gid]), reverse=descending)  # type: ignore[arg-type,return-value]
    page = infos[offset : offset + limit]
    wanted = None if keys is None else frozenset(keys)
    tasks: list[dict[str, object]] = []
    for info in page:
        struct = status_struct(info, wanted)
        if wanted is None or "name" in wanted:
            struct["name"] = task_name(info)
        tasks.append(struct)
    return {"total": len(infos), "tasks": tasks}


def list_files(manager: Manager, p: Params, resolve: Callable[[str], str]) -> dict[str, object]:
    """``lixian.listFiles(gid, offset, limit)``: one page of a task's files (a torrent
    may hold thousands)."""
    gid = resolve(p.string(0))
    offset = _count(p, 1, 0, "offset")
    limit = _count(p, 2, DEFAULT_LIMIT, "limit")
    files = manager.status(gid).files
    return {"total": len(files), "files": files_struct(files[offset : offset + limit])}


_FLAVOURS: dict[object, Flavour] = {None: "auto", "auto": "auto", "bash": "bash", "cmd": "cmd"}


async def parse_curl(_dispatcher: object, p: Params) -> object:
    """``lixian.parseCurl(text[, flavour])``: a pasted "Copy as cURL" command (bash or cmd;
    ``flavour`` "auto" by default) -> ``{url, method, downloadable, options, notes, headers,
    cookies, dropped}`` (see ``importers/curl.py``). ``options`` is ready for ``aria2.addUri``;
    the review lists redact credentials. Nothing is added."""
    text = p.string(0)
    flavour = _FLAVOURS.get(p.get(1))
    if flavour is None:
        raise RpcError("flavour must be auto, bash or cmd")
    try:
        request = read_curl(text, flavour)
    except BadOption as exc:
        raise RpcError(str(exc)) from None
    return curl_review(request)


async def parse_cookies(_dispatcher: object, p: Params) -> object:
    """``lixian.parseCookies(text[, url])``: a pasted cookies.txt -> ``{url, options, notes,
    cookies}``; with ``url``, ``options.header`` holds the Cookie header that URL gets."""
    text = p.string(0)
    url = p.get(1)
    if url is not None and not isinstance(url, str):
        raise RpcError("The parameter at 1 has wrong type.")
    try:
        return cookies_review(text, url or None, time.time())
    except BadOption as exc:
        raise RpcError(str(exc)) from None


async def retry(dispatcher: Any, p: Params) -> object:
    """``lixian.retry(gid)``: queue a failed download again, same GID, progress kept
    (a full disk, error 9, is the usual reason). Returns the GID, as aria2.unpause does."""
    gid = dispatcher.resolve(p.string(0))
    try:
        await dispatcher.manager.retry(gid)
    except LixianError as exc:
        raise RpcError(str(exc)) from None
    return gid


async def disk_space(dispatcher: Any, p: Params) -> object:
    """``lixian.diskSpace()`` -> ``[{path, free, total}]`` for the download dir and the
    staging dir: what the page shows, and what the free-space guard watches."""
    manager = dispatcher.manager
    places = [manager.default_dir(), manager.staging_root]

    def measure() -> list[dict[str, str]]:
        out = []
        for place in places:
            where = place
            while not where.exists() and where != where.parent:
                where = where.parent
            st = os.statvfs(where)
            out.append(
                {
                    "path": str(place),
                    "free": str(st.f_bavail * st.f_frsize),
                    "total": str(st.f_blocks * st.f_frsize),
                }
            )
        return out

    return await asyncio.to_thread(measure)
