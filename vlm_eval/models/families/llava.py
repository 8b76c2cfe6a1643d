"""LLaVA-1.5 and LLaVA-NeXT (llava-hf checkpoints): the checkpoint's chat template, one image
per prompt, and no image options (CLIP crops every view to a fixed size)."""

from __future__ import annotations

from vlm_eval.models._family import ModelFamily, register_family


@register_family
class LlavaFamily(ModelFamily):
    """Prompts hold at most one image: LLaVA-1.5 and LLaVA-NeXT were trained on conversations
    with a single image, and their chat templates put every image of a turn before its text."""

    name = "llava"
    model_types = ("llava", "llava_next")
    max_images = 1
