"""The score stage: a task's answers scored over the set, or, for a split without references,
written as the evaluation server's submission file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vlm_eval.runner._config import RunConfig
from vlm_eval.runner._records import Answer
from vlm_eval.runner._requests import Request
from vlm_eval.runner._store import write_summary
from vlm_eval.tasks import Task, TaskData, TaskScores, aggregate_scores


@dataclass(frozen=True, slots=True)
class Scored:
    """A task's scores; the request keys of the answers whose per-sample scores the whole set
    changed (``aggregate_scores``: CIDEr's, ...); the submission file written instead of scores."""

    scores: TaskScores
    scored_samples: int
    rescored: set[str] = field(default_factory=set)
    submission_file: str | None = None


def score_task(
    entry: str,
    task: Task,
    data: TaskData,
    requests: Mapping[str, Request],
    answers: Mapping[str, Answer],
    ordered: Sequence[str],
    config: RunConfig,
) -> Scored:
    """Score the ``answers`` of the keys ``ordered`` (in data order) whose samples have
    references, updating their per-sample scores; with none, write the submission file of the
    answers (``entry`` names it)."""
    scored = [key for key in ordered if requests[key].sample.references]
    if scored:
        result, merged = aggregate_scores(
            task,
            [requests[key].sample for key in scored],
            [answers[key].prediction for key in scored],
            [answers[key].scores for key in scored],
        )
        rescored = set()
        for key, scores in zip(scored, merged, strict=True):
            if scores != answers[key].scores:
                answers[key].scores = scores
                rescored.add(key)
        return Scored(result, len(scored), rescored)
    if ordered:
        samples = [requests[key].sample for key in ordered]
        content = task.submission_file(samples, [answers[key].prediction for key in ordered])
        return _write_submission(entry, task, data, content, len(ordered), config)
    note = f"all {len(requests)} samples failed (see failures)"
    return Scored(TaskScores(metrics={}, notes={"not scored": note}), 0)


def _write_submission(
    entry: str, task: Task, data: TaskData, content: bytes, count: int, config: RunConfig
) -> Scored:
    """Write the evaluation server's results file of a split without references."""
    split = data.split or "split"
    path = config.output_dir / f"submission_{entry}_{split}{task.submission_suffix}"
    write_summary(path, content, count)
    note = (
        f"split {split} has no answers: the {count} predictions are in {path.name}, in "
        "the format of the benchmark's evaluation server (EvalAI for VQAv2)"
    )
    if config.limit is not None or config.sample_seed is not None:
        note += "; it holds a subset of the split (--limit), which the server does not accept"
    return Scored(TaskScores(metrics={}, notes={"not scored": note}), 0, submission_file=path.name)
