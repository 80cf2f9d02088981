"""A download task and the one table that says how its state may change.

States are aria2's words (``tellStatus``'s ``status``). Every change goes through
``Task.apply``; an illegal move raises ``InvalidTransition`` instead of quietly
corrupting the queue (h11's "Rule 1").

::

    waiting --Start--> active --Complete--> complete
       |                 |  \\--Fail-----> error
       |                 |---Pause--> paused --Unpause--> waiting
       \\--Pause--> paused
    (any but complete/removed) --Remove--> removed
    error --Retry--> waiting
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lixian.errors import Aria2Code, LixianError, LocalError

__all__ = [
    "TRANSITIONS",
    "Complete",
    "Fail",
    "InvalidTransition",
    "Pause",
    "Remove",
    "Retry",
    "Start",
    "Task",
    "TaskState",
    "Unpause",
]


class TaskState(enum.Enum):
    WAITING = "waiting"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETE = "complete"
    ERROR = "error"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class Pause:
    pass


@dataclass(frozen=True, slots=True)
class Unpause:
    pass


@dataclass(frozen=True, slots=True)
class Complete:
    pass


@dataclass(frozen=True, slots=True)
class Fail:
    error: LixianError


@dataclass(frozen=True, slots=True)
class Remove:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    pass


Command = Start | Pause | Unpause | Complete | Fail | Remove | Retry

W, A, P, C, E, R = (
    TaskState.WAITING,
    TaskState.ACTIVE,
    TaskState.PAUSED,
    TaskState.COMPLETE,
    TaskState.ERROR,
    TaskState.REMOVED,
)
TRANSITIONS: dict[TaskState, dict[type[Command], TaskState]] = {
    W: {Start: A, Pause: P, Remove: R, Fail: E},
    A: {Complete: C, Fail: E, Pause: P, Remove: R},
    P: {Unpause: W, Remove: R},
    E: {Retry: W, Remove: R},
    C: {},
    R: {},
}


class InvalidTransition(LocalError):
    code = Aria2Code.UNKNOWN


@dataclass(slots=True)
class Task:
    """What the core knows of one download. Engines report into it; doors read it."""

    gid: str
    uris: tuple[str, ...]
    options: dict[str, object] = field(default_factory=dict)
    state: TaskState = TaskState.WAITING
    error: LixianError | None = None

    def apply(self, command: Command) -> TaskState:
        allowed = TRANSITIONS[self.state]
        new = allowed.get(type(command))
        if new is None:
            raise InvalidTransition(
                f"GID#{self.gid} cannot go from {self.state.value} by {type(command).__name__}"
            )
        self.state = new
        if isinstance(command, Fail):
            self.error = command.error
        elif isinstance(command, Retry):
            self.error = None
        return new

    @property
    def error_code(self) -> Aria2Code:
        if self.state is TaskState.REMOVED:
            return Aria2Code.REMOVED  # what aria2 reports for a removed download
        if self.state is TaskState.COMPLETE or self.error is None:
            return Aria2Code.OK
        return self.error.code
