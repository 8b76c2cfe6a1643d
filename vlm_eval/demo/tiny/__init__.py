"""Tiny randomly initialised checkpoints of each supported model family, built offline from
configs and saved to disk, for the demo, the tests and the GPU check.

Each public module of this package builds one architecture and defines
``build(output_dir: Path, *, seed: int = 0) -> Path``, which writes a folder that loads through
``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained`` like a user's checkpoint.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

TinyBuilder = Callable[..., Path]


def tiny_builders() -> dict[str, TinyBuilder]:
    """Architecture name (module name, e.g. ``idefics2``) -> its ``build`` function."""
    return {
        module.name: importlib.import_module(f"{__name__}.{module.name}").build
        for module in pkgutil.iter_modules(__path__)
        if not module.name.startswith("_")
    }
