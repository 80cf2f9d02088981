"""Which filesystem a path lives on, read from the mount table.

Why: a control file rewritten many times a second is poison for a FUSE cloud drive
(each rewrite may become an upload) and a network mount may not keep the page cache
coherent, so control files for such destinations live in the state dir instead.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["filesystem_type", "is_remote_filesystem"]

_REMOTE_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "afs", "davfs", "sshfs"}
)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040 ...).
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The fs type of the longest mount point containing ``path`` (None if unknown)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    target = Path(os.path.realpath(_existing_ancestor(path)))
    best: tuple[int, str] | None = None
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mount_point = Path(_unescape(fields[4]))
        if target == mount_point or mount_point in target.parents:
            depth = len(mount_point.parts)
            fstype = right.split()[0] if right.split() else ""
            if best is None or depth >= best[0]:
                best = (depth, fstype)
    return best[1] if best else None


def is_remote_filesystem(path: Path, mountinfo: str | None = None) -> bool:
    """True for FUSE and network filesystems (cloud drives, NFS, SMB, 9p, ...)."""
    fstype = filesystem_type(path, mountinfo)
    if fstype is None:
        return False
    return fstype in _REMOTE_TYPES or fstype == "fuse" or fstype.startswith("fuse.")


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path
