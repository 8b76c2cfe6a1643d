"""Idefics2, Idefics3 and SmolVLM: chat templates, any number of interleaved images, and image
splitting that trades visual tokens for accuracy (Idefics2: 64 tokens per image, 320 split)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.models._family import ModelFamily
from vlm_eval.models._family_registry import register_family

if TYPE_CHECKING:
    from transformers import ProcessorMixin


@register_family
class IdeficsFamily(ModelFamily):
    """Image options: ``do_image_splitting`` (also encode crops of the image; Idefics2: 320
    instead of 64 visual tokens per image) and ``image_longest_edge`` (resize images so that
    their longest edge is this many pixels)."""

    name = "idefics"
    model_types = ("idefics2", "idefics3")
    image_options: ClassVar[Mapping[str, Any]] = {
        "do_image_splitting": bool,
        "image_longest_edge": int,
    }

    def apply_options(self, processor: ProcessorMixin, options: Mapping[str, Any]) -> None:
        image_processor = processor.image_processor
        if "do_image_splitting" in options:
            image_processor.do_image_splitting = options["do_image_splitting"]
        if "image_longest_edge" in options:
            edge = options["image_longest_edge"]
            size = dict(image_processor.size) | {"longest_edge": edge}
            if "shortest_edge" in size:  # Idefics2 resizes between both bounds
                size["shortest_edge"] = min(size["shortest_edge"], edge)
            image_processor.size = size


@register_family
class SmolVLMFamily(IdeficsFamily):
    """SmolVLM: Idefics3's architecture with a processor that also handles videos."""

    name = "smolvlm"
    model_types = ("smolvlm",)
    image_only_processor = "SmolVLMProcessor"
