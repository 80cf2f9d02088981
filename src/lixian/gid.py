"""GIDs as aria2 makes them: 64 bits shown as 16 hex digits."""

from __future__ import annotations

import re
import secrets
from collections.abc import Container

__all__ = ["is_gid", "new_gid"]

_GID = re.compile(r"^[0-9a-fA-F]{16}$")


def new_gid(taken: Container[str] | None = None) -> str:
    while True:
        gid = secrets.token_hex(8)
        if gid != "0" * 16 and (taken is None or gid not in taken):
            return gid


def is_gid(text: str) -> bool:
    return bool(_GID.match(text))
