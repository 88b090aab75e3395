"""The shape of the code, pinned: data flows one way through the engine's stages, front-ends use
only the public API, and no module grows past what one reader can hold."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each module may import from its own layer and the ones before it, never a later one.
LAYERS = [
    {"retrieval.types", "retrieval.errors", "retrieval.settings", "retrieval.dates", "retrieval.ids"},
    {"retrieval.ingest"},
    {"retrieval.index"},
    {"retrieval.search"},
    {"retrieval.answer"},
    {"retrieval.desk", "retrieval.runnables"},
    {"retrieval.feeds"},
    {"retrieval.evaluation"},
]
MAX_LINES = 400
PUBLIC_PACKAGES = {"retrieval.evaluation", "retrieval.feeds"}  # `newsbot eval` drives the harness through its package API


def _layer(module: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in layer):
            return i
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function or TYPE_CHECKING block."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("retrieval"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_stage_imports_a_later_one(path: Path) -> None:
    me = _module_name(path)
    if me == "retrieval":
        return  # the package's __init__ is the public API over every stage
    mine = _layer(me)
    later = sorted(
        name
        for name in _imports(path)
        if name.startswith("retrieval.") and name.count(".") >= 1 and _is_module(name) and _layer(name) > mine
    )
    assert not later, f"{me} (layer {mine}) imports from a later stage: {later}"


def _is_module(name: str) -> bool:
    parts = name.split(".")
    return (ROOT.joinpath(*parts).with_suffix(".py")).exists() or (ROOT.joinpath(*parts) / "__init__.py").exists()


@pytest.mark.parametrize("path", _sources("bot"), ids=lambda p: str(p.relative_to(ROOT)))
def test_front_ends_use_only_the_public_api(path: Path) -> None:
    private = sorted(
        n for n in _imports(path) if n.startswith("retrieval.") and _is_module(n) and n not in PUBLIC_PACKAGES
    )
    assert not private, f"{path.relative_to(ROOT)} reaches past retrieval's public API: {private}"


@pytest.mark.parametrize(
    "path", [*_sources("retrieval"), *_sources("bot")], ids=lambda p: str(p.relative_to(ROOT))
)
def test_modules_stay_readable(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it along its seams"
