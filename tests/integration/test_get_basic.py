"""``lixian get`` end to end, the happy paths: segmenting, mirrors, naming, files, headers, TLS.

The real CLI runs as a subprocess against the fault server; every download is checked
by the sha256 of what landed on disk.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.fault_server import FaultServer, RequestRecord

RunGet = Callable[..., subprocess.CompletedProcess[str]]
Sha = Callable[[Path], str]

MB = 1 << 20


def gets(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.method == "GET"]


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


def only_file(directory: Path) -> Path:
    files = [p for p in directory.iterdir() if p.is_file()]
    assert len(files) == 1, sorted(p.name for p in directory.iterdir())
    return files[0]


# ---------------------------------------------------------------- segmenting


def test_segmented_download_uses_several_ranges(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/seg.bin", size=8 * MB, seed=1)
    ok(run_get("-x4", "-s4", "-k1M", "-d", "out", url))
    assert file_sha256(tmp_path / "out" / "seg.bin") == fault_server.expected_sha256(8 * MB, 1)
    requests = gets(fault_server.requests_for("/seg.bin"))
    ranged = {r.range for r in requests if r.range is not None}
    assert len(ranged) >= 3, [r.range_header for r in requests]
    assert len(requests) <= 4 + 8, "bounded: a handful of ranges, no request storm"
    # lixian never asks for a compressed body: bytes on the wire are the file's bytes.
    assert all(r.header("Accept-Encoding") == "identity" for r in requests)
    assert not list((tmp_path / "out").glob("*.lixian")), "no control file after success"


@pytest.mark.parametrize("knob", ["norange", "chunked"])
def test_single_connection_fallback(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path, knob: str
) -> None:
    path = f"/{knob}.bin"
    url = fault_server.url(path, size=4 * MB, seed=2, **{knob: True})
    ok(run_get("-x4", "-s4", "-k1M", url))
    assert file_sha256(tmp_path / f"{knob}.bin") == fault_server.expected_sha256(4 * MB, 2)
    assert len(gets(fault_server.requests_for(path))) == 1


# ---------------------------------------------------------------- several URIs


def test_several_uris_are_mirrors_of_one_file(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    a = fault_server.url("/mirror-a.bin", size=8 * MB, seed=3)
    b = fault_server.url2("/mirror-b.bin", size=8 * MB, seed=3)
    ok(run_get("-x4", "-s4", "-k1M", "-d", "out", a, b))
    out = only_file(tmp_path / "out")
    assert out.name == "mirror-a.bin"
    assert file_sha256(out) == fault_server.expected_sha256(8 * MB, 3)
    assert gets(fault_server.requests_for("/mirror-a.bin"))
    assert gets(fault_server.requests_for("/mirror-b.bin"))


def test_force_sequential_makes_each_uri_a_download(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    a = fault_server.url("/z-a.bin", size=1 * MB, seed=4)
    b = fault_server.url("/z-b.bin", size=2 * MB, seed=5)
    ok(run_get("-Z", "-d", "out", a, b))
    assert file_sha256(tmp_path / "out" / "z-a.bin") == fault_server.expected_sha256(1 * MB, 4)
    assert file_sha256(tmp_path / "out" / "z-b.bin") == fault_server.expected_sha256(2 * MB, 5)


def test_input_file_with_mirrors_and_options(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    one_a = fault_server.url("/in-1a.bin", size=4 * MB, seed=6)
    one_b = fault_server.url2("/in-1b.bin", size=4 * MB, seed=6)
    two = fault_server.url("/in-2.bin", size=1 * MB, seed=7)
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# an aria2 input file\n"
        f"{one_a}\t{one_b}\n"
        "  out=first.bin\n"
        "\n"
        f"{two}\n"
        "\tout=second.bin\n"
        "\theader=X-From-Input: yes\n",
        encoding="utf-8",
    )
    ok(run_get("-i", str(listing), "-j2", "-x4", "-s4", "-k1M", "-d", "out"))
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["first.bin", "second.bin"]
    assert file_sha256(out / "first.bin") == fault_server.expected_sha256(4 * MB, 6)
    assert file_sha256(out / "second.bin") == fault_server.expected_sha256(1 * MB, 7)
    assert gets(fault_server.requests_for("/in-1a.bin"))
    assert gets(fault_server.requests_for("/in-1b.bin"))
    assert all(r.header("X-From-Input") == "yes" for r in fault_server.requests_for("/in-2.bin"))
    assert all(r.header("X-From-Input") is None for r in fault_server.requests_for("/in-1a.bin"))


def test_max_concurrent_downloads_runs_them_together(
    fault_server: FaultServer,
    tmp_path: Path,
    spawn_get: Callable[..., subprocess.Popen[str]],
    file_sha256: Sha,
) -> None:
    """-j2: both downloads are in flight at the same moment (seen at the server)."""
    size = 1 * MB
    a = fault_server.url("/j-a.bin", size=size, seed=8, rate=1_000_000)
    b = fault_server.url("/j-b.bin", size=size, seed=9, rate=1_000_000)
    proc = spawn_get("-Z", "-j2", "-x1", "-q", "-d", "out", a, b)

    def both_in_flight(records: list[RequestRecord]) -> bool:
        live = {r.path for r in records if r.method == "GET" and not r.outcome}
        return {"/j-a.bin", "/j-b.bin"} <= live

    overlapped = fault_server.wait_until(both_in_flight, within=10)
    assert proc.wait(timeout=30) == 0
    assert overlapped
    assert file_sha256(tmp_path / "out" / "j-a.bin") == fault_server.expected_sha256(size, 8)
    assert file_sha256(tmp_path / "out" / "j-b.bin") == fault_server.expected_sha256(size, 9)


def test_max_concurrent_one_runs_them_in_order(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    a = fault_server.url("/j1-a.bin", size=1 * MB, seed=10)
    b = fault_server.url("/j1-b.bin", size=1 * MB, seed=11)
    ok(run_get("-Z", "-j1", "-d", "out", a, b))
    paths = [r.path for r in gets(fault_server.requests)]
    assert paths == sorted(paths, key=lambda p: p != "/j1-a.bin"), paths
    assert file_sha256(tmp_path / "out" / "j1-a.bin") == fault_server.expected_sha256(1 * MB, 10)
    assert file_sha256(tmp_path / "out" / "j1-b.bin") == fault_server.expected_sha256(1 * MB, 11)


# ---------------------------------------------------------------- where and under what name


def test_dir_is_created_when_missing(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/deep.bin", size=100_000, seed=12)
    ok(run_get("-d", "a/b/c", url))
    assert file_sha256(tmp_path / "a/b/c/deep.bin") == fault_server.expected_sha256(100_000, 12)


def test_default_dir_is_the_current_directory(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/here.bin", size=100_000, seed=13)
    work = tmp_path / "work"
    work.mkdir()
    ok(run_get(url, cwd=work))
    assert file_sha256(work / "here.bin") == fault_server.expected_sha256(100_000, 13)


def test_out_names_the_file(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/ignored.bin", size=100_000, seed=14, cd="also-ignored.bin")
    ok(run_get("-d", "out", "-o", "chosen.dat", url))
    assert only_file(tmp_path / "out").name == "chosen.dat"
    assert file_sha256(tmp_path / "out/chosen.dat") == fault_server.expected_sha256(100_000, 14)


@pytest.mark.parametrize(
    ("knobs", "name"),
    [
        ({"cd": "report.pdf"}, "report.pdf"),
        ({"cd": "fallback.bin", "cd_star": "résumé €.bin"}, "résumé €.bin"),
    ],
    ids=["filename", "filename-star-utf8"],
)
def test_content_disposition_names_the_file(
    fault_server: FaultServer,
    run_get: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
    knobs: dict[str, str],
    name: str,
) -> None:
    url = fault_server.url("/get", size=100_000, seed=15, **knobs)
    ok(run_get("-d", "out", url))
    out = only_file(tmp_path / "out")
    assert out.name == name
    assert file_sha256(out) == fault_server.expected_sha256(100_000, 15)


def test_url_path_names_the_file_as_aria2c_does(
    fault_server: FaultServer,
    run_get: RunGet,
    run_aria2c: RunGet,
    file_sha256: Sha,
    tmp_path: Path,
) -> None:
    url = fault_server.url("/some/dir/my%20file.tar.gz", size=100_000, seed=16)
    ok(run_get("-d", "lx", url))
    ok(run_aria2c("-d", "ar", url))
    out = only_file(tmp_path / "lx")
    assert out.name == only_file(tmp_path / "ar").name == "my file.tar.gz"
    assert file_sha256(out) == fault_server.expected_sha256(100_000, 16)


@pytest.mark.parametrize(
    "hostile", ["../../evil.bin", "/tmp/lixian-test-evil-abs.bin", "..\\..\\evil.bin"]
)
def test_hostile_content_disposition_stays_inside_dir(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path, hostile: str
) -> None:
    base = tmp_path / "jail"
    url = fault_server.url("/hostile.bin", size=100_000, seed=17, cd=hostile)
    before = set(tmp_path.rglob("*"))
    result = run_get("-d", str(base / "out"), url)
    ok(result)
    out = only_file(base / "out")
    assert file_sha256(out) == fault_server.expected_sha256(100_000, 17)
    created = set(tmp_path.rglob("*")) - before
    outside = [p for p in created if not p.is_relative_to(base / "out") and p != base]
    assert outside == []
    assert not Path("/tmp/lixian-test-evil-abs.bin").exists()


# ---------------------------------------------------------------- existing files


def test_auto_file_renaming(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.bin").write_bytes(b"mine")
    url = fault_server.url("/r.bin", size=100_000, seed=18)
    ok(run_get("-d", "out", "--auto-file-renaming=true", url))
    assert (out / "r.bin").read_bytes() == b"mine"
    assert file_sha256(out / "r.1.bin") == fault_server.expected_sha256(100_000, 18)


def test_allow_overwrite(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "w.bin").write_bytes(b"old content, longer than nothing")
    url = fault_server.url("/w.bin", size=100_000, seed=19)
    ok(run_get("-d", "out", "--allow-overwrite=true", url))
    assert sorted(p.name for p in out.iterdir()) == ["w.bin"]
    assert file_sha256(out / "w.bin") == fault_server.expected_sha256(100_000, 19)


def test_existing_file_without_rename_or_overwrite_exits_13(
    fault_server: FaultServer, run_get: RunGet, run_aria2c: RunGet, tmp_path: Path
) -> None:
    url = fault_server.url("/x.bin", size=100_000, seed=20)
    for name in ("lx", "ar"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.bin").write_bytes(b"keep me")
    lixian = run_get("-d", "lx", "--auto-file-renaming=false", url)
    aria2c = run_aria2c("-d", "ar", "--auto-file-renaming=false", url)
    assert lixian.returncode == aria2c.returncode == 13
    assert (tmp_path / "lx" / "x.bin").read_bytes() == b"keep me"
    assert sorted(p.name for p in (tmp_path / "lx").iterdir()) == ["x.bin"]


# ---------------------------------------------------------------- checksum


def test_checksum_right(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    digest = fault_server.expected_sha256(2 * MB, 21)
    url = fault_server.url("/sum.bin", size=2 * MB, seed=21)
    ok(run_get("-d", "out", f"--checksum=sha-256={digest}", url))
    assert file_sha256(tmp_path / "out/sum.bin") == digest


def test_checksum_wrong_exits_32_as_aria2c(
    fault_server: FaultServer, run_get: RunGet, run_aria2c: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    wrong = fault_server.expected_sha256(2 * MB, 999)
    url = fault_server.url("/badsum.bin", size=2 * MB, seed=22)
    lixian = run_get("-d", "lx", f"--checksum=sha-256={wrong}", url)
    aria2c = run_aria2c("-d", "ar", f"--checksum=sha-256={wrong}", url)
    assert lixian.returncode == aria2c.returncode == 32
    # The bytes are the server's (only the expectation was wrong): nothing was corrupted.
    assert file_sha256(tmp_path / "lx/badsum.bin") == fault_server.expected_sha256(2 * MB, 22)


# ---------------------------------------------------------------- what reaches the server


def test_header_user_agent_and_referer_reach_the_server(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/hdr.bin", size=4 * MB, seed=23)
    ok(
        run_get(
            "-x2",
            "-s2",
            "-k1M",
            "--header=X-One: 1",
            "--header",
            "X-Two: two words",
            "--user-agent=TestAgent/9",
            "--referer=http://example.test/page",
            url,
        )
    )
    assert file_sha256(tmp_path / "hdr.bin") == fault_server.expected_sha256(4 * MB, 23)
    requests = gets(fault_server.requests_for("/hdr.bin"))
    assert len(requests) >= 2
    for r in requests:
        assert r.header("X-One") == "1"
        assert r.header("X-Two") == "two words"
        assert r.header("User-Agent") == "TestAgent/9"
        assert r.header("Referer") == "http://example.test/page"
        assert r.header("Accept-Encoding") == "identity"


def test_cookies_txt_scoped_to_its_domain(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    jar = tmp_path / "cookies.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc123\n",
        encoding="utf-8",
    )
    mine = fault_server.url("/c1.bin", size=100_000, seed=24, require_cookie="sid=abc123")
    other = fault_server.url2("/c2.bin", size=100_000, seed=25)
    ok(run_get("-Z", "-d", "out", f"--load-cookies={jar}", mine, other))
    assert file_sha256(tmp_path / "out/c1.bin") == fault_server.expected_sha256(100_000, 24)
    assert file_sha256(tmp_path / "out/c2.bin") == fault_server.expected_sha256(100_000, 25)
    for r in fault_server.requests_for("/c1.bin"):
        assert r.local_host == "127.0.0.1"
        assert r.header("Cookie") == "sid=abc123"
    to_other = fault_server.requests_for("/c2.bin")
    assert to_other
    assert all(r.header("Cookie") is None for r in to_other)


def test_http_user_and_passwd(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/auth1.bin", size=2 * MB, seed=26, auth="alice:s3cret")
    ok(run_get("-x2", "-s2", "-k1M", "--http-user=alice", "--http-passwd=s3cret", url))
    assert file_sha256(tmp_path / "auth1.bin") == fault_server.expected_sha256(2 * MB, 26)
    token = "Basic " + base64.b64encode(b"alice:s3cret").decode()
    assert all(r.header("Authorization") == token for r in fault_server.requests_for("/auth1.bin"))


def test_credentials_in_the_url(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/auth2.bin", size=2 * MB, seed=27, auth="bob:pa ss")
    url = url.replace("http://", "http://bob:pa%20ss@", 1)
    ok(run_get("-x2", "-s2", "-k1M", url))
    assert file_sha256(tmp_path / "auth2.bin") == fault_server.expected_sha256(2 * MB, 27)
    assert all(r.status in (200, 206) for r in fault_server.requests_for("/auth2.bin"))


# ---------------------------------------------------------------- TLS


def test_tls_with_ca_certificate(
    tls_fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = tls_fault_server.url("/tls.bin", size=4 * MB, seed=28)
    ok(
        run_get(
            "-x4",
            "-s4",
            "-k1M",
            "-d",
            "out",
            f"--ca-certificate={tls_fault_server.ca_pem_path}",
            url,
        )
    )
    assert file_sha256(tmp_path / "out/tls.bin") == tls_fault_server.expected_sha256(4 * MB, 28)


def test_tls_without_trust_fails(
    tls_fault_server: FaultServer, run_get: RunGet, tmp_path: Path
) -> None:
    url = tls_fault_server.url("/untrusted.bin", size=100_000, seed=29)
    result = run_get("-d", "out", "--max-tries=1", url)
    assert result.returncode != 0
    assert "certificate" in (result.stdout + result.stderr).lower()
    assert not (tmp_path / "out" / "untrusted.bin").exists()
    assert not any(r.method == "GET" for r in tls_fault_server.requests)


def test_tls_without_trust_exit_code_matches_aria2c(
    tls_fault_server: FaultServer, run_get: RunGet, run_aria2c: RunGet
) -> None:
    url = tls_fault_server.url("/untrusted2.bin", size=100_000, seed=30)
    lixian = run_get("-d", "lx", "--max-tries=1", url)
    aria2c = run_aria2c("-d", "ar", url)
    assert aria2c.returncode != 0
    assert lixian.returncode == aria2c.returncode


def test_tls_check_certificate_false(
    tls_fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = tls_fault_server.url("/insecure.bin", size=1 * MB, seed=31)
    ok(run_get("--check-certificate=false", url))
    assert file_sha256(tmp_path / "insecure.bin") == tls_fault_server.expected_sha256(1 * MB, 31)


# ---------------------------------------------------------------- speed limit


def test_max_download_limit_still_completes(
    fault_server: FaultServer, run_get: RunGet, file_sha256: Sha, tmp_path: Path
) -> None:
    url = fault_server.url("/limited.bin", size=1 * MB, seed=32)
    ok(run_get("-x2", "-s2", "-k1M", "--max-download-limit=4M", url))
    assert file_sha256(tmp_path / "limited.bin") == fault_server.expected_sha256(1 * MB, 32)
