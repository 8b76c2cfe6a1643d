"""bench/scale.py end to end at 200 questions: every measure, a well-formed result; no timing."""

from __future__ import annotations

import json
from pathlib import Path

from bench import scale


def test_the_scale_benchmark_measures_every_row_and_writes_its_result(tmp_path: Path) -> None:
    output, data_root = tmp_path / "scale.json", tmp_path / "data"
    argv = ["--questions", "200", "--num-workers", "0", "--repeats", "1", "--startup-repeats", "1"]
    code = scale.main([*argv, "--data-root", str(data_root), "--output", str(output)])
    result = json.loads(output.read_text(encoding="utf-8"))
    assert code == (0 if result["passed"] else 1)
    assert result["settings"]["questions"] == 200 and result["settings"]["images"] == 38
    assert result["fastest_num_workers"] == 0
    harness = result["harness"]["num_workers_0"]
    assert harness["all_samples_evaluated"] and result["same_accuracy"]
    assert harness["runner_timing"]["generated_samples"] == 200
    assert result["resume"]["samples_generated_again"] == 0
    assert set(result["startup"]) == {"list tasks", "report --help"}
    rows = result["summary"]
    assert len(rows) == 9
    assert all(
        set(row) == {"measure", "baseline", "vlm_eval", "ratio", "target", "passed"} for row in rows
    )
    assert [row["target"] for row in rows] == [0.8, *[1.0] * 7, None]
    # the data is cached: a second preparation writes nothing
    complete = next(data_root.iterdir()) / "complete.json"
    written = complete.stat().st_mtime_ns
    scale.prepare_data(200, seed=0, root=data_root)
    assert complete.stat().st_mtime_ns == written
