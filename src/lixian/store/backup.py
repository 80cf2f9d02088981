"""Surviving the VM: checkpoints of the state (and partial downloads) kept somewhere else.

Why. A cloud notebook's VM is gone after a disconnect, and the next session is a new
machine: the queue in SQLite and the partial files on its disk go with it. With
``lixian serve --state-backup TARGET`` (an rclone ``REMOTE:PATH`` or a directory such as
the mounted Drive folder) the daemon checkpoints them there, and
``lixian serve --restore-from TARGET`` on the new machine brings them back. The promise:
nothing is lost but the work since the last checkpoint.

What a checkpoint is (``StateBackup.checkpoint``)
-------------------------------------------------
1. Every write the daemon queued is committed (the store's barrier), then the database is
   copied with SQLite's online backup API (``sqlite3.Connection.backup``) from a reader
   connection: one consistent snapshot, WAL contents included, without stopping the
   writer. The copy is switched to a rollback journal, so it is one self-contained file.
   Never a copy of the live files: the main file alone lacks what is still in the WAL,
   and a WAL copied mid-write is torn.
2. The snapshot goes to ``TARGET/state-<time>-<rand>.sqlite3`` (hidden name, checked,
   renamed: ``backup_targets.py``), then the manifest ``TARGET/lixian-backup.json``,
   naming it with its size and sha256, replaces the previous manifest the same way.
   The manifest is the commit point: until it is replaced, the previous database and
   partial copies it names stay untouched; only after it is replaced are objects it no
   longer names deleted.
3. With ``--backup-partials``: files under the download dir and the staging dir that
   have a ``NAME.lixian`` control file. For each one that changed since its last copy,
   the control file is read first and rewritten into a durable slot of a spool copy,
   then exactly the bytes the data file had at that moment are streamed to the target.
   A control file read before the data only ever claims bytes the copy holds, so a copy
   taken while the download runs is consistent without pausing it. A round copies at
   most ``PARTIALS_PER_ROUND`` bytes (the least recently copied first; always at least
   one file), in worker threads and an rclone process, so downloads never wait on it.

A lineage id (a random token kept beside the state file and written in every manifest) tells
"this daemon's own older checkpoint" from "another machine's backup": a daemon refuses to
overwrite a backup of another state that holds tasks (the new-VM case, where
``--restore-from`` was forgotten and an empty queue would replace the real one).

Restoring (:func:`restore_state`) fills an empty state only: it fetches the manifest and
the database it names, checks size, sha256 and ``PRAGMA integrity_check``, puts each
partial back (control file first, then the data, each checked against the manifest and
the control file's ranges against the data's size) and installs the database last. A
partial that cannot be brought back is removed with its control file, so its task starts
again from zero instead of resuming from bytes that are not there. When the new
``--dir`` (or staging dir) differs from the old machine's, task paths under the old one
are moved under the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from lixian import __version__
from lixian.ranges import RangeSet
from lixian.storage.control import ControlFile, ResourceMeta
from lixian.storage.mounts import is_remote_filesystem
from lixian.storage.rclone_cli import Rclone
from lixian.store.backup_targets import (
    BackupError,
    BackupTarget,
    Source,
    Stored,
    is_hidden_temp,
    open_target,
)

__all__ = [
    "DEFAULT_INTERVAL",
    "MANIFEST",
    "PARTIALS_PER_ROUND",
    "BackupError",
    "BackupMissing",
    "PartialCopy",
    "RestoreReport",
    "StateBackup",
    "count_tasks",
    "default_staging_root",
    "find_partials",
    "lineage_path",
    "restore_state",
    "snapshot_database",
    "spool_dir",
]

log = logging.getLogger(__name__)

MANIFEST = "lixian-backup.json"
FORMAT = "lixian-state-backup"
VERSION = 1
DEFAULT_INTERVAL = 60.0
PARTIALS_PER_ROUND = 1 << 30
"""Bytes of partial downloads copied per checkpoint at most (one file always goes)."""
FINAL_LIMIT = 120.0
"""Seconds the shutdown checkpoint may take; the last committed checkpoint stays valid."""
SCAN_LIMIT = 200_000
"""Directory entries looked at per root when searching for partial files."""
CONTROL_SUFFIX = ".lixian"
_LIVE_STATES = ("waiting", "paused", "active")


class BackupMissing(BackupError):
    """There is no backup at the target to restore from."""


# ---- the database snapshot ----


def snapshot_database(state: Path, dest: Path) -> int:
    """Copy the live database at ``state`` into ``dest`` with SQLite's backup API.

    Blocking (call in a thread). Returns the number of tasks in the copy. The copy uses a
    rollback journal, so ``dest`` alone is the whole database.
    """
    for leftover in (dest, Path(f"{dest}-journal"), Path(f"{dest}-wal"), Path(f"{dest}-shm")):
        leftover.unlink(missing_ok=True)
    src = sqlite3.connect(str(state), timeout=30)
    try:
        src.execute("PRAGMA query_only=ON")
        dst = sqlite3.connect(str(dest))
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction, one snapshot
            dst.execute("PRAGMA journal_mode=DELETE")
            (check,) = dst.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise BackupError(f"the snapshot of {state} failed its check: {check}")
            (count,) = dst.execute("SELECT count(*) FROM tasks").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    return int(count)


@dataclass(frozen=True, slots=True)
class _Row:
    gid: str
    state: str
    uris: tuple[str, ...]
    options: dict[str, Any]
    path: str | None


def _read_rows(db: Path) -> list[_Row]:
    conn = sqlite3.connect(str(db))
    try:
        rows = conn.execute("SELECT gid, state, uris, options, path FROM tasks").fetchall()
    finally:
        conn.close()
    return [_Row(g, s, tuple(json.loads(u)), json.loads(o), p) for g, s, u, o, p in rows]


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# ---- where things are ----


def default_staging_root(options: Mapping[str, object]) -> Path:
    """The staging dir the daemon's manager uses: ``--staging-dir``, else the user cache."""
    given = options.get("staging-dir")
    if given:
        return Path(str(given)).expanduser().absolute()
    return platformdirs.user_cache_path("lixian") / "staging"


def spool_dir(state_path: Path) -> Path:
    """Local working room for backups, beside the state file (``state-6800.backup/``):
    the database snapshot and control-file copies on their way to the target."""
    return state_path.with_name(f"{state_path.stem}.backup")


def lineage_path(state_path: Path) -> Path:
    """The lineage id's file, beside the state file (``state-6800.lineage``): a name that
    starts with the state's stem and a dot in the state dir, so no path set over RPC
    (``log``, ``save-session``) can overwrite it (``Confiner``)."""
    return state_path.with_name(f"{state_path.stem}.lineage")


def _lineage(state_path: Path) -> str:
    """This state's lineage id, made on first use."""
    with contextlib.suppress(OSError):
        text = lineage_path(state_path).read_text(encoding="utf-8").strip()
        if text:
            return text
    token = secrets.token_hex(12)
    _write_lineage(state_path, token)
    return token


def _write_lineage(state_path: Path, token: str) -> None:
    path = lineage_path(state_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(token + "\n", encoding="utf-8")
    os.replace(temp, path)


def find_partials(roots: Iterable[Path], limit: int = SCAN_LIMIT) -> list[tuple[Path, Path]]:
    """``(data, control)`` for every ``NAME`` with a ``NAME.lixian`` beside it (blocking).

    Roots on FUSE or network filesystems are skipped: lixian never downloads in place
    there (it stages), and walking a cloud drive could take minutes."""
    found: dict[Path, Path] = {}
    seen_roots: set[Path] = set()
    for root in roots:
        root = root.absolute()
        if root in seen_roots or not root.is_dir() or is_remote_filesystem(root):
            continue
        seen_roots.add(root)
        looked = 0
        for directory, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            looked += len(files) + len(dirs)
            names = set(files)
            for name in files:
                if name.startswith(".") or not name.endswith(CONTROL_SUFFIX):
                    continue
                data = name[: -len(CONTROL_SUFFIX)]
                if data and data in names:
                    found.setdefault(Path(directory) / data, Path(directory) / name)
            if looked > limit:
                log.warning("state backup: stopped looking for partial files in %s", root)
                break
    return sorted(found.items())


# ---- the manifest ----


@dataclass(slots=True)
class PartialCopy:
    """One partial download as copied to the target: a consistent data + control pair."""

    path: str
    control: str
    gid: str | None
    data: Stored
    ctl: Stored
    claimed: int
    taken: float
    stamp: tuple[int, ...] = field(default=(), compare=False)  # the files when copied

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "control": self.control,
            "gid": self.gid,
            "data": self.data.as_json(),
            "ctl": self.ctl.as_json(),
            "claimed": self.claimed,
            "taken": self.taken,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PartialCopy:
        gid = raw.get("gid")
        return cls(
            path=str(raw["path"]),
            control=str(raw["control"]),
            gid=str(gid) if gid else None,
            data=Stored.from_json(raw["data"]),
            ctl=Stored.from_json(raw["ctl"]),
            claimed=int(raw["claimed"]),
            taken=float(raw.get("taken") or 0.0),
        )


@dataclass(slots=True)
class Manifest:
    state: Stored
    lineage: str
    created: float
    host: str
    tasks: int
    dir: str
    staging: str
    partials: list[PartialCopy]

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": VERSION,
                "lixian": __version__,
                "lineage": self.lineage,
                "created": self.created,
                "host": self.host,
                "tasks": self.tasks,
                "dir": self.dir,
                "staging": self.staging,
                "state": self.state.as_json(),
                "partials": [p.as_json() for p in self.partials],
            },
            indent=1,
        ).encode()

    @classmethod
    def decode(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError("not a lixian state backup manifest")
            if int(raw.get("version", 0)) > VERSION:
                raise ValueError(
                    f"made by a newer lixian (format {raw['version']}); upgrade to restore it"
                )
            return cls(
                state=Stored.from_json(raw["state"]),
                lineage=str(raw.get("lineage") or ""),
                created=float(raw.get("created") or 0.0),
                host=str(raw.get("host") or "?"),
                tasks=int(raw.get("tasks") or 0),
                dir=str(raw.get("dir") or ""),
                staging=str(raw.get("staging") or ""),
                partials=[PartialCopy.from_json(p) for p in raw.get("partials") or ()],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{where}/{MANIFEST} is unreadable: {exc}") from exc

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created))
        return f"{self.tasks} tasks, checkpoint of {when} from {self.host}"


def _generation() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


# ---- checkpointing ----


@dataclass(frozen=True, slots=True)
class _Found:
    data: Path
    control: Path
    stamp: tuple[int, ...]
    size: int


def _stamp(data: Path, control: Path) -> _Found | None:
    try:
        d, c = data.stat(), control.stat()
    except OSError:
        return None
    return _Found(data, control, (d.st_mtime_ns, d.st_size, c.st_mtime_ns, c.st_size), d.st_size)


class StateBackup:
    """Periodic and final checkpoints of one daemon's state to one target."""

    def __init__(
        self,
        target: BackupTarget,
        state_path: Path,
        *,
        download_dir: Path,
        staging_root: Path,
        interval: float = DEFAULT_INTERVAL,
        partials: bool = False,
        barrier: Callable[[], Awaitable[None]] | None = None,
        partial_budget: int = PARTIALS_PER_ROUND,
    ) -> None:
        self.target = target
        self.state_path = state_path
        self.download_dir = download_dir
        self.staging_root = staging_root
        self.interval = max(1.0, interval)
        self.partials = partials
        self.partial_budget = partial_budget
        self._barrier = barrier
        self.spool = spool_dir(state_path)
        self.lineage = ""
        self.last_ok: float | None = None
        self.last_error = ""
        self._db: Stored | None = None
        self._tasks = 0
        self._copies: dict[str, PartialCopy] = {}
        self._lock = asyncio.Lock()
        self._loop_task: asyncio.Task[None] | None = None

    @classmethod
    def from_options(
        cls,
        options: Mapping[str, object],
        state_path: Path,
        *,
        barrier: Callable[[], Awaitable[None]] | None = None,
        rclone: Rclone | None = None,
    ) -> StateBackup:
        """From ``lixian serve``'s options (``--state-backup`` must be set)."""
        spec = str(options["state-backup"])
        interval = options.get("state-backup-interval")
        return cls(
            open_target(spec, rclone),
            state_path,
            download_dir=Path(str(options.get("dir") or ".")).absolute(),
            staging_root=default_staging_root(options),
            interval=float(str(interval)) if interval else DEFAULT_INTERVAL,
            partials=bool(options.get("backup-partials")),
            barrier=barrier,
        )

    async def start(self, *, local_tasks: int) -> None:
        """Check the target, refuse to overwrite another state's backup, begin the loop.

        ``local_tasks`` is how many tasks the local state holds now."""
        await self.target.check()
        await asyncio.to_thread(self.spool.mkdir, parents=True, exist_ok=True, mode=0o700)
        self.lineage = await asyncio.to_thread(_lineage, self.state_path)
        raw = await self.target.read(MANIFEST)
        if raw is not None:
            theirs = Manifest.decode(raw, self.target.spec)
            if theirs.lineage != self.lineage and theirs.tasks > 0:
                hint = (
                    f"start with --restore-from {self.target.spec} to bring it back, or "
                    if local_tasks == 0
                    else ""
                )
                raise BackupError(
                    f"{self.target.spec} holds the backup of another lixian state "
                    f"({theirs.describe()}); {hint}choose another --state-backup target "
                    "(it is not overwritten)"
                )
            # Our own older checkpoint: keep naming its objects until they are replaced.
            self._copies = {p.path: p for p in theirs.partials}
        self._loop_task = asyncio.create_task(self._loop(), name="state-backup")

    async def _loop(self) -> None:
        """A checkpoint at once (the target is known to be good now), then every interval."""
        while True:
            await self.checkpoint_logged()
            await asyncio.sleep(self.interval)

    async def checkpoint_logged(self) -> bool:
        """A checkpoint whose failure is logged (and retried next time), never raised."""
        try:
            await self.checkpoint()
        except asyncio.CancelledError:
            raise
        except (BackupError, OSError, sqlite3.Error) as exc:
            self.last_error = str(exc)
            log.warning("state backup to %s failed (the previous one is kept): %s",
                        self.target.spec, exc)  # fmt: skip
            return False
        except Exception as exc:  # a bug must not end the daemon; say it loudly
            self.last_error = repr(exc)
            log.exception("state backup to %s crashed", self.target.spec)
            return False
        return True

    async def close(self) -> None:
        """Stop the loop and take the final checkpoint (bounded by ``FINAL_LIMIT``)."""
        if self._loop_task is None:
            return
        self._loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._loop_task
        self._loop_task = None
        try:
            await asyncio.wait_for(self.checkpoint_logged(), FINAL_LIMIT)
        except TimeoutError:
            log.warning("state backup: the final checkpoint took over %.0f s; the one "
                        "before it is kept", FINAL_LIMIT)  # fmt: skip

    async def checkpoint(self) -> None:
        """One checkpoint: database first (committed at once), then changed partials."""
        async with self._lock:
            if self._barrier is not None:
                await self._barrier()
            snap = self.spool / "state.sqlite3"
            tasks = await asyncio.to_thread(snapshot_database, self.state_path, snap)
            size, digest = await asyncio.to_thread(_sha256, snap)
            dirty = False
            if self._db is None or self._db.sha256 != digest:
                self._db = await self.target.put(
                    Source(snap, size), f"state-{_generation()}.sqlite3"
                )
                self._tasks = tasks
                dirty = True
            work: list[_Found] = []
            if self.partials:
                rows = await asyncio.to_thread(_read_rows, snap)
                found = await asyncio.to_thread(self._scan, rows)
                present = {str(f.data) for f in found}
                gone = [p for p in self._copies if p not in present]
                for path in gone:
                    del self._copies[path]
                dirty = dirty or bool(gone)
                work = self._plan(found)
            elif self._copies:
                self._copies.clear()
                dirty = True
            if dirty:
                await self._commit()
            if work:
                gids = await asyncio.to_thread(self._gids, snap)
                copied = 0
                for item in work:
                    if await self._copy_partial(item, gids):
                        copied += 1
                if copied:
                    await self._commit()
                    dirty = True
            self.last_ok = time.time()
            self.last_error = ""
            if dirty:
                await self._collect()

    def _scan(self, rows: list[_Row]) -> list[_Found]:
        roots = [self.download_dir, self.staging_root]
        roots += [
            Path(str(r.options["dir"]))
            for r in rows
            if r.state in _LIVE_STATES and r.options.get("dir")
        ]
        out = []
        for data, control in find_partials(roots):
            if self.spool in data.parents:
                continue
            item = _stamp(data, control)
            if item is not None:
                out.append(item)
        return out

    def _plan(self, found: list[_Found]) -> list[_Found]:
        """The changed partials to copy this round, least recently copied first."""
        changed = [
            f
            for f in found
            if (copy := self._copies.get(str(f.data))) is None or copy.stamp != f.stamp
        ]
        changed.sort(key=lambda f: c.taken if (c := self._copies.get(str(f.data))) else 0.0)
        plan: list[_Found] = []
        budget = self.partial_budget
        for item in changed:
            if plan and item.size > budget:
                continue
            plan.append(item)
            budget -= item.size
        return plan

    def _gids(self, snap: Path) -> _GidIndex:
        return _GidIndex(_read_rows(snap), self.staging_root)

    async def _copy_partial(self, item: _Found, gids: _GidIndex) -> bool:
        """Copy one partial (control file read first, then data); False if it changed
        under us or vanished (it is tried again next round)."""
        spool_ctl = self.spool / "control.tmp"
        read = await asyncio.to_thread(_durable_control_copy, item.control, spool_ctl)
        if read is None:
            return False
        meta, done = read
        size = (await asyncio.to_thread(_size, item.data)) or 0
        end = max((e for _, e in done), default=0)
        if end > size:
            return False  # the control file claims more than the data has: try later
        gen = _generation()
        key = hashlib.sha256(str(item.data).encode()).hexdigest()[:16]
        try:
            data = await self.target.put(Source(item.data, size), f"partials/{key}-{gen}.data")
        except BackupError as exc:
            log.info("state backup: %s not copied this time: %s", item.data, exc)
            return False
        again = await asyncio.to_thread(_meta_of, item.control)
        if again is not None and again != meta:
            return False  # the download restarted while we copied it
        ctl_size = (await asyncio.to_thread(_size, spool_ctl)) or 0
        try:
            ctl = await self.target.put(Source(spool_ctl, ctl_size), f"partials/{key}-{gen}.ctl")
        except BackupError as exc:
            log.info("state backup: the control file of %s not copied: %s", item.data, exc)
            return False
        self._copies[str(item.data)] = PartialCopy(
            path=str(item.data),
            control=str(item.control),
            gid=gids.find(item.data, meta),
            data=data,
            ctl=ctl,
            claimed=done.total(),
            taken=time.time(),
            stamp=item.stamp,
        )
        return True

    async def _commit(self) -> None:
        """Replace the manifest: the moment the new checkpoint becomes the one to restore."""
        assert self._db is not None
        manifest = Manifest(
            state=self._db,
            lineage=self.lineage,
            created=time.time(),
            host=socket.gethostname(),
            tasks=self._tasks,
            dir=str(self.download_dir),
            staging=str(self.staging_root),
            partials=sorted(self._copies.values(), key=lambda p: p.path),
        )
        data = manifest.encode()
        path = self.spool / "manifest.json"
        await asyncio.to_thread(path.write_bytes, data)
        await self.target.put(Source(path, len(data)), MANIFEST)

    async def _collect(self) -> None:
        """Delete objects the committed manifest no longer names (and interrupted writes)."""
        if self._db is None:
            return
        keep = {self._db.name, MANIFEST}
        for copy in self._copies.values():
            keep |= {copy.data.name, copy.ctl.name}
        names = await self.target.list("") + await self.target.list("partials")
        for name in names:
            ours = (
                name.startswith("partials/")
                or (name.startswith("state-") and name.endswith(".sqlite3"))
                or is_hidden_temp(name)
            )
            if ours and name not in keep:
                with contextlib.suppress(BackupError, OSError):
                    await self.target.delete(name)


class _GidIndex:
    """Which live task a partial file belongs to: by its recorded path, its staging dir
    (``STAGING/<gid>/...``) or its URL."""

    def __init__(self, rows: list[_Row], staging_root: Path) -> None:
        live = [r for r in rows if r.state in _LIVE_STATES]
        self.live = {r.gid for r in live}
        self.by_path = {r.path: r.gid for r in live if r.path}
        self.by_url: dict[str, str] = {}
        for r in live:
            for uri in r.uris:
                self.by_url.setdefault(uri, r.gid)
        self.staging_root = staging_root

    def find(self, data: Path, meta: ResourceMeta) -> str | None:
        if str(data) in self.by_path:
            return self.by_path[str(data)]
        with contextlib.suppress(ValueError):
            first = data.relative_to(self.staging_root).parts[0]
            if first in self.live:
                return first
        return self.by_url.get(meta.url)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _meta_of(control: Path) -> ResourceMeta | None:
    loaded = ControlFile.load(control)
    if loaded is None:
        return None
    loaded[0].close()
    return loaded[0].meta


def _durable_control_copy(control: Path, dest: Path) -> tuple[ResourceMeta, RangeSet] | None:
    """Read ``control`` (newest valid slot, the live one included) and write its claims to
    ``dest`` as a fresh control file whose durable slot holds them too: on another machine
    (another boot) only durable slots are trusted, and the copy of the data that goes with
    this file does hold every claimed byte."""
    loaded = ControlFile.load(control)
    if loaded is None:
        return None
    ctl, done = loaded
    ctl.close()
    dest.unlink(missing_ok=True)
    copy = ControlFile.create(dest, ctl.meta, done)
    try:
        copy.write_durable(done)
    finally:
        copy.close()
    return ctl.meta, done


# ---- restoring ----


@dataclass(slots=True)
class RestoreReport:
    """What ``--restore-from`` did, for the daemon's banner."""

    target: str
    description: str = ""
    tasks: int = 0
    live: int = 0
    partials: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    skipped: str = ""

    def summary(self) -> str:
        if self.skipped:
            return f"--restore-from {self.target} not used: {self.skipped}"
        lines = [
            f"restored {self.tasks} tasks ({self.live} unfinished) from {self.target} "
            f"({self.description}); {len(self.partials)} partial files brought back"
        ]
        lines += [f"  moved: {m}" for m in self.moved]
        lines += [f"  starts again from zero: {r}" for r in self.restarted]
        return "\n".join(lines)


def _lock_state(state_path: Path) -> int:
    """The daemon's own lock on the state (see ``Store``), held while restoring."""
    state_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(state_path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise BackupError(
            f"state {state_path} is in use by another lixian daemon; cannot restore into it"
        ) from None
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def count_tasks(state_path: Path) -> int:
    """Tasks in a state file (0 when there is none yet); blocking."""
    if not state_path.exists():
        return 0
    conn = sqlite3.connect(str(state_path), timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # no tasks table: a state file that was never used
    finally:
        conn.close()


class _Mover:
    """Old machine's directories -> this machine's (``--dir``, staging dir)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = [
            (old.rstrip("/"), new.rstrip("/")) for old, new in pairs if old and old != new
        ]

    def __call__(self, path: str) -> str:
        for old, new in self.pairs:
            if path == old:
                return new
            if path.startswith(old + "/"):
                return new + path[len(old) :]
        return path


def _prepare_db(db: Path, move: _Mover) -> tuple[int, set[str], set[Path]]:
    """Check the fetched database, move its paths; -> (tasks, live GIDs, their dirs).
    Blocking."""
    conn = sqlite3.connect(str(db), isolation_level=None)
    try:
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        if check != "ok":
            raise BackupError(f"the backed-up database is damaged: {check}")
        rows = conn.execute("SELECT gid, state, options, path FROM tasks").fetchall()
        dirs: set[Path] = set()
        conn.execute("BEGIN")
        for gid, state, options_text, path in rows:
            options = json.loads(options_text)
            if state in _LIVE_STATES and isinstance(options.get("dir"), str):
                dirs.add(Path(move(options["dir"])))
            changed = False
            if isinstance(options.get("dir"), str) and move(options["dir"]) != options["dir"]:
                options["dir"] = move(options["dir"])
                changed = True
            new_path = move(path) if path else path
            if changed or new_path != path:
                conn.execute(
                    "UPDATE tasks SET options=?, path=? WHERE gid=?",
                    (json.dumps(options, separators=(",", ":")), new_path, gid),
                )
        for key, text in conn.execute("SELECT key, value FROM settings").fetchall():
            value = json.loads(text)
            if key == "dir" and isinstance(value, str) and move(value) != value:
                conn.execute(
                    "UPDATE settings SET value=? WHERE key=?", (json.dumps(move(value)), key)
                )
        conn.execute("COMMIT")
    finally:
        conn.close()
    live = {gid for gid, state, _, _ in rows if state in _LIVE_STATES}
    return len(rows), live, dirs


def _inside(path: Path, roots: Iterable[Path]) -> bool:
    """``path`` (made normal, ``..`` resolved) is below one of ``roots``."""
    normal = Path(os.path.normpath(path))
    return normal.is_absolute() and any(
        normal != root and root in normal.parents
        for root in (Path(os.path.normpath(r)) for r in roots)
    )


def _forget_progress(db: Path, gids: Iterable[str]) -> None:
    conn = sqlite3.connect(str(db))
    try:
        with conn:
            conn.executemany(
                "UPDATE tasks SET completed_length=0 WHERE gid=?", [(g,) for g in gids]
            )
    finally:
        conn.close()


def _check_partial(data: Path, control: Path, copy: PartialCopy) -> None:
    """The fetched pair is usable: the control file loads and claims only bytes the data
    holds, as many as when it was copied."""
    loaded = ControlFile.load(control)
    if loaded is None:
        raise BackupError("its control file is unreadable")
    loaded[0].close()
    done = loaded[1]
    size = data.stat().st_size
    end = max((e for _, e in done), default=0)
    if end > size:
        raise BackupError(f"its control file claims {end} bytes, the data has {size}")
    if done.total() != copy.claimed:
        raise BackupError(f"its control file claims {done.total()} bytes, not {copy.claimed}")


async def _restore_partial(
    target: BackupTarget, copy: PartialCopy, data: Path, control: Path
) -> None:
    """Fetch, check and put back one partial: control file first, then the data (a control
    file without its data is discarded by the engine; data without one would be renamed
    around)."""

    def prepare() -> None:
        if data.exists() or control.exists():
            raise BackupError("a file is already there; kept it")
        data.parent.mkdir(parents=True, exist_ok=True)
        control.parent.mkdir(parents=True, exist_ok=True)

    def clean() -> None:
        for path in (tmp_data, tmp_ctl):
            path.unlink(missing_ok=True)
        if not data.exists():
            control.unlink(missing_ok=True)

    await asyncio.to_thread(prepare)
    tmp_data = data.with_name(f".{data.name}.lixian-restore")
    tmp_ctl = control.with_name(f".{control.name}.lixian-restore")
    try:
        got = await target.get(copy.data.name, tmp_data)
        if (got.size, got.sha256) != (copy.data.size, copy.data.sha256):
            raise BackupError(f"its data copy differs from the manifest ({got.size} bytes)")
        got = await target.get(copy.ctl.name, tmp_ctl)
        if (got.size, got.sha256) != (copy.ctl.size, copy.ctl.sha256):
            raise BackupError("its control copy differs from the manifest")
        await asyncio.to_thread(_check_partial, tmp_data, tmp_ctl, copy)
        await asyncio.to_thread(os.replace, tmp_ctl, control)
        await asyncio.to_thread(os.replace, tmp_data, data)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(clean))
        raise


async def restore_state(
    spec: str,
    state_path: Path,
    *,
    download_dir: Path,
    staging_root: Path,
    rclone: Rclone | None = None,
) -> RestoreReport:
    """Fill an empty state at ``state_path`` from the backup at ``spec``.

    ``BackupMissing`` when there is no backup there; ``BackupError`` when it cannot be
    read or is damaged. A state that already holds tasks is left alone (the report says
    so): it is at least as new as its own backup, and another state's queue must not be
    replaced by accident.
    """
    target = open_target(spec, rclone)
    raw = await target.read(MANIFEST)
    if raw is None:
        raise BackupMissing(
            f"nothing to restore from {spec}: no lixian backup there ({MANIFEST} is missing; "
            "--state-backup writes it)"
        )
    manifest = Manifest.decode(raw, spec)
    report = RestoreReport(spec, manifest.describe())
    fd = await asyncio.to_thread(_lock_state, state_path)
    try:
        existing = await asyncio.to_thread(count_tasks, state_path)
        if existing:
            report.skipped = f"the state {state_path} already holds {existing} tasks"
            return report
        temp = state_path.with_name(f".{state_path.name}.restore")
        got = await target.get(manifest.state.name, temp)
        try:
            if (got.size, got.sha256) != (manifest.state.size, manifest.state.sha256):
                raise BackupError(
                    f"{spec}/{manifest.state.name} is {got.size} bytes sha256 {got.sha256}; "
                    f"the manifest says {manifest.state.size} bytes {manifest.state.sha256}"
                )
            move = _Mover(
                [(manifest.staging, str(staging_root)), (manifest.dir, str(download_dir))]
            )
            report.moved = [f"{old} -> {new}" for old, new in move.pairs]
            report.tasks, live, dirs = await asyncio.to_thread(_prepare_db, temp, move)
            report.live = len(live)
            # Partial files go back only where this daemon downloads: a backup (a shared
            # Drive folder, say) must not be able to write files anywhere else.
            roots = [download_dir, staging_root, *dirs]
            lost: list[str] = []
            for copy in manifest.partials:
                if copy.gid is not None and copy.gid not in live:
                    continue  # its task finished or went away before the checkpoint
                data, control = Path(move(copy.path)), Path(move(copy.control))
                try:
                    if not _inside(data, roots) or control != data.with_name(
                        data.name + CONTROL_SUFFIX
                    ):
                        raise BackupError("outside the download and staging dirs; not restored")
                    await _restore_partial(target, copy, data, control)
                except (BackupError, OSError) as exc:
                    report.restarted.append(f"{data} ({exc})")
                    if copy.gid is not None:
                        lost.append(copy.gid)
                else:
                    report.partials.append(str(data))
            if lost:
                await asyncio.to_thread(_forget_progress, temp, lost)
            await asyncio.to_thread(_install, temp, state_path)
        finally:
            temp.unlink(missing_ok=True)
        await asyncio.to_thread(_write_lineage, state_path, manifest.lineage)
    finally:
        await asyncio.to_thread(_unlock, fd)
    return report


def _install(temp: Path, state_path: Path) -> None:
    """Put the restored database in place; a stale WAL of the old file must go with it."""
    for sibling in ("-wal", "-shm", "-journal"):
        Path(f"{state_path}{sibling}").unlink(missing_ok=True)
    os.replace(temp, state_path)
    directory = os.open(state_path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
