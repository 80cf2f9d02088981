"""``lixian get``: aria2c's command line, run in-process.

Options are parsed by the one option table (aria2's quirks included), merged as
CLI > config file > defaults, and every problem becomes aria2's exit code here, at
the front door.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lixian import __version__
from lixian.cli.display import PlainDisplay, print_results
from lixian.core.bt_model import BtTask, is_magnet
from lixian.core.manager import Manager, check_uris
from lixian.errors import Aria2Code, BadOption, LixianError
from lixian.importers.aria2_input import parse_input_file
from lixian.options import OPTIONS, OptionValue, load_conf, parse_argv, resolve

__all__ = ["main"]

USAGE = """\
usage: lixian get [OPTIONS] URI [URI...]
       lixian get [OPTIONS] FILE.torrent|MAGNET|URL-of-a-.torrent
       lixian get [OPTIONS] -i FILE
       lixian get [OPTIONS] --curl[=FILE] [--review]   (a browser's "Copy as cURL", stdin or FILE)

Download URIs as aria2c does: several URIs are mirrors of one file unless
-Z/--force-sequential is given. Options use aria2c's names and meanings, e.g.
  -x, --max-connection-per-server=N   -s, --split=N   -k, --min-split-size=SIZE
  -d, --dir=DIR   -o, --out=FILE   -i, --input-file=FILE   -j, --max-concurrent-downloads=N
  -c, --continue[=true|false]   --header='Name: value'   --load-cookies=FILE
  --checksum=sha-256=DIGEST   --file-allocation=none|prealloc|trunc|falloc   -q, --quiet
BitTorrent: --seed-time=MINUTES (0: stop when done)  --seed-ratio=RATIO  --select-file=1-3,5
  --bt-tracker=URI,...  --listen-port=6881-6999  --enable-dht=false  --bt-sequential
Deliberate differences from aria2c are listed in docs/differences.md.
"""

log = logging.getLogger("lixian")


def main(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    if any(a in ("-v", "--version") for a in argv):
        sys.stdout.write(f"lixian {__version__}\n")
        return 0
    try:
        from lixian.cli.curl_cmd import take_curl  # --curl[=FILE] [--review]: a pasted request

        argv, reviewed = take_curl(list(argv))
        if reviewed:
            return 0
        options, jobs, warnings = _plan(argv)
        torrents = _torrents(options, jobs)
    except LixianError as exc:
        sys.stderr.write(f"lixian: {exc}\n")
        return int(exc.code)
    quiet = bool(options.get("quiet"))
    for warning in warnings:
        sys.stderr.write(f"lixian: warning: {warning}\n")
    if not jobs and not torrents:
        sys.stderr.write("lixian: no URI to download; give one or use -i FILE\n")
        return int(Aria2Code.UNKNOWN)
    _setup_logging(options)
    return _run(options, jobs, torrents, quiet=quiet)


Jobs = list[tuple[list[str], dict[str, OptionValue]]]
Torrents = list[tuple[bytes, dict[str, OptionValue]]]
Options = dict[str, OptionValue | None]
MAX_TORRENT = 64 << 20
Display = Any


def _plan(argv: Sequence[str]) -> tuple[Options, Jobs, list[str]]:
    parsed = parse_argv(argv)
    warnings = list(parsed.warnings)
    conf: dict[str, OptionValue] = {}
    conf_path = parsed.options.get("conf-path")
    if conf_path and not parsed.options.get("no-conf"):
        conf, conf_warnings = load_conf(Path(str(conf_path)))
        warnings += conf_warnings
    options = resolve(parsed.options, conf)
    if "min-free-space" not in parsed.options and "min-free-space" not in conf:
        # One-shot downloads fail with 9 on a full disk, as aria2c's do; waiting for space
        # to return is the daemon's job (its default is max(1G, 2%)).
        options["min-free-space"] = "0"
    jobs: Jobs = []
    input_file = options.get("input-file")
    if input_file:
        jobs += _input_jobs(Path(str(input_file)))
    # As aria2c: a local FILE.torrent and each magnet are downloads of their own; the
    # other URIs are mirrors of one file (-Z: one download each).
    torrents = [u for u in parsed.uris if _is_torrent_file(u)]
    magnets = [u for u in parsed.uris if is_magnet(u)]
    uris = [u for u in parsed.uris if u not in torrents and u not in magnets]
    check_uris([*magnets, *uris])  # as aria2c: one bad URI and nothing is downloaded
    jobs += [([path], {}) for path in torrents]
    jobs += [([magnet], {}) for magnet in magnets]
    if uris:
        if options.get("force-sequential"):
            jobs += [([uri], {}) for uri in uris]
        else:
            jobs.append((uris, {}))
    return options, jobs, warnings


def _is_torrent_file(uri: str) -> bool:
    return uri.lower().endswith(".torrent") and "://" not in uri and Path(uri).is_file()


def _torrents(options: Options, jobs: Jobs) -> Torrents:
    """Take out every .torrent named (``-T FILE``, ``FILE.torrent`` as a URI or in ``-i``)
    and read it; a bad one stops everything with aria2's code (25 not bencode, 26 not a
    torrent), as aria2c does."""
    named: list[tuple[str, dict[str, OptionValue]]] = []
    if options.get("torrent-file"):
        named.append((str(options["torrent-file"]), {}))
    for job in list(jobs):
        if len(job[0]) == 1 and _is_torrent_file(job[0][0]):
            jobs.remove(job)
            named.append((job[0][0], job[1]))
    out: Torrents = []
    for path, opts in named:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_TORRENT + 1)
        except OSError as exc:
            raise BadOption(f"cannot read {path}: {exc.strerror}") from exc
        BtTask.from_torrent(data)
        out.append((data, opts))
    return out


def _input_jobs(path: Path) -> Jobs:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadOption(f"--input-file: cannot read {path}: {exc.strerror}") from exc
    jobs = []
    for entry in parse_input_file(text):
        opts: dict[str, OptionValue] = {}
        for name, raw in entry.options:
            spec = OPTIONS.get(name)
            if spec is None:
                raise BadOption(f"{path}:{entry.line}: option '{name}' is not supported here")
            value = spec.parse(raw)
            if spec.kind.name == "LIST":
                prior = opts.get(name, ())
                assert isinstance(prior, tuple) and isinstance(value, tuple)
                value = prior + value
            opts[name] = value
        jobs.append((list(entry.uris), opts))
    return jobs


def _live_display() -> Display:
    from lixian.cli.live import LiveDisplay  # rich costs start-up time; only a terminal needs it

    return LiveDisplay()


def _setup_logging(options: Options) -> None:
    log_path = options.get("log")
    if log_path:
        handler: logging.Handler = (
            logging.StreamHandler(sys.stdout)
            if log_path == "-"
            else logging.FileHandler(str(log_path))
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.getLogger("lixian").addHandler(handler)
        logging.getLogger("lixian").setLevel(logging.DEBUG)


def _run(
    options: Options,
    jobs: Jobs,
    torrents: Torrents,
    *,
    quiet: bool,
) -> int:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(_get(options, jobs, torrents, quiet=quiet))
    return asyncio.run(_get(options, jobs, torrents, quiet=quiet))


async def _get(
    options: Options,
    jobs: Jobs,
    torrents: Torrents,
    *,
    quiet: bool,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Manager(options) as manager:
        for uris, opts in jobs:
            if is_magnet(uris[0]):
                await manager.add(uris, opts)
            else:
                manager.add_now(uris, opts)
        for data, opts in torrents:
            await manager.add_torrent(data, (), opts)
        display: Display | None = None
        if not quiet:
            display = _live_display() if sys.stdout.isatty() else PlainDisplay()
        runner = asyncio.create_task(manager.run_until_complete())
        stopper = asyncio.create_task(stop.wait())
        with display if display is not None else contextlib.nullcontext():
            while not runner.done():
                await asyncio.wait({runner, stopper}, timeout=0.25, return_when="FIRST_COMPLETED")
                if display is not None:
                    display.update(list(manager.views.values()))
                if stop.is_set():
                    await manager.stop()
                    runner.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await runner
                    break
        stopper.cancel()
        if runner.done() and not runner.cancelled() and runner.exception() is not None:
            raise runner.exception()  # type: ignore[misc]
        views = list(manager.views.values())
        if not quiet:
            print_results(views)
        return manager.exit_code()
