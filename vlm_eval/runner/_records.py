"""A prediction as the run keeps it in memory (``Answer``: compact) and as it is recorded (a
line of ``samples_<task>.jsonl``: everything about the sample, its prompt and its scores)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vlm_eval.models import Generation
from vlm_eval.results import SampleRecord as TypedRecord
from vlm_eval.runner._requests import Request
from vlm_eval.tasks import Task, judge_output, prompt_to_json

SampleRecord = dict[str, Any]
"""The JSON of one prediction with its prompt, cost and scores (``SampleRecord.written`` of
``vlm_eval.results``)."""

_TOKEN_COUNTS = ("prompt_tokens", "visual_tokens", "generated_tokens")

JUDGEMENT = "judgement"
"""The key of a record holding the call of the judge model that read its answer
(``vlm_eval.runner._judge``)."""


@dataclass(slots=True)
class Answer:
    """A generation with its post-processed prediction and per-sample scores under the current
    options: all the run keeps of a prediction until its task is scored; and, for an answer a
    judge model read (the judge stage), its call and verdict."""

    generation: Generation
    prediction: str
    scores: dict[str, float]
    judgement: dict[str, Any] | None = None


def judge(task: Task, request: Request, generation: Generation) -> Answer:
    """``generation`` post-processed and scored (``judge_output``)."""
    prediction, scores = judge_output(task, request.sample, generation.text)
    return Answer(generation, prediction, scores)


def sample_record(task: Task, request: Request, key: str, answer: Answer) -> SampleRecord:
    """The record of one prediction (``SampleRecord.written``): nothing in it varies between
    runs of the same command."""
    generation = answer.generation
    return TypedRecord.written(
        task=task.name,
        sample_id=request.sample.id,
        request_key=key,
        prompt=prompt_to_json(request.prompt),
        shots=[shot.id for shot in request.shots],
        raw_output=generation.text,
        prediction=answer.prediction,
        scores=answer.scores,
        references=list(request.sample.references),
        metadata=request.sample.metadata,
        prompt_tokens=generation.prompt_tokens,
        visual_tokens=generation.visual_tokens,
        generated_tokens=generation.generated_tokens,
        judgement=answer.judgement,
    )


def stored_generation(record: Any) -> tuple[str, Generation] | None:
    """The request key and generation of a record from an earlier run; ``None`` if malformed."""
    if not isinstance(record, dict) or not isinstance(record.get("request_key"), str):
        return None
    text, *counts = (record.get(name) for name in ("raw_output", *_TOKEN_COUNTS))
    if not isinstance(text, str) or not all(type(count) is int for count in counts):
        return None
    return record["request_key"], Generation(text, *counts)
