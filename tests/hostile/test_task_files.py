"""Every task's official JSON files, bent one value at a time: a value of another type, an empty
or odd string, a missing key. Reading the split, building each sample's prompt and scoring it
must either work or stop with a ``DataFormatError`` that names the file (or the file it
disagrees with): never a crash
(``TypeError``, ``KeyError``, ``AttributeError`` ...) that names nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import vlm_eval.demo
from tests.conftest import isolate_registries
from vlm_eval.data import DataFormatError
from vlm_eval.tasks import TASKS, Task, get_task, load_tasks

MINI_DATA = Path(vlm_eval.demo.__file__).parent / "data"

REPLACEMENTS: tuple[Any, ...] = (None, 7, -1.5, True, "", " ", "\u202e\u0000", [], {"x": 1})
"""What a value is bent into, one at a time."""

_MISSING = object()
"""A replacement that deletes the key."""


def _task_files() -> list[tuple[str, Path]]:
    """(task, JSON file of its official split) for every task with official JSON files."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_registries(monkeypatch)
        load_tasks()
        found = []
        for name in TASKS.names():
            folder = get_task(name).data_path(MINI_DATA)
            for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
                found.append((name, path.relative_to(folder)))
    return found


def _records(value: Any) -> list[Any] | None:
    """The keys of ``value``'s records if it is a collection of them (a list of dicts: its
    first index; a dict of dicts: its first key), else ``None``."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [0]
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return [next(iter(value))]
    return None


def _paths(document: Any) -> Iterator[list[Any]]:
    """Key paths to bend: the first record of a collection and each of its fields; for any
    other mapping, each top-level value and the first record (and fields) of each collection
    among them."""
    collection = _records(document)
    if collection is not None:
        (first,) = collection
        yield [first]
        yield from ([first, field] for field in document[first])
        return
    for key, value in document.items():
        yield [key]
        inner = _records(value)
        if inner is not None:
            (first,) = inner
            yield from ([key, first, field] for field in value[first])


def _bent(document: Any, path: list[Any], replacement: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if replacement is _MISSING:
        del target[path[-1]]
    else:
        target[path[-1]] = replacement
    return copy


def _exercise(task: Task, folder: Path) -> None:
    """Read every split the task has a file for, build each sample's prompt and score it."""
    for split in dict.fromkeys((task.eval_split, task.fewshot_split)):
        for sample in task.expand(task.load(folder, split)):
            task.prompt(sample, [])
            if sample.references:
                task.score(sample, task.postprocess("red"))


@pytest.mark.parametrize(("task_name", "relative"), _task_files(), ids=str)
def test_bent_values_are_refused_naming_the_file_or_read(
    task_name: str, relative: Path, tmp_path: Path
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_registries(monkeypatch)
        load_tasks()
        task = get_task(task_name)
    source = task.data_path(MINI_DATA)
    folder = tmp_path / "data"
    shutil.copytree(source, folder)
    target = folder / relative
    original = json.loads(target.read_text(encoding="utf-8"))
    crashes = []
    for path in _paths(original):
        for replacement in (*REPLACEMENTS, _MISSING):
            target.write_text(json.dumps(_bent(original, path, replacement)), encoding="utf-8")
            try:
                _exercise(task, folder)
            except DataFormatError as error:
                if str(folder) not in str(error):  # the file, or the one it must match
                    crashes.append(f"{path} = {replacement!r}: names no file: {error}")
            except Exception as error:  # what this test exists to find
                crashes.append(f"{path} = {replacement!r}: {type(error).__name__}: {error}")
    assert not crashes, f"{task_name} {relative}:\n" + "\n".join(crashes[:15])
