"""Build a tiny, randomly initialised PaliGemma checkpoint (SigLIP vision tower + Gemma).

The folder it writes loads exactly like google/paligemma-3b-mix-224, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
"""

from pathlib import Path

from transformers import (
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    SiglipImageProcessorPil,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import train_tokenizer

IMAGE_SIZE = 64
PATCH_SIZE = 16
# One visual token per SigLIP patch, no pooling: (64 / 16) ** 2 = 16 (256 for the 224 px models).
IMAGE_SEQ_LENGTH = (IMAGE_SIZE // PATCH_SIZE) ** 2


def _build_processor() -> PaliGemmaProcessor:
    """Build the real PaliGemma processor (it adds ``<image>`` and the location and
    segmentation tokens to the tokenizer) around a tokenizer with Gemma's special tokens."""
    image_processor = SiglipImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_seq_length=IMAGE_SEQ_LENGTH
    )
    tokenizer = train_tokenizer(bos="<bos>", eos="<eos>", unk="<unk>", pad="<pad>")
    return PaliGemmaProcessor(image_processor, tokenizer)


def _build_config(processor: PaliGemmaProcessor) -> PaliGemmaConfig:
    """Return a tiny PaliGemma config whose vocabulary covers the processor's added tokens."""
    tokenizer = processor.tokenizer
    vision = _checkpoint.vision_config(
        IMAGE_SIZE, PATCH_SIZE, model_type="siglip_vision_model", vision_use_head=False
    )
    del vision["initializer_range"]  # SigLIP initialises by fixed rules; its config has none
    return PaliGemmaConfig(
        vision_config=vision,
        # Gemma's multi-query attention; 4 heads of 16 make the hidden size.
        text_config=_checkpoint.text_config(tokenizer, "gemma", num_key_value_heads=1, head_dim=16),
        image_token_index=processor.image_token_id,
        vocab_size=len(tokenizer),
        projection_dim=_checkpoint.TEXT_HIDDEN_SIZE,
        hidden_size=_checkpoint.TEXT_HIDDEN_SIZE,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random PaliGemma checkpoint to ``output_dir``; return it."""
    processor = _build_processor()
    model = _checkpoint.seeded_model(
        PaliGemmaForConditionalGeneration, _build_config(processor), seed
    )
    model.generation_config = _checkpoint.generation_config(processor.tokenizer)
    card = _checkpoint.model_card(
        "paligemma",
        "PaliGemma",
        seed,
        components="SigLIP vision tower, Gemma decoder",
        tokenizer="special tokens as Gemma, plus the `<image>`, `<locXXXX>` and `<segXXX>` "
        "tokens `PaliGemmaProcessor` adds.",
        processor=f"`PaliGemmaProcessor`, images resized to {IMAGE_SIZE}x{IMAGE_SIZE} px, "
        f"{IMAGE_SEQ_LENGTH} `<image>` tokens per image (one per {PATCH_SIZE} px patch); no chat "
        "template: the text is a prefix, as for the published checkpoints.",
    )
    return _checkpoint.save(output_dir, model, processor, card=card)
