"""Shell quoting as bash and cmd.exe do it, and nothing more: nothing runs, nothing expands.

The round-trip properties feed random text through the browsers' own escapers (re-implemented
in ``fixtures/browser_curl.py``) and check that we read back what the browser meant.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fixtures.browser_curl import chrome_posix, chrome_win, firefox_posix, firefox_win
from lixian.errors import Aria2Code, BadOption
from lixian.importers import shell_words
from lixian.importers.shell_words import ShellSyntaxError, looks_like_cmd, split_bash, split_cmd


def test_exports() -> None:
    assert sorted(shell_words.__all__) == [
        "ShellSyntaxError", "looks_like_cmd", "split_bash", "split_cmd"
    ]  # fmt: skip
    assert issubclass(ShellSyntaxError, BadOption)
    assert ShellSyntaxError("x").code == Aria2Code.OPTION_ERROR


# --- bash ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("curl 'a b' c", ["curl", "a b", "c"]),
        ("curl 'a'\"b\"c", ["curl", "abc"]),
        ("curl ''", ["curl", ""]),
        ("curl \\\n  -H 'x'", ["curl", "-H", "x"]),
        ("curl ab\\\ncd", ["curl", "abcd"]),
        ("curl a\\ b \\'", ["curl", "a b", "'"]),
        ('curl "a\\"b\\\\c\\$d\\e"', ["curl", 'a"b\\c$d\\e']),
        ('curl "a\\\nb"', ["curl", "ab"]),
        ("curl 'x'\r\n", ["curl", "x"]),
        ("curl 'a' \\\r\n  'b'\r\n", ["curl", "a", "b"]),
        ("curl $ 'x' a$", ["curl", "$", "x", "a$"]),
        ('curl "cost: 5$"', ["curl", "cost: 5$"]),
        ('curl $"locale"', ["curl", "locale"]),
        ("curl a#b # a comment\n", ["curl", "a#b"]),
        ("curl ~/x *.iso [ab]", ["curl", "~/x", "*.iso", "[ab]"]),  # no tilde or glob expansion
        ("  \n", []),
    ],
)
def test_bash_quoting(text: str, words: list[str]) -> None:
    assert split_bash(text) == words


@pytest.mark.parametrize(
    ("quoted", "meant"),
    [
        (r"$'a\nb\tc\rd'", "a\nb\tc\rd"),
        (r"$'it\'s'", "it's"),
        (r"$'\\\"\?'", '\\"?'),
        (r"$'\u0021 \U0001F600 \u00e9'", "! 😀 é"),
        (r"$'\041\101'", "!A"),
        (r"$'\x41\x4'", "A\x04"),
        (r"$'\e[0m\a\b\f\v'", "\x1b[0m\a\b\f\v"),
        (r"$'\cA'", "\x01"),
        (r"$'\q \u \x'", "\\q \\u \\x"),  # bash keeps what it cannot read
        # Firefox: bytes below 256 as \xHH: UTF-8 if they decode, else Latin-1
        (r"$'Ren\xe9e'", "Renée"),
        (r"$'Ren\xc3\xa9e'", "Renée"),
        # Firefox: astral characters as two UTF-16 code units; a lone half is U+FFFD
        (r"$'\ud83c\udfb5'", "🎵"),
        (r"$'\ud83c.'", "\ufffd."),
        (r"$'$(rm -rf /) `id` ${HOME}'", "$(rm -rf /) `id` ${HOME}"),
    ],
)
def test_ansi_c_quoting(quoted: str, meant: str) -> None:
    assert split_bash(f"curl {quoted}") == ["curl", meant]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("curl 'https://x/", "the quote ' opened at line 1, column 6 never closes"),
        ("curl \\\n 'a' \\\n '", "the quote ' opened at line 3, column 2 never closes"),
        ('curl "abc', 'the quote " opened at line 1, column 6 never closes'),
        ("curl $'abc", "the quote $' opened at line 1, column 6 never closes"),
        ("curl $'abc\\'", "the quote $' opened"),
        ("curl 'a' \\", "ends with a lone \\"),
        ("curl $(rm -rf /)", "$( runs a command at line 1, column 6"),
        ('curl "$(rm -rf /)"', "$( runs a command"),
        ("curl `id`", "a backquote runs a command"),
        ('curl "x`id`"', "a backquote runs a command"),
        ("curl $HOME", "$H expands a shell variable"),
        ('curl "${HOME}"', "${ expands a shell variable"),
        ("curl $1 x", "$1 expands"),
        ("curl 'a'; rm -rf /", "';' separates two commands (line 1, column 9)"),
        ("curl 'a' && curl 'b'", "'&' runs a command in the background or joins two commands"),
        ("curl 'a' | sh", "'|' pipes into another command"),
        ("curl 'a' > /etc/passwd", "'>' redirects output"),
        ("curl 'a' < /etc/passwd", "'<' redirects input"),
        ("curl <(cat x)", "'<' redirects input"),
        ("(curl a)", "'(' starts a subshell"),
        ("curl 'a'\ncurl 'b'", "a second command starts after the line break at line 1"),
    ],
)
def test_bash_refusals(text: str, message: str) -> None:
    with pytest.raises(ShellSyntaxError) as caught:
        split_bash(text)
    assert message in str(caught.value)


def test_refusals_suggest_a_fix() -> None:
    with pytest.raises(ShellSyntaxError, match="put literal text in single quotes"):
        split_bash("curl $(id)")
    with pytest.raises(ShellSyntaxError, match="not Copy all as cURL"):
        split_bash("curl 'a' ;\ncurl 'b'")


# --- cmd.exe -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('curl ^"a b^" c', ["curl", "a b", "c"]),
        ('curl ^"a^&b^|c^<d^>e^^f^"', ["curl", "a&b|c<d>e^f"]),
        ('curl ^"^\\^"q^\\^"^"', ["curl", '"q"']),
        ('curl ^"50^%^20off %PATH% 100^%^"', ["curl", "50%20off %PATH% 100%"]),
        ('curl ^"a^" ^\n  -H ^"b^"', ["curl", "a", "-H", "b"]),
        ('curl ^"a^" ^\r\n  -H ^"b^"\r\n', ["curl", "a", "-H", "b"]),
        ('curl ^"line1^\n\nline2^"', ["curl", "line1\nline2"]),
        # Firefox and Chrome before 2020: plain quotes, "" for a quote, "%" outside quotes
        ('curl "a""b" "50"%"off"', ["curl", 'a"b', "50%off"]),
        ('curl "a & b | c"', ["curl", "a & b | c"]),  # inside cmd's quotes: plain text
        ('curl "a^b"', ["curl", "a^b"]),  # ... and ^ too
        # the C runtime's backslash rules
        ('curl "a\\\\b" "c\\\\\\"d" "e\\\\"', ["curl", "a\\\\b", 'c\\"d', "e\\"]),
        ("curl a\\b", ["curl", "a\\b"]),
        ('curl ""', ["curl", ""]),
        ('curl.exe ^"x^"', ["curl.exe", "x"]),
    ],
)
def test_cmd_quoting(text: str, words: list[str]) -> None:
    assert split_cmd(text) == words


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('curl ^"https://x/', "never closes: the command was cut short"),
        ('curl "https://x/', "never closes: the command was cut short"),
        ('curl "a\nb"', "a line break inside"),
        ("curl ^", "ends with a lone ^"),
        ('curl ^"a^" & calc.exe', "'&' runs a command"),
        ('curl ^"a^" | more', "'|' pipes"),
        ('curl ^"a^" > x', "'>' redirects output"),
        ('curl ^"a^"\ncurl ^"b^"', "does not end with ^"),
    ],
)
def test_cmd_refusals(text: str, message: str) -> None:
    with pytest.raises(ShellSyntaxError) as caught:
        split_cmd(text)
    assert message in str(caught.value)


def test_an_escaped_ampersand_is_only_text() -> None:
    """``^&`` is how Chrome writes ``&``: a character of the word, not a second command."""
    assert split_cmd('curl ^"x^" ^& calc.exe') == ["curl", "x", "&", "calc.exe"]


@pytest.mark.parametrize(
    ("text", "cmd"),
    [
        ("curl 'https://x/'", False),
        ("curl 'https://x/' \\\n  -H 'a: b'", False),
        ('curl "https://x/"', False),
        ("curl 'https://x/?a=^b'", False),
        ('curl ^"https://x/^"', True),
        ('curl "https://x/" ^\n  -H "a: b"', True),
        ('curl "https://x/" ^\r\n  -H "a: b"', True),
        ('  curl.exe "https://x/"', True),
    ],
)
def test_flavour_detection(text: str, cmd: bool) -> None:
    assert looks_like_cmd(text) is cmd


# --- round trips through the browsers' escapers ---------------------------------------------------

_NO_SURROGATES = st.characters(blacklist_categories=("Cs",))


@given(st.text(_NO_SURROGATES))
@example("it's !important")
@example("\x00\x1f\x7f\x80\x9f é 日本 😀")
def test_chrome_bash_round_trip(value: str) -> None:
    assert split_bash(f"curl {chrome_posix(value)} \\\n  --compressed") == [
        "curl", value, "--compressed"
    ]  # fmt: skip


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="".join(
    chr(c) for c in range(0x80, 0x100)))))  # fmt: skip
@example("carpe diem! it's 🎵 日本")
def test_firefox_bash_round_trip(value: str) -> None:
    """Firefox's \\xHH bytes for U+0080..U+00FF are ambiguous next to each other (read as
    UTF-8 when they decode); those are covered by the examples in test_ansi_c_quoting."""
    assert split_bash(f"curl {firefox_posix(value)}") == ["curl", value]


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\\")))
@example('say "hi" & 50%off | <b> ^ (x) !')
@example("line1\nline2\r\nline3")
def test_chrome_cmd_round_trip(value: str) -> None:
    """Chrome doubles backslashes, which the C runtime keeps doubled unless a quote follows
    (so does curl.exe); CRLF inside a value comes back as LF."""
    got = split_cmd(f"curl {chrome_win(value)} ^\n  --compressed")
    assert got == ["curl", value.replace("\r\n", "\n"), "--compressed"]


@given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\\\r\n")))
@example('view="list"; pct=100%')
def test_firefox_cmd_round_trip(value: str) -> None:
    assert split_cmd(f"curl.exe {firefox_win(value)} ^\n  -H {firefox_win('a: b')}") == [
        "curl.exe", value, "-H", "a: b"
    ]  # fmt: skip


def test_chrome_cmd_backslashes_as_curl_exe_gets_them() -> None:
    assert split_cmd("curl " + chrome_win('a\\"b')) == ["curl", 'a\\"b']
    assert split_cmd("curl " + chrome_win("a\\")) == ["curl", "a\\"]
    assert split_cmd("curl " + chrome_win("C:\\dir")) == ["curl", "C:\\\\dir"]


def test_long_input_is_linear() -> None:
    """A megabyte of unquoted text splits quickly (no quadratic word building)."""
    text = "curl " + "a" * 1_000_000 + " " + "'b'" * 100_000
    words = split_bash(text)
    assert len(words[1]) == 1_000_000 and words[2] == "b" * 100_000
    assert len(split_cmd("curl " + "^a" * 500_000)[1]) == 500_000
