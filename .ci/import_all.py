"""Import every module of the packages pyproject.toml ships; fails naming the first that cannot be."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parents[1]
pyproject = tomllib.loads((root / "pyproject.toml").read_text())
include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
packages = [p for p in include if "." not in p]
count = 0
for name in packages:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
        if module.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            sys.exit(f"import_all: {module.name} cannot be imported without the dev extra: {exc}")
        count += 1
print(f"import_all: {count} modules of {', '.join(packages)} imported")
