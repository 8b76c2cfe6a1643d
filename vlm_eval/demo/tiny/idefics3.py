"""A tiny, randomly initialised Idefics3 checkpoint (the architecture SmolVLM shares).

A SigLIP-style vision tower whose patches are pixel-shuffled by ``SCALE_FACTOR`` into a Llama
text model; images are resized to at most ``IMAGE_LONGEST_EDGE`` pixels and, with image
splitting (on, as in the released checkpoints), cut into ``CROP_SIZE`` crops plus the whole
image, each crop giving ``IMAGE_SEQ_LEN`` visual tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessorPil,
    Idefics3Processor,
    PreTrainedModel,
    ProcessorMixin,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

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


def tiny_idefics3_like(
    output_dir: Path,
    *,
    seed: int,
    processor: ProcessorMixin,
    config_class: type[Idefics3Config],
    model_class: type[PreTrainedModel],
    card: str,
) -> Path:
    """Write a tiny Idefics3-architecture checkpoint around ``processor`` (Idefics3 or SmolVLM)."""
    tokenizer = processor.tokenizer
    layers: dict[str, Any] = {"num_hidden_layers": 2, "initializer_range": INITIALIZER_RANGE}
    config = config_class(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_attention_heads": 2,
            "image_size": CROP_SIZE,
            "patch_size": PATCH_SIZE,
            **layers,
        },
        text_config={
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            **layers,
        },
        scale_factor=SCALE_FACTOR,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(seed)
    model = model_class(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[
            tokenizer.convert_tokens_to_ids("<end_of_utterance>"),
            tokenizer.eos_token_id,
        ],
        pad_token_id=tokenizer.pad_token_id,
    )
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(card.format(seed=seed), encoding="utf-8")
    return output_dir


def image_processor_settings() -> dict[str, Any]:
    """Resizing and splitting of the tiny Idefics3-architecture checkpoints."""
    return {
        "size": {"longest_edge": IMAGE_LONGEST_EDGE},
        "max_image_size": {"longest_edge": CROP_SIZE},
        "do_image_splitting": True,
    }


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Idefics3 checkpoint to ``output_dir``; return it."""
    tokenizer = train_tokenizer(
        bos="<|begin_of_text|>",
        eos="<|end_of_text|>",
        add_bos=False,  # the chat template writes it
        extra_special_tokens=IMAGE_TOKENS,
    )
    processor = Idefics3Processor(
        Idefics3ImageProcessorPil(**image_processor_settings()),
        tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    card = (
        "# tiny-idefics3 (vlm-eval tests)\n\nA tiny Idefics3-architecture model with **random "
        "weights** (seed {seed}), built offline by `vlm_eval.demo.tiny.idefics3`. "
        f"{IMAGE_SEQ_LEN} visual tokens per {CROP_SIZE} px crop.\n"
    )
    return tiny_idefics3_like(
        output_dir,
        seed=seed,
        processor=processor,
        config_class=Idefics3Config,
        model_class=Idefics3ForConditionalGeneration,
        card=card,
    )
