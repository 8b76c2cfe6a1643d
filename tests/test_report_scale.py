"""Reports of large runs: records are read a line at a time and only per-sample scores kept
(under 1 KB a sample), and ``vlm-eval report`` imports neither torch nor transformers."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pandas  # noqa: F401  imported before measuring: a fixed cost, not one per sample

from vlm_eval.report import Bootstrap, load_runs, render_markdown, sample_scores
from vlm_eval.report._compare import compare_runs, comparison_blocks

RUNS = Path(__file__).parent / "data" / "runs"
SAMPLES = 20_000


def _large_run(folder: Path, shift: int) -> Path:
    """A run of ``SAMPLES`` VQAv2 records shaped like the runner's; runs of different
    ``shift`` disagree on most samples."""
    results = json.loads((RUNS / "step-1000" / "results.json").read_text())
    results["config"]["tasks"] = ["vqav2"]
    del results["tasks"]["pope"]
    data = results["tasks"]["vqav2"]["data"]
    data["samples"] = data["scored_samples"] = SAMPLES
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(results))
    answers = ["yes", "no", "2", "red"]
    with (folder / "samples_vqav2.jsonl").open("w") as file:
        for i in range(SAMPLES):
            text = {"type": "text", "text": f"What color is thing {i}?"}
            record = {
                "sample_id": f"q{i:06d}",
                "prompt": [{"role": "user", "content": [{"type": "image"}, text]}],
                "prediction": answers[(i + shift) % 4],
                "references": [answers[i % 4]] * 10,
                "scores": {"accuracy": float((i + shift) % 4 == i % 4)},
            }
            file.write(json.dumps(record) + "\n")
    return folder


def _peak_per_sample(work: Callable[[], object]) -> float:
    """The peak of Python allocations while ``work`` runs, per sample of a run."""
    tracemalloc.start()
    try:
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / SAMPLES


def test_reports_and_comparisons_keep_under_1_kb_a_sample(tmp_path: Path) -> None:
    """Keeping the records (a dict per line) would take several KB a sample."""
    base, new = load_runs([_large_run(tmp_path / "base", 0), _large_run(tmp_path / "new", 1)])
    scores = sample_scores(base, "vqav2")
    assert scores is not None and len(scores.ids) == SAMPLES and scores.values.mean() == 100
    assert _peak_per_sample(lambda: sample_scores(base, "vqav2")) < 1024
    bootstrap = Bootstrap(resamples=10)
    assert _peak_per_sample(lambda: render_markdown([base, new], bootstrap=bootstrap)) < 1024
    comparison = compare_runs(base, new, bootstrap=bootstrap)
    assert len(comparison.tasks[0].regressed) == SAMPLES  # every sample flipped
    assert (
        _peak_per_sample(lambda: comparison_blocks(compare_runs(base, new, bootstrap=bootstrap)))
        < 1024
    )


def test_report_imports_neither_torch_nor_transformers() -> None:
    """``vlm-eval report`` starts without the model code (torch alone takes seconds)."""
    script = (
        "import sys\n"
        "from vlm_eval.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted({name.partition('.')[0] for name in sys.modules}))\n"
    )
    for command in (["report"], ["compare"], ["leaderboard"]):
        runs = [str(RUNS / "step-1000"), str(RUNS / "step-2000")]
        done = subprocess.run(
            [sys.executable, "-c", script, *command, *runs, "--resamples", "10"],
            capture_output=True,
            text=True,
            check=True,
        )
        imported = done.stdout.splitlines()[-1]
        assert "'torch'" not in imported and "'transformers'" not in imported, command
