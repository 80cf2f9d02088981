"""10,000 tasks: the list keeps a bounded number of row elements while scrolling, every task
is reachable (the last one included), and a filter's count equals the daemon's."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.support import Daemon, run_daemon, wait_for

N = 10_000
MAX_ROWS = 60  # row elements for a 800 px list: a screenful plus overscan, never N


def add_paused(daemon: Daemon, n: int, prefix: str = "file") -> None:
    """n paused tasks through system.multicall (nothing is fetched: port 9 is closed)."""
    for start in range(0, n, 2000):
        calls = [
            ("aria2.addUri", [[f"http://127.0.0.1:9/{prefix}-{i:05d}.bin"], {"pause": "true"}])
            for i in range(start, min(n, start + 2000))
        ]
        results = daemon.multicall(calls)
        assert all(isinstance(r, list) for r in results), results[:3]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory, bundle: Any) -> Any:
    with run_daemon(tmp_path_factory.mktemp("many")) as daemon:
        add_paused(daemon, N)
        # a few of them fail (nothing listens on port 9): a second status to filter by
        daemon.multicall(
            [
                ("aria2.unpause", [g["gid"]])
                for g in daemon.call("lixian.listTasks", None, None, 0, 30, ["gid"])["tasks"]
            ]
        )
        wait_for(
            lambda: (
                daemon.call("lixian.listTasks", {"status": ["active", "waiting"]}, None, 0, 0)[
                    "total"
                ]
                == 0
            ),
            60,
        )
        yield daemon


def _rows(page: Any) -> int:
    return int(page.evaluate("document.querySelectorAll('.scroller .row').length"))


def _visible(page: Any) -> list[tuple[int, str]]:
    """(index, name) of each row wholly on screen, top to bottom."""
    return [
        (int(i), str(n))
        for i, n in page.evaluate("""() => {
        const s = document.querySelector('.scroller'); const top = s.getBoundingClientRect().top;
        return [...s.querySelectorAll('.row:not([hidden]):not(.placeholder)')]
          .filter(r => { const b = r.getBoundingClientRect();
                         return b.top >= top - 1 && b.bottom <= top + s.clientHeight + 1; })
          .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
          .map(r => [r.dataset.index, r.querySelector('a.name').textContent]);
    }""")
    ]


def _visible_names(page: Any) -> list[str]:
    return [name for _, name in _visible(page)]


def _scroll_to(page: Any, fraction: float) -> None:
    page.evaluate(
        "f => { const s = document.querySelector('.scroller');"
        " s.scrollTop = (s.scrollHeight - s.clientHeight) * f; }",
        fraction,
    )


def test_rows_stay_bounded_and_every_task_is_reachable(crowded: Daemon, page: Any) -> None:
    page.goto(crowded.base)
    page.wait_for_selector(f".list .count:text-is('{N:,} tasks')")
    assert _rows(page) <= MAX_ROWS
    for fraction in (0.25, 0.5, 0.999, 1.0, 0.1, 0.0):
        _scroll_to(page, fraction)
        wait_for(lambda: _visible_names(page), 20, f"rows at {fraction}")
        assert _rows(page) <= MAX_ROWS
        shown = _visible(page)
        first = shown[0][0]
        assert [i for i, _ in shown] == list(range(first, first + len(shown)))
        # what the page shows at this position is what the daemon lists there
        listed = crowded.call("lixian.listTasks", None, None, first, len(shown), ["name"])["tasks"]
        assert [n for _, n in shown] == [t["name"] for t in listed]
    _scroll_to(page, 1.0)
    last = crowded.call("lixian.listTasks", None, None, N - 1, 1, ["name"])["tasks"][0]["name"]
    wait_for(lambda: _visible_names(page)[-1:] == [last], 20, "the last task on screen")


def test_a_filter_count_equals_the_daemon_count(crowded: Daemon, page: Any) -> None:
    page.goto(crowded.base)
    page.wait_for_selector(f".list .count:text-is('{N:,} tasks')")
    for status in ("paused", "error"):
        total = crowded.call("lixian.listTasks", {"status": status}, None, 0, 0)["total"]
        assert total > 0
        page.click(f".tabs .tab[data-status={status}]")
        page.wait_for_selector(
            f".list .count:text-is('{total:,} {'task' if total == 1 else 'tasks'}')"
        )
        tab = page.locator(f".tabs .tab[data-status={status}] .tab-count").inner_text()
        assert tab.replace(",", "") == str(total)
    page.click(".tabs .tab[data-status='']")
    page.fill(".listhead .search", "file-012")
    total = crowded.call("lixian.listTasks", {"name": "file-012"}, None, 0, 0)["total"]
    assert total == 100
    page.wait_for_selector(f".list .count:text-is('{total} tasks')")
    names = wait_for(lambda: _visible_names(page), 20, "filtered rows")
    assert all("file-012" in n for n in names)


def test_select_all_matching_acts_on_every_one(crowded: Daemon, page: Any) -> None:
    page.goto(crowded.base)
    page.fill(".listhead .search", "file-099")  # 100 tasks, more than a screenful
    page.wait_for_selector(".list .count:text-is('100 tasks')")
    page.click(".list .allwrap input.all")
    page.wait_for_selector(".selbar .sel-label:text-is('100 selected')")
    page.click(".selbar button:text-is('Pause')")  # already paused: each is refused, none breaks
    page.wait_for_selector(".toast")
    assert (
        crowded.call("lixian.listTasks", {"status": "paused", "name": "file-099"}, None, 0, 0)[
            "total"
        ]
        == 100
    )


@pytest.mark.parametrize(("label", "sort"), [("Name Z→A", "-name"), ("Newest first", "-added")])
def test_sorting_is_the_daemons(crowded: Daemon, page: Any, label: str, sort: str) -> None:
    page.goto(crowded.base)
    page.wait_for_selector(f".list .count:text-is('{N:,} tasks')")
    page.select_option(".listhead select.sort", label=label)
    expected = [
        t["name"] for t in crowded.call("lixian.listTasks", None, sort, 0, 5, ["name"])["tasks"]
    ]
    wait_for(lambda: _visible_names(page)[:5] == expected, 20, f"rows sorted by {sort}")
    _scroll_to(page, 1.0)
    last = crowded.call("lixian.listTasks", None, sort, N - 1, 1, ["name"])["tasks"][0]["name"]
    wait_for(lambda: _visible_names(page)[-1:] == [last], 20, "the last task in that order")
