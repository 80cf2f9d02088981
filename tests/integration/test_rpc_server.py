"""The daemon's transports, end to end: a real ``lixian serve`` and real clients.

JSON-RPC over POST (single, batch), GET (base64 params, JSONP), WebSocket (calls and
notifications), XML-RPC through ``xmlrpc.client``, and aria2p. HTTP statuses are the
ones aria2c 1.37 sends (measured): a failed call 400, malformed JSON 500, a batch 200.
Downloads go to the fault server on loopback and are checked by sha256.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

import aiohttp
import aria2p
import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    Daemon,
    Serve,
    get,
    get_params,
    post,
    send,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
    sha256,
)

from fixtures.fault_server import FaultServer

JSON = {"Content-Type": "application/json"}
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


def rpc_body(method: str, *params: object, ident: object = 1) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}).encode()


def test_post_statuses_and_error_shapes_match_aria2(serve: Serve) -> None:
    daemon = serve.start()
    status, headers, body = post(daemon.url, rpc_body("aria2.getVersion"), JSON)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json-rpc")
    assert json.loads(body)["result"]["version"]

    status, _, body = post(daemon.url, rpc_body("aria2.nope"), JSON)
    assert status == 400
    assert json.loads(body) == {
        "id": 1,
        "jsonrpc": "2.0",
        "error": {"code": 1, "message": "No such method: aria2.nope"},
    }
    status, _, body = post(daemon.url, rpc_body("aria2.tellStatus", "2089b05ecca3d829"), JSON)
    assert (status, json.loads(body)["error"]["message"]) == (
        400,
        "GID 2089b05ecca3d829 is not found",
    )
    status, _, body = post(daemon.url, b'{"jsonrpc": "2.0", "id": 1, "meth', JSON)
    assert status == 500
    assert json.loads(body) == {
        "id": None,
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error."},
    }


def test_batch_is_200_with_each_answer(serve: Serve) -> None:
    daemon = serve.start()
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "system.listNotifications"},
        {"jsonrpc": "2.0", "id": "b", "method": "aria2.nope", "params": []},
    ]
    status, _, body = post(daemon.url, json.dumps(batch).encode(), JSON)
    assert status == 200
    first, second = json.loads(body)
    assert first["id"] == "a"
    assert "aria2.onDownloadComplete" in first["result"]
    assert second == {
        "id": "b",
        "jsonrpc": "2.0",
        "error": {"code": 1, "message": "No such method: aria2.nope"},
    }


def test_get_form_with_base64_params(serve: Serve) -> None:
    daemon = serve.start()
    gid = daemon.call("aria2.addUri", ["http://127.0.0.1:9/f"], {"pause": "true"})
    query = f"method=aria2.tellStatus&id=7&params={get_params([gid, ['gid', 'status']])}"
    status, _, body = get(f"{daemon.url}?{query}")
    assert status == 200
    assert json.loads(body) == {
        "id": "7",  # a query string carries text, and aria2 echoes it as text
        "jsonrpc": "2.0",
        "result": {"gid": gid, "status": "paused"},
    }
    status, _, body = get(f"{daemon.url}?method=aria2.tellStatus&id=8&params={get_params(['x'])}")
    assert (status, json.loads(body)["error"]["message"]) == (400, "Invalid GID x")
    status, _, body = get(f"{daemon.url}?method=aria2.getVersion&id=9&params=%%%")
    assert status == 500
    assert json.loads(body)["error"]["code"] == -32700


def test_jsonp_only_with_a_secret(serve: Serve) -> None:
    open_daemon = serve.start()
    status, _, _ = get(f"{open_daemon.url}?method=system.listMethods&id=1&jsoncallback=cb")
    assert status == 403
    daemon = serve.start(secret="s3")
    params = get_params(["token:s3"])
    status, headers, body = get(
        f"{daemon.url}?method=aria2.getVersion&id=1&params={params}&jsoncallback=cb"
    )
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    text = body.decode()
    assert text.startswith("cb({") and text.endswith("})")
    status, _, _ = get(f"{daemon.url}?method=aria2.getVersion&id=1&jsoncallback=alert(1)//")
    assert status == 400


async def _receive_json(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await asyncio.wait_for(ws.receive(), 30)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def test_websocket_carries_calls_and_notifications(
    serve: Serve, fault_server: FaultServer
) -> None:
    daemon = serve.start()
    size = 3 * 1024 * 1024 + 17
    url = fault_server.url("/ws.bin", size=size, seed=11)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(daemon.url) as ws,
        session.ws_connect(daemon.url) as listener,  # notifications go to every socket
    ):
        await ws.send_str(rpc_body("aria2.addUri", [url], {"pause": "true"}, ident="add").decode())
        reply = await _receive_json(ws)
        assert reply["id"] == "add"
        gid = reply["result"]
        await ws.send_str(rpc_body("aria2.tellStatus", gid, ["status"], ident=2).decode())
        assert (await _receive_json(ws))["result"] == {"status": "paused"}
        await ws.send_str(json.dumps([json.loads(rpc_body("aria2.unpause", gid, ident=3))]))
        seen: list[str] = []
        answered = False
        while "aria2.onDownloadComplete" not in seen:
            message = await _receive_json(ws)
            if isinstance(message, list):
                assert message == [{"id": 3, "jsonrpc": "2.0", "result": gid}]
                answered = True
                continue
            assert message["params"] == [{"gid": gid}]
            seen.append(message["method"])
        assert answered
        assert seen == ["aria2.onDownloadStart", "aria2.onDownloadComplete"]
        heard = [(await _receive_json(listener))["method"] for _ in range(2)]
        assert heard == seen
        await ws.send_str("{not json")
        assert (await _receive_json(ws))["error"] == {"code": -32700, "message": "Parse error."}
    info = daemon.call("aria2.tellStatus", gid)
    assert isinstance(info, dict)
    assert info["status"] == "complete"
    assert sha256(Path(info["files"][0]["path"])) == fault_server.expected_sha256(size, 11)


def test_xmlrpc_client_drives_add_status_pause_remove(
    serve: Serve, fault_server: FaultServer
) -> None:
    daemon = serve.start(secret="x")
    proxy = xmlrpc.client.ServerProxy(daemon.base + "/rpc")
    size = 200_000
    gid = proxy.aria2.addUri("token:x", [fault_server.url("/x.bin", size=size, seed=5)])
    assert isinstance(gid, str)
    deadline = time.monotonic() + 30
    while (status := proxy.aria2.tellStatus("token:x", gid, ["status", "files"]))[
        "status"
    ] != "complete":
        assert status["status"] in ("waiting", "active")
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sha256(Path(status["files"][0]["path"])) == fault_server.expected_sha256(size, 5)

    other = proxy.aria2.addUri("token:x", ["http://127.0.0.1:9/y"], {"pause": "true"})
    assert proxy.aria2.tellStatus("token:x", other, ["status"]) == {"status": "paused"}
    assert proxy.aria2.remove("token:x", other) == other
    with pytest.raises(xmlrpc.client.Fault) as fault:  # a removed paused task is forgotten
        proxy.aria2.tellStatus("token:x", other, ["status"])
    assert fault.value.faultString == f"GID {other} is not found"
    assert proxy.aria2.tellWaiting("token:x", 0, 10) == []

    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.aria2.tellStatus("token:x", "0123456789abcdef")
    assert (fault.value.faultCode, fault.value.faultString) == (
        1,
        "GID 0123456789abcdef is not found",
    )
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy.aria2.getVersion("token:wrong")
    assert fault.value.faultString == "Unauthorized"
    calls = [
        {"methodName": "aria2.getVersion", "params": ["token:x"]},
        {"methodName": "aria2.nope", "params": ["token:x"]},
    ]
    ok, bad = proxy.system.multicall(calls)
    assert isinstance(ok, list) and ok[0]["version"]
    assert bad == {"faultCode": 1, "faultString": "No such method: aria2.nope"}
    status_code, _, body = post(daemon.base + "/rpc", b"<methodCall><oops")
    assert (status_code, body) == (400, b"")


def test_aria2p_drives_a_download(serve: Serve, fault_server: FaultServer) -> None:
    daemon = serve.start(secret="with spaces too")
    api = aria2p.API(
        aria2p.Client(host="http://127.0.0.1", port=daemon.port, secret="with spaces too")
    )
    size = 1_500_000
    download = api.add_uris([fault_server.url("/p.bin", size=size, seed=9)], {"pause": "true"})
    download.update()
    assert download.status == "paused"
    assert api.resume([download]) == [True]
    deadline = time.monotonic() + 30
    while not download.is_complete:
        assert not download.has_failed, download.error_message
        assert time.monotonic() < deadline
        time.sleep(0.05)
        download.update()
    assert sha256(download.files[0].path) == fault_server.expected_sha256(size, 9)
    assert [d.gid for d in api.get_downloads()] == [download.gid]
    assert api.purge()
    assert api.get_downloads() == []


def test_cors_only_with_allow_origin_all(serve: Serve) -> None:
    plain = serve.start()
    status, headers, _ = post(plain.url, rpc_body("system.listMethods"), JSON)
    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, _ = send("OPTIONS", plain.url, PREFLIGHT)
    assert "Access-Control-Allow-Methods" not in headers

    daemon = serve.start("--rpc-allow-origin-all")
    secret = printed_secret(daemon)
    origin = {"Origin": "https://ariang.example"}
    status, headers, body = post(
        daemon.url, rpc_body("aria2.getVersion", f"token:{secret}"), {**JSON, **origin}
    )
    assert status == 200, body
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, headers, _ = send("OPTIONS", daemon.url, {**PREFLIGHT, **origin})
    assert status == 200
    assert "POST" in headers["Access-Control-Allow-Methods"]


def printed_secret(daemon: Daemon) -> str:
    for line in daemon.stdout().splitlines():
        if line.strip().startswith("rpc-secret="):
            return line.strip().removeprefix("rpc-secret=")
    raise AssertionError(f"no secret printed:\n{daemon.stdout()}")


def test_page_at_root_has_no_inline_script(serve: Serve) -> None:
    """The page (or its placeholder when the bundle is not built) under a strict CSP."""
    daemon = serve.start()
    status, headers, body = get(daemon.base + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", body) is None  # no inline script


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"[1, 2]", 200, None),  # a batch of non-objects: aria2 answers []
        (b'{"jsonrpc": "2.0", "id": 1}', 400, "Invalid Request."),
        (b'{"jsonrpc": "2.0", "method": "aria2.getVersion"}', 400, "Invalid Request."),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', 400, "Invalid Request."),
        (rpc_body("aria2.tellStatus", 5), 400, "The parameter at 0 has wrong type."),
        (rpc_body("aria2.tellWaiting", "a", "b"), 400, "The parameter at 0 has wrong type."),
        (rpc_body("aria2.addUri", "not a list"), 400, "The parameter at 0 has wrong type."),
        (rpc_body("aria2.remove", "zz"), 400, "Invalid GID zz"),
        (b"[" * 100_000, 500, "Parse error."),
        (b"\xff\xfe", 500, "Parse error."),
        (b"", 500, "Parse error."),
    ],
)
def test_bad_input_gets_aria2s_error_never_a_crash(
    serve: Serve, body: bytes, status: int, message: str | None
) -> None:
    daemon = serve.start()
    got, _, raw = post(daemon.url, body, JSON)
    assert got == status, raw
    answer = json.loads(raw)
    if message is None:
        assert answer == []
    else:
        assert answer["error"]["message"] == message
    assert daemon.call("system.listMethods")  # still serving


def test_shutdown_over_rpc_answers_then_exits_0(serve: Serve) -> None:
    daemon = serve.start()
    assert daemon.call("aria2.shutdown") == "OK"
    assert daemon.proc.wait(30) == 0
