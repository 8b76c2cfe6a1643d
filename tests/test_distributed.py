"""Data parallelism: ``torchrun`` with two processes (gloo, CPU) writes what one process writes,
and a run resumes with another number of processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.runner import RunConfig, run_evaluation, saved_predictions
from vlm_eval.tasks import load_tasks

TASKS = ("vqav2", "textvqa")
BIN = Path(sys.executable).parent
TIMEOUT = 600  # seconds for one run of the command: generous for a loaded 2-core machine


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _run(model: Path, data: Path, output: Path, limit: int, processes: int) -> dict[str, Any]:
    """Run ``vlm-eval run`` in one process, or under torchrun in ``processes``; its results."""
    launcher = [str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={processes}",
                "--no-python"] if processes > 1 else []  # fmt: skip
    arguments = [
        "run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
        "--tasks", ",".join(TASKS), "--data-dir", str(data), "--limit", str(limit),
        "--batch-size", "2", "--num-workers", "0", "--output", str(output),
    ]  # fmt: skip
    log = output.with_suffix(".log")
    with log.open("w") as stderr:
        finished = subprocess.run(
            [*launcher, str(BIN / "vlm-eval"), *arguments],
            stdout=stderr,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    assert finished.returncode == 0, log.read_text()[-3000:]
    assert log.read_text().count(f"results: {output / 'results.json'}") == 1  # rank 0 only
    return json.loads((output / "results.json").read_text())


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path, mini_data: Path, tmp_path_factory: pytest.TempPathFactory):
    """A single-process run of 7 samples per task: its folder and results."""
    output = tmp_path_factory.mktemp("single") / "run"
    return output, _run(tiny_model_dir, mini_data, output, limit=7, processes=1)


def _assert_same_run(output: Path, reference: Path, results: dict[str, Any]) -> None:
    expected = json.loads((reference / "results.json").read_text())
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in reference.iterdir())
    for task in TASKS:
        assert results["tasks"][task]["scores"] == expected["tasks"][task]["scores"]
        assert results["tasks"][task]["cost"] == expected["tasks"][task]["cost"]
        samples = f"samples_{task}.jsonl"
        assert (output / samples).read_bytes() == (reference / samples).read_bytes()


def test_two_processes_write_the_records_and_scores_of_one(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path, reference: tuple[Path, dict[str, Any]]
) -> None:
    output = tmp_path / "run"
    results = _run(tiny_model_dir, mini_data, output, limit=7, processes=2)
    _assert_same_run(output, reference[0], results)  # no part file is left
    for task in TASKS:
        timing = results["tasks"][task]["timing"]
        assert timing["generated_samples_by_rank"] == [4, 3]  # batches of 2, 2, 2, 1 in turn
        assert timing["batch_sizes"] == reference[1]["tasks"][task]["timing"]["batch_sizes"]
        calls = [json.loads(line) for line in (output / f"timing_{task}.jsonl").open()]
        keys = [
            json.loads(line)["request_key"] for line in (output / f"samples_{task}.jsonl").open()
        ]
        assert sorted(key for call in calls for key in call["request_keys"]) == sorted(keys)


def test_a_single_process_run_is_completed_by_two_processes(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path, reference: tuple[Path, dict[str, Any]]
) -> None:
    output = tmp_path / "run"
    _run(tiny_model_dir, mini_data, output, limit=3, processes=1)
    results = _run(tiny_model_dir, mini_data, output, limit=7, processes=2)
    _assert_same_run(output, reference[0], results)
    for task in TASKS:
        timing = results["tasks"][task]["timing"]
        assert (timing["reused_samples"], timing["generated_samples"]) == (3, 4)
        assert timing["generated_samples_by_rank"] == [2, 2]


def test_the_part_files_of_a_killed_parallel_run_are_reused_by_one_process(
    tiny_adapter: HuggingFaceAdapter, mini_data: Path, tmp_path: Path
) -> None:
    def config(output: Path) -> RunConfig:
        return RunConfig(
            model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data, output_dir=output,
            limit=6, batch_size=2, num_workers=0,
        )  # fmt: skip

    run_evaluation(config(tmp_path / "reference"), tiny_adapter)
    reference = tmp_path / "reference"
    output = tmp_path / "run"
    output.mkdir()
    # A two-rank run killed after each rank wrote one batch: part files only.
    lines = (reference / "samples_vqav2.jsonl").read_text().splitlines(keepends=True)
    parts = [lines[0:2], lines[2:4]]
    for rank, batch in enumerate(parts):
        (output / f"samples_vqav2.rank{rank}.jsonl").write_text("".join(batch))
        records = [json.loads(line) for line in batch]
        call = {
            "request_keys": [record["request_key"] for record in records],
            "sample_ids": [record["sample_id"] for record in records],
            "batch_size": 2,
            "seconds": 1.0 + rank,
        }
        (output / f"timing_vqav2.rank{rank}.jsonl").write_text(json.dumps(call) + "\n")
    assert saved_predictions(output) == {"vqav2": 4}

    results = run_evaluation(config(output), tiny_adapter)["tasks"]["vqav2"]
    assert (results["timing"]["reused_samples"], results["timing"]["generated_samples"]) == (4, 2)
    assert sorted(p.name for p in output.iterdir()) == sorted(p.name for p in reference.iterdir())
    samples = "samples_vqav2.jsonl"
    assert (output / samples).read_bytes() == (reference / samples).read_bytes()
    calls = [json.loads(line) for line in (output / "timing_vqav2.jsonl").open()]
    assert [call["seconds"] for call in calls[:2]] == [1.0, 2.0]  # the parts' calls, in rank order
    assert sum(call["batch_size"] for call in calls) == 6
