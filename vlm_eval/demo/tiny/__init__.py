"""Tiny randomly initialised checkpoints of each supported model family, built offline from
configs and saved to disk, for the demo, the tests and the GPU check.

Each public module of this package builds one architecture and defines
``build(output_dir: Path, *, seed: int = 0) -> Path``, which writes a folder that loads through
``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained`` like a user's checkpoint
(``clip``: through ``AutoImageProcessor`` / ``AutoModel``, the image encoder of RICES).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

TinyBuilder = Callable[..., Path]


def tiny_builders(*, encoders: bool = False) -> dict[str, TinyBuilder]:
    """Architecture name (module name, e.g. ``idefics2``) -> its ``build`` function: the
    vision-language models, and with ``encoders`` also the image encoders (``clip``, whose module
    sets ``MODEL_KIND = "image-encoder"``)."""
    modules = {
        module.name: importlib.import_module(f"{__name__}.{module.name}")
        for module in pkgutil.iter_modules(__path__)
        if not module.name.startswith("_")
    }
    return {
        name: module.build
        for name, module in modules.items()
        if encoders or getattr(module, "MODEL_KIND", None) != "image-encoder"
    }
