"""Resuming: a run killed at any moment, or stopped by a full disk, computes only what is missing
when the same command runs again, and ends with the records and scores of an uninterrupted run."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner

from tests.kill_at_batch import run_and_kill_at
from vlm_eval.cli import main
from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.runner import RunConfig, WriteError, run_evaluation
from vlm_eval.tasks import load_tasks

TASKS = ("vqav2", "okvqa", "textvqa")
VLM_EVAL = Path(sys.executable).with_name("vlm-eval")
TIMEOUT = 600  # seconds for one run of the command: generous for a loaded 2-core machine


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _arguments(model: Path, data: Path, output: Path) -> list[str]:
    return [
        "run", "--model-args", f"pretrained={model},device=cpu,dtype=float32",
        "--tasks", ",".join(TASKS), "--data-dir", str(data), "--num-fewshot", "2",
        "--batch-size", "2", "--num-workers", "0", "--output", str(output),
    ]  # fmt: skip


def _run_command(arguments: list[str], log: Path) -> dict[str, Any]:
    """Run ``vlm-eval`` to completion; its results."""
    with log.open("w") as stderr:
        finished = subprocess.run(
            [str(VLM_EVAL), *arguments], stdout=subprocess.DEVNULL, stderr=stderr, timeout=TIMEOUT
        )
    assert finished.returncode == 0, log.read_text()[-3000:]
    return json.loads((Path(arguments[-1]) / "results.json").read_text())


def _complete_records(output: Path) -> dict[str, int]:
    """Task -> records a new run reuses: every line that parses (a torn last line does not)."""
    counts = {}
    for task in TASKS:
        path = output / f"samples_{task}.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        counts[task] = sum(_parses(line) for line in lines)
    return counts


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def test_a_run_killed_mid_way_resumes_with_only_the_missing_samples(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    reference = _run_command(
        _arguments(tiny_model_dir, mini_data, tmp_path / "reference"), tmp_path / "reference.log"
    )
    total = {task: reference["tasks"][task]["data"]["samples"] for task in TASKS}

    output = tmp_path / "run"
    arguments = _arguments(tiny_model_dir, mini_data, output)
    # Killed as its third batch starts, after two: the run is then far from its end. Each
    # batch's records reach the operating system before the next batch starts (they are fsynced
    # every few seconds), so a killed process loses none of the batches it finished.
    assert run_and_kill_at(3, arguments, tmp_path / "killed.log")
    killed = _complete_records(output)
    assert killed == {"vqav2": 2 * 2, "okvqa": 0, "textvqa": 0}, killed
    assert not (output / "results.json").exists()

    resumed = _run_command(arguments, tmp_path / "resumed.log")
    for task in TASKS:
        timing = resumed["tasks"][task]["timing"]
        assert timing["reused_samples"] == killed[task]
        assert timing["generated_samples"] == total[task] - killed[task]
        assert resumed["tasks"][task]["scores"] == reference["tasks"][task]["scores"]
        samples = f"samples_{task}.jsonl"
        assert (output / samples).read_bytes() == (tmp_path / "reference" / samples).read_bytes()


def test_the_same_command_writes_the_same_records_byte_for_byte(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    cli = CliRunner()
    for output in (tmp_path / "first", tmp_path / "second"):
        arguments = _arguments(tiny_model_dir, mini_data, output)
        result = cli.invoke(main, [*arguments, "--limit", "5"])
        assert result.exit_code == 0, result.output
    for task in TASKS:
        samples = f"samples_{task}.jsonl"
        first = (tmp_path / "first" / samples).read_bytes()
        assert first == (tmp_path / "second" / samples).read_bytes()

        keys = [json.loads(line)["request_key"] for line in first.splitlines()]
        calls = [json.loads(line) for line in (tmp_path / "first" / f"timing_{task}.jsonl").open()]
        assert sorted(key for call in calls for key in call["request_keys"]) == sorted(keys)
        assert all(call["batch_size"] == len(call["sample_ids"]) <= 2 for call in calls)
        entry = json.loads((tmp_path / "first" / "results.json").read_text())["tasks"][task]
        assert entry["timing_file"] == f"timing_{task}.jsonl"
        seconds = entry["timing"]["generation_seconds"]
        assert seconds == pytest.approx(sum(call["seconds"] for call in calls))


class FullDisk:
    """A text or binary stream on a disk with room for ``room`` more lines: a flush that would go
    past it fails with ENOSPC and writes nothing."""

    def __init__(self, stream: IO[Any], room: int):
        self.stream, self.room = stream, room
        self.pending: Any = b"" if "b" in stream.mode else ""

    def write(self, text: Any) -> int:
        self.pending += text
        return len(text)

    def writelines(self, lines: Iterable[Any]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        text, self.pending = self.pending, self.pending[:0]
        lines = text.count(b"\n" if isinstance(text, bytes) else "\n")
        if lines > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= lines
        self.stream.write(text)
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def fill_disk(monkeypatch: pytest.MonkeyPatch, name: str, room: int) -> None:
    """Writing files whose name matches ``name`` (a glob) fails with ENOSPC past ``room``
    lines."""
    real_open = Path.open

    def open_(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        stream = real_open(path, mode, *args, **kwargs)
        return FullDisk(stream, room) if fnmatch(path.name, name) and "r" not in mode else stream

    monkeypatch.setattr(Path, "open", open_)


def _config(mini_data: Path, output: Path) -> RunConfig:
    return RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=mini_data, output_dir=output,
        limit=6, batch_size=2, num_workers=0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("full", "room", "saved"),
    [
        ("samples_vqav2.jsonl", 4, 4),  # the third batch's records do not fit
        ("timing_vqav2.jsonl", 2, 6),  # the third batch's records fit, its timing line does not
    ],
)
def test_a_full_disk_stops_the_run_saying_what_is_saved_and_the_rerun_resumes(
    full: str,
    room: int,
    saved: int,
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_evaluation(_config(mini_data, tmp_path / "reference"), tiny_adapter)
    output = tmp_path / "run"
    with monkeypatch.context() as patch:
        fill_disk(patch, full, room)
        with pytest.raises(WriteError) as caught:
            run_evaluation(_config(mini_data, output), tiny_adapter)
    samples = output / "samples_vqav2.jsonl"
    assert str(caught.value) == (
        f"cannot write {output / full}: No space left on device; {saved} predictions are safely "
        f"on disk in {samples} (the same command reuses them)"
    )
    assert len(samples.read_text().splitlines()) == saved

    resumed = run_evaluation(_config(mini_data, output), tiny_adapter)["tasks"]["vqav2"]
    assert (resumed["timing"]["reused_samples"], resumed["timing"]["generated_samples"]) == (
        saved,
        6 - saved,
    )
    assert samples.read_bytes() == (tmp_path / "reference" / "samples_vqav2.jsonl").read_bytes()


def test_a_full_disk_when_writing_results_keeps_the_previous_results_file(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_evaluation(_config(mini_data, tmp_path), tiny_adapter)
    previous = (tmp_path / "results.json").read_bytes()
    fill_disk(monkeypatch, ".results.json.*.partial", 0)
    other_batches = replace(_config(mini_data, tmp_path), batch_size=3)  # not up to date
    with pytest.raises(WriteError) as caught:
        run_evaluation(other_batches, tiny_adapter)
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'results.json'}: No space left on device; 6 predictions are "
        f"safely on disk in {tmp_path}/samples_*.jsonl (the same command reuses them and writes "
        "results.json)"
    )
    assert (tmp_path / "results.json").read_bytes() == previous
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".lock", "results.json", "samples_vqav2.jsonl", "timing_vqav2.jsonl"
    ]  # fmt: skip


def test_the_command_line_says_what_a_full_disk_left_saved(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_disk(monkeypatch, "samples_okvqa.jsonl", 2)
    arguments = _arguments(tiny_model_dir, mini_data, tmp_path)
    result = CliRunner().invoke(main, [*arguments, "--limit", "4"])
    assert result.exit_code == 1
    samples = tmp_path / "samples_okvqa.jsonl"
    assert result.output.endswith(  # after the progress bars
        f"Error: cannot write {samples}: No space left on device; 2 predictions are safely on "
        f"disk in {samples} (the same command reuses them)\n6 predictions are saved in "
        f"{tmp_path} (okvqa: 2, vqav2: 4); the same command reuses them and computes only the "
        "rest\n"
    )
