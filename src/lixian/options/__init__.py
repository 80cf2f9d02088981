"""lixian's option table and the aria2c-compatible parsers it drives.

One table (``OPTIONS``) feeds ``lixian get``'s command line, aria2.conf files and
the RPC's ``getOption``/``changeOption``; see DESIGN.md, "aria2 compatibility", and
docs/differences.md for where lixian departs from aria2c on purpose.

- ``spec``: what one option is (``Kind``, ``OptionSpec``, value syntax);
- ``table``: the rows (``OPTIONS``, ``ACCEPTED_IGNORED``, ``SHORT``, and ``DAEMON_OPTIONS``,
  what only ``lixian serve`` accepts);
- ``aria2_names``: every aria2c option name and arity (``ARIA2_OPTION_NAMES``);
- ``parse``: argv and aria2.conf readers, ``resolve`` and ``suggest``.

>>> from lixian.options import parse_argv, resolve
>>> args = parse_argv(["-x4", "https://example.org/f.iso"])
>>> resolve(args.options, {})["max-connection-per-server"]
4
"""

from lixian.options.aria2_names import ARIA2_OPTION_NAMES, ARIA2_OPTIONS, ArgKind, Aria2Name
from lixian.options.parse import (
    ParsedArgs,
    load_conf,
    parse_argv,
    parse_conf,
    resolve,
    suggest,
)
from lixian.options.spec import (
    CHECKSUM_HEX_DIGITS,
    Kind,
    OptionSpec,
    OptionValue,
    format_size,
    parse_size,
    split_checksum,
)
from lixian.options.table import (
    ACCEPTED_IGNORED,
    DAEMON_ALIASES,
    DAEMON_OPTIONS,
    IGNORED_OPTIONS,
    LIXIAN_ONLY,
    OPTIONS,
    SHORT,
    format_value,
    spec_for,
)

__all__ = [
    "ACCEPTED_IGNORED",
    "ARIA2_OPTIONS",
    "ARIA2_OPTION_NAMES",
    "CHECKSUM_HEX_DIGITS",
    "DAEMON_ALIASES",
    "DAEMON_OPTIONS",
    "IGNORED_OPTIONS",
    "LIXIAN_ONLY",
    "OPTIONS",
    "SHORT",
    "ArgKind",
    "Aria2Name",
    "Kind",
    "OptionSpec",
    "OptionValue",
    "ParsedArgs",
    "format_size",
    "format_value",
    "load_conf",
    "parse_argv",
    "parse_conf",
    "parse_size",
    "resolve",
    "spec_for",
    "split_checksum",
    "suggest",
]
