"""Reading run folders back for reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_eval._gc import without_gc_pauses
from vlm_eval._run_folder import RESULTS_FILE
from vlm_eval.data import DataFormatError


@dataclass(frozen=True, slots=True)
class Run:
    """A finished run: its label in reports and its results JSON."""

    label: str
    path: Path
    results: dict[str, Any]


def load_runs(paths: list[Path]) -> list[Run]:
    """Read ``results.json`` of each run folder (or the file itself); labels are folder names,
    made unique with their parent folder when two runs share a name."""
    loaded = []
    for path in paths:
        file = path / RESULTS_FILE if path.is_dir() else path
        if not file.is_file():
            raise DataFormatError(
                file, None, None, "no results file: is this a vlm-eval run folder?"
            )
        try:
            results = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataFormatError(file, None, None, f"not valid JSON: {error}") from error
        if not isinstance(results.get("tasks"), dict):
            raise DataFormatError(file, None, "tasks", "missing: not a vlm-eval results file")
        loaded.append((file.parent, results))
    names = [folder.name for folder, _ in loaded]
    return [
        Run(
            label=folder.name
            if names.count(folder.name) == 1
            else f"{folder.parent.name}/{folder.name}",
            path=folder,
            results=results,
        )
        for folder, results in loaded
    ]


@dataclass(frozen=True, slots=True)
class SampleScores:
    """One task's per-sample scores of the main metric in a run, on the metric's own scale
    (their mean is the main metric), with the records they come from."""

    metric: str
    scores: dict[str, float]
    """Sample id -> score, in the run's sample order."""
    records: dict[str, dict[str, Any]]
    """Sample id -> its record in ``samples_<task>.jsonl``."""


def records_file(run: Run, task: str) -> Path:
    """The ``samples_<task>.jsonl`` of ``task`` in ``run``."""
    return run.path / run.results["tasks"][task].get("samples_file", f"samples_{task}.jsonl")


@without_gc_pauses
def read_records(run: Run, task: str) -> list[dict[str, Any]]:
    """The records of ``task`` in ``run`` (its ``samples_<task>.jsonl``), in sample order.

    Raises:
        DataFormatError: If the file is missing or a line is not a JSON object.
    """
    file = records_file(run, task)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DataFormatError(file, None, None, f"cannot read the records: {error}") from error
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(file, f"on line {number}", None, f"not JSON: {error}") from error
        if not isinstance(record, dict):
            raise DataFormatError(file, f"on line {number}", None, "not a JSON object")
        records.append(record)
    return records


@without_gc_pauses
def sample_scores(run: Run, task: str) -> SampleScores | None:
    """The per-sample main-metric scores of ``task`` in ``run``, scaled like the main metric;
    ``None`` where the main metric is not a mean of sample scores (or the results predate
    ``sample_score_scale``) or nothing was scored.

    Raises:
        DataFormatError: If a scored record lacks the main metric, or two share a sample id.
    """
    entry = run.results["tasks"][task]
    scale = entry["task"].get("sample_score_scale")
    if scale is None or not entry["data"].get("scored_samples"):
        return None
    metric = entry["task"]["main_metric"]
    file = records_file(run, task)
    scores: dict[str, float] = {}
    records: dict[str, dict[str, Any]] = {}
    for record in read_records(run, task):
        sample = str(record.get("sample_id"))
        if not record.get("references"):
            continue  # no answers (a test split): not scored
        value = record.get("scores", {}).get(metric)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise DataFormatError(file, sample, f"scores.{metric}", f"not a number: {value!r}")
        if sample in scores:
            raise DataFormatError(file, sample, "sample_id", "appears twice")
        scores[sample] = scale * value
        records[sample] = record
    return SampleScores(metric, scores, records)
