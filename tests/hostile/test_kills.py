"""A run killed (SIGKILL) again and again at random moments ends, once let finish, with the
records and scores of a run never killed, byte for byte."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from vlm_eval.tasks import load_tasks

VLM_EVAL = Path(sys.executable).with_name("vlm-eval")
TASKS = ("vqav2", "textvqa")
TIMEOUT = 600


def _command(model: Path, data: Path, output: Path) -> list[str]:
    return [
        str(VLM_EVAL), "run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
        "--tasks", ",".join(TASKS), "--data-dir", str(data), "--batch-size", "2",
        "--num-workers", "1", "--limit", "12", "--output", str(output),
    ]  # fmt: skip


def _kill_after(command: list[str], output: Path, delay: float, log: Path) -> None:
    """Start ``command`` and SIGKILL it ``delay`` seconds after its first record is on disk
    (or when it ends by itself)."""
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any(p.stat().st_size for p in output.glob("samples_*.jsonl")):
            if process.poll() is not None or time.monotonic() > deadline:
                return
            time.sleep(0.005)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()


def test_random_kills_lose_nothing_and_change_no_byte(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    load_tasks()
    reference = tmp_path / "reference"
    started = time.monotonic()
    finished = subprocess.run(
        _command(tiny_model_dir, mini_data, reference), capture_output=True, timeout=TIMEOUT
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    span = time.monotonic() - started

    output = tmp_path / "killed"
    draw = random.Random(14)
    interrupted = 0
    for attempt in range(3):
        delay = draw.uniform(0, span / 4)
        _kill_after(
            _command(tiny_model_dir, mini_data, output),
            output,
            delay,
            tmp_path / f"kill{attempt}.log",
        )
        interrupted += not (output / "results.json").exists()
    assert interrupted  # at least one kill hit the run before its end
    finished = subprocess.run(
        _command(tiny_model_dir, mini_data, output), capture_output=True, timeout=TIMEOUT
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
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
