"""Reproducible few-shot demonstrations, chosen per sample so the choice never depends on order:
drawn at random (``choose_shots``), or the most similar images (RICES, ``vlm_eval.runner._rices``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from vlm_eval._arguments import ArgumentsError, build_with_arguments
from vlm_eval.data import Sample

FEWSHOT_SELECTIONS = ("random", "rices")
_RICES = "--fewshot-selection rices"


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


class ShotSelector:
    """Chooses the demonstrations of a run (``--fewshot-selection``)."""

    def select(
        self, task: str, samples: Sequence[Sample], pool: Sequence[Sample], k: int
    ) -> list[list[Sample]]:
        """The ``k`` demonstrations of each of ``samples``, from ``pool``.

        Raises:
            ValueError: The pool has fewer than ``k`` usable demonstrations for a sample.
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """How the demonstrations were chosen, for the results."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what choosing needed (a model)."""


class RandomShots(ShotSelector):
    """Draws each sample's demonstrations at random with ``seed`` (``choose_shots``)."""

    def __init__(self, seed: int):
        self.seed = seed

    def select(
        self, task: str, samples: Sequence[Sample], pool: Sequence[Sample], k: int
    ) -> list[list[Sample]]:
        return [choose_shots(sample, pool, k, seed=self.seed, task=task) for sample in samples]

    def describe(self) -> dict[str, Any]:
        return {"selection": "random", "seed": self.seed}


def check_fewshot_selection(selection: str, args: Mapping[str, str], num_fewshot: int) -> None:
    """Refuse a selection method, or ``--fewshot-args``, that cannot be used.

    Raises:
        ArgumentsError: An unknown method, unknown or missing arguments, or RICES without
            demonstrations.
    """
    if selection not in FEWSHOT_SELECTIONS:
        raise ArgumentsError(
            f"--fewshot-selection must be one of {', '.join(FEWSHOT_SELECTIONS)}, got {selection!r}"
        )
    if selection == "random":
        if args:
            raise ArgumentsError(
                f"--fewshot-args {', '.join(args)}: random selection takes no arguments "
                "(they are for --fewshot-selection rices)"
            )
        return
    from vlm_eval.runner._rices import RicesOptions

    build_with_arguments(RicesOptions, dict(args), _RICES, "--fewshot-args")
    if num_fewshot < 1:
        raise ArgumentsError(
            "--fewshot-selection rices chooses demonstrations: give --num-fewshot K (K >= 1)"
        )


def shot_selector(
    selection: str, args: Mapping[str, str], *, seed: int, num_workers: int
) -> ShotSelector:
    """The selector of ``selection`` (checked by ``check_fewshot_selection``)."""
    if selection == "random":
        return RandomShots(seed)
    from vlm_eval.runner._rices import RicesOptions, RicesSelector

    options = build_with_arguments(RicesOptions, dict(args), _RICES, "--fewshot-args")
    return RicesSelector(options, num_workers)
