"""How many images each mini split has."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SplitSizes:
    """Images per split of each task; every VQA image (VQAv2, OK-VQA, TextVQA) has two questions.

    Attributes:
        vqa_val, vqa_train: VQAv2 and OK-VQA images each, in ``val2014`` and ``train2014``.
        textvqa_val, textvqa_train: TextVQA sign images in ``val`` and ``train``.
        caption_test, caption_train: Karpathy ``test`` (from val2014) and ``train`` images.
        docvqa_val, docvqa_train, docvqa_test: DocVQA pages (two questions each) per split.
    """

    vqa_val: int = 12
    vqa_train: int = 6
    textvqa_val: int = 12
    textvqa_train: int = 6
    caption_test: int = 16
    caption_train: int = 8
    docvqa_val: int = 6
    docvqa_train: int = 5
    docvqa_test: int = 2


MINI_SIZES = SplitSizes()
"""The bundled mini splits (``vlm_eval/demo/data``): a few samples per task."""

DEMO_SIZES = SplitSizes(
    vqa_val=256,
    vqa_train=2000,
    textvqa_val=250,
    textvqa_train=2000,
    caption_test=200,
    caption_train=2000,
    docvqa_val=100,
    docvqa_train=200,
    docvqa_test=10,
)
"""Splits that decide things: 500 questions per VQA task and 200 caption images to evaluate,
and train splits to train the demo checkpoint on (``vlm_eval.demo.train``)."""

PRESETS = {"mini": MINI_SIZES, "demo": DEMO_SIZES}
