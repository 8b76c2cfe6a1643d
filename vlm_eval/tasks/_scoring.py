"""A task's scores of its predictions: per sample, then over the set (runs, `vlm-eval score`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def score_predictions_file(task: Task, samples: Sequence[Sample], path: Path) -> dict[str, Any]:
    """Scores of the predictions file at ``path`` (read by ``task.read_predictions``) on
    ``samples``, as a run scores its predictions: each post-processed and scored, then
    aggregated.

    Returns:
        ``metrics``, ``breakdowns`` and ``notes`` (as ``TaskScores``), ``per_sample`` (sample id
        -> scores) and the number of ``samples``.

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
    result, scores = aggregate_scores(
        task, samples, [prediction for prediction, _ in judged], [score for _, score in judged]
    )
    return {
        "metrics": result.metrics,
        "breakdowns": result.breakdowns,
        "notes": result.notes,
        "per_sample": {sample.id: score for sample, score in zip(samples, scores, strict=True)},
        "samples": len(samples),
    }
