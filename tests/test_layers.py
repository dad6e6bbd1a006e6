"""The layers of DESIGN.md section 2: each package imports only the layers below it.

storage < sources < backup | restore < dashvault; `sandbox` is imported only by tests, benchmarks and
the demo (which is itself a sandbox module, registered through an entry point).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("storage", "sources", "backup", "restore", "dashvault", "sandbox")
#: What each package may import of ours (besides itself).
ALLOWED: dict[str, frozenset[str]] = {
    "storage": frozenset(),
    "sources": frozenset({"storage"}),
    "backup": frozenset({"storage", "sources"}),
    "restore": frozenset({"storage", "sources"}),
    "dashvault": frozenset({"storage", "sources", "backup", "restore"}),
    # The sandbox stands in for the vendors; its demo drives the CLI (it prints through its console).
    "sandbox": frozenset({"storage", "dashvault"}),
}
MAX_LINES = 600


def imports_of(source: str) -> set[str]:
    """Every module a file imports, at any depth (inside functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError("relative imports hide the layer a module comes from")
    return found


def violations(package: str, source: str) -> list[str]:
    """The imports of one module of `package` that the layering forbids."""
    bad = []
    for module in sorted(imports_of(source)):
        top = module.split(".")[0]
        if top in OURS and top != package and top not in ALLOWED[package]:
            bad.append(module)
    return bad


def modules() -> list[tuple[str, Path]]:
    return [(pkg, path) for pkg in OURS for path in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize("package", OURS)
def test_each_package_imports_only_the_layers_below_it(package: str):
    problems = []
    for pkg, path in modules():
        if pkg == package:
            problems += [f"{path.relative_to(ROOT)} imports {m}" for m in violations(pkg, path.read_text())]
    assert not problems, "\n".join(problems)


def test_the_check_catches_each_kind_of_crossing():
    assert violations("restore", "from backup.run import BackupRun\n") == ["backup.run"]
    assert violations("backup", "def f():\n    import restore.plan\n") == ["restore.plan"]
    assert violations("storage", "from sources.http import make_client\n") == ["sources.http"]
    assert violations("sources", "from dashvault.config import Config\n") == ["dashvault.config"]
    assert violations("dashvault", "from sandbox.grafana import GrafanaSandbox\n") == ["sandbox.grafana"]
    assert violations("backup", "from storage.model import Item\nfrom sources.http import request\n") == []


def test_no_source_file_outside_tests_is_over_600_lines():
    files = [path for _, path in modules()] + sorted((ROOT / "benchmarks").rglob("*.py"))
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines()) for path in files}
    long = [f"{path}: {n} lines" for path, n in sizes.items() if n > MAX_LINES]
    assert not long, "\n".join(long)


def test_the_console_script_and_python_m_use_the_application_layer():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dashvault = "dashvault.cli:main"' in pyproject
    assert (ROOT / "dashvault" / "__main__.py").is_file()
    assert not (ROOT / "backup" / "__main__.py").exists()
