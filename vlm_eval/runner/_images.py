"""A run's images: each distinct image decoded once, in DataLoader worker processes.

``plan_images`` assigns every image (by key) to the first batch that needs it, which decodes it,
and to the last one, after which the main process drops it; ``decode_batches`` carries out the
plan. ``order_by_image`` puts requests about the same image next to each other, so that an image
is rarely kept across many batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vlm_eval.data import ImageError, ImageSource

RequestImages = Sequence[ImageSource]
"""The images of one request's prompt, in the order they appear."""

Decoded = Image.Image | ImageError
"""A decoded image, or why it could not be decoded."""

_PREFETCH_BATCHES = 2
"""Batches each worker decodes ahead: enough to hide decoding, few enough to bound memory."""


@dataclass(frozen=True, slots=True)
class BatchImages:
    """What happens to images around one batch.

    Attributes:
        decode: Images that no earlier batch needs, key -> source: decoded for this batch.
        release: Keys of the images that no later batch needs: dropped after this batch.
    """

    decode: dict[str, ImageSource]
    release: list[str]


def order_by_image(requests: Sequence[RequestImages]) -> list[int]:
    """Indices of ``requests`` in the order to generate them: grouped by query image.

    The query image is a prompt's last one (the earlier ones are few-shot demonstrations).
    Groups come in the order of their first request, and requests keep their order within a
    group, so requests already grouped keep their order.
    """
    groups: dict[str | None, int] = {}
    ranks = [
        groups.setdefault(images[-1].key if images else None, len(groups)) for images in requests
    ]
    return sorted(range(len(requests)), key=ranks.__getitem__)


def plan_images(batches: Sequence[Sequence[RequestImages]]) -> list[BatchImages]:
    """For each batch (a request's images each), the images it decodes and those it releases."""
    sources: dict[str, ImageSource] = {}
    first_use: dict[str, int] = {}
    last_use: dict[str, int] = {}
    for index, batch in enumerate(batches):
        for image in (image for images in batch for image in images):
            sources.setdefault(image.key, image)
            first_use.setdefault(image.key, index)
            last_use[image.key] = index
    plan = [BatchImages({}, []) for _ in batches]
    for key, source in sources.items():
        plan[first_use[key]].decode[key] = source
        plan[last_use[key]].release.append(key)
    return plan


def decode_batches(
    batches: Sequence[Sequence[RequestImages]], num_workers: int
) -> Iterator[list[list[Image.Image] | ImageError]]:
    """Per batch, in order: each request's decoded images, or the error of its first bad image.

    Each distinct image (by key) is decoded once, in ``num_workers`` DataLoader worker
    processes (0: in this process), for the first batch that needs it; it is kept here until
    the last batch that needs it. Close the iterator to stop the workers early.
    """
    plan = plan_images(batches)
    workers = min(num_workers, len(plan))
    loader = DataLoader(
        _BatchDecoder([step.decode for step in plan]),
        batch_size=None,
        collate_fn=_identity,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=_PREFETCH_BATCHES if workers else None,
        generator=torch.Generator(),  # worker seeds drawn from it, not from the global RNG
    )
    images: dict[str, Decoded] = {}
    for batch, step, decoded in zip(batches, plan, loader, strict=True):
        images.update(decoded)
        requests = [
            _images_or_first_error([images[image.key] for image in request]) for request in batch
        ]
        for key in step.release:
            del images[key]
        yield requests


class _BatchDecoder(Dataset[dict[str, Decoded]]):
    """Item ``i``: the images batch ``i`` decodes, by key.

    The sources of every batch reach each worker once, with this object (pickled where workers
    are spawned; ``DatasetImage`` sources hold a whole ``datasets.Dataset``); the DataLoader
    only sends indices after that.
    """

    def __init__(self, batches: list[dict[str, ImageSource]]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict[str, Decoded]:
        return {key: _decode(source) for key, source in self.batches[index].items()}


def _decode(source: ImageSource) -> Decoded:
    try:
        return source.open()
    except ImageError as error:
        # A fresh error, as a worker would send back: the traceback of the raised one holds
        # frames that would keep this batch's other images alive.
        return ImageError(*error.args)


def _identity(item: dict[str, Decoded]) -> dict[str, Decoded]:
    return item


def _images_or_first_error(decoded: list[Decoded]) -> list[Image.Image] | ImageError:
    errors = [value for value in decoded if isinstance(value, ImageError)]
    return errors[0] if errors else cast(list[Image.Image], decoded)
