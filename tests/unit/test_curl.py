"""Pasted "Copy as cURL" commands -> a request and aria2 options; the review; the RPC door.

Each fixture in tests/fixtures/curl/ is what a browser writes (see fixtures/browser_curl.py)
and must parse to exactly the headers, cookies, user agent and referer the browser sent.
"""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.browser_curl import (
    FIXTURE_TEXTS,
    FIXTURES,
    PLACEHOLDER,
    Request,
    chrome,
    firefox,
)
from lixian.cli import curl_cmd
from lixian.core.manager import Manager
from lixian.errors import BadOption
from lixian.importers import curl, paste_review
from lixian.importers.curl import CurlRequest, parse_curl, to_options
from lixian.importers.paste_review import cookies_review, curl_review, redact
from lixian.rpc import Dispatcher

URL = "https://downloads.example.com/f.iso"
CHROME_NAV_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FETCH_METADATA = ["sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site"]


def fixture(name: str) -> CurlRequest:
    return parse_curl((FIXTURES / name).read_bytes().decode("utf-8"))


def test_exports() -> None:
    assert sorted(curl.__all__) == sorted(
        ["MAX_TEXT", "NOT_COPIED", "CurlRequest", "Flavour", "cookie_line", "parse_curl",
         "to_options"]
    )  # fmt: skip
    assert sorted(paste_review.__all__) == [
        "cookies_review",
        "curl_review",
        "is_sensitive",
        "redact",
    ]


def test_fixture_files_are_what_the_browsers_write() -> None:
    """The committed files are the generator's output (CRLF for Windows' clipboard)."""
    names = sorted(p.name for p in FIXTURES.glob("*.txt"))
    assert names == sorted(FIXTURE_TEXTS)
    for name, text in FIXTURE_TEXTS.items():
        newline = "\r\n" if "_cmd" in name else "\n"
        assert (FIXTURES / name).read_bytes() == (text + "\n").replace("\n", newline).encode()


# --- every fixture, exactly ------------------------------------------------------------------

_CHROME_124_NAV = (
    ("priority", "u=0, i"),
    ("sec-ch-ua", '"Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"'),
    ("sec-ch-ua-mobile", "?0"),
)
_ACCEPT_NAV = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
_WIN_COOKIES = (
    ("sid", "QUJD%2FREVG=="),
    ("tracking", '{"a":1,"b":[2,3]}'),
    ("pct", "50%off"),
    ("amp", "a&b|c<d>"),
)
_WIN_HEADERS = (
    ("accept", _ACCEPT_NAV),
    ("accept-language", "en-US,en;q=0.9"),
    *_CHROME_124_NAV,
    ("sec-ch-ua-platform", '"Windows"'),
    ("upgrade-insecure-requests", "1"),
    ("x-quote", 'say "hi" ^ caret'),
)
_WIN_UA = CHROME_NAV_UA.replace("X11; Linux x86_64", "Windows NT 10.0; Win64; x64")
_EDGE_COOKIES = (
    ("MUID", "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D"),
    ("MSCC", "NR"),
    ("_EDGE_S", "F=1&SID=0A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D&mkt=en-us"),
    ("SRCHHPGUSR", "SRCHLANG=en&BRW=XW"),
)

EXPECTED: dict[str, dict[str, Any]] = {
    "chrome124_linux_bash.txt": {
        "url": f"{PLACEHOLDER}/releases/v2.4.1/lixian-2.4.1-linux-x86_64.tar.gz"
        "?x_token=Zm9vYmFy%2Bc2lnbmF0dXJl%3D&x_expires=1767225600",
        "headers": (
            ("accept", _ACCEPT_NAV),
            ("accept-language", "en-GB,en-US;q=0.9,en;q=0.8"),
            *_CHROME_124_NAV,
            ("sec-ch-ua-platform", '"Linux"'),
            ("upgrade-insecure-requests", "1"),
        ),
        "cookies": (
            ("_ga", "GA1.1.1843723621.1714050812"),
            ("session", "eyJ1c2VyIjoiYWxpY2UifQ==.Zi1hQQ.c2ln+bmF0/dXJl"),
            ("prefs", '{"theme":"dark","lang":"en"}'),
            ("cf_clearance", "q1w2e3r4t5-1714050900-1.0.1.1"),
        ),
        "user_agent": CHROME_NAV_UA,
        "referer": "https://www.example.com/download?platform=linux&arch=x86_64",
        "dropped": [*FETCH_METADATA, "sec-fetch-user"],
        "flavour": "bash",
    },
    "chrome110_linux_bash.txt": {
        "url": f"{PLACEHOLDER}/files/Report%20Q1%20%E2%80%93%20final.pdf?x_dl=1",
        "headers": (
            ("accept", "*/*"),
            ("accept-language", "de-DE,de;q=0.9,en;q=0.8"),
            ("sec-ch-ua", '"Chromium";v="110", "Not A(Brand";v="24", "Google Chrome";v="110"'),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"Linux"'),
            ("x-client-note", "café naïve, 100% sûr"),
            ("x-empty", ""),
            ("x-requested-with", "XMLHttpRequest"),
        ),
        "cookies": (
            ("csrftoken", "a%3Bb%3Dc"),
            ("lang", "de"),
            ("note", "it's !important"),
            ("__Host-sid", "AbC/dEf+gHi=="),
        ),
        "user_agent": CHROME_NAV_UA.replace("124.0.0.0", "110.0.0.0"),
        "referer": "https://intranet.example.com/reports/?q=Q1%20final",
        "dropped": ["authority", "if-none-match", *FETCH_METADATA],
        "flavour": "bash",
    },
    "chrome124_windows_cmd.txt": {
        "url": f"{PLACEHOLDER}/releases/v2.4.1/lixian-2.4.1-win64.zip"
        "?x_token=Zm9v%2BYmFy%3D&x_expires=1767225600&x_name=a%20b",
        "headers": _WIN_HEADERS,
        "cookies": _WIN_COOKIES,
        "user_agent": _WIN_UA,
        "referer": "https://www.example.com/download?os=windows&q=%22zip%22",
        "dropped": [*FETCH_METADATA, "sec-fetch-user"],
        "flavour": "cmd",
    },
    "edge124_windows_cmd.txt": {
        "url": f"{PLACEHOLDER}/dl/installer/Setup%20(x64)%20v3.msi?x_lang=en-us&x_sig=Ab%2Fc",
        "headers": (
            ("accept", _ACCEPT_NAV),
            ("accept-language", "en-US,en;q=0.9"),
            ("priority", "u=0, i"),
            ("sec-ch-ua", '"Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99"'),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"Windows"'),
            ("upgrade-insecure-requests", "1"),
        ),
        "cookies": _EDGE_COOKIES,
        "user_agent": _WIN_UA + " Edg/124.0.0.0",
        "referer": "https://www.example.com/apps/setup",
        "dropped": [*FETCH_METADATA, "sec-fetch-user"],
        "flavour": "cmd",
    },
    "edge124_macos_bash.txt": {
        "url": f"{PLACEHOLDER}/dl/mac/App-3.2.dmg?x_build=4711",
        "headers": (
            ("accept", "*/*"),
            ("accept-language", "fr-FR,fr;q=0.9,en;q=0.8"),
            ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln"),
            ("origin", "https://app.example.com"),
            ("sec-ch-ua", '"Chromium";v="124", "Microsoft Edge";v="124", "Not-A.Brand";v="99"'),
            ("sec-ch-ua-mobile", "?0"),
            ("sec-ch-ua-platform", '"macOS"'),
        ),
        "cookies": (*_EDGE_COOKIES, ("ANON", "A=0123456789ABCDEF&E=1c3&W=1")),
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.67",
        "referer": "https://app.example.com/",
        "dropped": FETCH_METADATA,
        "flavour": "bash",
    },
    "firefox125_linux_bash.txt": {
        "url": f"{PLACEHOLDER}/pub/data/dump-2024-04-25.csv.gz?x_filter[0]=all&x_sig=a1b2",
        "headers": (
            ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            ("Accept-Language", "en-US,en;q=0.5"),
            ("Upgrade-Insecure-Requests", "1"),
            ("Priority", "u=0, i"),
        ),
        "cookies": (
            ("sessionid", "8f14e45fceea167a5a36dedd4bea2543"),
            ("consent", '{"ads":false,"stats":true}'),
            ("theme", "dark"),
        ),
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "referer": "https://www.example.com/data/",
        "dropped": [
            "Accept-Encoding",
            "Connection",
            "Sec-Fetch-Dest",
            "Sec-Fetch-Mode",
            "Sec-Fetch-Site",
            "Sec-Fetch-User",
            "TE",
        ],
        "flavour": "bash",
    },
    "firefox98_macos_bash.txt": {
        "url": f"{PLACEHOLDER}/media/Caf%C3%A9%20Tacuba%20-%20Live.mp3?x_k=1",
        "headers": (
            (
                "Accept",
                "audio/webm,audio/ogg,audio/wav,audio/*;q=0.9,application/ogg;q=0.7,*/*;q=0.5",
            ),
            ("Accept-Language", "fr-FR,fr;q=0.8,en-US;q=0.5,en;q=0.3"),
        ),
        "cookies": (
            ("user", "Renée"),
            ("motto", "carpe diem!"),
            ("emoji", "🎵"),
            ("b64", "YWJj+ZGVm/Zw=="),
        ),
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:98.0) Gecko/20100101 "
        "Firefox/98.0",
        "referer": "https://music.example.com/player",
        "dropped": [
            "Range",
            "Connection",
            "Sec-Fetch-Dest",
            "Sec-Fetch-Mode",
            "Sec-Fetch-Site",
            "Accept-Encoding",
        ],
        "flavour": "bash",
    },
    "firefox125_windows_cmd.txt": {
        "url": f"{PLACEHOLDER}/share/Quarterly%20figures%20%2850%25%29.xlsx?x_id=9&x_v=2",
        "headers": (
            ("Accept", "*/*"),
            ("Accept-Language", "en-GB,en;q=0.5"),
            ("X-Requested-With", "XMLHttpRequest"),
        ),
        "cookies": (
            ("FedAuth", "77u/PD94bWwgdmVyc2lvbj0iMS4wIj8+"),
            ("rtFa", "a=b=c"),
            ("view", '"list"'),
            ("pct", "100%"),
        ),
        "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 "
        "Firefox/125.0",
        "referer": "https://share.example.com/folder/42",
        "dropped": [
            "Accept-Encoding",
            "Alt-Used",
            "Connection",
            "Sec-Fetch-Dest",
            "Sec-Fetch-Mode",
            "Sec-Fetch-Site",
            "If-Modified-Since",
        ],
        "flavour": "cmd",
    },
}
EXPECTED["chrome124_windows_bash.txt"] = {
    **EXPECTED["chrome124_windows_cmd.txt"],
    "flavour": "bash",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_exactly(name: str) -> None:
    want = EXPECTED[name]
    req = fixture(name)
    assert req.url == want["url"]
    assert req.method == "GET" and req.downloadable and not req.body
    assert req.headers == want["headers"]
    assert req.cookies == want["cookies"]
    assert req.user_agent == want["user_agent"]
    assert req.referer == want["referer"]
    assert [name for name, _ in req.dropped] == want["dropped"]
    assert req.flavour == want["flavour"]
    assert req.notes == ()
    assert req.auth is None and not req.insecure


def test_bash_and_cmd_exports_of_one_request_agree() -> None:
    bash, cmd = fixture("chrome124_windows_bash.txt"), fixture("chrome124_windows_cmd.txt")
    assert bash == CurlRequest(**{**cmd.__dict__, "flavour": "bash"})


@pytest.mark.parametrize("name", ["chrome124_post_bash.txt", "firefox125_post_cmd.txt"])
def test_post_fixtures_are_not_downloadable(name: str) -> None:
    req = fixture(name)
    assert req.method == "POST" and req.body and not req.downloadable
    (note,) = req.notes
    assert note.startswith("not downloadable: this is a POST request with a body (--data-raw).")
    assert "aria2 cannot replay a POST" in note and "copy that instead" in note


def test_to_options_for_a_fixture() -> None:
    options = to_options(fixture("chrome110_linux_bash.txt"))
    assert options == {
        "header": [
            "Accept: */*",  # lixian's own Accept is replaced, not doubled
            "accept-language: de-DE,de;q=0.9,en;q=0.8",
            'sec-ch-ua: "Chromium";v="110", "Not A(Brand";v="24", "Google Chrome";v="110"',
            "sec-ch-ua-mobile: ?0",
            'sec-ch-ua-platform: "Linux"',
            "x-client-note: café naïve, 100% sûr",
            "x-empty: ",
            "x-requested-with: XMLHttpRequest",
            "Cookie: csrftoken=a%3Bb%3Dc; lang=de; note=it's !important; __Host-sid=AbC/dEf+gHi==",
        ],
        "user-agent": CHROME_NAV_UA.replace("124.0.0.0", "110.0.0.0"),
        "referer": "https://intranet.example.com/reports/?q=Q1%20final",
    }
    assert to_options(fixture("edge124_macos_bash.txt"))["header"][2].startswith(
        "Authorization: Bearer "
    )


@given(
    value=st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"), min_size=1
    )
    # Browsers trim values with JavaScript's trim(), which also takes U+00A0 and the other
    # Unicode spaces (and U+FEFF, which Python's strip() keeps).
    .map(lambda s: s.strip().strip("\ufeff").strip())
    .filter(bool),
    browser=st.sampled_from(["chrome-bash", "chrome-cmd", "firefox-bash", "firefox-cmd"]),
)
def test_any_header_value_survives_every_export(value: str, browser: str) -> None:
    who, shell = browser.split("-")
    request = Request(URL, (("x-test", value), ("cookie", "a=1")))
    text = chrome(request, shell) if who == "chrome" else firefox(request, shell)
    req = parse_curl(text)
    if who == "firefox" and shell == "bash" and any("\x80" <= c <= "\xff" for c in value):
        return  # Firefox's \xHH bytes for U+0080..U+00FF (see test_shell_words)
    assert req.headers == (("x-test", value),)
    assert req.cookies == (("a", "1"),)


# --- the copying policy -----------------------------------------------------------------------


def parse(*args: str) -> CurlRequest:
    return parse_curl(" ".join(["curl", f"'{URL}'", *args]))


@pytest.mark.parametrize(
    "header",
    [
        "Host: evil.example", "Content-Length: 10", "Expect: 100-continue",
        "Connection: keep-alive", "Keep-Alive: timeout=5", "Proxy-Connection: keep-alive",
        "TE: trailers", "Trailer: x", "Transfer-Encoding: chunked", "Upgrade: h2c",
        "Accept-Encoding: gzip, deflate, br, zstd", "Range: bytes=100-", "If-Range: \"e\"",
        "If-Modified-Since: Thu, 25 Apr 2024 10:00:00 GMT", "If-None-Match: \"e\"",
        "If-Match: \"e\"", "If-Unmodified-Since: Thu, 25 Apr 2024 10:00:00 GMT",
        "Proxy-Authorization: Basic eA==", "Alt-Used: example.com", "authority: example.com",
        "sec-fetch-site: cross-site", "Sec-Fetch-Storage-Access: active",
    ],
)  # fmt: skip
def test_headers_not_copied_say_why(header: str) -> None:
    req = parse(f"-H '{header}'")
    assert req.headers == ()
    ((name, reason),) = req.dropped
    assert name == header.partition(":")[0] and len(reason) > 20
    assert "header" not in to_options(req)


def test_pseudo_headers_are_not_headers() -> None:
    req = parse("-H ':authority: example.com'", "-H ':path: /f.iso'", "-H 'authority: x'")
    assert req.headers == () and req.notes == ()
    assert [name for name, _ in req.dropped] == [":authority", ":path", "authority"]
    assert {reason for _, reason in req.dropped} == {curl.NOT_COPIED["authority"]}
    assert parse("-H ':: x'").notes == ("ignored -H ':: x': ':' is not a header name",)


def test_reasons_are_specific() -> None:
    assert "identity" in curl.NOT_COPIED["accept-encoding"]
    assert "304" in curl.NOT_COPIED["if-none-match"]
    assert "proxy" in curl.NOT_COPIED["proxy-authorization"]
    assert "RFC 9110" in curl.NOT_COPIED["connection"]


def test_copied_headers_keep_their_spelling_but_accept_and_authorization() -> None:
    req = parse("-H 'accept: a/b'", "-H 'authorization: Basic eDp5'", "-H 'X-Custom-ID: 7'")
    assert to_options(req)["header"] == [
        "Accept: a/b", "Authorization: Basic eDp5", "X-Custom-ID: 7"
    ]  # fmt: skip


def test_user_agent_and_referer_become_options() -> None:
    req = parse("-A 'UA/1'", "-e 'https://r/'")
    assert (req.user_agent, req.referer) == ("UA/1", "https://r/")
    assert to_options(req) == {"user-agent": "UA/1", "referer": "https://r/"}
    # a -H header wins over -A / -e, as in curl, wherever it stands
    req = parse("-H 'User-Agent: H'", "--user-agent 'A'", "-H 'referer: https://h/'", "-e x")
    assert (req.user_agent, req.referer, req.headers) == ("H", "https://h/", ())
    assert parse("-e 'https://r/;auto'").referer == "https://r/"
    assert parse("-e ';auto'").referer is None


def test_an_empty_user_agent_is_noted() -> None:
    req = parse("-A ''")
    assert req.user_agent is None
    assert req.notes == ("the User-Agent is empty: curl would send none, lixian sends its own",)


def test_cookies_from_b_and_header_merge_in_order() -> None:
    req = parse("-b 'a=1; b=x=y=='", "-H 'Cookie: c=3;d=;  e=\"q r\"'", "--cookie 'lone'")
    assert req.cookies == (("a", "1"), ("b", "x=y=="), ("c", "3"), ("d", ""), ("e", '"q r"'))
    assert req.notes[0].startswith("-b lone: curl would read cookies from that file")
    assert to_options(req) == {"header": ['Cookie: a=1; b=x=y==; c=3; d=; e="q r"']}


def test_a_nameless_cookie_is_sent_as_is() -> None:
    assert to_options(parse("-H 'Cookie: flag; a=1'")) == {"header": ["Cookie: flag; a=1"]}


def test_curl_header_syntax() -> None:
    req = parse("-H 'X-Empty;'", "-H 'Accept:'", "-H 'Nope'", "-H @headers.txt", "-H 'a b: c'")
    assert req.headers == (("X-Empty", ""),)
    assert req.notes == (
        "-H 'Accept:' tells curl not to send Accept; nothing to copy",
        "ignored -H 'Nope': not 'Name: value'",
        "-H @headers.txt: curl would read headers from that file; lixian does not",
        "ignored -H 'a b: c': 'a b' is not a header name",
    )
    assert to_options(req) == {"header": ["X-Empty: "]}


def test_header_injection_is_dropped() -> None:
    req = parse(r"-H $'X-A: 1\r\nX-Evil: 2'", r"-b $'a=1\r\nX-Evil: 2; b=2'", "-H 'X-Ok: 3'")
    assert req.headers == (("X-Ok", "3"),)
    assert req.cookies == (("b", "2"),)
    assert any("would inject other headers" in note for note in req.notes)
    assert any("control character" in note for note in req.notes)
    assert "Evil" not in str(to_options(req))


# --- curl's options -------------------------------------------------------------------------


def test_credentials_and_insecure() -> None:
    req = parse("-u 'alice:s3:cr=t'", "-k")
    assert req.auth == ("alice", "s3:cr=t") and req.insecure
    assert to_options(req) == {
        "http-user": "alice", "http-passwd": "s3:cr=t", "check-certificate": "false"
    }  # fmt: skip
    assert "daemon-wide" in req.notes[0]
    req = parse("--user bob")
    assert req.auth == ("bob", "") and req.notes == (
        "-u bob: no password given (curl would ask for one)",
    )
    assert parse("--insecure", "--no-insecure").insecure is False


def test_oauth2_bearer_becomes_authorization() -> None:
    assert parse("--oauth2-bearer tok").headers == (("Authorization", "Bearer tok"),)
    assert parse("--oauth2-bearer tok", "-H 'authorization: x'").headers == (
        ("authorization", "x"),
    )


def test_other_auth_schemes_are_noted() -> None:
    assert parse("--digest", "-u a:b").notes == (
        "--digest: lixian only sends HTTP Basic credentials",
    )


def test_short_option_clusters_and_attached_values() -> None:
    req = parse("-sSLkv", "-XGET", "-H'X-A: 1'", "-bsid=1", "-Aua", "-ereferrer")
    assert req.insecure and req.method == "GET"
    assert req.headers == (("X-A", "1"),)
    assert (req.cookies, req.user_agent, req.referer) == ((("sid", "1"),), "ua", "referrer")
    assert len(req.notes) == 1 and req.notes[0].startswith("copied with --insecure")
    assert parse("-kH 'X-B: 2'").headers == (("X-B", "2"),)


def test_unknown_and_ignored_options_are_noted_not_fatal() -> None:
    req = parse("--frobnicate", "-o out.iso", "--range 0-99", "--proxy http://p:3128",
                "--limit-rate 1M", "-W", "--compressed", "--http2", "--max-time 30")  # fmt: skip
    assert req.notes == (
        "ignored the option --frobnicate",
        "ignored -o/--output: set the file name with lixian's --out",
        "ignored -r/--range: lixian downloads the whole file, in ranges of its choosing",
        "ignored -x/--proxy: give lixian --all-proxy to use a proxy",
        "ignored the option --limit-rate",
        "ignored the unknown option -W",
    )
    assert req.url == URL  # no option argument was taken for a URL


def test_url_forms() -> None:
    assert parse_curl("curl --url 'https://x/a'").url == "https://x/a"
    assert parse_curl("$ curl https://x/a").url == "https://x/a"
    assert parse_curl("/usr/bin/curl https://x/a").url == "https://x/a"
    assert parse_curl("curl https://x/a https://x/a").url == "https://x/a"
    req = parse_curl("curl example.com/f")
    assert req.url == "http://example.com/f" and "no scheme" in req.notes[0]
    # curl's globbing: \[ is a literal [, and a real glob is noted, not expanded
    assert parse_curl(r"curl 'https://x/a\[1\].iso'").url == "https://x/a[1].iso"
    assert parse_curl(r"curl -g 'https://x/a\[1\]'").url == r"https://x/a\[1\]"
    req = parse_curl("curl 'https://x/f{1,2}.iso'")
    assert req.url == "https://x/f{1,2}.iso" and "expand" in req.notes[0]
    assert parse_curl("curl 'http://[::1]:8080/f'").notes == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing to read"),
        ("wget https://x/", "not a curl command: it should start with curl, not 'wget'"),
        ("curl -s", "the command has no URL"),
        ("curl https://a/ https://b/", "the command fetches 2 URLs"),
        ("curl https://a/ -: https://b/", "several requests (--next)"),
        ("curl https://a/ -H", "-H needs a value, and the command ends: was it cut short?"),
        ("curl https://a/ --header", "--header needs a value"),
        ("curl ftp://a/f", "not an http(s) URL"),
        ("curl 'https:///nohost'", "not an http(s) URL"),
        ('fetch("https://x/", {"headers": {}});', "this is Copy as fetch"),
        ('Invoke-WebRequest -UseBasicParsing -Uri "https://x/"', "Copy as PowerShell"),
        ("$session = New-Object Microsoft.PowerShell.Commands.WebRequestSession", "PowerShell"),
        (".x.com\tTRUE\t/\tFALSE\t0\tsid\tabc\n", "looks like a cookies.txt file"),
        ("curl 'https://x/", "never closes"),
        ('curl ^"https://x/', "never closes"),
        ("curl 'https://x/' -H 'a: b' \\", "lone \\"),
    ],
)
def test_errors_speak_to_the_person_who_pasted(text: str, message: str) -> None:
    with pytest.raises(BadOption) as caught:
        parse_curl(text)
    assert message in str(caught.value)


def test_oversized_text_is_refused() -> None:
    with pytest.raises(BadOption, match="over 1 MiB"):
        parse_curl("curl 'https://x/' " + " " * curl.MAX_TEXT)


def test_flavour_can_be_forced() -> None:
    text = 'curl "https://x/a" -H "X: a""b"'
    assert parse_curl(text).headers == (("X", "ab"),)
    assert parse_curl(text, "cmd").headers == (("X", 'a"b'),)


# --- hostile input: text, never run ------------------------------------------------------------


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the parser started a process")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "popen", refuse)


@pytest.mark.usefixtures("no_processes")
def test_expansions_inside_single_quotes_are_plain_text(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    req = parse_curl(
        f"curl 'https://x/$(touch {canary})' -H 'X-A: `touch {canary}`' "
        f"-H $'X-B: $(rm -rf /) ${{IFS}}' -b 'a=$HOME'"
    )
    assert req.url == f"https://x/$(touch {canary})"
    assert req.headers == (("X-A", f"`touch {canary}`"), ("X-B", "$(rm -rf /) ${IFS}"))
    assert req.cookies == (("a", "$HOME"),)
    assert not canary.exists()


@pytest.mark.usefixtures("no_processes")
@pytest.mark.parametrize(
    "text",
    [
        "curl https://x/$(rm -rf /)",
        "curl 'https://x/' -H \"X: $(rm -rf /)\"",
        "curl 'https://x/' -H \"X: `id`\"",
        "curl `echo https://x/`",
        "curl 'https://x/' -o $HOME/.bashrc",
        "curl 'https://x/'; rm -rf /",
        "curl 'https://x/' && rm -rf /",
        "curl 'https://x/' | sh",
        "curl 'https://x/' > ~/.bashrc",
        'curl ^"https://x/^" & del /q C:\\',
        'curl "https://x/" | more',
    ],
)
def test_command_injection_is_refused(text: str) -> None:
    with pytest.raises(BadOption) as caught:
        parse_curl(text)
    assert "paste one curl command" in str(caught.value) or "never runs or expands" in str(
        caught.value
    )


def test_cmd_percent_variables_are_not_expanded() -> None:
    req = parse_curl('curl ^"https://x/%USERPROFILE%/f^" -H ^"X: %PATH%^"')
    assert req.url == "https://x/%USERPROFILE%/f" and req.headers == (("X", "%PATH%"),)


# --- not a plain GET --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "method", "source"),
    [
        ("-d a=1", "POST", "--data"),
        ("--data-raw '{}'", "POST", "--data-raw"),
        ("--data-binary @file.bin", "POST", "--data-binary"),
        ("--data-urlencode 'q=a b'", "POST", "--data-urlencode"),
        ("--json '{}'", "POST", "--json"),
        ("-F file=@x.txt", "POST", "--form"),
        ("-T x.txt", "PUT", "--upload-file"),
        ("-X GET -d a=1", "GET", "--data"),
        ("-X PUT --data-raw x", "PUT", "--data-raw"),
    ],
)
def test_requests_with_a_body(args: str, method: str, source: str) -> None:
    req = parse(args)
    assert (req.method, req.body, req.downloadable) == (method, True, False)
    assert req.notes[-1].startswith(
        f"not downloadable: this is a {method} request with a body ({source})."
    )


@pytest.mark.parametrize("method", ["DELETE", "PATCH", "post"])
def test_other_methods(method: str) -> None:
    req = parse(f"-X {method}")
    assert req.method == method.upper() and not req.downloadable and not req.body
    assert req.notes == (
        f"not downloadable: this is a {method.upper()} request. lixian downloads with plain GET "
        f"requests (several at once, each with a Range), and aria2 cannot replay a "
        f"{method.upper()} either; if this request answers with the file or a link to it, find "
        "the GET that fetches the file in the Network panel (a redirect target, say) and copy "
        "that instead",
    )


def test_a_cors_preflight_gets_its_own_advice() -> None:
    assert "copy the request that follows this CORS preflight" in parse("-X OPTIONS").notes[0]


def test_head_is_downloaded_with_get() -> None:
    req = parse("-I")
    assert req.method == "HEAD" and req.downloadable
    assert req.notes == ("the copied request was HEAD (-I); lixian downloads the URL with GET",)


def test_get_moves_data_into_the_query() -> None:
    req = parse_curl(
        "curl -G 'https://x/s?a=1' -d 'b=2' --data-urlencode 'q=a b&c' --data-urlencode '=z/y' "
        "--data-raw '@raw' --data-urlencode 'name@f.txt' -d @file --url-query '+k=v w'"
    )
    assert req.url == "https://x/s?a=1&b=2&q=a%20b%26c&z%2Fy&@raw&k=v w"
    assert req.method == "GET" and req.downloadable and not req.body
    assert len(req.notes) == 2 and all("curl would read that file" in n for n in req.notes)
    assert parse_curl("curl -G https://x/s -d a=1").url == "https://x/s?a=1"
    assert parse_curl("curl https://x/s --url-query 'a=b c'").url == "https://x/s?a=b%20c"


# --- the review: the page's and the CLI's view ----------------------------------------------------


def test_redact() -> None:
    assert redact("") == "" and redact("ab") == "…" and redact("abcdefgh") == "ab…"
    assert redact("x" * 100) == "xxxx…"


def test_curl_review() -> None:
    req = fixture("edge124_macos_bash.txt")
    review = curl_review(req)
    assert review["url"] == req.url and review["method"] == "GET"
    assert review["downloadable"] is True and review["notes"] == []
    assert review["options"] == to_options(req)  # in full: the page adds with it
    headers = review["headers"]
    assert isinstance(headers, list)
    assert {"name": "authorization", "value": "Bear…"} in headers
    assert {"name": "accept", "value": "*/*"} in headers
    assert review["cookies"] == [
        {"name": n, "domain": "downloads.example.com", "value": redact(v), "length": len(v)}
        for n, v in req.cookies
    ]
    assert review["dropped"] == [
        {"name": n, "reason": curl.NOT_COPIED.get(n, r)} for n, r in req.dropped
    ]
    assert "0A1B2C3D4E5F" not in str({k: v for k, v in review.items() if k != "options"})


def _jar(*lines: str) -> str:
    return "\n".join(["# Netscape HTTP Cookie File", *lines]) + "\n"


def test_cookies_review_for_a_url() -> None:
    text = _jar(
        ".example.com\tTRUE\t/\tFALSE\t0\tsid\tabcdefghij",
        "#HttpOnly_dl.example.com\tFALSE\t/files\tTRUE\t0\tFedAuth\t77u/PD94",
        "other.org\tFALSE\t/\tFALSE\t0\tnope\t1",
        "dl.example.com\tFALSE\t/\tFALSE\t1000\told\tgone",
    )
    review = cookies_review(text, "https://dl.example.com/files/a.iso", now=2000.0)
    assert review["options"] == {"header": ["Cookie: FedAuth=77u/PD94; sid=abcdefghij"]}
    cookies = review["cookies"]
    assert isinstance(cookies, list)
    assert [(c["name"], c["domain"], c["sent"]) for c in cookies] == [
        ("sid", "example.com", True), ("FedAuth", "dl.example.com", True),
        ("nope", "other.org", False), ("old", "dl.example.com", False),
    ]  # fmt: skip
    assert cookies[1] == {
        "name": "FedAuth", "domain": "dl.example.com", "includeSubdomains": False,
        "path": "/files", "secure": True, "httpOnly": True, "expires": 0, "value": "77…",
        "length": 8, "sent": True,
    }  # fmt: skip
    assert review["notes"] == [
        "2 of 4 cookies apply to dl.example.com; the others are for other domains or paths, "
        "https only, or expired, and are not sent",
        "1 of the cookies have expired",
        "the cookies go in this task's Cookie header: after a redirect to another host they "
        "are not sent, even to a subdomain a cookie covers",
    ]
    # over http, the secure one stays home
    plain = cookies_review(text, "http://dl.example.com/files/a.iso", now=2000.0)
    assert plain["options"] == {"header": ["Cookie: sid=abcdefghij"]}


def test_cookies_review_without_a_url_and_errors() -> None:
    review = cookies_review(_jar(".a.com\tTRUE\t/\tFALSE\t0\tx\ty"), None, now=0.0)
    assert review["options"] == {} and review["url"] == ""
    assert review["notes"] == ["give the download's URL to pick the cookies that apply to it"]
    none = cookies_review(_jar(".a.com\tTRUE\t/\tFALSE\t0\tx\ty"), "https://b.com/", now=0.0)
    assert none["options"] == {} and none["notes"] == ["none of the 1 cookies apply to b.com"]
    with pytest.raises(BadOption, match="not an http"):
        cookies_review(_jar(".a.com\tTRUE\t/\tFALSE\t0\tx\ty"), "ftp://a.com/", now=0.0)
    with pytest.raises(BadOption, match="not an http"):
        cookies_review(_jar(".a.com\tTRUE\t/\tFALSE\t0\tx\ty"), "https://[::1/", now=0.0)
    with pytest.raises(BadOption, match="no cookie found"):
        cookies_review("curl https://x/\n", "https://x/", now=0.0)


# --- RPC: lixian.parseCurl and lixian.parseCookies ------------------------------------------------


@pytest.fixture
async def dispatcher(tmp_path: Path) -> AsyncIterator[Dispatcher]:
    async with Manager({"dir": str(tmp_path)}) as manager:
        yield Dispatcher(manager, secret="s", version="1.37.0", session_id="ab" * 20)


async def call(d: Dispatcher, method: str, *params: object) -> dict[str, Any]:
    response = await d.handle({"jsonrpc": "2.0", "id": 1, "method": method,
                               "params": ["token:s", *params]})  # fmt: skip
    assert isinstance(response, dict)
    return response


async def test_rpc_parse_curl(dispatcher: Dispatcher) -> None:
    text = (FIXTURES / "firefox125_windows_cmd.txt").read_text(encoding="utf-8")
    answer = await call(dispatcher, "lixian.parseCurl", text)
    assert answer["result"] == curl_review(parse_curl(text))
    assert (await call(dispatcher, "lixian.parseCurl", text, "cmd"))["result"] == answer["result"]
    assert (await call(dispatcher, "lixian.parseCurl", text, None))["result"] == answer["result"]
    assert dispatcher.methods["lixian.parseCurl"].needs_token


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "The parameter at 0 is required but missing."),
        ([42], "The parameter at 0 has wrong type."),
        (["curl https://x/", "zsh"], "flavour must be auto, bash or cmd"),
        (["curl $(id)"], "$( runs a command at line 1, column 6"),
        (["wget x"], "not a curl command"),
    ],
)
async def test_rpc_parse_curl_errors(
    dispatcher: Dispatcher, params: list[object], message: str
) -> None:
    answer = await call(dispatcher, "lixian.parseCurl", *params)
    assert answer["error"]["code"] == 1
    assert message in answer["error"]["message"]


async def test_rpc_parse_curl_needs_the_token(dispatcher: Dispatcher) -> None:
    response = await dispatcher.handle(
        {"jsonrpc": "2.0", "id": 1, "method": "lixian.parseCurl", "params": ["curl https://x/"]}
    )
    assert isinstance(response, dict) and response["error"]["message"] == "Unauthorized"


async def test_rpc_parse_cookies(dispatcher: Dispatcher) -> None:
    text = _jar(".example.com\tTRUE\t/\tFALSE\t0\tsid\tabc")
    answer = await call(dispatcher, "lixian.parseCookies", text, "https://www.example.com/f")
    assert answer["result"]["options"] == {"header": ["Cookie: sid=abc"]}
    assert (await call(dispatcher, "lixian.parseCookies", text))["result"]["options"] == {}
    bad = await call(dispatcher, "lixian.parseCookies", text, 7)
    assert bad["error"]["message"] == "The parameter at 1 has wrong type."
    bad = await call(dispatcher, "lixian.parseCookies", "hello\n")
    assert "no cookie found" in bad["error"]["message"]


# --- the CLI's --curl ---------------------------------------------------------------------------


def test_take_curl_puts_the_users_options_last(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("curl 'https://x/f' -A ua -H 'X-A: 1'"))
    words, done = curl_cmd.take_curl(["-d", "out", "--curl", "--user-agent=mine"])
    assert not done
    assert words == ["--header=X-A: 1", "--user-agent=ua", "-d", "out", "--user-agent=mine",
                     "https://x/f"]  # fmt: skip


def test_take_curl_review_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.txt").write_bytes((FIXTURES / "edge124_macos_bash.txt").read_bytes())
    words, done = curl_cmd.take_curl([f"--curl={tmp_path / 'r.txt'}", "--review", "-x4"])
    assert done and words == ["-x4"]
    out = capsys.readouterr().out
    assert out.startswith(
        f"url        {PLACEHOLDER}/dl/mac/App-3.2.dmg?x_build=4711\nmethod     GET\n"
    )
    assert "header     authorization: Bear…\n" in out
    assert "cookie     MUID=1A2B… (32 chars, for downloads.example.com)\n" in out
    assert "not copied sec-fetch-dest, sec-fetch-mode, sec-fetch-site: Fetch Metadata" in out


@pytest.mark.parametrize(
    ("words", "stdin", "message"),
    [
        (["--review"], "", "--review goes with --curl"),
        (
            ["--curl"],
            "curl -d x https://x/",
            "nothing added: the pasted request is not a plain GET",
        ),
        (["--curl", "https://y/"], "curl https://x/", "--curl brings its own URL"),
        (["--curl=/nonexistent/r.txt"], "", "--curl: cannot read /nonexistent/r.txt"),
        (["--curl"], "wget https://x/", "not a curl command"),
    ],
)
def test_take_curl_refusals(
    words: list[str], stdin: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(BadOption, match=message.replace("(", r"\(")):
        curl_cmd.take_curl(words)


def test_take_curl_leaves_other_commands_alone() -> None:
    assert curl_cmd.take_curl(["-x4", "https://x/"]) == (["-x4", "https://x/"], False)
    assert curl_cmd.take_curl(["--", "--curl"]) == (["--", "--curl"], False)


def test_curl_words() -> None:
    assert curl_cmd.curl_words({"header": ["A: 1", "B: 2"], "referer": "r"}) == [
        "--header=A: 1", "--header=B: 2", "--referer=r"
    ]  # fmt: skip
