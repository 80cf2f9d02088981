"""The layering of DESIGN.md, checked: front doors -> core -> engines -> storage.

Every module is imported alone (a fresh interpreter each), and no module imports
from a higher layer.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "lixian"

# Lower number = lower layer. A module may import its own layer and those below.
LAYERS: dict[str, int] = {
    "errors": 0,
    "ranges": 0,
    "gid": 0,
    "options": 0,
    "storage": 1,
    "importers": 1,
    "media": 1,
    "store": 1,
    "engines": 2,
    "core": 3,
    "rpc": 4,
    "web": 4,
    "cli": 5,
    "api": 5,
    "client": 5,
    "__main__": 5,
}


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package itself (lixian/__init__.py) re-exports; it is a door
    return LAYERS.get(parts[1])


def _imports(module: str) -> set[str]:
    path = SRC / Path(*module.split("."))
    file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("lixian"):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("lixian"))
    return found


MODULES = _modules()


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m != "lixian" and _layer(m) is None]
    assert missing == [], f"add these to LAYERS: {missing}"


@pytest.mark.parametrize("module", [m for m in MODULES if m != "lixian"])
def test_imports_point_down(module: str) -> None:
    own = _layer(module)
    assert own is not None
    for target in _imports(module):
        theirs = _layer(target)
        if theirs is None:
            continue  # `lixian` itself: only __version__
        assert theirs <= own, f"{module} (layer {own}) imports {target} (layer {theirs})"


def test_engines_do_not_see_each_other_or_the_core() -> None:
    for module in MODULES:
        if module.startswith("lixian.engines.http"):
            assert not any(t.startswith("lixian.engines.bt") for t in _imports(module))


def test_each_module_imports_alone() -> None:
    def load(module: str) -> tuple[str, int, str]:
        if module == "lixian.__main__":
            return module, 0, ""  # running it *is* the CLI
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return module, proc.returncode, proc.stderr[-2000:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [r for r in pool.map(load, MODULES) if r[1] != 0]
    assert failures == []
