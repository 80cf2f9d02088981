"""Events the core publishes: frozen value objects, named as nouns, compared by value."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lixian.errors import Aria2Code

__all__ = [
    "Event",
    "EventBus",
    "TaskAdded",
    "TaskCompleted",
    "TaskDownloaded",
    "TaskFailed",
    "TaskPaused",
    "TaskRemoved",
    "TaskStarted",
]


@dataclass(frozen=True, slots=True)
class TaskAdded:
    gid: str


@dataclass(frozen=True, slots=True)
class TaskStarted:
    gid: str


@dataclass(frozen=True, slots=True)
class TaskPaused:
    gid: str


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    gid: str


@dataclass(frozen=True, slots=True)
class TaskDownloaded:
    """A torrent has every selected byte, verified; it may seed on, still ``active``
    (aria2's ``onBtDownloadComplete``; ``TaskCompleted`` follows when seeding ends)."""

    gid: str


@dataclass(frozen=True, slots=True)
class TaskFailed:
    gid: str
    code: Aria2Code


@dataclass(frozen=True, slots=True)
class TaskRemoved:
    gid: str


Event = (
    TaskAdded | TaskStarted | TaskPaused | TaskCompleted | TaskDownloaded | TaskFailed | TaskRemoved
)


class EventBus:
    """Fan-out to subscriber queues; a slow subscriber never blocks the core."""

    def __init__(self) -> None:
        self._queues: list[asyncio.Queue[Event]] = []

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        if queue in self._queues:
            self._queues.remove(queue)

    def publish(self, event: Event) -> None:
        for queue in self._queues:
            if not queue.full():
                queue.put_nowait(event)
