"""Freed memory kept for reuse, not handed back to the operating system.

Decoding images and running processors allocate and free the same large buffers batch after
batch. Memory handed back to the system and asked for again is faulted in and zeroed page by
page: about half of an Idefics2 processor's time on 640x480 images went there
(``bench/feed_rate.py``).
"""

from __future__ import annotations

import ctypes
import platform

from PIL import Image

PILLOW_BLOCKS_KEPT = 64
"""Freed image memory blocks Pillow keeps for reuse."""

MALLOC_FROM_HEAP_UP_TO = 32 << 20
"""Allocations glibc serves from its heap, not from a mapping of their own (its maximum)."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_NEVER_TRIM = 2**31 - 1


def reuse_freed_memory() -> None:
    """Keep freed memory in this process, and in the processes it forks afterwards, for reuse.

    - Pillow keeps up to ``PILLOW_BLOCKS_KEPT`` freed image blocks (none by default), so that a
      new image writes to pages already mapped (decoding 640x480 JPEGs in a fresh process:
      1.7x faster here).
    - glibc's malloc (where it is the C library): allocations up to
      ``MALLOC_FROM_HEAP_UP_TO`` come from the heap, which is never trimmed, and threads share
      the main arena (whose settings these are). An Idefics2 processor on a thread: 1.5x.

    The process keeps the memory it used at its peak. Calling it again changes nothing.
    """
    Image.core.set_blocks_max(max(Image.core.get_blocks_max(), PILLOW_BLOCKS_KEPT))
    if platform.libc_ver()[0] != "glibc":
        return
    mallopt = ctypes.CDLL(None).mallopt
    for option, value in (
        (_M_MMAP_THRESHOLD, MALLOC_FROM_HEAP_UP_TO),
        (_M_TRIM_THRESHOLD, _NEVER_TRIM),
        (_M_ARENA_MAX, 1),
    ):
        mallopt(option, value)
