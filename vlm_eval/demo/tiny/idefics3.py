"""A tiny, randomly initialised Idefics3 checkpoint (the architecture SmolVLM shares).

A SigLIP-style vision tower whose patches are pixel-shuffled by ``SCALE_FACTOR`` into a Llama
text model; images are resized to at most ``IMAGE_LONGEST_EDGE`` pixels and, with image
splitting (on, as in the released checkpoints), cut into ``CROP_SIZE`` crops plus the whole
image, each crop giving ``IMAGE_SEQ_LEN`` visual tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import (
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    ImageProcessingMixin,
    PreTrainedModel,
    ProcessorMixin,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import train_tokenizer

CROP_SIZE = 64
PATCH_SIZE = 8
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (CROP_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2  # 16
IMAGE_LONGEST_EDGE = 2 * CROP_SIZE
# The image markers of the family; the processor writes <row_i_col_j> before each crop.
IMAGE_TOKENS = (
    "<fake_token_around_image>",
    "<image>",
    "<end_of_utterance>",
    "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)
# The chat template of HuggingFaceM4/Idefics3-8B-Llama3.
CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def build_processor(
    processor_class: type[ProcessorMixin],
    image_processor_class: type[ImageProcessingMixin],
    *,
    bos: str,
    eos: str,
    chat_template: str,
    **kwargs: Any,
) -> ProcessorMixin:
    """A processor of the architecture (Idefics3 or SmolVLM): images resized and split as
    above, a tokenizer with the family's image markers and the given ``bos`` and ``eos``, and
    ``chat_template``; ``kwargs`` go to ``processor_class``."""
    image_processor = image_processor_class(
        size={"longest_edge": IMAGE_LONGEST_EDGE},
        max_image_size={"longest_edge": CROP_SIZE},
        do_image_splitting=True,
    )
    tokenizer = train_tokenizer(
        bos=bos,
        eos=eos,
        add_bos=False,  # the chat template writes it
        extra_special_tokens=IMAGE_TOKENS,
    )
    return processor_class(
        image_processor,
        tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=chat_template,
        **kwargs,
    )


def tiny_idefics3_like(
    output_dir: Path,
    *,
    seed: int,
    processor: ProcessorMixin,
    config_class: type[Idefics3Config],
    model_class: type[PreTrainedModel],
    module: str,
    architecture: str,
) -> Path:
    """Write a tiny Idefics3-architecture checkpoint around ``processor`` (Idefics3 or SmolVLM),
    documented as ``architecture`` built by ``module``."""
    tokenizer = processor.tokenizer
    config = config_class(
        vision_config=_checkpoint.vision_config(CROP_SIZE, PATCH_SIZE),
        text_config=_checkpoint.text_config(tokenizer, "llama"),
        scale_factor=SCALE_FACTOR,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    model = _checkpoint.seeded_model(model_class, config, seed)
    model.generation_config = _checkpoint.generation_config(
        tokenizer, "<end_of_utterance>", tokenizer.eos_token
    )
    card = _checkpoint.model_card(
        module,
        architecture,
        seed,
        tokenizer=f"special tokens and image markers as {architecture}.",
        processor=f"`{type(processor).__name__}`, images resized to at most "
        f"{IMAGE_LONGEST_EDGE} px and split into {CROP_SIZE} px crops plus the whole image, "
        f"{IMAGE_SEQ_LEN} visual tokens per crop.",
    )
    return _checkpoint.save(output_dir, model, processor, card=card)


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Idefics3 checkpoint to ``output_dir``; return it."""
    processor = build_processor(
        Idefics3Processor,
        Idefics3ImageProcessorPil,
        bos="<|begin_of_text|>",
        eos="<|end_of_text|>",
        chat_template=CHAT_TEMPLATE,
    )
    return tiny_idefics3_like(
        output_dir,
        seed=seed,
        processor=processor,
        config_class=Idefics3Config,
        model_class=Idefics3ForConditionalGeneration,
        module="idefics3",
        architecture="Idefics3",
    )
