"""A run killed (SIGKILL) again and again at random batches ends, once let finish, with the
records and scores of a run never killed, byte for byte."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

from tests.kill_at_batch import run_and_kill_at
from vlm_eval.tasks import load_tasks

VLM_EVAL = Path(sys.executable).with_name("vlm-eval")
TASKS = ("vqav2", "textvqa")
TIMEOUT = 600


def _arguments(model: Path, data: Path, output: Path) -> list[str]:
    return [
        "run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
        "--tasks", ",".join(TASKS), "--data-dir", str(data), "--batch-size", "2",
        "--num-workers", "1", "--limit", "12", "--output", str(output),
    ]  # fmt: skip


def _run(arguments: list[str]) -> None:
    finished = subprocess.run([str(VLM_EVAL), *arguments], capture_output=True, timeout=TIMEOUT)
    assert finished.returncode == 0, finished.stderr[-3000:]


def test_random_kills_lose_nothing_and_change_no_byte(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    load_tasks()
    reference = tmp_path / "reference"
    _run(_arguments(tiny_model_dir, mini_data, reference))

    output = tmp_path / "killed"
    draw = random.Random(14)
    interrupted = 0
    for attempt in range(3):  # 12 batches: the first kill at least comes before the end
        interrupted += run_and_kill_at(
            draw.randint(1, 5),
            _arguments(tiny_model_dir, mini_data, output),
            tmp_path / f"kill{attempt}.log",
        )
    assert interrupted
    _run(_arguments(tiny_model_dir, mini_data, output))
    expected = json.loads((reference / "results.json").read_text())
    resumed = json.loads((output / "results.json").read_text())
    for task in TASKS:
        for name in (f"samples_{task}.jsonl", f"kept_{task}.jsonl"):
            mine, theirs = output / name, reference / name
            assert mine.exists() == theirs.exists(), name
            if theirs.exists():
                assert mine.read_bytes() == theirs.read_bytes(), name
        assert resumed["tasks"][task]["scores"] == expected["tasks"][task]["scores"]
        timing = resumed["tasks"][task]["timing"]
        assert timing["reused_samples"] + timing["generated_samples"] == 12
    assert not list(output.glob("*.rank*"))
    assert not list(output.glob(".*.partial"))  # what a kill left mid-write is cleaned up
