"""Reading run folders back for reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_eval._gc import without_gc_pauses
from vlm_eval._run_folder import default_entry
from vlm_eval.data import DataFormatError
from vlm_eval.results import Invalid, SampleRecord, read_results, run_labels
from vlm_eval.results._read import numbered_records
from vlm_eval.results._schema import number, sample_id, shown


@dataclass(frozen=True, slots=True)
class Run:
    """A finished run: its label in reports and its results JSON."""

    label: str
    path: Path
    results: dict[str, Any]


def load_runs(paths: list[Path]) -> list[Run]:
    """Read ``results.json`` of each run folder (or the file itself), migrated to today's
    schema (``vlm_eval.results.read_results``); labels are folder names, made unique with their
    parent folder when two runs share a name.

    Raises:
        DataFormatError: If a results file cannot be read, or lacks or malforms a field that
            reports read (named in the message).
    """
    folders = [path if path.is_dir() else path.parent for path in paths]
    return [
        Run(label=label, path=folder, results=read_results(path).to_json())
        for label, folder, path in zip(run_labels(folders), folders, paths, strict=True)
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


@without_gc_pauses
def read_records(run: Run, task: str) -> list[dict[str, Any]]:
    """The records of ``task`` in ``run`` (its ``samples_<task>.jsonl``), in sample order.

    Raises:
        DataFormatError: If the file cannot be read or a line is not a JSON object (naming
            the line).
    """
    return [record for _, record in numbered_records(records_file(run, task))]


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
    for line, record in numbered_records(file):
        where = f"on line {line}"
        try:
            sample_id(record.get("sample_id"), "sample_id")
            where += f" (sample {shown(record['sample_id'])})"
            SampleRecord.from_json(record)
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
