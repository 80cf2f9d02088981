"""From aria2's option table to the frozen views engines take.

The one place where option names meet engine settings: engines never see the raw
option dict, and a renamed option breaks here, loudly, not somewhere deep.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from lixian import __version__
from lixian.engines.bt.config import (
    BtOptions,
    BtSessionConfig,
    parse_index_out,
    parse_listen_ports,
    parse_prioritize_piece,
    parse_select_file,
)
from lixian.engines.http.config import HttpConfig, ProxyConfig
from lixian.engines.http.planner import PlanLimits
from lixian.errors import BadOption
from lixian.importers.cookies import Cookie, parse_cookies_txt
from lixian.options import OPTIONS, OptionValue
from lixian.storage.local import FilePolicy

__all__ = ["HASH_NAMES", "bt_options", "bt_session_config", "http_config", "load_cookies"]

# aria2's checksum spellings -> hashlib names.
HASH_NAMES = {
    "sha-1": "sha1",
    "sha-224": "sha224",
    "sha-256": "sha256",
    "sha-384": "sha384",
    "sha-512": "sha512",
    "md5": "md5",
}


def _int(opts: Mapping[str, OptionValue | None], name: str, default: int = 0) -> int:
    value = opts.get(name)
    return default if value is None else int(value)  # type: ignore[arg-type]


def _float(opts: Mapping[str, OptionValue | None], name: str, default: float = 0.0) -> float:
    value = opts.get(name)
    return default if value is None else float(value)  # type: ignore[arg-type]


def _str(opts: Mapping[str, OptionValue | None], name: str) -> str | None:
    value = opts.get(name)
    return None if value in (None, "") else str(value)


def _raw(opts: Mapping[str, OptionValue | None], name: str) -> str | None:
    """The value as given: None when unset, "" when set empty (which clears, for proxies)."""
    value = opts.get(name)
    return None if value is None else str(value)


def _bool(opts: Mapping[str, OptionValue | None], name: str, default: bool = False) -> bool:
    value = opts.get(name)
    return default if value is None else bool(value)


def _headers(value: OptionValue | None) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, str) else value
    out: list[tuple[str, str]] = []
    for item in items:  # type: ignore[union-attr]
        name, sep, val = str(item).partition(":")
        if not sep or not name.strip():
            raise BadOption(f"--header needs 'Name: value', got {item!r}")
        out.append((name.strip(), val.strip(" \t")))  # HTTP whitespace only: keep U+00A0
    return tuple(out)


def load_cookies(path: str | None) -> tuple[Cookie, ...]:
    if not path:
        return ()
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadOption(f"--load-cookies: cannot read {path}: {exc.strerror}") from exc
    return tuple(parse_cookies_txt(text))


def _checksum(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    kind, sep, digest = value.partition("=")
    algo = HASH_NAMES.get(kind.lower())
    if not sep or algo is None:
        raise BadOption(f"--checksum: unsupported type in {value!r}")
    return algo, digest.strip().lower()


def http_config(
    opts: Mapping[str, OptionValue | None], cookies: tuple[Cookie, ...] = ()
) -> HttpConfig:
    """Build the HTTP engine's settings for one task from its resolved options."""
    no_proxy = _raw(opts, "no-proxy")
    limits = PlanLimits(
        split=_int(opts, "split", 16),
        max_connections=_int(opts, "max-connection-per-server", 16),
        min_split_size=_int(opts, "min-split-size", 1024 * 1024),
        max_tries=_int(opts, "max-tries", 5),
        retry_wait=_float(opts, "retry-wait", 0.0),
    )
    return HttpConfig(
        limits=limits,
        headers=_headers(opts.get("header")),
        user_agent=_str(opts, "user-agent") or f"lixian/{__version__}",
        referer=_str(opts, "referer"),
        cookies=cookies,
        http_user=_str(opts, "http-user"),
        http_passwd=_str(opts, "http-passwd"),
        proxy=ProxyConfig(
            all_proxy=_raw(opts, "all-proxy"),
            http_proxy=_raw(opts, "http-proxy"),
            https_proxy=_raw(opts, "https-proxy"),
            no_proxy=None
            if no_proxy is None
            else tuple(x.strip() for x in no_proxy.split(",") if x.strip()),
        ),
        check_certificate=_bool(opts, "check-certificate", True),
        ca_certificate=Path(p) if (p := _str(opts, "ca-certificate")) else None,
        timeout=_float(opts, "timeout", 60.0),
        connect_timeout=_float(opts, "connect-timeout", 60.0),
        lowest_speed_limit=_int(opts, "lowest-speed-limit"),
        max_download_limit=_int(opts, "max-download-limit"),
        policy=FilePolicy(
            allow_overwrite=_bool(opts, "allow-overwrite"),
            auto_file_renaming=_bool(opts, "auto-file-renaming", True),
            resume_existing=_bool(opts, "continue"),
            allocation=_str(opts, "file-allocation") or "none",
        ),
        remote_time=_bool(opts, "remote-time"),
        conditional_get=_bool(opts, "conditional-get"),
        checksum=_checksum(_str(opts, "checksum")),
    )


def _urls(opts: Mapping[str, OptionValue | None], name: str) -> tuple[str, ...]:
    """aria2's comma-separated URI lists (--bt-tracker, --bt-exclude-tracker)."""
    text = _str(opts, name) or ""
    return tuple(u.strip() for u in text.split(",") if u.strip())


def bt_options(
    opts: Mapping[str, OptionValue | None], tracker_list: tuple[str, ...] = ()
) -> BtOptions:
    """One torrent's settings from its resolved options (aria2's meanings)."""
    select = _str(opts, "select-file")
    prioritize = _str(opts, "bt-prioritize-piece")
    seed_time = opts.get("seed-time")
    index_out = opts.get("index-out")
    items = (index_out,) if isinstance(index_out, str) else tuple(index_out or ())  # type: ignore[arg-type]
    return BtOptions(
        select_file=parse_select_file(select) if select else None,
        seed_time=None if seed_time is None else float(seed_time),  # type: ignore[arg-type]
        seed_ratio=_float(opts, "seed-ratio", 1.0),
        trackers=_urls(opts, "bt-tracker"),
        exclude_trackers=_urls(opts, "bt-exclude-tracker"),
        tracker_list=tracker_list,
        max_peers=_int(opts, "bt-max-peers", 55),
        max_upload_limit=_int(opts, "max-upload-limit"),
        max_download_limit=_int(opts, "max-download-limit"),
        prioritize=parse_prioritize_piece(prioritize) if prioritize else BtOptions().prioritize,
        sequential=_bool(opts, "bt-sequential"),
        metadata_only=_bool(opts, "bt-metadata-only"),
        save_metadata=_bool(opts, "bt-save-metadata"),
        remove_unselected_file=_bool(opts, "bt-remove-unselected-file"),
        pause_metadata=_bool(opts, "pause-metadata"),
        check_integrity=_bool(opts, "check-integrity"),
        index_out=parse_index_out(tuple(str(i) for i in items)),
        enable_peer_exchange=_bool(opts, "enable-peer-exchange", True),
    )


def bt_session_config(
    opts: Mapping[str, OptionValue | None], *, listen_hosts: tuple[str, ...] | None = None
) -> BtSessionConfig:
    """The process's one libtorrent session from the global options."""
    dht_port = _str(opts, "dht-listen-port")
    if dht_port == OPTIONS["dht-listen-port"].default:
        dht_port = None  # only a port the user chose is worth a warning when it differs
    base = BtSessionConfig()
    return BtSessionConfig(
        listen_hosts=listen_hosts or base.listen_hosts,
        listen_ports=parse_listen_ports(_str(opts, "listen-port") or "6881-6999"),
        dht_listen_port=parse_listen_ports(dht_port)[0] if dht_port else None,
        enable_dht=_bool(opts, "enable-dht", True),
        enable_lpd=_bool(opts, "bt-enable-lpd"),
        max_overall_upload_limit=_int(opts, "max-overall-upload-limit"),
        # the overall download limit is the core's own (it covers HTTP too); libtorrent's
        # session limit is set from it as well, so torrents obey it
        max_overall_download_limit=_int(opts, "max-overall-download-limit"),
        require_crypto=_bool(opts, "bt-require-crypto"),
        min_crypto_level=_str(opts, "bt-min-crypto-level") or "plain",
    )
