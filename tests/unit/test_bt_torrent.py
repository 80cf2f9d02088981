"""Torrent and magnet input: aria2's codes for bad input, names confined, big torrents quick."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from fixtures.swarm import bencode
from lixian.engines.bt.errors import BadMagnet, BadTorrent, BencodeError
from lixian.engines.bt.torrent import (
    TorrentMeta,
    is_magnet,
    make_torrent_bytes,
    parse_magnet,
    parse_torrent,
    plan_paths,
    safe_component,
    torrent_from_metadata,
)
from lixian.errors import Aria2Code, PathEscape

PIECE = 16 * 1024


def torrent(
    files: list[tuple[list[str], int]] | None = None,
    *,
    name: Any = "pack",
    length: int = 100,
    extra_info: dict[str, Any] | None = None,
    **top: Any,
) -> bytes:
    """A torrent by hand (hashes are zeros: parsing never checks them)."""
    info: dict[str, Any] = {"name": name, "piece length": PIECE}
    total = length
    if files is None:
        info["length"] = length
    else:
        info["files"] = [{"length": size, "path": path} for path, size in files]
        total = sum(size for _, size in files)
    info["pieces"] = b"\0" * 20 * -(-total // PIECE)
    info.update(extra_info or {})
    return bencode({"announce": "http://127.0.0.1:1/announce", "info": info, **top})


# ---- 25: not bencode ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"garbage", b"d4:info", b"d4:infod4:name1:x", b"i12", b"5:abc", torrent()[:-7]],
    ids=[
        "empty",
        "text",
        "truncated-dict",
        "truncated-info",
        "truncated-int",
        "short-string",
        "truncated-torrent",
    ],
)
def test_not_bencode_is_code_25(data: bytes) -> None:
    with pytest.raises(BencodeError) as caught:
        parse_torrent(data)
    assert caught.value.code == Aria2Code.BENCODE_PARSE == 25
    assert "not a torrent file" in str(caught.value)


# ---- 26: bencode, but not a torrent ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"i5e", "not a dictionary"),
        (b"de", "info"),
        (bencode({"info": "text"}), "info"),
        (bencode({"info": {"name": "x", "length": 10, "pieces": b"\0" * 20}}), "piece length"),
        (bencode({"info": {"name": "x", "piece length": PIECE, "length": 10}}), "pieces"),
        (torrent(extra_info={"pieces": b"\0" * 19}), "piece"),
        (torrent(length=0), "length"),
        (torrent([]), ""),
        (torrent(name=".."), "name"),
        (torrent(files=[(["a"], -5)]), ""),
    ],
    ids=[
        "int",
        "empty-dict",
        "info-not-dict",
        "no-piece-length",
        "no-pieces",
        "short-pieces",
        "zero-length",
        "no-files",
        "dotdot-name",
        "negative-length",
    ],
)
def test_bad_torrent_is_code_26(data: bytes, why: str) -> None:
    with pytest.raises(BadTorrent) as caught:
        parse_torrent(data)
    assert caught.value.code == Aria2Code.BITTORRENT_PARSE == 26
    assert why.lower() in str(caught.value).lower()


def test_oversized_torrent_is_refused_before_parsing() -> None:
    from lixian.engines.bt.model import TorrentLimits

    with pytest.raises(BadTorrent, match="limit"):
        parse_torrent(torrent(), TorrentLimits(max_size=100))


# ---- 27: magnets ----------------------------------------------------------------------------

HASH = "c6c48b737dc5dccf580127bc0cbb8b9ff7b3a670"


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.org/x.torrent",
        "magnet:",
        "magnet:?dn=name-only",
        "magnet:?xt=urn:btih:zz",
        "magnet:?xt=urn:btih:" + HASH[:-1],
        "magnet:?xt=urn:btih:" + "0" * 40,
        "magnet:?xt=urn:sha1:" + HASH,
        "magnet:?xt=urn:btih:" + "g" * 40,
    ],
    ids=["http", "empty", "no-xt", "short", "39-hex", "zero-hash", "wrong-urn", "not-hex"],
)
def test_bad_magnet_is_code_27(uri: str) -> None:
    with pytest.raises(BadMagnet) as caught:
        parse_magnet(uri)
    assert caught.value.code == Aria2Code.MAGNET_PARSE == 27


def test_magnet_fields() -> None:
    link = parse_magnet(
        f"magnet:?xt=urn:btih:{HASH.upper()}&dn=..%2F..%2Fevil%3Aname"
        "&tr=http%3A%2F%2F127.0.0.1%3A1%2Fannounce&tr=udp%3A%2F%2F127.0.0.1%3A2&ws=http%3A%2F%2Fw%2F"
    )
    assert link.info_hash == HASH
    assert link.name == "evil_name"  # the display name is a stranger's too
    assert [url for tier in link.trackers for url in tier] == [
        "http://127.0.0.1:1/announce",
        "udp://127.0.0.1:2",
    ]
    assert link.web_seeds == ("http://w/",)
    assert is_magnet("MAGNET:?xt=urn:btih:" + HASH)


def test_base32_magnet() -> None:
    raw = bytes.fromhex(HASH)
    import base64

    link = parse_magnet("magnet:?xt=urn:btih:" + base64.b32encode(raw).decode())
    assert link.info_hash == HASH


# ---- names ----------------------------------------------------------------------------------

HOSTILE: list[tuple[list[str], int]] = [
    (["..", "..", "etc", "passwd"], 10),
    (["/abs", "x"], 10),
    (["CON"], 10),
    (["nul.txt"], 10),
    (["a:b?.txt"], 10),
    (["a\\..\\b"], 10),
    (["ctl\x01\x7f.bin"], 10),
    (["\u202eexe.txt"], 10),
    (["trailing. "], 10),
    (["dup.txt"], 10),
    (["DUP.txt"], 10),
    (["x" * 300 + ".bin"], 10),
    (["ok", "fine.bin"], 10),
]


def _all_inside(paths: list[str]) -> None:
    for path in paths:
        parts = path.split("/")
        assert "" not in parts and "." not in parts and ".." not in parts, path
        assert not path.startswith("/")
        for part in parts:
            assert part == safe_component(part)
            assert len(part.encode()) <= 243


def test_hostile_names_are_made_safe() -> None:
    meta = parse_torrent(torrent(HOSTILE, name="../../evil"))
    paths = [f.path for f in meta.files]
    _all_inside(paths)
    roots = {p.split("/")[0] for p in paths}
    assert roots == {meta.name} and meta.name not in (".", "..") and "/" not in meta.name
    names = {p.split("/", 1)[1] for p in paths}
    assert {"CON_", "nul_.txt", "a_b_.txt", "trailing", "ok/fine.bin"} <= names
    assert "_/_/etc/passwd" in names  # libtorrent turned ".." into "_": still inside
    assert len({p.lower() for p in paths}) == len(paths)  # dup.txt / DUP.txt kept apart
    assert not any("\u202e" in p or "\x01" in p for p in paths)


@pytest.mark.parametrize("name", ["CON", "a:b", "/etc/passwd", "..\\..\\x", "aux.tar.gz"])
def test_hostile_single_file_name(name: str) -> None:
    meta = parse_torrent(torrent(name=name))
    assert meta.mode == "single"
    (only,) = meta.files
    assert "/" not in only.path and ":" not in only.path
    assert only.path == meta.name
    _all_inside([only.path])


def test_plan_paths_confines_and_renames(tmp_path: Path) -> None:
    meta = parse_torrent(torrent(HOSTILE, name="evil"))
    renames = plan_paths(meta, tmp_path)
    changed = {meta.loaded.paths[i] for i in renames}
    assert "evil/CON" in changed and "evil/ok/fine.bin" not in changed
    for i, path in renames.items():
        full = (tmp_path / path).resolve()
        assert full.is_relative_to(tmp_path.resolve())
        assert path == meta.files[i].path


def test_symlink_out_of_the_dir_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dl = tmp_path / "dl"
    (dl / "pack").mkdir(parents=True)
    (dl / "pack" / "sub").symlink_to(outside)
    meta = parse_torrent(torrent([(["sub", "x.bin"], 10), (["y.bin"], 10)]))
    with pytest.raises(PathEscape) as caught:
        plan_paths(meta, dl)
    assert caught.value.code == Aria2Code.OPTION_ERROR
    # A file that is itself a link out is refused too.
    (dl / "pack" / "sub").unlink()
    (dl / "pack" / "y.bin").symlink_to(outside / "y.bin")
    with pytest.raises(PathEscape):
        plan_paths(meta, dl)


def test_index_out_is_confined(tmp_path: Path) -> None:
    meta = parse_torrent(torrent([(["a.bin"], 10), (["b.bin"], 10)]))
    assert plan_paths(meta, tmp_path, [(2, "moved/b2.bin")])[1] == "moved/b2.bin"
    with pytest.raises(PathEscape):
        plan_paths(meta, tmp_path, [(1, "../escape.bin")])
    with pytest.raises(PathEscape):
        plan_paths(meta, tmp_path, [(1, "/etc/passwd")])
    with pytest.raises(BadTorrent):
        plan_paths(meta, tmp_path, [(3, "x")])


# ---- metadata round trip --------------------------------------------------------------------


def test_metadata_becomes_a_torrent_with_the_same_info_hash() -> None:
    original = parse_torrent(torrent([(["a"], 40_000), (["b"], 1)], comment="c"))
    info = original.loaded.info_section
    assert hashlib.sha1(info).hexdigest() == original.info_hash
    link = parse_magnet(f"magnet:?xt=urn:btih:{original.info_hash}&tr=http%3A%2F%2Ft%2Fa")
    rebuilt = torrent_from_metadata(info, link)
    assert rebuilt.info_hash == original.info_hash
    assert rebuilt.trackers == (("http://t/a",),)
    assert [f.path for f in rebuilt.files] == [f.path for f in original.files]
    other = parse_magnet("magnet:?xt=urn:btih:" + "1" * 40)
    with pytest.raises(BadMagnet):
        torrent_from_metadata(info, other)
    assert make_torrent_bytes(info).endswith(info + b"e")


def test_torrent_facts() -> None:
    meta = parse_torrent(
        torrent(
            [(["d", "a.bin"], 40_000), (["b.bin"], 5)],
            comment="hello",
            **{"creation date": 1_700_000_000, "announce-list": [["http://t1/a"], ["udp://t2:1"]]},
        )
    )
    assert (meta.mode, meta.name, meta.num_files) == ("multi", "pack", 2)
    assert meta.total_length == 40_005 and meta.piece_length == PIECE and meta.num_pieces == 3
    assert meta.loaded.comment == "hello" and meta.loaded.creation_date == 1_700_000_000
    assert meta.trackers == (("http://t1/a",), ("udp://t2:1",))
    assert [(f.index, f.path, f.length, f.offset) for f in meta.files] == [
        (1, "pack/d/a.bin", 40_000, 0),
        (2, "pack/b.bin", 5, 40_000),
    ]


# ---- 100,000 files --------------------------------------------------------------------------

MANY = 100_000


@pytest.fixture(scope="module")
def many_files() -> bytes:
    files = [([f"d{i // 1000:03d}", f"file {i:06d}.bin"], 1000 + i % 7) for i in range(MANY)]
    total = sum(size for _, size in files)
    piece = 4 << 20
    info = {
        "name": "many",
        "piece length": piece,
        "pieces": b"\1" * 20 * -(-total // piece),
        "files": [{"length": size, "path": path} for path, size in files],
    }
    return bencode({"announce": "http://127.0.0.1:1/announce", "info": info})


def test_100k_files_parse_and_list_quickly(many_files: bytes, tmp_path: Path) -> None:
    assert len(many_files) > 4_000_000
    t0 = time.perf_counter()
    meta = parse_torrent(many_files)
    parsed = time.perf_counter() - t0
    assert meta.num_files == MANY
    t0 = time.perf_counter()
    page = meta.list_files(99_990, 50)
    paged = time.perf_counter() - t0
    assert [f.index for f in page] == list(range(99_991, 100_001))
    assert page[-1].path == "many/d099/file 099999.bin"
    t0 = time.perf_counter()
    assert len(meta.files) == MANY
    listed = time.perf_counter() - t0
    t0 = time.perf_counter()
    renames = plan_paths(meta, tmp_path)
    planned = time.perf_counter() - t0
    assert renames == {}  # plain names: libtorrent's own are kept
    print(
        f"100k files: parse {parsed:.3f}s, page {paged * 1000:.2f}ms, "
        f"all rows {listed:.3f}s, confine {planned:.3f}s"
    )
    # Generous bounds for a shared 2-core machine; measured ~0.6 s, ~0.05 ms, ~0.15 s, ~0.1 s.
    assert parsed < 5 and paged < 0.01 and listed < 2 and planned < 2


def test_100k_hostile_names_are_fixed_quickly(tmp_path: Path) -> None:
    files = [([f"COM{i % 10}", f"f:{i}?.bin"], 1) for i in range(MANY)]
    data = bencode(
        {
            "info": {
                "name": "x",
                "piece length": 1 << 20,
                "pieces": b"\0" * 20,
                "files": [{"length": s, "path": p} for p, s in files],
            }
        }
    )
    t0 = time.perf_counter()
    meta = parse_torrent(data)
    renames = plan_paths(meta, tmp_path)
    elapsed = time.perf_counter() - t0
    assert len(renames) == MANY
    assert renames[5] == "x/COM5_/f_5_.bin"
    assert elapsed < 10, elapsed


def test_meta_is_not_mutated_by_planning(tmp_path: Path) -> None:
    meta = parse_torrent(torrent(HOSTILE))
    before = (meta.safe_paths, meta.loaded.paths)
    plan_paths(meta, tmp_path, [(1, "x.bin")])
    assert (meta.safe_paths, meta.loaded.paths) == before
    assert isinstance(meta, TorrentMeta)
    assert not os.listdir(tmp_path)  # planning writes nothing
