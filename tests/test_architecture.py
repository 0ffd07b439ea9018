"""The direction of imports is the architecture: cli -> run -> io -> backends -> core (STYLE.md).

The import-linter contracts in pyproject.toml say it once (layers, the core's independence,
nothing imports the CLI, Rich and Typer only in it); the first test runs them. The others keep
the core to NumPy and a few standard modules, which a list of forbidden packages cannot say.
ruff's banned-api flags a Rich or Typer import outside the CLI in the editor already.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "poolcli"
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


def test_the_import_linter_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter.cli import lint_imports

    status = lint_imports(config_filenames=(str(ROOT / "pyproject.toml"),), no_cache=True)
    assert status == 0, capsys.readouterr().out


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_only_numpy_and_its_pure_siblings(module: str) -> None:
    for name in imported_roots(SRC / "core" / f"{module}.py"):
        root = name.split(".")[0]
        if root == "poolcli":
            assert name.startswith("poolcli.core") or name == "poolcli.errors", (module, name)
        else:
            assert root == "numpy" or root in STDLIB, (module, name)


def test_modes_registry_needs_no_numpy() -> None:
    for path in (SRC / "core" / "__init__.py", SRC / "core" / "modes.py"):
        assert not any(n.split(".")[0] == "numpy" for n in imported_roots(path)), path


STDLIB = {
    "__future__",
    "collections",
    "concurrent",
    "dataclasses",
    "decimal",
    "fractions",
    "functools",
    "itertools",
    "math",
    "operator",
    "os",
    "pathlib",
    "threading",
    "typing",
}
