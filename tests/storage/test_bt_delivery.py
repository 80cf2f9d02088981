"""A torrent bound for an rclone remote: downloaded and seeded locally in the staging dir,
then every selected file delivered (copied, verified) and the staging dir freed, before the
task is complete. Real rclone (``rclone serve webdav``), the local swarm, the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fixtures.rclone import RcloneServe
from fixtures.swarm import free_port, sha256_tree
from fixtures.swarm_fixture import Swarm

MIB = 1 << 20


def test_get_a_torrent_to_an_rclone_remote(
    swarm: Swarm, webdav: RcloneServe, tmp_path: Path, unique: str
) -> None:
    content = swarm.content({"a.bin": MIB + 7, "sub/b.bin": 2 * MIB, "c.txt": 10})
    data = swarm.torrent(content)
    swarm.seeders(data, content, 2)
    torrent = tmp_path / "pack.torrent"
    torrent.write_bytes(data)
    staging = tmp_path / "staging"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "lixian", "get", "--seed-time=0", "--select-file=1,2"),
            *("--enable-dht=false", "--bt-enable-lpd=false", f"--listen-port={free_port()}"),
            *("-d", "local", f"--dest={webdav.remote}{unique}", f"--staging-dir={staging}"),
            str(torrent),
        ],
        cwd=tmp_path,
        env={**os.environ, **webdav.env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    delivered = sha256_tree(webdav.root / unique)
    wanted = {k: v for k, v in content.digests.items() if not k.endswith("c.txt")}
    assert delivered == wanted  # the selected files, verified; the unselected one not sent
    assert f"{webdav.remote}{unique}/pack" in proc.stdout  # where it lives now
    assert not staging.exists() or not list(staging.rglob("*.bin"))  # local copies freed
