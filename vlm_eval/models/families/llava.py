"""LLaVA-1.5 and LLaVA-NeXT (llava-hf checkpoints): the checkpoint's chat template, one image
per prompt, and no image options (CLIP crops every view to a fixed size). Other checkpoints of
the LLaVA architecture with other vision towers take interleaved images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlm_eval.models._family import ModelFamily
from vlm_eval.models._family_registry import register_family

if TYPE_CHECKING:
    from transformers import PretrainedConfig


class LlavaInterleavedFamily(ModelFamily):
    """LLaVA-architecture checkpoints trained on interleaved images (llava-interleave, Pixtral)."""

    name = "llava-interleaved"


@register_family
class LlavaFamily(ModelFamily):
    """Prompts hold at most one image: LLaVA-1.5 and LLaVA-NeXT were trained on conversations
    with a single image, and their chat templates put every image of a turn before its text."""

    name = "llava"
    model_types = ("llava", "llava_next")
    max_images = 1

    def for_checkpoint(self, config: PretrainedConfig) -> ModelFamily:
        # The single-image recipe pairs a CLIP tower with the LM; SigLIP / Pixtral towers under
        # model_type "llava" come from multi-image trainings.
        vision = getattr(config.vision_config, "model_type", "clip_vision_model")
        return self if vision == "clip_vision_model" else LlavaInterleavedFamily()
