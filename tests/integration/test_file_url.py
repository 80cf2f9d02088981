"""``lixian.fileUrl`` and ``GET /files/<token>/<name>`` against a real ``lixian serve``.

A link streams the downloaded file with Range (the bytes checked against the fault
server's content, the whole by sha256), HEAD, validators and 416; the token is bound to
one path and one expiry (an altered, re-pointed, misnamed or expired link is 403, and
asking again renews it); a path outside the download roots is refused, also when a
symlink is swapped in after signing; a file still downloading serves its contiguous
prefix and never claims its full length; the secret never appears in a URL; and the
Host/Origin checks still apply (a cross-site request is refused, a ``<video>`` on the
daemon's own page is served).
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from test_serve import (  # the daemon fixture lives with the `lixian serve` tests
    Daemon,
    RpcFailure,
    Serve,
    get,
    send,
    serve_fixture,  # noqa: F401  (the `serve` fixture)
)

from fixtures.fault_server import FaultServer

SECRET = "file-url-secret"
MB = 1 << 20


def finished(daemon: Daemon, url: str, options: dict[str, str] | None = None) -> str:
    gid = daemon.call("aria2.addUri", [url], options or {})
    assert isinstance(gid, str)
    daemon.wait_for(gid, "complete")
    return gid


def link_for(daemon: Daemon, gid: str, *params: object) -> tuple[str, int]:
    answer = daemon.call("lixian.fileUrl", gid, *params)
    assert isinstance(answer, dict)
    assert set(answer) == {"url", "expires"}
    return daemon.base + answer["url"], answer["expires"]


def token_parts(url: str) -> tuple[list[object], str, str]:
    """(decoded payload, its base64 text, the MAC's text) of a /files URL."""
    token = url.split("/files/", 1)[1].split("/")[0]
    head, _, mac = token.partition(".")
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    return payload, head, mac


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_link_streams_the_file_with_ranges(serve: Serve, fault_server: FaultServer) -> None:
    daemon = serve.start(secret=SECRET)
    size, seed = 3 * MB + 17, 31
    body = fault_server.expected(size, seed)
    gid = finished(daemon, fault_server.url("/movie.mp4", size=size, seed=seed))
    before = time.time()
    url, expires = link_for(daemon, gid, 1)
    assert url.startswith(f"{daemon.base}/files/") and url.endswith("/movie.mp4")
    assert SECRET not in url and b64(SECRET.encode()) not in url
    assert before + 590 <= expires <= time.time() + 610  # ten minutes by default

    status, headers, whole = get(url)
    assert status == 200
    assert hashlib.sha256(whole).hexdigest() == fault_server.expected_sha256(size, seed)
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Content-Type"] == "video/mp4"
    assert int(headers["Content-Length"]) == size
    etag, modified = headers["ETag"], headers["Last-Modified"]
    assert etag.startswith('"') and email.utils.parsedate_to_datetime(modified)
    assert "sandbox" in headers["Content-Security-Policy"]

    status, head, nothing = send("HEAD", url)
    assert (status, nothing, int(head["Content-Length"]), head["ETag"]) == (200, b"", size, etag)

    # The whole file again, a mebibyte at a time, as a player would.
    parts = []
    for start in range(0, size, MB):
        end = min(start + MB, size) - 1
        status, headers, part = get(url, {"Range": f"bytes={start}-{end}"})
        assert status == 206
        assert headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert int(headers["Content-Length"]) == len(part) == end - start + 1
        parts.append(part)
    assert hashlib.sha256(b"".join(parts)).hexdigest() == fault_server.expected_sha256(size, seed)

    cases = {
        "bytes=-1000": (206, body[-1000:], f"bytes {size - 1000}-{size - 1}/{size}"),
        f"bytes={size - 5}-": (206, body[-5:], f"bytes {size - 5}-{size - 1}/{size}"),
        f"bytes=100-{size + 100}": (206, body[100:], f"bytes 100-{size - 1}/{size}"),
        f"bytes={size}-": (416, b"", f"bytes */{size}"),
        "bytes=-0": (416, b"", f"bytes */{size}"),
        "bytes=0-0,5-6": (200, body, None),  # several ranges: ignored, the whole file
        "bytes=9-3": (200, body, None),  # invalid: ignored
        "items=0-3": (200, body, None),
    }
    for value, (want_status, want_body, want_range) in cases.items():
        status, headers, got = get(url, {"Range": value})
        assert (status, got, headers.get("Content-Range")) == (
            want_status,
            want_body,
            want_range,
        ), value

    status, _, got = get(url, {"Range": "bytes=0-9", "If-Range": etag})
    assert (status, got) == (206, body[:10])
    status, _, got = get(url, {"Range": "bytes=0-9", "If-Range": '"an-older-version"'})
    assert (status, len(got)) == (200, size)
    status, headers, got = get(url, {"If-None-Match": etag})
    assert (status, got, headers["ETag"]) == (304, b"", etag)


def test_altered_misnamed_and_expired_links_are_refused(
    serve: Serve, fault_server: FaultServer
) -> None:
    daemon = serve.start(secret=SECRET)
    gid_a = finished(daemon, fault_server.url("/a.bin", size=70_000, seed=1))
    gid_b = finished(daemon, fault_server.url("/b.bin", size=80_000, seed=2))
    url_a, _ = link_for(daemon, gid_a)
    url_b, _ = link_for(daemon, gid_b)
    assert get(url_a)[0] == 200
    assert get(url_b)[2] == fault_server.expected(80_000, 2)
    payload_a, head_a, mac_a = token_parts(url_a)
    _, head_b, mac_b = token_parts(url_b)
    base = f"{daemon.base}/files"

    flipped = ("A" if mac_a[0] != "A" else "B") + mac_a[1:]
    padded = mac_a[:-1] + chr(ord(mac_a[-1]) ^ 1)  # the same bytes, spelt otherwise
    expires, gid, root, relative = payload_a
    assert relative == "a.bin"  # relative to the download root: no machine layout
    repointed = b64(json.dumps([expires, gid, root, "b.bin"]).encode())
    later = b64(json.dumps([expires + 3600, gid, root, "a.bin"]).encode())
    escaping = b64(json.dumps([expires, gid, root, "../../etc/passwd"]).encode())
    refused = {
        "altered signature": f"{base}/{head_a}.{flipped}/a.bin",
        "a non-canonical spelling": f"{base}/{head_a}.{padded}/a.bin",
        "re-pointed at another file": f"{base}/{repointed}.{mac_a}/b.bin",
        "another file's signature": f"{base}/{head_b}.{mac_a}/b.bin",
        "a longer life": f"{base}/{later}.{mac_a}/a.bin",
        "another name": f"{base}/{head_a}.{mac_a}/b.bin",
        "no signature": f"{base}/{head_a}/a.bin",
        "garbage": f"{base}/not-a-token/a.bin",
        "a path outside": f"{base}/{escaping}.{mac_a}/passwd",
        "a malformed payload": f"{base}/{b64(b'[1,1,0,1]')}.{mac_a}/a.bin",
    }
    for what, url in refused.items():
        status, _, text = get(url)
        assert status == 403, what
        assert b"not valid" in text
    assert get(f"{base}/{head_b}.{mac_b}/b.bin")[0] == 200  # the genuine one still works

    short, expires = link_for(daemon, gid_a, 1, 1)  # one second to live
    assert get(short)[0] == 200 or time.time() >= expires
    while time.time() < expires + 0.05:
        time.sleep(0.05)
    assert get(short)[0] == 403
    renewed, _ = link_for(daemon, gid_a, 1)  # asking again renews
    assert get(renewed)[0] == 200

    errors = {
        (gid_a, 2): "The given file index 2 is out of range.",
        (gid_a, 1, 0): "The parameter at 2 must be between 1 and 86400.",
        (gid_a, "1"): "The parameter at 1 has wrong type.",
        ("zz",): "Invalid GID zz",
    }
    for params, message in errors.items():
        with pytest.raises(RpcFailure) as failure:
            daemon.call("lixian.fileUrl", *params)
        assert (failure.value.status, failure.value.message) == (400, message)
    with pytest.raises(RpcFailure) as failure:
        daemon.call("lixian.fileUrl", gid_a, 1, token=False)
    assert failure.value.message == "Unauthorized"


def test_paths_outside_the_download_roots_are_refused(
    serve: Serve, fault_server: FaultServer, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("not for the web\n")
    # The operator's session file may put a task anywhere; a link may not.
    session = tmp_path / "session.txt"
    url = fault_server.url("/elsewhere.bin", size=50_000, seed=7)
    session.write_text(f"{url}\n gid=00000000000000e1\n dir={outside}\n")
    daemon = serve.start(f"--input-file={session}", secret=SECRET)
    daemon.wait_for("00000000000000e1", "complete")
    assert (outside / "elsewhere.bin").stat().st_size == 50_000
    with pytest.raises(RpcFailure) as failure:
        daemon.call("lixian.fileUrl", "00000000000000e1")
    assert "outside the download roots" in failure.value.message

    # A file inside, signed, then swapped for a symlink pointing out: refused.
    gid = finished(daemon, fault_server.url("/inside.bin", size=60_000, seed=8))
    link, _ = link_for(daemon, gid)
    assert get(link)[0] == 200
    inside = daemon.dir / "inside.bin"
    inside.unlink()
    inside.symlink_to(outside / "private.txt")
    status, _, text = get(link)
    assert status == 403 and b"not for the web" not in text
    with pytest.raises(RpcFailure) as failure:
        daemon.call("lixian.fileUrl", gid)
    assert "outside the download roots" in failure.value.message


def test_a_file_still_downloading_serves_its_contiguous_prefix(
    serve: Serve, fault_server: FaultServer
) -> None:
    daemon = serve.start(secret=SECRET)
    size, seed = 2 * MB, 41
    body = fault_server.expected(size, seed)
    url = fault_server.url("/growing.bin", size=size, seed=seed, rate=300_000)
    gid = daemon.call("aria2.addUri", [url], {"split": "1", "max-connection-per-server": "1"})
    assert isinstance(gid, str)
    deadline = time.monotonic() + 30
    while int(daemon.call("aria2.tellStatus", gid, ["completedLength"])["completedLength"]) < (  # type: ignore[index]
        300_000
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    link, _ = link_for(daemon, gid)

    status, headers, prefix = get(link)
    assert status == 200
    available = int(headers["Lixian-Available-Length"])
    assert 262_144 <= available == len(prefix) < size  # what is there, no more
    assert prefix == body[:available]
    assert "ETag" not in headers and "Last-Modified" not in headers
    assert headers["Cache-Control"] == "no-store"
    status, headers, got = get(link, {"Range": "bytes=0-99"})
    assert (status, got, headers["Content-Range"]) == (206, body[:100], "bytes 0-99/*")
    assert get(link, {"Range": f"bytes={size - 10}-"})[0] == 416  # not written yet
    assert get(link, {"Range": "bytes=-10"})[0] == 416  # the end is not there yet

    daemon.call("aria2.pause", gid)  # no engine now: the control file says how much
    daemon.wait_for(gid, "paused")
    status, headers, paused = get(link)
    assert status == 200
    assert available <= len(paused) == int(headers["Lixian-Available-Length"]) < size
    assert paused == body[: len(paused)]

    fast = fault_server.url("/growing.bin", size=size, seed=seed)  # same file, unthrottled
    daemon.call("aria2.changeUri", gid, 1, [url], [fast])
    daemon.call("aria2.unpause", gid)
    daemon.wait_for(gid, "complete")
    status, headers, whole = get(link)  # the same link, now the whole file
    assert status == 200
    assert hashlib.sha256(whole).hexdigest() == fault_server.expected_sha256(size, seed)
    assert "Lixian-Available-Length" not in headers and headers["ETag"]
    status, headers, _ = get(link, {"Range": "bytes=-10"})
    assert (status, headers["Content-Range"]) == (206, f"bytes {size - 10}-{size - 1}/{size}")


def test_host_and_origin_checks_apply_to_files(serve: Serve, fault_server: FaultServer) -> None:
    daemon = serve.start(secret=SECRET)
    gid = finished(daemon, fault_server.url("/clip.webm", size=40_000, seed=9))
    link, _ = link_for(daemon, gid)
    own = f"http://127.0.0.1:{daemon.port}"
    refused = [
        {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "video"},  # <video> elsewhere
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Host": f"evil.example:{daemon.port}"},  # DNS rebinding
    ]
    for headers in refused:
        assert get(link, headers)[0] == 403, headers
    served = [
        {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Dest": "video", "Range": "bytes=0-"},
        {"Origin": own, "Range": "bytes=0-"},
        {"Sec-Fetch-Site": "none"},  # typed into the address bar
    ]
    for headers in served:
        status, got_headers, got = get(link, headers)
        assert status in (200, 206), headers
        assert got == fault_server.expected(40_000, 9)
        assert got_headers["Content-Type"] == "video/webm"


def test_a_segmented_download_serves_no_holes(serve: Serve, fault_server: FaultServer) -> None:
    """Several connections write out of order: only the run from byte 0 is served."""
    daemon = serve.start(secret=SECRET)
    size, seed = 6 * MB, 43
    url = fault_server.url("/segments.bin", size=size, seed=seed, rate=400_000)
    gid = daemon.call("aria2.addUri", [url], {"split": "4", "min-split-size": "1M"})
    assert isinstance(gid, str)
    deadline = time.monotonic() + 30
    while True:
        info = daemon.call("aria2.tellStatus", gid, ["completedLength", "connections"])
        assert isinstance(info, dict)
        if int(info["completedLength"]) >= 2 * MB:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    link, _ = link_for(daemon, gid)
    status, headers, prefix = get(link)
    done = int(daemon.call("aria2.tellStatus", gid, ["completedLength"])["completedLength"])  # type: ignore[index]
    assert status == 200
    assert len(prefix) == int(headers["Lixian-Available-Length"]) < done < size
    assert prefix == fault_server.expected(size, seed)[: len(prefix)]
    daemon.call("aria2.remove", gid)


def test_names_with_spaces_and_unicode(serve: Serve, fault_server: FaultServer) -> None:
    daemon = serve.start(secret=SECRET)
    name = "Über film #1 (2024).mp4"
    gid = finished(daemon, fault_server.url("/x", size=30_000, seed=5, cd=name))
    link, _ = link_for(daemon, gid)
    assert link.endswith("/" + quote(name, safe=""))
    status, headers, got = get(link, {"Range": "bytes=0-"})
    assert (status, got) == (206, fault_server.expected(30_000, 5))
    assert headers["Content-Disposition"] == f"inline; filename*=UTF-8''{quote(name, safe='')}"
    assert get(link.replace("%C3%9Cber", "Uber"))[0] == 403
