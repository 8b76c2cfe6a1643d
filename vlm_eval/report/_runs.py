"""Reading run folders back for reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_eval._files import jsonl_lines
from vlm_eval._gc import without_gc_pauses
from vlm_eval._run_folder import RESULTS_FILE, default_entry
from vlm_eval.data import DataFormatError
from vlm_eval.report._schema import (
    Invalid,
    check_record,
    check_results,
    number,
    sample_id,
    shown,
)


@dataclass(frozen=True, slots=True)
class Run:
    """A finished run: its label in reports and its results JSON."""

    label: str
    path: Path
    results: dict[str, Any]


def _read_results(file: Path) -> dict[str, Any]:
    """The checked results of ``file`` (see ``_schema``)."""
    if not file.is_file():
        raise DataFormatError(file, None, None, "no results file: is this a vlm-eval run folder?")
    try:
        text = file.read_bytes().decode("utf-8")
    except OSError as error:
        raise DataFormatError(file, None, None, f"cannot read it: {error}") from error
    except UnicodeDecodeError as error:
        raise DataFormatError(file, None, None, f"not UTF-8 text (byte {error.start})") from error
    results = _parse_json(text, file, None)
    try:
        check_results(results)
    except Invalid as error:
        raise DataFormatError(file, None, error.field, error.problem) from error
    return results


def _parse_json(text: str, file: Path, record: str | None) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        problem = "not valid JSON" if record is None else "not JSON"
        raise DataFormatError(file, record, None, f"{problem}: {error}") from error
    except RecursionError as error:
        raise DataFormatError(file, record, None, "nested too deeply to read") from error


def load_runs(paths: list[Path]) -> list[Run]:
    """Read ``results.json`` of each run folder (or the file itself); labels are folder names,
    made unique with their parent folder when two runs share a name.

    Raises:
        DataFormatError: If a results file cannot be read, or lacks or malforms a field that
            reports read (named in the message).
    """
    loaded = []
    for path in paths:
        file = path / RESULTS_FILE if path.is_dir() else path
        loaded.append((file.parent, _read_results(file)))
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


def one_entry_per_task(run: Run) -> Run:
    """``run`` with one entry per task, under the task's name: a task swept over prompt
    templates (``--templates``) stands as the entry of its protocol's default template
    (``default_entry``), and is left out where the sweep did not evaluate that template; other
    tasks are as they were. The report's main table and leaderboards read runs so, so that the
    templates of a sweep neither widen them nor count as tasks of their own."""
    results = run.results
    if not results.get("templates"):
        return run
    tasks = {
        task: {
            **results["tasks"][entry],
            "samples_file": records_file(run, entry).relative_to(run.path).as_posix(),
        }
        for task in results["config"]["tasks"]
        if (entry := default_entry(results, task)) is not None
    }
    plain = {k: v for k, v in results.items() if k not in ("templates", "default_templates")}
    config = {**results["config"], "tasks": list(tasks)}
    return Run(run.label, run.path, {**plain, "config": config, "tasks": tasks})


def _numbered_records(run: Run, task: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of ``task`` in ``run`` with their line numbers; lines split at ``\\n`` only
    (JSON strings may hold U+2028, U+0085, ... unescaped)."""
    file = records_file(run, task)
    try:
        data = file.read_bytes()
    except OSError as error:
        raise DataFormatError(file, None, None, f"cannot read the records: {error}") from error
    for line, text in jsonl_lines(data):
        where = f"on line {line}"
        if text is None:
            raise DataFormatError(file, where, None, "not UTF-8 text")
        record = _parse_json(text, file, where)
        if not isinstance(record, dict):
            raise DataFormatError(file, where, None, f"not a JSON object: {shown(record)}")
        yield line, record


@without_gc_pauses
def read_records(run: Run, task: str) -> list[dict[str, Any]]:
    """The records of ``task`` in ``run`` (its ``samples_<task>.jsonl``), in sample order.

    Raises:
        DataFormatError: If the file cannot be read or a line is not a JSON object (naming
            the line).
    """
    return [record for _, record in _numbered_records(run, task)]


@without_gc_pauses
def sample_scores(run: Run, task: str) -> SampleScores | None:
    """The per-sample main-metric scores of ``task`` in ``run``, scaled like the main metric;
    ``None`` where the main metric is not a mean of sample scores (or the results predate
    ``sample_score_scale``) or nothing was scored.

    Raises:
        DataFormatError: If a line is not a record that reports can read (see ``_schema``), a
            scored record lacks a finite main-metric score, or two records share a sample id;
            the message names the line and the sample.
    """
    entry = run.results["tasks"][task]
    scale = entry["task"].get("sample_score_scale")
    if scale is None or not entry["data"].get("scored_samples"):
        return None
    metric = entry["task"]["main_metric"]
    file = records_file(run, task)
    scores: dict[str, float] = {}
    records: dict[str, dict[str, Any]] = {}
    for line, record in _numbered_records(run, task):
        where = f"on line {line}"
        try:
            sample_id(record.get("sample_id"), "sample_id")
            where += f" (sample {shown(record['sample_id'])})"
            check_record(record)
            if not record.get("references"):
                continue  # no answers (a test split): not scored
            if metric not in record.get("scores", {}):
                raise Invalid(f"scores.{metric}", "missing")
            number(record["scores"][metric], f"scores.{metric}")
        except Invalid as error:
            raise DataFormatError(file, where, error.field, error.problem) from error
        sample = str(record["sample_id"])
        if sample in scores:
            raise DataFormatError(file, where, "sample_id", "appears twice")
        scores[sample] = scale * record["scores"][metric]
        records[sample] = record
    return SampleScores(metric, scores, records)
