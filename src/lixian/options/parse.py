"""aria2c's command line and aria2.conf, read the way aria2c reads them.

Theory of operation. aria2c hands its table to GNU ``getopt_long``, so its quirks
are getopt's, and scripts written for aria2c depend on them:

- options and URIs may be mixed in any order; ``--`` ends the options;
- ``--name=value`` always attaches; ``--name value`` takes the next word only when
  the value is *required* (``--header -x`` sets the header ``-x``). Booleans take an
  *optional* value, so ``--continue true URL`` is two URIs, ``true`` and ``URL``;
- short options cluster, and the rest of the word is the value: ``-x16``, ``-ctrue``;
  ``-cx16`` gives ``--continue`` the value ``x16`` (an error, in aria2c too);
- a long name may be abbreviated to any unique prefix of an aria2 option name
  (``--max-conn=4``); an ambiguous one (``--cont``) is an error;
- a repeated option's last value wins, except list options (``--header``), which
  accumulate.

aria2.conf (aria2's ``OptionParser::parse``): one ``name=value`` a line, blanks
around name and value stripped (``\\r`` too), ``#`` in the first column starts a
comment (lixian also skips a comment after leading blanks, which aria2 would warn
about and ignore), a line without ``=`` is a name with an empty value (``continue``
alone means ``continue=true``). Short letters are not names there.

Unknown names differ by door, as in aria2c: on the command line they are errors; in
aria2.conf aria2c only warns, and so does lixian, with a suggestion. Names of aria2
options lixian has not built yet are errors everywhere (``--dry-run`` must never
download). Harmless aria2 options (``ACCEPTED_IGNORED``) are checked, consumed and
reported once as ignored.

``lixian serve`` passes ``daemon=True`` everywhere: then aria2's RPC-server options
(``--enable-rpc``, ``--rpc-listen-port``, ``-D``, ...) and lixian's own (``--host``,
``--state``, and ``--port``/``--secret``, stored under their aria2 names) are
accepted too (``DAEMON_OPTIONS``); they win over an ignored option of the same name
(``max-download-result``, which the daemon does implement).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lixian.errors import BadOption
from lixian.options.aria2_names import ARIA2_OPTION_NAMES, ARIA2_OPTIONS, ARIA2_SHORT, ArgKind
from lixian.options.spec import Kind, OptionSpec, OptionValue
from lixian.options.table import DAEMON_ALIASES, DAEMON_OPTIONS, IGNORED_OPTIONS, OPTIONS, SHORT

__all__ = ["ParsedArgs", "load_conf", "parse_argv", "parse_conf", "resolve", "suggest"]

_KNOWN = frozenset(OPTIONS) | frozenset(IGNORED_OPTIONS) | ARIA2_OPTION_NAMES
_KNOWN_SORTED = sorted(_KNOWN)
_KNOWN_DAEMON = _KNOWN | frozenset(DAEMON_OPTIONS)
_KNOWN_DAEMON_SORTED = sorted(_KNOWN_DAEMON)
_ALL_SHORT = {**ARIA2_SHORT, **SHORT}
_STRIP = " \t\r\n"  # aria2's DEFAULT_STRIP_CHARSET
_MAX_LISTED = 8


@dataclass
class ParsedArgs:
    """What ``lixian get``'s arguments asked for.

    ``options`` holds only what the user gave (parsed values, by long name); merge it
    with a conf file and the defaults through ``resolve``. ``warnings`` are one line
    each, for the CLI to print.
    """

    options: dict[str, OptionValue] = field(default_factory=dict)
    uris: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _implemented(name: str, daemon: bool) -> OptionSpec | None:
    """The spec that gives ``name`` a value at this door, if any."""
    spec = OPTIONS.get(name)
    if spec is None and daemon:
        spec = DAEMON_OPTIONS.get(name)
    return spec


def parse_argv(argv: Sequence[str], *, daemon: bool = False) -> ParsedArgs:
    """Parse the words after ``lixian get`` with aria2c's command-line semantics.

    Raises ``BadOption`` (exit code 28) for an unknown, ambiguous, unsupported or
    badly valued option; the message names the option.

    >>> parse_argv(["-x16", "--continue", "true", "--", "-odd"]).uris
    ['true', '-odd']
    """
    out = ParsedArgs()
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            out.uris.extend(words[i:])
            break
        if word.startswith("--"):
            typed, eq, attached = word[2:].partition("=")
            name = _long_name(typed, daemon)
            arg = _arg_kind(name, daemon)
            raw: str | None = None
            if eq:
                if arg is ArgKind.NONE:
                    raise BadOption(f"option '--{name}' doesn't allow an argument")
                raw = attached
            elif arg is ArgKind.REQUIRED:
                if i == len(words):
                    raise BadOption(f"option '--{name}' requires an argument")
                raw = words[i]
                i += 1
            _take(out, name, raw, f"--{name}", daemon)
        elif word.startswith("-") and word != "-":
            i = _short_cluster(out, word, words, i, daemon)
        else:
            out.uris.append(word)
    return out


def _short_cluster(out: ParsedArgs, word: str, words: list[str], i: int, daemon: bool) -> int:
    """Handle ``-xVALUE`` / ``-x VALUE`` / ``-cq`` clusters; return the next index."""
    j = 1
    while j < len(word):
        letter = word[j]
        j += 1
        name = _ALL_SHORT.get(letter)
        if name is None:
            raise BadOption(f"unrecognized option '-{letter}'")
        shown = f"--{name} (-{letter})"
        arg = _arg_kind(name, daemon)
        rest = word[j:]
        if arg is ArgKind.NONE:
            _take(out, name, None, shown, daemon)
            continue
        if arg is ArgKind.OPTIONAL:
            _take(out, name, rest or None, shown, daemon)
        elif rest:
            _take(out, name, rest, shown, daemon)
        elif i < len(words):
            _take(out, name, words[i], shown, daemon)
            i += 1
        else:
            raise BadOption(f"option '-{letter}' ({name}) requires an argument")
        break
    return i


def _long_name(typed: str, daemon: bool = False) -> str:
    """Exact name, or a unique prefix of one, as ``getopt_long`` resolves it."""
    known, known_sorted = (
        (_KNOWN_DAEMON, _KNOWN_DAEMON_SORTED) if daemon else (_KNOWN, _KNOWN_SORTED)
    )
    if typed in known:
        return typed
    matches = [n for n in known_sorted if typed and n.startswith(typed)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = " ".join(f"'--{n}'" for n in matches[:_MAX_LISTED])
        more = " ..." if len(matches) > _MAX_LISTED else ""
        raise BadOption(f"option '--{typed}' is ambiguous; possibilities: {listed}{more}")
    raise BadOption(_unrecognized(f"--{typed}", typed))


def _arg_kind(name: str, daemon: bool = False) -> ArgKind:
    """aria2c's arity for the name; a lixian-only option's follows its kind."""
    known = ARIA2_OPTIONS.get(name)
    if known is not None:
        return known.arg
    spec = _implemented(name, daemon)
    assert spec is not None  # _long_name only yields known names
    return ArgKind.OPTIONAL if spec.kind is Kind.BOOL else ArgKind.REQUIRED


def _take(out: ParsedArgs, name: str, raw: str | None, shown: str, daemon: bool = False) -> None:
    """Record one occurrence; ``raw`` None means no value was attached."""
    spec = _implemented(name, daemon)
    if spec is not None:
        _store(out.options, DAEMON_ALIASES.get(name, name), spec.parse("" if raw is None else raw))
        return
    ignored = IGNORED_OPTIONS.get(name)
    if ignored is None:
        raise BadOption(f"{shown} is not supported yet")
    ignored.parse("" if raw is None else raw)  # refuse what aria2c would refuse
    note = f"--{name} is accepted but ignored by lixian"
    if note not in out.warnings:
        out.warnings.append(note)


def _store(options: dict[str, OptionValue], name: str, value: OptionValue) -> None:
    """Last value wins, except that a list option's items accumulate."""
    old = options.get(name)
    if isinstance(value, tuple) and isinstance(old, tuple):
        value = old + value
    options[name] = value


def parse_conf(
    text: str, *, source: str = "aria2.conf", daemon: bool = False
) -> tuple[dict[str, OptionValue], list[str]]:
    """Parse aria2.conf text into ``(options, warnings)``; see the module doc for syntax.

    ``source`` names the file in messages: ``aria2.conf:3: --dry-run is not supported
    yet``.

    >>> parse_conf("split=4\\n# comment\\ncontinue\\n")[0]
    {'split': 4, 'continue': True}
    """
    options: dict[str, OptionValue] = {}
    warnings: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip(_STRIP)
        if not stripped or stripped.startswith("#"):
            continue
        name, _, raw = stripped.partition("=")
        name, raw = name.strip(_STRIP), raw.strip(_STRIP)
        if not name:
            continue
        where = f"{source}:{number}"
        spec = _implemented(name, daemon)
        try:
            if spec is not None:
                _store(options, DAEMON_ALIASES.get(name, name), spec.parse(raw))
            elif name in IGNORED_OPTIONS:
                IGNORED_OPTIONS[name].parse(raw)
                warnings.append(f"{where}: --{name} is accepted but ignored by lixian")
            elif name in ARIA2_OPTION_NAMES:
                raise BadOption(f"--{name} is not supported yet")
            else:
                guess = suggest(name)
                hint = f"; did you mean '{guess}'?" if guess else ""
                warnings.append(f"{where}: unknown option '{name}' ignored{hint}")
        except BadOption as exc:
            raise BadOption(f"{where}: {exc.message}") from None
    return options, warnings


def load_conf(path: Path, *, daemon: bool = False) -> tuple[dict[str, OptionValue], list[str]]:
    """Read and parse an aria2.conf file (``--conf-path``); unreadable is ``BadOption``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadOption(f"cannot read configuration file {path}: {exc}") from None
    return parse_conf(text, source=str(path), daemon=daemon)


def resolve(
    cli: Mapping[str, OptionValue], conf: Mapping[str, OptionValue], *, daemon: bool = False
) -> dict[str, OptionValue | None]:
    """Merge layers: command line over conf file over defaults; every option present.

    ``None`` marks an option with no default that nobody set (aria2 leaves such an
    option out of ``getOption``). List options are the exception to "over": aria2c
    sends the conf file's headers *and* the command line's (conf first), so they
    concatenate here too.
    """
    specs = {**OPTIONS, **DAEMON_OPTIONS} if daemon else OPTIONS
    merged: dict[str, OptionValue | None] = {
        n: s.default for n, s in specs.items() if n not in DAEMON_ALIASES
    }
    for layer in (conf, cli):
        for name, value in layer.items():
            if name not in merged:
                raise BadOption(f"unrecognized option '--{name}'")
            old = merged[name]
            if isinstance(value, tuple) and isinstance(old, tuple):
                value = old + value
            merged[name] = value
    return merged


def suggest(name: str) -> str | None:
    """The known option name closest to a misspelt one (no dashes), or None.

    A short letter maps to its long name, so ``x`` in aria2.conf suggests
    ``max-connection-per-server``.

    >>> suggest("--splt")
    'split'
    """
    bare = name.lstrip("-")
    if bare in _ALL_SHORT:
        return _ALL_SHORT[bare]
    if bare in _KNOWN:
        return bare
    close = difflib.get_close_matches(bare, _KNOWN_SORTED, n=1, cutoff=0.6)
    return close[0] if close else None


def _unrecognized(shown: str, typed: str) -> str:
    guess = suggest(typed)
    hint = f"; did you mean '--{guess}'?" if guess else ""
    return f"unrecognized option '{shown}'{hint}"
