"""Freed memory kept for reuse (vlm_eval.runner._memory)."""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from vlm_eval.runner import _memory
from vlm_eval.runner._memory import PILLOW_BLOCKS_KEPT, reuse_freed_memory


class _FakeLibc:
    def __init__(self, calls: list[tuple[int, int]]):
        self.calls = calls

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


@pytest.mark.parametrize("libc", ["glibc", "musl", ""])
def test_pillow_keeps_freed_blocks_and_glibc_keeps_its_heap(
    libc: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(_memory.platform, "libc_ver", lambda: (libc, ""))
    monkeypatch.setattr(_memory.ctypes, "CDLL", lambda name: _FakeLibc(calls))
    blocks = Image.core.get_blocks_max()
    try:
        Image.core.set_blocks_max(0)
        reuse_freed_memory()
        assert Image.core.get_blocks_max() == PILLOW_BLOCKS_KEPT
    finally:
        Image.core.set_blocks_max(max(blocks, PILLOW_BLOCKS_KEPT))
    # M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD: never, M_ARENA_MAX 1 (glibc's malloc.h)
    expected: list[Any] = [(-3, 32 << 20), (-1, 2**31 - 1), (-8, 1)]
    assert calls == (expected if libc == "glibc" else [])
