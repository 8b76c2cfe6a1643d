"""Data parallelism over the processes ``torchrun`` starts (one per GPU, on one or more nodes).

``process_group`` joins the group that torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) describes: NCCL with each process on GPU
``LOCAL_RANK`` (the device that ``cuda`` and ``auto`` then mean), or gloo without CUDA. In a single
process, and outside ``process_group``, the helpers are no-ops: rank 0 of a world of one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

_TIMEOUT = timedelta(hours=1)
"""How long a rank waits for the others: rank 0 scores a task (minutes for COCO's SPICE) while
the other ranks wait to start the next one."""


@contextmanager
def process_group() -> Iterator[None]:
    """Join torchrun's process group for the duration (no-op: one process, or already joined)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or _joined():
        yield
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _joined() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if _joined() else 0


def world_size() -> int:
    """The number of processes (1 outside a process group)."""
    return dist.get_world_size() if _joined() else 1


def barrier() -> None:
    """Wait until every rank gets here."""
    if _joined():
        dist.barrier()


def all_gather(value: T) -> list[T]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if not _joined():
        return [value]
    values: list[T | None] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values  # type: ignore[return-value]  # every slot was filled


def broadcast(value: T) -> T:
    """Rank 0's ``value`` (picklable), on every rank."""
    if not _joined():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
