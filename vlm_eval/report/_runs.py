"""Reading run folders back for reports: the typed results (``vlm_eval.results``), and of the
records only the per-sample scores, read a line at a time."""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data import DataFormatError
from vlm_eval.results import (
    Invalid,
    RunResults,
    SampleRecord,
    read_results,
    run_labels,
    sample_records,
)
from vlm_eval.results._schema import number


@dataclass(frozen=True, slots=True)
class Run:
    """A finished run: its label in reports, its folder and its results."""

    label: str
    path: Path
    results: RunResults


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
        Run(label=label, path=folder, results=read_results(path))
        for label, folder, path in zip(run_labels(folders), folders, paths, strict=True)
    ]


@dataclass(frozen=True, slots=True)
class SampleScores:
    """One task's per-sample scores of the main metric in a run, on the metric's own scale
    (their mean is the main metric): ``values[i]`` is the score of sample ``ids[i]``, in the
    run's sample order."""

    metric: str
    scale: float
    """The task's ``sample_score_scale``: the records' scores times it are ``values``."""
    ids: list[str]
    values: np.ndarray

    def scores_of(self, samples: Sequence[str]) -> np.ndarray:
        """The scores of ``samples``, in their order (each one scored here)."""
        position = {sample: i for i, sample in enumerate(self.ids)}
        return self.values[[position[sample] for sample in samples]]

    def paired(self, other: SampleScores) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The samples both scored, in this one's order, with this one's and ``other``'s
        scores of them."""
        scored = set(other.ids)
        shared = [sample for sample in self.ids if sample in scored]
        return shared, self.scores_of(shared), other.scores_of(shared)


def records_file(run: Run, task: str) -> Path:
    """The ``samples_<task>.jsonl`` of task entry ``task`` in ``run``."""
    return run.path / run.results.tasks[task].samples_file


def one_entry_per_task(run: Run) -> Run:
    """``run`` with one entry per task, under the task's name: a task swept over prompt
    templates (``--templates``) stands as the entry of its protocol's default template
    (``RunResults.default_entry``), and is left out where the sweep did not evaluate that
    template; other tasks are as they were. The report's main table and leaderboards read runs
    so, so that the templates of a sweep neither widen them nor count as tasks of their own."""
    results = run.results
    if not results.templates:
        return run
    tasks = {
        task: results.tasks[entry]  # its samples_file stays that of the entry
        for task in results.config["tasks"]
        if (entry := results.default_entry(task)) is not None
    }
    plain = dataclasses.replace(
        results,
        config={**results.config, "tasks": list(tasks)},
        tasks=tasks,
        templates=None,
        default_templates=None,
    )
    return Run(run.label, run.path, plain)


def read_records(run: Run, task: str) -> Iterator[SampleRecord]:
    """The records of task entry ``task`` in ``run`` (its ``samples_<task>.jsonl``), in sample
    order, read a line at a time (``vlm_eval.results.sample_records``).

    Raises:
        DataFormatError: If the file cannot be read or a line is not a record (naming the
            line, the sample and the field).
    """
    return (record for _, record in sample_records(records_file(run, task)))


@without_gc_pauses
def sample_scores(run: Run, task: str) -> SampleScores | None:
    """The per-sample main-metric scores of task entry ``task`` in ``run``, scaled like the
    main metric; ``None`` where the main metric is not a mean of sample scores (or the results
    predate ``sample_score_scale``) or nothing was scored. The records are read a line at a
    time and only the scores and sample ids are kept.

    Raises:
        DataFormatError: If a line is not a record that reports can read (see ``_schema``), a
            scored record lacks a finite main-metric score, or two records share a sample id;
            the message names the line and the sample.
    """
    entry = run.results.tasks[task]
    scale = entry.task.sample_score_scale
    if scale is None or not entry.data.scored_samples:
        return None
    metric = entry.task.main_metric
    file = records_file(run, task)
    ids: list[str] = []
    seen: set[str] = set()
    values = array("d")
    for where, record in sample_records(file):
        if not record.references:
            continue  # no answers (a test split): not scored
        try:
            if metric not in record.scores:
                raise Invalid(f"scores.{metric}", "missing")
            number(record.scores[metric], f"scores.{metric}")
        except Invalid as error:
            raise DataFormatError(file, where, error.field, error.problem) from error
        sample = str(record.sample_id)
        if sample in seen:
            raise DataFormatError(file, where, "sample_id", "appears twice")
        seen.add(sample)
        ids.append(sample)
        values.append(scale * record.scores[metric])
    return SampleScores(metric, scale, ids, np.frombuffer(values, dtype=np.float64))
