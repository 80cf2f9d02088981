"""A set of half-open byte ranges: what a partial file holds.

Every layer needs it (the planner plans around it, the storage layer persists it,
the RPC reports it as aria2's ``bitfield``), so it lives at the bottom and imports
nothing from lixian.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

__all__ = ["RangeSet"]


class RangeSet:
    """Sorted, merged, non-overlapping ``[start, end)`` ranges.

    >>> r = RangeSet([(0, 10)]); r.add(10, 20); list(r)
    [(0, 20)]
    """

    __slots__ = ("_ends", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if start < 0 or end < start:
            raise ValueError(f"bad range [{start}, {end})")
        if start == end:
            return
        # Every range that touches or overlaps [start, end) merges into it.
        lo = bisect.bisect_left(self._ends, start)
        hi = bisect.bisect_right(self._starts, end)
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def total(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def contains(self, start: int, end: int) -> bool:
        """True when all of ``[start, end)`` is in the set."""
        if start >= end:
            return True
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def gaps(self, size: int) -> list[tuple[int, int]]:
        """The ranges of ``[0, size)`` not in the set, in order."""
        out: list[tuple[int, int]] = []
        pos = 0
        for s, e in self:
            if s >= size:
                break
            if s > pos:
                out.append((pos, s))
            pos = max(pos, e)
        if pos < size:
            out.append((pos, size))
        return out

    def prefix(self) -> int:
        """Length of the contiguous run starting at 0 (what a sequential reader can use)."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def copy(self) -> RangeSet:
        new = RangeSet()
        new._starts = list(self._starts)
        new._ends = list(self._ends)
        return new

    def clear(self) -> None:
        self._starts.clear()
        self._ends.clear()

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RangeSet) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)!r})"
