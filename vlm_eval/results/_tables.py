"""Runs as pandas DataFrames, for notebooks and ``vlm-eval report --format csv``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vlm_eval.results._model import RunResults
from vlm_eval.results._read import read_results, run_labels, sample_records

if TYPE_CHECKING:
    import pandas as pd  # imported where used: reading results for reports needs no pandas

METRIC_COLUMNS = [
    "run",
    "model",
    "task",
    "entry",
    "template",
    "metric",
    "value",
    "main",
    "samples",
    "failed",
    "scored_samples",
]
"""The columns of ``RunTables.metrics``."""


@dataclass(frozen=True, slots=True)
class RunTables:
    """Runs as tables.

    Attributes:
        metrics: One row per run x task entry x metric: ``run`` (its label), ``model`` (the
            checkpoint or served model), ``task``, ``entry`` (the task, or ``vqav2@t4`` for a
            template of a sweep, whose id is ``template``), ``metric``, ``value``, ``main``
            (the task's main metric), and the entry's ``samples``, ``failed`` and
            ``scored_samples``.
        samples: One row per run x task entry x sample record: ``run``, ``entry``,
            ``sample_id``, ``scored`` (it has references), then a column per score in the
            records, as they hold it (a main-metric score times the task's
            ``sample_score_scale`` is on the main metric's scale). Entries without a records
            file have no rows.
    """

    metrics: pd.DataFrame
    samples: pd.DataFrame


def metrics_table(runs: Iterable[tuple[str, RunResults]]) -> pd.DataFrame:
    """``RunTables.metrics`` of (label, results) pairs, entries in the order each run asked."""
    import pandas as pd

    rows = []
    for label, results in runs:
        for task in results.config["tasks"]:
            swept = (results.templates or {}).get(task) or [None]
            for entry, template in zip(results.entries(task), swept, strict=True):
                result = results.tasks[entry]
                data = result.data
                rows += [
                    [
                        label,
                        results.model_label,
                        task,
                        entry,
                        template,
                        metric,
                        value,
                        metric == result.task.main_metric,
                        data.samples,
                        data.failed,
                        data.scored_samples,
                    ]
                    for metric, value in result.scores.metrics.items()
                ]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS).astype(
        {"value": "float64", "main": "bool", "scored_samples": "Int64"}
    )


def _sample_rows(label: str, folder: Path, results: RunResults) -> Iterable[dict[str, object]]:
    for entry, result in results.tasks.items():
        file = folder / result.samples_file
        if not file.exists():  # results without records (hand-written, records deleted)
            continue
        for _, record in sample_records(file):
            yield {
                **record.scores,
                "run": label,
                "entry": entry,
                "sample_id": str(record.sample_id),
                "scored": bool(record.references),
            }


def load_runs(paths: Sequence[Path], *, samples: bool = True) -> RunTables:
    """The runs of ``paths`` (run folders or their ``results.json``) as tables; runs are
    labelled by folder name (with the parent folder where two share one).

    Args:
        paths: The runs.
        samples: Read every ``samples_<task>.jsonl`` for ``RunTables.samples``; without it
            that table is empty.

    Raises:
        DataFormatError: If a results file or (with ``samples``) a record cannot be read, or a
            field is missing or malformed (the message names the file, line and field).
    """
    import pandas as pd

    folders = [path if path.is_dir() else path.parent for path in paths]
    runs = list(zip(run_labels(folders), folders, map(read_results, paths), strict=True))
    rows = [
        row
        for label, folder, results in (runs if samples else [])
        for row in _sample_rows(label, folder, results)
    ]
    columns = ["run", "entry", "sample_id", "scored"]
    table = pd.DataFrame(rows, columns=columns + sorted({k for r in rows for k in r} - {*columns}))
    return RunTables(
        metrics=metrics_table((label, results) for label, _, results in runs), samples=table
    )
