"""Build a tiny, randomly initialised LLaVA-NeXT checkpoint (CLIP vision tower + Mistral).

The folder it writes loads like llava-hf/llava-v1.6-mistral-7b-hf, through ``AutoProcessor`` and
``AutoModelForImageTextToText.from_pretrained``: any-resolution tiling, so the number of visual
tokens depends on the image size. Nothing is downloaded.
"""

from pathlib import Path

from transformers import (
    LlavaNextConfig,
    LlavaNextForConditionalGeneration,
    LlavaNextImageProcessorPil,
    LlavaNextProcessor,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny.llava import PATCH_SIZE, build_model, build_processor, model_card

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


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-NeXT checkpoint to ``output_dir``; return it."""
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": TILE_SIZE},
        crop_size={"height": TILE_SIZE, "width": TILE_SIZE},
        image_grid_pinpoints=IMAGE_GRID_PINPOINTS,
    )
    processor = build_processor(LlavaNextProcessor, image_processor, CHAT_TEMPLATE)
    model = build_model(
        LlavaNextForConditionalGeneration,
        LlavaNextConfig,
        processor,
        image_size=TILE_SIZE,
        language_model="mistral",
        seed=seed,
        image_grid_pinpoints=IMAGE_GRID_PINPOINTS,
    )
    description = (
        f"`LlavaNextProcessor` with the slow `LlavaNextImageProcessor`: a {TILE_SIZE} px view of "
        f"the whole image plus {TILE_SIZE} px tiles of the best of the resolutions "
        f"{IMAGE_GRID_PINPOINTS} (height, width), {PATCH_SIZE} px patches; the number of "
        "`<image>` tokens depends on the image size"
    )
    return _checkpoint.save(
        output_dir,
        model,
        processor,
        card=model_card("llava_next", "LLaVA-NeXT", seed, "Mistral", description),
    )
