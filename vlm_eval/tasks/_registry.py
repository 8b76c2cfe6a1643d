"""The task registry: built-in task files, plugin folders and installed packages."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import vlm_eval.builtin_tasks
from vlm_eval._arguments import (
    ArgumentsError,
    build_with_arguments,
    keyword_parameters,
    parse_task_spec,
)
from vlm_eval._registry import Registry, import_plugin_folder
from vlm_eval.tasks._task import Task

TASKS_PATH_ENV = "VLM_EVAL_TASKS_PATH"
"""Environment variable: extra task folders, separated like ``PATH``."""


def _register_declared(path: Path) -> None:
    """Register the task the YAML file at ``path`` declares (``vlm_eval.tasks._declared``,
    imported when first needed: it imports every family)."""
    from vlm_eval.tasks._declared import register_declared_task

    register_declared_task(path)


TASKS: Registry[type[Task]] = Registry(
    "task", entry_point_group="vlm_eval.tasks", read_declared=_register_declared
)
"""The task registry; an entry point in its group names a module (its tasks register when it is
imported) or a package (also: the ``*.yaml`` tasks of its folder)."""

TaskClass = TypeVar("TaskClass", bound=type[Task])


def register_task(cls: TaskClass) -> TaskClass:
    """Class decorator adding a ``Task`` subclass to the registry under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"@register_task expects a Task subclass, got {cls!r}")
    TASKS.add(getattr(cls, "name", ""), cls)
    return cls


def builtin_tasks_folder() -> Path:
    """The folder of the built-in task files (``tasks/`` in the repository)."""
    return Path(next(iter(vlm_eval.builtin_tasks.__path__)))


def load_tasks(include_paths: Sequence[Path] = ()) -> None:
    """Register the built-in tasks, those in ``$VLM_EVAL_TASKS_PATH`` and in ``include_paths``:
    the ``*.py`` plugins and the tasks declared in ``*.yaml`` files."""
    env_paths = [Path(p) for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p]
    for folder in [builtin_tasks_folder(), *env_paths, *include_paths]:
        import_plugin_folder(folder, _register_declared)


def resolve_task_names(spec: str) -> list[str]:
    """Names from a ``--tasks`` value: ``all`` or a comma-separated list, order kept."""
    if spec.strip() == "all":
        return TASKS.names()
    names = [name.strip() for name in spec.split(",") if name.strip()]
    for name in names:
        TASKS.get(name)
    return list(dict.fromkeys(names))


def get_task(name: str, args: dict[str, str] | None = None) -> Task:
    """A fresh instance of the task registered as ``name``, with its ``--task-args`` options.

    Raises:
        ArgumentsError: For an option the task does not take, or a value of the wrong type.
    """
    return build_with_arguments(TASKS.get(name), args or {}, f"task {name!r}", "--task-args")


def resolve_task_args(specs: Sequence[str], task_names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Per-task options from ``--task-args`` values, checked against the selected tasks.

    Each spec is ``[TASK:]key=value,...``. With a ``TASK:`` prefix the options go to that task;
    without, each option goes to every selected task that takes it (``vqa_mode=official`` sets
    all VQA tasks). Later specs override earlier ones.

    Raises:
        ArgumentsError: For a malformed spec, a task not selected, an option no selected task
            takes, or a value of the wrong type.
    """
    resolved: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, args = parse_task_spec(spec, task_names, "--task-args")
        if name is not None:
            resolved.setdefault(name, {}).update(args)
            continue
        for key, value in args.items():
            takers = [n for n in task_names if key in keyword_parameters(TASKS.get(n))]
            if not takers:
                raise ArgumentsError(
                    f"--task-args: no selected task takes {key!r} ({', '.join(task_names)})"
                )
            for name in takers:
                resolved.setdefault(name, {})[key] = value
    for name, args in resolved.items():
        get_task(name, args)
    return resolved
