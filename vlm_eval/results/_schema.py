"""What vlm-eval reads from a run folder, checked once when it is read: every field of
``results.json`` that the report code uses and every field of a ``samples_<task>.jsonl`` record
behind per-sample scores. Past these checks the report code indexes the results unguarded.

Fields that some adapters or older versions of vlm-eval do not write are optional; the report
shows what is there. A field that is present must hold the right kind of value.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from pathlib import PurePath
from typing import Any

from vlm_eval._run_folder import task_entries

Check = Callable[[Any, str], None]
"""Raises ``Invalid`` unless the value (first argument) at the field (second) is well-formed."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 40


class Invalid(ValueError):
    """A field that does not hold what reports read; ``field`` is its dotted path in the file
    (``tasks.vqav2.scores.metrics.accuracy``, ``failures[0].error``), ``None`` for the whole."""

    def __init__(self, field: str | None, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def shown(value: object) -> str:
    """A short ``repr`` of a value from a file, for messages (controls escaped, long text cut)."""
    return _REPR.repr(value)


def _path(field: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{field}[{key}]"
    return f"{field}.{key}" if field else key


def _text(value: Any, field: str) -> None:
    if not isinstance(value, str):
        raise Invalid(field, f"not a string: {shown(value)}")


def number(value: Any, field: str) -> None:
    """A finite number (not a bool: JSON's ``true`` is no score)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Invalid(field, f"not a finite number: {shown(value)}")


def _positive(value: Any, field: str) -> None:
    number(value, field)
    if value <= 0:
        raise Invalid(field, f"not a positive number: {shown(value)}")


def _count(value: Any, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(field, f"not a count (a whole number, 0 or more): {shown(value)}")


def _scalar(value: Any, field: str) -> None:
    if not isinstance(value, str | int | float | bool):
        raise Invalid(field, f"not a string, number or boolean: {shown(value)}")


def _anything(value: Any, field: str) -> None:
    pass


def sample_id(value: Any, field: str) -> None:
    """A record's sample id: a string or an integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid(field, f"not a sample id (a string or an integer): {shown(value)}")


def _file_name(value: Any, field: str) -> None:
    """The name of a file in the run folder itself: nothing that could lead out of it."""
    _text(value, field)
    if value in ("", ".", "..") or "\0" in value or PurePath(value).name != value:
        raise Invalid(field, f"not the name of a file in the run folder: {shown(value)}")


def _nullable(check: Check) -> Check:
    def nullable(value: Any, field: str) -> None:
        if value is not None:
            check(value, field)

    return nullable


def _list_of(check: Check) -> Check:
    def list_of(value: Any, field: str) -> None:
        if not isinstance(value, list):
            raise Invalid(field, f"not a list: {shown(value)}")
        for index, item in enumerate(value):
            check(item, _path(field, index))

    return list_of


def _map_of(check: Check) -> Check:
    def map_of(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(field, f"not a JSON object: {shown(value)}")
        for key, item in value.items():
            check(item, _path(field, key))

    return map_of


def _object(required: Mapping[str, Check], optional: Mapping[str, Check] | None = None) -> Check:
    """A JSON object with the ``required`` keys, and maybe the ``optional`` ones."""

    def check_object(value: Any, field: str) -> None:
        if not isinstance(value, dict):
            raise Invalid(field or None, f"not a JSON object: {shown(value)}")
        for key, check in required.items():
            if key not in value:
                raise Invalid(_path(field, key), "missing")
            check(value[key], _path(field, key))
        for key, check in (optional or {}).items():
            if key in value:
                check(value[key], _path(field, key))

    return check_object


_TEXT_OR_NULL = _nullable(_text)

_TASK = _object(
    {
        "task": _object(
            {"main_metric": _text, "version": _scalar},
            {"sample_score_scale": _nullable(_positive), "scoring": _map_of(_anything)},
        ),
        "data": _object(
            {"samples": _count, "split": _TEXT_OR_NULL},
            {
                "failed": _count,
                "scored_samples": _count,
                "dir": _TEXT_OR_NULL,
                "source": _TEXT_OR_NULL,
                "location": _TEXT_OR_NULL,
                "revision": _TEXT_OR_NULL,
            },
        ),
        "scores": _object(
            {
                "metrics": _map_of(number),
                "breakdowns": _map_of(_map_of(number)),
                "notes": _map_of(_scalar),
            }
        ),
        "cost": _object(
            {
                "visual_tokens_mean": number,
                "prompt_tokens_mean": number,
                "generated_tokens_mean": number,
            }
        ),
        "timing": _object({"samples_per_second": _nullable(number)}),
    },
    {
        "failures": _list_of(_object({"sample_id": _scalar, "error": _text})),
        "samples_file": _file_name,
    },
)

_RESULTS = _object(
    {
        "tasks": _map_of(_TASK),
        "config": _object(
            {
                "tasks": _list_of(_text),
                "model": _text,
                "batch_size": _scalar,
                "num_fewshot": _count,
                "seed": _scalar,
                "limit": _nullable(_count),
            }
        ),
        # What the adapter describes: local checkpoints, served models and plugins differ.
        "model": _object(
            {},
            {
                **dict.fromkeys(
                    [
                        "adapter",
                        "pretrained",
                        "revision",
                        "commit",
                        "weights_sha256",
                        "architecture",
                        "family",
                        "model",
                        "server_model",
                        "base_url",
                        "image_format",
                    ],
                    _TEXT_OR_NULL,
                ),
                "parameters": _nullable(_count),
                "dtype": _nullable(_scalar),
                "device": _nullable(_scalar),
                "processor_options": _map_of(_anything),
            },
        ),
        "provenance": _object(
            {
                "versions": _map_of(_nullable(_scalar)),
                "git_revision": _TEXT_OR_NULL,
                "command": _list_of(_text),
                "hardware": _object(
                    {},
                    {
                        "platform": _TEXT_OR_NULL,
                        "cpu_count": _nullable(_count),
                        "cuda_devices": _list_of(_text),
                    },
                ),
            }
        ),
        "created_at": _text,
        "wall_seconds": number,
    },
    # A template sweep: task -> the template ids of its entries (``template_entry``), and
    # task -> the id of its protocol's default template (``default_entry``).
    {"templates": _map_of(_list_of(_text)), "default_templates": _map_of(_text)},
)


def check_results(results: Any) -> None:
    """Check the parsed ``results.json`` of a run.

    Raises:
        Invalid: Naming the first field that reports could not read.
    """
    if isinstance(results, dict) and "tasks" not in results:
        raise Invalid("tasks", "missing: not a vlm-eval results file")
    _RESULTS(results, "")
    for index, name in enumerate(results["config"]["tasks"]):
        for entry in task_entries(results, name):
            if entry not in results["tasks"]:
                raise Invalid(
                    f"config.tasks[{index}]", f"task {shown(entry)} has no entry in 'tasks'"
                )


_RECORD = _object(
    {"sample_id": sample_id},
    {
        "references": _nullable(_list_of(_text)),
        "scores": _map_of(_anything),
        "prompt": _list_of(
            _object(
                {},
                {
                    "role": _text,
                    "content": _list_of(_object({}, {"type": _text, "text": _text})),
                },
            )
        ),
    },
)


def check_record(record: Any) -> None:
    """Check a record of ``samples_<task>.jsonl`` as far as reports read it (sample id,
    references, score dict and prompt); its main-metric score is checked where it is read.

    Raises:
        Invalid: Naming the first field that reports could not read.
    """
    _RECORD(record, "")
