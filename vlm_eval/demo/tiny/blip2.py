"""Build a tiny, randomly initialised BLIP-2 checkpoint (ViT, Q-Former, OPT decoder).

The folder it writes loads exactly like Salesforce/blip2-opt-2.7b, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
``blip2_flan_t5`` builds the Flan-T5 variant from the same parts.
"""

from pathlib import Path
from typing import Any

import torch
from transformers import (
    Blip2Config,
    Blip2ForConditionalGeneration,
    Blip2Processor,
    BlipImageProcessorPil,
    PreTrainedTokenizerFast,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, train_tokenizer

IMAGE_SIZE = 64
PATCH_SIZE = 16
# The Q-Former's learned queries, one visual token each whatever the image (32 in BLIP-2).
NUM_QUERY_TOKENS = 8
PROCESSOR_CARD = (
    f"`Blip2Processor`, images resized to {IMAGE_SIZE}x{IMAGE_SIZE} px, {NUM_QUERY_TOKENS} "
    "`<image>` tokens per image (the Q-Former's queries); no chat template."
)
"""The model card's sentence on the processor, shared by both BLIP-2 builders."""


def build_processor(tokenizer: PreTrainedTokenizerFast) -> Blip2Processor:
    """The real BLIP-2 processor (it adds ``<image>`` to the tokenizer and puts
    ``num_query_tokens`` of them before the text) around ``tokenizer``."""
    return Blip2Processor(
        BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}),
        tokenizer,
        num_query_tokens=NUM_QUERY_TOKENS,
    )


def build_model(processor: Blip2Processor, text_config: dict[str, Any], seed: int) -> Any:
    """A tiny random BLIP-2 over ``text_config``, whose vocabulary covers the processor's
    added token."""
    vision = _checkpoint.vision_config(IMAGE_SIZE, PATCH_SIZE)
    config = Blip2Config(
        vision_config=vision,
        qformer_config=_checkpoint.encoder_config(
            cross_attention_frequency=1, encoder_hidden_size=vision["hidden_size"]
        ),
        text_config=text_config,
        num_query_tokens=NUM_QUERY_TOKENS,
        image_token_index=processor.tokenizer.convert_tokens_to_ids(processor.image_token.content),
        initializer_range=INITIALIZER_RANGE,
    )
    model = _checkpoint.seeded_model(Blip2ForConditionalGeneration, config, seed)
    # BLIP-2 starts its queries at zero, which would make every visual token of an image equal.
    torch.nn.init.normal_(model.query_tokens, std=INITIALIZER_RANGE)
    return model


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random BLIP-2 (OPT) checkpoint to ``output_dir``; return it."""
    # OPT's special tokens: ``</s>`` starts every text, as OPT's BOS.
    processor = build_processor(train_tokenizer(bos="</s>", eos="</s>", unk="<unk>", pad="<pad>"))
    tokenizer = processor.tokenizer
    # As the published checkpoints: answers end at the first newline.
    opt = _checkpoint.text_config(
        tokenizer, "opt", eos_token_id=tokenizer.convert_tokens_to_ids("\n")
    )
    del opt["num_key_value_heads"]  # OPT has plain multi-head attention
    opt["ffn_dim"] = opt.pop("intermediate_size")  # OPT's names for these two
    opt["init_std"] = opt.pop("initializer_range")
    model = build_model(processor, opt, seed)
    model.generation_config = _checkpoint.generation_config(tokenizer, "\n")
    card = _checkpoint.model_card(
        "blip2",
        "BLIP-2",
        seed,
        components="ViT, Q-Former, OPT decoder",
        tokenizer="special tokens as OPT (`</s>` starts every text), plus the `<image>` token "
        "`Blip2Processor` adds. Generation stops at a newline, as for Salesforce/blip2-opt-2.7b.",
        processor=PROCESSOR_CARD,
    )
    return _checkpoint.save(output_dir, model, processor, card=card)
