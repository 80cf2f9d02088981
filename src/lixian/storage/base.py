"""What an engine writes through. Engines never ``open()`` a destination themselves.

A sink is one file being downloaded. It knows which bytes are on disk (``done``) and
records that progress itself, after the data (data before metadata), so an engine
only reports what it received and never bookkeeps durability.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from lixian.ranges import RangeSet
from lixian.storage.control import ResourceMeta

__all__ = ["ResourceMeta", "Sink"]


class Sink(Protocol):
    path: Path
    done: RangeSet
    meta: ResourceMeta

    async def write_at(self, offset: int, data: bytes | Sequence[bytes]) -> None:
        """Write ``data`` (one buffer or several back to back) at ``offset``; progress is
        recorded once it is written."""

    async def checkpoint(self) -> None:
        """Make the recorded progress durable (fsync data, then progress)."""

    async def restart(self, meta: ResourceMeta) -> None:
        """The remote file changed: forget every byte and start over for ``meta``."""

    async def complete(self) -> None:
        """Every byte is there: make it durable, drop progress records, close."""

    async def close(self) -> None:
        """Stop for now, keeping progress so the same download can resume."""
