"""``lixian add|ls|status|pause|resume|rm|watch``: the CLI as a client of a running daemon.

Why these talk RPC instead of opening the state file: the daemon owns the queue (one writer),
and the same commands then work against ``lixian serve``, a detached ``lixian.start()`` and a
plain ``aria2c --enable-rpc``. Only aria2's methods are used, so nothing here depends on
lixian-only ones.

Where to connect: ``--rpc-url URL`` / ``--secret S``, else $LIXIAN_RPC_URL / $LIXIAN_RPC_SECRET,
else http://127.0.0.1:6800/jsonrpc without a secret. Exit status: 0 ok; 1 when the daemon
refused a call (its message is printed as is) or a watched download failed; 6 (aria2's "network
problem") when no daemon answers; 28 for a bad option, as ``lixian get``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lixian.client import AsyncClient, DaemonUnreachable, RpcError, TaskStatus
from lixian.errors import Aria2Code, LixianError

__all__ = ["add", "ls", "pause", "resume", "rm", "status", "watch"]

EXIT_UNREACHABLE = int(Aria2Code.NETWORK)
STATUSES = ("active", "waiting", "paused", "complete", "error", "removed")
_CONNECT_HELP = """\
connection (any command):
  --rpc-url URL    the daemon's JSON-RPC endpoint ($LIXIAN_RPC_URL,
                   default http://127.0.0.1:6800/jsonrpc)
  --secret S       its RPC secret ($LIXIAN_RPC_SECRET)
"""
ADD_USAGE = f"""\
usage: lixian add [OPTIONS] URI|MAGNET|FILE.torrent|FILE.metalink ...
       lixian add [OPTIONS] -i FILE
       lixian add [OPTIONS] --curl[=FILE] [--review]

Queue downloads on a running daemon and print their GIDs, one a line. Several
URIs are mirrors of one file unless -Z is given; each magnet, .torrent and
.metalink is a download of its own. OPTIONS are aria2c's per-download options
(-d/--dir, -o/--out, -x, -s, -k, --header, --checksum, ...); --pause adds
them paused. A relative --dir is the daemon's to resolve: lixian serve puts it
inside its download directory (and refuses a --dir outside it), aria2c takes it
from its own working directory.

--curl reads a request copied with a browser's "Copy as cURL" (bash or cmd) from
stdin (--curl=FILE: from FILE), shows it on stderr and adds its URL with its
headers, cookies, user agent and referer; --review only shows it.

{_CONNECT_HELP}"""

Command = Callable[[AsyncClient, argparse.Namespace], Coroutine[Any, Any, int]]


# --- Running a command: connect, call, turn failures into exit codes. ----------------------------


def _run(client: AsyncClient, body: Coroutine[Any, Any, int]) -> int:
    async def main() -> int:
        async with client:
            return await body

    try:
        return asyncio.run(main())
    except DaemonUnreachable as exc:
        sys.stderr.write(
            f"lixian: no daemon answers at {exc.url} ({exc.reason}).\n"
            "Start one with `lixian serve`, or point --rpc-url / $LIXIAN_RPC_URL at it.\n"
        )
        return EXIT_UNREACHABLE
    except RpcError as exc:
        _refused(exc, client)
        return 1
    except KeyboardInterrupt:
        return 130


def _refused(exc: RpcError, client: AsyncClient) -> None:
    hint = ""
    if exc.message == "Unauthorized":
        hint = " (wrong or missing secret: --secret / $LIXIAN_RPC_SECRET)"
        if client.secret is None:
            hint = " (the daemon wants a secret: --secret S or $LIXIAN_RPC_SECRET)"
    sys.stderr.write(f"lixian: {exc.message}{hint}\n")


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"lixian {prog}", description=description)
    parser.add_argument("--rpc-url", default=None, help="the daemon's JSON-RPC URL")
    parser.add_argument("--secret", default=None, help="the daemon's RPC secret")
    return parser


def _command(parser: argparse.ArgumentParser, body: Command, argv: Sequence[str]) -> int:
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2): argparse printed it
        return int(exc.code or 0)
    client = AsyncClient(args.rpc_url, args.secret)
    return _run(client, body(client, args))


# --- add ------------------------------------------------------------------------------------------


def _pop_value(argv: list[str], name: str) -> str | None:
    """Take ``--name=V`` / ``--name V`` out of an aria2-style argv (last one wins)."""
    value = None
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            break
        if word == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i : i + 2]
        elif word.startswith(f"--{name}="):
            value = word.partition("=")[2]
            del argv[i]
        else:
            i += 1
    return value


def add(argv: Sequence[str]) -> int:
    """``lixian add``: aria2c's option syntax, parsed by the one option table, sent as strings."""
    words = list(argv)
    if any(w in ("-h", "--help") for w in words):
        sys.stdout.write(ADD_USAGE)
        return 0
    url, secret = _pop_value(words, "rpc-url"), _pop_value(words, "secret")
    paused = "--pause" in words or "--pause=true" in words
    words = [w for w in words if w not in ("--pause", "--pause=true", "--pause=false")]
    try:
        from lixian.cli.curl_cmd import take_curl  # --curl[=FILE] [--review]: a pasted request

        words, reviewed = take_curl(words)
        if reviewed:
            return 0
        jobs, warnings = _plan_add(words, paused)
    except LixianError as exc:
        sys.stderr.write(f"lixian: {exc}\n")
        return int(exc.code)
    except OSError as exc:
        sys.stderr.write(f"lixian: {exc}\n")
        return 1
    for warning in warnings:
        sys.stderr.write(f"lixian: warning: {warning}\n")
    if not jobs:
        sys.stderr.write("lixian: nothing to add; give a URI, a magnet, a .torrent or -i FILE\n")
        return 1
    client = AsyncClient(url, secret)
    return _run(client, _add(client, jobs))


RpcOptions = dict[str, str | list[str]]


@dataclass(frozen=True)
class _Job:
    """One add call: URIs (mirrors of one file), or a .torrent's / .metalink's bytes."""

    options: RpcOptions
    uris: tuple[str, ...] = ()
    torrent: bytes | None = None
    metalink: bytes | None = None


def _plan_add(words: list[str], paused: bool) -> tuple[list[_Job], list[str]]:
    """argv -> the add calls to make; local files are read here, before any request."""
    from lixian.options import OPTIONS, format_value, parse_argv

    parsed = parse_argv(words)
    warnings = list(parsed.warnings)
    options: RpcOptions = {"pause": "true"} if paused else {}
    for name, value in parsed.options.items():
        if name in ("force-sequential", "input-file"):
            continue
        if OPTIONS[name].scope != "task":
            warnings.append(f"--{name} is daemon-wide; set it on `lixian serve` instead (ignored)")
            continue
        options[name] = list(value) if isinstance(value, tuple) else format_value(name, value)
    jobs: list[_Job] = []
    mirrors: list[str] = []  # plain URIs: one download with mirrors, as aria2c does (-Z: many)
    for word in parsed.uris:
        suffix = Path(word).suffix.lower()
        if suffix in (".torrent", ".metalink", ".meta4") and Path(word).is_file():
            data = Path(word).read_bytes()
            is_torrent = suffix == ".torrent"
            jobs.append(_Job(options, torrent=data if is_torrent else None,
                             metalink=None if is_torrent else data))  # fmt: skip
        elif word.startswith("magnet:") or parsed.options.get("force-sequential"):
            jobs.append(_Job(options, uris=(word,)))
        else:
            mirrors.append(word)
    if mirrors:
        jobs.append(_Job(options, uris=tuple(mirrors)))
    source = parsed.options.get("input-file")
    if source:
        from lixian.importers.aria2_input import parse_input_file

        text = sys.stdin.read() if source == "-" else Path(str(source)).read_text("utf-8")
        for entry in parse_input_file(text):
            repeated: dict[str, list[str]] = {}
            for name, raw in entry.options:  # raw strings: the daemon checks them
                repeated.setdefault(name, []).append(raw)
            extra = {k: v[0] if len(v) == 1 else v for k, v in repeated.items()}
            jobs.append(_Job({**options, **extra}, uris=entry.uris))
    return jobs, warnings


async def _add(client: AsyncClient, jobs: list[_Job]) -> int:
    for job in jobs:
        if job.torrent is not None:
            gids = [await client.add_torrent(job.torrent, (), job.options)]
        elif job.metalink is not None:
            gids = await client.add_metalink(job.metalink, job.options)
        else:
            gids = [await client.add_uri(job.uris, job.options)]
        for gid in gids:
            print(gid, flush=True)
    return 0


# --- ls, status ---------------------------------------------------------------------------------


def ls(argv: Sequence[str]) -> int:
    """``lixian ls``: every task the daemon knows, as a table or JSON."""
    parser = _parser("ls", "List the daemon's tasks: active, then queued, then stopped.")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--status", default=None, help=f"comma-separated: {','.join(STATUSES)}")
    return _command(parser, _ls, argv)


async def _ls(client: AsyncClient, args: argparse.Namespace) -> int:
    wanted = set(args.status.split(",")) if args.status else None
    if wanted and not wanted <= set(STATUSES):
        bad = ", ".join(sorted(wanted - set(STATUSES)))
        sys.stderr.write(f"lixian: unknown status {bad}; use {','.join(STATUSES)}\n")
        return 1
    tasks = [t for t in await client.tell_all() if wanted is None or t.status in wanted]
    if args.json:
        print(json.dumps([t.as_json() for t in tasks], indent=1))
    elif tasks:
        _print_table(tasks)
    return 0


def _print_table(tasks: Iterable[TaskStatus]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("gid", "status", "name", "progress", "size", "speed"):
        right = column in ("progress", "size", "speed")
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "name")
    for t in tasks:
        table.add_row(t.gid, t.status, t.name, percent(t), sizes(t), speed(t))
    Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False).print(table)


def status(argv: Sequence[str]) -> int:
    """``lixian status GID``: one task in detail (a unique GID prefix is enough)."""
    parser = _parser("status", "Show one task (a unique GID prefix is enough).")
    parser.add_argument("gid")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return _command(parser, _status, argv)


async def _status(client: AsyncClient, args: argparse.Namespace) -> int:
    t = await client.tell_status(args.gid)
    if args.json:
        print(json.dumps(t.as_json(), indent=1))
        return 0
    rows = [
        ("gid", t.gid),
        ("status", t.status),
        ("name", t.name),
        ("dir", t.dir),
        ("progress", f"{percent(t)}  {sizes(t)}"),
        (
            "speed",
            f"{speed(t)} down, {human_size(t.upload_speed)}/s up, {t.connections} connections",
        ),
    ]
    if t.error_code:
        rows.append(("error", f"{t.error_code}: {t.error_message}"))
    if t.followed_by:
        rows.append(("followed by", " ".join(t.followed_by)))
    for f in t.files:
        rows.append((f"file {f.index}", f.path or "(not known yet)"))
        rows.extend(("  uri", uri) for uri in sorted(set(f.uris)))
    for key, value in rows:
        print(f"{key:<12} {value}")
    return 0


# --- pause, resume, rm ----------------------------------------------------------------------------


def pause(argv: Sequence[str]) -> int:
    """``lixian pause GID...|--all``."""
    return _act("pause", "Pause tasks (they keep their place in the queue).", argv, force=True)


def resume(argv: Sequence[str]) -> int:
    """``lixian resume GID...|--all``."""
    return _act("resume", "Resume paused tasks.", argv, force=False)


def rm(argv: Sequence[str]) -> int:
    """``lixian rm GID...|--all``: stop and forget tasks; downloaded files stay on disk."""
    description = "Stop and forget tasks; files already downloaded stay on disk."
    return _act("rm", description, argv, force=True)


def _act(verb: str, description: str, argv: Sequence[str], *, force: bool) -> int:
    parser = _parser(verb, description)
    parser.add_argument("gids", nargs="*", metavar="GID", help="GIDs or unique prefixes")
    parser.add_argument("--all", action="store_true", help="every task")
    if force:
        parser.add_argument("--force", action="store_true", help="don't wait for connections")

    async def body(client: AsyncClient, args: argparse.Namespace) -> int:
        if bool(args.gids) == bool(args.all):
            sys.stderr.write(f"lixian {verb}: give GIDs or --all (not both)\n")
            return 1
        forced = bool(getattr(args, "force", False))
        if args.all:
            await _act_all(client, verb, forced)
            return 0
        failed = 0
        for gid in args.gids:
            try:
                done = await _act_one(client, verb, gid, forced)
            except RpcError as exc:
                _refused(exc, client)
                failed += 1
            else:
                print(f"{_PAST[verb]} {done}", flush=True)
        return 1 if failed else 0

    return _command(parser, body, argv)


_PAST = {"pause": "paused", "resume": "resumed", "rm": "removed"}


async def _act_one(client: AsyncClient, verb: str, gid: str, force: bool) -> str:
    if verb == "pause":
        return await client.pause(gid, force=force)
    if verb == "resume":
        return await client.unpause(gid)
    try:
        gid = await client.remove(gid, force=force)
    except RpcError as exc:  # already stopped: only its result is left to forget
        try:
            full = (await client.tell_status(gid, ["gid"])).gid
            await client.remove_download_result(full)
        except RpcError:
            raise exc from None
        return full
    await _forget(client, gid)
    return gid


async def _forget(client: AsyncClient, gid: str) -> None:
    """aria2 stops a removed task on its next tick; drop its result once it is there."""
    for _ in range(50):
        try:
            await client.remove_download_result(gid)
            return
        except RpcError:
            await asyncio.sleep(0.1)


async def _act_all(client: AsyncClient, verb: str, force: bool) -> None:
    if verb == "pause":
        await client.pause_all(force=force)
        print("paused all")
    elif verb == "resume":
        await client.unpause_all()
        print("resumed all")
    else:
        gone = [t.gid for t in await client.tell_all(["gid", "status"]) if not t.done]
        for outcome in await client.multicall(
            [("aria2.forceRemove" if force else "aria2.remove", [g]) for g in gone]
        ):
            if outcome.error is not None and outcome.error.message:
                sys.stderr.write(f"lixian: {outcome.error.message}\n")
        for gid in gone:
            await _forget(client, gid)
        await client.purge_download_result()
        print("removed all")


# --- watch --------------------------------------------------------------------------------------


def watch(argv: Sequence[str]) -> int:
    """``lixian watch``: live progress until every queued task is done (or Ctrl-C)."""
    parser = _parser("watch", "Show live progress until every queued task is done (Ctrl-C ends).")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes")

    async def body(client: AsyncClient, args: argparse.Namespace) -> int:
        from lixian.cli.client_watch import watch_until_done

        return await watch_until_done(client, max(0.1, args.interval))

    return _command(parser, body, argv)


# --- units (shared with client_watch) -----------------------------------------------------------


def human_size(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{n:.0f}B"


def percent(t: TaskStatus) -> str:
    return f"{t.progress:.0%}" if t.total_length else "-"


def sizes(t: TaskStatus) -> str:
    if not t.total_length:
        return human_size(t.completed_length) if t.completed_length else "-"
    return f"{human_size(t.completed_length)}/{human_size(t.total_length)}"


def speed(t: TaskStatus) -> str:
    return f"{human_size(t.download_speed)}/s" if t.download_speed else "-"
