"""Whether a run folder already holds what a command would compute: the same command run again
on a finished run returns its results at once instead of reading the data, re-scoring every
prediction and rewriting every file.

A run records a digest of what decides its results (``inputs_digest``): the command, each task
entry's description (options, protocol, scoring), its data's description and the size and time
of every file of a local data source, and the source of the code that asks, records and scores
(the task's module; ``vlm_eval``'s tasks, metrics, data and runner packages); and, per task
entry, the SHA-256 of its records file (``samples_sha256``). The results are up to date when
the digest and the model's description match, no sample failed (a failure is retried) nor a
judge's call (asked again), and every records file is as written (and the timing and
submission files are there), with no part file left by a crashed data-parallel run.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import vlm_eval
from vlm_eval._run_folder import RESULTS_FILE
from vlm_eval.data import DataFormatError
from vlm_eval.results import RunResults, read_results
from vlm_eval.tasks import Task, TaskData

INPUTS_DIGEST = "inputs_digest"
"""The key of ``results.json`` holding the digest of what decided the results."""
SAMPLES_DIGEST = "samples_sha256"
"""The key of a task entry holding the SHA-256 of its records file."""

_CODE = [
    Path(vlm_eval.__file__).parent / package for package in ("tasks", "metrics", "data", "runner")
]
"""The packages whose source decides what is asked, and how it is recorded and scored."""


def inputs_digest(
    config: Mapping[str, Any], tasks: Mapping[str, tuple[Task, TaskData]]
) -> str | None:
    """The digest of the recorded ``config`` and the task entries (name -> task and data);
    ``None`` if a task's data is not a local folder or file (a hub dataset), which is read
    again."""
    data = {}
    for name, (task, task_data) in tasks.items():
        files = _local_files(task_data)
        if files is None:
            return None
        data[name] = [task.describe(), task_data.describe(), files, _source_of(task)]
    code = [file_digest(path) for package in _CODE for path in sorted(package.rglob("*.py"))]
    text = json.dumps([config, data, code], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of the file at ``path``."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def finished_results(output_dir: Path, digest: str | None) -> RunResults | None:
    """The results in ``output_dir`` if they are those of a run with inputs ``digest`` that
    nothing changed since (see the module's description), except perhaps the model."""
    path = output_dir / RESULTS_FILE
    if digest is None or not path.is_file():
        return None
    try:
        results = read_results(path)
    except (DataFormatError, OSError, ValueError):
        return None  # the run reads it again, and says what is wrong with it
    if results.extra.get(INPUTS_DIGEST) != digest or any(output_dir.glob("*.rank*.jsonl")):
        return None
    for entry in results.tasks.values():
        records = output_dir / entry.samples_file
        written = [entry.timing_file, entry.submission_file]
        if entry.data.failed or not all((output_dir / f).is_file() for f in written if f):
            return None
        judge = entry.extra.get("judge")
        if isinstance(judge, dict) and judge.get("failed"):  # the judge is asked again
            return None
        if not records.is_file() or entry.extra.get(SAMPLES_DIGEST) != file_digest(records):
            return None
    return results


def _local_files(data: TaskData) -> list[tuple[str, int, int]] | None:
    """The fingerprint of the files of ``data``'s local source; ``None`` for a hub dataset, or
    where a file or folder cannot be looked at (the run reads the data, and says what fails)."""
    if data.source.kind == "hub":
        return None
    location = Path(data.source.location)
    try:
        if location.is_file():
            status = location.stat()
            return [(location.name, status.st_size, status.st_mtime_ns)]
        return sorted(_files_under(location, "")) if location.is_dir() else None
    except OSError:
        return None


def _files_under(folder: Path | str, prefix: str) -> Iterator[tuple[str, int, int]]:
    """Each file under ``folder``: its path after ``prefix``, size and modification time. A
    linked folder is not entered (it may link back): its own time says whether files were added
    or removed there."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _files_under(entry.path, f"{prefix}{entry.name}/")
            elif entry.is_dir() or entry.is_file():
                status = entry.stat()
                yield f"{prefix}{entry.name}", status.st_size, status.st_mtime_ns


def _source_of(task: Task) -> str | None:
    """The SHA-256 of the file defining the task's class (a plugin's included)."""
    try:
        source = inspect.getsourcefile(type(task))
    except TypeError:
        return None
    return None if source is None or not os.path.isfile(source) else file_digest(Path(source))
