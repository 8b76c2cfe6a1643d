"""Build a tiny, randomly initialised BLIP-2 checkpoint with a Flan-T5 encoder-decoder.

The folder it writes loads exactly like Salesforce/blip2-flan-t5-xl, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``: the
Q-Former's queries and the prompt go to the T5 encoder, the answer comes from its decoder.
"""

from pathlib import Path

import torch
from tokenizers import processors

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._checkpoint import TEXT_HIDDEN_SIZE
from vlm_eval.demo.tiny._text import train_tokenizer
from vlm_eval.demo.tiny.blip2 import PROCESSOR_CARD, build_model, build_processor


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random BLIP-2 (Flan-T5) checkpoint to ``output_dir``; return it."""
    # T5's special tokens: no BOS, ``</s>`` ends every text, ``<pad>`` starts the decoder.
    tokenizer = train_tokenizer(bos="</s>", eos="</s>", unk="<unk>", pad="<pad>", add_bos=False)
    eos = tokenizer.eos_token_id
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    processor = build_processor(tokenizer)
    tokenizer = processor.tokenizer
    t5 = {
        "model_type": "t5",
        "vocab_size": len(tokenizer),
        "d_model": TEXT_HIDDEN_SIZE,
        "d_kv": TEXT_HIDDEN_SIZE // 4,
        "d_ff": 2 * TEXT_HIDDEN_SIZE,
        "num_layers": 2,
        "num_decoder_layers": 2,
        "num_heads": 4,
        "feed_forward_proj": "gated-gelu",  # as Flan-T5 (T5 v1.1)
        "tie_word_embeddings": False,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": eos,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }
    model = build_model(processor, t5, seed)
    model.generation_config = _checkpoint.generation_config(tokenizer)
    model.generation_config.decoder_start_token_id = tokenizer.pad_token_id
    # A trained T5 never generates its padding token (the decoder's start); random weights would:
    # a zero output embedding keeps its logit at 0, below the best of the other tokens'.
    with torch.no_grad():
        model.language_model.lm_head.weight[tokenizer.pad_token_id] = 0.0
    card = _checkpoint.model_card(
        "blip2_flan_t5",
        "BLIP-2",
        seed,
        components="ViT, Q-Former, Flan-T5 encoder-decoder",
        tokenizer="special tokens as T5 (no BOS, `</s>` ends every text, `<pad>` starts the "
        "decoder), plus the `<image>` token `Blip2Processor` adds.",
        processor=PROCESSOR_CARD,
    )
    return _checkpoint.save(output_dir, model, processor, card=card)
