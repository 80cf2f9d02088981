"""``rpc/file_links.py`` without a server: tokens, Range parsing, response plans.

The end-to-end behaviour (a real daemon, real files) is in
tests/integration/test_file_url.py; here every rule is checked on its own, with a
clock the test turns.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian.rpc.file_links import (
    FileLinks,
    LinkRefused,
    Plan,
    content_headers,
    parse_range,
    plan,
)
from lixian.rpc.security import Confiner


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "dl", tmp_path / "more"
    (first / "sub").mkdir(parents=True)
    second.mkdir()
    return first.resolve(), second.resolve()


def _links(roots: tuple[Path, Path], clock: Clock, key: bytes = b"k" * 32) -> FileLinks:
    return FileLinks(Confiner(roots), key=key, clock=clock)


def _split(url: str) -> tuple[str, str]:
    _, _, token, name = url.split("/")
    return token, name


def test_sign_then_verify_names_the_same_file(roots: tuple[Path, Path]) -> None:
    clock = Clock()
    links = _links(roots, clock)
    path = roots[1] / "a movie #1.mkv"
    url, expires = links.sign("00000000000000a1", path, ttl=60)
    assert url.startswith("/files/") and url.endswith("/a%20movie%20%231.mkv")
    assert expires == 1_800_000_060
    token, _ = _split(url)
    signed = links.verify(token, "a movie #1.mkv")  # the name as aiohttp decodes it
    assert (signed.gid, signed.path, signed.expires) == ("00000000000000a1", path, expires)
    head = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert payload == [expires, "00000000000000a1", 1, "a movie #1.mkv"]  # relative


def test_expired_other_key_other_name_are_refused(roots: tuple[Path, Path]) -> None:
    clock = Clock()
    links = _links(roots, clock)
    token, name = _split(links.sign("g", roots[0] / "sub" / "x.bin", ttl=10)[0])
    clock.now += 9.9
    links.verify(token, name)
    clock.now += 0.1
    with pytest.raises(LinkRefused, match="expired"):
        links.verify(token, name)
    clock.now -= 5
    with pytest.raises(LinkRefused, match="signature"):
        _links(roots, clock, key=b"other" * 8).verify(token, name)  # another daemon
    with pytest.raises(LinkRefused, match="name"):
        links.verify(token, "y.bin")


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "abc.def", "W10.AAAA", "WzEsMiwzXQ.AAAA", "WzEsImciLDUsIngiXQ.AAAA"],
)
def test_malformed_tokens_are_refused(roots: tuple[Path, Path], token: str) -> None:
    with pytest.raises(LinkRefused):
        _links(roots, Clock()).verify(token, "x")


def test_only_paths_inside_the_roots_are_signed_or_served(
    roots: tuple[Path, Path], tmp_path: Path
) -> None:
    links = _links(roots, Clock())
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    with pytest.raises(LinkRefused, match="outside"):
        links.sign("g", outside)
    with pytest.raises(LinkRefused, match="outside"):
        links.confine(roots[0] / ".." / "outside.txt")
    escape = roots[0] / "escape"
    escape.symlink_to(outside)
    with pytest.raises(LinkRefused, match="outside"):
        links.confine(escape)
    inside = roots[0] / "sub" / "in.bin"
    inside.write_bytes(b"1")
    assert links.confine(roots[0] / "sub" / ".." / "sub" / "in.bin") == inside


def test_the_key_is_random_per_instance(roots: tuple[Path, Path]) -> None:
    clock = Clock()
    first = FileLinks(Confiner(roots), clock=clock)
    second = FileLinks(Confiner(roots), clock=clock)
    token, name = _split(first.sign("g", roots[0] / "f")[0])
    first.verify(token, name)
    with pytest.raises(LinkRefused):
        second.verify(token, name)


# ---- Range ----


@pytest.mark.parametrize(
    ("header", "complete", "expected"),
    [
        ("bytes=0-99", True, (0, 100)),
        ("bytes=0-", True, (0, 1000)),
        ("bytes=990-5000", True, (990, 1000)),
        ("bytes=-10", True, (990, 1000)),
        ("bytes=-5000", True, (0, 1000)),
        ("Bytes = 5-5", True, (5, 6)),
        ("bytes=1000-", True, True),
        ("bytes=-0", True, True),
        ("bytes=5-3", True, False),
        ("bytes=0-1,5-6", True, False),
        ("bytes=a-b", True, False),
        ("bytes=-", True, False),
        ("items=0-1", True, False),
        ("bytes 0-1", True, False),
        ("bytes=0-99", False, (0, 100)),
        ("bytes=-10", False, True),  # a partial file's end is not there yet
        ("bytes=1000-", False, True),
    ],
)
def test_parse_range(header: str, complete: bool, expected: object) -> None:
    assert parse_range(header, 1000, complete=complete) == expected


def test_empty_file_has_no_satisfiable_range() -> None:
    assert parse_range("bytes=0-", 0, complete=True) is True
    assert parse_range("bytes=-1", 0, complete=True) is True


@given(
    size=st.integers(0, 10_000),
    first=st.integers(0, 12_000) | st.none(),
    last=st.integers(0, 12_000) | st.none(),
)
def test_a_satisfied_range_lies_inside_the_file(
    size: int, first: int | None, last: int | None
) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    window = parse_range(header, size, complete=True)
    if isinstance(window, tuple):
        start, end = window
        assert 0 <= start < end <= size
        if first is not None:
            assert start == first
        elif last is not None:
            assert end - start == min(last, size)


# ---- whole answers ----

ETAG, MODIFIED = '"1-2-3"', "Mon, 30 Nov 2026 08:00:00 GMT"


def _plan(headers: dict[str, str], available: int = 1000, complete: bool = True) -> Plan:
    return plan(headers, "v.mp4", available, complete=complete, etag=ETAG, last_modified=MODIFIED)


def test_plans_for_a_complete_file() -> None:
    whole = _plan({})
    assert (whole.status, whole.start, whole.length) == (200, 0, 1000)
    assert whole.headers["ETag"] == ETAG
    part = _plan({"Range": "bytes=10-19"})
    assert (part.status, part.start, part.length) == (206, 10, 10)
    assert part.headers["Content-Range"] == "bytes 10-19/1000"
    assert _plan({"Range": "bytes=10-19", "If-Range": ETAG}).status == 206
    assert _plan({"Range": "bytes=10-19", "If-Range": MODIFIED}).status == 206
    assert _plan({"Range": "bytes=10-19", "If-Range": '"old"'}).status == 200
    assert _plan({"If-None-Match": f'"x", W/{ETAG}'}).status == 304
    assert _plan({"If-None-Match": "*"}).status == 304
    unsatisfiable = _plan({"Range": "bytes=2000-"})
    assert unsatisfiable.status == 416
    assert unsatisfiable.headers["Content-Range"] == "bytes */1000"


def test_plans_for_a_partial_file_never_claim_the_full_length() -> None:
    whole = _plan({}, available=300, complete=False)
    assert (whole.status, whole.length) == (200, 300)
    headers = whole.headers
    assert headers["Lixian-Available-Length"] == "300"
    assert "ETag" not in headers and headers["Cache-Control"] == "no-store"
    part = _plan({"Range": "bytes=100-999"}, available=300, complete=False)
    assert part.status == 206
    assert part.headers["Content-Range"] == "bytes 100-299/*"
    beyond = _plan({"Range": "bytes=300-"}, available=300, complete=False)
    assert beyond.status == 416 and "Content-Range" not in beyond.headers
    assert _plan({"Range": "bytes=0-9", "If-Range": ETAG}, 300, False).status == 200


@pytest.mark.parametrize(
    ("name", "kind", "disposition"),
    [
        ("a.mp4", "video/mp4", "inline"),
        ("a.webm", "video/webm", "inline"),
        ("notes.txt", "text/plain", "inline"),
        ("page.html", "application/octet-stream", "attachment"),  # never run at our origin
        ("logo.svg", "application/octet-stream", "attachment"),
        ("noextension", "application/octet-stream", "inline"),
    ],
)
def test_content_headers(name: str, kind: str, disposition: str) -> None:
    headers = content_headers(name)
    assert headers["Content-Type"] == kind
    assert headers["Content-Disposition"].startswith(disposition + ";")
    assert headers["Content-Security-Policy"].startswith("sandbox")
    assert headers["Accept-Ranges"] == "bytes"


def test_non_utf8_file_names_round_trip(roots: tuple[Path, Path]) -> None:
    links = _links(roots, Clock())
    name = os.fsdecode(b"caf\xe9.bin")  # Latin-1 on a UTF-8 system: a surrogate escape
    token, _ = _split(links.sign("g", roots[0] / name)[0])
    assert links.verify(token, name).path == roots[0] / name
