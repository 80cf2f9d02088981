"""notebooks/lixian-colab.ipynb runs headless on a plain Jupyter kernel (nbclient).

"Drive" is a real FUSE mount (``rclone mount`` of a local ``rclone serve webdav``, the
``fuse_mount`` fixture), so the daemon the notebook starts must pick staged mode by itself;
the links come from the fault server. The test injects a parameters cell after the
notebook's own (as papermill does) and checks the file on the *remote* behind the mount.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.fault_server import FaultServer
from fixtures.rclone import RcloneMount, RcloneServe

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "lixian-colab.ipynb"
MB = 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def outputs_text(nb: Any) -> str:
    out = []
    for cell in nb.cells:
        for item in cell.get("outputs", []):
            if "text" in item:
                out.append(item["text"])
            data = item.get("data") or {}
            if "text/plain" in data:
                out.append(data["text/plain"])
            if item.get("output_type") == "error":
                out.append("\n".join(item.get("traceback", [])))
    return "\n".join(out)


@contextlib.contextmanager
def no_daemon_left(data_home: Path) -> Iterator[None]:
    """Whatever happens in the notebook, the detached daemon it started does not outlive us."""
    try:
        yield
    finally:
        for record in data_home.rglob("*.daemon.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                pid = int(json.loads(record.read_text())["pid"])
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)


def test_the_colab_notebook_runs_headless_into_a_drive_mount(
    fault_server: FaultServer,
    fuse_mount: RcloneMount,
    webdav: RcloneServe,
    tmp_path: Path,
    unique: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        import ipykernel  # noqa: F401  (the kernel the notebook runs on)
        import nbclient
        import nbformat
    except ImportError:
        why = "nbclient/nbformat/ipykernel are missing (pip install nbclient nbformat ipykernel)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why)
        pytest.skip(why)
    data_home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))  # the kernel and its daemon inherit
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    drive = fuse_mount.mountpoint / unique
    links = [
        fault_server.url(f"/{unique}/movie.bin", size=3 * MB, seed=91),
        fault_server.url(f"/{unique}/notes.bin", size=MB // 2, seed=92),
    ]
    params = {
        "DOWNLOAD_DIR": str(drive / "Downloads"),
        "STATE_BACKUP": str(drive / "lixian-state"),
        "LINKS": " ".join(links),
        "PORT": free_port(),
        "WATCH_TIMEOUT": 180,
        "STOP_AT_END": True,
    }
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        "\n".join(f"{name} = {value!r}" for name, value in params.items())
    )
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)

    with no_daemon_left(data_home):
        client = nbclient.NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as exc:
            pytest.fail(f"the notebook failed:\n{exc}\n{outputs_text(nb)[-3000:]}")
    text = outputs_text(nb)

    assert "Not on Colab" in text  # the Drive cell skipped itself
    assert "FUSE/network mount" in text and "staged mode" in text
    assert "cloudflared tunnel --url" in text and "secret is mandatory" in text
    assert "daemon stopped" in text
    for link, (name, size, seed) in zip(
        links, [("movie.bin", 3 * MB, 91), ("notes.bin", MB // 2, 92)], strict=True
    ):
        assert f"complete: {drive / 'Downloads' / name}" in text, link
        remote = webdav.root / unique / "Downloads" / name
        deadline = time.monotonic() + 60  # the mount uploads after its write-back delay
        while time.monotonic() < deadline and not (
            remote.exists() and remote.stat().st_size == size
        ):
            time.sleep(0.2)
        digest = hashlib.sha256(remote.read_bytes()).hexdigest()
        assert digest == fault_server.expected_sha256(size, seed)
    # The queue was checkpointed to "Drive" too (the final checkpoint at stop included both).
    manifest = drive / "lixian-state" / "lixian-backup.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not manifest.exists():
        time.sleep(0.2)
    assert json.loads(manifest.read_text())["tasks"] == 2
