"""aria2 input files (``aria2c -i``): the format as aria2c 1.37 reads it, plus lixian's refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian.errors import Aria2Code, BadOption
from lixian.importers import aria2_input
from lixian.importers.aria2_input import InputEntry, parse_input_file


def test_exports() -> None:
    assert sorted(aria2_input.__all__) == ["InputEntry", "parse_input_file"]


def test_empty_and_comment_only_files_have_no_entries() -> None:
    assert parse_input_file("") == []
    assert parse_input_file("\n\n   \n") == []
    assert parse_input_file("# just a comment\n#another\n") == []


def test_one_uri_per_line_is_one_download_each() -> None:
    assert parse_input_file("http://a/1\nhttp://b/2\n") == [
        InputEntry(uris=("http://a/1",), options=(), line=1),
        InputEntry(uris=("http://b/2",), options=(), line=2),
    ]


def test_no_trailing_newline() -> None:
    assert parse_input_file("http://a/1") == [InputEntry(("http://a/1",), (), 1)]


def test_tab_separated_uris_are_mirrors_of_one_file() -> None:
    [entry] = parse_input_file("http://a/f.iso\thttp://b/f.iso\tftp://c/f.iso\n")
    assert entry.uris == ("http://a/f.iso", "http://b/f.iso", "ftp://c/f.iso")


def test_uri_fields_are_trimmed_and_empty_fields_dropped() -> None:
    # aria2c 1.37: "http://a/1 \t\t http://b/1 " is two URIs.
    [entry] = parse_input_file("http://a/1 \t\t http://b/1 \t\n")
    assert entry.uris == ("http://a/1", "http://b/1")


def test_spaces_do_not_separate_uris() -> None:
    # Only TAB separates mirrors; the caller's URI check rejects the result.
    [entry] = parse_input_file("http://a/1 http://b/1\n")
    assert entry.uris == ("http://a/1 http://b/1",)


def test_options_follow_their_uri_line_indented_by_space_or_tab() -> None:
    text = "http://a/1\thttp://b/1\n  out=x.bin\n\tsplit=3\nhttp://c/2\n dir=/tmp/d\n"
    assert parse_input_file(text) == [
        InputEntry(("http://a/1", "http://b/1"), (("out", "x.bin"), ("split", "3")), 1),
        InputEntry(("http://c/2",), (("dir", "/tmp/d"),), 4),
    ]


def test_repeated_options_keep_their_order() -> None:
    [entry] = parse_input_file("http://a/1\n  header=X: 1\n  header=Y: 2\n")
    assert entry.options == (("header", "X: 1"), ("header", "Y: 2"))


def test_value_is_split_at_the_first_equals_sign() -> None:
    [entry] = parse_input_file("http://a/1\n  out=a=b\n  header=Cookie: k=v\n")
    assert entry.options == (("out", "a=b"), ("header", "Cookie: k=v"))


def test_name_and_value_are_trimmed() -> None:
    # aria2c 1.37: "  out = x y " sets out to "x y".
    [entry] = parse_input_file("http://a/1\n  out = x y \t\n")
    assert entry.options == (("out", "x y"),)


def test_empty_value_is_allowed() -> None:
    [entry] = parse_input_file("http://a/1\n  out=\n")
    assert entry.options == (("out", ""),)


def test_comments_and_blank_lines_do_not_end_the_option_block() -> None:
    text = "http://a/1\n  out=x\n# a comment\n\n   \n  split=2\nhttp://b/2\n"
    [first, second] = parse_input_file(text)
    assert first.options == (("out", "x"), ("split", "2"))
    assert second == InputEntry(("http://b/2",), (), 7)


def test_indented_comment_is_a_comment() -> None:
    [entry] = parse_input_file("http://a/1\n  # out=no\n  out=yes\n")
    assert entry.options == (("out", "yes"),)


def test_hash_inside_a_uri_is_not_a_comment() -> None:
    [entry] = parse_input_file("http://a/page#frag\n")
    assert entry.uris == ("http://a/page#frag",)


def test_crlf_line_ends() -> None:
    text = "http://a/1\thttp://b/1\r\n  out=crlf\r\n\r\nhttp://c/3\r\n"
    assert parse_input_file(text) == [
        InputEntry(("http://a/1", "http://b/1"), (("out", "crlf"),), 1),
        InputEntry(("http://c/3",), (), 4),
    ]


def test_utf8_bom_is_ignored() -> None:
    assert parse_input_file("\ufeffhttp://a/1\n") == [InputEntry(("http://a/1",), (), 1)]


def test_non_ascii_values_pass_through() -> None:
    [entry] = parse_input_file("http://a/1\n  out=报告 €.pdf\n")
    assert entry.options == (("out", "报告 €.pdf"),)


def test_save_session_output_reads_back() -> None:
    # The shape aria2c --save-session writes: one-space indents, gid and dir.
    text = (
        "http://127.0.0.1:8080/a.bin\n"
        " gid=2089b05ecca3d829\n"
        " dir=/downloads\n"
        " out=a.bin\n"
        "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567\n"
        " gid=d8d2c8c1a5a3f10e\n"
        " pause=true\n"
    )
    first, second = parse_input_file(text)
    assert first.options == (("gid", "2089b05ecca3d829"), ("dir", "/downloads"), ("out", "a.bin"))
    assert second.uris[0].startswith("magnet:?")
    assert second.line == 5


def test_option_names_are_not_validated_here() -> None:
    [entry] = parse_input_file("http://a/1\n  no-such-option=1\n  --out=x\n")
    assert entry.options == (("no-such-option", "1"), ("--out", "x"))


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("http://a/1\n  garbage\n", 2, "not name=value"),
        ("http://a/1\n  out=x\n\n  =v\n", 4, "no option name"),
        ("http://a/1\n  \t = v\n", 2, "no option name"),
        ("  out=z\nhttp://a/1\n", 1, "before any URI"),
        ("# header\n\n\thttp://a/1\n", 3, "before any URI"),
    ],
)
def test_malformed_option_lines_raise_bad_option_with_line(text: str, line: int, why: str) -> None:
    with pytest.raises(BadOption) as caught:
        parse_input_file(text)
    assert f"line {line}" in str(caught.value)
    assert why in str(caught.value)
    assert caught.value.code == Aria2Code.OPTION_ERROR


# -- properties --------------------------------------------------------------------------------

_URI_CHARS = "abcXYZ019-._~:/?&=%+!$'()*,;@[]#é报"
_VALUE_CHARS = _URI_CHARS + ' \t=\\"'
_URI = st.text(_URI_CHARS, min_size=1, max_size=20).map(lambda s: "http://h/" + s)
_NAME = st.text("abcxyz019-", min_size=1, max_size=12)
_VALUE = st.text(_VALUE_CHARS, max_size=20).map(lambda s: s.strip(" \t"))
_ENTRY = st.tuples(
    st.lists(_URI, min_size=1, max_size=4),
    st.lists(st.tuples(_NAME, _VALUE), max_size=4),
    st.sampled_from(["  ", "\t", " "]),
    st.booleans(),
)


@given(st.lists(_ENTRY, max_size=6), st.sampled_from(["\n", "\r\n"]))
def test_round_trip(
    entries: list[tuple[list[str], list[tuple[str, str]], str, bool]], eol: str
) -> None:
    lines: list[str] = []
    expected: list[InputEntry] = []
    for uris, options, indent, comment in entries:
        start = len(lines) + 1
        lines.append("\t".join(uris))
        for name, value in options:
            lines.append(f"{indent}{name}={value}")
            if comment:
                lines.extend(["# note", ""])
        expected.append(InputEntry(tuple(uris), tuple(options), start))
    assert parse_input_file(eol.join(lines)) == expected


@given(st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_bad_option(text: str) -> None:
    try:
        entries = parse_input_file(text)
    except BadOption:
        return
    for entry in entries:
        assert entry.uris
        assert all(uri and uri == uri.strip(" \t\r\n") and "\t" not in uri for uri in entry.uris)
        assert all(name and "=" not in name for name, _ in entry.options)
