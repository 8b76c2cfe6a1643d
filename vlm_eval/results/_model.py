"""The typed results of a run: ``RunResults`` (``results.json``), its ``TaskResult`` per task
entry, and ``SampleRecord`` (a line of ``samples_<task>.jsonl``). The runner writes results
through these types and the readers build them from the checked JSON (``read_results``).

Each type names the fields vlm-eval computes with; what else the file holds (the adapter's model
description, timing details, a task's prompt choices) stays in ``extra`` or in a plain mapping
and is written back as it was read, so ``from_json`` then ``to_json`` gives the file's JSON.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from vlm_eval._run_folder import default_entry, task_entries
from vlm_eval.results._schema import check_record, check_results

SCHEMA_VERSION = 1
"""The ``schema_version`` this vlm-eval writes; older files are migrated as they are read."""

JsonScalar = str | int | float | bool


_OMIT_NONE = {"omit_none": True}
"""Field metadata: the key is left out of the JSON while the field is ``None``."""


class _JsonObject:
    """A dataclass read from and written as a JSON object: a field per key; nested types,
    lists and dicts of them are built and written in turn; other keys stay in ``extra`` (the
    keys of the object that its type does not name, kept as read)."""

    extra: dict[str, Any]

    @classmethod
    def _before(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        """The JSON as the fields expect it: older layouts of the same schema version."""
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Self:
        """The object of checked JSON (see ``_schema``): absent optional keys get defaults."""
        value = cls._before(value)
        hints = _field_types(cls)
        known = {name: _build(hint, value[name]) for name, hint in hints.items() if name in value}
        extra = {key: item for key, item in value.items() if key not in hints}
        return cls(**known, extra=extra)

    def to_json(self) -> dict[str, Any]:
        """The JSON object, as ``json.dumps`` takes it."""
        written = {
            f.name: _dump(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name != "extra"
            and not (f.metadata.get("omit_none") and getattr(self, f.name) is None)
        }
        return {**self.extra, **written}


@functools.cache
def _field_types(cls: type[_JsonObject]) -> dict[str, Any]:
    """The fields of ``cls`` but ``extra`` -> their types (worked out once per class: reading a
    records file builds a ``SampleRecord`` per line)."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return {f.name: hints[f.name] for f in fields if f.name != "extra"}


@functools.cache
def _holds_objects(hint: Any) -> bool:
    """Whether a value of type ``hint`` holds a ``_JsonObject`` to build (else it is taken as
    it is)."""
    if isinstance(hint, type):
        return issubclass(hint, _JsonObject)
    return any(_holds_objects(arg) for arg in typing.get_args(hint))


def _build(hint: Any, value: Any) -> Any:
    """``value`` built as ``hint`` says: a ``_JsonObject`` from its JSON, recursively through
    ``list[...]``, ``dict[str, ...]`` and ``... | None``; anything else as it is."""
    if not _holds_objects(hint):
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if isinstance(hint, type) and issubclass(hint, _JsonObject):
        return hint.from_json(value)
    if value is None:
        return None
    if origin in (types.UnionType, typing.Union):
        kinds = [arg for arg in args if arg is not type(None)]
        return _build(kinds[0], value) if len(kinds) == 1 else value  # str | int: as it is
    if origin is list:
        return [_build(args[0], item) for item in value]
    if origin is dict:
        return {key: _build(args[1], item) for key, item in value.items()}
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, _JsonObject):
        return value.to_json()
    if isinstance(value, list):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    return value


@dataclass(frozen=True, kw_only=True)
class TaskSpec(_JsonObject):
    """What was asked (``Task.describe()``): the task's version and main metric, and the scale of
    its per-sample scores; the prompt choices stay in ``extra``."""

    main_metric: str
    version: JsonScalar
    sample_score_scale: float | None = None
    """A sample's main-metric score times this is on the main metric's scale; ``None`` where
    the main metric is no mean of sample scores."""
    scoring: dict[str, Any] = field(default_factory=dict)
    """Choices that only change scoring (metric modes, stemming)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def protocol_name(self) -> str | None:
        """The name of the prompting protocol (``None`` before protocols were recorded)."""
        protocol = self.extra.get("protocol")
        return protocol.get("name") if isinstance(protocol, dict) else None


@dataclass(frozen=True, kw_only=True)
class TaskDataInfo(_JsonObject):
    """Where a task's samples came from, and how many were asked, failed and scored."""

    samples: int
    split: str | None
    failed: int = 0
    scored_samples: int | None = field(default=None, metadata=_OMIT_NONE)
    source: str | None = None
    location: str | None = None
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _before(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        if "dir" in value and "location" not in value:  # written before data sources
            return {"location": value["dir"], **{k: v for k, v in value.items() if k != "dir"}}
        return value


@dataclass(frozen=True, kw_only=True)
class TaskScores(_JsonObject):
    """The aggregate scores: metric -> value, breakdown -> group -> main metric, notes."""

    metrics: dict[str, float]
    breakdowns: dict[str, dict[str, float]]
    notes: dict[str, JsonScalar]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TaskCost(_JsonObject):
    """Mean tokens per sample."""

    visual_tokens_mean: float
    prompt_tokens_mean: float
    generated_tokens_mean: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TaskTiming(_JsonObject):
    """Generation speed; wall and generation seconds, batch sizes and the like in ``extra``."""

    samples_per_second: float | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SampleFailure(_JsonObject):
    """A sample the model could not answer, and why."""

    sample_id: JsonScalar
    error: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TaskResult(_JsonObject):
    """One task entry of a run (a task, or one template of a sweep): what was asked, on what
    data, the scores, cost and speed, failures, and the files beside ``results.json``."""

    task: TaskSpec
    data: TaskDataInfo
    scores: TaskScores
    cost: TaskCost
    timing: TaskTiming
    samples_file: str
    """The name of its ``samples_<entry>.jsonl`` in the run folder."""
    failures: list[SampleFailure] = field(default_factory=list)
    submission_file: str | None = None
    timing_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def main_score(self) -> float | None:
        """The main metric's value; ``None`` where nothing was scored."""
        return self.scores.metrics.get(self.task.main_metric)


@dataclass(frozen=True, kw_only=True)
class RunResults(_JsonObject):
    """A run's ``results.json``: when and how it ran (``config``: the runner's options;
    ``model``: the adapter's description; ``provenance``: versions, command, hardware) and a
    ``TaskResult`` per task entry."""

    created_at: str
    wall_seconds: float
    config: dict[str, Any]
    model: dict[str, Any]
    provenance: dict[str, Any]
    tasks: dict[str, TaskResult]
    schema_version: int = SCHEMA_VERSION
    fewshot: Any = None
    """How demonstrations were chosen (``ShotSelector.describe()``)."""
    templates: dict[str, list[str]] | None = field(default=None, metadata=_OMIT_NONE)
    """A template sweep: task -> the template ids of its entries."""
    default_templates: dict[str, str] | None = field(default=None, metadata=_OMIT_NONE)
    """A template sweep: task -> its protocol's default template."""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _before(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        check_results(value)
        tasks = {  # samples_file: recorded since the entries' files were named by the entry
            name: {"samples_file": f"samples_{name}.jsonl", **entry}
            for name, entry in value["tasks"].items()
        }
        return {**value, "tasks": tasks}

    @property
    def model_label(self) -> str:
        """What the run evaluated, as reports name it (see ``model_label``)."""
        return model_label(self.model)

    def entries(self, task: str) -> list[str]:
        """The keys of ``task``'s entries in ``tasks`` (one per template of a sweep)."""
        return task_entries({"templates": self.templates}, task)

    def default_entry(self, task: str) -> str | None:
        """The key of the entry that stands for ``task`` where a run gets one score per task:
        the task's own, or a sweep's entry of its protocol's default template (``None`` where
        the sweep left that template out)."""
        swept = {"templates": self.templates, "default_templates": self.default_templates}
        return default_entry(swept, task)


def model_label(model: Mapping[str, Any]) -> str:
    """What a run's ``model`` description names: the checkpoint, or a served model's name; "-"
    if unrecorded; ``(blind)`` after it for a model given blank images (``blind=true``)."""
    name = model.get("pretrained") or model.get("model") or "-"
    return f"{name} (blind)" if model.get("blind") else name


@dataclass(frozen=True, kw_only=True)
class SampleRecord(_JsonObject):
    """A line of ``samples_<task>.jsonl`` as far as vlm-eval reads it back: the sample, its
    reference answers (``None`` or empty: not scored) and per-sample scores; the prompt,
    prediction and token counts stay in ``extra``."""

    sample_id: str | int
    references: list[str] | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _before(cls, value: Mapping[str, Any]) -> Mapping[str, Any]:
        check_record(value)
        return value

    @staticmethod
    def written(
        *,
        task: str,
        sample_id: str,
        request_key: str,
        prompt: list[dict[str, Any]],
        shots: list[str],
        raw_output: str,
        prediction: str,
        scores: dict[str, float],
        references: list[str],
        metadata: dict[str, str],
        prompt_tokens: int,
        visual_tokens: int,
        generated_tokens: int,
        judgement: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON of a record as the runner writes it: every key a line holds (built as a
        plain dict: a run writes hundreds of thousands); ``judgement``, the call of a judge
        model that read the answer (``vlm_eval.runner._judge``), only where there is one."""
        record = {
            "task": task,
            "sample_id": sample_id,
            "request_key": request_key,
            "prompt": prompt,
            "shots": shots,
            "raw_output": raw_output,
            "prediction": prediction,
            "scores": scores,
            "references": references,
            "metadata": metadata,
            "prompt_tokens": prompt_tokens,
            "visual_tokens": visual_tokens,
            "generated_tokens": generated_tokens,
        }
        if judgement is not None:
            record["judgement"] = judgement
        return record
