"""Test files for the benchmark: incompressible random bytes, really written (never sparse).

Files are made once and kept in bench/work/data with a manifest of sizes and sha256 digests, so a
rerun reuses them; a file whose size or mtime no longer matches the manifest is made again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
BLOCK = 8 * MiB


@dataclass(frozen=True)
class Profile:
    """Sizes for one benchmark mode."""

    name: str
    throttled_size: int  # scenarios "throttled" and "resume"
    fast_size: int  # scenario "unthrottled"
    n_small: int  # scenario "many"
    small_size: int = 64 * KiB


FULL = Profile("full", 512 * MiB, 2 * GiB, 1000)
QUICK = Profile("quick", 64 * MiB, 256 * MiB, 200)


def big_name(size: int) -> str:
    return f"big-{size // MiB}M.bin"


def small_name(i: int) -> str:
    return f"s{i:04d}.bin"


@dataclass(frozen=True)
class FileInfo:
    rel: str  # path relative to the data dir, also the URL path under /fast/ or /slow/
    size: int
    sha256: str


class DataSet:
    """The data dir plus its manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest_path = root / "manifest.json"
        self.entries: dict[str, dict[str, int | str]] = {}
        if self.manifest_path.exists():
            try:
                self.entries = json.loads(self.manifest_path.read_text())
            except (OSError, ValueError):
                self.entries = {}

    def _save(self) -> None:
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        tmp.replace(self.manifest_path)

    def _valid(self, rel: str, size: int) -> bool:
        entry = self.entries.get(rel)
        path = self.root / rel
        if entry is None or not path.exists():
            return False
        st = path.stat()
        return st.st_size == size == entry["size"] and st.st_mtime_ns == entry["mtime_ns"]

    def ensure(self, rel: str, size: int) -> FileInfo:
        """Make `rel` hold `size` random bytes (unless it already does) and return its digest."""
        path = self.root / rel
        if not self._valid(rel, size):
            path.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            tmp = path.with_name(path.name + ".part")
            with open(tmp, "wb") as f:
                left = size
                while left:
                    block = os.urandom(min(BLOCK, left))
                    digest.update(block)
                    f.write(block)
                    left -= len(block)
            tmp.replace(path)
            self.entries[rel] = {
                "size": size,
                "sha256": digest.hexdigest(),
                "mtime_ns": path.stat().st_mtime_ns,
            }
        entry = self.entries[rel]
        return FileInfo(rel, size, str(entry["sha256"]))

    def prepare(self, profile: Profile) -> tuple[FileInfo, FileInfo, list[FileInfo]]:
        """Make (throttled file, unthrottled file, small files) for `profile`."""
        throttled = self.ensure(big_name(profile.throttled_size), profile.throttled_size)
        fast = self.ensure(big_name(profile.fast_size), profile.fast_size)
        small = [
            self.ensure(f"small/{small_name(i)}", profile.small_size)
            for i in range(profile.n_small)
        ]
        self._save()
        return throttled, fast, small


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MiB):
            digest.update(block)
    return digest.hexdigest()


def warm(paths: list[Path]) -> None:
    """Read files once so every tool finds the source in the page cache, the first one too."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(MiB):
                pass
