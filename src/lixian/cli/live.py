"""The live progress table ``lixian get`` draws on a terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.table import Table

from lixian.cli.display import format_bytes, format_eta, task_name
from lixian.core.manager import TaskView
from lixian.core.task import TaskState

__all__ = ["LiveDisplay"]


class LiveDisplay:
    """A rich table redrawn a few times a second: per file and total."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=False)
        self._live: Live | None = None

    def __enter__(self) -> LiveDisplay:
        self._live = Live(console=self.console, refresh_per_second=4, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, views: list[TaskView]) -> None:
        table = Table(box=None, pad_edge=False, expand=False)
        for col in ("gid", "file", "progress", "size", "speed", "ETA", "CN"):
            table.add_column(col, justify="right" if col not in ("file", "gid") else "left")
        total_done = total_size = 0
        total_speed = 0.0
        shown = 0
        for view in views:
            done, size = view.completed_length, view.total_length
            total_done += done
            total_size += size or 0
            speed = view.speed()
            total_speed += speed
            if view.task.state is not TaskState.ACTIVE or shown >= 20:
                continue
            shown += 1
            pct = f"{100 * done / size:5.1f}%" if size else "  ?  "
            eta = (size - done) / speed if size and speed > 0 else None
            engine = view.engine
            table.add_row(
                view.task.gid[:6],
                task_name(view)[:40],
                pct,
                f"{format_bytes(done)}/{format_bytes(size) if size else '?'}",
                f"{format_bytes(speed)}/s",
                format_eta(eta),
                str(engine.connections if engine is not None else 0),
            )
        finished = sum(v.task.state in (TaskState.COMPLETE, TaskState.ERROR) for v in views)
        table.add_row(
            "total",
            f"{finished}/{len(views)} done",
            f"{100 * total_done / total_size:5.1f}%" if total_size else "",
            format_bytes(total_done),
            f"{format_bytes(total_speed)}/s",
            "",
            "",
        )
        if self._live is not None:
            self._live.update(table)
