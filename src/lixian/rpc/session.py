"""aria2 session files coming in: ``--input-file`` merged into the durable queue.

Why merged: aria2 users run ``--input-file=S --save-session=S`` so the queue survives a
restart. lixian's queue already survives (the state file), so reading ``S`` again at
start would add every download twice. An entry whose ``gid=`` the state already holds
is therefore skipped; one without a ``gid=`` is added, as aria2c would add it. (Writing
session files is ``Manager.save_session``'s: it knows every task's options.)

Per-entry options are parsed by the option table. ``gid`` and ``pause`` are aria2's
add-time options and handled here; a global or unknown option is reported and skipped,
and a bad entry is skipped with a warning rather than stopping the daemon: a session
file written by aria2c may hold options lixian does not implement yet.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lixian.core.manager import Manager
from lixian.errors import BadOption, LixianError
from lixian.importers.aria2_input import parse_input_file
from lixian.options import DAEMON_OPTIONS, IGNORED_OPTIONS, OPTIONS, OptionValue

__all__ = ["merge_input_file"]


async def merge_input_file(manager: Manager, path: Path, pause_all: bool = False) -> list[str]:
    """Add the entries of an aria2 input/session file; return one warning a line.

    ``pause_all`` is aria2's global ``--pause``. A missing file is a warning (the first
    run of ``--input-file=S --save-session=S``); an unreadable one is ``BadOption``.
    """
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except FileNotFoundError:
        return [f"--input-file {path} does not exist yet; starting without it"]
    except (OSError, UnicodeDecodeError) as exc:
        raise BadOption(f"--input-file: cannot read {path}: {exc}") from None
    warnings: list[str] = []
    for entry in parse_input_file(text):
        where = f"{path}:{entry.line}"
        options: dict[str, OptionValue] = {}
        gid: str | None = None
        paused = pause_all
        try:
            for name, raw in entry.options:
                if name == "gid":
                    gid = raw.strip().lower()
                elif name == "pause":
                    paused = DAEMON_OPTIONS["pause"].parse(raw) is True
                elif name in OPTIONS and OPTIONS[name].scope == "task":
                    value = OPTIONS[name].parse(raw)
                    old = options.get(name)
                    if isinstance(old, tuple) and isinstance(value, tuple):
                        value = old + value  # header=... twice: two headers
                    options[name] = value
                elif name not in IGNORED_OPTIONS:
                    warnings.append(f"{where}: option {name!r} is not a per-download option")
            if gid is not None and gid in manager.views:
                continue  # already in the state: merged, not duplicated
            await manager.add(entry.uris, options, gid=gid, paused=paused)
        except LixianError as exc:
            warnings.append(f"{where}: {exc}; entry skipped")
    return warnings
