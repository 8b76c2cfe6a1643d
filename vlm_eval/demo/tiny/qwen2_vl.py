"""Build a tiny, randomly initialised Qwen2-VL checkpoint.

The folder it writes has the files of Qwen/Qwen2-VL-2B-Instruct and loads through the Qwen2-VL
family's processor loader (image-only: no torchvision here) and ``AutoModelForImageTextToText``.
Nothing is downloaded: the tokenizer is trained here on an embedded corpus. ``qwen2_5_vl``
reuses the shared parts defined here.
"""

from pathlib import Path
from typing import Any

from transformers import (
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessorPil,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, train_tokenizer

PATCH_SIZE = 14
MERGE_SIZE = 2
MIN_PIXELS = 56 * 56  # the published default
MAX_PIXELS = 224 * 224  # at most 64 visual tokens per image (published: 28 * 28 * 16384)
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


def tiny_qwen2_vl_like(
    output_dir: Path,
    *,
    seed: int,
    config_class: type[PretrainedConfig],
    model_class: type[PreTrainedModel],
    vision_config: dict[str, Any],
    module: str,
    architecture: str,
) -> Path:
    """Write a tiny Qwen2-VL-architecture checkpoint (Qwen2-VL or Qwen2.5-VL, by its vision
    encoder ``vision_config``) to ``output_dir``, documented as ``architecture`` built by
    ``module``, in the published checkpoints' layout; return it.

    Shared by both: the tokenizer, the tiny Qwen2 language model with M-RoPE, tied embeddings
    (as the 2B and 3B checkpoints), generation stopping at ``<|im_end|>`` or ``<|endoftext|>``
    and the image processor.
    """
    tokenizer = build_tokenizer()
    ids = tokenizer.convert_tokens_to_ids
    config = config_class(
        vision_config=vision_config,
        text_config=_checkpoint.text_config(
            tokenizer,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": MROPE_SECTION,
            },
        ),
        tie_word_embeddings=True,
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
    )
    model = _checkpoint.seeded_model(model_class, config, seed)
    model.generation_config = _checkpoint.generation_config(
        tokenizer, tokenizer.eos_token, tokenizer.pad_token
    )
    # preprocessor_config.json alone, as published: where torchvision is installed, AutoProcessor
    # also builds the video processor from it (a processor_config.json would need its settings).
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=PATCH_SIZE, merge_size=MERGE_SIZE
    )
    card = _checkpoint.model_card(
        module,
        architecture,
        seed,
        tokenizer="Qwen2's special tokens and the published chat template.",
        processor=f"`Qwen2VLImageProcessor`, {PATCH_SIZE} px patches merged "
        f"{MERGE_SIZE}x{MERGE_SIZE}: one `<|image_pad|>` token per {PATCH_SIZE * MERGE_SIZE}x"
        f"{PATCH_SIZE * MERGE_SIZE} pixels, the image area resized into [{MIN_PIXELS}, "
        f"{MAX_PIXELS}] pixels.",
    )
    return _checkpoint.save(output_dir, model, tokenizer, image_processor, card=card)


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2-VL checkpoint to ``output_dir``; return it (it loads through the
    Qwen2-VL family's loader and ``AutoModelForImageTextToText``)."""
    vision_config = {
        "depth": 2,
        "embed_dim": 32,
        "mlp_ratio": 2,
        "num_heads": 2,
        "hidden_size": _checkpoint.TEXT_HIDDEN_SIZE,  # of the merger's output: the language model's
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "initializer_range": INITIALIZER_RANGE,
    }
    return tiny_qwen2_vl_like(
        output_dir,
        seed=seed,
        config_class=Qwen2VLConfig,
        model_class=Qwen2VLForConditionalGeneration,
        vision_config=vision_config,
        module="qwen2_vl",
        architecture="Qwen2-VL",
    )
