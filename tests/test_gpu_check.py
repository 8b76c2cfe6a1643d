"""bench/gpu_check.py, run on the CPU against itself (the GPU machine runs it for real)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.gpu_check import main


def test_the_gpu_check_compares_token_counts_and_texts(tmp_path: Path) -> None:
    output = tmp_path / "gpu_check.json"
    code = main(
        ["--device", "cpu", "--dtypes", "float32", "--architectures", "idefics2,smolvlm",
         "--output", str(output)]
    )  # fmt: skip
    report = json.loads(output.read_text())
    assert code == 0 and report["passed"] and report["device"] == "cpu"
    for name in ("idefics2", "smolvlm"):
        float32 = report["architectures"][name]["float32"]
        assert float32["token_counts_equal"] and float32["same_text"] == "6/6"
        assert float32["texts"] == report["architectures"][name]["reference_texts"]


def test_a_failing_architecture_is_reported_and_fails_the_check(tmp_path: Path) -> None:
    output = tmp_path / "gpu_check.json"
    code = main(["--device", "cpu", "--dtypes", "float64", "--architectures", "idefics2",
                 "--output", str(output)])  # fmt: skip
    report = json.loads(output.read_text())
    assert code == 1 and not report["passed"]
    assert "dtype must be auto or one of" in report["architectures"]["idefics2"]["error"]
