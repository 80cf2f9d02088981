"""Split a pasted shell command into words, as bash or cmd.exe would, without running anything.

Theory of operation
-------------------
Browsers' "Copy as cURL" writes a command for a shell: bash (Chrome, Edge and Firefox on Linux
and macOS) or cmd.exe (the same browsers on Windows). To read it we do the shell's quoting and
nothing else: no variable, command or file-name expansion ever happens, because the text is
someone's clipboard and may be hostile. Where a shell *would* expand or run something outside
quotes (``$(...)``, backquotes, ``$VAR``, ``;``, ``|``, ``&``, ``>``), we refuse with
:class:`ShellSyntaxError` naming the line and column instead of guessing what the shell would
have produced. Inside single quotes all of that is plain text, which is how browsers quote.

bash (POSIX quoting plus bash's ``$'...'``):

* ``'...'`` is literal up to the next ``'``; ``"..."`` is literal except ``\\`` before
  ``$ ` " \\`` or a newline; outside quotes ``\\x`` is ``x`` and backslash-newline is nothing
  (Chrome and Firefox end every line but the last with `` \\``).
* ``$'...'`` (ANSI-C quoting) takes ``\\n \\r \\t \\' \\\\ \\xHH \\NNN \\uHHHH \\UHHHHHHHH`` and
  friends. Chrome escapes ``!`` and control characters as ``\\u0021``; Firefox writes
  characters below 256 as ``\\xHH`` and others as UTF-16 ``\\uHHHH`` code units. Bash would
  turn ``\\xe9`` into a lone byte, and a ``\\ud83d\\ude00`` pair into garbage; we read what the
  browser meant: a run of ``\\x``/octal bytes is UTF-8 if it decodes, else Latin-1, and
  surrogate pairs are joined.
* A newline outside quotes ends the command; more words after it are a second command.

cmd.exe, two parsers in a row, as Windows runs ``curl.exe``:

1. cmd.exe: ``^`` takes the next character literally; ``^`` at the end of a line joins the next
   line and takes its first character literally (so Chrome's ``^`` + two newlines is one newline
   inside a value). A plain ``"`` toggles cmd's quoting, inside which ``^`` is literal;
   ``^"`` is a quote cmd ignores but still passes on. ``%`` is left alone: Chrome writes
   ``%^20`` so that no ``%name%`` pair forms, and an undefined variable stays as typed in an
   interactive cmd. ``& | < >`` outside quotes start another command or redirect: refused.
2. The C runtime's argv rules (CommandLineToArgvW): spaces and tabs split words outside
   ``"``; ``2n`` backslashes before ``"`` are ``n`` backslashes and a quote toggle, ``2n+1``
   are ``n`` backslashes and a literal ``"``; other backslashes are literal; ``""`` inside
   quotes is a literal ``"``. (Chrome doubles every backslash, so a backslash not followed by a
   quote reaches curl.exe doubled; we do as curl.exe would.)

>>> split_bash("curl 'https://example.com/a b' \\\\\\n  -H $'x: it\\\\'s'")
['curl', 'https://example.com/a b', '-H', "x: it's"]
>>> split_cmd('curl ^"https://example.com/?a=1^&b=2^" ^\\n  -H ^"x: ^\\\\^"q^\\\\^"^"')
['curl', 'https://example.com/?a=1&b=2', '-H', 'x: "q"']
"""

from __future__ import annotations

import re

from lixian.errors import BadOption

__all__ = ["ShellSyntaxError", "looks_like_cmd", "split_bash", "split_cmd"]

_OPERATORS = {
    ";": "';' separates two commands",
    "&": "'&' runs a command in the background or joins two commands",
    "|": "'|' pipes into another command",
    "<": "'<' redirects input",
    ">": "'>' redirects output",
    "(": "'(' starts a subshell",
    ")": "')' ends a subshell",
}
_ONE_COMMAND = "paste one curl command (Copy as cURL, not Copy all as cURL)"
_SIMPLE_ESCAPES = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
    "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?",
}  # fmt: skip
_HEX = "0123456789abcdefABCDEF"
_CMD_CONTINUATION = re.compile(r"\^[ \t]*\r?$", re.MULTILINE)


class ShellSyntaxError(BadOption):
    """The pasted text is not one complete, expansion-free shell command."""


def _where(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def looks_like_cmd(text: str) -> bool:
    """True for cmd.exe flavour: ``curl.exe``, ``^"`` quoting or lines ending in ``^``."""
    head = text.lstrip().lower()
    return head.startswith("curl.exe") or '^"' in text or bool(_CMD_CONTINUATION.search(text))


# --- bash ----------------------------------------------------------------------------------------


def split_bash(text: str) -> list[str]:
    """The words of one bash command; raises :class:`ShellSyntaxError` where bash would expand,
    run or redirect something, or where the text is cut short (an open quote)."""
    text = text.replace("\r\n", "\n")
    words: list[str] = []
    word: list[str] = []
    started = False  # a word is open (it may be empty: '')
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            if started:
                words.append("".join(word))
                word, started = [], False
            if c == "\n" and text[i:].strip():
                raise ShellSyntaxError(
                    f"a second command starts after the line break at {_where(text, i)} "
                    f"(the line does not end with \\); {_ONE_COMMAND}"
                )
            i += 1
            continue
        if c == "#" and not started:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        started = True
        if c == "\\":
            if i + 1 == n:
                raise ShellSyntaxError("the command ends with a lone \\: it was cut short")
            if text[i + 1] == "\n":
                started = bool(word)  # a continuation between words opens none
            else:
                word.append(text[i + 1])
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError(f"the quote ' opened at {_where(text, i)} never closes")
            word.append(text[i + 1 : end])
            i = end + 1
        elif c == "$":
            piece, i = _dollar(text, i)
            word.append(piece)
        elif c == '"':
            piece, i = _double_quoted(text, i + 1, i)
            word.append(piece)
        elif c == "`":
            raise _expansion(text, i, "a backquote runs a command")
        elif c in _OPERATORS:
            raise ShellSyntaxError(f"{_OPERATORS[c]} ({_where(text, i)}); {_ONE_COMMAND}")
        else:
            word.append(c)
            i += 1
    if started:
        words.append("".join(word))
    return words


def _expansion(text: str, i: int, what: str) -> ShellSyntaxError:
    return ShellSyntaxError(
        f"{what} at {_where(text, i)}; lixian never runs or expands anything in a pasted "
        "command (put literal text in single quotes)"
    )


def _dollar(text: str, i: int) -> tuple[str, int]:
    """``$`` outside quotes: ``$'...'``, ``$"..."``, an expansion (refused) or a plain ``$``."""
    following = text[i + 1 : i + 2]
    if following == "'":
        return _ansi_c(text, i + 2, i)
    if following == '"':
        return _double_quoted(text, i + 2, i)
    _check_dollar(text, i)
    return "$", i + 1


def _check_dollar(text: str, i: int) -> None:
    following = text[i + 1 : i + 2]
    if following == "(":
        raise _expansion(text, i, "$( runs a command")
    if following and (following.isalnum() or following in "_{@*#?$!-"):
        raise _expansion(text, i, f"${following} expands a shell variable")


def _double_quoted(text: str, i: int, start: int) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
            if text[i + 1] != "\n":
                out.append(text[i + 1])
            i += 2
            continue
        if c == "`":
            raise _expansion(text, i, "a backquote runs a command")
        if c == "$":
            _check_dollar(text, i)
        out.append(c)
        i += 1
    raise ShellSyntaxError(f'the quote " opened at {_where(text, start)} never closes')


def _ansi_c(text: str, i: int, start: int) -> tuple[str, int]:
    """Decode ``$'...'`` from just after the opening quote; returns (text, index after ')."""
    out: list[str] = []
    raw = bytearray()  # \xHH and octal escapes: bytes, decoded together when the run ends

    def flush() -> None:
        if raw:
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(raw.decode("latin-1"))
            raw.clear()

    n = len(text)
    while i < n:
        c = text[i]
        if c == "'":
            flush()
            return _join_surrogates("".join(out)), i + 1
        if c != "\\" or i + 1 == n:
            flush()
            out.append(c)
            i += 1
            continue
        e = text[i + 1]
        i += 2
        if e in "01234567":
            digits = _run(text, i - 1, "01234567", 3)
            raw.append(int(digits, 8) & 0xFF)
            i += len(digits) - 1
            continue
        if e == "x" and (digits := _run(text, i, _HEX, 2)):
            raw.append(int(digits, 16))
            i += len(digits)
            continue
        flush()
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
        elif e in "uU" and (digits := _run(text, i, _HEX, 4 if e == "u" else 8)):
            out.append(_code_point(int(digits, 16)))
            i += len(digits)
        elif e == "c" and i < n:
            out.append(chr(ord(text[i]) & 0x1F))
            i += 1
        else:
            out.append("\\" + e)  # bash keeps an unknown escape as typed
    raise ShellSyntaxError(f"the quote $' opened at {_where(text, start)} never closes")


def _run(text: str, i: int, alphabet: str, limit: int) -> str:
    end = i
    while end < len(text) and end - i < limit and text[end] in alphabet:
        end += 1
    return text[i:end]


def _code_point(value: int) -> str:
    return chr(value) if value <= 0x10FFFF else "\ufffd"


def _join_surrogates(text: str) -> str:
    """Firefox writes astral characters as two ``\\u`` code units; join them (lone halves
    become U+FFFD)."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# --- cmd.exe -------------------------------------------------------------------------------------


def split_cmd(text: str) -> list[str]:
    """The words curl.exe would get from one cmd.exe command line (see the module notes)."""
    return _crt_words(_cmd_line(text.replace("\r\n", "\n")))


def _cmd_line(text: str) -> str:
    """Phase 1, cmd.exe: carets, continuations and quote state; the command line it runs."""
    out: list[str] = []
    quoted = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            if quoted:
                raise ShellSyntaxError(
                    f'a line break inside "..." at {_where(text, i)}: cmd ends the command '
                    "there (the quote was never closed?)"
                )
            if text[i:].strip():
                raise ShellSyntaxError(
                    f"a second command starts after the line break at {_where(text, i)} "
                    f"(the line does not end with ^); {_ONE_COMMAND}"
                )
            break
        if quoted:
            quoted = c != '"'
            out.append(c)
            i += 1
        elif c == "^":
            if i + 1 == n:
                raise ShellSyntaxError("the command ends with a lone ^: it was cut short")
            if text[i + 1] == "\n":  # continuation: the next line's first character is literal
                out.append(text[i + 2 : i + 3])
                i += 3
            else:
                out.append(text[i + 1])
                i += 2
        elif c == '"':
            quoted = True
            out.append(c)
            i += 1
        elif c in "&|<>":
            raise ShellSyntaxError(f"{_OPERATORS[c]} ({_where(text, i)}); {_ONE_COMMAND}")
        else:
            out.append(c)
            i += 1
    return "".join(out)  # an open quote here is the C runtime's to judge (cmd does not mind)


def _crt_words(line: str) -> list[str]:
    """Phase 2, the C runtime's argv splitting."""
    words: list[str] = []
    word: list[str] | None = None
    quoted = False
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            end = i
            while end < n and line[end] == "\\":
                end += 1
            count = end - i
            word = word if word is not None else []
            if end < n and line[end] == '"':
                word.append("\\" * (count // 2))
                if count % 2:
                    word.append('"')
                    end += 1
            else:
                word.append("\\" * count)
            i = end
        elif c == '"':
            word = word if word is not None else []
            if quoted and line[i + 1 : i + 2] == '"':
                word.append('"')
                i += 2
            else:
                quoted = not quoted
                i += 1
        elif c in " \t" and not quoted:
            if word is not None:
                words.append("".join(word))
                word = None
            i += 1
        else:
            word = word if word is not None else []
            word.append(c)
            i += 1
    if quoted:
        raise ShellSyntaxError('a quote ^" or " never closes: the command was cut short')
    if word is not None:
        words.append("".join(word))
    return words
