"""Build a tiny, randomly initialised LLaVA-NeXT checkpoint (CLIP vision tower + Mistral).

The folder it writes loads like llava-hf/llava-v1.6-mistral-7b-hf, through ``AutoProcessor`` and
``AutoModelForImageTextToText.from_pretrained``: any-resolution tiling, so the number of visual
tokens depends on the image size. Nothing is downloaded.
"""

from pathlib import Path

import torch
from transformers import (
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessorPil,
    LlavaNextProcessor,
)

from vlm_eval.demo.tiny.llava import (
    PATCH_SIZE,
    build_tokenizer,
    generation_config,
    model_card,
    save,
    text_config,
    vision_config,
)

TILE_SIZE = 32
# llava-v1.6's (height, width) resolutions in 336 px tiles, with 32 px tiles.
IMAGE_GRID_PINPOINTS = [
    [TILE_SIZE * rows, TILE_SIZE * columns]
    for rows, columns in ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))
]

# The chat template shipped with llava-hf/llava-v1.6-mistral-7b-hf (chat_template.json). It has
# no generation prompt: a user turn already ends with " [/INST]".
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{ '<<SYS>>\n' + message['content'][0]['text'] + '\n<</SYS>>\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ '[INST] ' }}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + message['content'][0]['text'] + '</s> '}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)


def _build_processor() -> LlavaNextProcessor:
    """The real LLaVA-NeXT processor (any-resolution tiles) around the trained tokenizer."""
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": TILE_SIZE},
        crop_size={"height": TILE_SIZE, "width": TILE_SIZE},
        image_grid_pinpoints=IMAGE_GRID_PINPOINTS,
    )
    return LlavaNextProcessor(
        image_processor,
        build_tokenizer(),
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token
        chat_template=CHAT_TEMPLATE,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-NeXT checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for ``AutoProcessor`` / ``AutoModelForImageTextToText``.
    """
    processor = _build_processor()
    tokenizer = processor.tokenizer
    config = LlavaNextConfig(
        vision_config=vision_config(TILE_SIZE),
        text_config=text_config("mistral", tokenizer),
        image_token_index=processor.image_token_id,
        image_grid_pinpoints=IMAGE_GRID_PINPOINTS,
        image_seq_length=(TILE_SIZE // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(config).to(torch.float32)
    model.generation_config = generation_config(tokenizer)
    return save(
        model,
        processor,
        Path(output_dir),
        model_card(
            "llava_next",
            "LLaVA-NeXT",
            seed,
            "Mistral",
            f"`LlavaNextProcessor` with the slow `LlavaNextImageProcessor`: a {TILE_SIZE} px "
            f"view of the whole image plus {TILE_SIZE} px tiles of the best of the resolutions "
            f"{IMAGE_GRID_PINPOINTS} (height, width), {PATCH_SIZE} px patches; the number of "
            "`<image>` tokens depends on the image size",
        ),
    )
