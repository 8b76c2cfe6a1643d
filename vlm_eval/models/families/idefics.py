"""Idefics2, Idefics3 and SmolVLM: chat templates, any number of interleaved images, and image
splitting that trades visual tokens for accuracy (Idefics2: 64 tokens per image, 320 split)."""

from __future__ import annotations

from transformers import ProcessorMixin, SmolVLMProcessor

from vlm_eval.models._family import ModelFamily, ProcessorOptions, register_family


@register_family
class IdeficsFamily(ModelFamily):
    """Processor options: ``do_image_splitting`` and ``image_longest_edge``."""

    name = "idefics"
    model_types = ("idefics2", "idefics3")
    options = frozenset({"do_image_splitting", "image_longest_edge"})

    def apply_options(self, processor: ProcessorMixin, options: ProcessorOptions) -> None:
        image_processor = processor.image_processor
        if options.do_image_splitting is not None:
            image_processor.do_image_splitting = options.do_image_splitting
        if options.image_longest_edge is not None:
            size = dict(image_processor.size) | {"longest_edge": options.image_longest_edge}
            if "shortest_edge" in size:  # Idefics2 resizes between both bounds
                size["shortest_edge"] = min(size["shortest_edge"], options.image_longest_edge)
            image_processor.size = size


@register_family
class SmolVLMFamily(IdeficsFamily):
    """SmolVLM: Idefics3's architecture with a processor that also handles videos."""

    name = "smolvlm"
    model_types = ("smolvlm",)
    image_only_processor = SmolVLMProcessor
