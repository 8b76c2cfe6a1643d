"""Deterministic generator of the demo's mini splits, in the exact official file formats.

Images are 96x96 JPEG scenes of coloured shapes (or signs with a word or number for TextVQA),
or PNG pages with a title and form fields (DocVQA); every question is answerable from its image
and has 10 answers with human-like variation (DocVQA: two accepted answers). No train image is
identical to an evaluation image of its task.

Usage: ``python -m vlm_eval.demo.mini_data OUT_DIR [--seed N] [--sizes mini|demo]``.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from vlm_eval.demo.mini_data._aokvqa import write_aokvqa
from vlm_eval.demo.mini_data._captions import write_karpathy, write_nocaps
from vlm_eval.demo.mini_data._chartqa import write_chartqa
from vlm_eval.demo.mini_data._docvqa import write_docvqa
from vlm_eval.demo.mini_data._gqa import write_gqa
from vlm_eval.demo.mini_data._infographicvqa import write_infographicvqa
from vlm_eval.demo.mini_data._mathvista import write_mathvista
from vlm_eval.demo.mini_data._mmbench import write_mmbench
from vlm_eval.demo.mini_data._mmmu import write_mmmu
from vlm_eval.demo.mini_data._scienceqa import write_scienceqa
from vlm_eval.demo.mini_data._sizes import DEMO_SIZES, MINI_SIZES, PRESETS, SplitSizes
from vlm_eval.demo.mini_data._textvqa import write_textvqa
from vlm_eval.demo.mini_data._vizwiz import write_vizwiz
from vlm_eval.demo.mini_data._vqa import write_vqa

__all__ = ["DEMO_SIZES", "MINI_SIZES", "WRITERS", "SplitSizes", "main", "write_mini_data"]

SplitWriter = Callable[[Path, random.Random, SplitSizes], None]
"""Writes a task's splits into its folder, drawing from the generator it is given."""

WRITERS: dict[str, SplitWriter] = {
    "vqav2": partial(write_vqa, okvqa=False),
    "okvqa": partial(write_vqa, okvqa=True),
    "textvqa": write_textvqa,
    "coco_caption": write_karpathy,
    "flickr30k": partial(write_karpathy, dataset="flickr30k"),
    "nocaps": write_nocaps,
    "mmbench": lambda root, rng, sizes: write_mmbench(root, rng),  # the same at every size
    "docvqa": write_docvqa,
    "mathvista": lambda root, rng, sizes: write_mathvista(root, rng),  # the same at every size
    "mmmu": lambda root, rng, sizes: write_mmmu(root, rng),  # the same at every size
    "chartqa": lambda root, rng, sizes: write_chartqa(root, rng),  # the same at every size
    "infographicvqa": lambda root, rng, sizes: write_infographicvqa(root, rng),  # the same
    "scienceqa_img": lambda root, rng, sizes: write_scienceqa(root, rng),  # the same
    "aokvqa_mc": lambda root, rng, sizes: write_aokvqa(root, rng),  # the same at every size
    "vizwiz_vqa": lambda root, rng, sizes: write_vizwiz(root, rng),  # the same at every size
    "gqa": lambda root, rng, sizes: write_gqa(root, rng),  # the same at every size
}
"""Task folder -> the writer of its splits. A new task's generator is a module of this package
with one entry here."""


def write_mini_data(root: Path, *, seed: int = 0, sizes: SplitSizes = MINI_SIZES) -> None:
    """Write every task's splits under `root`, one folder per entry of ``WRITERS``.

    The output depends only on `seed` and `sizes`: each task draws from its own generator,
    seeded with ``{seed}:{folder}``.

    Args:
        root: The data folder (``--data-dir``); created if missing.
        seed: The random seed.
        sizes: Images per split: ``MINI_SIZES`` (the bundled splits) or ``DEMO_SIZES``.
    """
    for folder, write in WRITERS.items():
        write(root / folder, random.Random(f"{seed}:{folder}"), sizes)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point: ``python -m vlm_eval.demo.mini_data OUT_DIR [--seed N]
    [--sizes mini|demo]``."""
    parser = argparse.ArgumentParser(
        description="Write the demo mini splits in the official formats."
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the task folders into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--sizes",
        choices=sorted(PRESETS),
        default="mini",
        help="mini: the bundled splits (default); demo: 500 questions per VQA task and 200 "
        "caption images to evaluate, and train splits",
    )
    args = parser.parse_args(argv)
    write_mini_data(args.out_dir, seed=args.seed, sizes=PRESETS[args.sizes])
