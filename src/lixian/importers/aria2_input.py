"""Parse aria2 input files (``aria2c -i FILE``, also what ``--save-session`` writes).

Theory of operation
-------------------
The format, from aria2c(1) "Input File" and checked against aria2c 1.37:

* A line that starts in column 0 (not SPACE or TAB) begins one download. Several URIs on that
  line separated by TAB are sources (mirrors) of the *same* file. Each URI is trimmed of
  SPACE/TAB/CR/LF and empty fields are dropped, so ``"a \\t\\t b"`` is two URIs.
* Lines that start with SPACE or TAB and follow a URI line are that download's options, one
  ``name=value`` per line. Name and value are trimmed; the value is split at the *first* ``=``
  (``out=a=b`` sets ``out`` to ``a=b``); an empty value is allowed. Options repeat
  (``header=...`` twice gives two headers), so they stay an ordered list of pairs.
* Lines starting with ``#`` are comments; blank (or whitespace-only) lines are skipped. Neither
  ends the option block: options after a comment or a blank line still belong to the entry above.
* CRLF line ends are fine.

Where lixian is stricter than aria2, on purpose (aria2 only logs a warning and carries on, which
silently drops what the user asked for):

* an option line without ``=``, or with an empty name, raises :class:`BadOption` naming the line;
* an indented line before any URI line raises :class:`BadOption` (aria2 would take it as a URI);
* an indented line whose text starts with ``#`` is a comment (aria2 warns "Unknown option").

Options are returned as raw strings: which names are allowed in an input file, and what their
values mean, is the option table's business, not this parser's. Gzip-compressed files and ``-``
for stdin are the caller's business too: this module takes text and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from lixian.errors import BadOption

__all__ = ["InputEntry", "parse_input_file"]

# aria2 trims URI fields and option lines with exactly these characters.
_TRIM = " \t\r\n"
_INDENT = (" ", "\t")


@dataclass(frozen=True)
class InputEntry:
    """One download from an input file.

    ``uris`` are mirrors of one file, in file order; ``options`` are ``(name, value)`` pairs in
    file order (names may repeat); ``line`` is the 1-based line of the URI line, for messages.
    """

    uris: tuple[str, ...]
    options: tuple[tuple[str, str], ...]
    line: int


def parse_input_file(text: str) -> list[InputEntry]:
    """Split an aria2 input file into downloads, each with its mirrors and raw options.

    Raises :class:`BadOption` (aria2 code 28) with the line number when an option line is
    malformed, because a silently dropped ``out=`` or ``header=`` downloads the wrong thing.

    >>> parse_input_file("http://a/f\\thttp://b/f\\n  out=f.iso\\n")
    [InputEntry(uris=('http://a/f', 'http://b/f'), options=(('out', 'f.iso'),), line=1)]
    """
    entries: list[InputEntry] = []
    uris: tuple[str, ...] | None = None
    options: list[tuple[str, str]] = []
    start = 0

    def flush() -> None:
        if uris is not None:
            entries.append(InputEntry(uris=uris, options=tuple(options), line=start))

    text = text.removeprefix("\ufeff")
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        content = line.strip(_TRIM)
        if not content or line.startswith("#"):
            continue
        if line.startswith(_INDENT):
            if content.startswith("#"):
                continue
            if uris is None:
                raise BadOption(
                    f"input file line {number}: option line {content!r} comes before any URI line"
                )
            options.append(_parse_option(content, number))
            continue
        flush()
        uris = tuple(field.strip(_TRIM) for field in line.split("\t") if field.strip(_TRIM))
        options = []
        start = number
    flush()
    return entries


def _parse_option(content: str, number: int) -> tuple[str, str]:
    """Split one trimmed option line into ``(name, value)`` at the first ``=``."""
    name, sep, value = content.partition("=")
    name = name.strip(_TRIM)
    if not sep:
        raise BadOption(f"input file line {number}: option line {content!r} is not name=value")
    if not name:
        raise BadOption(f"input file line {number}: option line {content!r} has no option name")
    return name, value.strip(_TRIM)
