"""Where state backups are kept: a plain directory or an rclone remote, written atomically.

Why two kinds. On Colab the natural place is the mounted Drive folder (a plain directory
to us; the mount uploads it later), and anywhere else an rclone remote (``gd:lixian``)
that lixian itself uploads to and can verify on the remote. Both offer the same five
operations to ``backup.py``: put, get, read, delete, list.

Why atomic, and how. A backup is only worth something if the copy that is there when
the machine dies is whole. Every object is written under a hidden name
(``.NAME.lixian-partial``), checked (size and sha256 read back from a directory; the
remote's own hash, or a read-back through rclone, on a remote), and only then renamed to
``NAME`` (``os.replace``; ``rclone moveto`` where the remote moves server-side; object
stores without a move commit uploads atomically by themselves, so there the upload goes
straight to ``NAME``). Until the rename, the previous ``NAME`` is untouched.

Why a :class:`Source` with a fixed size rather than a path. A partial download is still
being written while it is copied. ``backup.py`` reads its control file first and then
copies exactly the bytes that existed at that moment; a file that shrinks under the copy
(the download restarted) fails the copy instead of producing a mixed one. Uploads to a
remote stream through ``rclone rcat`` from that same reader, so no local snapshot of a
multi-gigabyte partial is ever needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

from lixian.errors import StorageError
from lixian.storage.delivery import PARTIAL_SUFFIX, partial_name
from lixian.storage.integrity import LOCAL_HASHES
from lixian.storage.rclone_cli import (
    MISSING_CODES,
    Rclone,
    RcloneError,
    is_remote_spec,
    join_remote,
)

__all__ = [
    "BackupError",
    "BackupTarget",
    "DirTarget",
    "RcloneTarget",
    "Source",
    "Stored",
    "is_hidden_temp",
    "open_target",
]

CHUNK = 1 << 20


class BackupError(StorageError):
    """A backup or restore step failed; the previous good backup is still in place."""


@dataclass(frozen=True, slots=True)
class Source:
    """Exactly ``size`` bytes from the start of ``path`` (it may keep growing meanwhile)."""

    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class Stored:
    """An object at the target, as verified there."""

    name: str
    size: int
    sha256: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, raw: object) -> Stored:
        if not isinstance(raw, dict):
            raise ValueError("not an object entry")
        name, size, digest = raw.get("name"), raw.get("size"), raw.get("sha256")
        if not isinstance(name, str) or not isinstance(size, int) or not isinstance(digest, str):
            raise ValueError(f"bad object entry {raw!r}")
        return cls(name, size, digest)


class BackupTarget(Protocol):
    """A place for backups; ``name``s are relative POSIX paths (``partials/x.data``)."""

    spec: str

    async def check(self) -> None:
        """Make sure the target exists and can be written; ``BackupError`` otherwise."""

    async def put(self, source: Source, name: str) -> Stored:
        """Write ``source`` to ``name`` atomically and verified (see the module doc)."""

    async def get(self, name: str, dest: Path) -> Stored:
        """Copy ``name`` to the local file ``dest``; ``BackupError`` if it is missing."""

    async def read(self, name: str) -> bytes | None:
        """The bytes of a small object, or None when there is none."""

    async def delete(self, name: str) -> None:
        """Remove ``name`` (missing is fine)."""

    async def list(self, directory: str = "") -> list[str]:
        """Names of the files directly in ``directory`` ("" = the root), as ``name``s."""


def open_target(spec: str, rclone: Rclone | None = None) -> BackupTarget:
    """``REMOTE:PATH`` is an rclone remote; anything else is a local directory.

    >>> open_target("gd:lixian").spec, type(open_target("/content/drive/MyDrive/x")).__name__
    ('gd:lixian', 'DirTarget')
    """
    if is_remote_spec(spec):
        return RcloneTarget(spec, rclone or Rclone())
    return DirTarget(Path(spec).expanduser().absolute())


def _check_name(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or not rel.parts or ".." in rel.parts:
        raise BackupError(f"bad object name {name!r}")
    return rel


def _hidden(rel: PurePosixPath) -> PurePosixPath:
    return rel.with_name(partial_name(rel.name))


def is_hidden_temp(name: str) -> bool:
    """A leftover of an interrupted write (safe to delete when no write is running)."""
    base = PurePosixPath(name).name
    return base.startswith(".") and base.endswith(PARTIAL_SUFFIX)


class _Reader:
    """Reads a :class:`Source` in chunks, hashing as it goes (blocking; call in a thread)."""

    def __init__(self, source: Source, extra_hash: str | None = None) -> None:
        self.source = source
        self.left = source.size
        self.sha256 = hashlib.sha256()
        self.extra = (
            (extra_hash, LOCAL_HASHES[extra_hash]())
            if extra_hash in LOCAL_HASHES and extra_hash != "sha256"
            else None
        )
        self._file: IO[bytes] | None = None

    def __enter__(self) -> _Reader:
        try:
            self._file = self.source.path.open("rb")
        except OSError as exc:
            raise BackupError(f"cannot read {self.source.path}: {exc.strerror}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def read(self) -> bytes:
        """The next chunk, b"" at the end; ``BackupError`` if the file got shorter."""
        if self.left == 0:
            return b""
        assert self._file is not None
        data = self._file.read(min(CHUNK, self.left))
        if not data:
            raise BackupError(f"{self.source.path} shrank while it was copied")
        self.left -= len(data)
        self.sha256.update(data)
        if self.extra is not None:
            self.extra[1].update(data)
        return data

    def hashes(self) -> dict[str, str]:
        out = {"sha256": self.sha256.hexdigest()}
        if self.extra is not None:
            out[self.extra[0]] = self.extra[1].hexdigest()
        return out


def _hash_path(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- a plain directory (a local disk, or a mounted cloud drive) ----


class DirTarget:
    """Backups in a directory. On a FUSE cloud-drive mount the read-back check reads the
    mount's cache: it proves the mount has the bytes, not that the cloud has them yet
    (docs/storage.md, "What verified means")."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = str(root)

    def _path(self, name: str) -> Path:
        return self.root / _check_name(name)

    async def check(self) -> None:
        def check() -> None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BackupError(f"cannot create {self.root}: {exc.strerror}") from exc
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise BackupError(f"{self.root} is not writable")

        await asyncio.to_thread(check)

    async def put(self, source: Source, name: str) -> Stored:
        return await asyncio.to_thread(self._put, source, name)

    def _put(self, source: Source, name: str) -> Stored:
        rel = _check_name(name)
        final = self.root / rel
        temp = self.root / _hidden(rel)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with _Reader(source) as reader, temp.open("wb") as out:
                while chunk := reader.read():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = reader.hashes()["sha256"]
            size, back = _hash_path(temp)  # read back what landed, not what we sent
            if (size, back) != (source.size, digest):
                raise BackupError(
                    f"{temp} read back as {size} bytes sha256 {back}, "
                    f"wrote {source.size} bytes sha256 {digest}"
                )
            os.replace(temp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            raise BackupError(f"cannot write {final}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()
        return Stored(name, size, digest)

    async def get(self, name: str, dest: Path) -> Stored:
        src = self._path(name)

        def get() -> Stored:
            if not src.is_file():
                raise BackupError(f"{src} is missing")
            size = 0
            digest = hashlib.sha256()
            try:
                with src.open("rb") as f, dest.open("wb") as out:
                    while chunk := f.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                raise BackupError(f"cannot copy {src}: {exc.strerror or exc}") from exc
            return Stored(name, size, digest.hexdigest())

        return await asyncio.to_thread(get)

    async def read(self, name: str) -> bytes | None:
        path = self._path(name)

        def read() -> bytes | None:
            try:
                return path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:
                raise BackupError(f"cannot read {path}: {exc.strerror}") from exc

        return await asyncio.to_thread(read)

    async def delete(self, name: str) -> None:
        path = self._path(name)
        await asyncio.to_thread(lambda: path.unlink(missing_ok=True))

    async def list(self, directory: str = "") -> list[str]:
        base = self.root / _check_name(directory) if directory else self.root

        def listing() -> list[str]:
            try:
                entries = list(os.scandir(base))
            except (FileNotFoundError, NotADirectoryError):
                return []
            prefix = f"{directory.strip('/')}/" if directory else ""
            return sorted(prefix + e.name for e in entries if e.is_file(follow_symlinks=False))

        return await asyncio.to_thread(listing)


# ---- an rclone remote ----


class RcloneTarget:
    """Backups on ``remote:path`` through rclone; verified on the remote itself."""

    def __init__(self, root: str, rclone: Rclone) -> None:
        self.root = root
        self.spec = root
        self.rclone = rclone

    def _remote(self, name: str | PurePosixPath) -> str:
        return join_remote(self.root, str(_check_name(str(name))))

    async def check(self) -> None:
        try:
            await self.rclone.run("mkdir", self.root, time_limit=120)
        except RcloneError as exc:
            raise BackupError(f"cannot use {self.root} for backups: {exc}") from exc

    def _argv(self, *args: str) -> list[str]:
        rc = self.rclone
        argv = [str(rc.binary), *args, "--ask-password=false", *rc.flags]
        if rc.config is not None:
            argv += ["--config", str(rc.config)]
        return argv

    async def put(self, source: Source, name: str) -> Stored:
        rel = _check_name(name)
        final = self._remote(rel)
        try:
            feats = await self.rclone.features(final)
        except RcloneError as exc:
            raise BackupError(f"cannot reach {self.root}: {exc}") from exc
        htype = feats.best_hash()
        temp = self._remote(_hidden(rel)) if feats.server_side_move else None
        written = temp or final
        try:
            hashes = await self._rcat(source, written, htype)
            await self._verify(written, source.size, hashes, htype)
            if temp is not None:
                await self.rclone.moveto(temp, final)
        except BaseException:
            if temp is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.rclone.deletefile(temp))
            raise
        return Stored(name, source.size, hashes["sha256"])

    async def _rcat(self, source: Source, dest: str, htype: str | None) -> dict[str, str]:
        """Stream ``source`` into ``rclone rcat DEST``, hashing what was sent."""
        argv = self._argv("rcat", "--size", str(source.size), dest)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.rclone.env},
        )
        assert proc.stdin is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        limit = 600 + source.size / (256 * 1024)  # a slow link, never forever
        try:
            with _Reader(source, htype) as reader:

                async def feed() -> None:
                    assert proc.stdin is not None
                    while chunk := await asyncio.to_thread(reader.read):
                        proc.stdin.write(chunk)
                        await proc.stdin.drain()
                    proc.stdin.close()
                    await proc.wait()

                await asyncio.wait_for(feed(), limit)
        except (BrokenPipeError, ConnectionResetError):
            await proc.wait()  # rclone quit early: its exit status and stderr say why
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            errors.cancel()
            raise
        stderr = (await errors).decode(errors="replace").strip()
        if proc.returncode != 0:
            raise BackupError(
                f"rclone rcat {dest} failed (exit {proc.returncode}): {stderr[-400:]}"
            )
        return reader.hashes()

    async def _verify(
        self, path: str, size: int, hashes: dict[str, str], htype: str | None
    ) -> None:
        """Same size, and the remote's stored hash equals ours (else a read-back)."""
        ours = hashes.get(htype) if htype is not None else None
        obj = await self.rclone.stat(path, hash_type=htype if ours else None)
        if obj is None:
            raise BackupError(f"{path} is not on the remote after the upload")
        if obj.size != size:
            raise BackupError(f"{path}: {obj.size} bytes on the remote, sent {size}")
        stored = obj.hashes.get(htype) if htype is not None and ours else None
        if stored:
            if stored != ours:
                raise BackupError(f"{path}: remote {htype} {stored}, sent {ours}")
            return
        back = await self.rclone.hashsum(
            "sha256", path, download=True, time_limit=600 + size / (256 * 1024)
        )
        if back != hashes["sha256"]:
            raise BackupError(f"{path}: read back sha256 {back}, sent {hashes['sha256']}")

    async def get(self, name: str, dest: Path) -> Stored:
        path = self._remote(name)
        proc = await asyncio.create_subprocess_exec(
            *self._argv("cat", path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.rclone.env},
            limit=CHUNK,
        )
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        digest = hashlib.sha256()
        size = 0
        try:
            with dest.open("wb") as out:
                while chunk := await proc.stdout.read(CHUNK):
                    await asyncio.to_thread(out.write, chunk)
                    digest.update(chunk)
                    size += len(chunk)
                await asyncio.to_thread(os.fsync, out.fileno())
            await asyncio.wait_for(proc.wait(), 120)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            errors.cancel()
            raise
        stderr = (await errors).decode(errors="replace").strip()
        if proc.returncode != 0:
            missing = proc.returncode in MISSING_CODES
            raise BackupError(
                f"{path} is missing"
                if missing
                else f"rclone cat {path} failed (exit {proc.returncode}): {stderr[-400:]}"
            )
        return Stored(name, size, digest.hexdigest())

    async def read(self, name: str) -> bytes | None:
        path = self._remote(name)
        try:
            if await self.rclone.stat(path) is None:
                return None
            return (await self.rclone.run("cat", path)).stdout
        except RcloneError as exc:
            raise BackupError(f"cannot read {path}: {exc}") from exc

    async def delete(self, name: str) -> None:
        await self.rclone.deletefile(self._remote(name))

    async def list(self, directory: str = "") -> list[str]:
        where = self._remote(directory) if directory else self.root
        result = await self.rclone.run(
            "lsjson", "--files-only", "--no-mimetype", "--no-modtime", where, check=False
        )
        if result.returncode in MISSING_CODES:
            return []
        if result.returncode != 0:
            raise BackupError(f"cannot list {where}: {result.stderr.strip()[-400:]}")
        entries = json.loads(result.stdout or b"[]")
        prefix = f"{directory.strip('/')}/" if directory else ""
        return sorted(prefix + str(e["Name"]) for e in entries if isinstance(e, dict))
