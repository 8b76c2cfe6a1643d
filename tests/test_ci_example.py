"""The example CI workflow: its vlm-eval commands parse, and its report and compare steps work
on fixed runs (tests/data/runs) standing in for the baseline and the new evaluation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from vlm_eval.cli import main

ROOT = Path(__file__).parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "eval-example.yml"
RUNS = Path(__file__).parent / "data" / "runs"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def _commands(workflow: dict[str, Any]) -> list[tuple[str, str]]:
    """(step name, command line) of every vlm-eval command in the workflow."""
    steps = workflow["jobs"]["evaluate"]["steps"]
    return [
        (step.get("name", ""), line.strip())
        for step in steps
        for line in step.get("run", "").splitlines()
        if line.strip().startswith("vlm-eval ")
    ]


def _argv(command: str, env: dict[str, str], cwd: Path) -> list[str]:
    """The arguments bash passes to vlm-eval for ``command`` under ``env``."""
    shown = subprocess.run(
        ["bash", "-c", 'printf "%s\\0" ' + command.removeprefix("vlm-eval ")],
        env={"PATH": os.environ["PATH"], **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.split("\0")[:-1]


def test_every_vlm_eval_command_of_the_workflow_parses(
    workflow: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {key: str(value) for key, value in workflow["env"].items()}
    (tmp_path / "runs").mkdir()
    for name in ("base", "new"):
        shutil.copytree(RUNS / "step-1000", tmp_path / "runs" / name)
    data = tmp_path / env["DATA_DIR"]
    data.parent.mkdir(parents=True)
    data.symlink_to(ROOT / "vlm_eval" / "demo" / "data")
    commands = _commands(workflow)
    assert [argv.split()[1] for _, argv in commands] == [
        "run", "report", "report", "compare",
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the workflow's paths are relative to the checkout
    for step, command in commands:
        argv = _argv(command, env, tmp_path)
        with click.Context(main) as context:
            name, sub, rest = main.resolve_command(context, argv)
            assert sub is not None, step
            sub.make_context(name, rest, parent=context)  # raises on a bad option
    run = _argv(commands[0][1], env, tmp_path)
    assert run[run.index("--model-args") + 1] == "pretrained=build/tiny-idefics2,dtype=float32"
    assert run[run.index("--data-dir") + 1] == "vlm_eval/demo/data"
    assert "--data-dir" not in _argv(commands[0][1], {**env, "DATA_DIR": ""}, tmp_path)


def test_the_report_and_gate_steps_work_on_real_runs(
    workflow: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {key: str(value) for key, value in workflow["env"].items()}
    (tmp_path / "runs").mkdir()
    shutil.copytree(RUNS / "step-2000", tmp_path / "runs" / "base")
    shutil.copytree(RUNS / "step-3000", tmp_path / "runs" / "new")  # a real regression
    summary = tmp_path / "summary.md"
    monkeypatch.chdir(tmp_path)
    outcomes = []
    for _, command in _commands(workflow)[1:]:
        argv = _argv(command, env, tmp_path)
        result = CliRunner().invoke(main, argv, env={"GITHUB_STEP_SUMMARY": str(summary)})
        outcomes.append(result.exit_code)
    assert outcomes == [0, 0, 1]  # the gate fails the job
    assert (tmp_path / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "| new | org/vlm/checkpoint-3000 | 44.50 [" in (tmp_path / "report.md").read_text()
    compare = (tmp_path / "compare.md").read_text()
    assert "Gate (--fail-if-drop 1): FAILED: vqav2 -33.00, pope -20.00." in compare
    assert summary.read_text() == compare + "\n"
