"""A task's scores of its predictions: per sample, then over the set (runs, `vlm-eval score`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vlm_eval.data import Sample
from vlm_eval.metrics import match_predictions
from vlm_eval.tasks._task import Task, TaskScores


def judge_output(task: Task, sample: Sample, output: str) -> tuple[str, dict[str, float]]:
    """The prediction in ``output`` (``task.postprocess``) and its per-sample scores (none for
    a sample without references)."""
    prediction = task.postprocess(output)
    return prediction, task.score(sample, prediction) if sample.references else {}


def aggregate_scores(
    task: Task,
    samples: Sequence[Sample],
    predictions: Sequence[str],
    scores: Sequence[dict[str, float]],
) -> tuple[TaskScores, list[dict[str, float]]]:
    """``task.aggregate``'s scores, and each sample's scores with those only the whole set
    gives (``TaskScores.sample_scores``) added."""
    result = task.aggregate(samples, predictions, scores)
    if result.sample_scores is None:
        return result, [dict(score) for score in scores]
    return result, [
        {**score, **extra} for score, extra in zip(scores, result.sample_scores, strict=True)
    ]


JudgeAnswers = Callable[
    [Sequence[Sample], Sequence[str], Sequence[dict[str, float]]],
    tuple[list[dict[str, float]], dict[str, dict[str, Any]], dict[str, Any]],
]
"""Asks a judged task's judge about the answers its rules cannot read: from the samples, their
predictions and scores, the scores after judging, each judged sample's judge call (by id) and
the judge's report (``vlm_eval.runner._judge.judge_predictions``)."""


def score_predictions_file(
    task: Task, samples: Sequence[Sample], path: Path, *, judge: JudgeAnswers | None = None
) -> dict[str, Any]:
    """Scores of the predictions file at ``path`` (read by ``task.read_predictions``) on
    ``samples``, as a run scores its predictions: each post-processed and scored, perhaps
    judged (``judge``: a judged task with a judge model), then aggregated.

    Returns:
        ``metrics``, ``breakdowns`` and ``notes`` (as ``TaskScores``), ``per_sample`` (sample id
        -> scores) and the number of ``samples``; with ``judge``, ``judgements`` (sample id ->
        the judge's call) and ``judge`` (its report).

    Raises:
        DataFormatError: For a malformed file, a sample it does not predict or an id that is not
            a sample's.
        ValueError: For samples without references (nothing to score them against).
    """
    unscored = [sample.id for sample in samples if not sample.references]
    if unscored:
        raise ValueError(
            f"{len(unscored)} of the {len(samples)} samples of task {task.name!r} have no "
            f"references to score against (a test split?), e.g. {unscored[0]}"
        )
    predictions: Mapping[str, str] = task.read_predictions(path)
    match_predictions(samples, predictions, path, task.prediction_fields[0])
    judged = [judge_output(task, sample, predictions[sample.id]) for sample in samples]
    read = [prediction for prediction, _ in judged]
    scores = [score for _, score in judged]
    judging: dict[str, Any] = {}
    if judge is not None:
        scores, judgements, report = judge(samples, read, scores)
        judging = {"judgements": judgements, "judge": report}
    result, scores = aggregate_scores(task, samples, read, scores)
    return {
        "metrics": result.metrics,
        "breakdowns": result.breakdowns,
        "notes": result.notes,
        "per_sample": {sample.id: score for sample, score in zip(samples, scores, strict=True)},
        "samples": len(samples),
        **judging,
    }
