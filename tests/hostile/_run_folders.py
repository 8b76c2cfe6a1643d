"""Helpers of the hostile report tests: copies of the fixed runs in tests/data/runs, edited per
test, and the command line run in this process."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from vlm_eval.cli import main

RUNS = Path(__file__).parent.parent / "data" / "runs"
STEPS = [RUNS / f"step-{step}" for step in (1000, 2000, 3000)]


def copy_run(
    folder: Path,
    edit: Callable[[dict[str, Any]], object] | None = None,
    source: Path = STEPS[0],
) -> Path:
    """A copy of run ``source`` (default step-1000) in ``folder``, its results edited in place
    by ``edit`` (a function of the parsed results.json)."""
    shutil.copytree(source, folder)
    if edit is not None:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        edit(results)
        (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``vlm-eval ARGS`` in this process."""
    return CliRunner().invoke(main, [str(arg) for arg in args], env=env)


def assert_clean_failure(result: Result, *expected: str) -> None:
    """Exit status 1 through click (no traceback), with every ``expected`` text in the output."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for text in expected:
        assert text in result.output, result.output
