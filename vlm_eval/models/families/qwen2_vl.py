"""Qwen2-VL and Qwen2.5-VL: chat templates, any number of interleaved images, and a visual token
count set by the image area (one token per merged patch, 28x28 pixels in the published models,
after resizing the image's area into ``[min_pixels, max_pixels]``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from vlm_eval.models._family import ModelFamily
from vlm_eval.models._family_registry import register_family

if TYPE_CHECKING:
    from transformers import ProcessorMixin


@register_family
class Qwen2VLFamily(ModelFamily):
    """Image options: ``min_pixels`` and ``max_pixels`` (bounds of the resized image area)."""

    name = "qwen2_vl"
    model_types = ("qwen2_vl", "qwen2_5_vl")
    image_options: ClassVar[Mapping[str, Any]] = {"min_pixels": int, "max_pixels": int}
    # Qwen2.5-VL's processor differs from Qwen2-VL's only in how it handles videos.
    image_only_processor = "Qwen2VLProcessor"

    def image_placeholder(self, processor: ProcessorMixin) -> str:
        """An image in a raw prompt as the chat template writes it: the image pad (which the
        processor expands into the image's tokens) between the vision start and end tokens."""
        return f"<|vision_start|>{super().image_placeholder(processor)}<|vision_end|>"

    def apply_options(self, processor: ProcessorMixin, options: Mapping[str, Any]) -> None:
        """Set the bounds of the resized image area.

        Raises:
            ValueError: If ``min_pixels`` would exceed ``max_pixels``.
        """
        image_processor = processor.image_processor
        size = dict(image_processor.size)  # shortest_edge / longest_edge hold min / max pixels
        size["shortest_edge"] = options.get("min_pixels", size["shortest_edge"])
        size["longest_edge"] = options.get("max_pixels", size["longest_edge"])
        if size["shortest_edge"] > size["longest_edge"]:
            raise ValueError(
                f"min_pixels ({size['shortest_edge']}) must not exceed max_pixels "
                f"({size['longest_edge']})"
            )
        image_processor.size = size
