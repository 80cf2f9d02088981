"""GIDs as aria2 makes them: 64 bits shown as 16 hex digits."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Container

__all__ = ["is_gid", "new_gid"]

_GID = re.compile(r"^[0-9a-fA-F]{16}$")


_BATCH = 256  # GIDs drawn per read of the OS's random source
_pool: list[str] = []
os.register_at_fork(after_in_child=_pool.clear)  # a forked daemon draws its own


def new_gid(taken: Container[str] | None = None) -> str:
    """A fresh random GID, never all zeros (aria2's "no GID") nor one in ``taken``.

    The OS is asked for random bytes 256 GIDs at a time: ``os.urandom`` lets go of
    the GIL, and 10,000 adds in one multicall each handing it to the state writer
    thread and waiting to get it back cost more than the adds themselves.
    """
    while True:
        if not _pool:
            text = secrets.token_hex(8 * _BATCH)
            _pool.extend(text[i : i + 16] for i in range(0, len(text), 16))
        gid = _pool.pop()
        if gid != "0" * 16 and (taken is None or gid not in taken):
            return gid


def is_gid(text: str) -> bool:
    return bool(_GID.match(text))
