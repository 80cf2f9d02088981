"""Pasted "Copy as cURL" commands, end to end: every fixture from Chrome, Edge and Firefox
(bash and cmd) downloads from the fault server, which checks that each copied header and
cookie arrived (and that the ones lixian must not copy did not), and the file's sha256.

Four doors are driven: ``lixian get --curl=FILE``; ``lixian get`` with ``to_options`` as
``--header=...`` words against a server that answers 403 unless the headers and cookies
arrive (``require_header``/``require_cookie`` knobs); ``lixian add --curl=FILE`` against
``lixian serve`` and the reference aria2c; and the page's flow, ``lixian.parseCurl`` then
``aria2.addUri`` over JSON-RPC. For the bash fixtures the real curl runs the same command
and both request logs are compared.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from rpc_daemons import Daemon, run_daemon

from fixtures.browser_curl import FIXTURES, NOT_DOWNLOADABLE, PLACEHOLDER
from fixtures.fault_server import FaultServer, RequestRecord
from lixian.cli.curl_cmd import curl_words
from lixian.importers.curl import NOT_COPIED, CurlRequest, parse_curl, to_options

RunGet = Callable[..., subprocess.CompletedProcess[str]]
ALL = sorted(p.name for p in FIXTURES.glob("*.txt"))
DOWNLOADABLE = [name for name in ALL if name not in NOT_DOWNLOADABLE]
BASH = [name for name in DOWNLOADABLE if "_bash" in name]
SIZE = 300_000
_SIMPLE_COOKIE = re.compile(r"[A-Za-z0-9_.+/=%-]*\Z")


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def rewritten(name: str, server: FaultServer) -> str:
    """The fixture with its placeholder origin pointing at the fault server."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    assert PLACEHOLDER in text
    return text.replace(PLACEHOLDER, server.base)


def serve(server: FaultServer, req: CurlRequest, seed: int) -> tuple[str, str]:
    """Register random bytes at the request's path; returns (decoded path, sha256)."""
    path = unquote(urlsplit(req.url).path)
    data = random.Random(seed).randbytes(SIZE)
    server.add_file(path, data)
    return path, hashlib.sha256(data).hexdigest()


def wire(value: str) -> str:
    """A logged header value (latin-1 decoded bytes) as text: UTF-8 when it is, else latin-1."""
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def cookie_pairs(header: str) -> list[tuple[str, str]]:
    pairs = []
    for piece in header.split(";"):
        name, eq, value = piece.strip().partition("=")
        pairs.append((name, value) if eq else ("", name))
    return pairs


def copied(name: str) -> bool:
    lower = name.lower()
    return lower not in NOT_COPIED and not lower.startswith("sec-fetch-")


def check_arrived(record: RequestRecord, req: CurlRequest, *, unique: bool = True) -> None:
    """Every copied header, cookie, user agent and referer arrived as the browser sent them;
    no header lixian must not copy did (Accept-Encoding and Range are lixian's own)."""
    assert record.status in (200, 206), record
    got = [(name.lower(), wire(value)) for name, value in record.headers]
    names = [name for name, _ in got]
    for line in to_options(req).get("header", []):
        name, _, value = line.partition(":")
        if name.lower() == "cookie":
            continue
        assert (name.lower(), value.strip()) in got, (line, got)
        if unique:
            assert names.count(name.lower()) == 1, (name, got)
    if req.cookies:
        cookies = [value for name, value in got if name == "cookie"]
        assert len(cookies) == 1, got
        assert cookie_pairs(cookies[0]) == list(req.cookies)
    assert ("user-agent", req.user_agent) in got
    if req.referer is not None:
        assert ("referer", req.referer) in got
    for name, _ in req.dropped:
        lower = name.lower()
        if lower == "accept-encoding":  # lixian asks for identity; aria2c asks for nothing
            assert dict(got).get("accept-encoding", "identity") == "identity"
        elif lower not in ("host", "range", "connection"):
            assert lower not in names, (name, got)


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_get_curl_file(
    name: str, fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    text = rewritten(name, fault_server)
    req = parse_curl(text)
    path, digest = serve(fault_server, req, seed=len(name))
    (tmp_path / "request.txt").write_bytes(text.encode("utf-8"))
    result = run_get("--curl=request.txt", "-d", "out", "-o", "file.bin")
    ok(result)
    assert hashlib.sha256((tmp_path / "out" / "file.bin").read_bytes()).hexdigest() == digest
    records = fault_server.requests_for(path)
    assert records
    for record in records:
        check_arrived(record, req)
    assert f"url        {req.url}" in result.stderr  # the review went to stderr


@pytest.mark.parametrize("name", DOWNLOADABLE)
def test_get_with_to_options_against_required_headers(
    name: str, fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    """The server answers 403 unless every header and (plain) cookie arrives."""
    req = parse_curl(rewritten(name, fault_server))
    path, digest = serve(fault_server, req, seed=len(name) + 1)
    options = to_options(req)
    headers = [line for line in options.get("header", []) if not line.startswith("Cookie:")]
    headers += [f"User-Agent:{req.user_agent}"]
    headers += [f"Referer:{req.referer}"] if req.referer else []
    cookies = [
        f"{n}={v}"
        for n, v in req.cookies
        if n and _SIMPLE_COOKIE.match(n) and _SIMPLE_COOKIE.match(v)
    ]
    assert cookies  # every fixture carries some plain cookies
    url = fault_server.url(path, require_header=headers, require_cookie=cookies)
    result = run_get(*curl_words(options), "-d", "out", "-o", "file.bin", url)
    ok(result)
    assert hashlib.sha256((tmp_path / "out" / "file.bin").read_bytes()).hexdigest() == digest
    assert all(r.status in (200, 206) for r in fault_server.requests_for(path))


def test_required_header_missing_is_refused(fault_server: FaultServer, run_get: RunGet) -> None:
    """The knob test above can fail: without the copied cookie the server says 403."""
    req = parse_curl(rewritten("chrome124_linux_bash.txt", fault_server))
    path, _ = serve(fault_server, req, seed=5)
    url = fault_server.url(path, require_cookie=["_ga=GA1.1.1843723621.1714050812"])
    options = {k: v for k, v in to_options(req).items() if k != "header"}
    result = run_get(*curl_words(options), "--max-tries=1", "-d", "out", url)
    assert result.returncode != 0
    assert {r.status for r in fault_server.requests_for(path)} == {403}


@pytest.mark.parametrize("name", sorted(NOT_DOWNLOADABLE))
def test_post_is_refused_with_an_explanation(
    name: str, fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    (tmp_path / "request.txt").write_bytes((FIXTURES / name).read_bytes())
    result = run_get("--curl=request.txt", "-d", "out")
    assert result.returncode == 28, result.stderr
    assert "not downloadable: this is a POST request with a body (--data-raw)" in result.stderr
    assert "nothing added" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.parametrize("name", BASH)
def test_real_curl_sends_what_lixian_sends(
    name: str, fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    """The reference: bash runs the fixture with the real curl; both request logs agree on
    every header lixian copies. (Our own fixtures, so running them is safe.)"""
    text = rewritten(name, fault_server)
    req = parse_curl(text)
    path, digest = serve(fault_server, req, seed=9)
    curl = subprocess.run(
        ["bash", "-c", text.strip() + " -s -o curl.bin"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert curl.returncode == 0, curl.stderr
    (curl_record,) = fault_server.requests_for(path)
    fault_server.reset_log()
    (tmp_path / "request.txt").write_bytes(text.encode("utf-8"))
    ok(run_get("--curl=request.txt", "-d", "out", "-o", "file.bin"))
    lixian_record = fault_server.requests_for(path)[0]

    def seen(record: RequestRecord) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for header, value in record.headers:
            if not copied(header) or header.lower() in ("accept-encoding", "range"):
                continue
            text = wire(value)
            out.append((header.lower(), cookie_pairs(text) if header.lower() == "cookie" else text))
        return sorted(out, key=repr)

    by_curl, by_lixian = seen(curl_record), seen(lixian_record)
    if name == "firefox98_macos_bash.txt":
        # Firefox writes the emoji as UTF-16 escapes \ud83c\udfb5, which bash turns into
        # CESU-8 bytes; lixian sends the character Firefox meant.
        cookie = next(v for n, v in by_curl if n == "cookie")
        assert ("emoji", "\xed\xa0\xbc\xed\xbe\xb5") in cookie
        cookie[cookie.index(("emoji", "\xed\xa0\xbc\xed\xbe\xb5"))] = ("emoji", "🎵")
    assert by_lixian == by_curl
    assert hashlib.sha256((tmp_path / "curl.bin").read_bytes()).hexdigest() == digest


# --- through a daemon ------------------------------------------------------------------------


@pytest.fixture(params=["aria2c", "lixian"])
def daemon(
    request: pytest.FixtureRequest, tmp_path: Path, cli_env: dict[str, str]
) -> Iterator[Daemon]:
    with run_daemon(request.param, tmp_path, cli_env) as d:
        yield d


def _rpc(daemon: Daemon, method: str, *params: object) -> Any:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": method, "params": [f"token:{daemon.secret}", *params]}
    ).encode()
    request = urllib.request.Request(daemon.url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert "error" not in answer, answer
    return answer["result"]


def _wait_complete(daemon: Daemon, gid: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        status = _rpc(daemon, "aria2.tellStatus", gid, ["status", "errorMessage"])
        if status["status"] == "complete":
            return
        assert status["status"] in ("active", "waiting"), status
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


@pytest.mark.parametrize("name", ["edge124_windows_cmd.txt", "firefox125_linux_bash.txt"])
def test_add_curl_to_a_daemon(
    name: str,
    daemon: Daemon,
    fault_server: FaultServer,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    text = rewritten(name, fault_server)
    req = parse_curl(text)
    path, digest = serve(fault_server, req, seed=11)
    (tmp_path / "request.txt").write_bytes(text.encode("utf-8"))
    result = subprocess.run(
        [sys.executable, "-m", "lixian", "add", "--curl=request.txt", "-o", "added.bin"],
        cwd=tmp_path,
        env=daemon.env(cli_env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    ok(result)
    gid = result.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{16}", gid), result.stdout
    assert "not copied" in result.stderr
    _wait_complete(daemon, gid)
    assert hashlib.sha256((daemon.dir / "added.bin").read_bytes()).hexdigest() == digest
    for record in fault_server.requests_for(path):
        # aria2c adds its own Accept: */* next to the copied one; lixian replaces it
        check_arrived(record, req, unique=daemon.kind == "lixian")


@pytest.mark.parametrize("name", ["chrome124_windows_cmd.txt", "firefox98_macos_bash.txt"])
def test_page_flow_parse_curl_then_add_uri(
    name: str, fault_server: FaultServer, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """What the page does: lixian.parseCurl, show the review, aria2.addUri with its options."""
    with run_daemon("lixian", tmp_path, cli_env) as daemon:
        text = rewritten(name, fault_server)
        review = _rpc(daemon, "lixian.parseCurl", text)
        req = parse_curl(text)
        assert review["url"] == req.url and review["downloadable"] is True
        assert review["options"] == to_options(req)
        assert [c["name"] for c in review["cookies"]] == [n for n, _ in req.cookies]
        assert all(c["domain"] == "127.0.0.1" for c in review["cookies"])
        path, digest = serve(fault_server, req, seed=12)
        gid = _rpc(daemon, "aria2.addUri", [review["url"]], {**review["options"], "out": "p.bin"})
        _wait_complete(daemon, gid)
        assert hashlib.sha256((daemon.dir / "p.bin").read_bytes()).hexdigest() == digest
        for record in fault_server.requests_for(path):
            check_arrived(record, req)
