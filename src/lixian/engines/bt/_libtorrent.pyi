# A typed stub for the part of libtorrent's Python bindings (2.1) that session.py uses.
# session.py imports it as `lt` under TYPE_CHECKING and the real `libtorrent` at run time.
# Only what is used is declared: a new call is added here first, checked against the
# bindings (`help(libtorrent.X)`), so mypy catches typos and wrong argument types.

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, ClassVar

__version__: str

class sha1_hash:
    def to_bytes(self) -> bytes: ...
    def is_all_zeros(self) -> bool: ...

class sha256_hash:
    def to_bytes(self) -> bytes: ...

class info_hash_t:
    v1: sha1_hash
    v2: sha256_hash
    def has_v1(self) -> bool: ...
    def has_v2(self) -> bool: ...
    def get_best(self) -> sha1_hash: ...

class error_category:
    def name(self) -> str: ...

class error_code:
    def value(self) -> int: ...
    def message(self) -> str: ...
    def category(self) -> error_category: ...

class enc_policy(int):
    pe_forced: ClassVar[enc_policy]
    pe_enabled: ClassVar[enc_policy]
    pe_disabled: ClassVar[enc_policy]

class enc_level(int):
    pe_plaintext: ClassVar[enc_level]
    pe_rc4: ClassVar[enc_level]
    pe_both: ClassVar[enc_level]

class socket_type_t(int):
    tcp: ClassVar[socket_type_t]
    utp: ClassVar[socket_type_t]

class torrent_flags:
    seed_mode: ClassVar[int]
    upload_mode: ClassVar[int]
    share_mode: ClassVar[int]
    apply_ip_filter: ClassVar[int]
    paused: ClassVar[int]
    auto_managed: ClassVar[int]
    duplicate_is_error: ClassVar[int]
    update_subscribe: ClassVar[int]
    super_seeding: ClassVar[int]
    sequential_download: ClassVar[int]
    stop_when_ready: ClassVar[int]
    override_trackers: ClassVar[int]
    override_web_seeds: ClassVar[int]
    disable_dht: ClassVar[int]
    disable_lsd: ClassVar[int]
    disable_pex: ClassVar[int]
    no_verify_files: ClassVar[int]
    default_flags: ClassVar[int]

class save_resume_flags_t:
    flush_disk_cache: ClassVar[int]
    save_info_dict: ClassVar[int]
    only_if_modified: ClassVar[int]

class options_t:
    delete_files: ClassVar[int]

class status_flags_t:
    query_pieces: ClassVar[int]
    query_verified_pieces: ClassVar[int]
    query_accurate_download_counters: ClassVar[int]

class file_progress_flags_t:
    piece_granularity: ClassVar[int]

class file_storage:
    flag_pad_file: ClassVar[int]
    def num_files(self) -> int: ...
    def file_path(self, index: int, save_path: str = ...) -> str: ...
    def file_size(self, index: int) -> int: ...
    def file_offset(self, index: int) -> int: ...
    def file_flags(self, index: int) -> int: ...

class torrent_info:
    def __init__(self, source: torrent_info | bytes) -> None: ...
    def is_valid(self) -> bool: ...
    def layout(self) -> file_storage: ...
    def info_hashes(self) -> info_hash_t: ...
    def name(self) -> str: ...
    def piece_length(self) -> int: ...
    def num_pieces(self) -> int: ...
    def total_size(self) -> int: ...
    def priv(self) -> bool: ...
    def info_section(self) -> bytes: ...

class add_torrent_params:
    ti: torrent_info | None
    info_hashes: info_hash_t
    name: str
    save_path: str
    trackers: list[str]
    tracker_tiers: list[int]
    url_seeds: list[str]
    comment: str
    created_by: str
    creation_date: int
    have_pieces: list[bool]
    renamed_files: dict[int, str]
    file_priorities: list[int]
    piece_priorities: list[int]
    flags: int
    max_connections: int
    upload_limit: int
    download_limit: int
    def __init__(self) -> None: ...

class torrent_status:
    handle: torrent_handle
    state: object  # libtorrent.states; str() gives its name
    flags: int
    has_metadata: bool
    total_wanted: int
    total_wanted_done: int
    total_done: int
    download_payload_rate: int
    upload_payload_rate: int
    num_peers: int
    num_seeds: int
    all_time_upload: int
    all_time_download: int
    total_payload_upload: int
    total_payload_download: int
    total_failed_bytes: int
    total_redundant_bytes: int
    pieces: list[bool]
    num_pieces: int
    seeding_duration: timedelta
    is_finished: bool
    is_seeding: bool
    errc: error_code

class peer_info:
    ip: tuple[str, int]
    pid: sha1_hash
    client: bytes
    flags: int
    progress: float
    payload_down_speed: int
    payload_up_speed: int
    pieces: list[bool]

class torrent_handle:
    def __hash__(self) -> int: ...
    def is_valid(self) -> bool: ...
    def pause(self, flags: int = ...) -> None: ...
    def resume(self) -> None: ...
    def set_flags(self, flags: int, mask: int = ...) -> None: ...
    def unset_flags(self, flags: int) -> None: ...
    def rename_file(self, index: int, path: str) -> None: ...
    def prioritize_files(self, priorities: list[int]) -> None: ...
    def prioritize_pieces(self, priorities: list[int]) -> None: ...
    def set_upload_limit(self, limit: int) -> None: ...
    def set_download_limit(self, limit: int) -> None: ...
    def set_max_connections(self, limit: int) -> None: ...
    def replace_trackers(self, entries: Sequence[Mapping[str, object]]) -> None: ...
    def trackers(self) -> list[dict[str, Any]]: ...
    def torrent_file(self) -> torrent_info | None: ...
    def force_recheck(self) -> None: ...
    def save_resume_data(self, flags: int = ...) -> None: ...
    def get_peer_info(self) -> list[peer_info]: ...
    def file_progress(self, flags: int = ...) -> list[int]: ...
    def status(self, flags: int = ...) -> torrent_status: ...

class ip_filter:
    def __init__(self) -> None: ...
    def add_rule(self, first: str, last: str, flags: int) -> None: ...

class alert:
    class category_t:
        error_notification: ClassVar[int]
        status_notification: ClassVar[int]
        storage_notification: ClassVar[int]
        piece_progress_notification: ClassVar[int]
        file_progress_notification: ClassVar[int]
        tracker_notification: ClassVar[int]
        performance_warning: ClassVar[int]
        all_categories: ClassVar[int]

    def message(self) -> str: ...
    def what(self) -> str: ...

class torrent_alert(alert):
    handle: torrent_handle
    torrent_name: str

class state_update_alert(alert):
    status: list[torrent_status]

class listen_succeeded_alert(alert):
    address: str
    port: int
    socket_type: socket_type_t

class listen_failed_alert(alert):
    address: str
    port: int
    error: error_code

class torrent_removed_alert(torrent_alert): ...

class save_resume_data_alert(torrent_alert):
    params: add_torrent_params

class save_resume_data_failed_alert(torrent_alert):
    error: error_code

class tracker_error_alert(torrent_alert):
    error: error_code

class performance_alert(torrent_alert): ...

class piece_finished_alert(torrent_alert):
    piece_index: int

class hash_failed_alert(torrent_alert):
    piece_index: int

class metadata_received_alert(torrent_alert): ...
class torrent_checked_alert(torrent_alert): ...
class torrent_finished_alert(torrent_alert): ...

class file_renamed_alert(torrent_alert):
    index: int
    new_name: str

class file_rename_failed_alert(torrent_alert):
    index: int
    error: error_code

class file_error_alert(torrent_alert):
    error: error_code
    filename: str

class torrent_error_alert(torrent_alert):
    error: error_code

class fastresume_rejected_alert(torrent_alert):
    error: error_code

class session:
    global_peer_class_id: int
    def __init__(self, settings: Mapping[str, int | str | bool]) -> None: ...
    def apply_settings(self, settings: Mapping[str, int | str | bool]) -> None: ...
    def get_settings(self) -> dict[str, int | str | bool]: ...
    def add_torrent(self, params: add_torrent_params) -> torrent_handle: ...
    def remove_torrent(self, handle: torrent_handle, flags: int = ...) -> None: ...
    def set_alert_fd(self, fd: int) -> None: ...
    def pop_alerts(self) -> list[alert]: ...
    def wait_for_alert(self, max_wait_ms: int) -> alert | None: ...
    def post_torrent_updates(self, flags: int = ...) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def set_peer_class_filter(self, rules: ip_filter) -> None: ...

def load_torrent_buffer(data: bytes, limits: Mapping[str, int] = ...) -> add_torrent_params: ...
def parse_magnet_uri(uri: str) -> add_torrent_params: ...
def read_resume_data(data: bytes) -> add_torrent_params: ...
def write_resume_data_buf(params: add_torrent_params) -> bytes: ...
