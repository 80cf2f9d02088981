"""Names safe on every OS, paths that stay in their root, aria2's auto-renaming, control files."""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian.errors import Aria2Code, FileExists, PathEscape
from lixian.storage import paths
from lixian.storage.paths import (
    MAX_NAME_BYTES,
    auto_rename,
    confine,
    control_path,
    sanitize_filename,
)


def test_exports() -> None:
    for name in paths.__all__:
        assert hasattr(paths, name)
    assert {"auto_rename", "confine", "control_path", "sanitize_filename"} <= set(paths.__all__)


def test_name_budget_leaves_room_for_rename_and_control_suffix() -> None:
    assert MAX_NAME_BYTES + len(".9999") + len(".lixian") == 255


# -- sanitize_filename -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("报告 €.pdf", "报告 €.pdf"),
        ("  leading spaces kept.txt", "  leading spaces kept.txt"),
        # paths: the last component only
        ("../../etc/passwd", "passwd"),
        ("/abs", "abs"),
        ("/etc/", "etc"),
        ("a/../../b", "b"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("dir/sub\\mixed.txt", "mixed.txt"),
        # nothing left
        ("", "download"),
        (".", "download"),
        ("..", "download"),
        ("...", "download"),
        ("/", "download"),
        ("../..", "download"),
        ("\x00", "download"),
        (" . ", "download"),
        ("\x01\x02\x1f\x7f", "download"),
        # control characters dropped
        ("a\x00b.txt", "ab.txt"),
        ("line\nbreak\r\ttab.txt", "linebreaktab.txt"),
        ("c1\x85\x9fctl.txt", "c1ctl.txt"),
        # Windows-illegal characters replaced
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("C:evil.txt", "C_evil.txt"),
        ("what?.html", "what_.html"),
        # trailing dots and spaces stripped
        ("name.txt.", "name.txt"),
        ("name.txt . . ", "name.txt"),
        # bidi overrides dropped: "evil\u202etxt.exe" displays as "evilexe.txt"
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("\u2066a\u2069\u200e\u200f.txt", "a.txt"),
        # unpaired surrogates (undecodable bytes) replaced
        ("caf\udce9.txt", "caf_.txt"),
        # other format characters survive: ZWJ emoji sequences, ZWNJ in Persian
        ("👩\u200d💻.png", "👩\u200d💻.png"),
        ("می\u200cخواهم.txt", "می\u200cخواهم.txt"),
    ],
)
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("CON", "CON_"),
        ("con", "con_"),
        ("CON.txt", "CON_.txt"),
        ("Con.tar.gz", "Con_.tar.gz"),
        ("PRN.log", "PRN_.log"),
        ("aux", "aux_"),
        ("NUL.", "NUL_"),
        ("nul.txt", "nul_.txt"),
        ("COM1", "COM1_"),
        ("com9.bin", "com9_.bin"),
        ("LPT1.txt", "LPT1_.txt"),
        ("lpt9", "lpt9_"),
        ("COM0", "COM0_"),
        ("COM\u00b9.txt", "COM\u00b9_.txt"),
        ("CONIN$", "CONIN$_"),
        ("CON .txt", "CON _.txt"),
        ("dir/CON", "CON_"),
        # not reserved
        ("COM10", "COM10"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("CON_", "CON_"),
        ("xCON.txt", "xCON.txt"),
        ("LPT", "LPT"),
        (".CON", ".CON"),
    ],
)
def test_windows_device_names(raw: str, clean: str) -> None:
    assert sanitize_filename(raw) == clean


def test_long_unicode_name_is_cut_at_a_character_boundary_keeping_the_extension() -> None:
    name = "é" * 300 + "文" * 100 + ".tar.gz"
    clean = sanitize_filename(name)
    assert len(clean.encode()) <= MAX_NAME_BYTES
    assert clean.endswith(".gz")
    assert clean.startswith("é" * 100)
    assert len(clean.encode()) > MAX_NAME_BYTES - 4  # it used the room it had


def test_long_name_with_absurd_extension_is_cut_plainly() -> None:
    name = "a." + "b" * 400
    clean = sanitize_filename(name)
    assert clean == ("a." + "b" * 400)[:MAX_NAME_BYTES]


def test_long_name_without_extension() -> None:
    assert sanitize_filename("x" * 1000) == "x" * MAX_NAME_BYTES


def test_truncation_never_leaves_a_trailing_dot_or_space() -> None:
    name = "a" * (MAX_NAME_BYTES - 1) + " " * 5 + "b"
    assert sanitize_filename(name) == "a" * (MAX_NAME_BYTES - 1)


def test_long_reserved_name_stays_within_budget() -> None:
    clean = sanitize_filename("CON." + "x" * 400)
    assert clean.startswith("CON_.")
    assert len(clean.encode()) <= MAX_NAME_BYTES


def test_emoji_are_never_split() -> None:
    clean = sanitize_filename("😀" * 100 + ".txt")
    assert clean == "😀" * ((MAX_NAME_BYTES - 4) // 4) + ".txt"


def test_max_bytes_can_be_raised_to_the_full_255() -> None:
    assert len(sanitize_filename("x" * 1000 + ".bin", max_bytes=255)) == 255


def test_max_bytes_too_small_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        sanitize_filename("x", max_bytes=3)


_WINDOWS_RESERVED_STEMS = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{p}{d}" for p in ("COM", "LPT") for d in "0123456789¹²³"
}


def _check_safe(clean: str) -> None:
    assert clean not in ("", ".", "..")
    assert "/" not in clean
    assert "\\" not in clean
    assert "\x00" not in clean
    assert not any(c in '<>:"|?*' for c in clean)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in clean)
    assert not clean.endswith((".", " "))
    assert len(clean.encode("utf-8")) <= MAX_NAME_BYTES
    assert clean.partition(".")[0].rstrip(" ").upper() not in _WINDOWS_RESERVED_STEMS


_HOSTILE = st.one_of(
    st.text(max_size=300),
    st.text(st.sampled_from(list("./\\ \x00:*?CONUL1é😀")), max_size=40),
    st.lists(st.sampled_from(["..", ".", "", "CON", "a", "/", "\\", "nul.txt", " "])).map("/".join),
    st.text(min_size=200, max_size=400).map(lambda s: s + ".txt"),
)


@given(_HOSTILE)
def test_sanitized_names_are_always_safe(raw: str) -> None:
    _check_safe(sanitize_filename(raw))


@given(_HOSTILE)
def test_sanitize_is_idempotent(raw: str) -> None:
    once = sanitize_filename(raw)
    assert sanitize_filename(once) == once


@pytest.fixture(scope="module")
def shared_root() -> Iterator[Path]:
    # Module-scoped: hypothesis runs many examples per test and rejects function-scoped fixtures.
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


@given(raw=_HOSTILE)
def test_confine_of_a_sanitized_name_is_always_inside_the_root(shared_root: Path, raw: str) -> None:
    placed = confine(shared_root, sanitize_filename(raw))
    assert placed.parent == shared_root.resolve()


# -- confine -----------------------------------------------------------------------------------


def test_confine_joins_and_resolves(tmp_path: Path) -> None:
    assert confine(tmp_path, "a.iso") == tmp_path.resolve() / "a.iso"
    assert confine(tmp_path, "sub/dir/a.iso") == tmp_path.resolve() / "sub" / "dir" / "a.iso"
    assert confine(tmp_path, Path("sub") / "a.iso") == tmp_path.resolve() / "sub" / "a.iso"
    assert confine(tmp_path, "./a/./b") == tmp_path.resolve() / "a" / "b"
    assert confine(tmp_path, "a//b") == tmp_path.resolve() / "a" / "b"
    assert confine(tmp_path, "...") == tmp_path.resolve() / "..."
    assert confine(tmp_path, "..a") == tmp_path.resolve() / "..a"


def test_confine_of_nothing_is_the_root(tmp_path: Path) -> None:
    assert confine(tmp_path, "") == tmp_path.resolve()
    assert confine(tmp_path, ".") == tmp_path.resolve()


def test_confine_root_need_not_exist(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    assert confine(root, "x/y.bin") == root.resolve() / "x" / "y.bin"


def test_confine_relative_root_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = confine(Path("dl"), "a.iso")
    assert result.is_absolute()
    assert result == tmp_path.resolve() / "dl" / "a.iso"


@pytest.mark.parametrize(
    ("relative", "why"),
    [
        ("/abs", "absolute"),
        ("/etc/passwd", "absolute"),
        ("//server/share/x", "absolute"),
        ("\\abs", "absolute"),
        ("C:\\Windows\\x", "absolute"),
        ("C:x", "absolute"),
        ("..", "'..'"),
        ("../x", "'..'"),
        ("../../etc/passwd", "'..'"),
        ("a/../../b", "'..'"),
        ("a/../b", "'..'"),  # harmless, still refused: only probes write it
        ("a/..", "'..'"),
        ("..\\x", "'..'"),
        ("a\\..\\..\\b", "'..'"),
        ("a\x00b", "NUL"),
    ],
)
def test_confine_refuses(tmp_path: Path, relative: str, why: str) -> None:
    with pytest.raises(PathEscape) as caught:
        confine(tmp_path, relative)
    assert repr(relative) in str(caught.value)
    assert why in str(caught.value)
    assert caught.value.code == Aria2Code.OPTION_ERROR


def test_confine_refuses_absolute_path_objects(tmp_path: Path) -> None:
    with pytest.raises(PathEscape, match="absolute"):
        confine(tmp_path, tmp_path / "inside-but-absolute")


def test_symlinked_dir_pointing_out_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PathEscape, match="outside") as caught:
        confine(root, "link/authorized_keys")
    assert "link/authorized_keys" in str(caught.value)


def test_symlinked_file_pointing_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    secret = tmp_path / "bashrc"
    secret.write_text("x")
    (root / "innocent.txt").symlink_to(secret)
    with pytest.raises(PathEscape, match="outside"):
        confine(root, "innocent.txt")


def test_dangling_symlink_pointing_out_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "dangling").symlink_to(tmp_path / "not-created-yet")
    with pytest.raises(PathEscape, match="outside"):
        confine(root, "dangling")


def test_symlink_to_absolute_system_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "etc").symlink_to("/etc", target_is_directory=True)
    with pytest.raises(PathEscape):
        confine(tmp_path, "etc/passwd")


def test_symlink_inside_the_root_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert confine(tmp_path, "alias/f.bin") == tmp_path.resolve() / "real" / "f.bin"


def test_root_that_is_itself_a_symlink_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "root-link").symlink_to(real, target_is_directory=True)
    assert confine(tmp_path / "root-link", "a.iso") == real.resolve() / "a.iso"


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(PathEscape, match="'a/x'"):
        confine(tmp_path, "a/x")


# -- auto_rename -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "taken", "result"),
    [
        ("file.txt", [], "file.txt"),  # free: unchanged
        ("file.txt", ["file.txt"], "file.1.txt"),
        ("file.txt", ["file.txt", "file.1.txt"], "file.2.txt"),
        # all of these as aria2c 1.37 renamed them
        ("archive.tar.gz", ["archive.tar.gz"], "archive.tar.1.gz"),
        (".bashrc", [".bashrc"], ".bashrc.1"),
        ("noext", ["noext"], "noext.1"),
        ("trail.", ["trail."], "trail.1."),
        ("报告.pdf", ["报告.pdf"], "报告.1.pdf"),
    ],
)
def test_auto_rename(name: str, taken: list[str], result: str) -> None:
    used = {Path("d") / n for n in taken}
    assert auto_rename(Path("d") / name, used.__contains__) == Path("d") / result


def test_auto_rename_only_touches_the_name(tmp_path: Path) -> None:
    path = tmp_path / "v1.2" / "noext"
    assert auto_rename(path, lambda p: p == path) == tmp_path / "v1.2" / "noext.1"


def test_auto_rename_checks_candidates_in_order_and_stops_at_the_first_free() -> None:
    asked: list[str] = []

    def taken(p: Path) -> bool:
        asked.append(p.name)
        return len(asked) <= 3

    assert auto_rename(Path("f.bin"), taken) == Path("f.3.bin")
    assert asked == ["f.bin", "f.1.bin", "f.2.bin", "f.3.bin"]


def test_auto_rename_gives_up_after_9999() -> None:
    calls = 0

    def always(_: Path) -> bool:
        nonlocal calls
        calls += 1
        return True

    with pytest.raises(FileExists) as caught:
        auto_rename(Path("d/f.txt"), always)
    assert caught.value.code == Aria2Code.FILE_EXISTS
    assert "f.9999.txt" in str(caught.value)
    assert calls == 10_000


def test_auto_rename_last_slot_is_9999() -> None:
    result = auto_rename(Path("f.txt"), lambda p: p.name != "f.9999.txt")
    assert result == Path("f.9999.txt")


@given(st.text(min_size=1, max_size=60).map(sanitize_filename), st.integers(0, 30))
def test_auto_rename_keeps_the_extension_and_stays_in_the_directory(name: str, busy: int) -> None:
    original = Path("dl") / name
    seen: set[Path] = set()

    def taken(p: Path) -> bool:
        seen.add(p)
        return len(seen) <= busy

    result = auto_rename(original, taken)
    assert result.parent == original.parent
    assert len(seen) == busy + 1  # every candidate distinct
    if busy:
        assert result != original
        assert len(result.name.encode()) <= 255 - len(".lixian")
        dot = name.rfind(".")
        if dot > 0:
            assert result.name.endswith(name[dot:])
            assert result.name.startswith(name[:dot] + ".")
        else:
            assert result.name == f"{name}.{busy}"


# -- control_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "control"),
    [
        ("a.iso", "a.iso.lixian"),
        ("dl/a.iso", "dl/a.iso.lixian"),
        ("dl/archive.tar.gz", "dl/archive.tar.gz.lixian"),
        ("dl/noext", "dl/noext.lixian"),
        ("dl/.hidden", "dl/.hidden.lixian"),
        ("/abs/dir.d/f", "/abs/dir.d/f.lixian"),
    ],
)
def test_control_path(path: str, control: str) -> None:
    assert control_path(Path(path)) == Path(control)


def test_control_files_of_different_names_never_collide() -> None:
    assert control_path(Path("a.iso")) != control_path(Path("a.img"))
