"""The sans-IO segment planner, driven the way the fetcher drives it.

Two layers, as h11 tests its Connection:

* exact event/command exchanges (``p.receive(...)``, ``assert p.next_command() == ...``);
* ``Sim``: an in-memory model of a server and of the fetcher's workers, driven by a
  hypothesis-chosen schedule of deliveries, flushes, ends, failures and timer ticks,
  checking STYLE 14's invariants after every step: active segments never overlap,
  every byte is written exactly once, progress never goes down, the connection caps
  hold, and the run always ends in ``Finished(size)`` with the whole file on disk.

The bugs these tests found stay pinned by name under "known bugs" (now fixed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from lixian.engines.http import planner as planner_module
from lixian.engines.http.planner import (
    ALIGN,
    Failed,
    Finished,
    Idle,
    Open,
    PlanLimits,
    Planner,
    Probed,
    SegmentEnded,
    SegmentFailed,
    Tick,
    Wait,
    Written,
)
from lixian.errors import (
    BadResponse,
    DiskFull,
    HttpStatusError,
    LixianError,
    NetworkError,
    Timeout,
    TooSlow,
)
from lixian.ranges import RangeSet

KiB = 1024
MiB = 1024 * KiB
URL = "http://example.test/f"

RANGES, NO_RANGES, CHUNKED = "ranges", "no-ranges", "chunked"


def limits(
    split: int = 4, connections: int = 4, min_split: int = MiB, tries: int = 0
) -> PlanLimits:
    return PlanLimits(
        split=split, max_connections=connections, min_split_size=min_split, max_tries=tries
    )


def drain_opens(p: Planner) -> list[Open]:
    """Every Open the planner wants right now (it must then go idle)."""
    opens: list[Open] = []
    while True:
        cmd = p.next_command()
        if cmd is Idle.IDLE:
            return opens
        assert isinstance(cmd, Open), cmd
        opens.append(cmd)


# ---- the simulator -----------------------------------------------------------------


def overlaps(done: RangeSet, start: int, end: int) -> bool:
    return start < end and any(s < end and start < e for s, e in done)


@dataclass
class Worker:
    """One fetcher connection: it claims, buffers, flushes and reports, like ``_worker``."""

    seg: int
    asked_start: int
    asked_end: int | None
    start: int  # where the response's bytes begin (0 for a 200 that ignored Range)
    pos: int  # claimed up to here
    flushed: int  # reported Written up to here
    answered: bool = False
    stopped: bool = False


class Sim:
    """A file of ``size`` bytes on a server in ``mode``, and the workers fetching it.

    ``counts[i]`` is how often byte ``i`` has been written since the last allowed
    restart from zero (a server without ranges cannot resume). Every write asserts it
    was 0, so any refetch of a written byte fails at once.
    """

    def __init__(
        self,
        lim: PlanLimits,
        size: int,
        mode: str = RANGES,
        *,
        done: RangeSet | None = None,
        chunked_says_ranges: bool = False,
    ) -> None:
        self.limits = lim
        self.size = size
        self.mode = mode
        self.chunked_says_ranges = chunked_says_ranges
        self.planner = Planner(lim, size=size if done is not None else None, done=done)
        self.counts = bytearray(size)
        self.model_done = done.copy() if done is not None else RangeSet()
        for a, b in self.model_done:
            self.counts[a:b] = b"\x01" * (b - a)
        self.workers: dict[int, Worker] = {}
        self.timers: list[float] = []
        self.clock = 0.0
        self.opens: list[Open] = []
        self.waits: list[Wait] = []
        self.outcome: Finished | Failed | None = None
        self.resets = 0
        self.failures = 0
        self.cap = min(lim.split, lim.max_connections)

    # ---- the driver loop (fetcher._attempt) ----

    def pump(self) -> None:
        for _ in range(1000):
            if self.outcome is not None:
                return
            cmd = self.planner.next_command()
            if cmd is Idle.IDLE:
                self.check()
                return
            if isinstance(cmd, Open):
                self.on_open(cmd)
            elif isinstance(cmd, Wait):
                assert cmd.seconds > 0, cmd
                self.waits.append(cmd)
                self.timers.append(self.clock + cmd.seconds)
            else:
                self.outcome = cmd
        raise AssertionError("the planner never went idle")

    def on_open(self, cmd: Open) -> None:
        p = self.planner
        assert cmd.seg not in self.workers
        assert all(o.seg != cmd.seg for o in self.opens), "segment id reused"
        if p.accepts_ranges is None:
            assert not self.workers, "a second connection before the probe answered"
            assert cmd.end is None, "the probe asks to EOF"
        elif self.mode != RANGES:
            assert cmd.start == 0, "without ranges only a restart from 0 can continue"
        if cmd.end is not None:
            assert 0 <= cmd.start < cmd.end <= self.size, f"empty or bad range in {cmd}"
            assert not overlaps(self.model_done, cmd.start, cmd.end), f"{cmd} refetches bytes"
        elif cmd.start < self.size:
            assert self.counts[cmd.start] == 0, f"{cmd} starts on a written byte"
        self.opens.append(cmd)
        self.workers[cmd.seg] = Worker(cmd.seg, cmd.start, cmd.end, cmd.start, cmd.start, cmd.start)
        assert len(self.workers) <= self.cap

    def send(self, event: Probed | Written | SegmentEnded | SegmentFailed | Tick) -> None:
        p = self.planner
        before = p.completed
        p.receive(event)
        if p.completed < before or (len(self.model_done) and not len(p.done)):
            # Progress may only go back when the server cannot resume.
            no_range_probe = isinstance(event, Probed) and (
                not event.accepts_ranges or event.size is None
            )
            no_range_retry = isinstance(event, SegmentFailed | SegmentEnded) and (
                p.accepts_ranges is False or p.size is None
            )
            assert no_range_probe or no_range_retry, f"progress went back on {event}"
            assert not len(p.done)
            self.resets += 1
            self.counts = bytearray(self.size)
            self.model_done.clear()
        assert p.done == self.model_done, (list(p.done), list(self.model_done))
        assert p.completed == self.model_done.total()
        self.check()

    def check(self) -> None:
        """Invariants that hold between any two steps."""
        p = self.planner
        assert p.connections == len(self.workers)
        assert len(self.workers) <= self.cap
        if p.accepts_ranges is None or p.accepts_ranges is False or p.size is None:
            assert len(self.workers) <= 1
        spans: list[tuple[float, float]] = []
        for w in self.workers.values():
            end = p.segment_end(w.seg)
            hi = math.inf if end is None else end
            assert w.start <= w.flushed <= w.pos <= hi, (w, end)
            if end is not None:
                # What a segment still has to claim was never written by anyone.
                assert not overlaps(self.model_done, w.pos, end), (w, end)
            spans.append((w.start, hi))
        spans.sort()
        for (_, hi1), (lo2, _) in pairwise(spans):
            assert hi1 <= lo2, f"active segments overlap: {spans}"

    # ---- the server and the workers (fetcher._worker) ----

    def limit(self, w: Worker) -> int:
        """Where the server's response body ends."""
        if self.mode == RANGES and w.asked_end is not None:
            return w.asked_end
        return self.size

    def claims_reach_end(self, w: Worker) -> bool:
        """True when the worker has claimed up to its segment's end (a flush finishes it)."""
        end = self.planner.segment_end(w.seg)
        return w.answered and end is not None and w.pos >= end

    def answer(self, w: Worker) -> None:
        """The response headers arrive; the first one is the probe."""
        assert not w.answered
        w.answered = True
        if self.mode != RANGES:
            w.start = w.pos = w.flushed = 0  # a 200: the whole entity from byte 0
        if self.planner.accepts_ranges is None:
            if self.mode == RANGES:
                probe = Probed(w.seg, self.size, True)
            elif self.mode == NO_RANGES:
                probe = Probed(w.seg, self.size, False)
            else:
                probe = Probed(w.seg, None, self.chunked_says_ranges)
            self.send(probe)
        else:
            self.check()

    def deliver(self, w: Worker, k: int) -> None:
        assert w.answered and not w.stopped
        avail = self.limit(w) - w.pos
        if avail <= 0:
            w.stopped = True  # EOF
            return
        k = min(k, avail)
        n = self.planner.claim(w.seg, k)
        assert 0 <= n <= k
        w.pos += n
        end = self.planner.segment_end(w.seg)
        if n < k or (end is not None and w.pos >= end) or w.pos >= self.limit(w):
            w.stopped = True
        self.check()

    def flush(self, w: Worker, n: int | None = None) -> None:
        n = w.pos - w.flushed if n is None else min(n, w.pos - w.flushed)
        if n <= 0:
            return
        a, b = w.flushed, w.flushed + n
        assert self.counts.find(1, a, b) == -1, f"bytes [{a}, {b}) written twice"
        self.counts[a:b] = b"\x01" * n
        self.model_done.add(a, b)
        w.flushed = b
        self.send(Written(w.seg, n))

    def end(self, w: Worker) -> None:
        """The worker stopped cleanly (its end, EOF, or a short body)."""
        self.flush(w)
        del self.workers[w.seg]
        self.send(SegmentEnded(w.seg))

    def fail(self, w: Worker, error: LixianError, *, keep: bool, dt: float = 0.01) -> None:
        if keep and w.answered:
            self.flush(w)  # the fetcher keeps the bytes that did arrive
        del self.workers[w.seg]
        self.failures += 1
        self.clock += dt
        retry_after = error.retry_after if isinstance(error, HttpStatusError) else None
        self.send(SegmentFailed(w.seg, error, self.clock, retry_after))

    def tick(self) -> None:
        self.timers.sort()
        due = self.timers.pop(0)
        self.clock = max(self.clock, due)
        self.send(Tick(self.clock))

    # ---- schedules ----

    def random_steps(self, data: st.DataObject, steps: int) -> None:
        self.pump()
        for _ in range(steps):
            if self.outcome is not None:
                return
            ws = self.workers
            unanswered = [s for s, w in ws.items() if not w.answered]
            running = [s for s, w in ws.items() if w.answered and not w.stopped]
            buffered = [s for s, w in ws.items() if w.pos > w.flushed]
            stopped = [s for s, w in ws.items() if w.stopped]
            ended_early = [
                s for s in running if self.planner.segment_end(s) is not None
            ]  # a clean close before the range's end: a short body
            actions = ["pump"]
            actions += ["answer"] * bool(unanswered)
            actions += ["deliver"] * 4 * bool(running)
            actions += ["flush"] * bool(buffered)
            actions += ["end"] * 2 * bool(stopped)
            actions += ["tick"] * bool(self.timers)
            failable = list(ws)
            actions += ["fail"] * bool(failable) + ["short"] * bool(ended_early)
            action = data.draw(st.sampled_from(actions), label="action")
            if action == "pump":
                self.pump()
            elif action == "answer":
                self.answer(ws[data.draw(st.sampled_from(unanswered))])
            elif action == "deliver":
                w = ws[data.draw(st.sampled_from(running))]
                k = data.draw(st.integers(1, max(1, self.size // 3)), label="bytes")
                self.deliver(w, k)
            elif action == "flush":
                w = ws[data.draw(st.sampled_from(buffered))]
                self.flush(w, data.draw(st.integers(1, w.pos - w.flushed), label="flush"))
            elif action == "end":
                self.end(ws[data.draw(st.sampled_from(stopped))])
            elif action == "tick":
                self.tick()
            elif action == "short":
                self.end(ws[data.draw(st.sampled_from(ended_early))])
            else:
                w = ws[data.draw(st.sampled_from(failable))]
                error = data.draw(
                    st.sampled_from(
                        [
                            NetworkError("reset"),
                            Timeout("read timeout"),
                            BadResponse("bad"),
                            HttpStatusError(503, URL, retry_after=0.5),
                        ]
                    )
                )
                self.fail(w, error, keep=data.draw(st.booleans(), label="keep"))
            if action != "pump" and data.draw(st.booleans(), label="pump now"):
                self.pump()

    def drain(self, chunk: int | None = None) -> None:
        """Deliver everything, no more faults: the run must finish."""
        chunk = chunk or max(1, self.size // 8)
        for _ in range(100_000):
            self.pump()
            if self.outcome is not None:
                return
            assert self.workers or self.timers, "deadlock: idle with nothing in flight"
            for w in list(self.workers.values()):
                if not w.answered:
                    self.answer(w)
                elif not w.stopped:
                    self.deliver(w, chunk)
                else:
                    self.end(w)
            if self.timers:
                self.tick()
        raise AssertionError("the download never finished")

    def assert_finished(self) -> None:
        assert self.outcome == Finished(self.size), self.outcome
        assert not self.workers
        assert self.planner.connections == 0
        assert self.counts == b"\x01" * self.size, "a byte was never written"
        assert list(self.planner.done) == ([(0, self.size)] if self.size else [])
        assert self.planner.completed == self.size
        assert self.planner.size == self.size


# ---- strategies ---------------------------------------------------------------------


@st.composite
def plans(draw: st.DrawFn, *, min_size: int = 0) -> tuple[PlanLimits, int]:
    """Limits and a file size that split into several segments but stay quick."""
    split = draw(st.integers(1, 6))
    connections = draw(st.integers(1, 6))
    if draw(st.booleans()):
        mss = draw(st.integers(1, 3 * ALIGN))
        size = draw(st.integers(min_size, 12 * max(mss, ALIGN)))
    else:  # tiny files and tiny split sizes
        mss = draw(st.integers(1, 64))
        size = draw(st.integers(min_size, min(ALIGN, 20 * mss)))
    return PlanLimits(
        split=split, max_connections=connections, min_split_size=mss, max_tries=0
    ), size


@st.composite
def done_sets(draw: st.DrawFn, size: int) -> RangeSet:
    """A recorded partial state of a file of ``size`` bytes (possibly empty or full)."""
    done = RangeSet()
    if size == 0:
        return done
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, size - 1))
        end = draw(st.integers(start, min(size, start + max(1, size // 3))))
        done.add(start, end)
    return done


# ---- exact exchanges ----------------------------------------------------------------


def test_exports() -> None:
    for name in planner_module.__all__:
        assert hasattr(planner_module, name)


def test_limits_are_validated() -> None:
    for bad in ({"split": 0}, {"max_connections": 0}, {"min_split_size": 0}, {"max_tries": -1}):
        with pytest.raises(ValueError):
            PlanLimits(**bad)
    with pytest.raises(ValueError):
        PlanLimits(retry_wait=-1.0)


def test_probe_then_even_split() -> None:
    p = Planner(limits(split=4, connections=4, min_split=MiB))
    assert p.accepts_ranges is None
    assert p.next_command() == Open(0, 0, None)
    assert p.next_command() is Idle.IDLE  # one connection until the probe answers
    assert p.connections == 1
    p.receive(Probed(0, 4 * MiB, True))
    assert p.accepts_ranges is True
    assert p.size == 4 * MiB
    assert p.segment_end(0) == MiB  # the probe connection keeps the first piece
    assert drain_opens(p) == [
        Open(1, MiB, 2 * MiB),
        Open(2, 2 * MiB, 3 * MiB),
        Open(3, 3 * MiB, 4 * MiB),
    ]
    assert p.connections == 4


def test_split_is_capped_by_connections_and_min_split_size() -> None:
    p = Planner(limits(split=16, connections=2, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 10 * MiB, True))
    assert drain_opens(p) == [Open(1, 5 * MiB, 10 * MiB)]
    assert p.segment_end(0) == 5 * MiB

    p = Planner(limits(split=16, connections=16, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 3 * MiB, True))  # 3 pieces of 1 MiB at most
    opens = drain_opens(p)
    assert len(opens) + 1 <= 3
    assert all(o.end is not None and o.end - o.start >= MiB for o in opens)


def test_no_split_below_twice_min_split_size() -> None:
    p = Planner(limits(split=4, connections=4, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 2 * MiB - 1, True))
    assert drain_opens(p) == []
    assert p.segment_end(0) == 2 * MiB - 1


def test_server_without_ranges_gets_one_connection() -> None:
    p = Planner(limits(split=8, connections=8, min_split=KiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100 * MiB, False))
    assert p.accepts_ranges is False
    assert p.segment_end(0) == 100 * MiB
    assert p.next_command() is Idle.IDLE
    assert p.claim(0, 10) == 10
    p.receive(Written(0, 10))
    assert p.completed == 10


def test_claim_enforces_the_segment_end() -> None:
    p = Planner(limits(split=2, connections=2, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 4 * MiB, True))
    assert drain_opens(p) == [Open(1, 2 * MiB, 4 * MiB)]
    assert p.claim(0, MiB) == MiB
    assert p.claim(0, 2 * MiB) == MiB  # only up to its end
    assert p.claim(0, 1) == 0
    assert p.claim(99, 10) == 0  # unknown segment: nothing is its


def test_writing_unclaimed_bytes_is_a_bug() -> None:
    p = Planner(limits())
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    assert p.claim(0, 10) == 10
    with pytest.raises(AssertionError):
        p.receive(Written(0, 11))


def test_whole_download_event_by_event() -> None:
    """A 3-byte file fed one byte at a time on one connection."""
    p = Planner(limits(split=1, connections=1, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 3, True))
    for i in range(3):
        assert p.next_command() is Idle.IDLE
        assert p.claim(0, 1) == 1
        p.receive(Written(0, 1))
        assert p.completed == i + 1
    assert p.claim(0, 1) == 0
    assert p.next_command() is Idle.IDLE  # still connected
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(3)
    assert p.next_command() == Finished(3)  # sticky


def test_work_stealing_splits_the_biggest_remainder() -> None:
    p = Planner(limits(split=2, connections=2, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 8 * MiB, True))
    assert drain_opens(p) == [Open(1, 4 * MiB, 8 * MiB)]
    assert p.claim(1, 4 * MiB) == 4 * MiB
    p.receive(Written(1, 4 * MiB))
    p.receive(SegmentEnded(1))
    assert p.claim(0, MiB) == MiB  # segment 0 has 3 MiB left: it gives half away
    assert p.next_command() == Open(2, 2 * MiB + MiB // 2, 4 * MiB)
    assert p.segment_end(0) == 2 * MiB + MiB // 2
    p.receive(Written(0, MiB))
    assert p.next_command() is Idle.IDLE


def test_stealing_stops_at_twice_the_smaller_of_min_split_and_steal_min() -> None:
    p = Planner(limits(split=2, connections=2, min_split=4 * MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 8 * MiB, True))
    assert drain_opens(p) == [Open(1, 4 * MiB, 8 * MiB)]
    assert p.claim(1, 4 * MiB) == 4 * MiB
    p.receive(Written(1, 4 * MiB))
    p.receive(SegmentEnded(1))
    left = 2 * planner_module.STEAL_MIN - 1
    assert p.claim(0, 4 * MiB - left) == 4 * MiB - left  # under 2 * STEAL_MIN left: keep it
    assert p.next_command() is Idle.IDLE


def test_steal_never_cuts_behind_the_claimed_position() -> None:
    # The middle of the rest (26434) aligns down to 16384, behind segment 1's claims.
    p = Planner(limits(split=2, connections=2, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 26_484, True))
    assert drain_opens(p) == [Open(1, 13_242, 26_484)]
    assert p.claim(1, 13_142) == 13_142  # 100 bytes left to claim
    assert p.claim(0, 13_242) == 13_242
    p.receive(Written(0, 13_242))
    p.receive(SegmentEnded(0))
    assert p.next_command() is Idle.IDLE
    assert p.segment_end(1) == 26_484


def test_resume_probes_the_first_gap_and_fetches_only_gaps() -> None:
    done = RangeSet([(0, MiB), (3 * MiB, 4 * MiB)])
    p = Planner(limits(split=1, connections=1, min_split=MiB), size=4 * MiB, done=done)
    assert p.completed == 2 * MiB
    assert p.next_command() == Open(0, MiB, None)
    p.receive(Probed(0, 4 * MiB, True))
    assert p.segment_end(0) == 3 * MiB  # up to the next done range, not EOF
    assert p.next_command() is Idle.IDLE
    assert p.claim(0, 2 * MiB) == 2 * MiB
    p.receive(Written(0, 2 * MiB))
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(4 * MiB)
    assert list(p.done) == [(0, 4 * MiB)]


def test_resume_keeps_its_own_copy_of_done() -> None:
    done = RangeSet([(0, 10)])
    p = Planner(limits(), size=100, done=done)
    done.add(10, 100)
    assert p.completed == 10


def test_resume_of_a_complete_file_finishes_at_once() -> None:
    p = Planner(limits(), size=5 * MiB, done=RangeSet([(0, 5 * MiB)]))
    assert p.next_command() == Finished(5 * MiB)
    assert p.connections == 0


def test_resume_with_a_changed_size_is_refused() -> None:
    p = Planner(limits(), size=100, done=RangeSet([(0, 10)]))
    assert p.next_command() == Open(0, 10, None)
    with pytest.raises(BadResponse):
        p.receive(Probed(0, 101, True))


def test_resume_against_a_server_without_ranges_starts_over() -> None:
    p = Planner(limits(), size=100, done=RangeSet([(0, 10), (50, 60)]))
    assert p.next_command() == Open(0, 10, None)
    p.receive(Probed(0, 100, False))
    assert p.completed == 0
    assert p.segment_end(0) == 100
    assert p.claim(0, 100) == 100  # from byte 0: the 200 carried the whole file
    p.receive(Written(0, 100))
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(100)


def test_unknown_size_uses_one_connection_and_finishes_at_eof() -> None:
    p = Planner(limits(split=8, connections=8, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, None, True))
    assert p.size is None
    assert p.segment_end(0) is None
    for n in (5, 1, 1000):
        assert p.claim(0, n) == n  # no end to enforce
        p.receive(Written(0, n))
        assert p.next_command() is Idle.IDLE
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(1006)
    assert p.size == 1006


def test_unknown_size_failure_restarts_from_zero() -> None:
    p = Planner(limits(split=8, connections=8, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, None, False))
    assert p.claim(0, 10) == 10
    p.receive(Written(0, 10))
    p.receive(SegmentFailed(0, NetworkError("reset"), now=1.0))
    assert p.completed == 0
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    p.receive(Tick(1.0 + cmd.seconds))
    assert p.next_command() == Open(1, 0, None)


def test_empty_file_without_ranges() -> None:
    p = Planner(limits())
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 0, False))
    assert p.segment_end(0) == 0
    assert p.claim(0, 10) == 0
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(0)


def test_empty_chunked_body() -> None:
    p = Planner(limits())
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, None, False))
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(0)


def test_resume_of_an_empty_file_finishes_at_once() -> None:
    assert Planner(limits(), size=0, done=RangeSet()).next_command() == Finished(0)


def test_empty_file_with_ranges() -> None:
    # check_reply turns 416 "bytes */0" (and a 200 with Accept-Ranges and length 0)
    # into exactly this probe.
    p = Planner(limits())
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 0, True))
    assert p.segment_end(0) == 0
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(0)


@pytest.mark.parametrize("size", [1, 2, 100])
def test_smaller_than_min_split_size(size: int) -> None:
    p = Planner(limits(split=16, connections=16, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, size, True))
    assert p.segment_end(0) == size
    assert p.next_command() is Idle.IDLE  # nothing to split or steal
    assert p.claim(0, size + 5) == size
    p.receive(Written(0, size))
    p.receive(SegmentEnded(0))
    assert p.next_command() == Finished(size)


# ---- failures -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        HttpStatusError(404, URL),
        HttpStatusError(401, URL),
        TooSlow("too slow"),
        DiskFull("disk full"),
    ],
    ids=["404", "401", "too-slow", "disk-full"],
)
def test_non_retryable_error_fails_the_download(error: LixianError) -> None:
    p = Planner(limits(split=2, connections=2, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 4 * MiB, True))
    assert drain_opens(p) == [Open(1, 2 * MiB, 4 * MiB)]
    p.receive(SegmentFailed(1, error, now=1.0))
    cmd = p.next_command()
    assert isinstance(cmd, Failed)
    assert cmd.error is error
    assert p.next_command() == cmd  # sticky, even with segment 0 still running


def test_non_retryable_error_on_the_probe() -> None:
    p = Planner(limits())
    assert p.next_command() == Open(0, 0, None)
    error = HttpStatusError(404, URL)
    p.receive(SegmentFailed(0, error, now=0.5))
    assert p.next_command() == Failed(error)


def fail_same_range(p: Planner, seg: int, now: float) -> Open | Failed:
    """Fail ``seg`` at ``now``, wait out the backoff, return what comes next."""
    p.receive(SegmentFailed(seg, NetworkError("reset"), now=now))
    cmd = p.next_command()
    if isinstance(cmd, Failed):
        return cmd
    assert isinstance(cmd, Wait)
    p.receive(Tick(now + cmd.seconds))
    cmd = p.next_command()
    assert isinstance(cmd, Open)
    return cmd


def test_max_tries_fails_a_range_that_keeps_failing() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB, tries=3))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    first = fail_same_range(p, 0, 100.0)
    assert first == Open(1, 0, 100)
    second = fail_same_range(p, 1, 200.0)
    assert second == Open(2, 0, 100)
    third = fail_same_range(p, 2, 300.0)
    assert isinstance(third, Failed)
    assert isinstance(third.error, NetworkError)


def test_progress_resets_the_try_count() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB, tries=3))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    seg, now = 0, 0.0
    for i in range(10):  # 2 failures, progress, 2 failures, progress, ...
        now += 100.0
        cmd = fail_same_range(p, seg, now)
        assert isinstance(cmd, Open), f"failed after {i + 1} failures"
        seg = cmd.seg
        if i % 2:
            assert p.claim(seg, 1) == 1
            p.receive(Written(seg, 1))
            assert cmd.start == p.completed - 1
    assert p.completed == 5


def test_unlimited_tries() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB, tries=0))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    seg = 0
    for i in range(50):
        cmd = fail_same_range(p, seg, 100.0 * i)  # 100 s apart: beyond any backoff
        assert isinstance(cmd, Open)
        seg = cmd.seg


def test_backoff_grows_and_is_capped() -> None:
    p = Planner(PlanLimits(split=1, max_connections=1, max_tries=0, max_backoff=1.0))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    seg, now, waits = 0, 0.0, []
    for _ in range(8):
        p.receive(SegmentFailed(seg, NetworkError("reset"), now=now))
        cmd = p.next_command()
        assert isinstance(cmd, Wait)
        waits.append(cmd.seconds)
        now += cmd.seconds
        p.receive(Tick(now))
        opened = p.next_command()
        assert isinstance(opened, Open)
        seg = opened.seg
    assert waits == sorted(waits)
    assert waits[0] > 0
    assert max(waits) == pytest.approx(1.0)


def test_retry_wait_is_used_as_is() -> None:
    p = Planner(PlanLimits(split=1, max_connections=1, max_tries=0, retry_wait=7.0))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    p.receive(SegmentFailed(0, NetworkError("reset"), now=3.0))
    assert p.next_command() == Wait(7.0)


def test_retry_after_is_honoured() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB, tries=0))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    assert p.claim(0, 40) == 40
    p.receive(Written(0, 40))
    error = HttpStatusError(503, URL, retry_after=5.0)
    p.receive(SegmentFailed(0, error, now=10.0, retry_after=5.0))
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    assert cmd.seconds >= 5.0
    assert p.next_command() is Idle.IDLE  # one Wait per deadline, not one per call
    p.receive(Tick(12.0))  # too early (a timer that fired for something else)
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    assert cmd.seconds == pytest.approx(3.0)
    p.receive(Tick(15.0))
    assert p.next_command() == Open(1, 40, 100)  # only the unwritten rest


def test_failed_segment_keeps_written_and_refetches_claimed_but_unwritten() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    assert p.claim(0, 30) == 30
    p.receive(Written(0, 20))  # 10 claimed bytes never reached the disk
    p.receive(SegmentFailed(0, NetworkError("reset"), now=1.0))
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    p.receive(Tick(1.0 + cmd.seconds))
    assert p.next_command() == Open(1, 20, 100)


def test_short_body_is_retried() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    assert p.claim(0, 60) == 60
    p.receive(Written(0, 60))
    p.receive(SegmentEnded(0))  # clean close at 60 of 100
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    p.receive(Tick(cmd.seconds))
    assert p.next_command() == Open(1, 60, 100)


def test_failed_probe_is_retried_as_a_probe() -> None:
    p = Planner(limits(split=4, connections=4, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(SegmentFailed(0, NetworkError("refused"), now=1.0))
    assert p.accepts_ranges is None
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    p.receive(Tick(1.0 + cmd.seconds))
    assert p.next_command() == Open(1, 0, None)
    assert p.next_command() is Idle.IDLE  # still one connection before the probe


def test_other_segments_run_on_while_one_backs_off() -> None:
    p = Planner(limits(split=2, connections=2, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 4 * MiB, True))
    assert drain_opens(p) == [Open(1, 2 * MiB, 4 * MiB)]
    p.receive(SegmentFailed(1, NetworkError("reset"), now=1.0))
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    assert p.claim(0, 10) == 10
    p.receive(Written(0, 10))
    p.receive(Tick(1.0 + cmd.seconds))
    assert p.next_command() == Open(2, 2 * MiB, 4 * MiB)


# ---- known bugs ---------------------------------------------------------------------


def test_spread_never_opens_empty_ranges() -> None:
    p = Planner(limits(split=8, connections=8, min_split=1))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 40_000, True))
    for o in drain_opens(p):
        assert o.end is not None
        assert o.start < o.end, o  # got Open(1, 16384, 16384) ... Open(6, 16384, 16384)


def test_spread_of_a_resume_gap_stays_inside_the_gap() -> None:
    done = RangeSet([(100, 20_000), (30_000, 40_000)])
    p = Planner(limits(split=4, connections=4, min_split=1), size=40_000, done=done)
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 40_000, True))
    opens = drain_opens(p)  # got [16384, 16384), [16384, 30000), [20000, 16384)
    for o in opens:
        assert o.end is not None
        assert o.start < o.end, o
        assert not any(o.start < e and s < o.end for s, e in done), f"{o} refetches done bytes"


def test_restart_without_ranges_keeps_the_known_size() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 1000, False))
    assert p.claim(0, 500) == 500
    p.receive(Written(0, 500))
    p.receive(SegmentFailed(0, NetworkError("reset"), now=1.0))
    cmd = p.next_command()
    assert isinstance(cmd, Wait)
    p.receive(Tick(1.0 + cmd.seconds))
    retry = p.next_command()
    assert isinstance(retry, Open)
    assert retry.start == 0
    assert p.claim(retry.seg, 300) == 300
    p.receive(Written(retry.seg, 300))
    p.receive(SegmentEnded(retry.seg))  # a clean close 300 bytes into a 1000-byte file
    assert p.size == 1000  # got 300
    assert p.next_command() != Finished(300)


def test_failure_after_the_last_byte() -> None:
    p = Planner(limits(split=1, connections=1, min_split=MiB))
    assert p.next_command() == Open(0, 0, None)
    p.receive(Probed(0, 100, True))
    assert p.claim(0, 100) == 100
    p.receive(Written(0, 100))  # everything is on disk ...
    p.receive(SegmentFailed(0, NetworkError("reset"), now=1.0))  # ... then the error
    cmd = p.next_command()
    if isinstance(cmd, Wait):
        p.receive(Tick(1.0 + cmd.seconds))
        cmd = p.next_command()
    assert cmd == Finished(100)  # got Open(1, 100, 100): "Range: bytes=100-99"


# ---- properties over random schedules -------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(plans(), st.sampled_from([RANGES, NO_RANGES, CHUNKED]), st.booleans(), st.data())
def test_random_schedule_writes_every_byte_once(
    plan: tuple[PlanLimits, int], mode: str, chunked_says_ranges: bool, data: st.DataObject
) -> None:
    lim, size = plan
    if mode == RANGES and size == 0:
        size = 1  # Probed(0, True) is the IndexError bug; see test_empty_file_with_ranges
    sim = Sim(lim, size, mode, chunked_says_ranges=chunked_says_ranges)
    sim.random_steps(data, data.draw(st.integers(0, 80), label="steps"))
    sim.drain()
    sim.assert_finished()
    event(f"opens: {min(len(sim.opens), 8)}")
    event(f"failures: {min(sim.failures, 3)}")
    event(f"waits: {min(len(sim.waits), 3)}")
    if mode == RANGES:
        assert sim.resets == 0
    else:
        assert all(o.start == 0 for o in sim.opens)


@PROPERTY
@given(plans(min_size=1), st.data())
def test_resume_from_any_recorded_state(plan: tuple[PlanLimits, int], data: st.DataObject) -> None:
    lim, size = plan
    done = data.draw(done_sets(size), label="done")
    sim = Sim(lim, size, RANGES, done=done)
    if done.contains(0, size):
        assert sim.planner.next_command() == Finished(size)
        return
    assert sim.planner.completed == done.total()
    sim.random_steps(data, data.draw(st.integers(0, 60), label="steps"))
    sim.drain()
    sim.assert_finished()  # the union of what was there and what was fetched is the file
    assert sim.resets == 0
    # Only the gaps were fetched: every Open lay inside one of them.
    gaps = done.gaps(size)
    for o in sim.opens:
        end = size if o.end is None else o.end
        if o.end is None:  # the probe: it starts a gap and is cut at its end
            assert any(a == o.start for a, _ in gaps), o
        else:
            assert any(a <= o.start and end <= b for a, b in gaps), (o, gaps)


@settings(max_examples=100, deadline=None)
@given(plans(min_size=1), st.data())
def test_resume_against_a_server_without_ranges(
    plan: tuple[PlanLimits, int], data: st.DataObject
) -> None:
    lim, size = plan
    done = data.draw(done_sets(size), label="done")
    if done.contains(0, size):
        return
    sim = Sim(lim, size, NO_RANGES, done=done)
    sim.random_steps(data, data.draw(st.integers(0, 40), label="steps"))
    sim.drain()
    sim.assert_finished()


@settings(max_examples=100, deadline=None)
@given(plans(min_size=1), st.data())
def test_byte_at_a_time(plan: tuple[PlanLimits, int], data: st.DataObject) -> None:
    """Every chunk one byte long, like h11's test_io feeding one byte at a time."""
    lim, size = plan
    size = min(size, 3000)
    sim = Sim(lim, size, RANGES)
    sim.pump()
    sim.drain(chunk=1)
    sim.assert_finished()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 5),
    st.integers(ALIGN, 2 * ALIGN),
    st.integers(ALIGN // 4, ALIGN),
    st.data(),
)
def test_slow_segment_tail_is_stolen(split: int, mss: int, chunk: int, data: st.DataObject) -> None:
    size = split * 6 * mss
    lim = PlanLimits(split=split, max_connections=split, min_split_size=mss, max_tries=0)
    sim = Sim(lim, size, RANGES)
    sim.pump()
    sim.answer(sim.workers[0])  # the probe; the planner spreads
    sim.pump()
    assert len(sim.workers) == split
    slow = data.draw(st.sampled_from(sorted(sim.workers)), label="slow")
    orig_start = sim.workers[slow].asked_start
    orig_end = sim.planner.segment_end(slow)
    assert orig_end is not None
    while True:
        fast = [w for s, w in sim.workers.items() if s != slow]
        if not fast:
            break
        for w in fast:
            if not w.answered:
                sim.answer(w)
            elif not w.stopped:
                sim.deliver(w, chunk)
            else:
                sim.end(w)
        sim.pump()
    assert sim.outcome is None
    stolen = [o for o in sim.opens if orig_start < o.start < orig_end]
    assert stolen, "nobody took over the slow segment's tail"
    shrunk = sim.planner.segment_end(slow)
    assert shrunk is not None
    assert shrunk < orig_end
    assert shrunk == min(o.start for o in stolen)
    # Only the slow one is left; it now delivers what is still its.
    assert list(sim.workers) == [slow]
    sim.drain(chunk=chunk)
    sim.assert_finished()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, ALIGN), st.data())
def test_connection_caps(split: int, connections: int, size: int, data: st.DataObject) -> None:
    # A tiny min_split_size on a file no larger than ALIGN (see the xfail tests).
    lim = PlanLimits(split=split, max_connections=connections, min_split_size=1, max_tries=0)
    sim = Sim(lim, size, RANGES)
    sim.pump()
    assert len(sim.workers) == 1  # before the probe answers
    sim.answer(sim.workers[0])
    sim.pump()
    assert len(sim.workers) == min(split, connections, size)
    sim.random_steps(data, 40)  # Sim.check asserts the cap after every step
    sim.drain()
    sim.assert_finished()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 50_000), st.booleans(), st.data())
def test_unknown_size_single_connection(size: int, says_ranges: bool, data: st.DataObject) -> None:
    lim = PlanLimits(split=8, max_connections=8, min_split_size=1, max_tries=0)
    sim = Sim(lim, size, CHUNKED, chunked_says_ranges=says_ranges)
    sim.random_steps(data, 40)
    sim.drain()
    sim.assert_finished()
    assert all(o == Open(o.seg, 0, None) for o in sim.opens)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 200), st.integers(1, 3), st.data())
def test_max_tries_fails_only_without_progress(size: int, tries: int, data: st.DataObject) -> None:
    """With failures and no progress at all, the download fails after exactly ``tries``."""
    lim = PlanLimits(split=4, max_connections=4, min_split_size=1, max_tries=tries)
    sim = Sim(lim, size, RANGES)
    sim.pump()
    sim.answer(sim.workers[0])
    sim.pump()
    seg = data.draw(st.sampled_from(sorted(sim.workers)), label="victim")
    start, end = sim.workers[seg].start, sim.planner.segment_end(seg)
    for attempt in range(1, tries + 1):
        opened = len(sim.opens)
        sim.fail(sim.workers[seg], NetworkError("reset"), keep=False, dt=1.0)
        sim.pump()
        if attempt == tries:
            assert isinstance(sim.outcome, Failed)
            assert isinstance(sim.outcome.error, NetworkError)
            return
        assert sim.outcome is None
        while len(sim.opens) == opened:
            sim.tick()
            sim.pump()
        assert sim.opens[-1] == Open(sim.opens[-1].seg, start, end)  # the same range again
        seg = sim.opens[-1].seg
