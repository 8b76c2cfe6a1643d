"""The plan stage: which of a task's requests earlier runs answered, and which this rank
generates, in which batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vlm_eval.models import Generation
from vlm_eval.runner._batching import generation_order
from vlm_eval.runner._execute import Pending
from vlm_eval.runner._records import Answer, judge
from vlm_eval.runner._requests import Request
from vlm_eval.tasks import Task


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A task's requests by cache key (in data order), the answers reused from earlier runs
    (re-scored under the current options), and this rank's batches of the others."""

    requests: dict[str, Request]
    reused: dict[str, Answer]
    batches: list[list[Pending]]


def plan_task(
    task: Task,
    requests: Sequence[Request],
    keys: Sequence[str],
    stored: Mapping[str, Generation],
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
) -> TaskPlan:
    """Reuse the ``stored`` generations of ``keys``; put the other requests in generation order
    (``generation_order``) and cut them into batches of ``batch_size``, dealt to the ranks in
    turn: whole batches, so that each rank gets long and short ones."""
    by_key = dict(zip(keys, requests, strict=True))
    reused = {key: judge(task, by_key[key], stored[key]) for key in keys if key in stored}
    pending = [(by_key[key], key) for key in keys if key not in reused]
    pending = [pending[i] for i in generation_order([request.prompt for request, _ in pending])]
    batches = [pending[first : first + batch_size] for first in range(0, len(pending), batch_size)]
    return TaskPlan(by_key, reused, batches[rank::world_size])
