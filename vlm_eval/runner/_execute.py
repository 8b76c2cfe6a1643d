"""The execute stage: a rank's batches through the model. Images are decoded in worker processes
(``decode_batches``), the adapter's ``prepare`` runs a batch ahead (or in the workers), and
generation backs off on out-of-memory errors (``generate_with_backoff``); a sample whose image
cannot be read or that the model refuses (``InputError``) becomes a failure, not an error."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from vlm_eval.data import ImageError
from vlm_eval.models import Generation, InputError, ModelAdapter, ModelInput
from vlm_eval.runner._batching import BatchSizer, generate_with_backoff, prepare_ahead
from vlm_eval.runner._images import DecodedBatch, RequestsDecoded, decode_batches
from vlm_eval.runner._requests import Request
from vlm_eval.tasks import GenerationSettings, prompt_images

Pending = tuple[Request, str]
"""A request to generate, with its cache key."""

_Ready = tuple[Request, str, ModelInput]


@dataclass(frozen=True, slots=True)
class Generated:
    """What one generate call answered (``seconds`` long), and how many samples of the batch it
    belongs to are done with it (the batch's size after its last call, else 0)."""

    answered: list[tuple[Request, str, Generation]]
    seconds: float
    done: int = 0


@dataclass
class Execution:
    """How to run batches through ``adapter``: ``failures`` collects the samples that could not
    be generated (request key -> sample id and error)."""

    adapter: ModelAdapter
    settings: GenerationSettings
    sizer: BatchSizer
    num_workers: int
    prepare_in_workers: bool
    failures: dict[str, dict[str, str]] = field(default_factory=dict)

    def run(self, batches: Sequence[Sequence[Pending]]) -> Iterator[Generated]:
        """The generations of ``batches``, call by call, in batch order."""
        adapter, in_workers = self.adapter, self.prepare_in_workers
        images = decode_batches(
            [[prompt_images(request.prompt) for request, _ in batch] for batch in batches],
            self.num_workers,
            partial(_prepare_in_worker, adapter, batches) if in_workers else None,
        )
        ready = map(partial(_ready, failures=self.failures), batches, images)
        with (  # closing the images stops the decoding workers if generation fails
            closing(images),
            closing(
                prepare_ahead(
                    ready,
                    lambda batch: [item for _, _, item in batch[1]],
                    lambda batch: batch[2],
                    adapter.prepare if adapter.prepares_ahead and not in_workers else None,
                )
            ) as ahead,
        ):
            for (batch, inputs, _), prepared in ahead:
                yield from self._generate(inputs, prepared)
                yield Generated([], 0.0, len(batch))

    def _generate(self, ready: Sequence[_Ready], prepared: Any) -> Iterator[Generated]:
        """The generations of ``ready``'s inputs, call by call. Inputs the model cannot take
        (``InputError``) become failures, and the others are generated without them."""
        while ready:
            answered = 0
            inputs = [item for _, _, item in ready]
            try:
                for chunk in generate_with_backoff(
                    self.adapter, inputs, self.settings, self.sizer, prepared
                ):
                    items = ready[chunk.start : chunk.stop]
                    yield Generated(
                        [
                            (request, key, generation)
                            for (request, key, _), generation in zip(
                                items, chunk.generations, strict=True
                            )
                        ],
                        chunk.seconds,
                    )
                    answered = chunk.stop
                return
            except InputError as error:
                for index, problem in error.problems.items():
                    request, key, _ = ready[index]
                    self.failures[key] = {"sample_id": request.sample.id, "error": problem}
                ready = [
                    item
                    for index, item in enumerate(ready)
                    if index >= answered and index not in error.problems
                ]
                prepared = None


def _ready(
    batch: Sequence[Pending], decoded: DecodedBatch, failures: dict[str, dict[str, str]]
) -> tuple[Sequence[Pending], list[_Ready], Any]:
    """``batch``, the inputs of its requests whose images could be read (the others are added
    to ``failures``) and what a decoding worker prepared of those inputs."""
    ready = []
    for (request, key), result in zip(batch, decoded.requests, strict=True):
        if isinstance(result, ImageError):
            failures[key] = {"sample_id": request.sample.id, "error": str(result)}
        else:
            ready.append((request, key, ModelInput(request.prompt, result)))
    return batch, ready, decoded.prepared


def _prepare_in_worker(
    adapter: ModelAdapter,
    batches: Sequence[Sequence[Pending]],
    index: int,
    decoded: RequestsDecoded,
) -> Any:
    """``adapter.prepare`` of the inputs of batch ``index`` (in a decoding worker)."""
    _, ready, _ = _ready(batches[index], DecodedBatch(decoded), failures={})
    return adapter.prepare([item for _, _, item in ready]) if ready else None
