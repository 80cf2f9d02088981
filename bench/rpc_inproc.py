"""In-process RPC figures: the Dispatcher over a Manager with a real SQLite Store.

No sockets: what the method table, the status shaping and the core's add path cost.
``python bench/rpc_inproc.py [--tasks 10000] [--rounds 200] [--profile add|wait|active|stat]``

- adds/s: 10,000 ``aria2.addUri`` (paused, as AriaNg-less batch clients do) in one
  ``system.multicall`` through ``Dispatcher.handle``, barrier (one commit) included;
- p50/p99 of ``tellWaiting(0, 1000)`` (all keys, and AriaNg's key list), ``tellActive``
  and ``getGlobalStat`` over the same 10,000 paused tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from lixian.core.manager import Manager
from lixian.options import resolve
from lixian.rpc import Dispatcher
from lixian.store.db import Store

# What AriaNg asks for when it lists a queue.
ARIANG_KEYS = ["gid", "totalLength", "completedLength", "uploadSpeed", "downloadSpeed",
               "connections", "numSeeders", "seeder", "status", "errorCode", "verifiedLength",
               "verifyIntegrityPending", "files", "bittorrent", "infoHash"]  # fmt: skip


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_anon_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def _timed(d: Dispatcher, request: dict[str, Any], rounds: int) -> tuple[float, float, float]:
    """(first call, p50, p99) in ms; the first call builds what later ones reuse."""
    samples = []
    for _ in range(rounds + 1):
        t = time.perf_counter()
        response = await d.handle(request)
        samples.append(time.perf_counter() - t)
        assert isinstance(response, dict) and "result" in response, response
    first, rest = samples[0], samples[1:]
    return first * 1e3, _pct(rest, 0.5) * 1e3, _pct(rest, 0.99) * 1e3


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.sqlite3")
        try:
            # What ``lixian serve`` hands its manager: every option, defaults included.
            options = resolve({"dir": tmp}, {}, daemon=True)
            for name in ("rpc-secret", "host", "state"):
                options.pop(name, None)
            async with Manager(options, store=store) as manager:
                d = Dispatcher(manager, secret="s", version="1.37.0", session_id="x")
                calls = [
                    {"methodName": "aria2.addUri",
                     "params": ["token:s", [f"http://127.0.0.1:9/f{i}"], {"pause": "true"}]}
                    for i in range(args.tasks)
                ]  # fmt: skip
                request = {"id": 1, "method": "system.multicall", "params": [calls]}
                profiler = cProfile.Profile() if args.profile == "add" else None
                t = time.perf_counter()
                if profiler:
                    profiler.enable()
                response = await d.handle(request)
                await manager.barrier()  # a no-op wait if the door already waited
                if profiler:
                    profiler.disable()
                elapsed = time.perf_counter() - t
                assert isinstance(response, dict)
                assert len(response["result"]) == args.tasks
                assert all(isinstance(r, list) for r in response["result"])
                print(f"add: {args.tasks} addUri in one multicall: {elapsed:.3f} s, "
                      f"{args.tasks / elapsed:,.0f} adds/s")  # fmt: skip
                if profiler:
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
                rows = store._conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
                assert rows == args.tasks, rows

                cases = {
                    "wait": ("tellWaiting(0,1000)", "aria2.tellWaiting", [0, 1000]),
                    "waitkeys": ("tellWaiting(0,1000,AriaNg keys)", "aria2.tellWaiting",
                                 [0, 1000, ARIANG_KEYS]),
                    "active": ("tellActive", "aria2.tellActive", []),
                    "stat": ("getGlobalStat", "aria2.getGlobalStat", []),
                }  # fmt: skip
                for key, (label, method, params) in cases.items():
                    req = {"id": 2, "method": method, "params": ["token:s", *params]}
                    profiler = cProfile.Profile() if args.profile == key else None
                    if profiler:
                        profiler.enable()
                    first, p50, p99 = await _timed(d, req, args.rounds)
                    if profiler:
                        profiler.disable()
                        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
                    print(f"{label}: first {first:.2f} ms, then p50 {p50:.2f} ms, "
                          f"p99 {p99:.2f} ms ({args.rounds} calls)")  # fmt: skip
                print(f"RssAnon: {_rss_anon_mb():.1f} MB")
        finally:
            store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--profile", choices=["add", "wait", "waitkeys", "active", "stat"])
    asyncio.run(main(parser.parse_args()))
