"""A run's images: each distinct image decoded once, in DataLoader worker processes.

``plan_images`` assigns every image (by key) to the first batch that needs it, which decodes it,
and to the last one, after which the main process drops it; ``decode_batches`` carries out the
plan, and may have the workers prepare each batch for the model too. ``order_by_image`` puts
requests about the same image next to each other, so that an image is rarely kept across many
batches.

Forked workers hand the pixels of decoded RGB images, and the tensors of the batches they
prepare, to the main process through shared memory (``_SharedSlots``), where they stay: pickling
pixels through a pipe costs about as much as decoding the JPEG, and even a copy out of shared
memory is a fifth of the main process's work per image (see ``bench/harness_overhead.py``);
tensors sent the DataLoader's way go through fresh ``/dev/shm`` files, faulted in and zeroed
page by page (``bench/feed_rate.py``).
"""

from __future__ import annotations

import math
import mmap
import multiprocessing
import weakref
from collections.abc import Callable, Container, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any, cast

import numpy as np
import pyarrow as pa
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from vlm_eval.data import ImageError, ImageSource

RequestImages = Sequence[ImageSource]
"""The images of one request's prompt, in the order they appear."""

Decoded = Image.Image | ImageError
"""A decoded image, or why it could not be decoded."""

RequestsDecoded = list[list[Image.Image] | ImageError]
"""Each request's decoded images, or the error of its first bad image."""

BatchPreparer = Callable[[int, RequestsDecoded], Any]
"""Prepares batch ``index`` for the model from its requests' decoded images (in a worker)."""

_PREFETCH_BATCHES = 2
"""Batches each worker decodes ahead: enough to hide decoding, few enough to bound memory."""

_BATCHES_HELD = 3
"""Batches whose images the main process may still hold when it asks for the next one (the one
just generated, the one prepared ahead, the one being unpacked): shared memory slots beyond
those the workers fill ahead."""

_SLOT_WAIT_SECONDS = 0.05
"""How long a worker waits for its slot to be free before it pickles the batch instead (the
main process may hold that slot's images longer than usual, or be waiting for this batch)."""

_SHARED_BYTES_PER_IMAGE = 3 << 20
"""Shared memory per image a batch decodes (3 MiB: 1024x768 at 4 bytes a pixel, Pillow's own
layout, which copies faster than packed RGB). A batch's images share its slot, so a few larger
ones fit; those that do not are pickled. Pages are only allocated as they are written."""

_SHARED_BYTES_PER_PREPARED_REQUEST = 8 << 20
"""Shared memory per request of a batch that workers prepare, for the prepared tensors (8 MiB:
an Idefics2 request without image splitting, 640x480 in float32, takes 3.9 MiB). Tensors that
do not fit are sent the DataLoader's way."""

_TENSOR_ALIGNMENT = 64


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """One batch from ``decode_batches``.

    Attributes:
        requests: Each request's decoded images, or the error of its first bad image.
        prepared: What a worker's ``prepare`` made of the batch; ``None`` if none did.
    """

    requests: RequestsDecoded
    prepared: Any = None


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


def plan_images(
    batches: Sequence[Sequence[RequestImages]], *, share: bool = True
) -> list[BatchImages]:
    """For each batch (a request's images each), the images it decodes and those it releases.

    ``share=False``: each batch decodes and releases every image it needs, even one that
    another batch decodes too.
    """
    if not share:
        return [
            BatchImages(keys := {i.key: i for images in batch for i in images}, list(keys))
            for batch in batches
        ]
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


def forks_workers(num_workers: int) -> bool:
    """Whether ``decode_batches`` with ``num_workers`` forks its workers (which can then
    ``prepare``): some asked for, and ``fork`` is the start method (the Linux default)."""
    return num_workers > 0 and multiprocessing.get_start_method() == "fork"


def decode_batches(
    batches: Sequence[Sequence[RequestImages]],
    num_workers: int,
    prepare: BatchPreparer | None = None,
) -> Iterator[DecodedBatch]:
    """Per batch, in order: each request's decoded images (or error), and what was prepared.

    Each distinct image (by key) is decoded once, in ``num_workers`` DataLoader worker
    processes (0: in this process), for the first batch that needs it; it is kept here until
    the last batch that needs it. Close the iterator to stop the workers early.

    With ``prepare`` and forked workers (``forks_workers``), each worker also prepares the
    batches it decodes (``prepare(index, requests)``) and sends the result along; each batch
    then decodes every image it needs, as a worker has only its own batches' images. Where
    ``prepare`` raises, ``prepared`` is ``None``.
    """
    prepare = prepare if forks_workers(min(num_workers, len(batches))) else None
    plan = plan_images(batches, share=prepare is None)
    workers = min(num_workers, len(plan))
    context = multiprocessing.get_context() if workers else None
    slot_bytes = max((len(step.decode) for step in plan), default=0) * _SHARED_BYTES_PER_IMAGE
    if prepare is not None:
        slot_bytes += max(map(len, batches)) * _SHARED_BYTES_PER_PREPARED_REQUEST
    slots = None
    if forks_workers(workers) and context is not None and slot_bytes:
        # A slot per batch in flight (the DataLoader keeps workers x prefetch requested) and
        # per batch whose images may still be held here, rounded up to a multiple of the
        # workers: the DataLoader deals batches to the workers in turn, so that each worker
        # then has slots of its own, whose pages it alone faults in.
        count = -(-(workers * _PREFETCH_BATCHES + _BATCHES_HELD) // workers) * workers
        slots = _SharedSlots.create(min(count, len(plan)), slot_bytes, context)
    loader = DataLoader(
        _BatchDecoder([step.decode for step in plan], slots, batches, prepare),
        batch_size=None,
        collate_fn=_identity,
        num_workers=workers,
        persistent_workers=False,
        prefetch_factor=_PREFETCH_BATCHES if workers else None,
        generator=torch.Generator(),  # worker seeds drawn from it, not from the global RNG
        multiprocessing_context=context,
    )
    images: dict[str, Decoded] = {}
    for batch, step, sent in zip(batches, plan, loader, strict=True):
        if sent.slot is None:
            images.update(sent.others)
        else:
            assert slots is not None  # only workers that have slots use them
            images.update(slots.unpack(sent, copied=step.decode.keys() - set(step.release)))
        requests = _requests_decoded(batch, images)
        for key in step.release:
            del images[key]
        yield DecodedBatch(requests, sent.prepared)


@dataclass(frozen=True, slots=True)
class _SentBatch:
    """A batch as a worker sends it: the shared memory slot (``None``: none) holding the pixels
    of the images placed there, with each one's key, size, ``info`` and offset; the other
    images (pickled); what ``prepare`` made of the batch, less the tensors placed in the slot
    (``tensors``: each one's key in ``prepared``, dtype, shape and offset)."""

    slot: int | None
    placed: list[tuple[str, tuple[int, int], dict[str, Any], int]]
    others: dict[str, Decoded]
    prepared: Any
    tensors: list[tuple[str, torch.dtype, tuple[int, ...], int]] = field(default_factory=list)


class _BatchDecoder(Dataset[_SentBatch]):
    """Item ``i``: the images batch ``i`` decodes (into a slot where ``slots`` has one free),
    and its ``prepare`` (if any) from ``requests[i]``, its requests' images.

    The sources of every batch reach each worker once, with this object (pickled where workers
    are spawned; ``DatasetImage`` sources hold a whole ``datasets.Dataset``); the DataLoader
    only sends indices after that.
    """

    def __init__(
        self,
        decodes: list[dict[str, ImageSource]],
        slots: _SharedSlots | None,
        requests: Sequence[Sequence[RequestImages]],
        prepare: BatchPreparer | None,
    ):
        self.decodes, self.slots = decodes, slots
        self.requests, self.prepare = requests, prepare

    def __len__(self) -> int:
        return len(self.decodes)

    def __getitem__(self, index: int) -> _SentBatch:
        decoded: Iterable[tuple[str, Decoded]]
        decoded = ((key, _decode(source)) for key, source in self.decodes[index].items())
        prepared = None
        if self.prepare is not None:
            images = dict(decoded)
            decoded = images.items()
            try:
                prepared = self.prepare(index, _requests_decoded(self.requests[index], images))
            except Exception:  # the main process prepares the batch again, and meets the error
                prepared = None
        if self.slots is not None and self.slots.take(index):
            return self.slots.pack(index, iter(decoded), prepared)
        return _SentBatch(None, [], dict(decoded), prepared)


class _SharedSlots:
    """Shared memory in which forked workers put the pixels of the batches they decode.

    Anonymous shared memory, inherited by forked workers (no ``/dev/shm`` file, so not bound by
    its size), cut into slots: batch ``i`` uses slot ``i % count``. The main process's images
    use the slot's memory as their own. Each slot has a semaphore, taken by the worker before
    it writes and given back once no image in the main process uses the slot any more (the
    slot's ``memoryview`` is gone: every image mapping it holds a reference), so that a slot is
    never written while its pixels are in use.
    """

    def __init__(self, memory: mmap.mmap, slot_bytes: int, free: list[Any]):
        self.memory, self.slot_bytes, self.free = memory, slot_bytes, free

    @classmethod
    def create(cls, count: int, slot_bytes: int, context: BaseContext) -> _SharedSlots | None:
        """``count`` slots of ``slot_bytes``; ``None`` if the memory cannot be mapped."""
        try:
            memory = mmap.mmap(-1, count * slot_bytes)
        except OSError:
            return None
        return cls(memory, slot_bytes, [context.Semaphore(1) for _ in range(count)])

    def take(self, index: int) -> bool:
        """Take batch ``index``'s slot, waiting up to ``_SLOT_WAIT_SECONDS``; whether it is
        taken (if so, ``pack`` the batch)."""
        return bool(self.free[index % len(self.free)].acquire(timeout=_SLOT_WAIT_SECONDS))

    def pack(self, index: int, decoded: Iterator[tuple[str, Decoded]], prepared: Any) -> _SentBatch:
        """Batch ``index``'s images, each written to its slot (``take`` it first) as it is
        decoded if it is a plain RGB image (what ``ImageSource.open`` returns) that fits, and
        the tensors among the values of ``prepared`` (a mapping, such as a ``BatchFeature``)
        that fit after them; the others kept as they are."""
        slot = index % len(self.free)
        offset, end = slot * self.slot_bytes, (slot + 1) * self.slot_bytes
        batch = _SentBatch(slot, [], {}, prepared)
        for key, image in decoded:
            size = _rgb_bytes(image)
            if 0 < size <= end - offset:
                rgb = cast(Image.Image, image)
                _write_pixels(self.memory, offset, rgb)
                batch.placed.append((key, rgb.size, rgb.info, offset))
                offset += size
            else:
                batch.others[key] = image
        if not isinstance(prepared, MutableMapping):
            return batch
        for key, value in prepared.items():
            offset = -(-offset // _TENSOR_ALIGNMENT) * _TENSOR_ALIGNMENT
            if isinstance(value, torch.Tensor) and 0 < value.nbytes <= end - offset:
                _tensor_at(self.memory, offset, value.dtype, value.shape).copy_(value)
                batch.tensors.append((key, value.dtype, tuple(value.shape), offset))
                offset += value.nbytes
        for key, *_ in batch.tensors:
            prepared[key] = None  # sent in the slot, not pickled
        return batch

    def unpack(self, batch: _SentBatch, copied: Container[str]) -> dict[str, Decoded]:
        """``batch``'s images by key: those in its slot use the slot's memory, except the
        ``copied`` ones (kept for later batches: they would hold the slot), copied out."""
        assert batch.slot is not None
        start = batch.slot * self.slot_bytes
        slot = memoryview(self.memory)[start : start + self.slot_bytes]
        images: dict[str, Decoded] = {}
        for key, size, info, offset in batch.placed:
            image = _image_at(slot, offset - start, size)
            images[key] = image.copy() if key in copied else image
            images[key].info = info
        for key, dtype, shape, offset in batch.tensors:
            batch.prepared[key] = _tensor_at(slot, offset - start, dtype, shape)
        weakref.finalize(slot, self.free[batch.slot].release)
        return images | batch.others


def _image_at(memory: mmap.mmap | memoryview, offset: int, size: tuple[int, int]) -> Image.Image:
    """A read-only RGB image of ``size`` whose pixels are ``memory`` from ``offset`` on, 4 bytes
    a pixel as Pillow keeps RGB (the image holds a reference to ``memory``).

    ``Image.fromarrow`` maps the memory as it is; ``Image.frombuffer`` only maps modes such as
    RGBX, and ``convert("RGB")`` would then copy the pixels (a third of a millisecond for
    640x480, twice the main process's other work per image).
    """
    count = size[0] * size[1] * 4
    pixels = pa.Array.from_buffers(pa.uint8(), count, [None, pa.py_buffer(memory)], offset=offset)
    return Image.fromarrow(pixels, "RGB", size)


def _write_pixels(memory: mmap.mmap, offset: int, image: Image.Image) -> None:
    """Write the pixels of RGB ``image`` to ``memory`` from ``offset`` on, 4 bytes a pixel.

    Pillow exports an image in one block of memory to Arrow without a copy; a larger one (over
    16 MiB) is packed by ``tobytes`` first.
    """
    count = image.width * image.height * 4
    try:
        pixels = np.frombuffer(pa.array(image).values.buffers()[1], np.uint8, count)
    except ValueError:  # the image is in several blocks
        pixels = np.frombuffer(image.tobytes("raw", "RGBX"), np.uint8)
    np.frombuffer(memory, np.uint8, count, offset)[:] = pixels


def _tensor_at(
    memory: mmap.mmap | memoryview, offset: int, dtype: torch.dtype, shape: Sequence[int]
) -> torch.Tensor:
    """A tensor of ``dtype`` and ``shape`` whose data is ``memory`` from ``offset`` on (the
    tensor holds a reference to ``memory``)."""
    count = math.prod(shape)
    return torch.frombuffer(memory, dtype=dtype, count=count, offset=offset).view(tuple(shape))


def _rgb_bytes(image: Decoded) -> int:
    """The size of ``image``'s pixels if it is a plain ``Image`` in RGB mode, else 0."""
    if type(image) is not Image.Image or image.mode != "RGB":
        return 0
    return image.width * image.height * 4


def _decode(source: ImageSource) -> Decoded:
    try:
        return source.open()
    except ImageError as error:
        # A fresh error, as a worker would send back: the traceback of the raised one holds
        # frames that would keep this batch's other images alive.
        return ImageError(*error.args)


def _identity(item: _SentBatch) -> _SentBatch:
    return item


def _requests_decoded(
    requests: Sequence[RequestImages], images: dict[str, Decoded]
) -> RequestsDecoded:
    return [_images_or_first_error([images[image.key] for image in r]) for r in requests]


def _images_or_first_error(decoded: list[Decoded]) -> list[Image.Image] | ImageError:
    errors = [value for value in decoded if isinstance(value, ImageError)]
    return errors[0] if errors else cast(list[Image.Image], decoded)
