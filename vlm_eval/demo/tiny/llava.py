"""Build a tiny, randomly initialised LLaVA-1.5 checkpoint (CLIP vision tower + Llama).

The folder it writes loads like llava-hf/llava-1.5-7b-hf, through ``AutoProcessor`` and
``AutoModelForImageTextToText.from_pretrained``. Nothing is downloaded: the tokenizer is trained
here on an embedded corpus. ``llava_next`` reuses the shared parts defined here.
"""

from pathlib import Path
from typing import Any

import torch
from transformers import (
    CLIPImageProcessorPil,
    GenerationConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerBase,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

IMAGE_SIZE = 64
PATCH_SIZE = 8
# "default" drops the CLS token: (64 / 8) ** 2 = 64 visual tokens per image.
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2

# The chat template shipped with llava-hf/llava-1.5-7b-hf (chat_template.json).
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerBase:
    """The Llama-style tokenizer of the llava-hf checkpoints: ``<image>`` and ``<pad>`` added."""
    return train_tokenizer(pad="<pad>", extra_special_tokens=("<image>",))


def vision_config(image_size: int) -> dict[str, Any]:
    """A tiny CLIP vision tower taking ``image_size`` px crops in ``PATCH_SIZE`` px patches."""
    return {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": image_size,
        "patch_size": PATCH_SIZE,
        "projection_dim": 32,
        "initializer_range": INITIALIZER_RANGE,
    }


def text_config(model_type: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """A tiny ``model_type`` (``llama`` or ``mistral``) language model over ``tokenizer``."""
    return {
        "model_type": model_type,
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": MAX_LENGTH,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "initializer_range": INITIALIZER_RANGE,
    }


def generation_config(tokenizer: PreTrainedTokenizerBase) -> GenerationConfig:
    """The llava-hf checkpoints' generation defaults: stop at ``</s>``, pad with ``<pad>``."""
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _build_processor() -> LlavaProcessor:
    """The real LLaVA processor (CLIP resize + center crop) around the trained tokenizer."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    return LlavaProcessor(
        image_processor,
        build_tokenizer(),
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token
        chat_template=CHAT_TEMPLATE,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-1.5 checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for ``AutoProcessor`` / ``AutoModelForImageTextToText``.
    """
    processor = _build_processor()
    tokenizer = processor.tokenizer
    config = LlavaConfig(
        vision_config=vision_config(IMAGE_SIZE),
        text_config=text_config("llama", tokenizer),
        image_token_index=processor.image_token_id,
        image_seq_length=IMAGE_SEQ_LEN,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).to(torch.float32)
    model.generation_config = generation_config(tokenizer)
    return save(
        model,
        processor,
        Path(output_dir),
        model_card(
            "llava",
            "LLaVA-1.5",
            seed,
            "Llama",
            f"`LlavaProcessor` with the slow `CLIPImageProcessor`: images resized and "
            f"center-cropped to {IMAGE_SIZE} px, {PATCH_SIZE} px patches, "
            f"{IMAGE_SEQ_LEN} `<image>` tokens per image",
        ),
    )


def save(model: torch.nn.Module, processor: Any, output_dir: Path, card: str) -> Path:
    """Save ``model``, ``processor`` and the model ``card`` to ``output_dir``; return it."""
    model.save_pretrained(output_dir)  # transformers 5 always writes safetensors
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(card, encoding="utf-8")
    return output_dir


def model_card(
    module: str, architecture: str, seed: int, language_model: str, processor: str
) -> str:
    """The model card of the tiny ``architecture`` checkpoint built by ``module``."""
    return (
        f"# tiny-{module.replace('_', '-')} (vlm-eval demo)\n\n"
        f"A tiny {architecture}-architecture model with **random weights** (seed {seed}), built "
        f"offline by `vlm_eval.demo.tiny.{module}` for the vlm-eval tests. Its answers are "
        "meaningless; it exists to exercise the full loading and generation path "
        "(`AutoProcessor` + `AutoModelForImageTextToText`) in seconds on a CPU.\n\n"
        f"- Tokenizer: BPE with a Metaspace pre-tokenizer (as {language_model}), trained on a "
        "small embedded English corpus; `<image>` and `<pad>` added as in the llava-hf "
        "checkpoints.\n"
        f"- Processor: {processor}; the llava-hf chat template.\n"
        f"- Rebuild: `python -m vlm_eval.demo.tiny {module} OUT_DIR`.\n"
    )
