"""DESIGN.md's security model, point by point, against a real daemon.

A page the user visits is the attacker here: it can rebind a DNS name to 127.0.0.1,
POST ``text/plain`` JSON without a preflight, open a WebSocket, or load a GET call as an
image. Tunnels and reverse proxies connect from 127.0.0.1, so their headers are what
tells them apart. And an RPC client with the secret must still not write outside the
download roots, nor set a command to run.

The pure decisions (``AccessPolicy``, ``Confiner``, ``secret_required``) are checked
in-process first; the rest goes through ``lixian serve``.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import aiohttp
import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    RpcFailure,
    Serve,
    get,
    get_params,
    post,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
)

from lixian.cli.serve import configure
from lixian.rpc.errors import RpcError
from lixian.rpc.security import AccessPolicy, Confiner, secret_required

JSON = {"Content-Type": "application/json"}
EVIL = "http://evil.example"


def body(method: str, *params: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


# ---- the decisions, in-process ----


@pytest.mark.parametrize(
    ("host", "listen_all", "origin_all", "required"),
    [
        ("127.0.0.1", False, False, False),
        ("localhost", False, False, False),
        ("::1", False, False, False),
        ("127.0.0.2", False, False, False),
        ("127.0.0.1", True, False, True),
        ("0.0.0.0", False, False, True),
        ("192.168.1.5", False, False, True),
        ("127.0.0.1", False, True, True),
    ],
)
def test_secret_required_whenever_others_can_reach(
    host: str, listen_all: bool, origin_all: bool, required: bool
) -> None:
    reason = secret_required(host=host, listen_all=listen_all, allow_origin_all=origin_all)
    assert (reason is not None) is required


def test_listen_all_without_secret_generates_one_printed_once(tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite3"
    first = configure(["--rpc-listen-all", f"--state={state}"])
    assert first.secret and len(first.secret) >= 32
    assert any(f"rpc-secret={first.secret}" in n for n in first.notices)
    assert state.with_suffix(".secret").stat().st_mode & 0o077 == 0
    again = configure(["--rpc-listen-all=true", f"--state={state}"])
    assert again.secret == first.secret  # kept, so clients keep working after a restart
    assert not any(first.secret in n for n in again.notices)  # printed once, not every start
    given = configure(["--rpc-listen-all", "--secret=mine", f"--state={state}"])
    assert (given.secret, given.notices) == ("mine", [])


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"Host": "127.0.0.1:6800"}, False),
        ({"Host": "localhost:1234"}, False),
        ({"Host": "[::1]:6800"}, False),
        ({"Host": "LOCALHOST."}, False),
        ({"Host": "10.1.2.3:6800"}, False),  # an IP literal cannot be a rebound name
        ({"Host": "evil.example:6800"}, True),
        ({"Host": "localhost.evil.example"}, True),
        ({}, True),
        ({"Host": "127.0.0.1:6800", "Origin": "http://127.0.0.1:6800"}, False),
        ({"Host": "localhost:6800", "Origin": "http://localhost:6800"}, False),
        ({"Host": "127.0.0.1:6800", "Origin": "http://localhost:6800"}, True),
        ({"Host": "127.0.0.1:6800", "Origin": EVIL}, True),
        ({"Host": "127.0.0.1:6800", "Origin": "null"}, True),
        ({"Host": "127.0.0.1:6800", "Sec-Fetch-Site": "cross-site"}, True),
        ({"Host": "127.0.0.1:6800", "Sec-Fetch-Site": "same-origin"}, False),
        ({"Host": "127.0.0.1:6800", "X-Forwarded-For": "1.2.3.4"}, True),
        ({"Host": "127.0.0.1:6800", "Forwarded": "for=1.2.3.4"}, True),
        ({"Host": "127.0.0.1:6800", "CF-Connecting-IP": "1.2.3.4"}, True),
    ],
)
def test_access_policy_without_secret(headers: dict[str, str], refused: bool) -> None:
    assert (AccessPolicy(secret=None).check(headers) is not None) is refused


def test_access_policy_with_secret_and_allow_origin_all() -> None:
    policy = AccessPolicy(secret="s", allow_origin_all=True)
    assert policy.check({"Host": "127.0.0.1:1", "Origin": EVIL}) is None
    assert policy.check({"Host": "127.0.0.1:1", "X-Forwarded-For": "1.2.3.4"}) is None
    # a tunnel's public name is fine once every call needs the secret
    assert policy.check({"Host": "abc.trycloudflare.com", "CF-Connecting-IP": "1.2.3.4"}) is None
    assert policy.check({"Host": "evil.example"}) is not None  # not public, not proxied
    public = AccessPolicy(secret="s", host="0.0.0.0", public=True)
    assert public.check({"Host": "mybox.lan:6800"}) is None
    assert public.check({"Host": "mybox.lan:6800", "Origin": EVIL}) is not None


def test_confiner_keeps_paths_inside_the_roots(tmp_path: Path) -> None:
    root = tmp_path / "dl"
    (root / "sub").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    state = tmp_path / "state" / "state-6800.sqlite3"
    confine = Confiner([root], state)
    assert confine("dir", "sub") == str(root / "sub")
    assert confine("dir", str(root / "new" / "deeper")) == str(root / "new" / "deeper")
    assert confine("save-session", str(state.parent / "session.txt")) == str(
        state.parent / "session.txt"
    )
    assert confine("out", "sub/a.iso") == "sub/a.iso"
    assert confine("split", "4") == "4"
    refused = [
        ("dir", "/etc"),
        ("dir", "../x"),
        ("dir", "escape"),
        ("dir", "${HOME}"),
        ("out", "../../.ssh/authorized_keys"),
        ("out", "/etc/passwd"),
        ("index-out", "1=../x"),
        ("log", "/tmp/x.log"),
        ("log", str(state)),  # the daemon's own database
        ("save-session", str(state.with_suffix(".secret"))),
        ("save-session", str(state.parent / "state-6801.sqlite3")),  # another daemon's
        ("on-download-complete", "/bin/sh"),
        ("dir", "a\x00b"),
    ]
    for name, value in refused:
        with pytest.raises(RpcError):
            confine(name, value)


# ---- the daemon ----


def test_dns_rebinding_host_refused_on_every_transport(serve: Serve) -> None:
    daemon = serve.start()
    rebound = {"Host": f"attacker.example:{daemon.port}"}
    status, _, raw = post(daemon.url, body("aria2.getVersion"), {**JSON, **rebound})
    assert status == 403
    assert "DNS rebinding" in json.loads(raw)["error"]["message"]
    assert get(f"{daemon.url}?method=system.listMethods&id=1", rebound)[0] == 403
    assert post(daemon.base + "/rpc", b"<methodCall/>", rebound)[0] == 403
    assert get(daemon.base + "/", rebound)[0] == 403
    for host in (f"localhost:{daemon.port}", f"[::1]:{daemon.port}", "127.0.0.1"):
        assert post(daemon.url, body("aria2.getVersion"), {**JSON, "Host": host})[0] == 200


async def test_rebound_or_cross_site_websocket_refused(serve: Serve) -> None:
    daemon = serve.start()
    async with aiohttp.ClientSession() as session:
        for headers in (
            {"Origin": EVIL},
            {"Host": f"attacker.example:{daemon.port}"},
            {"Origin": "null"},
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(daemon.url, headers=headers)
            assert info.value.status == 403
        own = {"Origin": daemon.base}
        for headers in ({}, own):  # no Origin: a non-browser client; own page: ours
            async with session.ws_connect(daemon.url, headers=headers) as ws:
                await ws.send_str(body("system.listNotifications").decode())
                reply = json.loads((await ws.receive(timeout=10)).data)
                assert "aria2.onDownloadStart" in reply["result"]


def test_cross_origin_text_plain_post_refused(serve: Serve) -> None:
    daemon = serve.start()
    add = body("aria2.addUri", ["http://127.0.0.1:9/x"])
    plain = {"Content-Type": "text/plain;charset=UTF-8"}
    status, _, raw = post(daemon.url, add, {**plain, "Origin": EVIL})
    assert status == 403
    assert "cross-origin" in json.loads(raw)["error"]["message"]
    assert daemon.call("aria2.tellWaiting", 0, 10) == []  # nothing was added
    # the same call from a non-browser client (no Origin) or our own page passes
    assert post(daemon.url, add, plain)[0] == 200
    assert post(daemon.url, add, {**plain, "Origin": daemon.base})[0] == 200


def test_cross_site_get_without_origin_refused(serve: Serve) -> None:
    """``<img src=".../jsonrpc?method=aria2.addUri&params=...">``: no Origin header,
    but the browser says where it came from."""
    daemon = serve.start()
    params = get_params([["http://127.0.0.1:9/x"]])
    url = f"{daemon.url}?method=aria2.addUri&id=1&params={params}"
    assert get(url, {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"})[0] == 403
    assert daemon.call("aria2.tellWaiting", 0, 10) == []


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "CF-Connecting-IP"])
def test_proxied_request_without_secret_refused_with_clear_error(serve: Serve, header: str) -> None:
    daemon = serve.start()
    status, _, raw = post(daemon.url, body("aria2.getVersion"), {**JSON, header: "for=1.2.3.4"})
    assert status == 403
    message = json.loads(raw)["error"]["message"]
    assert "proxy or tunnel" in message and "--rpc-secret" in message


def test_proxied_request_with_secret_needs_the_token(serve: Serve) -> None:
    daemon = serve.start(secret="tunnel-secret")
    proxied = {**JSON, "X-Forwarded-For": "1.2.3.4", "Host": "abc.trycloudflare.com"}
    status, _, raw = post(daemon.url, body("aria2.getVersion", "token:tunnel-secret"), proxied)
    assert status == 200, raw
    status, _, raw = post(daemon.url, body("aria2.getVersion", "token:guess"), proxied)
    assert (status, json.loads(raw)["error"]["message"]) == (400, "Unauthorized")


def test_allow_origin_all_generates_and_prints_a_secret(serve: Serve) -> None:
    daemon = serve.start("--rpc-allow-origin-all")
    secret = next(
        line.strip().removeprefix("rpc-secret=")
        for line in daemon.stdout().splitlines()
        if line.strip().startswith("rpc-secret=")
    )
    assert "--rpc-allow-origin-all" in daemon.stdout()
    daemon.secret = secret
    with pytest.raises(RpcFailure) as info:
        daemon.call("aria2.getVersion", token=False)
    assert info.value.message == "Unauthorized"
    assert daemon.call("aria2.getVersion")


def test_wrong_token_is_slowed_right_one_is_not_refused(serve: Serve) -> None:
    daemon = serve.start(secret="right")
    started = time.monotonic()
    status, _, raw = post(daemon.url, body("aria2.getVersion", "token:wrong"), JSON)
    assert (status, json.loads(raw)["error"]["message"]) == (400, "Unauthorized")
    assert time.monotonic() - started >= 0.9  # the dispatcher's delay (1 s), a lower bound
    assert post(daemon.url, body("aria2.getVersion", "token:right"), JSON)[0] == 200


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("aria2.addUri", [["http://127.0.0.1:9/x"], {"dir": "/etc"}]),
        ("aria2.addUri", [["http://127.0.0.1:9/x"], {"dir": "../outside"}]),
        ("aria2.addUri", [["http://127.0.0.1:9/x"], {"out": "../../.ssh/authorized_keys"}]),
        ("aria2.addUri", [["http://127.0.0.1:9/x"], {"out": "/tmp/x"}]),
        ("aria2.changeGlobalOption", [{"dir": "/"}]),
        ("aria2.changeGlobalOption", [{"save-session": "/tmp/evil-session"}]),
        ("aria2.changeGlobalOption", [{"log": "/tmp/evil.log"}]),
    ],
)
def test_path_escape_over_rpc_refused(serve: Serve, method: str, params: list[object]) -> None:
    daemon = serve.start()
    with pytest.raises(RpcFailure) as info:
        daemon.call(method, *params)
    assert info.value.status == 400
    assert daemon.call("aria2.tellWaiting", 0, 10) == []
    options = daemon.call("aria2.getGlobalOption")
    assert isinstance(options, dict)
    assert options["dir"] == str(daemon.dir)
    assert "save-session" not in options or options["save-session"] != "/tmp/evil-session"


def test_paths_inside_the_root_are_accepted(serve: Serve) -> None:
    daemon = serve.start()
    gid = daemon.call("aria2.addUri", ["http://127.0.0.1:9/x"], {"dir": "sub", "pause": "true"})
    assert isinstance(gid, str)
    assert daemon.call("aria2.tellStatus", gid, ["dir"]) == {"dir": str(daemon.dir / "sub")}
    daemon.call("aria2.changeOption", gid, {"out": "inner/name.bin"})
    assert daemon.call("aria2.getOption", gid)["out"] == "inner/name.bin"  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("aria2.addUri", [["http://127.0.0.1:9/x"], {"on-download-complete": "/bin/sh"}]),
        ("aria2.changeGlobalOption", [{"on-download-complete": "/bin/sh"}]),
        ("aria2.changeGlobalOption", [{"on-download-start": "/bin/sh"}]),
    ],
)
def test_hooks_cannot_be_set_over_rpc(serve: Serve, method: str, params: list[object]) -> None:
    daemon = serve.start()
    with pytest.raises(RpcFailure) as info:
        daemon.call(method, *params)
    assert "on-download-" in info.value.message


async def test_oversize_bodies_refused_and_the_daemon_lives_on(serve: Serve) -> None:
    daemon = serve.start("--rpc-max-request-size=64K")
    big = body("aria2.addUri", ["http://127.0.0.1:9/" + "a" * 70_000])
    status, _, raw = post(daemon.url, big, JSON)
    assert status == 413
    assert "rpc-max-request-size" in json.loads(raw)["error"]["message"]
    assert post(daemon.base + "/rpc", b"<x>" + b" " * 70_000 + b"</x>")[0] == 413
    async with aiohttp.ClientSession() as session, session.ws_connect(daemon.url) as ws:
        await ws.send_str(big.decode())
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert daemon.call("aria2.tellWaiting", 0, 10) == []


async def test_secret_never_in_the_log(serve: Serve, tmp_path: Path) -> None:
    secret = "Sup3r-S3cret-Token"
    log = tmp_path / "lixian.log"
    daemon = serve.start(f"--log={log}", "--log-level=debug", secret=secret)
    token = f"token:{secret}"
    post(daemon.url, body("aria2.getVersion", token), JSON)
    post(daemon.url, body("aria2.getVersion", "token:wrong"), JSON)
    get(f"{daemon.url}?method=aria2.getVersion&id=1&params={get_params([token])}")
    get(f"{daemon.url}?method=aria2.getVersion&id=1&params={get_params([token])}&jsoncallback=f")
    post(daemon.url, body("aria2.getVersion", token), {**JSON, "Origin": EVIL})
    async with aiohttp.ClientSession() as session, session.ws_connect(daemon.url) as ws:
        await ws.send_str(body("aria2.getGlobalOption", token).decode())
        options = json.loads((await ws.receive(timeout=10)).data)["result"]
        assert secret not in json.dumps(options)  # getGlobalOption does not show it either
    daemon.call("aria2.addUri", ["http://127.0.0.1:9/x"], {"pause": "true"})
    assert daemon.terminate() == 0
    text = log.read_text()
    assert "POST /jsonrpc" in text  # the access log is there ...
    assert "GET /jsonrpc" in text
    encoded = base64.b64encode(json.dumps([token]).encode()).decode()
    for leak in (secret, encoded, "params="):  # ... without the token or a query string
        for output in (text, daemon.stdout(), daemon.stderr()):
            assert leak not in output
