"""Fixtures shared by the compatibility tests: real clients' behaviour against ``lixian serve``.

The daemon helpers (``Daemon``, ``Serve``, the ``serve`` fixture) are the ones
tests/integration/test_serve.py defines. This file puts that folder on ``sys.path`` (so
test modules here can ``from test_serve import Daemon`` too: the same module object pytest
collects later) and registers ``serve`` with what it needs (``cli_env``), plus
``file_sha256`` and ``download_cache``. Helpers reach test modules as fixtures, never through
``import conftest`` (several conftest modules share that name).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(_INTEGRATION) not in sys.path:
    sys.path.insert(0, str(_INTEGRATION))

from test_serve import serve_fixture  # noqa: E402, F401  (needs the path above; `serve`)


def clean_env(home: Path) -> dict[str, str]:
    """The environment of a daemon or a client's suite: no proxies, a private HOME."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment every subprocess of a test runs with (``serve`` starts daemons so)."""
    return clean_env(tmp_path / ".home")


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture
def file_sha256() -> Callable[[Path], str]:
    """Hex sha256 of a file's content."""
    return _sha256


@pytest.fixture
def download_cache() -> Path:
    """A folder kept between runs for things fetched from registries
    (``$XDG_CACHE_HOME/lixian-tests`` or ``~/.cache/lixian-tests``)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = root / "lixian-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path
