"""RangeSet against a naive model: a plain ``set[int]`` of the byte offsets it holds."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lixian import ranges
from lixian.ranges import RangeSet

LIMIT = 120  # offsets stay small so ranges touch, overlap and nest often

span = st.tuples(st.integers(0, LIMIT), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1]))
spans = st.lists(span, max_size=12)


def model_of(pairs: list[tuple[int, int]]) -> set[int]:
    return {i for s, e in pairs for i in range(s, e)}


def runs(offsets: set[int]) -> list[tuple[int, int]]:
    """The maximal runs of consecutive offsets: what a merged RangeSet must list."""
    out: list[tuple[int, int]] = []
    for i in sorted(offsets):
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def check_shape(r: RangeSet) -> None:
    """Sorted, non-empty, and merged: no two ranges overlap or even touch."""
    items = list(r)
    assert len(r) == len(items)
    for s, e in items:
        assert 0 <= s < e
    for (_, e1), (s2, _) in pairwise(items):
        assert e1 < s2


def test_exports() -> None:
    assert ranges.__all__ == ["RangeSet"]


def test_adjacent_ranges_merge() -> None:
    r = RangeSet([(0, 10)])
    r.add(10, 20)
    assert list(r) == [(0, 20)]
    r.add(30, 40)
    assert list(r) == [(0, 20), (30, 40)]
    r.add(15, 35)
    assert list(r) == [(0, 40)]


def test_empty_range_is_a_no_op() -> None:
    r = RangeSet()
    r.add(5, 5)
    assert list(r) == []
    assert len(r) == 0
    assert r.total() == 0
    assert r.prefix() == 0


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4), (-3, -1)])
def test_bad_range_raises(start: int, end: int) -> None:
    r = RangeSet([(0, 3)])
    with pytest.raises(ValueError):
        r.add(start, end)
    assert list(r) == [(0, 3)]  # unchanged


def test_gaps_and_prefix_examples() -> None:
    r = RangeSet([(2, 4), (6, 8)])
    assert r.gaps(10) == [(0, 2), (4, 6), (8, 10)]
    assert r.gaps(7) == [(0, 2), (4, 6)]
    assert r.gaps(0) == []
    assert r.prefix() == 0
    r.add(0, 2)
    assert r.prefix() == 4
    assert RangeSet([(0, 10)]).gaps(10) == []


def test_contains_empty_query_is_true() -> None:
    assert RangeSet().contains(3, 3)
    assert RangeSet().contains(5, 2)
    assert not RangeSet().contains(0, 1)


@settings(max_examples=300, deadline=None)
@given(spans)
def test_add_matches_model(pairs: list[tuple[int, int]]) -> None:
    r = RangeSet(pairs)
    model = model_of(pairs)
    check_shape(r)
    assert list(r) == runs(model)
    assert r.total() == len(model)


@settings(max_examples=200, deadline=None)
@given(spans)
def test_insertion_order_does_not_matter(pairs: list[tuple[int, int]]) -> None:
    assert RangeSet(pairs) == RangeSet(reversed(pairs))
    assert RangeSet(pairs) == RangeSet(sorted(pairs))


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, LIMIT + 50), st.integers(0, 50))
def test_contains_matches_model(pairs: list[tuple[int, int]], start: int, length: int) -> None:
    model = model_of(pairs)
    end = start + length
    assert RangeSet(pairs).contains(start, end) == all(i in model for i in range(start, end))


@settings(max_examples=300, deadline=None)
@given(spans, st.integers(0, LIMIT + 50))
def test_gaps_match_model(pairs: list[tuple[int, int]], size: int) -> None:
    r = RangeSet(pairs)
    model = model_of(pairs)
    gaps = r.gaps(size)
    assert gaps == runs(set(range(size)) - model)
    # The gaps and the set's part of [0, size) tile it exactly.
    assert sum(e - s for s, e in gaps) + len({i for i in model if i < size}) == size


@settings(max_examples=200, deadline=None)
@given(spans)
def test_prefix_matches_model(pairs: list[tuple[int, int]]) -> None:
    model = model_of(pairs)
    n = 0
    while n in model:
        n += 1
    assert RangeSet(pairs).prefix() == n


@settings(max_examples=200, deadline=None)
@given(spans, spans)
def test_copy_is_independent(first: list[tuple[int, int]], more: list[tuple[int, int]]) -> None:
    r = RangeSet(first)
    c = r.copy()
    assert c == r
    for s, e in more:
        c.add(s, e)
    assert list(r) == runs(model_of(first))
    assert list(c) == runs(model_of(first + more))
    c.clear()
    assert list(c) == []
    assert c.total() == 0
    assert list(r) == runs(model_of(first))


@settings(max_examples=200, deadline=None)
@given(spans, spans)
def test_equality_is_by_content(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> None:
    assert (RangeSet(a) == RangeSet(b)) == (model_of(a) == model_of(b))
    assert RangeSet(a) != list(RangeSet(a))
    assert repr(RangeSet(a)) == f"RangeSet({runs(model_of(a))!r})"
