"""Batches for generation: length-sorted order, and batch sizes that back off on GPU OOM.

``generation_order`` puts long prompts first and short ones last, keeping questions about the
same image together, so that a batch holds prompts of similar length (less padding) and an
out-of-memory error shows up in the first batch. ``generate_with_backoff`` runs a batch through
an adapter in chunks of the size a ``BatchSizer`` holds, which shrinks on
``torch.cuda.OutOfMemoryError`` and settles on the largest size that fits; ``prepare_ahead``
prepares the next batch while one generates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

import torch

from vlm_eval.models import (
    Generation,
    InputError,
    ModelAdapter,
    ModelInput,
    PartialGenerationError,
)
from vlm_eval.runner._images import order_by_image
from vlm_eval.tasks import GenerationSettings, Prompt, prompt_images

Batch = TypeVar("Batch")

BatchSize = int | Literal["auto"]
"""Samples per ``generate`` call, or ``auto``: the largest that fits, up to ``AUTO_BATCH_SIZE``."""

AUTO_BATCH_SIZE = 64
"""The first batch size ``auto`` tries; it backs off from there on out-of-memory errors."""


def batch_size_limit(batch_size: BatchSize) -> int:
    """The largest batch to try: ``batch_size``, or ``AUTO_BATCH_SIZE`` for ``auto``."""
    if batch_size == "auto":
        return AUTO_BATCH_SIZE
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch size must be a positive integer or 'auto', got {batch_size!r}")
    return batch_size


def generation_order(prompts: Sequence[Prompt]) -> list[int]:
    """Indices of ``prompts`` in the order to generate them: longest first, grouped by image.

    The length of a prompt is estimated cheaply: its images first (each stands for tens to
    thousands of tokens), then the characters of its text. Questions about the same query image
    stay together (``order_by_image``), so that each image is decoded once and released soon;
    a group comes where its longest prompt sorts. Ties keep the original order, so the order
    depends only on the prompts.
    """
    images = [prompt_images(prompt) for prompt in prompts]
    sizes = [
        (-len(images[i]), -sum(len(p) for m in prompt for p in m.parts if isinstance(p, str)), i)
        for i, prompt in enumerate(prompts)
    ]
    by_size = sorted(range(len(prompts)), key=sizes.__getitem__)
    # order_by_image is stable: groups come in the order of their first (longest) prompt.
    grouped = order_by_image([images[i] for i in by_size])
    return [by_size[i] for i in grouped]


class BatchSizer:
    """The batch size to try next, learned from out-of-memory errors during one task.

    It starts at the asked size (``auto``: ``AUTO_BATCH_SIZE``). After an out-of-memory error it
    halves until a size fits, then bisects between the largest size that fit and the smallest
    that did not: it settles on the largest size that fits and never grows back to one that
    failed. If a size that fit earlier fails (a longer prompt), the search restarts below it.

    Attributes:
        limit: The asked size.
        calls: Batch size -> generate calls of that size that succeeded.
        out_of_memory: Sizes of the generate calls that ran out of memory, in order.
    """

    def __init__(self, batch_size: BatchSize):
        self.limit = batch_size_limit(batch_size)
        self.calls: Counter[int] = Counter()
        self.out_of_memory: list[int] = []
        self._fits = 0  # the largest size that fit since the search last (re)started
        self._fails: int | None = None  # the smallest size that ran out of memory

    @property
    def size(self) -> int:
        """The batch size to try next."""
        if self._fails is None:
            return self.limit
        if not self._fits:
            return max(self._fails // 2, 1)
        return (self._fits + self._fails) // 2

    def fitted(self, size: int) -> None:
        """A generate call of ``size`` inputs succeeded."""
        self._fits = max(self._fits, size)
        self.calls[size] += 1

    def failed(self, size: int) -> None:
        """A generate call of ``size`` inputs ran out of memory."""
        self._fails = size
        if self._fits >= size:
            self._fits = 0
        self.out_of_memory.append(size)

    def describe(self) -> dict[str, Any]:
        """The batch sizes used, for the task's results."""
        return describe_batch_sizes([self])


def describe_batch_sizes(sizers: Sequence[BatchSizer]) -> dict[str, Any]:
    """The batch sizes used by ``sizers`` (one per rank, in rank order) together."""
    calls = sum((sizer.calls for sizer in sizers), Counter[int]())
    return {
        "batch_sizes": {str(size): count for size, count in sorted(calls.items())},
        "out_of_memory_batch_sizes": [size for sizer in sizers for size in sizer.out_of_memory],
    }


@dataclass(frozen=True, slots=True)
class Chunk:
    """The generations of ``inputs[start:stop]``, from one generate call of ``seconds``."""

    start: int
    generations: list[Generation]
    seconds: float

    @property
    def stop(self) -> int:
        return self.start + len(self.generations)


def prepare_ahead(
    batches: Iterable[Batch],
    inputs_of: Callable[[Batch], Sequence[ModelInput]],
    prepared_of: Callable[[Batch], Any],
    prepare: Callable[[Sequence[ModelInput]], Any] | None,
) -> Iterator[tuple[Batch, Future[Any] | None]]:
    """Each of ``batches`` with its inputs prepared for the model: ``prepared_of(batch)`` if it
    is not ``None`` (a decoding worker prepared them); else ``prepare`` of its inputs, started
    one batch ahead on a background thread, so that a batch's CPU work (prompt rendering, image
    processing) overlaps the generation of the batch before it; else (no ``prepare``, or no
    inputs) ``None``."""
    if prepare is None:
        for batch in batches:
            prepared = prepared_of(batch)
            yield batch, None if prepared is None else _done(prepared)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="vlm-eval-prepare") as preparer:
        previous: tuple[Batch, Future[Any] | None] | None = None
        for batch in batches:
            inputs, prepared = inputs_of(batch), prepared_of(batch)
            if prepared is not None:
                current = (batch, _done(prepared))
            else:
                current = (batch, preparer.submit(prepare, inputs) if inputs else None)
            if previous is not None:
                yield previous
            previous = current
        if previous is not None:
            yield previous


def _done(value: Any) -> Future[Any]:
    """A future that already holds ``value``."""
    future: Future[Any] = Future()
    future.set_result(value)
    return future


def generate_with_backoff(
    adapter: ModelAdapter,
    inputs: Sequence[ModelInput],
    settings: GenerationSettings,
    sizer: BatchSizer,
    prepared: Future[Any] | None = None,
) -> Iterator[Chunk]:
    """Generate ``inputs`` in consecutive chunks of ``sizer.size``, yielding each as it is done.

    ``prepared``, the adapter's ``prepare`` of all of ``inputs``, is used when they are
    generated in one chunk. A chunk that runs out of GPU memory (``torch.cuda.OutOfMemoryError``)
    is retried smaller, down to one input; at one input the error is raised again, saying so.
    Chunks come in input order and cover every input. If a call fails after answering some of
    its inputs (``PartialGenerationError``), their chunks come first, then its error is raised.
    An ``InputError`` is raised again with the indices of its inputs in ``inputs``.
    """
    start = 0
    while start < len(inputs):
        size = min(sizer.size, len(inputs) - start)
        began = time.perf_counter()
        try:
            if prepared is not None and size == len(inputs):
                generate = partial(adapter.generate_prepared, prepared.result(), settings)
            else:
                generate = partial(adapter.generate, inputs[start : start + size], settings)
            prepared = None  # a retry is of smaller chunks
            generations = _generate_unless_out_of_memory(generate, size)
        except PartialGenerationError as error:
            failure = error
        except InputError as error:  # its indices are into this chunk: make them into inputs
            raise InputError({start + i: why for i, why in error.problems.items()}) from error
        else:
            failure = None
        seconds = time.perf_counter() - began
        if failure is not None:
            yield from _answered_chunks(start, failure.generations, seconds)
            raise failure.error
        if generations is None:
            sizer.failed(size)
            # Here, not in the except clause: the error's traceback kept the batch's tensors.
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        sizer.fitted(size)
        yield Chunk(start, generations, seconds)
        start += size


def _answered_chunks(
    start: int, generations: dict[int, Generation], seconds: float
) -> Iterator[Chunk]:
    """Chunks of the runs of consecutive indices of ``generations`` (of a call generating from
    ``start``), the call's ``seconds`` shared by their sizes."""
    runs: list[list[int]] = []
    for index in sorted(generations):
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    for run in runs:
        share = seconds * len(run) / len(generations)
        yield Chunk(start + run[0], [generations[index] for index in run], share)


def _generate_unless_out_of_memory(
    generate: Callable[[], list[Generation]], size: int
) -> list[Generation] | None:
    """``generate()``, or ``None`` if a batch of more than one input ran out of GPU memory."""
    try:
        return generate()
    except torch.cuda.OutOfMemoryError as error:
        if size > 1:
            return None
        raise torch.cuda.OutOfMemoryError(
            "out of GPU memory with a batch of one sample: the model does not fit even one "
            "sample of this task. Predictions finished before it are saved in the run folder "
            "and reused by a re-run; lower the memory use (e.g. a smaller dtype, fewer or "
            f"smaller image crops, device_map=auto over more GPUs) and run again. ({error})"
        ) from error
