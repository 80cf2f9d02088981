"""Pick a download's file name from ``Content-Disposition`` or from its URL.

Theory of operation
-------------------
``Content-Disposition`` (RFC 6266) is ``type *( ";" param )`` where ``type`` is ``inline``,
``attachment`` or any other token (all treated alike: we are downloading either way) and a
param is ``name=value`` with ``value`` a token or a quoted-string (backslash escapes any
character). Parameter names are case-insensitive; whitespace around ``=`` and ``;`` is allowed.

Two params carry a name:

* ``filename*`` (RFC 5987 / RFC 8187 ext-value): ``charset'[language]'pct-encoded-bytes``, e.g.
  ``UTF-8''%e2%82%ac%20rates``. It wins over ``filename`` whenever it decodes (RFC 6266 section
  4.3), since ``filename`` is what old clients get. Charset names are case-insensitive; UTF-8
  and ISO-8859-1 are the ones the RFCs require, and a few legacy charsets that real servers send
  (GBK, Big5, Shift_JIS, ...) are accepted too. An unknown charset, a quoted ext-value, or bytes
  that are not valid in the charset make ``filename*`` count as absent.
* ``filename``: the token or quoted-string as given, not percent-decoded (RFC 6266 section 4.3).
  Raw non-ASCII bytes are not allowed by the RFC but common: when a header was decoded as
  Latin-1 but its bytes are valid UTF-8 (or arrived as surrogate escapes), the UTF-8 reading is
  returned, which is what browsers do.

Leniencies, all where real servers need them and the meaning is unambiguous: a missing type
(``filename=x.zip`` alone), an unquoted value with spaces or other non-token characters (read up
to the next ``;`` and trimmed), empty or unknown params, and a param without ``=``. Duplicate
params: the first one counts. What returns None: an empty header, no usable name, an
unterminated quoted-string (the header was cut short), or a type followed by something other
than ``;`` (``attachment filename=x``).

The name comes back as given, ``../`` and all: making it safe is
:func:`lixian.storage.paths.sanitize_filename`'s job, done once for every source of names.
"""

from __future__ import annotations

import codecs
import re
import string
from urllib.parse import unquote, unquote_to_bytes, urlsplit

__all__ = ["DEFAULT_NAME", "filename_from_content_disposition", "filename_from_url"]

DEFAULT_NAME = "index.html"
"""aria2's name for a URL whose path ends in ``/`` (or is empty)."""

_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_OWS = " \t"
_EXT_VALUE = re.compile(r"([A-Za-z0-9!#$%&+\-^_`{}~]+)'([A-Za-z0-9\-]*)'(.+)", re.DOTALL)
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # a '%' NOT followed by two hex digits
# Charsets accepted in ext-values: the two RFC 5987 requires, plus legacy ones seen in the wild.
_CHARSETS = frozenset(
    {
        "utf-8",
        "iso-8859-1",
        "us-ascii",
        "windows-1252",
        "gbk",
        "gb2312",
        "gb18030",
        "big5",
        "shift_jis",
        "euc-jp",
        "euc-kr",
    }
)


def filename_from_content_disposition(value: str) -> str | None:
    """The file name a ``Content-Disposition`` value asks for, or None if it names none.

    >>> filename_from_content_disposition(
    ...     "attachment; filename=\\"EURO rates\\"; filename*=utf-8''%e2%82%ac%20rates")
    '€ rates'
    """
    params = _parse(value)
    if params is None:
        return None
    plain: str | None = None
    extended: str | None = None
    seen: set[str] = set()
    for name, raw, quoted in params:
        if name in seen:
            continue  # a duplicate; the first one counts
        seen.add(name)
        if name == "filename*" and not quoted:
            extended = _decode_ext_value(raw)
        elif name == "filename":
            plain = _repair_raw_bytes(raw)
    return extended or plain or None


def filename_from_url(url: str) -> str:
    """The last path segment of ``url``, percent-decoded as UTF-8 (bad bytes become U+FFFD).

    Query and fragment are ignored, as aria2 does; an empty last segment, or a ``.``/``..``
    one (which RFC 3986 removes when normalising the path), gives ``"index.html"``.

    >>> filename_from_url("http://example.com/dl/%E2%82%AC%20rates.pdf?x=1")
    '€ rates.pdf'
    >>> filename_from_url("http://example.com/dir/")
    'index.html'
    """
    try:
        path = urlsplit(url).path
    except ValueError:
        path = url.split("?", 1)[0].split("#", 1)[0]
    segment = path.rpartition("/")[2]
    name = unquote(segment, encoding="utf-8", errors="replace")
    if not name or segment in (".", "..") or name in (".", ".."):
        return DEFAULT_NAME
    return name


# -- parsing -----------------------------------------------------------------------------------


def _parse(value: str) -> list[tuple[str, str, bool]] | None:
    """Tokenise into ``(lower-case name, value, was_quoted)`` params; None if unparsable."""
    n = len(value)
    i = _skip(value, 0, _OWS)
    start = i
    i = _skip(value, i, _TCHAR)
    first = value[start:i]
    j = _skip(value, i, _OWS)
    params: list[tuple[str, str, bool]] = []
    if first and j < n and value[j] == "=":
        i = start  # no disposition type: the header starts with a param
    else:
        i = j
        if i < n and value[i] != ";":
            return None
    while True:
        i = _skip(value, i, _OWS + ";")
        if i >= n:
            return params
        start = i
        i = _skip(value, i, _TCHAR)
        name = value[start:i].lower()
        i = _skip(value, i, _OWS)
        if not name or i >= n or value[i] != "=":
            i = _next_semicolon(value, i)  # not a name=value param: ignore it
            continue
        i = _skip(value, i + 1, _OWS)
        if i < n and value[i] == '"':
            text, i = _quoted_string(value, i)
            if text is None:
                return None
            after = _skip(value, i, _OWS)
            if after < n and value[after] != ";":
                i = _next_semicolon(value, after)  # junk after the closing quote: drop param
                continue
            params.append((name, text, True))
            i = after
        else:
            end = _next_semicolon(value, i)
            text = value[i:end].strip(_OWS)
            i = end
            if text and '"' not in text:
                params.append((name, text, False))


def _skip(value: str, i: int, chars: frozenset[str] | str) -> int:
    n = len(value)
    while i < n and value[i] in chars:
        i += 1
    return i


def _next_semicolon(value: str, i: int) -> int:
    end = value.find(";", i)
    return len(value) if end < 0 else end


def _quoted_string(value: str, i: int) -> tuple[str | None, int]:
    """Read the quoted-string opening at ``value[i]``; None if it never closes."""
    out: list[str] = []
    i += 1
    n = len(value)
    while i < n:
        char = value[i]
        if char == "\\" and i + 1 < n:
            out.append(value[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    return None, i


def _decode_ext_value(raw: str) -> str | None:
    """Decode an RFC 5987 ext-value such as ``iso-8859-1'en'%A3%20rates``; None if invalid."""
    match = _EXT_VALUE.fullmatch(raw)
    if match is None:
        return None
    charset, _language, encoded = match.groups()
    if charset.lower() not in _CHARSETS or _BAD_PCT.search(encoded):
        return None
    if any(c.isspace() or c == '"' or ord(c) > 0x7E for c in encoded):
        return None
    try:
        codec = codecs.lookup(charset).name
        return unquote_to_bytes(encoded).decode(codec) or None
    except (LookupError, UnicodeDecodeError):
        return None


def _repair_raw_bytes(text: str) -> str:
    """Recover UTF-8 names from headers decoded the wrong way (RFC-invalid but common).

    Python's http.client decodes header bytes as Latin-1, aiohttp as UTF-8 with surrogate
    escapes; either way raw UTF-8 from the server should read as UTF-8.
    """
    if any("\ud800" <= c <= "\udfff" for c in text):
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # surrogates that are not byte escapes: leave it to sanitizing
            return text
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    if text.isascii() or any(ord(c) > 0xFF for c in text):
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return text
