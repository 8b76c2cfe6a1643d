"""The end-to-end oracle's helpers (tests/test_oracle.py): a run folder read back, the checks
every evaluation path must pass, and an OpenAI-compatible server answer that serves a checkpoint
through the ``hf`` adapter."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.openai_server import Answer, completion, decode_image_url
from vlm_eval.models import HuggingFaceAdapter, ModelInput
from vlm_eval.tasks import GenerationSettings, ImagePart, Message, Part

HEADLINE = {
    "vqav2": "accuracy",
    "okvqa": "accuracy",
    "textvqa": "accuracy",
    "coco_caption": "CIDEr",
}
"""Task -> the metric the oracle checks."""


class OracleMismatch(AssertionError):
    """A run that does not reproduce what the oracle expects; the message names the path, every
    task that diverged and the numbers."""


@dataclass(frozen=True, slots=True)
class OracleRun:
    """What the oracle compares of a run folder.

    Attributes:
        scores: Task -> its headline score (``HEADLINE``).
        predictions: Task -> sample id -> prediction.
    """

    scores: dict[str, float]
    predictions: dict[str, dict[str, str]]


def read_run(folder: Path) -> OracleRun:
    """The headline scores and predictions of the run in ``folder``."""
    results = json.loads((folder / "results.json").read_text())["tasks"]
    scores, predictions = {}, {}
    for task, result in results.items():
        scores[task] = result["scores"]["metrics"][HEADLINE[task]]
        with (folder / f"samples_{task}.jsonl").open() as lines:
            records = [json.loads(line) for line in lines]
        predictions[task] = {record["sample_id"]: record["prediction"] for record in records}
    return OracleRun(scores, predictions)


def _score_gaps(
    scores: Mapping[str, float],
    expected: Mapping[str, float],
    tolerance: float,
    against: str = "expected",
) -> list[str]:
    """A line per task of ``scores`` further than ``tolerance`` from ``expected``."""
    return [
        f"{task}: {HEADLINE[task]} {score:.2f}, {against} {expected[task]:.2f} "
        f"({score - expected[task]:+.2f}, tolerance {tolerance:.2f})"
        for task, score in scores.items()
        if abs(score - expected[task]) > tolerance
    ]


def _raise_for(path: str, problems: list[str]) -> None:
    if problems:
        raise OracleMismatch(f"{path} diverges:\n  " + "\n  ".join(problems))


def check_scores(
    path: str, scores: Mapping[str, float], expected: Mapping[str, float], tolerance: float
) -> None:
    """Check that every task of ``scores`` is within ``tolerance`` points of ``expected``.

    Raises:
        OracleMismatch: Naming ``path`` and each task out of tolerance, with the numbers.
    """
    _raise_for(path, _score_gaps(scores, expected, tolerance))


def check_reproduces(
    path: str, run: OracleRun, reference: OracleRun, *, tolerance: float | None = None
) -> None:
    """Check that ``run`` reproduces ``reference`` on each of its tasks: exactly (``tolerance``
    ``None``: the same prediction for every sample and the same scores), or with headline scores
    within ``tolerance`` points.

    Raises:
        OracleMismatch: Naming ``path`` and each task that diverged: the scores, and for an exact
            path how many predictions differ and the first of them.
    """
    scores = {task: reference.scores[task] for task in run.scores}
    problems = _score_gaps(run.scores, scores, tolerance or 0.0, "reference")
    if tolerance is None:
        problems += _prediction_gaps(run, reference)
    _raise_for(path, sorted(problems))  # a task's lines together


def _prediction_gaps(run: OracleRun, reference: OracleRun) -> list[str]:
    """A line per task of ``run`` whose predictions are not the reference's, sample for sample."""
    problems = []
    for task, predictions in run.predictions.items():
        expected = reference.predictions[task]
        samples = [*expected, *(sample for sample in predictions if sample not in expected)]
        differ = [sample for sample in samples if predictions.get(sample) != expected.get(sample)]
        if differ:
            first = differ[0]
            problems.append(
                f"{task}: {len(differ)} of {len(expected)} predictions differ, first: sample "
                f"{first}: {predictions.get(first)!r}, reference {expected.get(first)!r}"
            )
    return problems


def checkpoint_answer(adapter: HuggingFaceAdapter) -> Answer:
    """A chat-completions server's answer from ``adapter``'s checkpoint: each request's messages
    and base64 images decoded back into a ``ModelInput`` and generated alone, greedily, with the
    request's ``max_tokens`` and ``stop`` strings (one request at a time)."""
    lock = threading.Lock()

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        messages, images = [], []
        for message in body["messages"]:
            parts: list[Part] = []
            for part in message["content"]:
                if part["type"] == "image_url":
                    images.append(decode_image_url(part["image_url"]["url"]))
                    parts.append(ImagePart(f"request-image-{len(images)}"))
                else:
                    parts.append(part["text"])
            messages.append(Message(message["role"], tuple(parts)))
        settings = GenerationSettings(body["max_tokens"], stop=tuple(body.get("stop", ())))
        with lock:
            [generation] = adapter.generate([ModelInput(tuple(messages), images)], settings)
        usage = {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.generated_tokens,
        }
        return completion(generation.text, usage=usage)

    return answer
