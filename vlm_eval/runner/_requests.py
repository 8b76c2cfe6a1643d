"""What a task asks the model: its samples (``--limit``, ``--sample-seed``), each with its
demonstrations and prompt (a ``Request``), and the cache key that says when a stored prediction
answers it."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlm_eval.data import DataFormatError, Sample
from vlm_eval.runner._config import RunConfig
from vlm_eval.runner._fewshot import ShotSelector
from vlm_eval.tasks import Prompt, Task, TaskData, prompt_to_json, resolve_task_data


@dataclass(frozen=True, slots=True)
class Request:
    """One sample of a task with the demonstrations and the prompt it is asked with."""

    sample: Sample
    shots: list[Sample]
    prompt: Prompt


def task_data(task: Task, config: RunConfig) -> TaskData:
    """Where ``task``'s samples (and demonstrations, if any are drawn) come from."""
    args = config.data_args.get(task.name, {})
    return resolve_task_data(task, config.data_dir, args, fewshot=_shot_count(task, config) > 0)


def _shot_count(task: Task, config: RunConfig) -> int:
    """Demonstrations drawn per sample: ``num_fewshot``, or at 0-shot the text-only ones that
    the task's protocol shows (OpenFlamingo's 2)."""
    return config.num_fewshot or task.zero_shot_text_shots


def _subset(samples: list[Sample], config: RunConfig) -> list[Sample]:
    """The first ``limit`` samples, or with ``sample_seed`` a seeded random ``limit`` of them
    (in their original order)."""
    if config.limit is None or config.sample_seed is None:
        return samples[: config.limit]
    count = min(config.limit, len(samples))  # a limit over the split's size takes it all
    chosen = set(random.Random(config.sample_seed).sample(range(len(samples)), count))
    return [sample for index, sample in enumerate(samples) if index in chosen]


def draw(
    task: Task, data: TaskData, config: RunConfig, selector: ShotSelector
) -> list[tuple[Sample, list[Sample]]]:
    """The samples of ``task`` to evaluate, each with its demonstrations.

    Raises:
        DataFormatError: If the data holds no samples.
    """
    samples = data.load(task, data.split)
    if not samples:
        where = data.source.location if data.split is None else f"split {data.split!r}"
        raise DataFormatError(data.source.location, None, None, f"{where} holds no samples")
    samples = _subset(samples, config)
    count = _shot_count(task, config)
    pool = data.load_pool(task) if count else []
    support = task.fewshot_support_size
    if support is not None and len(pool) > support:  # a fixed random support set, in data order
        chosen = set(random.Random(config.seed).sample(range(len(pool)), support))
        pool = [shot for index, shot in enumerate(pool) if index in chosen]
    shots = selector.select(task.name, samples, pool, count)
    return list(zip(samples, shots, strict=True))


def requests(
    task: Task, drawn: Sequence[tuple[Sample, list[Sample]]], config: RunConfig
) -> list[Request]:
    """``task``'s request of each drawn sample; at 0-shot, its demonstrations (if any) are shown
    as text only."""
    text_only = config.num_fewshot == 0
    return [
        Request(sample, shots, task.prompt(sample, shots, text_only=True))
        if text_only and shots
        else Request(sample, shots, task.prompt(sample, shots))
        for sample, shots in drawn
    ]


def request_keys(task: Task, requests: Sequence[Request], model: dict[str, Any]) -> list[str]:
    """Cache keys: a prediction is reused only for the same model (its ``describe()``: weights
    hash or hub commit, dtype, processor options, ...), task protocol (version, generation
    settings, prompt templates), sample and prompt (demonstrations and image keys included).

    The device is left out, so that a run resumes on other hardware, and so are scoring choices:
    a reused prediction is post-processed and scored again.
    """
    protocol = {
        k: v for k, v in task.describe().items() if k not in ("scoring", "sample_score_scale")
    }
    identity = json.dumps(
        [{k: v for k, v in model.items() if k != "device"}, protocol], sort_keys=True
    )
    # The SHA-256 of json.dumps([identity, sample id, prompt]), its common start hashed once.
    start = hashlib.sha256(f"[{json.dumps(identity)}, ".encode())
    keys = []
    for request in requests:
        key = start.copy()
        sample, prompt = json.dumps(request.sample.id), json.dumps(prompt_to_json(request.prompt))
        key.update(f"{sample}, {prompt}]".encode())
        keys.append(key.hexdigest()[:32])
    return keys
