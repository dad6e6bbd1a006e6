"""A user's install is the tested install: declared dependencies only, at the locked versions."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The top-level packages a wheel ships (`include` also lists their subpackages as "name.*").
SHIPPED = [p for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] if "." not in p]
LOCK = ROOT / "requirements.lock"


def runtime_closure() -> set[str]:
    """The distributions `pip install .` brings: the declared dependencies and, recursively, theirs."""
    env = default_environment()
    todo = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({**env, "extra": ""})):
            continue
        seen.add(name)
        todo += [Requirement(r) for r in distribution(name).requires or []]
    return seen


def imported_modules(path: Path) -> set[str]:
    """Top-level names a module imports at run time (imports under TYPE_CHECKING are for mypy only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def locked_pins() -> dict[str, tuple[str, Requirement]]:
    """name -> (version, requirement) for every lock line that applies to this interpreter."""
    pins: dict[str, tuple[str, Requirement]] = {}
    for raw in LOCK.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{LOCK.name}: {line!r} is not an exact pin"
        if req.marker is None or req.marker.evaluate():
            pins[canonicalize_name(req.name)] = (spec.version, req)
    return pins


def test_every_import_of_the_shipped_packages_comes_from_a_runtime_dependency():
    closure = runtime_closure()
    providers = packages_distributions()
    undeclared = []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name in sorted(imported_modules(path)):
                if name in SHIPPED or name in sys.stdlib_module_names or name == "__future__":
                    continue
                dists = {canonicalize_name(d) for d in providers.get(name, [])}
                if not dists & closure:
                    undeclared.append(f"{path.relative_to(ROOT)}: {name} (from {sorted(dists) or 'nothing'})")
    assert not undeclared, "imports a user's install lacks:\n" + "\n".join(undeclared)


def test_the_lock_pins_every_declared_dependency_within_its_bounds():
    pins = locked_pins()
    declared = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["dev"]
    problems = []
    for text in declared:
        req = Requirement(text)
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            problems.append(f"{req.name} is not in {LOCK.name}")
        elif not req.specifier.contains(pinned[0], prereleases=True):
            problems.append(f"{req.name}=={pinned[0]} in {LOCK.name} is outside pyproject's {req.specifier}")
    assert not problems, "\n".join(problems)


def test_this_environment_holds_the_locked_versions():
    """CI and both README commands install with `-c requirements.lock`: what runs is what is locked."""
    pins = locked_pins()
    differ = []
    for name in sorted(runtime_closure() | {canonicalize_name(n) for n in ("pytest", "hypothesis", "moto")}):
        try:
            installed = distribution(name).version
        except PackageNotFoundError:
            differ.append(f"{name} is not installed")
            continue
        if name not in pins:
            differ.append(f"{name} {installed} is installed but not in {LOCK.name}")
        elif pins[name][0] != installed:
            differ.append(f"{name} {installed} is installed, {LOCK.name} says {pins[name][0]}")
    assert not differ, "\n".join(differ)


def test_the_readme_quick_start_installs_from_the_lock():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None, "README.md has no quick-start block"
    commands = [line for line in block.group(1).splitlines() if line.startswith("python3 ")]
    assert len(commands) == 2, commands
    assert all("-c requirements.lock" in c for c in commands), commands
    assert "[dev]" not in commands[0] and "dashvault demo" in commands[0]
    assert "'.[dev]'" in commands[1] and "pytest" in commands[1]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "-c /src/requirements.lock" in dockerfile
    assert all(f"COPY {package} /src/{package}" in dockerfile for package in SHIPPED), SHIPPED
