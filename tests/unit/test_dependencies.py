"""Every third-party module src/ imports is a declared dependency of the application: `make run`
installs the application without the development tools, so a module that only arrives with them,
or through another package's requirements, may be missing there."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"[A-Za-z0-9._-]+")


def normalized(name: str) -> str:
    """A distribution name as packaging compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> set[str]:
    """The top-level modules the application's code imports, less the standard library's."""
    names: set[str] = set()
    for path in (ROOT / "src" / "helpdesk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"helpdesk"}


def declared_dependencies() -> set[str]:
    """The distributions [project].dependencies names (not the extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = (NAME.match(requirement) for requirement in project["dependencies"])
    return {normalized(match.group()) for match in found if match}


def test_every_module_the_application_imports_is_declared() -> None:
    providers = packages_distributions()
    declared = declared_dependencies()
    undeclared = {}
    for module in sorted(third_party_imports()):
        distributions = {normalized(name) for name in providers.get(module, [])}
        assert distributions, f"no installed distribution provides {module}"
        if not distributions & declared:
            undeclared[module] = sorted(distributions)
    assert undeclared == {}
