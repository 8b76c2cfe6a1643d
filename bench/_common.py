"""What every benchmark records: the machine and software it ran on, its summary rows (printed
by ``bench.run_all``) and its JSON file in ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """When and where a benchmark ran: date, CPU, cores, Python, torch and transformers."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
    }


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary table: a measure, the baseline's and vlm-eval's figures.

    Attributes:
        measure: What is compared, e.g. ``"harness vs raw PIL decoding, 2 processes"``.
        baseline: The baseline's figure with its unit, e.g. ``"1,520 img/s"``.
        vlm_eval: vlm-eval's figure, in the same unit.
        ratio: vlm-eval relative to the baseline (higher is better).
        target: The ratio to reach (``None``: none).
        passed: Whether the target (and any correctness check) is met.
    """

    measure: str
    baseline: str
    vlm_eval: str
    ratio: float
    target: float | None
    passed: bool


def write_result(path: Path, result: dict[str, Any], summary: list[SummaryRow]) -> None:
    """Write ``result`` with its ``summary`` rows as indented JSON to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**result, "summary": [asdict(row) for row in summary]}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class Timing:
    """The runs of one candidate: its last result, the fastest time and every time (s)."""

    result: Any
    seconds: float
    runs: list[float]


def interleaved(repeats: int, candidates: Mapping[str, Callable[[], Any]]) -> dict[str, Timing]:
    """Time each candidate ``repeats`` times, in turn (A, B, A, B, ...), keeping the fastest.

    Taking turns spreads slow spells of a shared machine over every candidate, and the fastest
    run of each is the one least disturbed by other work.
    """
    runs: dict[str, list[float]] = {name: [] for name in candidates}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, function in candidates.items():
            started = time.perf_counter()
            results[name] = function()
            runs[name].append(time.perf_counter() - started)
    return {name: Timing(results[name], min(runs[name]), runs[name]) for name in candidates}
