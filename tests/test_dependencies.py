"""pyproject.toml declares what the code imports: the package's imports in its dependencies (or
an extra), the tests' imports in the core or the dev extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _name(requirement: str) -> str:
    """The normalized distribution name of a requirement (``Pillow>=10`` -> ``pillow``)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0]).lower()


def _declared(*extras: str) -> set[str]:
    """The core dependencies and those of ``extras``, following ``vlm-eval[x]`` references."""
    names, pending = set(), [*PROJECT["dependencies"]]
    pending += [r for extra in extras for r in PROJECT["optional-dependencies"][extra]]
    while pending:
        requirement = pending.pop()
        name = _name(requirement)
        if name == "vlm-eval":
            inner = requirement.partition("[")[2].partition("]")[0]
            pending += PROJECT["optional-dependencies"][inner]
        else:
            names.add(name)
    return names


def _imported(*folders: str) -> set[str]:
    """The distributions that the Python files under ``folders`` import (third-party only)."""
    modules = set()
    for folder in folders:
        for file in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_bytes())):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.partition(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules.add(node.module.partition(".")[0])
    ours = {"vlm_eval", "tests", "bench", "build_checkpoints", "_run_folders", "openai_server"}
    distributions = packages_distributions()
    return {
        _name(distributions.get(module, [module])[0])
        for module in modules - ours - set(sys.stdlib_module_names)
    }


def test_the_package_declares_what_it_imports() -> None:
    extras = PROJECT["optional-dependencies"]
    assert _imported("vlm_eval", "tasks") - _declared(*extras) == set()


def test_every_core_dependency_is_imported() -> None:
    needed_by_others = {"num2words"}  # the SmolVLM processor imports it, we do not
    core = {_name(requirement) for requirement in PROJECT["dependencies"]}
    assert core - _imported("vlm_eval", "tasks") - needed_by_others == set()


def test_the_dev_extra_holds_what_the_tests_import() -> None:
    assert _imported("tests") - _declared("dev") == set()
