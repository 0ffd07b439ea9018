"""The direction of imports is the architecture: cli -> report, images -> core (STYLE.md).

ruff's banned-api keeps Rich and Typer in their modules; this keeps the array core free of
Pillow and of everything else but NumPy and its own pure siblings.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "poolcli"
CORE = ["core", "geometry", "order", "modes", "scratch", "errors"]


def imported_roots(module: str) -> set[str]:
    tree = ast.parse((SRC / f"{module}.py").read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_only_numpy_and_its_pure_siblings(module: str) -> None:
    allowed_poolcli = {f"poolcli.{m}" for m in CORE} | {"poolcli"}
    for name in imported_roots(module):
        root = name.split(".")[0]
        if root == "poolcli":
            assert name in allowed_poolcli or name == "poolcli.lazy", (module, name)
        else:
            assert root == "numpy" or root in STDLIB, (module, name)


def test_nothing_but_the_entry_points_imports_the_cli() -> None:
    for path in SRC.glob("*.py"):
        if path.stem in ("cli", "__main__", "entry"):
            continue
        assert "poolcli.cli" not in imported_roots(path.stem), path.name


def test_modes_registry_needs_no_numpy() -> None:
    assert not any(n.split(".")[0] == "numpy" for n in imported_roots("modes"))


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
