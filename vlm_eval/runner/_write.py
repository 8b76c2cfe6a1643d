"""The write stage: a task's entry of ``results.json`` (``TaskResult``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vlm_eval.results import (
    SampleFailure,
    TaskCost,
    TaskDataInfo,
    TaskResult,
    TaskSpec,
    TaskTiming,
)
from vlm_eval.results import TaskScores as ResultScores
from vlm_eval.runner._batching import describe_batch_sizes
from vlm_eval.runner._ranks import Shard
from vlm_eval.runner._records import Answer
from vlm_eval.runner._score import Scored
from vlm_eval.tasks import Task, TaskData


def task_result(
    task: Task,
    data: TaskData,
    keys: Sequence[str],
    answers: Mapping[str, Answer],
    scored: Scored,
    shards: Sequence[Shard],
    files: tuple[str, str],
    reused: int,
    wall_seconds: float,
) -> TaskResult:
    """The results entry of a task whose requests had the cache ``keys``: ``answers`` by key,
    their scores (``scored``), what each rank did (``shards``), the records and timing
    ``files``, and how many answers were ``reused`` from earlier runs."""
    failures = {key: failure for shard in shards for key, failure in shard.failures.items()}
    ordered = [answers[key].generation for key in keys if key in answers]
    count = max(len(ordered), 1)
    return TaskResult(
        task=TaskSpec.from_json(task.describe()),
        data=TaskDataInfo.from_json(
            {
                **data.describe(),
                "samples": len(keys),
                "failed": len(failures),
                "scored_samples": scored.scored_samples,
            }
        ),
        scores=ResultScores(
            metrics=scored.scores.metrics,
            breakdowns=scored.scores.breakdowns,
            notes=scored.scores.notes,
        ),
        submission_file=scored.submission_file,
        failures=[SampleFailure.from_json(failures[key]) for key in keys if key in failures],
        samples_file=files[0],
        timing_file=files[1],
        cost=TaskCost(
            prompt_tokens_mean=sum(g.prompt_tokens for g in ordered) / count,
            visual_tokens_mean=sum(g.visual_tokens for g in ordered) / count,
            generated_tokens_mean=sum(g.generated_tokens for g in ordered) / count,
        ),
        timing=_timing(shards, len(keys), reused, wall_seconds),
    )


def _timing(shards: Sequence[Shard], samples: int, reused: int, wall: float) -> TaskTiming:
    """Speed: ``samples_per_second`` is the generated samples over the time the ranks spent
    generating them, the harness's work included (decoding, preparing, recording); the model's
    own rate and each one's seconds per sample come with it."""
    generated = sum(shard.generated for shard in shards)
    model = sum(shard.generation_seconds for shard in shards)
    execution = max(shard.execution_seconds for shard in shards)
    harness = wall * len(shards) - model  # process-seconds outside generate, every stage
    return TaskTiming(
        samples_per_second=generated / execution if generated and execution else None,
        extra={
            "wall_seconds": wall,
            "execution_seconds": execution,
            "generation_seconds": model,
            "model_samples_per_second": generated / model if model else None,
            "seconds_per_sample": {
                "model": model / generated if generated else None,
                "harness": harness / samples if samples else None,
            },
            "generated_samples": generated,
            "generated_samples_by_rank": [shard.generated for shard in shards],
            "reused_samples": reused,
            **describe_batch_sizes([shard.sizer for shard in shards]),
        },
    )
