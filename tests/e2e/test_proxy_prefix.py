"""Behind a reverse proxy under a path prefix (nginx at /lixian/ -> the daemon's /): the
page, its WebSocket and its file links all use relative URLs, so everything works there."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.support import IN_CI, _listening, free_port, run_daemon
from fixtures.fault_server import FaultServer

NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fastcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port};
    location /lixian/ {{
      proxy_pass http://127.0.0.1:{upstream}/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_buffering off;
    }}
  }}
}}
"""


@contextlib.contextmanager
def nginx(root: Path, upstream: int) -> Iterator[str]:
    binary = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if binary is None:
        if IN_CI:
            pytest.fail("nginx is missing (make test installs nginx-light)")
        pytest.skip("nginx is missing")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, port=port, upstream=upstream))
    proc = subprocess.Popen(
        [binary, "-e", "stderr", "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=(root / "nginx.err").open("wb"),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while proc.poll() is None and not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, (root / "nginx.err").read_text()
        yield f"http://127.0.0.1:{port}/lixian/"
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_under_a_path_prefix(
    tmp_path: Path, page: Any, fault_server: FaultServer, bundle: Any
) -> None:
    secret = "proxy-secret-42"  # a request through a proxy needs one (DESIGN.md)
    with (
        run_daemon(tmp_path / "d", secret=secret) as daemon,
        nginx(tmp_path / "nginx", daemon.port) as base,
    ):
        outside: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
        page.goto(base)
        page.fill("form.signin input[name=secret]", secret)
        page.click("form.signin button[type=submit]")
        page.wait_for_selector(".list .count:text-is('0 tasks')")

        size, seed = 300_000, 8
        page.click(".add-open")
        page.fill(
            ".add-dialog textarea.links", fault_server.url("/proxied/a.bin", size=size, seed=seed)
        )
        page.click(".add-dialog .add-btn")
        row = page.locator(".row:has(a.name:text-is('a.bin'))")
        row.locator("xpath=self::*[@data-status='complete']").wait_for(timeout=30_000)
        row.locator("a.name").click()
        with page.expect_download() as info:
            page.click(".files-table button:text-is('Download')")
        download = info.value
        assert download.url.startswith(base + "files/")
        saved = Path(download.path())
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == fault_server.expected_sha256(
            size, seed
        )
        assert outside == []  # nothing outside the prefix: no CDN, no absolute path
        assert secret not in daemon.log_text()
