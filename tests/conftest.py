"""Shared pytest fixtures.

Keep this file to fixture registrations; their logic lives in tests/fixtures/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.fault_server import FaultServer

pytest_plugins = ["fixtures.proxy_fixture", "fixtures.swarm_fixture"]


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh fault-injecting HTTP origin (127.0.0.1 + 127.0.0.2) per test.

    Function-scoped so knob counters and the request log never leak between tests.
    """
    with FaultServer() as server:
        yield server


@pytest.fixture
def tls_fault_server(tmp_path: Path) -> Iterator[FaultServer]:
    """Same as ``fault_server`` over HTTPS; trust ``.ca_pem_path`` (``--ca-certificate``)."""
    with FaultServer(tls=True, tls_dir=tmp_path / "tls") as server:
        yield server
