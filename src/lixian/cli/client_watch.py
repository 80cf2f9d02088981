"""``lixian watch``: live progress of a running daemon until its queue is done.

Two sources, because each alone falls short: the WebSocket's notifications say at once when a
task starts, stops, completes or fails (a 1 s poll would miss a short download entirely), and
polling ``tellActive`` once a second gives the byte counts and speeds that notifications don't
carry. Without a WebSocket (a proxy that drops it) polling alone still works.

On a terminal a rich table is redrawn in place and events scroll above it; elsewhere (a log, a
pipe) each event and each poll's progress is one plain line. The end: nothing active and nothing
queued (paused tasks don't count; they'd wait forever). Exit 1 if a task watched here failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Protocol

from lixian.cli.client_cmds import percent, sizes, speed
from lixian.client import AsyncClient, Notification, RpcError, TaskStatus

__all__ = ["watch_until_done"]

# aria2's notification names -> what the event line says.
EVENTS = {
    "aria2.onDownloadStart": "started",
    "aria2.onDownloadPause": "paused",
    "aria2.onDownloadStop": "stopped",
    "aria2.onDownloadComplete": "complete",
    "aria2.onDownloadError": "error",
    "aria2.onBtDownloadComplete": "seeding",
}


class _Display(Protocol):
    def event(self, word: str, task: TaskStatus) -> None: ...
    def update(self, active: list[TaskStatus], queued: int) -> None: ...
    def close(self) -> None: ...


def _eta(t: TaskStatus) -> str:
    if not t.download_speed or not t.total_length:
        return "-"
    seconds = int((t.total_length - t.completed_length) / t.download_speed)
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def _event_line(word: str, t: TaskStatus) -> str:
    line = f"{word:<9} {t.gid} {t.name}"
    return f"{line}: {t.error_message}" if word == "error" and t.error_message else line


class _Plain:
    """One line per event and per active task per poll: readable in a log."""

    def event(self, word: str, task: TaskStatus) -> None:
        print(_event_line(word, task), flush=True)

    def update(self, active: list[TaskStatus], queued: int) -> None:
        for t in active:
            print(f"{t.gid} {percent(t):>4} {sizes(t)} {speed(t)} {t.name}", flush=True)

    def close(self) -> None:
        pass


class _Live:
    """A rich table redrawn in place; events are printed above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=True)
        self.live.__enter__()

    def event(self, word: str, task: TaskStatus) -> None:
        self.console.print(_event_line(word, task), markup=False, highlight=False)

    def update(self, active: list[TaskStatus], queued: int) -> None:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, caption=f"{queued} queued" if queued else None)
        for column in ("gid", "name", "progress", "size", "speed", "ETA", "CN"):
            right = column not in ("gid", "name")
            table.add_column(column, justify="right" if right else "left", no_wrap=True)
        for t in active:
            table.add_row(
                t.gid, t.name, percent(t), sizes(t), speed(t), _eta(t), str(t.connections)
            )
        self.live.update(table)

    def close(self) -> None:
        self.live.__exit__(None, None, None)


async def watch_until_done(client: AsyncClient, interval: float) -> int:
    """Show progress until nothing is active or queued; -> 1 if a watched task failed, else 0."""
    woken = asyncio.Event()
    events: list[Notification] = []

    async def listen() -> None:
        with contextlib.suppress(Exception):  # no socket: polling alone still works
            async with contextlib.aclosing(client.notifications()) as stream:
                async for note in stream:
                    events.append(note)
                    woken.set()

    seen: dict[str, TaskStatus] = {}
    told: set[str] = set()  # tasks whose end an event line already reported
    display: _Display = _Live() if sys.stdout.isatty() else _Plain()
    listener = asyncio.create_task(listen())
    try:
        while True:
            active, queued = await _poll(client)
            seen.update((t.gid, t) for t in active)
            while events:
                note = events.pop(0)
                with contextlib.suppress(RpcError):  # gone already (removed and forgotten)
                    task = await client.tell_status(note.gid)
                    seen[task.gid] = task
                    display.event(EVENTS.get(note.method, note.method), task)
                    if task.done:
                        told.add(task.gid)
            if not active and not queued:
                break
            display.update(active, queued)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), interval)
            woken.clear()
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        display.close()
    return await _summary(client, seen, told)


async def _poll(client: AsyncClient) -> tuple[list[TaskStatus], int]:
    """Active tasks in full and the number still queued, in one request."""
    active, waiting = await client.multicall(
        [("aria2.tellActive", []), ("aria2.tellWaiting", [0, 1000, ["gid", "status"]])]
    )
    for outcome in (active, waiting):
        if outcome.error is not None:
            raise outcome.error
    queued = sum(1 for s in waiting.value if s.get("status") == "waiting")
    return [TaskStatus.from_aria2(s) for s in active.value], queued


async def _summary(client: AsyncClient, seen: dict[str, TaskStatus], told: set[str]) -> int:
    """The ends no event reported (a missed notification), then one count line."""
    if not seen:
        print("nothing active or queued")
        return 0
    counts: dict[str, int] = {}
    for gid in seen:
        try:
            t = await client.tell_status(gid)
        except RpcError:  # removed and forgotten meanwhile
            continue
        counts[t.status] = counts.get(t.status, 0) + 1
        if t.done and gid not in told:
            print(_event_line(t.status, t), flush=True)
    print("done: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 1 if counts.get("error") else 0
