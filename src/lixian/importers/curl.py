"""Read a pasted "Copy as cURL" command into a download's options (sans-IO).

Theory of operation
-------------------
A browser's devtools can copy any request as a curl command, in bash quoting (Chrome, Edge and
Firefox on Linux/macOS) or cmd.exe quoting (on Windows). It is the easiest way to hand a
download manager a link that needs the browser's login: the command carries the URL, the
cookies and the headers. We read it in three steps, none of which runs anything:

1. ``shell_words`` splits the text the way bash or cmd.exe would (flavour detected, or given).
2. curl's own option rules (``curl_syntax``) turn words into a request: the URL, ``-H``,
   ``-b``, ``-A``, ``-e``, ``-u``, ``-X``, ``-d``/``-F``/``-T``, ``-G``, ``-I``, ``-k``. An
   unknown option is skipped with a note, never an error: browsers add new flags over time.
3. The copying policy below decides what of it a download may reuse.

Rules
-----
* **Headers not copied** (``NOT_COPIED``; each is listed in ``dropped`` with its reason):
  Host (follows from the URL), Content-Length and Expect (describe a body we do not send),
  hop-by-hop headers (Connection, Keep-Alive, TE, Upgrade...: the browser's connection),
  Accept-Encoding (lixian asks for identity so bytes on disk are the file's bytes and Range
  counts them), Range and If-Range (lixian chooses ranges to split and resume), the cache
  validators If-Modified-Since/If-None-Match/If-Match/If-Unmodified-Since (a 304 has no file),
  Proxy-Authorization (the browser's proxy), Alt-Used (the browser's HTTP/3 endpoint), HTTP/2
  pseudo-headers (``:authority``, and ``authority`` as Chrome 9x-11x wrote it), and the
  ``Sec-Fetch-*`` Fetch Metadata headers: they describe the browser's context (a navigation, a
  cross-site fetch); servers accept requests without them, as from curl, while a copied
  ``sec-fetch-site: cross-site`` can get refused. Client hints (``sec-ch-ua*``), Accept,
  Origin, Authorization and custom headers are copied.
* **User-Agent and Referer** become the ``user-agent`` and ``referer`` options; a ``-H``
  header wins over ``-A``/``-e``, as in curl.
* **Cookies** (``-b 'a=1; b=2'`` and ``-H 'Cookie: ...'``) become one ``Cookie`` header in the
  task's ``header`` option, not a cookies.txt: ``load-cookies`` is daemon-wide in aria2 (addUri
  ignores it), so a per-task jar would not work with aria2c or AriaNg, and the cookies a browser
  copied are exactly those it sent to this URL's host. lixian's HTTP engine sends Cookie and
  Authorization headers only to the origin they were given for and drops them after a
  cross-origin redirect, so the cookies stay scoped to the URL's origin (host-only, which is at
  least as narrow as any Domain attribute they had). aria2c does not drop them on redirects.
* **Not a plain GET**: a body (``-d``, ``--data-*``, ``--json``, ``-F``, ``-T``) or a method
  other than GET/HEAD makes the request not ``downloadable``, with a note saying why: lixian
  fetches with GET (several at once, with Range) and aria2 cannot replay a POST either. HEAD
  (``-I``) is downloadable with a note: the same URL is fetched with GET.
* ``-k`` gives ``check-certificate=false``: honoured by ``lixian get``; a daemon treats it as
  daemon-wide (as aria2c does), which a note says.
* Header names and values are checked (RFC 9110 tokens, no control characters): a value with a
  line break would inject headers, so such a header is dropped, with a note.
* Header names keep the browser's spelling, except names lixian itself sends (Accept,
  Authorization), spelled canonically so that they replace lixian's own instead of doubling.

>>> req = parse_curl("curl 'https://example.com/f.iso' -H 'accept: */*' -b 'sid=42'")
>>> to_options(req)
{'header': ['Accept: */*', 'Cookie: sid=42']}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from lixian.errors import BadOption
from lixian.importers.curl_syntax import (
    IGNORED_WITH_REASON,
    LONG_WITH_ARG,
    SHORT,
    SILENT_FLAGS,
    cookie_pairs,
    data_part,
    encode_query,
    header,
    unglob,
)
from lixian.importers.shell_words import looks_like_cmd, split_bash, split_cmd

__all__ = [
    "MAX_TEXT",
    "NOT_COPIED",
    "CurlRequest",
    "Flavour",
    "cookie_line",
    "parse_curl",
    "to_options",
]

MAX_TEXT = 1 << 20  # a pasted command larger than 1 MiB is not a copied request
Flavour = Literal["auto", "bash", "cmd"]

_HOP = "hop-by-hop (RFC 9110, 7.6.1): it belongs to the browser's connection; lixian runs its own"
_BODY = "describes a request body, and lixian sends none"
_VALIDATOR = (
    "a cache validator of the browser's copy: the server would answer 304 Not Modified, "
    "with no file (--conditional-get does this on purpose)"
)
_RANGE = "lixian chooses byte ranges itself, to split the download and resume it"
_PSEUDO = "an HTTP/2 pseudo-header (:authority, :path...), not a header; it follows from the URL"
_FETCH_METADATA = (
    "Fetch Metadata describes the browser's context (a navigation, a cross-site fetch); "
    "servers accept requests without it, as from curl, but may refuse a copied cross-site one"
)
_HOP_BY_HOP = "connection keep-alive proxy-connection te trailer transfer-encoding upgrade"
NOT_COPIED: dict[str, str] = {
    "host": "follows from the URL; a copied Host would also go to mirrors and redirect targets",
    "content-length": _BODY,
    "expect": _BODY,
    **dict.fromkeys([*_HOP_BY_HOP.split(), "http2-settings"], _HOP),
    "accept-encoding": (
        "lixian asks for identity: a compressed answer would be saved compressed, and byte "
        "ranges would count compressed bytes"
    ),
    "range": _RANGE,
    "if-range": _RANGE,
    **dict.fromkeys(
        ("if-modified-since", "if-none-match", "if-match", "if-unmodified-since"), _VALIDATOR
    ),
    "proxy-authorization": (
        "credentials for the browser's proxy, not for the server "
        "(give lixian --all-proxy=http://user:pass@host:port)"
    ),
    "alt-used": "names the alternative service (HTTP/3 endpoint) the browser's connection used",
    "authority": _PSEUDO,
}
# Headers lixian sends itself, spelled its way so that a copy replaces them (see the rules).
_OWN_SPELLING = {"accept": "Accept", "authorization": "Authorization"}
_DATA_OPTIONS = ("data", "data-ascii", "data-binary", "data-raw", "data-urlencode", "json")
_OTHER_AUTH = ("digest", "ntlm", "negotiate", "anyauth", "ntlm-wb", "kerberos")


@dataclass(frozen=True)
class CurlRequest:
    """The request a pasted curl command makes, already filtered by the copying policy.

    ``headers`` are those to send (User-Agent, Referer and Cookie taken out into their own
    fields); ``dropped`` names each header not copied, with the reason; ``notes`` are what a
    person should read before adding (ignored options, why it is not downloadable...).
    """

    url: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    user_agent: str | None = None
    referer: str | None = None
    auth: tuple[str, str] | None = None
    insecure: bool = False
    body: bool = False
    notes: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()
    flavour: Literal["bash", "cmd"] = "bash"

    @property
    def downloadable(self) -> bool:
        """Whether a GET of ``url`` with these options replays the request."""
        return self.method in ("GET", "HEAD") and not self.body

    @property
    def host(self) -> str:
        """The host the cookies are scoped to."""
        return (urlsplit(self.url).hostname or "").lower()


def cookie_line(cookies: tuple[tuple[str, str], ...]) -> str:
    """``a=1; b=2`` (a nameless cookie is its value alone, as browsers send it)."""
    return "; ".join(f"{name}={value}" if name else value for name, value in cookies)


def to_options(req: CurlRequest) -> dict[str, str | list[str]]:
    """aria2 option strings for a task downloading ``req.url`` as the browser asked for it.

    >>> to_options(CurlRequest("https://x/", user_agent="UA", auth=("u", "p"), insecure=True))
    {'user-agent': 'UA', 'http-user': 'u', 'http-passwd': 'p', 'check-certificate': 'false'}
    """
    options: dict[str, str | list[str]] = {}
    lines = [f"{_OWN_SPELLING.get(n.lower(), n)}: {v}" for n, v in req.headers]
    if req.cookies:
        lines.append(f"Cookie: {cookie_line(req.cookies)}")
    if lines:
        options["header"] = lines
    if req.user_agent:
        options["user-agent"] = req.user_agent
    if req.referer:
        options["referer"] = req.referer
    if req.auth is not None:
        options["http-user"], options["http-passwd"] = req.auth
    if req.insecure:
        options["check-certificate"] = "false"
    return options


def parse_curl(text: str, flavour: Flavour = "auto") -> CurlRequest:
    """Parse a pasted "Copy as cURL" command (bash or cmd flavour; ``auto`` tells them apart).

    Raises :class:`BadOption` with a message meant for the person who pasted it: not a curl
    command, cut short, several commands, shell expansions outside quotes, no URL.
    """
    if len(text) > MAX_TEXT:
        raise BadOption("the pasted text is over 1 MiB; that is not a copied request")
    _refuse_other_formats(text)
    shell: Literal["bash", "cmd"] = "bash"
    if flavour == "cmd" or (flavour == "auto" and looks_like_cmd(text)):
        shell = "cmd"
    words = split_cmd(text) if shell == "cmd" else split_bash(text)
    if words[:1] == ["$"]:  # a prompt copied along with the command
        words = words[1:]
    if not words:
        raise BadOption("nothing to read: paste a command copied with Copy as cURL")
    program = re.split(r"[\\/]", words[0])[-1].lower()
    if program not in ("curl", "curl.exe"):
        raise BadOption(f"not a curl command: it should start with curl, not {words[0][:40]!r}")
    reader = _Reader()
    reader.read(words[1:])
    return reader.request(shell)


def _refuse_other_formats(text: str) -> None:
    head = text.lstrip().lower()
    if head.startswith(("fetch(", "await fetch(")):
        raise BadOption("this is Copy as fetch; copy the request with Copy as cURL instead")
    if head.startswith(("invoke-webrequest", "invoke-restmethod", "$session")):
        raise BadOption(
            "this is Copy as PowerShell; copy the request with Copy as cURL (bash or cmd) instead"
        )
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if lines and all(len(line.split("\t")) in (6, 7) for line in lines):
        raise BadOption("this looks like a cookies.txt file, not a curl command; paste it as one")


@dataclass
class _Reader:
    """curl's command line, read option by option (state for one parse)."""

    urls: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    cookie_args: list[str] = field(default_factory=list)
    user_agent: str | None = None
    referer: str | None = None
    method: str | None = None
    data: list[tuple[str, str]] = field(default_factory=list)
    url_queries: list[str] = field(default_factory=list)
    body_source: str | None = None  # -F / -T: a body that -G cannot move into the URL
    get: bool = False
    head: bool = False
    user: str | None = None
    bearer: str | None = None
    insecure: bool = False
    globoff: bool = False
    notes: list[str] = field(default_factory=list)

    def read(self, words: list[str]) -> None:
        i = 0
        while i < len(words):
            word = words[i]
            i += 1
            if word.startswith("--") and len(word) > 2:
                name = word[2:]
                if name in LONG_WITH_ARG:
                    i = self._with_arg(name, words, i, f"--{name}")
                else:
                    self._flag(name)
            elif word.startswith("-") and len(word) > 1:
                i = self._short(word, words, i)
            else:
                self.urls.append(word)

    def _short(self, word: str, words: list[str], i: int) -> int:
        for j in range(1, len(word)):
            name = SHORT.get(word[j])
            if name is None:
                self.notes.append(f"ignored the unknown option -{word[j]}")
                continue
            if name in LONG_WITH_ARG:
                attached = word[j + 1 :]
                if attached:
                    self._take(name, attached)
                    return i
                return self._with_arg(name, words, i, f"-{word[j]}")
            self._flag(name)
        return i

    def _with_arg(self, name: str, words: list[str], i: int, spelled: str) -> int:
        if i == len(words):
            raise BadOption(f"{spelled} needs a value, and the command ends: was it cut short?")
        self._take(name, words[i])
        return i + 1

    def _flag(self, name: str) -> None:
        value = not name.startswith("no-")
        base = name if value else name[3:]
        if base == "next":
            raise BadOption("the command makes several requests (--next); paste one")
        if base in ("get", "head", "insecure", "globoff"):
            setattr(self, base, value)
        elif base in _OTHER_AUTH:
            self.notes.append(f"--{base}: lixian only sends HTTP Basic credentials")
        elif base not in SILENT_FLAGS:
            self.notes.append(f"ignored the option --{name}")

    def _take(self, name: str, value: str) -> None:
        if name == "url":
            self.urls.append(value)
        elif name == "header":
            self.headers.append(value)
        elif name == "cookie":
            self.cookie_args.append(value)
        elif name == "user-agent":
            self.user_agent = value
        elif name == "referer":
            self.referer = value
        elif name == "request":
            self.method = value.upper()
        elif name in _DATA_OPTIONS:
            self.data.append((name, value))
        elif name in ("form", "form-string"):
            self.body_source = f"--{name}"
        elif name == "upload-file":
            self.body_source = "--upload-file"
        elif name == "url-query":
            self.url_queries.append(value)
        elif name == "user":
            self.user = value
        elif name == "oauth2-bearer":
            self.bearer = value
        elif name in ("output", "range", "proxy", "config"):
            self.notes.append(IGNORED_WITH_REASON[name])
        elif name not in SILENT_FLAGS and name not in ("cookie-jar", "max-redirs"):
            self.notes.append(f"ignored the option --{name}")

    # -- putting the request together ------------------------------------------------------------

    def request(self, flavour: Literal["bash", "cmd"]) -> CurlRequest:
        url = self._url()
        body = self.body_source is not None or (bool(self.data) and not self.get)
        if self.method is not None:
            method = self.method
        elif self.head:
            method = "HEAD"
        elif self.body_source == "--upload-file":
            method = "PUT"
        else:
            method = "POST" if body else "GET"
        headers, cookies, dropped = self._headers()
        user_agent = self.user_agent
        referer = self.referer
        kept: list[tuple[str, str]] = []
        for name, value in headers:
            lower = name.lower()
            if lower == "user-agent":
                user_agent = value
            elif lower == "referer":
                referer = value
            else:
                kept.append((name, value))
        if user_agent == "":
            user_agent = None
            self.notes.append("the User-Agent is empty: curl would send none, lixian sends its own")
        if referer is not None:
            referer = referer.removesuffix(";auto") or None
        if self.bearer is not None and not any(n.lower() == "authorization" for n, _ in kept):
            kept.append(("Authorization", f"Bearer {self.bearer}"))
        auth = self._auth()
        if self.insecure:
            self.notes.append(
                "copied with --insecure (the page's certificate was not trusted): lixian get "
                "skips the certificate check; a daemon checks certificates for every task unless "
                "started with --check-certificate=false (aria2 makes it daemon-wide)"
            )
        self._explain(method, body)
        return CurlRequest(
            url=url,
            method=method,
            headers=tuple(kept),
            cookies=tuple(cookies),
            user_agent=user_agent,
            referer=referer,
            auth=auth,
            insecure=self.insecure,
            body=body,
            notes=tuple(self.notes),
            dropped=tuple(dropped),
            flavour=flavour,
        )

    def _url(self) -> str:
        urls = list(dict.fromkeys(self.urls))
        if not urls:
            raise BadOption("the command has no URL")
        if len(urls) > 1:
            raise BadOption(f"the command fetches {len(urls)} URLs; paste one request at a time")
        url = urls[0] if self.globoff else unglob(urls[0], self.notes)
        if "://" not in url:
            url = "http://" + url
            self.notes.append("the URL has no scheme; curl reads it as http://, and so do we")
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise BadOption(f"not an http(s) URL: {url[:100]!r}")
        queries = [encode_query(q, self.notes) for q in self.url_queries]
        if self.get:
            queries = [data_part(name, value, self.notes) for name, value in self.data] + queries
        kept = [q for q in queries if q is not None]
        if kept:
            url += ("&" if parts.query else "?") + "&".join(kept)
        return url

    def _headers(
        self,
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
        headers: list[tuple[str, str]] = []
        cookies: list[tuple[str, str]] = []
        dropped: list[tuple[str, str]] = []
        for arg in self.cookie_args:
            if "=" not in arg:
                self.notes.append(
                    f"-b {arg[:60]}: curl would read cookies from that file; lixian reads no "
                    "files named in a pasted command (paste the file as a cookies.txt instead)"
                )
            else:
                cookies += cookie_pairs(arg, self.notes)
        for raw in self.headers:
            parsed = header(raw, self.notes)
            if parsed is None:
                continue
            name, value = parsed
            lower = name.lower()
            reason = NOT_COPIED.get(lower)
            if reason is None and lower.startswith("sec-fetch-"):
                reason = _FETCH_METADATA
            elif reason is None and lower.startswith(":"):
                reason = _PSEUDO
            if reason is not None:
                dropped.append((name, reason))
            elif lower == "cookie":
                cookies += cookie_pairs(value, self.notes)
            else:
                headers.append((name, value))
        return headers, list(dict.fromkeys(cookies)), dropped

    def _auth(self) -> tuple[str, str] | None:
        if self.user is None:
            return None
        user, colon, password = self.user.partition(":")
        if not colon:
            self.notes.append(f"-u {user}: no password given (curl would ask for one)")
        return user, password

    def _explain(self, method: str, body: bool) -> None:
        if method == "HEAD" and not body:
            self.notes.append("the copied request was HEAD (-I); lixian downloads the URL with GET")
            return
        if method == "GET" and not body:
            return
        what = f"a {method} request"
        if body:
            source = self.body_source or self.data[0][0]
            what += f" with a body ({source if source.startswith('-') else '--' + source})"
        advice = (
            "copy the request that follows this CORS preflight instead"
            if method == "OPTIONS"
            else "if this request answers with the file or a link to it, find the GET that "
            "fetches the file in the Network panel (a redirect target, say) and copy that instead"
        )
        self.notes.append(
            f"not downloadable: this is {what}. lixian downloads with plain GET requests "
            f"(several at once, each with a Range), and aria2 cannot replay a {method} either; "
            f"{advice}"
        )
