"""`vlm-eval leaderboard` on the fixed checkpoint runs (tests/data/runs/step-*): Bradley-Terry
ratings on per-sample pairwise outcomes, hand-checked where two runs make it closed-form."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main
from vlm_eval.report import load_runs
from vlm_eval.report._leaderboard import TaskWeight, rate_runs

RUNS = Path(__file__).parent / "data" / "runs"
STEPS = [str(RUNS / f"step-{step}") for step in (1000, 2000, 3000)]

# step-2000 against step-1000, per sample (ties: half a win each):
#   pope, 200 samples: 6 wins, 1 loss, 193 ties -> 102.5 : 97.5
#   vqav2, 20 samples: 5 wins (q08, q11, q12, q16, q18), 15 ties -> 12.5 : 7.5
# With two players the Bradley-Terry MLE is 400 log10(W / L) apart, around a mean of 1000.
SAMPLES_WEIGHT_GAP = 400 * math.log10((102.5 + 12.5) / (97.5 + 7.5))
# Equal task weights: each task scaled to the mean size 110 (pope x 0.55, vqav2 x 5.5).
TASKS_WEIGHT_GAP = 400 * math.log10((102.5 * 0.55 + 12.5 * 5.5) / (97.5 * 0.55 + 7.5 * 5.5))


def _leaderboard(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["leaderboard", *args])
    return result.exit_code, result.output


def _rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


@pytest.mark.parametrize(
    ("weight", "gap"), [("samples", SAMPLES_WEIGHT_GAP), ("tasks", TASKS_WEIGHT_GAP)]
)
def test_two_runs_are_rated_as_the_closed_form_says(weight: TaskWeight, gap: float) -> None:
    board = rate_runs(load_runs([Path(s) for s in STEPS[:2]]), prior=0, task_weight=weight)
    first, second = board.ratings
    assert second.rating - first.rating == pytest.approx(gap, abs=1e-6)
    assert first.rating + second.rating == pytest.approx(2000.0)
    assert board.rated_tasks == {"vqav2": 20, "pope": 200}
    code, out = _leaderboard(*STEPS[:2], "--prior", "0", "--task-weight", weight)
    assert code == 0, out
    rows = _rows(out)
    assert [row[1] for row in rows] == ["step-2000", "step-1000"]
    assert rows[0][3] == f"{1000 + gap / 2:.1f}" and rows[1][3] == f"{1000 - gap / 2:.1f}"


def test_three_checkpoints_are_ranked_with_intervals_and_task_scores() -> None:
    code, out = _leaderboard(*STEPS)
    assert code == 0, out
    rows = _rows(out)
    assert [row[:3] for row in rows] == [
        ["1", "step-2000", "org/vlm/checkpoint-2000"],
        ["2", "step-1000", "org/vlm/checkpoint-1000"],
        ["3", "step-3000", "org/vlm/checkpoint-3000"],
    ]
    for row in rows:
        low, high = (float(x) for x in row[4].strip("[]").split(", "))
        assert low <= float(row[3]) <= high
    assert [row[5:] for row in rows] == [
        ["1.0", "77.50", "77.50"],
        ["2.0", "62.50", "75.00"],
        ["3.0", "44.50", "57.50"],
    ]
    assert "Rated on vqav2 (20 samples), pope (200 samples)" in out


def test_a_leaderboard_needs_two_runs_with_per_sample_scores() -> None:
    code, out = _leaderboard(STEPS[0])
    assert code == 1 and "a leaderboard needs at least two runs" in out
    # base and new predate per-sample scores
    code, out = _leaderboard(str(RUNS / "base"), str(RUNS / "new"))
    assert code == 1
    assert "no task can rate these runs: vqav2: no per-sample scores of its main metric" in out


def _renamed(source: str, folder: Path, renamed: dict[str, str]) -> str:
    """A copy of run ``source`` in ``folder`` with tasks renamed (as if it had run others)."""
    shutil.copytree(source, folder)
    results = json.loads((folder / "results.json").read_text())
    results["config"]["tasks"] = [renamed.get(task, task) for task in results["config"]["tasks"]]
    results["tasks"] = {renamed.get(task, task): e for task, e in results["tasks"].items()}
    (folder / "results.json").write_text(json.dumps(results))
    return str(folder)


def test_runs_that_never_meet_are_not_rated_together(tmp_path: Path) -> None:
    """A run that shares no task with the others cannot be placed on their scale."""
    stranger = _renamed(STEPS[0], tmp_path / "stranger", {"vqav2": "okvqa", "pope": "gqa"})
    code, out = _leaderboard(*STEPS[:2], stranger)
    assert code == 1
    assert "share no rated task across groups (stranger; step-1000, step-2000)" in out


def test_tasks_only_one_run_has_are_noted_not_rated(tmp_path: Path) -> None:
    other = _renamed(STEPS[2], tmp_path / "other", {"pope": "gqa"})
    code, out = _leaderboard(*STEPS[:2], other)
    assert code == 0, out
    assert "Rated on vqav2 (20 samples), pope (200 samples)." in out
    assert "| gqa: not rated, only one run has it |" in out
