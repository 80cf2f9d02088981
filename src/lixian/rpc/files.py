"""``GET``/``HEAD /files/<token>/<name>``: the I/O shell around ``file_links``.

``file_links`` decides (the token, the confinement, the answer's status and headers);
this module finds how much of the file is there and streams it:

- How much is there: a finished file whole; one still downloading up to its contiguous
  prefix, taken from the running engine's written ranges, else from the control file
  beside it (a paused or failed download); a torrent's file, from its verified pieces.
  An unfinished task's file without a control file was written in order (a server without
  ranges): its size is the prefix. A file whose task is gone (its result removed) and that
  has no control file counts as finished.
- Reads go through a worker thread, ``CHUNK`` bytes at a time, each chunk written out
  before the next is read: ``StreamResponse.write`` waits for the socket to drain, so
  a slow client holds at most a chunk or two in memory and never blocks the loop.
- Every request first passes the server's Host/Origin checks (a ``<video>`` on the
  daemon's own page sends no ``Origin`` for a GET; a cross-site one is refused by its
  ``Sec-Fetch-Site``), then ``bind_links`` makes the signer visible to
  ``lixian.fileUrl`` calls on the same server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

from aiohttp import web

from lixian.core.manager import Manager
from lixian.core.task import TaskState
from lixian.rpc.context import bind_links
from lixian.rpc.file_links import FileLinks, LinkRefused, plan, validators
from lixian.rpc.security import Confiner
from lixian.storage.control import ControlFile
from lixian.storage.local import control_path_for

__all__ = ["CHUNK", "LINKS", "install"]

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
LINKS = web.AppKey("file_links", FileLinks)
_MANAGER = web.AppKey("file_links_manager", Manager)
_CROSS_ORIGIN = web.AppKey("file_links_cross_origin", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def install(
    app: web.Application,
    manager: Manager,
    confiner: Confiner | None,
    *,
    cross_origin: bool = False,
) -> FileLinks:
    """Add ``/files`` to ``app`` and make ``lixian.fileUrl`` work on its requests.

    ``confiner`` is the RPC's path policy (its roots are the download roots); without
    one, the manager's ``dir`` is the only root. ``cross_origin`` (``--rpc-allow-origin-all``
    with a secret) lets pages elsewhere embed the files too (``Cross-Origin-Resource-
    Policy``); otherwise only the daemon's own page may.
    """
    if confiner is None:
        confiner = Confiner([Path(str(manager.options.get("dir") or os.getcwd()))])
    links = FileLinks(confiner)
    app[LINKS] = links
    app[_MANAGER] = manager
    app[_CROSS_ORIGIN] = cross_origin
    app.middlewares.append(_bind)
    app.router.add_get("/files/{token}/{name}", _serve)  # HEAD too
    return links


@web.middleware
async def _bind(request: web.Request, handler: Handler) -> web.StreamResponse:
    with bind_links(request.app[LINKS]):
        return await handler(request)


def _refused(reason: str) -> web.Response:
    log.info("refused a /files link: %s", reason)  # never the token: it is the key
    return web.Response(status=403, text="this link is not valid (expired or altered)\n")


@dataclass(frozen=True, slots=True)
class _OnDisk:
    fd: int
    stat: os.stat_result
    engine_writes_it: bool  # the running engine's path resolves to this file
    control_prefix: int | None  # what its control file vouches for, if it has one


def _same(candidate: Path | None, path: Path) -> bool:
    if candidate is None:
        return False
    try:
        return candidate == path or candidate.resolve() == path
    except (OSError, RuntimeError):
        return False


def _inspect(path: Path, engine_path: Path | None, task_path: Path | None,
             control_dir: Path | None, complete: bool) -> _OnDisk:  # fmt: skip
    """Open the file and learn how much of it is there (blocking: run in a thread)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        stat = os.fstat(fd)
        if complete:
            return _OnDisk(fd, stat, False, None)
        if _same(engine_path, path):
            return _OnDisk(fd, stat, True, None)
        # The control file sits beside the path the engine used (or in control_dir,
        # named after it), which may differ from the resolved one by a symlink.
        named = task_path if task_path is not None and _same(task_path, path) else path
        return _OnDisk(fd, stat, False, _control_prefix(named, control_dir))
    except BaseException:
        os.close(fd)
        raise


def _control_prefix(path: Path, control_dir: Path | None) -> int | None:
    """The contiguous prefix a control file vouches for; None when there is none."""
    control = control_path_for(path, control_dir)
    if not control.exists():
        return None
    loaded = ControlFile.load(control)
    if loaded is None:
        return 0
    handle, done = loaded
    handle.close()
    return done.prefix()


async def _serve(request: web.Request) -> web.StreamResponse:
    links = request.app[LINKS]
    manager = request.app[_MANAGER]
    try:
        name = unquote_to_bytes(request.raw_path.partition("?")[0].rpartition("/")[2])
        signed = links.verify(request.match_info["token"], name)
        path = await asyncio.to_thread(links.confine, signed.path)
    except LinkRefused as exc:
        return _refused(str(exc))
    if path != signed.path:
        return _refused(f"{signed.path} now resolves elsewhere")
    view = manager.views.get(signed.gid)
    state = view.task.state if view is not None else None
    engine = view.engine if view is not None and view.result is None else None
    if state is not TaskState.ACTIVE:
        engine = None
    try:
        disk = await asyncio.to_thread(
            _inspect,
            path,
            engine.path if engine is not None else None,
            view.path if view is not None else None,
            manager.control_dir,
            state is TaskState.COMPLETE,
        )
    except OSError:
        return web.Response(status=404, text="the file is no longer there\n")
    try:
        size = disk.stat.st_size
        prefix: int | None
        if view is not None and view.bt is not None:  # a torrent: its verified pieces
            prefix = manager.file_prefix(view, path)
        elif disk.engine_writes_it and engine is not None:
            prefix = engine.done_ranges.prefix()
        elif disk.control_prefix is not None:
            prefix = disk.control_prefix
        elif view is not None and state is not TaskState.COMPLETE:
            prefix = size  # no control file: written in order (or not started yet)
        else:
            prefix = None  # complete, or no task left and nothing says otherwise
        if prefix is None:
            etag, modified = validators(disk.stat)
            answer = plan(
                request.headers, path.name, size, complete=True, etag=etag,
                last_modified=modified,
            )  # fmt: skip
        else:
            answer = plan(request.headers, path.name, min(prefix, size), complete=False)
        if request.app[_CROSS_ORIGIN]:
            answer.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return await _send(
            request, disk.fd, answer.status, answer.headers, answer.start, answer.length
        )
    finally:
        await asyncio.to_thread(os.close, disk.fd)


async def _send(
    request: web.Request, fd: int, status: int, headers: dict[str, str], start: int, length: int
) -> web.StreamResponse:
    response = web.StreamResponse(status=status, headers=headers)
    if status in (200, 206):
        response.content_length = length
    elif status == 416:
        response.content_length = 0
    await response.prepare(request)
    if request.method == "HEAD" or status not in (200, 206):
        await response.write_eof()
        return response
    position, remaining = start, length
    while remaining > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(CHUNK, remaining), position)
        if not chunk:  # truncated meanwhile: end short, and drop the connection
            response.force_close()
            break
        await response.write(chunk)  # waits for the client when its buffer is full
        position += len(chunk)
        remaining -= len(chunk)
    with contextlib.suppress(ConnectionError):
        await response.write_eof()
    return response
