"""Reproducible few-shot demonstrations, drawn per sample so the choice never depends on order."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from vlm_eval.data import Sample


def _distinct_indices(rng: random.Random, size: int) -> Iterator[int]:
    """Distinct random indices in ``range(size)``, drawn lazily (pools can be huge)."""
    seen: set[int] = set()
    while len(seen) < size:
        index = rng.randrange(size)
        if index not in seen:
            seen.add(index)
            yield index


def choose_shots(
    sample: Sample, pool: Sequence[Sample], k: int, *, seed: int, task: str
) -> list[Sample]:
    """``k`` demonstrations for ``sample`` drawn from ``pool``.

    The draw is seeded by ``seed``, the task name and the sample id, so it does not depend on
    the order or sharding of the run. A demonstration is never the sample itself nor a question
    about the sample's image.

    Raises:
        ValueError: the pool has fewer than ``k`` usable demonstrations.
    """
    if k == 0:
        return []
    rng = random.Random(f"{seed}/{task}/{sample.id}")
    forbidden_image = sample.image.key
    chosen: list[Sample] = []
    for index in _distinct_indices(rng, len(pool)):
        candidate = pool[index]
        if candidate.id != sample.id and candidate.image.key != forbidden_image:
            chosen.append(candidate)
            if len(chosen) == k:
                return chosen
    raise ValueError(
        f"task {task}: the few-shot pool has fewer than {k} demonstrations usable for sample "
        f"{sample.id} ({len(pool)} in the pool)"
    )
