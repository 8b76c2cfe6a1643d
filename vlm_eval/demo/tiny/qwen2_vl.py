"""Build a tiny, randomly initialised Qwen2-VL checkpoint.

The folder it writes has the files of Qwen/Qwen2-VL-2B-Instruct and loads through the Qwen2-VL
family's processor loader (image-only: no torchvision here) and ``AutoModelForImageTextToText``.
Nothing is downloaded: the tokenizer is trained here on an embedded corpus. ``qwen2_5_vl``
reuses the shared parts defined here.
"""

from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

PATCH_SIZE = 14
MERGE_SIZE = 2
MIN_PIXELS = 56 * 56  # the published default
MAX_PIXELS = 224 * 224  # at most 64 visual tokens per image (published: 28 * 28 * 16384)
TEXT_HIDDEN_SIZE = 64
# M-RoPE splits each head's rotary frequencies between time, height and width; they must add up
# to head_dim / 2 = 8 (published: [16, 24, 24] for head_dim 128).
MROPE_SECTION = [2, 3, 3]

# The chat template of Qwen/Qwen2-VL-2B-Instruct (chat_template.json); Qwen2.5-VL-3B-Instruct
# ships the same text.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen2's special tokens after <|endoftext|> and <|im_end|>, in the published order.
_SPECIAL_TOKENS = (
    "<|im_start|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


def build_tokenizer() -> PreTrainedTokenizerBase:
    """Return the trained tokenizer with Qwen2's special tokens and the chat template.

    Qwen2 adds no BOS token; ``<|endoftext|>`` is its padding token and the configs' BOS id, and
    stands in for the unknown token it never needs (it is byte-level).
    """
    tokenizer = train_tokenizer(
        bos="<|endoftext|>",
        eos="<|im_end|>",
        unk="<|endoftext|>",
        pad="<|endoftext|>",
        add_bos=False,
        extra_special_tokens=_SPECIAL_TOKENS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE  # saved as chat_template.jinja; processors read it
    return tokenizer


def language_config(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The config arguments shared by Qwen2-VL and Qwen2.5-VL: the tiny Qwen2 language model,
    tied embeddings (as the 2B and 3B checkpoints) and the vision token ids."""
    ids = tokenizer.convert_tokens_to_ids
    return {
        "text_config": {
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN_SIZE,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": MAX_LENGTH,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": MROPE_SECTION,
            },
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
            "initializer_range": INITIALIZER_RANGE,
        },
        "tie_word_embeddings": True,
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


def save(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, output_dir: Path, card: str
) -> Path:
    """Write ``model`` with Qwen's generation config, the tokenizer, the image processor and the
    model card ``card`` to ``output_dir``, in the published checkpoints' layout; return it."""
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.pad_token_id],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(output_dir)  # transformers 5 always writes safetensors
    tokenizer.save_pretrained(output_dir)
    # preprocessor_config.json alone, as published: where torchvision is installed, AutoProcessor
    # also builds the video processor from it (a processor_config.json would need its settings).
    Qwen2VLImageProcessorPil(
        min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH_SIZE, merge_size=MERGE_SIZE
    ).save_pretrained(output_dir)
    (output_dir / "README.md").write_text(card, encoding="utf-8")
    return output_dir


def model_card(arch: str, architecture: str, seed: int) -> str:
    """Return the model card of the tiny ``architecture`` checkpoint built by module ``arch``."""
    return (
        f"# tiny-{arch} (vlm-eval demo)\n\n"
        f"A tiny {architecture}-architecture model with **random weights** (seed {seed}), built "
        f"offline by `vlm_eval.demo.tiny.{arch}` for the vlm-eval demo and tests. Its answers are "
        "meaningless; it exists to exercise the full loading and generation path in seconds on a "
        "CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer, trained on a small embedded English "
        "corpus; Qwen2's special tokens and the published chat template.\n"
        f"- Processor: `Qwen2VLImageProcessor`, {PATCH_SIZE} px patches merged "
        f"{MERGE_SIZE}x{MERGE_SIZE}: one `<|image_pad|>` token per {PATCH_SIZE * MERGE_SIZE}x"
        f"{PATCH_SIZE * MERGE_SIZE} pixels, the image area resized into [{MIN_PIXELS}, "
        f"{MAX_PIXELS}] pixels.\n"
        f"- Rebuild: `python -m vlm_eval.demo.tiny {arch} OUT_DIR`.\n"
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2-VL checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for the Qwen2-VL family's loader and
        ``AutoModelForImageTextToText``.
    """
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer()
    config = Qwen2VLConfig(
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "mlp_ratio": 2,
            "num_heads": 2,
            "hidden_size": TEXT_HIDDEN_SIZE,  # of the merger's output: the language model's
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": MERGE_SIZE,
            "initializer_range": INITIALIZER_RANGE,
        },
        **language_config(tokenizer),
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32)
    return save(model, tokenizer, output_dir, model_card("qwen2_vl", "Qwen2-VL", seed))
