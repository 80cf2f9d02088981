"""What ``lixian get`` shows: live progress on a terminal, a line now and then elsewhere,
and aria2c's "Download Results" table at the end.

Displays only read the manager's task views; they never steer anything.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from lixian.core.manager import TaskView
from lixian.core.task import TaskState

__all__ = ["PlainDisplay", "format_bytes", "format_eta", "print_results", "task_name"]

_STATUS = {
    TaskState.COMPLETE: "OK",
    TaskState.ERROR: "ERR",
    TaskState.ACTIVE: "INPR",
    TaskState.WAITING: "INPR",
    TaskState.PAUSED: "INPR",
    TaskState.REMOVED: "RM",
}


def format_bytes(n: float) -> str:
    """aria2's compact units: 1.2GiB, 35MiB, 512KiB, 20B."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n:.0f}B"


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def task_name(view: TaskView) -> str:
    path = view.path
    return path.name if path is not None else (view.task.uris[0] if view.task.uris else "?")


class PlainDisplay:
    """One summary line every ``interval`` seconds, for logs and pipes."""

    def __init__(self, stream: TextIO | None = None, interval: float = 5.0) -> None:
        self.stream = stream or sys.stdout
        self.interval = interval
        self._last = time.monotonic()

    def __enter__(self) -> PlainDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, views: list[TaskView]) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        active = [v for v in views if v.task.state is TaskState.ACTIVE]
        done = sum(v.completed_length for v in views)
        size = sum(v.total_length or 0 for v in views)
        speed = sum(v.speed() for v in views)
        conns = sum(v.engine.connections for v in active if v.engine is not None)
        pct = f"({100 * done // size}%)" if size else ""
        waiting = [v.paused_reason for v in views if v.paused_reason]
        if waiting:
            self.stream.write(f"[paused: {waiting[0]}]\n")
        self.stream.write(
            f"[{len(active)} active {format_bytes(done)}/{format_bytes(size)}{pct} "
            f"CN:{conns} DL:{format_bytes(speed)}/s]\n"
        )
        self.stream.flush()


def print_results(views: list[TaskView], stream: TextIO | None = None) -> None:
    """aria2c's closing table, so scripts and eyes used to it find what they expect."""
    out = stream or sys.stdout
    out.write("\nDownload Results:\n")
    out.write("gid   |stat|avg speed  |path/URI\n")
    out.write("======+====+===========+=======================================================\n")
    legend: set[str] = set()
    for view in views:
        state = view.task.state
        stat = _STATUS[state]
        legend.add(stat)
        elapsed = (view.finished or time.monotonic()) - view.started
        speed = view.completed_length / elapsed if elapsed > 0 else 0.0
        where = str(view.path) if view.path is not None else ", ".join(view.task.uris)
        out.write(f"{view.task.gid[:6]}|{stat:<4}|{format_bytes(speed) + '/s':>11}|{where}\n")
        if state is TaskState.ERROR and view.task.error is not None:
            out.write(f"      |    |  errorCode={int(view.task.error.code)} {view.task.error}\n")
    out.write("\nStatus Legend:\n")
    explain = {
        "OK": "(OK):download completed.",
        "ERR": "(ERR):error occurred.",
        "INPR": "(INPR):download in-progress.",
        "RM": "(RM):download was removed.",
    }
    for stat in ("OK", "ERR", "INPR", "RM"):
        if stat in legend:
            out.write(explain[stat] + "\n")
    out.flush()
