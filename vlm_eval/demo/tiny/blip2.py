"""Build a tiny, randomly initialised BLIP-2 checkpoint (ViT, Q-Former, OPT decoder).

The folder it writes loads exactly like Salesforce/blip2-opt-2.7b, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
"""

from pathlib import Path

import torch
from transformers import (
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    BlipImageProcessorPil,
    GenerationConfig,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

IMAGE_SIZE = 64
PATCH_SIZE = 16
# The Q-Former's learned queries, one visual token each whatever the image (32 in BLIP-2).
NUM_QUERY_TOKENS = 8
VISION_HIDDEN_SIZE = 32


def _build_processor() -> Blip2Processor:
    """Build the real BLIP-2 processor (it adds ``<image>`` to the tokenizer and puts
    ``num_query_tokens`` of them before the text) around a tokenizer with OPT's special tokens
    (``</s>`` starts every text, as OPT's BOS)."""
    return Blip2Processor(
        BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        train_tokenizer(bos="</s>", eos="</s>", unk="<unk>", pad="<pad>"),
        num_query_tokens=NUM_QUERY_TOKENS,
    )


def _build_config(processor: Blip2Processor, newline_id: int) -> Blip2Config:
    """Return a tiny BLIP-2 config whose vocabulary covers the processor's added token."""
    tokenizer = processor.tokenizer
    return Blip2Config(
        vision_config={
            "hidden_size": VISION_HIDDEN_SIZE,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
            "initializer_range": INITIALIZER_RANGE,
        },
        qformer_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "cross_attention_frequency": 1,
            "encoder_hidden_size": VISION_HIDDEN_SIZE,
            "initializer_range": INITIALIZER_RANGE,
        },
        text_config={
            "model_type": "opt",
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "ffn_dim": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": MAX_LENGTH,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            # As the published checkpoints: answers end at the first newline.
            "eos_token_id": newline_id,
            "init_std": INITIALIZER_RANGE,
        },
        num_query_tokens=NUM_QUERY_TOKENS,
        image_token_index=tokenizer.convert_tokens_to_ids(processor.image_token.content),
        initializer_range=INITIALIZER_RANGE,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random BLIP-2 checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for ``AutoProcessor`` / ``AutoModelForImageTextToText``.
    """
    output_dir = Path(output_dir)
    processor = _build_processor()
    tokenizer = processor.tokenizer
    newline_id = tokenizer.convert_tokens_to_ids("\n")
    torch.manual_seed(seed)
    model = Blip2ForConditionalGeneration(_build_config(processor, newline_id)).to(torch.float32)
    # BLIP-2 starts its queries at zero, which would make every visual token of an image equal.
    torch.nn.init.normal_(model.query_tokens, std=INITIALIZER_RANGE)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=newline_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(_model_card(seed), encoding="utf-8")
    return output_dir


def _model_card(seed: int) -> str:
    """Return the checkpoint's model card."""
    return (
        "# tiny-blip2 (vlm-eval demo)\n\n"
        "A tiny BLIP-2-architecture model (ViT, Q-Former, OPT decoder) with **random weights** "
        f"(seed {seed}), built offline by `vlm_eval.demo.tiny.blip2` for the vlm-eval tests. "
        "Its answers are meaningless; it exists to exercise the full loading and generation "
        "path (`AutoProcessor` + `AutoModelForImageTextToText`) in seconds on a CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer, trained on a small embedded English "
        "corpus; special tokens as OPT (`</s>` starts every text), plus the `<image>` token "
        "`Blip2Processor` adds. Generation stops at a newline, as for Salesforce/blip2-opt-2.7b.\n"
        f"- Processor: `Blip2Processor`, images resized to {IMAGE_SIZE}x{IMAGE_SIZE} px, "
        f"{NUM_QUERY_TOKENS} `<image>` tokens per image (the Q-Former's queries); no chat "
        "template.\n"
        "- Rebuild: `python -m vlm_eval.demo.tiny blip2 OUT_DIR`.\n"
    )
