"""Reading run folders back for reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlm_eval.data import DataFormatError
from vlm_eval.runner import RESULTS_FILE


@dataclass(frozen=True, slots=True)
class Run:
    """A finished run: its label in reports and its results JSON."""

    label: str
    path: Path
    results: dict[str, Any]


def load_runs(paths: list[Path]) -> list[Run]:
    """Read ``results.json`` of each run folder (or the file itself); labels are folder names,
    made unique with their parent folder when two runs share a name."""
    loaded = []
    for path in paths:
        file = path / RESULTS_FILE if path.is_dir() else path
        if not file.is_file():
            raise DataFormatError(
                file, None, None, "no results file: is this a vlm-eval run folder?"
            )
        try:
            results = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise DataFormatError(file, None, None, f"not valid JSON: {error}") from error
        if not isinstance(results.get("tasks"), dict):
            raise DataFormatError(file, None, "tasks", "missing: not a vlm-eval results file")
        loaded.append((file.parent, results))
    names = [folder.name for folder, _ in loaded]
    return [
        Run(
            label=folder.name
            if names.count(folder.name) == 1
            else f"{folder.parent.name}/{folder.name}",
            path=folder,
            results=results,
        )
        for folder, results in loaded
    ]
