"""File names from Content-Disposition (RFC 6266, RFC 5987) and from URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lixian.engines.http import naming
from lixian.engines.http.naming import filename_from_content_disposition as from_cd
from lixian.engines.http.naming import filename_from_url


def test_exports() -> None:
    assert sorted(naming.__all__) == [
        "DEFAULT_NAME",
        "filename_from_content_disposition",
        "filename_from_url",
    ]


# -- RFC examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        # RFC 6266 section 5
        ("Attachment; filename=example.html", "example.html"),
        ('INLINE; FILENAME= "an example.html"', "an example.html"),
        ("attachment; filename*= UTF-8''%e2%82%ac%20rates", "€ rates"),
        ("attachment; filename=\"EURO rates\"; filename*=utf-8''%e2%82%ac%20rates", "€ rates"),
        # RFC 5987 section 3.2.2, with its "title" parameter spelled "filename"
        ("attachment; filename=Economy", "Economy"),
        ('attachment; filename="US-$ rates"', "US-$ rates"),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates", "£ rates"),
        ("attachment; filename*=UTF-8''%c2%a3%20and%20%e2%82%ac%20rates", "£ and € rates"),
    ],
)
def test_rfc_examples(header: str, name: str) -> None:
    assert from_cd(header) == name


# -- filename ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("attachment; filename=foo.html", "foo.html"),
        ('attachment; filename="foo.html"', "foo.html"),
        ("inline; filename=foo.html", "foo.html"),
        ("x-custom-type; filename=foo.html", "foo.html"),
        ("ATTACHMENT; FileName=foo.html", "foo.html"),
        ('attachment; filename="f\\oo.html"', "foo.html"),  # backslash escapes any char
        ('attachment; filename="\\"quoting\\" tested.html"', '"quoting" tested.html'),
        ('attachment; filename="a\\\\b.html"', "a\\b.html"),
        ('attachment; filename="semi;colon.html"', "semi;colon.html"),
        ('attachment; filename="%e2%82%ac.html"', "%e2%82%ac.html"),  # not decoded
        ('attachment; filename="../../etc/passwd"', "../../etc/passwd"),  # sanitized elsewhere
        ("attachment; filename = foo.html ; size=3", "foo.html"),
        ('attachment;filename="foo.html";', "foo.html"),
        ('attachment; creation-date="Wed, 12 Feb 1997 16:29:51 -0500"; filename=x.pdf', "x.pdf"),
        ("attachment; foo; filename=x.pdf", "x.pdf"),  # a param without "=" is ignored
        ('attachment; foo="bar"junk; filename=x.pdf', "x.pdf"),
        ("attachment; filename=one.pdf; filename=two.pdf", "one.pdf"),  # first wins
    ],
)
def test_filename_param(header: str, name: str) -> None:
    assert from_cd(header) == name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("filename=report.pdf", "report.pdf"),  # no disposition type
        ('filename="report.pdf"', "report.pdf"),
        ("attachment; filename=my report (1).pdf", "my report (1).pdf"),  # unquoted, not a token
        ("attachment; filename=foo,bar.html", "foo,bar.html"),
    ],
)
def test_lenient_forms_servers_send(header: str, name: str) -> None:
    assert from_cd(header) == name


def test_raw_utf8_decoded_as_latin1_is_repaired() -> None:
    mojibake = "报告 €.pdf".encode().decode("latin-1")  # how http.client hands it over
    assert from_cd(f'attachment; filename="{mojibake}"') == "报告 €.pdf"


def test_raw_utf8_decoded_by_aiohttp_is_kept() -> None:
    assert from_cd('attachment; filename="报告.pdf"') == "报告.pdf"


def test_latin1_bytes_escaped_by_aiohttp_are_read_as_latin1() -> None:
    escaped = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    assert from_cd(f"attachment; filename={escaped}") == "café.txt"


def test_genuine_latin1_name_is_left_alone() -> None:
    assert from_cd('attachment; filename="café.txt"') == "café.txt"


def test_stray_surrogates_are_left_for_the_sanitizer() -> None:
    assert from_cd('attachment; filename="a\ud800b"') == "a\ud800b"


# -- filename* ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("attachment; filename*=UTF-8''foo-%c3%a4.html", "foo-ä.html"),
        ("attachment; filename*=utf-8''%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        ("attachment; filename*=UTF-8'en-US'hello.txt", "hello.txt"),
        ("attachment; filename*=ISO-8859-1''foo-%E4.html", "foo-ä.html"),
        ("attachment; FILENAME*=UTF-8''x.txt", "x.txt"),
        ("attachment; filename*=gbk''%B1%A8%B8%E6.pdf", "报告.pdf"),
        ("attachment; filename*=UTF-8''foo(1).pdf", "foo(1).pdf"),  # unencoded "(": tolerated
        # filename* wins in either order
        ("attachment; filename*=UTF-8''real.pdf; filename=fallback.pdf", "real.pdf"),
        ("attachment; filename=fallback.pdf; filename*=UTF-8''real.pdf", "real.pdf"),
    ],
)
def test_ext_value(header: str, name: str) -> None:
    assert from_cd(header) == name


@pytest.mark.parametrize(
    "ext",
    [
        "UTF-8''%e2%82",  # truncated UTF-8
        "UTF-8''%ff.txt",  # not UTF-8 at all
        "x-unknown''a.txt",  # charset we do not know
        "utf-7''a.txt",  # a charset we refuse to guess with
        "''a.txt",  # no charset
        "UTF-8'a.txt",  # one quote only
        "a.txt",  # not an ext-value
        "UTF-8''",  # empty
        "UTF-8''100%.txt",  # bare percent
        "UTF-8''%zz.txt",
        "UTF-8''a b.txt",  # space
        "UTF-8''報告.txt",  # raw non-ASCII
    ],
)
def test_invalid_ext_value_falls_back_to_filename(ext: str) -> None:
    assert from_cd(f"attachment; filename*={ext}; filename=plain.txt") == "plain.txt"
    assert from_cd(f"attachment; filename*={ext}") is None


def test_quoted_ext_value_is_ignored() -> None:
    # RFC 5987 ext-values are never quoted; browsers ignore this form.
    assert from_cd("attachment; filename*=\"UTF-8''foo.html\"; filename=bar.html") == "bar.html"


# -- garbage -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "attachment",
        "inline",
        "attachment;",
        ";;;",
        "=",
        "filename",
        "attachment; filename=",
        'attachment; filename=""',
        "attachment; filename=;",
        'attachment; filename="unterminated',
        'attachment; filename="unterminated\\"',
        "attachment filename=foo.html",  # missing ";"
        "attachment/foo; filename=x",
        'attachment; filename=foo"bar.html',
        "attachment; name=foo.html",
        "attachment; filename*0=foo; filename*1=bar",  # RFC 2231 continuations: not in RFC 6266
    ],
)
def test_garbage_gives_none(header: str) -> None:
    assert from_cd(header) is None


@given(st.text(max_size=200))
def test_never_raises_and_never_returns_empty(header: str) -> None:
    result = from_cd(header)
    assert result is None or (isinstance(result, str) and result)


@given(
    st.sampled_from(["attachment", "inline", "ATTACHMENT", ""]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
)
def test_quoted_names_round_trip(kind: str, name: str) -> None:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    parsed = from_cd(f'{kind}; filename="{escaped}"')
    # Non-ASCII Latin-1 text that happens to be valid UTF-8 is repaired; everything else exact.
    if name.isascii() or any(ord(c) > 0xFF for c in name):
        assert parsed == name


@given(st.text(st.characters(codec="utf-8"), min_size=1, max_size=40))
def test_ext_value_round_trip(name: str) -> None:
    from urllib.parse import quote

    assert from_cd(f"attachment; filename*=UTF-8''{quote(name, safe='')}") == name


# -- from the URL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://example.com/file.iso", "file.iso"),
        ("https://example.com/a/b/c.tar.gz", "c.tar.gz"),
        ("http://example.com/dl/%E2%82%AC%20rates.pdf", "€ rates.pdf"),
        ("http://example.com/%E6%8A%A5%E5%91%8A.pdf", "报告.pdf"),
        ("http://example.com/bad%FF.bin", "bad\ufffd.bin"),
        ("http://example.com/download.php?id=3&name=x.zip", "download.php"),
        ("http://example.com/f.zip#frag", "f.zip"),
        ("http://example.com/f.zip;v=1", "f.zip;v=1"),
        ("http://example.com/a%2Fb.txt", "a/b.txt"),  # decoded as given; sanitized later
        ("http://example.com/plus+sign.txt", "plus+sign.txt"),  # "+" is not a space in a path
        ("http://example.com", "index.html"),
        ("http://example.com/", "index.html"),
        ("http://example.com/dir/", "index.html"),
        ("http://example.com/?q=1", "index.html"),
        ("http://example.com/..", "index.html"),
        ("http://example.com/a/.", "index.html"),
        ("http://example.com/%2e%2E", "index.html"),
        ("ftp://user:pw@example.com:21/pub/x.bin", "x.bin"),
        ("example.com/file.zip", "file.zip"),
        ("http://[::1/broken.iso", "broken.iso"),  # unparsable authority: best effort
        ("magnet:?xt=urn:btih:abc", "index.html"),
    ],
)
def test_filename_from_url(url: str, name: str) -> None:
    assert filename_from_url(url) == name


@given(st.text(max_size=100))
def test_url_name_never_raises_never_empty(url: str) -> None:
    name = filename_from_url(url)
    assert name
    assert name not in (".", "..")
