"""bench/gpu.py as its CPU smoke test runs it (GPU sessions run it for real); no timing checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.gpu import main


def test_the_gpu_benchmark_runs_on_the_cpu_and_compares_like_with_like(tmp_path: Path) -> None:
    output = tmp_path / "gpu.json"
    argv = ["--device", "cpu", "--sizes", "tiny", "--samples", "40", "--batch-1-samples", "3"]
    argv += ["--prepare-workers", "2"]
    assert main([*argv, "--output", str(output)]) == 0
    result = json.loads(output.read_text(encoding="utf-8"))
    assert result["device"] == "cpu"
    tiny = result["models"]["tiny"]
    assert not tiny["targets_apply"] and tiny["passed"]
    assert tiny["dtype"] == "float32"
    assert set(tiny["samples_per_second"]) == {
        "bare_generate_batch_32",
        "runner_batch_32",
        "runner_batch_32_whole_call",
        "runner_batch_32_prepare_in_workers",
        "runner_batch_32_prepare_in_workers_whole_call",
        "runner_batch_1",
        "runner_batch_1_whole_call",
    }
    # The runners' batches of 32 are the bare loop's: the same answers, in float32 on one device.
    runners = ["runner_batch_32", "runner_batch_32_prepare_in_workers"]
    assert tiny["runner_answers_same_as_bare_loop"] == dict.fromkeys(runners, 1.0)
    assert set(tiny["runner_vs_bare"]) == set(runners) and tiny["faster_runner"] in runners
    for name in runners:
        batch_32 = tiny["runner_results"][name]["timing"]
        assert (batch_32["generated_samples"], batch_32["batch_sizes"]) == (40, {"32": 1, "8": 1})
    batch_1 = tiny["runner_results"]["runner_batch_1"]["timing"]
    assert (batch_1["generated_samples"], batch_1["batch_sizes"]) == (3, {"1": 3})
    assert [row["target"] for row in result["summary"]] == [None] * 3  # targets: CUDA only
    assert result["settings"]["prepare_workers"] == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here")
def test_asking_for_cuda_without_it_says_how_to_smoke_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--output", str(tmp_path / "gpu.json")]) == 2
    assert "--device cpu --sizes tiny" in capsys.readouterr().err
    assert not (tmp_path / "gpu.json").exists()


def test_unknown_model_sizes_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--device", "cpu", "--sizes", "tiny,huge"])
    assert "--sizes: unknown huge (tiny, mid)" in capsys.readouterr().err
