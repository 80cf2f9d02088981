"""``lixian get`` through an HTTP proxy: options, environment, no-proxy, proxy authentication.

The real CLI runs as a subprocess against the fault server, through the forwarding test
proxy (tests/fixtures/proxy.py), whose log tells what went through it. Every download is
checked by the sha256 of what landed on disk; where it is cheap aria2c runs the same
command against the same proxy as the reference.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from fixtures.fault_server import FaultServer
from fixtures.proxy import ForwardingProxy, ProxyRecord

MB = 1 << 20
SIZE = 2 * MB
TIMEOUT = 60.0
LIXIAN_GET = (sys.executable, "-m", "lixian", "get")
ARIA2C_DEFAULTS = ("--no-conf", "--file-allocation=none", "-q", "--max-tries=1")
USER, PASSWORD = "proxyuser", "pa:ss w0rd"  # ':' and ' ' must survive percent-encoding
WRONG_PASSWORD = "Wr0ngPassw0rd"


# ---------------------------------------------------------------- helpers


def _aria2c() -> str | None:
    local = Path(sys.executable).parent / "aria2c"
    return str(local) if local.exists() else shutil.which("aria2c")


def _clean_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any proxy variable, a private HOME, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Runner:
    """Runs lixian or aria2c in a fresh directory under tmp_path, with a chosen environment."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0

    def _run(
        self, argv: list[str], env: dict[str, str] | None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        self.runs += 1
        cwd = self.tmp_path / f"run{self.runs}"
        cwd.mkdir()
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=_clean_env(self.tmp_path / ".home", env or {}),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        return result, cwd

    def lixian(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        return self._run([*LIXIAN_GET, *args], env)

    def aria2c(
        self, *args: str, env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        binary = _aria2c()
        assert binary is not None
        return self._run([binary, *ARIA2C_DEFAULTS, *args], env)


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


@pytest.fixture
def aria2c_available() -> None:
    if _aria2c() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("aria2c is missing (make test installs it)")
        pytest.skip("aria2c is not installed")


@contextlib.contextmanager
def checking(tool: str) -> Iterator[None]:
    """Name the tool in a failed assertion of a loop that runs aria2c then lixian."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{tool}: {exc}") from None


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def gets_through(proxy: ForwardingProxy, origin: str, path: str) -> list[ProxyRecord]:
    """Forwarded absolute-URI GETs of ``path`` on ``origin`` (e.g. http://127.0.0.1:1234)."""
    prefix = origin + path
    return [
        r
        for r in proxy.forwarded
        if r.method == "GET" and (r.target == prefix or r.target.startswith(prefix + "?"))
    ]


def origin_gets(server: FaultServer, path: str) -> int:
    return len([r for r in server.requests_for(path) if r.method == "GET"])


def assert_proxied(
    proxy: ForwardingProxy, server: FaultServer, path: str, origin: str | None = None
) -> None:
    """Every GET the origin saw for ``path`` came through the proxy (and at least one did)."""
    through = gets_through(proxy, origin or server.base, path)
    assert through, f"nothing went through the proxy: {[r.target for r in proxy.requests]}"
    assert len(through) == origin_gets(server, path)
    assert all(r.status in (200, 206) for r in through)


def assert_direct(proxy: ForwardingProxy, server: FaultServer, path: str) -> None:
    assert proxy.requests == [], [r.target for r in proxy.requests]
    assert origin_gets(server, path) >= 1


def tunnels_to(proxy: ForwardingProxy, server: FaultServer) -> list[ProxyRecord]:
    return [r for r in proxy.tunnels if r.target == f"127.0.0.1:{server.port}" and r.forwarded]


# ---------------------------------------------------------------- proxy options


@pytest.mark.parametrize(
    "option",
    ["--all-proxy={url}", "--http-proxy={url}", "--all-proxy={address}"],
    ids=["all-proxy", "http-proxy", "all-proxy-without-scheme"],
)
def test_proxy_option_routes_http_download_through_proxy(
    fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    option: str,
) -> None:
    url = fault_server.url("/opt.bin", size=SIZE, seed=1)
    arg = option.format(url=http_proxy.url, address=http_proxy.address)
    result, cwd = runner.lixian(arg, url)
    ok(result)
    assert sha256_of(cwd / "opt.bin") == fault_server.expected_sha256(SIZE, 1)
    assert_proxied(http_proxy, fault_server, "/opt.bin")
    # A proxy sees the absolute URI, and only the proxy sees proxy headers.
    assert all(r.header("Host") == f"127.0.0.1:{fault_server.port}" for r in http_proxy.forwarded)
    assert all(r.header("Proxy-Authorization") is None for r in fault_server.requests)


def test_https_scheme_proxy_is_spoken_to_in_plain_http(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    """aria2 rewrites ``https://proxy:P`` to ``http://proxy:P/``: the proxy itself is plain."""
    url = fault_server.url("/rewrite.bin", size=SIZE, seed=2)
    result, cwd = runner.lixian(f"--all-proxy=https://127.0.0.1:{http_proxy.port}", url)
    ok(result)
    assert sha256_of(cwd / "rewrite.bin") == fault_server.expected_sha256(SIZE, 2)
    assert_proxied(http_proxy, fault_server, "/rewrite.bin")


@pytest.mark.usefixtures("aria2c_available")
@pytest.mark.parametrize("option", ["--all-proxy", "--http-proxy"])
def test_proxy_option_same_as_aria2c(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner, option: str
) -> None:
    url = fault_server.url("/ref.bin", size=SIZE, seed=3)
    result, cwd = runner.aria2c(f"{option}={http_proxy.url}", url)
    ok(result)
    assert sha256_of(cwd / "ref.bin") == fault_server.expected_sha256(SIZE, 3)
    assert_proxied(http_proxy, fault_server, "/ref.bin")
    http_proxy.reset_log()
    fault_server.reset_log()
    result, cwd = runner.lixian(f"{option}={http_proxy.url}", url)
    ok(result)
    assert sha256_of(cwd / "ref.bin") == fault_server.expected_sha256(SIZE, 3)
    assert_proxied(http_proxy, fault_server, "/ref.bin")


@pytest.mark.parametrize("option", ["--https-proxy", "--all-proxy"])
@pytest.mark.parametrize("tool", ["lixian", "aria2c"])
def test_https_download_tunnels_through_proxy(
    tls_fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    request: pytest.FixtureRequest,
    option: str,
    tool: str,
) -> None:
    if tool == "aria2c":
        request.getfixturevalue("aria2c_available")
    url = tls_fault_server.url("/tls.bin", size=SIZE, seed=4)
    run = runner.lixian if tool == "lixian" else runner.aria2c
    result, cwd = run(
        f"{option}={http_proxy.url}", f"--ca-certificate={tls_fault_server.ca_pem_path}", url
    )
    ok(result)
    assert sha256_of(cwd / "tls.bin") == tls_fault_server.expected_sha256(SIZE, 4)
    tunnels = tunnels_to(http_proxy, tls_fault_server)
    assert tunnels, [(r.method, r.target) for r in http_proxy.requests]
    assert all(r.method == "CONNECT" for r in http_proxy.requests), "https never as plain GET"
    # Every TLS connection the origin served came through a tunnel.
    peers = {r.peer for r in tls_fault_server.requests_for("/tls.bin")}
    assert len(peers) <= len(tunnels)
    assert sum(r.bytes_down for r in tunnels) >= SIZE


@pytest.mark.parametrize("tool", ["lixian", "aria2c"])
def test_scheme_specific_proxies_apply_to_their_scheme_only(
    fault_server: FaultServer,
    tls_fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    request: pytest.FixtureRequest,
    tool: str,
) -> None:
    if tool == "aria2c":
        request.getfixturevalue("aria2c_available")
    run = runner.lixian if tool == "lixian" else runner.aria2c
    url = fault_server.url("/plain.bin", size=SIZE, seed=5)
    result, cwd = run(f"--https-proxy={http_proxy.url}", url)
    ok(result)
    assert sha256_of(cwd / "plain.bin") == fault_server.expected_sha256(SIZE, 5)
    turl = tls_fault_server.url("/secure.bin", size=SIZE, seed=5)
    ca = f"--ca-certificate={tls_fault_server.ca_pem_path}"
    result, cwd = run(f"--http-proxy={http_proxy.url}", ca, turl)
    ok(result)
    assert sha256_of(cwd / "secure.bin") == tls_fault_server.expected_sha256(SIZE, 5)
    assert http_proxy.requests == [], [r.target for r in http_proxy.requests]


# ---------------------------------------------------------------- environment


@pytest.mark.parametrize("variable", ["http_proxy", "all_proxy", "ALL_PROXY"])
def test_proxy_from_environment_when_no_option(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner, variable: str
) -> None:
    url = fault_server.url("/env.bin", size=SIZE, seed=6)
    result, cwd = runner.lixian(url, env={variable: http_proxy.url})
    ok(result)
    assert sha256_of(cwd / "env.bin") == fault_server.expected_sha256(SIZE, 6)
    assert_proxied(http_proxy, fault_server, "/env.bin")


def test_https_proxy_from_environment(
    tls_fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    url = tls_fault_server.url("/envtls.bin", size=SIZE, seed=7)
    ca = f"--ca-certificate={tls_fault_server.ca_pem_path}"
    result, cwd = runner.lixian(ca, url, env={"https_proxy": http_proxy.url})
    ok(result)
    assert sha256_of(cwd / "envtls.bin") == tls_fault_server.expected_sha256(SIZE, 7)
    assert tunnels_to(http_proxy, tls_fault_server)


@pytest.mark.usefixtures("aria2c_available")
@pytest.mark.parametrize("variable", ["http_proxy", "all_proxy"])
def test_environment_proxy_same_as_aria2c(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner, variable: str
) -> None:
    url = fault_server.url("/envref.bin", size=SIZE, seed=8)
    for tool, run in (("aria2c", runner.aria2c), ("lixian", runner.lixian)):
        http_proxy.reset_log()
        fault_server.reset_log()
        with checking(tool):
            result, cwd = run(url, env={variable: http_proxy.url})
            ok(result)
            assert sha256_of(cwd / "envref.bin") == fault_server.expected_sha256(SIZE, 8)
            assert_proxied(http_proxy, fault_server, "/envref.bin")


def test_environment_is_not_used_when_an_option_names_a_proxy(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    """``--http-proxy`` beats ``http_proxy`` (aria2: "The command-line option overrides")."""
    url = fault_server.url("/optenv.bin", size=SIZE, seed=9)
    with ForwardingProxy() as other:
        result, cwd = runner.lixian(
            f"--http-proxy={http_proxy.url}", url, env={"http_proxy": other.url}
        )
        ok(result)
        assert other.requests == []
    assert sha256_of(cwd / "optenv.bin") == fault_server.expected_sha256(SIZE, 9)
    assert_proxied(http_proxy, fault_server, "/optenv.bin")


@pytest.mark.usefixtures("aria2c_available")
def test_env_http_proxy_beats_all_proxy_option_like_aria2c(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    url = fault_server.url("/prec.bin", size=SIZE, seed=10)
    with ForwardingProxy() as general:
        for tool, run in (("aria2c", runner.aria2c), ("lixian", runner.lixian)):
            http_proxy.reset_log()
            general.reset_log()
            fault_server.reset_log()
            with checking(tool):
                result, cwd = run(
                    f"--all-proxy={general.url}", url, env={"http_proxy": http_proxy.url}
                )
                ok(result)
                assert sha256_of(cwd / "prec.bin") == fault_server.expected_sha256(SIZE, 10)
                assert general.requests == [], "used --all-proxy"
                assert_proxied(http_proxy, fault_server, "/prec.bin")


@pytest.mark.usefixtures("aria2c_available")
@pytest.mark.parametrize(
    ("option", "variable", "proxied"),
    [
        ("--http-proxy=", "http_proxy", False),
        ("--all-proxy=", "all_proxy", False),
        ("--no-proxy=", "no_proxy", True),
    ],
)
def test_empty_option_overrides_environment_like_aria2c(
    fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    option: str,
    variable: str,
    proxied: bool,
) -> None:
    url = fault_server.url("/empty.bin", size=SIZE, seed=11)
    env = {variable: "127.0.0.1" if variable == "no_proxy" else http_proxy.url}
    if variable == "no_proxy":
        env["http_proxy"] = http_proxy.url
    for tool, run in (("aria2c", runner.aria2c), ("lixian", runner.lixian)):
        http_proxy.reset_log()
        fault_server.reset_log()
        with checking(tool):
            result, cwd = run(option, url, env=env)
            ok(result)
            assert sha256_of(cwd / "empty.bin") == fault_server.expected_sha256(SIZE, 11)
            if proxied:
                assert_proxied(http_proxy, fault_server, "/empty.bin")
            else:
                assert_direct(http_proxy, fault_server, "/empty.bin")


# ---------------------------------------------------------------- no-proxy


@pytest.mark.parametrize("tool", ["lixian", "aria2c"])
@pytest.mark.parametrize("how", ["option", "env", "env-with-option-proxy"])
def test_no_proxy_is_decided_per_host(
    fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    request: pytest.FixtureRequest,
    tool: str,
    how: str,
) -> None:
    """127.0.0.1 is listed and goes direct; 127.0.0.2 (same server) is not, and is proxied."""
    if tool == "aria2c":
        request.getfixturevalue("aria2c_available")
    run = runner.lixian if tool == "lixian" else runner.aria2c
    args: list[str] = []
    env: dict[str, str] = {}
    if how == "option":
        args = [f"--all-proxy={http_proxy.url}", "--no-proxy=example.invalid,127.0.0.1"]
    elif how == "env":
        env = {"http_proxy": http_proxy.url, "no_proxy": "example.invalid,127.0.0.1"}
    else:
        args = [f"--http-proxy={http_proxy.url}"]
        env = {"no_proxy": "127.0.0.1"}
    near = fault_server.url("/near.bin", size=SIZE, seed=12)
    far = fault_server.url2("/far.bin", size=SIZE, seed=13)
    result, cwd = run(*args, "-Z", near, far, env=env)
    ok(result)
    assert sha256_of(cwd / "near.bin") == fault_server.expected_sha256(SIZE, 12)
    assert sha256_of(cwd / "far.bin") == fault_server.expected_sha256(SIZE, 13)
    assert_proxied(http_proxy, fault_server, "/far.bin", origin=fault_server.base2)
    assert origin_gets(fault_server, "/near.bin") >= 1
    assert all("/near.bin" not in r.target for r in http_proxy.requests)


@pytest.mark.usefixtures("aria2c_available")
@pytest.mark.parametrize("network", ["127.0.0.0/8", "127.0.0.1/32"])
def test_no_proxy_network_with_mask_like_aria2c(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner, network: str
) -> None:
    url = fault_server.url("/cidr.bin", size=SIZE, seed=14)
    for tool, run in (("aria2c", runner.aria2c), ("lixian", runner.lixian)):
        http_proxy.reset_log()
        fault_server.reset_log()
        with checking(tool):
            result, cwd = run(f"--all-proxy={http_proxy.url}", f"--no-proxy={network}", url)
            ok(result)
            assert sha256_of(cwd / "cidr.bin") == fault_server.expected_sha256(SIZE, 14)
            assert_direct(http_proxy, fault_server, "/cidr.bin")


# ---------------------------------------------------------------- proxy authentication


@pytest.mark.parametrize("tool", ["lixian", "aria2c"])
@pytest.mark.parametrize("how", ["option", "env"])
def test_credentials_in_proxy_url(
    fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    request: pytest.FixtureRequest,
    tool: str,
    how: str,
) -> None:
    if tool == "aria2c":
        request.getfixturevalue("aria2c_available")
    run = runner.lixian if tool == "lixian" else runner.aria2c
    http_proxy.require_auth(USER, PASSWORD)
    proxy = http_proxy.url_with_credentials(USER, PASSWORD)
    url = fault_server.url("/auth.bin", size=SIZE, seed=15)
    if how == "option":
        result, cwd = run(f"--all-proxy={proxy}", url)
    else:
        result, cwd = run(url, env={"http_proxy": proxy})
    ok(result)
    assert sha256_of(cwd / "auth.bin") == fault_server.expected_sha256(SIZE, 15)
    assert_proxied(http_proxy, fault_server, "/auth.bin")
    assert all(r.outcome != "denied" for r in http_proxy.requests), "sent up front"
    # Proxy credentials are for the proxy: the origin never sees them.
    for record in fault_server.requests:
        assert record.header("Proxy-Authorization") is None
        assert record.header("Authorization") is None
    assert PASSWORD not in output(result)
    assert quote(PASSWORD, safe="") not in output(result)


@pytest.mark.parametrize("tool", ["lixian", "aria2c"])
def test_credentials_in_proxy_url_for_https_tunnel(
    tls_fault_server: FaultServer,
    http_proxy: ForwardingProxy,
    runner: Runner,
    request: pytest.FixtureRequest,
    tool: str,
) -> None:
    if tool == "aria2c":
        request.getfixturevalue("aria2c_available")
    run = runner.lixian if tool == "lixian" else runner.aria2c
    http_proxy.require_auth(USER, PASSWORD)
    url = tls_fault_server.url("/authtls.bin", size=SIZE, seed=16)
    result, cwd = run(
        f"--https-proxy={http_proxy.url_with_credentials(USER, PASSWORD)}",
        f"--ca-certificate={tls_fault_server.ca_pem_path}",
        url,
    )
    ok(result)
    assert sha256_of(cwd / "authtls.bin") == tls_fault_server.expected_sha256(SIZE, 16)
    assert tunnels_to(http_proxy, tls_fault_server)
    assert all(r.outcome != "denied" for r in http_proxy.requests)


@pytest.mark.usefixtures("aria2c_available")
@pytest.mark.parametrize("credentials", ["wrong", "none"])
def test_rejected_proxy_credentials_fail_clearly_like_aria2c(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner, credentials: str
) -> None:
    http_proxy.require_auth(USER, PASSWORD)
    proxy = (
        http_proxy.url_with_credentials(USER, WRONG_PASSWORD)
        if credentials == "wrong"
        else http_proxy.url
    )
    url = fault_server.url("/denied.bin", size=SIZE, seed=17)
    reference, _ = runner.aria2c(f"--all-proxy={proxy}", url)
    result, cwd = runner.lixian(f"--all-proxy={proxy}", url)
    assert result.returncode != 0
    assert result.returncode == reference.returncode == 22
    assert "407" in output(result), output(result)
    assert WRONG_PASSWORD not in output(result)
    assert not (cwd / "denied.bin").exists() or (cwd / "denied.bin").stat().st_size == 0
    assert fault_server.requests_for("/denied.bin") == [], "nothing reached the origin"
    assert all(r.status == 407 for r in http_proxy.requests)


def _wrong_https_proxy_run(
    tls_fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> subprocess.CompletedProcess[str]:
    http_proxy.require_auth(USER, PASSWORD)
    url = tls_fault_server.url("/deniedtls.bin", size=SIZE, seed=18)
    result, _ = runner.lixian(
        f"--https-proxy={http_proxy.url_with_credentials(USER, WRONG_PASSWORD)}",
        f"--ca-certificate={tls_fault_server.ca_pem_path}",
        url,
    )
    assert result.returncode != 0
    assert "407" in output(result), output(result)
    assert tls_fault_server.requests == [], "nothing reached the origin"
    return result


def test_rejected_tunnel_credentials_are_not_printed(
    tls_fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    result = _wrong_https_proxy_run(tls_fault_server, http_proxy, runner)
    assert WRONG_PASSWORD not in output(result)


def test_rejected_tunnel_credentials_are_not_retried(
    tls_fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    _wrong_https_proxy_run(tls_fault_server, http_proxy, runner)
    assert len(http_proxy.requests) == 1, [(r.method, r.status) for r in http_proxy.requests]


def test_rejected_credentials_are_not_retried_over_http(
    fault_server: FaultServer, http_proxy: ForwardingProxy, runner: Runner
) -> None:
    http_proxy.require_auth(USER, PASSWORD)
    url = fault_server.url("/once.bin", size=SIZE, seed=19)
    result, _ = runner.lixian(
        f"--all-proxy={http_proxy.url_with_credentials(USER, WRONG_PASSWORD)}", url
    )
    assert result.returncode == 22
    assert len(http_proxy.requests) == 1
