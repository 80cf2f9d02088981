"""``lixian serve``: the daemon, started the way aria2c is started.

Why it reads aria2c's command line: an existing ``aria2c --enable-rpc ...`` line or
aria2.conf (aria2p's test suite, Motrix, a notebook recipe) must start lixian
unchanged. The option table parses it (``daemon=True`` adds the RPC-server options and
lixian's ``--host``/``--port``/``--secret``/``--state``); every problem becomes aria2's
exit code here.

Start-up order matters for a clear failure: options, then the state file (a second
daemon on it stops with ``StateLocked``, exit 1), then the port. With ``-D`` the process
detaches first and reports back through a pipe, so errors still reach the terminal.

Durability is the store's: tasks come back from the state file; ``--input-file``
entries whose ``gid=`` is already there are merged, not added twice; the session file
(``--save-session``) is written on exit, every ``--save-session-interval`` seconds and
on ``aria2.saveSession``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from aiohttp import web

from lixian import __version__
from lixian.core.manager import Manager
from lixian.errors import Aria2Code, LixianError
from lixian.options import (
    OptionValue,
    load_conf,
    parse_argv,
    resolve,
)
from lixian.rpc.aria2 import Dispatcher
from lixian.rpc.security import (
    AccessPolicy,
    Confiner,
    generate_secret,
    is_loopback,
    secret_required,
)
from lixian.rpc.server import (
    MANAGER,
    QuietAccessLogger,
    ServerConfig,
    create_app,
    scheduler_stopped,
)
from lixian.rpc.session import merge_input_file
from lixian.storage.rclone_cli import is_remote_spec
from lixian.store.backup import (
    StateBackup,
    count_tasks,
    default_staging_root,
    restore_state,
)
from lixian.store.db import Store

__all__ = ["ServeConfig", "configure", "main", "run_daemon"]

USAGE = """\
usage: lixian serve [--dir ./downloads] [--host 127.0.0.1] [--port 6800] [--secret S]
                    [--state PATH] [--conf-path aria2.conf] [-D] [aria2 global options]

Run the download daemon: aria2's JSON-RPC (HTTP and WebSocket) at /jsonrpc and XML-RPC
at /rpc, so aria2 clients (AriaNg, aria2p, Sonarr, ...) drive it unchanged. aria2c's
spellings work too: --enable-rpc --rpc-listen-port=N --rpc-listen-all --rpc-secret=S
--rpc-allow-origin-all --max-concurrent-downloads=N --input-file=F --save-session=F
--save-session-interval=SEC --quiet --daemon.

A secret is required when others can reach the daemon (--rpc-listen-all, a non-loopback
--host, --rpc-allow-origin-all); one is generated, printed once and kept beside the
state file if not given. The queue lives in --state (default: one SQLite file per RPC
port in the user data directory) and survives restarts and crashes.

To survive the machine too (a cloud notebook's VM): --state-backup TARGET (an rclone
REMOTE:PATH or a directory, e.g. a mounted Drive folder) checkpoints the state every
--state-backup-interval seconds (60) and at exit, with --backup-partials the partial
downloads too; on the next machine --restore-from TARGET brings the queue back
(docs/storage.md, "Surviving the VM").
"""

ARIA2_PROTOCOL_VERSION = "1.37.0"
"""What ``aria2.getVersion`` reports: the aria2 whose RPC lixian speaks (``lixian.version``
tells lixian's own)."""

log = logging.getLogger("lixian")

Options = dict[str, OptionValue | None]
_NOT_FOR_MANAGER = frozenset(
    {"rpc-secret", "host", "state", "state-backup", "state-backup-interval", "backup-partials",
     "restore-from"}
)  # fmt: skip
_ABSOLUTE = ("dir", "input-file", "save-session", "log", "load-cookies", "ca-certificate")
_SPECIAL_INPUT = frozenset({"gid", "pause"})


@dataclass
class ServeConfig:
    """Everything decided before the daemon starts (and before ``-D`` forks)."""

    options: Options
    uris: list[str]
    host: str
    port: int
    secret: str | None
    state_path: Path
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def listen_all(self) -> bool:
        return bool(self.options.get("rpc-listen-all"))

    @property
    def bind(self) -> str | None:
        """The address handed to the socket: None is every interface."""
        return None if self.listen_all else self.host

    @property
    def url_host(self) -> str:
        shown = "127.0.0.1" if self.listen_all or self.host in ("0.0.0.0", "::") else self.host
        return f"[{shown}]" if ":" in shown else shown

    @property
    def url(self) -> str:
        return f"http://{self.url_host}:{self.port}/jsonrpc"

    @property
    def pid_path(self) -> Path:
        return self.state_path.with_suffix(".pid")

    @property
    def quiet(self) -> bool:
        return bool(self.options.get("quiet"))


def main(argv: Sequence[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    if any(a in ("-v", "--version") for a in argv):
        sys.stdout.write(f"lixian {__version__}\n")
        return 0
    try:
        config = configure(argv)
    except LixianError as exc:
        sys.stderr.write(f"lixian: {exc}\n")
        return int(exc.code)
    if not config.quiet:
        for warning in config.warnings:
            sys.stderr.write(f"lixian: warning: {warning}\n")
    if config.options.get("daemon"):
        return _detach(config)
    return _run(config, None)


# ---- configuration (pure, before any thread or loop exists) ----


def configure(argv: Sequence[str]) -> ServeConfig:
    """Command line + conf file + defaults -> a ``ServeConfig``; ``BadOption`` on errors."""
    parsed = parse_argv(argv, daemon=True)
    warnings = list(parsed.warnings)
    conf: dict[str, OptionValue] = {}
    conf_path = parsed.options.get("conf-path")
    if conf_path and not parsed.options.get("no-conf"):
        conf, conf_warnings = load_conf(Path(str(conf_path)), daemon=True)
        warnings += conf_warnings
    options = resolve(parsed.options, conf, daemon=True)
    if not options.get("dir"):
        options["dir"] = "."
    for name in _ABSOLUTE:  # -D changes directory to /; a relative path must not move
        value = options.get(name)
        if value and value != "-":
            options[name] = str(Path(str(value)).expanduser().absolute())
    for name in ("state-backup", "restore-from"):  # a directory, unless it is REMOTE:PATH
        value = options.get(name)
        if value and not is_remote_spec(str(value)):
            options[name] = str(Path(str(value)).expanduser().absolute())
    port = int(options["rpc-listen-port"])  # type: ignore[arg-type]
    host = str(options.get("host") or "127.0.0.1")
    state = options.get("state")
    state_path = (
        Path(str(state)).expanduser().absolute()
        if state
        else platformdirs.user_data_path("lixian") / f"state-{port}.sqlite3"
    )
    config = ServeConfig(
        options=options,
        uris=list(parsed.uris),
        host=host,
        port=port,
        secret=_text(options.get("rpc-secret")),
        state_path=state_path,
        warnings=warnings,
    )
    _settle_secret(config)
    return config


def _text(value: OptionValue | None) -> str | None:
    return str(value) if value not in (None, "") else None


def _settle_secret(config: ServeConfig) -> None:
    """Generate (once, kept beside the state file) a secret the configuration requires."""
    reason = secret_required(
        host=config.host,
        listen_all=config.listen_all,
        allow_origin_all=bool(config.options.get("rpc-allow-origin-all")),
    )
    if reason is None or config.secret is not None:
        return
    path = config.state_path.with_suffix(".secret")
    with contextlib.suppress(OSError):
        saved = path.read_text(encoding="utf-8").strip()
        if saved:
            config.secret = saved
            config.notices.append(f"a secret is required ({reason}); using the one in {path}")
            return
    config.secret = generate_secret()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(config.secret + "\n")
        kept = f"; kept in {path}"
    except OSError as exc:
        kept = f"; could not keep it ({exc.strerror})"
    config.notices.append(
        f"a secret is required ({reason}); generated one{kept}:\n  rpc-secret={config.secret}"
    )


# ---- running ----


Report = Callable[[bool, str], None]


def _run(config: ServeConfig, report: Report | None) -> int:
    """Run until a signal or ``aria2.shutdown``; ``report`` tells a waiting ``-D`` parent."""
    _setup_logging(config, console=not config.quiet)
    logging.getLogger("lixian").propagate = False  # our process: our handlers only
    runner = _serve(config, report)
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(runner)
    return asyncio.run(runner)


async def run_daemon(argv: Sequence[str], *, ready: Callable[[], None] | None = None) -> None:
    """Serve in the running event loop until cancelled or shut down over RPC.

    For ``lixian.start()``, which runs the daemon on a loop thread of its own process:
    ``ready()`` is called once the port listens, signals are left to the host process,
    and a failure to start (bad option, state in use, port taken) raises ``LixianError``
    instead of printing and exiting.
    """
    config = configure(argv)
    failures: list[str] = []

    def report(ok: bool, message: str) -> None:
        if not ok:
            failures.append(message)
            return
        _say(config, message)
        if ready is not None:
            ready()

    handlers = _setup_logging(config, console=False)
    try:
        code = await _serve(config, report)
    finally:
        for handler in handlers:
            logging.getLogger("lixian").removeHandler(handler)
            handler.close()
    if failures or code != 0:
        raise LixianError(failures[0] if failures else f"the daemon stopped with code {code}")


def _setup_logging(config: ServeConfig, *, console: bool) -> list[logging.Handler]:
    """Attach ``--log`` (and, for the CLI, warnings to stderr); return what was added."""
    logger = logging.getLogger("lixian")
    added: list[logging.Handler] = []
    log_path = config.options.get("log")
    level = str(config.options.get("log-level") or "debug").upper()
    level = {"NOTICE": "INFO", "WARN": "WARNING"}.get(level, level)
    if log_path:
        handler: logging.Handler = (
            logging.StreamHandler(sys.stdout)
            if log_path == "-"
            else logging.FileHandler(str(log_path), encoding="utf-8")
        )
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.setLevel(level)
        logger.setLevel(logging.DEBUG)
        added.append(handler)
    elif console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("lixian: %(levelname)s: %(message)s"))
        handler.setLevel(logging.WARNING)
        logger.setLevel(logging.INFO)
        added.append(handler)
    for handler in added:
        logger.addHandler(handler)
    return added


def _say(config: ServeConfig, text: str) -> None:
    if not config.quiet:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _fail(report: Report | None, message: str) -> None:
    if report is not None:
        report(False, message)
    else:
        sys.stderr.write(f"lixian: {message}\n")


async def _serve(config: ServeConfig, report: Report | None) -> int:
    source = config.options.get("restore-from")
    if source:  # before the store opens: a restore fills an empty state file
        try:
            restored = await restore_state(
                str(source),
                config.state_path,
                download_dir=Path(str(config.options["dir"])),
                staging_root=default_staging_root(config.options),
            )
        except (LixianError, OSError) as exc:
            _fail(report, f"cannot restore from {source}: {exc}")
            return 1
        config.notices.append(restored.summary())
    try:
        store = await asyncio.to_thread(Store, config.state_path)
    except LixianError as exc:
        _fail(report, str(exc))
        return 1
    except OSError as exc:
        _fail(report, f"cannot open the state file {config.state_path}: {exc}")
        return 1
    backup: StateBackup | None = None
    try:
        if config.options.get("state-backup"):  # store/backup.py: checkpoints elsewhere
            backup = StateBackup.from_options(
                config.options, config.state_path, barrier=store.barrier
            )
            try:
                tasks = await asyncio.to_thread(count_tasks, config.state_path)
                await backup.start(local_tasks=tasks)
            except (LixianError, OSError) as exc:
                backup = None
                _fail(report, f"--state-backup: {exc}")
                return 1
        return await _serve_with(config, store, report)
    finally:
        if backup is not None:  # the final checkpoint: the manager has stopped by now
            await backup.close()
        await asyncio.to_thread(store.close)


async def _serve_with(config: ServeConfig, store: Store, report: Report | None) -> int:
    options = {k: v for k, v in config.options.items() if k not in _NOT_FOR_MANAGER}
    download_dir = Path(str(options["dir"]))
    try:  # the root RPC paths are confined to, and where session files usually go
        await asyncio.to_thread(download_dir.mkdir, parents=True, exist_ok=True)
    except OSError as exc:
        _fail(report, f"cannot create --dir {download_dir}: {exc.strerror}")
        return int(Aria2Code.DIR_CREATE)
    async with Manager(
        options,
        store=store,
        control_dir=store.path.parent,  # control files for mounted --dir live here
        staging_dir=default_staging_root(options),  # where --backup-partials looks too
    ) as manager:
        try:
            source = config.options.get("input-file")
            warnings = (
                await merge_input_file(manager, Path(str(source)), bool(options.get("pause")))
                if source
                else []
            )
            await _add_command_line(manager, config)
        except LixianError as exc:
            _fail(report, str(exc))
            return int(exc.code)
        for warning in warnings:
            log.warning("%s", warning)
        dispatcher = Dispatcher(
            manager,
            secret=config.secret,
            version=ARIA2_PROTOCOL_VERSION,
            session_id=secrets.token_hex(20),
            confine=Confiner([download_dir], config.state_path),
        )
        policy = AccessPolicy(
            secret=config.secret,
            host=config.host,
            public=config.listen_all or not is_loopback(config.host),
            allow_origin_all=bool(options.get("rpc-allow-origin-all")),
        )
        limit = int(options.get("rpc-max-request-size") or 0)  # type: ignore[arg-type]
        app = create_app(manager, dispatcher, ServerConfig(policy, limit))
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log_class=QuietAccessLogger,
            access_log=logging.getLogger("lixian.access"),
            shutdown_timeout=3.0,
        )
        await runner.setup()  # starts the scheduler (the app's cleanup_ctx)
        try:
            site = web.TCPSite(runner, config.bind, config.port)
            try:
                await site.start()
            except OSError as exc:
                _fail(report, f"cannot listen on {config.url_host}:{config.port}: {exc.strerror}")
                return 1
            banner = "\n".join(
                [
                    *config.notices,
                    f"lixian {__version__}: aria2 RPC at {config.url} "
                    f"(XML-RPC at /rpc); state {config.state_path}",
                ]
            )
            if report is not None:
                report(True, banner)
            else:
                _say(config, banner)
            log.info("listening on %s:%s", config.bind or "*", config.port)
            await _until_stopped(app)
        finally:
            await runner.cleanup()  # sockets closed, calls answered, scheduler stopped
            await _save_session(manager)
    return 0


async def _until_stopped(app: web.Application) -> None:
    """Run until SIGINT/SIGTERM, or until an RPC shutdown stops the scheduler."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Only the main thread may take signals; lixian.start() runs us on another one.
    signals = (
        (signal.SIGINT, signal.SIGTERM)
        if threading.current_thread() is threading.main_thread()
        else ()
    )
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    waiters = {
        asyncio.create_task(stop.wait(), name="signals"),
        asyncio.create_task(scheduler_stopped(app).wait(), name="scheduler-stopped"),
    }
    saver = asyncio.create_task(_save_periodically(app[MANAGER]), name="session-saver")
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (*waiters, saver):
            task.cancel()
        await asyncio.gather(*waiters, saver, return_exceptions=True)
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _save_session(manager: Manager) -> None:
    path = manager.options.get("save-session")
    if not path:
        return
    try:
        await manager.save_session(Path(str(path)))
    except OSError as exc:
        log.error("cannot write the session file %s: %s", path, exc)


async def _save_periodically(manager: Manager) -> None:
    """aria2's ``--save-session-interval``: read each round, changeGlobalOption may set it."""
    while True:
        interval = int(manager.options.get("save-session-interval") or 0)  # type: ignore[arg-type]
        await asyncio.sleep(interval if interval > 0 else 1.0)
        if interval > 0:
            await _save_session(manager)


# ---- what to download at start ----


async def _add_command_line(manager: Manager, config: ServeConfig) -> None:
    """URIs after the options, as aria2c takes them: mirrors of one download (``-Z``: many)."""
    if not config.uris:
        return
    paused = bool(config.options.get("pause"))
    if config.options.get("force-sequential"):
        for uri in config.uris:
            await manager.add([uri], paused=paused)
    else:
        await manager.add(config.uris, paused=paused)


# ---- -D: detach, report back through a pipe ----


def _detach(config: ServeConfig) -> int:
    """Double-fork; the parent waits for "listening" or the error, prints it, exits."""
    read_fd, write_fd = os.pipe()
    first = os.fork()
    if first > 0:
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as reader:
            data = reader.read().decode("utf-8", "replace")
        os.waitpid(first, 0)
        status, _, text = data.partition("\n")
        if status == "ok":
            _say(config, f"{text}\ndaemon pid file: {config.pid_path}")
            return 0
        sys.stderr.write(f"lixian: {text or 'the daemon exited before it was ready'}\n")
        return int(Aria2Code.UNKNOWN)
    os.close(read_fd)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    pipe = os.fdopen(write_fd, "w", encoding="utf-8")

    def report(ok: bool, message: str) -> None:
        if ok:
            config.pid_path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        with contextlib.suppress(OSError):
            pipe.write(("ok\n" if ok else "error\n") + message)
            pipe.close()

    code = 1
    try:
        code = _run(config, report)
    finally:
        with contextlib.suppress(OSError):
            if config.pid_path.read_text(encoding="utf-8").strip() == str(os.getpid()):
                config.pid_path.unlink()
        with contextlib.suppress(OSError):
            pipe.close()
        os._exit(code)
