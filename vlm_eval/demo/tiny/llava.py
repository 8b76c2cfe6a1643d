"""Build a tiny, randomly initialised LLaVA-1.5 checkpoint (CLIP vision tower + Llama).

The folder it writes loads like llava-hf/llava-1.5-7b-hf, through ``AutoProcessor`` and
``AutoModelForImageTextToText.from_pretrained``. Nothing is downloaded: the tokenizer is trained
here on an embedded corpus. ``llava_next`` reuses the shared parts defined here.
"""

from pathlib import Path
from typing import Any

from transformers import (
    CLIPImageProcessorPil,
    ImageProcessingMixin,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import train_tokenizer

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


def build_processor(
    processor_class: type[ProcessorMixin], image_processor: ImageProcessingMixin, chat_template: str
) -> ProcessorMixin:
    """A llava-hf processor: ``image_processor``, the Llama-style tokenizer with ``<image>`` and
    ``<pad>`` added, and one ``<image>`` token per CLIP patch (the CLS token dropped)."""
    return processor_class(
        image_processor,
        train_tokenizer(pad="<pad>", extra_special_tokens=("<image>",)),
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token
        chat_template=chat_template,
    )


def build_model(
    model_class: type[PreTrainedModel],
    config_class: type[PretrainedConfig],
    processor: ProcessorMixin,
    *,
    image_size: int,
    language_model: str,
    seed: int,
    **config: Any,
) -> PreTrainedModel:
    """A tiny llava-hf model: a CLIP tower on ``image_size`` px crops whose second-to-last layer
    (CLS token dropped) feeds a ``language_model`` (``llama``, ``mistral``) over the processor's
    tokenizer; ``config`` adds fields of the architecture."""
    tokenizer = processor.tokenizer
    model_config = config_class(
        vision_config=_checkpoint.vision_config(
            image_size, PATCH_SIZE, model_type="clip_vision_model", projection_dim=32
        ),
        text_config=_checkpoint.text_config(tokenizer, language_model),
        image_token_index=processor.image_token_id,
        image_seq_length=(image_size // PATCH_SIZE) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        **config,
    )
    model = _checkpoint.seeded_model(model_class, model_config, seed)
    # The llava-hf checkpoints stop at </s> and pad with <pad>.
    model.generation_config = _checkpoint.generation_config(tokenizer)
    return model


def model_card(
    module: str, architecture: str, seed: int, language_model: str, processor: str
) -> str:
    """The model card of the tiny ``architecture`` checkpoint built by ``module``."""
    return _checkpoint.model_card(
        module,
        architecture,
        seed,
        tokenizer=f"special tokens as {language_model}, `<image>` and `<pad>` added as in the "
        "llava-hf checkpoints.",
        processor=f"{processor}; the llava-hf chat template.",
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random LLaVA-1.5 checkpoint to ``output_dir``; return it."""
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = build_processor(LlavaProcessor, image_processor, CHAT_TEMPLATE)
    model = build_model(
        LlavaForConditionalGeneration,
        LlavaConfig,
        processor,
        image_size=IMAGE_SIZE,
        language_model="llama",
        seed=seed,
    )
    description = (
        f"`LlavaProcessor` with the slow `CLIPImageProcessor`: images resized and center-cropped "
        f"to {IMAGE_SIZE} px, {PATCH_SIZE} px patches, {IMAGE_SEQ_LEN} `<image>` tokens per image"
    )
    return _checkpoint.save(
        output_dir,
        model,
        processor,
        card=model_card("llava", "LLaVA-1.5", seed, "Llama", description),
    )
