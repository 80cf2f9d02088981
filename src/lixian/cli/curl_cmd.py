"""``--curl`` for ``lixian add`` and ``lixian get``: a pasted "Copy as cURL" command as options.

``--curl`` reads the command from stdin (paste, then Ctrl-D), ``--curl=FILE`` from a file.
The parsed request is shown for review on stderr (stdout stays the GIDs) and then turned into
ordinary aria2 words, ``--header=...``, ``--user-agent=...``, put before the user's own so that
those win; the URL goes last. ``--review`` only prints the review. The parser is the one behind
the page's ``lixian.parseCurl`` (``importers/curl.py``), so both show the same thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lixian.errors import BadOption
from lixian.importers.curl import parse_curl, to_options
from lixian.importers.paste_review import curl_review
from lixian.options import parse_argv

__all__ = ["curl_words", "format_review", "take_curl"]

_WIDTH = 100


def take_curl(words: list[str]) -> tuple[list[str], bool]:
    """Expand ``--curl[=FILE]`` in an aria2-style argv.

    Returns the new argv and whether the command is done (``--review``: the review was
    printed). Raises :class:`BadOption` for an unreadable file, a command that does not parse,
    a request that is not a plain GET, or other URIs given alongside.
    """
    source: str | None = None
    review_only = False
    rest: list[str] = []
    for i, word in enumerate(words):
        if word == "--":
            rest += words[i:]
            break
        if word == "--curl":
            source = "-"
        elif word.startswith("--curl="):
            source = word.partition("=")[2] or "-"
        elif word == "--review":
            review_only = True
        else:
            rest.append(word)
    if source is None:
        if review_only:
            raise BadOption("--review goes with --curl")
        return words, False
    text = _read(source)
    request = parse_curl(text)
    review = curl_review(request)
    out = sys.stdout if review_only else sys.stderr
    out.write(format_review(review))
    out.flush()
    if review_only:
        return rest, True
    if not request.downloadable:
        raise BadOption("nothing added: the pasted request is not a plain GET (see the note)")
    if parse_argv(rest).uris:
        raise BadOption(
            "--curl brings its own URL; add other URIs separately (the copied cookies and "
            "headers are for that one URL)"
        )
    return [*curl_words(to_options(request)), *rest, request.url], False


def curl_words(options: dict[str, str | list[str]]) -> list[str]:
    """aria2 option strings as command-line words: ``--header=Accept: */*``."""
    words: list[str] = []
    for name, value in options.items():
        for item in [value] if isinstance(value, str) else value:
            words.append(f"--{name}={item}")
    return words


def _read(source: str) -> str:
    if source == "-":
        if sys.stdin.isatty():
            sys.stderr.write("Paste the command copied with Copy as cURL, then Ctrl-D:\n")
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadOption(f"--curl: cannot read {source}: {exc}") from exc


def _cut(text: str) -> str:
    return text if len(text) <= _WIDTH else text[: _WIDTH - 1] + "…"


def format_review(review: dict[str, object]) -> str:
    """The review as aligned lines: url, method, options, headers, cookies, what was not
    copied and the notes. Values are cut to one line; reasons and notes are kept whole."""
    rows: list[tuple[str, str]] = [("url", str(review["url"])), ("method", str(review["method"]))]
    options = review["options"]
    assert isinstance(options, dict)
    for key in ("user-agent", "referer", "http-user", "check-certificate"):
        if key in options:
            rows.append((key, _cut(str(options[key]))))
    for header in _dicts(review["headers"]):
        rows.append(("header", _cut(f"{header['name']}: {header['value']}")))
    for cookie in _dicts(review["cookies"]):
        shown = f"{cookie['name']}={cookie['value']}" if cookie["name"] else str(cookie["value"])
        rows.append(("cookie", f"{_cut(shown)} ({cookie['length']} chars, for {cookie['domain']})"))
    by_reason: dict[str, list[str]] = {}  # the sec-fetch-* four share one reason, say
    for dropped in _dicts(review["dropped"]):
        by_reason.setdefault(str(dropped["reason"]), []).append(str(dropped["name"]))
    rows += [("not copied", f"{', '.join(names)}: {why}") for why, names in by_reason.items()]
    notes = review["notes"]
    assert isinstance(notes, list)
    rows += [("note", str(note)) for note in notes]
    return "".join(f"{key:<11}{value}\n" for key, value in rows)


def _dicts(value: object) -> list[dict[str, object]]:
    assert isinstance(value, list)
    return [item for item in value if isinstance(item, dict)]
