"""The ``lixian`` command: one verb per front door."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from lixian import __version__

__all__ = ["main"]

USAGE = """\
usage: lixian COMMAND [ARGS]

commands:
  get URI...     download now, in this process (aria2c's options)
  serve          run the daemon: aria2-compatible JSON-RPC, WebSocket and XML-RPC
  add URI...     queue downloads on a running daemon (aria2c's options)
  ls             list its tasks (--json, --status active,waiting,...)
  status GID     one task in detail
  pause|resume|rm GID...|--all
  watch          live progress until the queue is done

lixian --version | lixian COMMAND --help
"""


def _get(argv: Sequence[str]) -> int:
    from lixian.cli.get import main as get_main

    return get_main(argv)


def _serve(argv: Sequence[str]) -> int:
    from lixian.cli.serve import main as serve_main

    return serve_main(argv)


def _client(name: str) -> Callable[[Sequence[str]], int]:
    """A client command from ``cli/client_cmds.py``, imported only when it runs."""

    def run(argv: Sequence[str]) -> int:
        from lixian.cli import client_cmds

        command: Callable[[Sequence[str]], int] = getattr(client_cmds, name)
        return command(argv)

    return run


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "get": _get,
    "serve": _serve,
    **{name: _client(name) for name in ("add", "ls", "status", "pause", "resume", "rm", "watch")},
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 1
    if args[0] in ("-v", "--version", "version"):
        sys.stdout.write(f"lixian {__version__}\n")
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        sys.stderr.write(f"lixian: unknown command {args[0]!r}\n{USAGE}")
        return 1
    return command(args[1:])


if __name__ == "__main__":
    raise SystemExit(main())
