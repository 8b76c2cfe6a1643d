"""Where each task of a run reads its data: ``--data-args`` and ``--data-dir`` resolved to a source
and splits, recorded in the results."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vlm_eval._arguments import ArgumentsError, build_with_arguments, parse_task_spec
from vlm_eval.data import (
    DataFormatError,
    DataSource,
    Sample,
    SourceKind,
    detect_source_kind,
    holds_splits,
    load_split,
    read_id_list,
    samples_from_rows,
)
from vlm_eval.tasks._task import Task


@dataclass(frozen=True, kw_only=True)
class DataArgs:
    """The ``--data-args`` keys of one task; unset keys take the defaults of
    ``resolve_task_data``.

    Attributes:
        source: ``official``, ``hub``, ``disk`` or ``parquet``.
        path: The folder, parquet file or glob, or hub dataset id.
        revision: Branch, tag or commit of a hub dataset.
        cache_dir: The ``datasets`` cache for a hub or parquet source.
        split: The evaluated split, named as the source names it.
        fewshot_split: The split few-shot demonstrations are drawn from.
        pool: A file listing the sample ids of the few-shot split that demonstrations may be
            drawn from (a JSON list, or one id per line), e.g. a curated or retrieved pool.
    """

    source: SourceKind | None = None
    path: str | None = None
    revision: str | None = None
    cache_dir: str | None = None
    split: str | None = None
    fewshot_split: str | None = None
    pool: str | None = None


def _parse(task_name: str, args: Mapping[str, str]) -> DataArgs:
    owner = f"--data-args of task {task_name!r}"
    return build_with_arguments(DataArgs, dict(args), owner, "--data-args")


def resolve_data_args(specs: Sequence[str], task_names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per-task data arguments from ``--data-args`` values, checked against the selected tasks.

    Each spec is ``[TASK:]key=value,...``: with a ``TASK:`` prefix the keys go to that task,
    without to every selected task. Later specs override earlier ones.

    Raises:
        ArgumentsError: For a malformed spec, a task not selected, an unknown key or an unknown
            source kind.
    """
    resolved: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, args = parse_task_spec(spec, task_names, "--data-args")
        for target in task_names if name is None else [name]:
            resolved.setdefault(target, {}).update(args)
    for name, args in resolved.items():
        _parse(name, args)
    return resolved


@dataclass(frozen=True, slots=True)
class TaskData:
    """Where a task's samples are read from in a run.

    Attributes:
        source: The source.
        split: The evaluated split, as the source names it; ``None`` for a source that is a
            single split (a saved ``Dataset``, parquet files named by a file or glob).
        fewshot_split: The split demonstrations are drawn from; ``None`` without few-shot.
        pool: The file restricting the demonstrations to the ids it lists, if any.
    """

    source: DataSource
    split: str | None
    fewshot_split: str | None
    pool: Path | None = None

    def load(self, task: Task, split: str | None) -> list[Sample]:
        """The validated samples of ``split`` of the source, for ``task`` (``task.expand``ed).

        Raises:
            DataFormatError: For data that cannot be read or is malformed.
        """
        if self.source.kind == "official":
            assert split is not None, "official sources always name their split"
            # Absolute, so that image keys (and so cached predictions) do not depend on how
            # the folder was spelled (``data`` or ``/abs/data``).
            return task.expand(task.load(Path(os.path.abspath(self.source.location)), split))
        return task.expand(
            samples_from_rows(
                load_split(self.source, split),
                self.source,
                split,
                id_field=task.row_id_field,
                image_column=task.image_column,
                to_sample=task.sample_from_row,
                more_image_columns=task.more_image_columns,
            )
        )

    def load_pool(self, task: Task) -> list[Sample]:
        """The few-shot demonstrations: the few-shot split, restricted to the ``pool`` file.

        Raises:
            DataFormatError: For unreadable data, or a pool file that is malformed or lists an
                id the split does not have.
        """
        samples = self.load(task, self.fewshot_split)
        if self.pool is None:
            return samples
        wanted = read_id_list(self.pool)
        known = {sample.id for sample in samples}
        unknown = [sample_id for sample_id in wanted if sample_id not in known]
        if unknown:
            problem = f"{len(unknown)} id(s) are not in split {self.fewshot_split}"
            raise DataFormatError(self.pool, unknown[0], None, problem)
        chosen = set(wanted)
        return [sample for sample in samples if sample.id in chosen]

    def describe(self) -> dict[str, str | None]:
        """The source and splits, for the results (the pool file with its SHA-256)."""
        pool = None
        if self.pool is not None:
            pool = f"{self.pool} (sha256 {hashlib.sha256(self.pool.read_bytes()).hexdigest()})"
        return {
            "source": self.source.kind,
            "location": self.source.location,
            "revision": self.source.revision,
            **({"config": self.source.config} if self.source.config else {}),
            "split": self.split,
            "fewshot_split": self.fewshot_split,
            "pool": pool,
        }


def resolve_task_data(
    task: Task, data_dir: Path | None, args: Mapping[str, str], *, fewshot: bool
) -> TaskData:
    """Where ``task`` reads its data, from its ``--data-args`` and ``--data-dir``.

    The source, unless ``source`` names it: an existing ``path``, else the task's folder in
    ``data_dir`` if it exists, is read as what it holds (a ``save_to_disk`` folder: ``disk``;
    ``*.parquet`` files: ``parquet``; anything else: ``official``); a ``*.parquet`` path is
    ``parquet`` and any other path a hub dataset id; with neither, the task's ``hub_dataset`` (the
    configuration ``hub_config`` of it).

    Splits are named as the source names them. Official files default to the task's
    ``eval_split`` and ``fewshot_split``, ``datasets`` sources to its ``hub_eval_split`` and
    ``hub_fewshot_split``; a single-split source is the evaluated split.

    Raises:
        ArgumentsError: For arguments that do not fit the task or its source.
    """
    options = _parse(task.name, args)

    def fail(problem: str) -> ArgumentsError:
        return ArgumentsError(f"--data-args of task {task.name!r}: {problem}")

    kind, location = options.source, options.path
    folder = None if data_dir is None else task.data_path(data_dir)
    # Without a source, a task folder missing from data_dir means the hub.
    if location is None and kind != "hub" and folder is not None and (kind or folder.is_dir()):
        location = str(folder)
    if kind is None:
        kind = "hub" if location is None else detect_source_kind(location)
    if kind == "hub":
        location = location or task.hub_dataset
    if kind != "official" and not task.reads_rows:
        raise fail(
            f"the task reads only official files (no sample_from_row), not source={kind}: "
            "give their folder with --data-dir or path="
        )
    if location is None:
        raise fail(f"source={kind} needs path= or --data-dir")
    if options.revision is not None and kind != "hub":
        raise fail(f"revision applies to source=hub only, not {kind}")
    if options.cache_dir is not None and kind not in ("hub", "parquet"):
        raise fail(f"cache_dir applies to source=hub and parquet only, not {kind}")

    config = task.hub_config if kind == "hub" and location == task.hub_dataset else None
    source = DataSource(kind, location, options.revision, options.cache_dir, config)
    if kind == "official":
        split = options.split or task.eval_split
        shots = options.fewshot_split or task.fewshot_split
    elif holds_splits(source):
        split = options.split or task.hub_eval_split
        shots = options.fewshot_split or task.hub_fewshot_split
        if split is None:
            raise fail(f"no default split to evaluate in {location}: give split=")
        if fewshot and shots is None:
            raise fail(f"no default few-shot split in {location}: give fewshot_split=")
    else:
        if options.split or options.fewshot_split:
            raise fail(f"{location} is a single split: split= and fewshot_split= do not apply")
        if fewshot:
            raise fail(f"{location} is a single split: few-shot needs a source with splits")
        split = shots = None
    if options.pool is not None and not fewshot:
        raise fail("pool= lists few-shot demonstrations: it needs --num-fewshot")
    pool = None if options.pool is None else Path(options.pool)
    return TaskData(source, split, shots if fewshot else None, pool)
