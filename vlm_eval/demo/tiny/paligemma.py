"""Build a tiny, randomly initialised PaliGemma checkpoint (SigLIP vision tower + Gemma).

The folder it writes loads exactly like google/paligemma-3b-mix-224, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
"""

from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    PaliGemmaConfig,
    PaliGemmaForConditionalGeneration,
    PaliGemmaProcessor,
    SiglipImageProcessorPil,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

IMAGE_SIZE = 64
PATCH_SIZE = 16
# One visual token per SigLIP patch, no pooling: (64 / 16) ** 2 = 16 (256 for the 224 px models).
IMAGE_SEQ_LENGTH = (IMAGE_SIZE // PATCH_SIZE) ** 2
TEXT_HIDDEN_SIZE = 64


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
    return PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
            "vision_use_head": False,
        },
        text_config={
            "model_type": "gemma",
            "vocab_size": len(tokenizer),
            "hidden_size": TEXT_HIDDEN_SIZE,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "initializer_range": INITIALIZER_RANGE,
        },
        image_token_index=processor.image_token_id,
        vocab_size=len(tokenizer),
        projection_dim=TEXT_HIDDEN_SIZE,
        hidden_size=TEXT_HIDDEN_SIZE,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random PaliGemma checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for ``AutoProcessor`` / ``AutoModelForImageTextToText``.
    """
    output_dir = Path(output_dir)
    processor = _build_processor()
    tokenizer = processor.tokenizer
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(_build_config(processor)).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(_model_card(seed), encoding="utf-8")
    return output_dir


def _model_card(seed: int) -> str:
    """Return the checkpoint's model card."""
    return (
        "# tiny-paligemma (vlm-eval demo)\n\n"
        "A tiny PaliGemma-architecture model (SigLIP vision tower, Gemma decoder) with **random "
        f"weights** (seed {seed}), built offline by `vlm_eval.demo.tiny.paligemma` for the "
        "vlm-eval tests. Its answers are meaningless; it exists to exercise the full loading and "
        "generation path (`AutoProcessor` + `AutoModelForImageTextToText`) in seconds on a CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer, trained on a small embedded English "
        "corpus; special tokens as Gemma, plus the `<image>`, `<locXXXX>` and `<segXXX>` tokens "
        "`PaliGemmaProcessor` adds.\n"
        f"- Processor: `PaliGemmaProcessor`, images resized to {IMAGE_SIZE}x{IMAGE_SIZE} px, "
        f"{IMAGE_SEQ_LENGTH} `<image>` tokens per image (one per {PATCH_SIZE} px patch); no "
        "chat template: the text is a prefix, as for the published checkpoints.\n"
        "- Rebuild: `python -m vlm_eval.demo.tiny paligemma OUT_DIR`.\n"
    )
