"""`vlm-eval compare` on fixed run folders (tests/data/runs/step-*, see build_checkpoints.py,
whose docstring derives every number asserted here)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vlm_eval.cli import main
from vlm_eval.report import load_runs
from vlm_eval.report._compare import compare_runs

RUNS = Path(__file__).parent / "data" / "runs"
STEPS = [RUNS / f"step-{step}" for step in (1000, 2000, 3000)]


def _compare(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compare", *args], env=env)
    return result.exit_code, result.output


def _row(markdown: str, task: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {task} |"))
    return [cell.strip() for cell in line.strip("|").split(" | ")]


def _cells(markdown: str, task: str) -> dict[str, str]:
    """The cells of ``task``'s row of the comparison table, by column."""
    return dict(zip(_row(markdown, "task"), _row(markdown, task), strict=True))


def test_the_fixtures_are_what_their_script_writes(tmp_path: Path) -> None:
    sys.path.insert(0, str(RUNS))
    try:
        import build_checkpoints
    finally:
        sys.path.remove(str(RUNS))
    build_checkpoints.write(tmp_path)
    for folder in STEPS:
        for file in folder.iterdir():
            assert (tmp_path / folder.name / file.name).read_bytes() == file.read_bytes(), file


def test_deltas_tests_and_verdicts_of_two_checkpoints() -> None:
    code, out = _compare(str(STEPS[0]), str(STEPS[1]))
    assert code == 0, out
    header = _row(out, "task")
    assert header == [
        "task", "metric", "verdict", "test", "step-1000", "step-2000", "Δ", "95% CI of Δ", "p",
        "paired",
    ]  # fmt: skip
    vqav2 = _cells(out, "vqav2")
    assert (vqav2["step-1000"], vqav2["step-2000"], vqav2["Δ"]) == ("62.50", "77.50", "+15.00")
    assert (vqav2["test"], vqav2["paired"]) == ("paired bootstrap", "20")
    pope = _cells(out, "pope")
    # 1 sample right only in step-1000, 6 only in step-2000: exact p = 2 * 8 / 2**7
    assert (pope["Δ"], pope["p"], pope["test"]) == ("+2.50", "0.125", "exact McNemar")
    assert pope["verdict"] == "no significant change"


def test_flipped_samples_are_listed_largest_change_first() -> None:
    comparison = compare_runs(*load_runs(STEPS[:2]))
    vqav2, pope = comparison.tasks
    assert [f.sample_id for f in vqav2.improved] == ["q08", "q12", "q16", "q18", "q11"]
    assert [(f.base_score, f.new_score) for f in vqav2.improved][:2] == [(0.0, 100.0), (0.0, 90.0)]
    assert vqav2.regressed == ()
    assert [f.sample_id for f in pope.regressed] == ["p000"]
    assert [f.sample_id for f in pope.improved] == [f"p{i}" for i in range(150, 156)]
    assert pope.mcnemar is not None
    assert (pope.mcnemar.base_only, pope.mcnemar.new_only) == (1, 6)
    flipped = vqav2.improved[1]
    assert (flipped.question, flipped.references) == ("How many dogs?", "3 (7), 2 (3)")
    assert (flipped.base_prediction, flipped.new_prediction) == ("4", "2")

    _, out = _compare(str(STEPS[0]), str(STEPS[1]), "--listed", "2")
    assert "### vqav2: 0 worse, 5 better, 15 unchanged" in out
    assert "### pope: 1 worse, 6 better, 193 unchanged" in out
    assert "| q12 | How many dogs? | 3 (7), 2 (3) | 4 | 2 | 0.00 → 90.00 |" in out
    assert "| q16 |" not in out  # only the 2 largest changes are listed


@pytest.mark.parametrize(
    ("points", "failing"),
    [("5", ["vqav2 -33.00", "pope -20.00"]), ("25", ["vqav2 -33.00"]), ("40", [])],
)
def test_the_gate_fails_on_significant_drops_beyond_the_threshold(
    points: str, failing: list[str]
) -> None:
    code, out = _compare(str(STEPS[1]), str(STEPS[2]), "--fail-if-drop", points)
    pope = _cells(out, "pope")
    assert (pope["p"], pope["test"]) == ("1.8e-12", "exact McNemar")  # 40 vs 0: 2 / 2**40
    assert _cells(out, "vqav2")["verdict"] == "worse"
    if failing:
        assert code == 1
        assert f"Gate (--fail-if-drop {points}): FAILED: {', '.join(failing)}." in out
        assert f"--fail-if-drop {points}: {len(failing)} task(s) failed the gate: " in out
    else:
        assert code == 0
        assert f"Gate (--fail-if-drop {points}): passed." in out


def test_an_insignificant_drop_passes_the_gate() -> None:
    code, out = _compare(str(STEPS[1]), str(STEPS[0]), "--fail-if-drop", "1")
    pope = _cells(out, "pope")
    assert (pope["Δ"], pope["p"], pope["verdict"]) == ("-2.50", "0.125", "no significant change")
    # vqav2 drops 15 points on 20 samples: significant for the paired bootstrap at seed 0
    assert (_cells(out, "vqav2")["Δ"], _cells(out, "vqav2")["verdict"]) == ("-15.00", "worse")
    assert code == 1 and "Gate (--fail-if-drop 1): FAILED: vqav2 -15.00." in out


def test_the_table_is_appended_to_the_github_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    code, _ = _compare(
        str(STEPS[0]), str(STEPS[1]), "--output", str(tmp_path / "c.md"),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )  # fmt: skip
    assert code == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n# vlm-eval compare: step-1000 → step-2000\n")
    assert text.endswith((tmp_path / "c.md").read_text() + "\n")


def test_results_without_sample_scores_are_compared_untested(tmp_path: Path) -> None:
    # tests/data/runs/base and new predate per-sample scores: no significance is possible, so
    # a drop beyond the threshold fails the gate rather than pass unchecked
    code, out = _compare(str(RUNS / "base"), str(RUNS / "new"), "--fail-if-drop", "0.5")
    coco = _cells(out, "coco_caption")
    assert [coco[c] for c in ("base", "new", "Δ", "95% CI of Δ", "p", "test")] == [
        "116.04", "115.50", "-0.54", "-", "-", "not tested",
    ]  # fmt: skip
    assert code == 1 and "coco_caption -0.54" in out
    assert "vqa_mode" in out.split("## Differences between the runs", 1)[1]


def _copy_run(source: Path, target: Path, prediction: str) -> Path:
    shutil.copytree(source, target)
    records = target / "samples_vqav2.jsonl"
    lines = [json.loads(line) for line in records.read_text().splitlines()]
    lines[8]["prediction"] = prediction  # q08, which step-2000 gets right and step-1000 not
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return target


def test_model_outputs_cannot_break_the_markdown_or_run_in_html(tmp_path: Path) -> None:
    evil = "no | yes\n<script>alert(1)</script> *x*"
    base = _copy_run(STEPS[0], tmp_path / "base", evil)
    code, out = _compare(str(base), str(STEPS[1]))
    row = next(line for line in out.splitlines() if line.startswith("| q08 |"))
    assert row == (
        "| q08 | Is it sunny? | yes (10) | no \\| yes &lt;script&gt;alert(1)&lt;/script&gt; "
        "\\*x\\* | yes | 0.00 → 100.00 |"
    )
    page = tmp_path / "c.html"
    code, _ = _compare(str(base), str(STEPS[1]), "--format", "html", "--output", str(page))
    assert code == 0
    html = page.read_text()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_samples_scored_in_one_run_only_are_left_out_and_said(tmp_path: Path) -> None:
    run = _copy_run(STEPS[0], tmp_path / "subset", "no")
    records = run / "samples_pope.jsonl"
    records.write_text("".join(records.read_text().splitlines(keepends=True)[:100]))
    _, out = _compare(str(run), str(STEPS[1]))
    assert _cells(out, "pope")["paired"] == "100"
    assert "pope: 0 samples scored only in subset, 100 only in step-2000; left out of Δ" in out


def test_a_record_without_its_score_is_a_clear_error(tmp_path: Path) -> None:
    run = _copy_run(STEPS[0], tmp_path / "broken", "no")
    records = run / "samples_pope.jsonl"
    lines = records.read_text().splitlines()
    record = json.loads(lines[3])
    del record["scores"]["accuracy"]
    lines[3] = json.dumps(record)
    records.write_text("\n".join(lines) + "\n")
    code, out = _compare(str(run), str(STEPS[1]))
    assert code == 1
    assert f"{records}, record on line 4 (sample 'p003'), field 'scores.accuracy': missing" in out


def test_a_task_new_could_not_score_fails_the_gate(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(STEPS[1], new)
    results = json.loads((new / "results.json").read_text())
    entry = results["tasks"]["pope"]
    entry["scores"]["metrics"] = {}
    entry["data"]["scored_samples"] = 0
    (new / "results.json").write_text(json.dumps(results))
    (new / "samples_pope.jsonl").write_text("")
    code, out = _compare(str(STEPS[0]), str(new), "--fail-if-drop", "50")
    assert code == 1
    assert "Gate (--fail-if-drop 50): FAILED: pope (no score)." in out
    assert "--fail-if-drop 50: 1 task(s) failed the gate: pope (no score)" in out
