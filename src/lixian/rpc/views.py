"""Subscribed views and their diffs, sans-IO: what ``lixian.onTaskDiff`` carries.

A page that shows 10,000 tasks must stay cheap, so a client never subscribes to "every
task": it subscribes to a *view*, the same filter, sort and page ``lixian.listTasks``
takes, or to an explicit list of GIDs (a details pane)::

    {"status": ["active", "waiting"], "name": "ubuntu", "sort": "-size",
     "offset": 0, "limit": 100, "keys": ["status", "completedLength", ...]}
    {"gids": ["2089b05ecca3d829", ...]}

Each push then carries only what changed in that page since the previous push to the
same socket, plus the few numbers a page needs around it. Costs per tick: one pass
over the task table's GIDs (filter, counts per status, and a sort when asked for,
each over plain attributes of the core's ``TaskView``, never a full snapshot), and a
``tellStatus`` struct only for tasks *on the page* (at most ``MAX_LIMIT``) that are
running or whose fingerprint moved (``_fingerprint``); an idle task keeps last tick's
struct, and an unchanged struct is not even compared. A ``Frame`` holds one tick's
work, so several sockets showing the same view share it. Measured at 10,000 paused
tasks: about 0.6 ms a tick for the default page, 2 ms for a page of 1,000, 8 ms when
sorted by name.

A diff (``ViewState.diff``), the ``params[0]`` of ``lixian.onTaskDiff``::

    {"changed": [{"gid": G, <fields that changed>}, ...],  # a newcomer comes whole
     "removed": [G, ...],            # left the view: removed, filtered or paged out
     "stats": {...},                 # getGlobalStat fields (strings) that changed
     "order": [G, ...],              # the page's GIDs, in order: when that changed
     "total": N,                     # tasks matching the filter: when that changed
     "counts": {"active": N, ...},   # tasks per status word, all tasks: when changed
     "full": true}                   # only on the first push after (re)subscribing

Fields have ``tellStatus``'s names and string shapes, plus ``name`` (what
``lixian.listTasks`` calls the task); a field that disappears is sent as ``null``.
Without ``keys``, a task has every ``tellStatus`` key but ``files`` (a torrent's file
list is paged with ``lixian.listFiles``) plus ``name``. Envelope numbers (``total``,
``counts``) are plain integers, as in ``lixian.listTasks``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lixian.core.task import TaskState
from lixian.rpc.errors import RpcError, as_integer
from lixian.rpc.lixian_methods import task_name
from lixian.rpc.schema import global_stat_struct, status_struct

if TYPE_CHECKING:
    from lixian.core.manager import Manager, TaskView

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Frame",
    "NameCache",
    "Structs",
    "View",
    "ViewState",
    "parse_view",
]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_STATES = {state.value: state for state in TaskState}
_KEYS = frozenset({"status", "name", "sort", "offset", "limit", "keys", "gids"})
_SORTS = ("name", "size", "progress", "added")


@dataclass(frozen=True, slots=True)
class View:
    """One subscription's window on the task table (hashable: ticks share its work)."""

    states: tuple[TaskState, ...] | None = None  # a tuple: ``in`` by identity, no hashing
    needle: str = ""  # casefolded name substring
    sort: str = ""  # "", "name", "-size", ...
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    gids: tuple[str, ...] | None = None  # explicit tasks instead of a filter
    keys: frozenset[str] | None = None  # None: every tellStatus key but files, plus name


def _count(raw: dict[str, object], key: str, default: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    number = as_integer(value)
    if number is None or number < 0:
        raise RpcError(f"view.{key} must be a whole number >= 0")
    return number


def _strings(raw: dict[str, object], key: str) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    listed = [value] if isinstance(value, str) else value
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        raise RpcError(f"view.{key} must be a string or an array of strings")
    return listed


def parse_view(raw: object, resolve: Callable[[str], str]) -> View:
    """``lixian.subscribe``'s parameter -> a ``View``; ``resolve`` turns GIDs (or unique
    prefixes) into full GIDs with aria2's messages."""
    if raw is None:
        return View()
    if not isinstance(raw, dict):
        raise RpcError("The parameter at 0 has wrong type.")
    unknown = set(raw) - _KEYS
    if unknown:
        raise RpcError(f"Unknown view key: {sorted(unknown)[0]}")
    keys = _strings(raw, "keys")
    wanted = frozenset(keys) if keys else None
    gids = _strings(raw, "gids")
    if gids is not None:
        if set(raw) - {"gids", "keys"}:
            raise RpcError("view.gids cannot be combined with a filter, sort or page")
        if len(gids) > MAX_LIMIT:
            raise RpcError(f"view.gids may list at most {MAX_LIMIT} tasks")
        return View(gids=tuple(dict.fromkeys(resolve(g) for g in gids)), keys=wanted)
    states: tuple[TaskState, ...] | None = None
    words = _strings(raw, "status")
    if words is not None:
        for word in words:
            if word not in _STATES:
                raise RpcError(f"Unknown status: {word}")
        states = tuple(state for state in TaskState if state.value in words)
    name = raw.get("name", "")
    if not isinstance(name, str):
        raise RpcError("view.name must be a string")
    sort = raw.get("sort") or ""
    if not isinstance(sort, str) or (sort and sort.lstrip("-") not in _SORTS):
        raise RpcError(f"Unknown sort: {sort}")
    limit = _count(raw, "limit", DEFAULT_LIMIT)
    if limit > MAX_LIMIT:
        raise RpcError(f"view.limit must be at most {MAX_LIMIT}")
    return View(
        states=states,
        needle=name.casefold(),
        sort=sort,
        offset=_count(raw, "offset", 0),
        limit=limit,
        keys=wanted,
    )


class _AllButFiles(Collection[str]):
    """``status_struct``'s key set for "every key but files": it asks only ``in``, and
    this way a key added to ``tellStatus`` later shows up in diffs without a change."""

    def __contains__(self, key: object) -> bool:
        return key != "files"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


_ALL_BUT_FILES = _AllButFiles()


def _uri_name(uri: str) -> str:
    """``PurePosixPath(unquote(urlsplit(uri).path)).name or uri``, five times faster
    for the usual ``scheme://host/path?query`` (the first sort by name of 10,000 tasks
    computes it 10,000 times); anything unusual takes the slow, exact way."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme.isalnum() or not uri.isprintable() or " " in uri:
        return PurePosixPath(unquote(urlsplit(uri).path)).name or uri
    for mark in "?#":
        rest = rest.partition(mark)[0]
    slash = rest.find("/")
    path = rest[slash:] if slash >= 0 else ""
    if "%" in path:
        path = unquote(path)
    for part in reversed(path.split("/")):
        if part and part != ".":
            return part
    return uri


def _view_name(path: Path | None, uris: tuple[str, ...]) -> str:
    """``task_name``'s rule: the file's name, else the first URI's last segment."""
    if path is not None and path.name:
        return path.name
    return _uri_name(uris[0]) if uris else ""


class NameCache:
    """``task_name`` from a ``TaskView`` without a snapshot, cached while the path and
    URIs stay the same objects (a name filter or sort over 10,000 tasks every tick)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Path | None, tuple[str, ...], str]] = {}

    def __call__(self, gid: str, view: TaskView) -> str:
        path, uris = view.path, view.task.uris
        hit = self._cache.get(gid)
        if hit is not None and hit[0] is path and hit[1] is uris:
            return hit[2]
        name = _view_name(path, uris).casefold()
        self._cache[gid] = (path, uris, name)
        return name

    def forget_except(self, alive: Collection[str]) -> None:
        if len(self._cache) > 2 * len(alive) + 64:
            self._cache = {g: v for g, v in self._cache.items() if g in alive}


def _sort_key(sort: str, names: NameCache) -> Callable[[tuple[str, TaskView]], object]:
    if sort == "name":
        return lambda item: names(*item)
    if sort == "size":
        return lambda item: item[1].total_length or 0
    if sort == "progress":

        def progress(item: tuple[str, TaskView]) -> float:
            total = item[1].total_length or 0
            return item[1].completed_length / total if total else 0.0

        return progress
    return lambda item: item[1].created_wall


_StructKey = tuple[str, frozenset[str] | None]
Structs = dict[_StructKey, tuple[tuple[object, ...], dict[str, object]]]
"""(gid, keys) -> (the task's fingerprint, its struct): kept from tick to tick."""


def _fingerprint(view: TaskView, default_dir: object) -> tuple[object, ...] | None:
    """Everything a struct of a task that is not running is made of; None for a running
    task (its speed and progress move: it is rebuilt every tick). Equal fingerprints,
    equal structs: a page of 1,000 paused tasks costs 1,000 tuples a tick, not 1,000
    snapshots."""
    task = view.task
    if task.state is TaskState.ACTIVE:
        return None
    return (
        task.state,
        view.completed_length,
        view.total_length,
        view.path,
        task.uris,
        task.options.get("dir"),
        default_dir,
        task.error,
        view.engine,
        view.paused_reason,
    )


class Frame:
    """One tick's reading of the core, computed lazily and shared by every socket.

    ``structs`` carries the previous tick's structs in; ``fresh`` holds the ones this
    tick used (the hub keeps those for the next)."""

    def __init__(self, manager: Manager, names: NameCache, structs: Structs | None = None) -> None:
        self._manager = manager
        self._names = names
        self._order: list[str] | None = None
        self._pages: dict[View, tuple[int, list[str]]] = {}
        self._old = structs or {}
        self.fresh: Structs = {}
        self._default_dir = manager.options.get("dir")
        self._counts: dict[str, int] | None = None
        self._stats: dict[str, object] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Tasks per status word, over every task the daemon holds."""
        if self._counts is None:
            # ``_value_``: an enum's own hash is a Python call, 10,000 of them a tick
            found = Counter(v.task.state._value_ for v in self._manager.views.values())
            self._counts = {state.value: found.get(state.value, 0) for state in TaskState}
        return self._counts

    @property
    def stats(self) -> dict[str, object]:
        if self._stats is None:
            self._stats = global_stat_struct(self._manager.global_stat())
        return self._stats

    def _all(self) -> list[str]:
        if self._order is None:
            m = self._manager
            self._order = [*m.active_gids(), *m.queue_gids(), *m.stopped_gids()]
        return self._order

    def page(self, view: View) -> tuple[int, list[str]]:
        """(tasks matching, the page's GIDs in order), as ``lixian.listTasks`` pages."""
        found = self._pages.get(view)
        if found is not None:
            return found
        tasks = self._manager.views
        if view.gids is not None:
            present = [g for g in view.gids if g in tasks]
            found = (len(present), present)
        else:
            order = self._all()
            if view.states is not None:
                order = [g for g in order if tasks[g].task.state in view.states]
            if view.needle:
                order = [g for g in order if view.needle in self._names(g, tasks[g])]
            if view.sort:
                items = [(g, tasks[g]) for g in order]
                items.sort(
                    key=_sort_key(view.sort.lstrip("-"), self._names),  # type: ignore[arg-type]
                    reverse=view.sort.startswith("-"),
                )
                order = [g for g, _ in items]
            found = (len(order), order[view.offset : view.offset + view.limit])
        self._pages[view] = found
        return found

    def struct(self, gid: str, keys: frozenset[str] | None) -> dict[str, object] | None:
        """The task's fields as a subscriber sees them; None if the task is gone.
        Unchanged tasks give the very same dict as last tick (``ViewState`` then skips
        comparing them)."""
        view = self._manager.views.get(gid)
        if view is None:
            return None
        cache_key = (gid, keys)
        done = self.fresh.get(cache_key)
        if done is not None:
            return done[1]
        stamp = _fingerprint(view, self._default_dir)
        old = self._old.get(cache_key)
        if stamp is not None and old is not None and old[0] == stamp:
            self.fresh[cache_key] = old
            return old[1]
        info = self._manager.status(gid)
        out = status_struct(info, _ALL_BUT_FILES if keys is None else keys)
        out["gid"] = gid
        if keys is None or "name" in keys:
            out["name"] = task_name(info)
        self.fresh[cache_key] = (stamp or (), out)
        return out


class ViewState:
    """What one socket was last sent, so the next push carries only the difference."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.full = True  # the next push is the whole view
        self._sent: dict[str, dict[str, object]] = {}
        self._order: list[str] = []
        self._total: int | None = None
        self._counts: dict[str, int] = {}
        self._stats: dict[str, object] = {}

    def diff(self, frame: Frame) -> dict[str, object] | None:
        """The next ``lixian.onTaskDiff`` payload, or None when nothing changed.

        Calling it records the result as sent: call it only when the push will go out.
        """
        total, order = frame.page(self.view)
        changed: list[dict[str, object]] = []
        current: dict[str, dict[str, object]] = {}
        for gid in order:
            new = frame.struct(gid, self.view.keys)
            if new is None:
                continue
            current[gid] = new
            old = self._sent.get(gid)
            if old is new:
                continue  # the same struct as last push (see ``Frame.struct``)
            if old is None:
                changed.append(new)
                continue
            delta = {k: v for k, v in new.items() if old.get(k) != v or k not in old}
            delta.update({k: None for k in old.keys() - new.keys()})
            if delta:
                changed.append({"gid": gid, **delta})
        order = list(current)
        removed = [gid for gid in self._sent if gid not in current]
        stats = frame.stats
        stats_delta = {k: v for k, v in stats.items() if self._stats.get(k) != v}
        payload: dict[str, object] = {"changed": changed, "removed": removed, "stats": stats_delta}
        if order != self._order or self.full:
            payload["order"] = order
        if total != self._total:
            payload["total"] = total
        if frame.counts != self._counts:
            payload["counts"] = frame.counts
        full = self.full
        if full:
            payload["full"] = True
        elif not (changed or removed or stats_delta or len(payload) > 3):
            return None
        self._sent, self._order, self._total = current, order, total
        self._counts, self._stats = frame.counts, stats
        self.full = False
        return payload
