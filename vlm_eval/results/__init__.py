"""The results of runs: typed (``RunResults``, ``TaskResult``, ``SampleRecord``), read back from
run folders of any schema version (``read_results``), and as pandas DataFrames (``load_runs``).

Example:
    >>> from vlm_eval.results import load_runs
    >>> tables = load_runs([Path("runs/base"), Path("runs/new")])
    >>> tables.metrics.query("main").pivot(index="run", columns="entry", values="value")
"""

from vlm_eval.results._model import (
    SCHEMA_VERSION,
    RunResults,
    SampleFailure,
    SampleRecord,
    TaskCost,
    TaskDataInfo,
    TaskResult,
    TaskScores,
    TaskSpec,
    TaskTiming,
    model_label,
)
from vlm_eval.results._read import (
    MIGRATIONS,
    migrate,
    read_results,
    run_labels,
    sample_records,
)
from vlm_eval.results._schema import Invalid
from vlm_eval.results._tables import RunTables, load_runs, metrics_table

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Invalid",
    "RunResults",
    "RunTables",
    "SampleFailure",
    "SampleRecord",
    "TaskCost",
    "TaskDataInfo",
    "TaskResult",
    "TaskScores",
    "TaskSpec",
    "TaskTiming",
    "load_runs",
    "metrics_table",
    "migrate",
    "model_label",
    "read_results",
    "run_labels",
    "sample_records",
]
