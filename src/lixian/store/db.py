"""Durable state in SQLite (WAL), written by one thread.

Why one writer thread: SQLite serialises writers anyway, and a thread that drains
every pending write into one transaction turns 10,000 queued changes (a multicall of
adds) into one commit instead of 10,000. Callers await their write, so the core can
keep its rule: a change is on disk before it is announced.

The state file is held with an exclusive ``flock`` on a sibling lock file: a second
daemon on the same state stops with a clear error instead of corrupting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lixian.errors import LixianError

__all__ = ["StateLocked", "Store", "TaskRow"]

SCHEMA = [
    """
    CREATE TABLE tasks (
        gid TEXT PRIMARY KEY,
        seq REAL NOT NULL,
        uris TEXT NOT NULL,
        options TEXT NOT NULL,
        state TEXT NOT NULL,
        error_code INTEGER NOT NULL DEFAULT 0,
        error_message TEXT NOT NULL DEFAULT '',
        total_length INTEGER NOT NULL DEFAULT 0,
        completed_length INTEGER NOT NULL DEFAULT 0,
        path TEXT,
        created REAL NOT NULL,
        finished REAL
    );
    CREATE INDEX tasks_state_seq ON tasks(state, seq);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: what lixian knows beyond aria2's columns (ranges on disk, sha256, verdict, delivery)
    "ALTER TABLE tasks ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'",
    # 3: BitTorrent: the .torrent of each torrent task (a magnet's once its metadata came),
    # libtorrent's resume data, and the pieces that passed their hash since it was saved
    """
    CREATE TABLE bt_torrents (gid TEXT PRIMARY KEY, torrent BLOB NOT NULL);
    CREATE TABLE bt_resume (gid TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE bt_pieces (
        gid TEXT NOT NULL, piece INTEGER NOT NULL, PRIMARY KEY (gid, piece)
    ) WITHOUT ROWID;
    """,
]
_BT_TABLES = ("bt_torrents", "bt_resume", "bt_pieces")


class StateLocked(LixianError):
    """Another lixian daemon holds this state file."""


@dataclass(frozen=True, slots=True)
class TaskRow:
    gid: str
    seq: float
    uris: tuple[str, ...]
    options: dict[str, Any]
    state: str
    error_code: int = 0
    error_message: str = ""
    total_length: int = 0
    completed_length: int = 0
    path: str | None = None
    created: float = 0.0
    finished: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# One compact encoder, made once: ``json.dumps(..., separators=...)`` builds a new
# encoder per call, a third of the cost of queuing 10,000 added tasks.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _encode_options(options: dict[str, Any]) -> str:
    return _encode(options)


def _decode_options(text: str) -> dict[str, Any]:
    raw = json.loads(text)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


_Op = Callable[[sqlite3.Connection], Any]


class Store:
    """The daemon's SQLite state. Methods ending in ``_now`` block; others are async."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise StateLocked(
                f"state {path} is in use by another lixian daemon; "
                "stop it, or give this one another --state or --rpc-listen-port"
            ) from None
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a killed process; a power cut may lose
        # the last commits but never corrupts the database.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._ops: queue.SimpleQueue[tuple[_Op, Future[Any]] | None] = queue.SimpleQueue()
        self._last: Future[Any] | None = None  # the write queued last
        self._thread = threading.Thread(target=self._writer, name="lixian-store", daemon=True)
        self._thread.start()

    def _migrate(self) -> None:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            self._conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    # ---- the writer thread ----

    def _writer(self) -> None:
        while True:
            first = self._ops.get()
            if first is None:
                return
            batch = [first]
            while True:
                try:
                    item = self._ops.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._ops.put(None)
                    break
                batch.append(item)
            results: list[tuple[Future[Any], Any, BaseException | None]] = []
            try:
                self._conn.execute("BEGIN")
                for op, fut in batch:
                    try:
                        results.append((fut, op(self._conn), None))
                    except sqlite3.Error as exc:
                        results.append((fut, None, exc))
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                results = [(fut, None, exc) for _, fut in batch]
            for fut, value, error in results:
                # A waiter that was cancelled (the RPC call went away) cancelled its
                # future: the write is done all the same; only the answer is dropped.
                if fut.cancelled():
                    continue
                with contextlib.suppress(InvalidStateError):
                    if error is not None:
                        fut.set_exception(error)
                    else:
                        fut.set_result(value)

    def _submit_nowait(self, op: _Op) -> Future[Any]:
        fut: Future[Any] = Future()
        self._ops.put((op, fut))
        self._last = fut
        return fut

    async def _submit(self, op: _Op) -> Any:
        return await asyncio.wrap_future(self._submit_nowait(op))

    async def barrier(self) -> None:
        """Wait until every write queued before this call is committed.

        Free when nothing is pending (writes are done in the order they were queued, so
        once the last one queued is done, all are): the RPC door calls it before every
        answer, and most answers change nothing."""
        last = self._last
        if last is not None and not last.done():
            await self._submit(lambda conn: None)

    # ---- reads (startup only) ----

    def load_now(self) -> tuple[list[TaskRow], dict[str, str]]:
        rows = [
            TaskRow(
                gid=r[0],
                seq=r[1],
                uris=tuple(json.loads(r[2])),
                options=_decode_options(r[3]),
                state=r[4],
                error_code=r[5],
                error_message=r[6],
                total_length=r[7],
                completed_length=r[8],
                path=r[9],
                created=r[10],
                finished=r[11],
                extra=json.loads(r[12]) if r[12] != "{}" else {},
            )
            for r in self._conn.execute(
                "SELECT gid, seq, uris, options, state, error_code, error_message,"
                " total_length, completed_length, path, created, finished, extra"
                " FROM tasks ORDER BY seq"
            )
        ]
        settings = dict(self._conn.execute("SELECT key, value FROM settings").fetchall())
        return rows, settings

    # ---- writes ----

    async def put_tasks(self, rows: Iterable[TaskRow]) -> None:
        await asyncio.wrap_future(self.put_tasks_nowait(rows))

    def put_tasks_nowait(self, rows: Iterable[TaskRow]) -> Future[Any]:
        """Queue the write and return at once; writes commit in order, many per commit."""
        params = [
            (
                r.gid,
                r.seq,
                _encode(r.uris),
                _encode_options(r.options),
                r.state,
                r.error_code,
                r.error_message,
                r.total_length,
                r.completed_length,
                r.path,
                r.created,
                r.finished,
                _encode(r.extra) if r.extra else "{}",
            )
            for r in rows
        ]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR REPLACE INTO tasks (gid, seq, uris, options, state, error_code,"
                " error_message, total_length, completed_length, path, created, finished,"
                " extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                params,
            )

        return self._submit_nowait(op)

    async def delete_tasks(self, gids: Iterable[str]) -> None:
        keys = [(g,) for g in gids]

        def op(conn: sqlite3.Connection) -> None:
            conn.executemany("DELETE FROM tasks WHERE gid=?", keys)
            for table in _BT_TABLES:
                conn.executemany(f"DELETE FROM {table} WHERE gid=?", keys)

        await self._submit(op)

    # ---- BitTorrent ----

    def load_torrents_now(self) -> dict[str, bytes]:
        """gid -> .torrent bytes, for every torrent task (startup only)."""
        rows = self._conn.execute("SELECT gid, torrent FROM bt_torrents").fetchall()
        return {gid: bytes(data) for gid, data in rows}

    async def put_torrent(self, gid: str, torrent: bytes) -> None:
        await asyncio.wrap_future(self.put_torrent_nowait(gid, torrent))

    def put_torrent_nowait(self, gid: str, torrent: bytes) -> Future[Any]:
        """Queue the .torrent of a task; it commits with (or before) the task's row."""
        return self._submit_nowait(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO bt_torrents (gid, torrent) VALUES (?, ?)",
                (gid, torrent),
            )
        )

    async def get_resume(self, gid: str) -> tuple[bytes | None, list[int]]:
        """A torrent's resume data and the pieces finished since it was saved."""

        def op(conn: sqlite3.Connection) -> tuple[bytes | None, list[int]]:
            row = conn.execute("SELECT data FROM bt_resume WHERE gid=?", (gid,)).fetchone()
            pieces = conn.execute("SELECT piece FROM bt_pieces WHERE gid=? ORDER BY piece", (gid,))
            return (bytes(row[0]) if row else None), [p for (p,) in pieces]

        result: tuple[bytes | None, list[int]] = await self._submit(op)
        return result

    async def add_pieces(self, gid: str, pieces: Iterable[int]) -> None:
        """Pieces that passed their hash (durable in the page cache) since the last resume data."""
        rows = [(gid, p) for p in pieces]
        await self._submit(
            lambda conn: conn.executemany(
                "INSERT OR IGNORE INTO bt_pieces (gid, piece) VALUES (?, ?)", rows
            )
        )

    async def put_resume(self, gid: str, data: bytes, covered: Iterable[int] = ()) -> None:
        """New resume data; ``covered`` are pieces stored before it was asked for (it has them)."""
        rows = [(gid, p) for p in covered]

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO bt_resume (gid, data) VALUES (?, ?)", (gid, data))
            conn.executemany("DELETE FROM bt_pieces WHERE gid=? AND piece=?", rows)

        await self._submit(op)

    async def forget_resume(self, gid: str) -> None:
        """Drop a torrent's progress (the task restarts from what is on disk)."""

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM bt_resume WHERE gid=?", (gid,))
            conn.execute("DELETE FROM bt_pieces WHERE gid=?", (gid,))

        await self._submit(op)

    async def put_settings(self, values: dict[str, str]) -> None:
        items = list(values.items())
        await self._submit(
            lambda conn: conn.executemany(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", items
            )
        )

    def close(self) -> None:
        self._ops.put(None)
        self._thread.join(timeout=10)
        self._conn.close()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
