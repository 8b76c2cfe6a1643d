"""Built-in plugins registered by name: `vlm-eval list` imports neither torch nor transformers,
and every name resolves to the class its module registers."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import vlm_eval.models
from vlm_eval._registry import Registry
from vlm_eval.models import FAMILIES, MODELS

ROOT = Path(__file__).resolve().parent.parent

# Runs the command in a fresh interpreter, then prints which heavy modules it imported.
LIST_AND_REPORT_IMPORTS = """
import json, sys
from vlm_eval.cli import main
main(["list", sys.argv[1]], standalone_mode=False)
print(json.dumps(sorted(name for name in ("torch", "transformers") if name in sys.modules)))
"""


@pytest.mark.parametrize("what", ["tasks", "protocols", "models", "families"])
def test_list_imports_neither_torch_nor_transformers(what: str) -> None:
    env = {key: value for key, value in os.environ.items() if key != "VLM_EVAL_TASKS_PATH"}
    done = subprocess.run(
        [sys.executable, "-c", LIST_AND_REPORT_IMPORTS, what],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,  # a safety net only: the command takes a fraction of a second
    )
    *listing, imported = done.stdout.splitlines()
    assert listing
    assert json.loads(imported) == []


@pytest.mark.parametrize("registry", [MODELS, FAMILIES], ids=["models", "families"])
def test_each_name_resolves_to_the_class_its_module_registers(registry: Registry[Any]) -> None:
    for name in registry.names():
        entry = registry.get(name)
        assert entry.name == name
        assert inspect.getsourcefile(entry) == registry.origin(name)


def test_every_builtin_adapter_and_family_is_registered_by_name() -> None:
    for module in pkgutil.walk_packages(vlm_eval.models.__path__, "vlm_eval.models."):
        importlib.import_module(module.name)
    assert MODELS.names() == sorted(MODELS._lazy_modules)
    assert FAMILIES.names() == sorted([*FAMILIES._lazy_modules, "generic"])
