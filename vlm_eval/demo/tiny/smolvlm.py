"""A tiny, randomly initialised SmolVLM checkpoint: the Idefics3 architecture with SmolVLM's
processor, tokens and chat template (see ``vlm_eval.demo.tiny.idefics3``)."""

from __future__ import annotations

from pathlib import Path

from transformers import (
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessorPil,
    SmolVLMProcessor,
)

from vlm_eval.demo.tiny.idefics3 import build_processor, tiny_idefics3_like
from vlm_eval.models import image_only

# The chat template of HuggingFaceTB/SmolVLM-Instruct.
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random SmolVLM checkpoint to ``output_dir``; return it."""
    processor = build_processor(
        image_only(SmolVLMProcessor),
        SmolVLMImageProcessorPil,
        bos="<|im_start|>",
        eos="<|im_end|>",
        chat_template=CHAT_TEMPLATE,
        video_processor=None,
    )
    return tiny_idefics3_like(
        output_dir,
        seed=seed,
        processor=processor,
        config_class=SmolVLMConfig,
        model_class=SmolVLMForConditionalGeneration,
        module="smolvlm",
        architecture="SmolVLM",
    )
