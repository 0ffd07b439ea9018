"""The direction of imports is the architecture: cli -> run -> io -> backends -> core (STYLE.md).

ruff's banned-api keeps Rich and Typer in the cli package; this keeps the array core free of
Pillow and of everything else but NumPy and its own pure modules.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "poolcli"
CORE = sorted(p.stem for p in (SRC / "core").glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_only_numpy_and_its_pure_siblings(module: str) -> None:
    for name in imported_roots(SRC / "core" / f"{module}.py"):
        root = name.split(".")[0]
        if root == "poolcli":
            assert name.startswith("poolcli.core") or name == "poolcli.errors", (module, name)
        else:
            assert root == "numpy" or root in STDLIB, (module, name)


def test_nothing_but_the_entry_points_imports_the_cli() -> None:
    for path in SRC.rglob("*.py"):
        if path.parent.name == "cli" or path.stem in ("__main__", "entry"):
            continue
        assert not any(n.startswith("poolcli.cli") for n in imported_roots(path)), path


def test_modes_registry_needs_no_numpy() -> None:
    for path in (SRC / "core" / "__init__.py", SRC / "core" / "modes.py"):
        assert not any(n.split(".")[0] == "numpy" for n in imported_roots(path)), path


STDLIB = {
    "__future__",
    "collections",
    "concurrent",
    "dataclasses",
    "functools",
    "itertools",
    "math",
    "operator",
    "os",
    "threading",
    "typing",
}
