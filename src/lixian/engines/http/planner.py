"""The segment planner: which byte ranges to fetch, on how many connections.

Theory of operation (sans-IO: no sockets, files or clock; ``now`` arrives on events):

* The first connection asks for ``bytes=START-`` of the first missing range. Its
  response (``Probed``) tells the size and whether ranges work. Only then does the
  planner open more connections, so a server that ignores Range costs one request.
* After the probe the missing bytes are cut into ``n = min(split, connections,
  size // min_split_size)`` even pieces; the probe connection keeps the first.
* A worker *claims* each chunk before writing it (``claim``), synchronously. The
  claim is where a segment's end is enforced, so moving an end in never races with
  a write: bytes already claimed stay with their segment.
* Work stealing: when a connection is free and nothing is pending, the segment with
  the most unclaimed bytes gives away its second half (its end moves in, a new
  segment opens there). No received byte is thrown away and the tail never waits on
  one slow connection. The first cut keeps aria2's rule (nothing smaller than
  ``2 * min_split_size`` is split); stealing goes down to
  ``2 * min(STEAL_MIN, min_split_size)`` (128 KiB),
  since at the tail a finer cut is what saves time.
* A failed segment's unwritten rest becomes pending again after a backoff
  (``Retry-After`` wins when larger). A range that fails ``max_tries`` times in a row
  without progress fails the download with the last error's code.

Invariant (property-tested): the segments' ``[start, end)`` plus the pending ranges
plus the already-done ranges cover ``[0, size)`` exactly once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from lixian.errors import BadResponse, LixianError, RemoteError, TransferError
from lixian.ranges import RangeSet

__all__ = [
    "Failed",
    "Finished",
    "Idle",
    "Open",
    "PlanLimits",
    "Planner",
    "Probed",
    "SegmentEnded",
    "SegmentFailed",
    "Tick",
    "Wait",
    "Written",
]

ALIGN = 16 * 1024  # split points on 16 KiB boundaries: kinder to disks and piece maps
STEAL_MIN = 64 * 1024  # at the tail, a slow connection keeps at most this much


@dataclass(frozen=True, slots=True)
class PlanLimits:
    split: int = 16
    max_connections: int = 16
    min_split_size: int = 1024 * 1024
    max_tries: int = 5  # 0 = unlimited, as aria2
    retry_wait: float = 0.0  # aria2's --retry-wait; 0 = lixian's short backoff
    max_backoff: float = 30.0

    def __post_init__(self) -> None:
        if self.split < 1 or self.max_connections < 1 or self.min_split_size < 1:
            raise ValueError("split, max_connections and min_split_size must be >= 1")
        if self.max_tries < 0 or self.retry_wait < 0:
            raise ValueError("max_tries and retry_wait must be >= 0")


# ---- events (inputs) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probed:
    """The first response's headers: the size (None when unknown) and Range support."""

    seg: int
    size: int | None
    accepts_ranges: bool


@dataclass(frozen=True, slots=True)
class Written:
    """``n`` bytes a worker claimed are now on disk."""

    seg: int
    n: int


@dataclass(frozen=True, slots=True)
class SegmentEnded:
    """The worker stopped cleanly: its end was reached, or EOF for an unknown size."""

    seg: int


@dataclass(frozen=True, slots=True)
class SegmentFailed:
    seg: int
    error: LixianError
    now: float
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    """A ``Wait`` ran out."""

    now: float


Event = Probed | Written | SegmentEnded | SegmentFailed | Tick

# ---- commands (outputs) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """Start a connection for ``[start, end)``; ``end`` None means to EOF."""

    seg: int
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do until ``seconds`` pass: send ``Tick`` then."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Finished:
    size: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: LixianError


class Idle(enum.Enum):
    """Wait for the next event (h11's NEED_DATA)."""

    IDLE = "idle"


Command = Open | Wait | Finished | Failed | Idle

# ---- state ----------------------------------------------------------------------


@dataclass(slots=True)
class _Segment:
    start: int
    end: int | None
    tries: int
    pos: int = field(init=False)  # claimed up to here
    written: int = field(init=False)  # on disk up to here

    def __post_init__(self) -> None:
        self.pos = self.start
        self.written = self.start

    @property
    def unclaimed(self) -> int:
        return 0 if self.end is None else self.end - self.pos


@dataclass(slots=True)
class _Pending:
    start: int
    end: int | None
    tries: int
    not_before: float


class Planner:
    """Decides which byte ranges to fetch next. See the module docstring."""

    def __init__(
        self, limits: PlanLimits, *, size: int | None = None, done: RangeSet | None = None
    ) -> None:
        self.limits = limits
        self.size = size
        self.done = done.copy() if done is not None else RangeSet()
        self.accepts_ranges: bool | None = None
        self._segments: dict[int, _Segment] = {}
        self._pending: list[_Pending] = []
        self._next_id = 0
        self._now = 0.0
        self._waiting_until: float | None = None
        self._peak = 0  # the most connections open at once so far
        self._outcome: Finished | Failed | None = None
        if size is not None and not self.done.gaps(size):
            self._outcome = Finished(size)
        else:
            # The first missing byte; with the size unknown (``--continue`` on a file
            # without a control file) what we have is the prefix. Ask to EOF: the probe
            # connection may keep streaming into its share.
            start = self.done.gaps(size)[0][0] if size is not None else self.done.prefix()
            self._pending.append(_Pending(start, None, 0, 0.0))

    # ---- what the fetcher reads ----

    @property
    def completed(self) -> int:
        return self.done.total()

    @property
    def connections(self) -> int:
        return len(self._segments)

    def segment_end(self, seg: int) -> int | None:
        return self._segments[seg].end

    # ---- inputs ----

    def claim(self, seg: int, n: int) -> int:
        """Reserve up to ``n`` bytes at the worker's position; returns how many are its."""
        s = self._segments.get(seg)
        if s is None:
            return 0
        take = n if s.end is None else max(0, min(n, s.end - s.pos))
        s.pos += take
        return take

    def receive(self, event: Event) -> None:
        if isinstance(event, Probed):
            self._probed(event)
        elif isinstance(event, Written):
            self._written(event)
        elif isinstance(event, SegmentEnded):
            self._ended(event.seg)
        elif isinstance(event, SegmentFailed):
            self._failed(event)
        else:
            self._now = max(self._now, event.now)
            self._waiting_until = None

    def _probed(self, ev: Probed) -> None:
        s = self._segments[ev.seg]
        self.accepts_ranges = ev.accepts_ranges
        if ev.size is not None and self.size is not None and ev.size != self.size:
            raise BadResponse(f"size changed from {self.size} to {ev.size}")
        self.size = ev.size
        if not ev.accepts_ranges or ev.size is None:
            # One connection from byte 0, whatever we had: the server cannot do better.
            self.done.clear()
            self._pending.clear()
            s.start = s.pos = s.written = 0
            s.end = ev.size
            return
        if s.end is None:
            gaps = [g for g in self.done.gaps(ev.size) if g[1] > s.start]
            s.end = gaps[0][1] if gaps else s.start  # nothing missing: an empty range
            self._pending.extend(_Pending(a, b, 0, 0.0) for a, b in gaps[1:])
        self._spread()

    def _written(self, ev: Written) -> None:
        s = self._segments[ev.seg]
        if ev.n <= 0:
            return
        if s.written + ev.n > s.pos:
            raise AssertionError("wrote bytes that were never claimed")
        self.done.add(s.written, s.written + ev.n)
        s.written += ev.n
        s.tries = 0  # progress: the range is healthy again

    def _ended(self, seg: int) -> None:
        s = self._segments.pop(seg)
        if s.end is None:  # EOF of an unknown size: that is the size
            if self.size is None:
                self.size = s.written
            return
        if s.written < s.end:
            # The worker believes it is done but bytes are missing: a short body.
            self._requeue(s, BadResponse("connection closed before the range was complete"))

    def _failed(self, ev: SegmentFailed) -> None:
        self._now = max(self._now, ev.now)
        s = self._segments.pop(ev.seg)
        s.pos = s.written  # claimed-but-unwritten bytes were not written: refetch them
        if s.end is not None and s.written >= s.end:
            return  # every byte arrived before the failure: nothing to retry
        retryable = isinstance(ev.error, RemoteError | TransferError) and bool(
            getattr(ev.error, "retryable", False)
        )
        if not retryable:
            self._outcome = Failed(ev.error)
            return
        self._requeue(s, ev.error, ev.retry_after)

    def _requeue(self, s: _Segment, error: LixianError, retry_after: float | None = None) -> None:
        tries = s.tries + 1
        if self.limits.max_tries and tries >= self.limits.max_tries:
            self._outcome = Failed(error)
            return
        if self.accepts_ranges is False or self.size is None:
            start, end = 0, self.size  # no ranges: only a full restart can continue
            self.done.clear()
        else:
            start, end = s.written, s.end
        delay = self.limits.retry_wait or min(0.1 * 2 ** (tries - 1), self.limits.max_backoff)
        if retry_after is not None:
            delay = max(delay, retry_after)
        self._pending.append(_Pending(start, end, tries, self._now + delay))

    # ---- outputs ----

    def next_command(self) -> Command:
        if self._outcome is not None:
            out = self._outcome
            if isinstance(out, Failed):
                return out
            if not self._segments:
                return out
            return Idle.IDLE
        if self._complete():
            self._outcome = Finished(self.size if self.size is not None else 0)
            return self._outcome
        probing = self.accepts_ranges is None
        if probing and self._segments:
            return Idle.IDLE  # one connection until the server has told us what it can do
        ready = [p for p in self._pending if p.not_before <= self._now]
        if ready and len(self._segments) < (1 if probing else self._target()):
            p = min(ready, key=lambda p: p.start)
            self._pending.remove(p)
            return self._open(p.start, p.end, p.tries)
        if self._pending and not ready and not self._segments_cover_target():
            until = min(p.not_before for p in self._pending)
            if self._waiting_until is None or until < self._waiting_until:
                self._waiting_until = until
                return Wait(until - self._now)
        if not self._pending and len(self._segments) < min(self._target(), self._peak):
            # A connection finished its range (we had more running before): it takes
            # half of the biggest rest. Fewer pieces than the target because of
            # min_split_size is not a reason to steal: that is aria2's -k rule.
            stolen = self._steal()
            if stolen is not None:
                return stolen
        return Idle.IDLE

    def _target(self) -> int:
        if not self.accepts_ranges or self.size is None:
            return 1
        return min(self.limits.split, self.limits.max_connections)

    def _segments_cover_target(self) -> bool:
        return len(self._segments) >= self._target()

    def _complete(self) -> bool:
        if self._segments or self._pending:
            return False
        return self.size is not None and self.done.contains(0, self.size)

    def _open(self, start: int, end: int | None, tries: int) -> Open:
        seg = self._next_id
        self._next_id += 1
        self._segments[seg] = _Segment(start, end, tries)
        self._peak = max(self._peak, len(self._segments))
        return Open(seg, start, end)

    def _spread(self) -> None:
        """Cut the missing bytes into up to ``target`` pieces right after the probe."""
        assert self.size is not None
        want = min(
            self._target(), max(1, (self.size - self.completed) // self.limits.min_split_size)
        )
        while len(self._segments) + len(self._pending) < want:
            pieces: list[_Segment | _Pending] = [*self._segments.values(), *self._pending]
            big = max(pieces, key=_room)
            room = _room(big)
            if room < 2 * self.limits.min_split_size:
                return
            assert big.end is not None
            lo = big.pos if isinstance(big, _Segment) else big.start
            mid = big.end - room // 2
            cut = _align(mid)
            if cut <= lo:
                cut = mid  # aligning would leave an empty or inverted piece
            self._pending.append(_Pending(cut, big.end, 0, 0.0))
            big.end = cut

    def _steal(self) -> Open | None:
        victims = [s for s in self._segments.values() if s.end is not None]
        if not victims:
            return None
        victim = max(victims, key=lambda s: s.unclaimed)
        if victim.unclaimed < 2 * min(STEAL_MIN, self.limits.min_split_size):
            return None
        assert victim.end is not None
        cut = _align(victim.pos + victim.unclaimed // 2)
        if cut <= victim.pos or cut >= victim.end:
            return None
        end = victim.end
        victim.end = cut
        return self._open(cut, end, 0)


def _room(p: _Segment | _Pending) -> int:
    if p.end is None:
        return 0
    start = p.pos if isinstance(p, _Segment) else p.start
    return p.end - start


def _align(offset: int) -> int:
    return offset - offset % ALIGN if offset > ALIGN else offset
