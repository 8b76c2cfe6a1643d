"""Build the demo's default checkpoint: a tiny, randomly initialised Idefics2 model.

The folder it writes loads exactly like a user's checkpoint, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
Nothing is downloaded: the tokenizer is trained here on an embedded corpus.
"""

from pathlib import Path

import torch
from transformers import (
    GenerationConfig,
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2ImageProcessorPil,
    Idefics2Processor,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH, train_tokenizer

IMAGE_SEQ_LEN = 64
IMAGE_LONGEST_EDGE = 128
IMAGE_SHORTEST_EDGE = 64
PATCH_SIZE = 16

# The chat template shipped with HuggingFaceM4/idefics2-8b.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)


def _build_processor() -> Idefics2Processor:
    """Build the real Idefics2 processor around the trained tokenizer, sized small for speed."""
    image_processor = Idefics2ImageProcessorPil(
        size={"longest_edge": IMAGE_LONGEST_EDGE, "shortest_edge": IMAGE_SHORTEST_EDGE},
        do_image_splitting=False,
    )
    return Idefics2Processor(
        image_processor,
        train_tokenizer(),  # Mistral's special tokens, as Idefics2
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )


def _build_config(processor: Idefics2Processor) -> Idefics2Config:
    """Return a tiny Idefics2 config whose vocabulary covers the processor's added tokens."""
    tokenizer = processor.tokenizer
    return Idefics2Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_LONGEST_EDGE,
            "patch_size": PATCH_SIZE,
            "initializer_range": INITIALIZER_RANGE,
        },
        perceiver_config={
            "hidden_size": 64,
            "resampler_n_latents": IMAGE_SEQ_LEN,
            "resampler_depth": 2,
            "resampler_n_heads": 4,
            "resampler_head_dim": 16,
            "num_key_value_heads": 2,
            "initializer_range": INITIALIZER_RANGE,
        },
        text_config={
            "model_type": "mistral",
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
        },
        image_token_id=processor.image_token_id,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Idefics2 checkpoint (weights, config, processor) to ``output_dir``.

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
    model = Idefics2ForConditionalGeneration(_build_config(processor)).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[
            tokenizer.convert_tokens_to_ids("<end_of_utterance>"),
            tokenizer.eos_token_id,
        ],
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(output_dir)  # transformers 5 always writes safetensors
    processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(_model_card(seed), encoding="utf-8")
    return output_dir


def _model_card(seed: int) -> str:
    """Return the checkpoint's model card."""
    return (
        "# tiny-idefics2 (vlm-eval demo)\n\n"
        "A tiny Idefics2-architecture model with **random weights** "
        f"(seed {seed}), built offline by `vlm_eval.demo.tiny.idefics2` for the vlm-eval demo "
        "and tests. Its answers are meaningless; it exists to exercise the full loading and "
        "generation path (`AutoProcessor` + `AutoModelForImageTextToText`) in seconds on a CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer (as Mistral), trained on a small "
        "embedded English corpus; special tokens as Idefics2.\n"
        f"- Processor: `Idefics2Processor`, {IMAGE_SEQ_LEN} `<image>` tokens per image, "
        f"images resized to at most {IMAGE_LONGEST_EDGE} px, no image splitting.\n"
        "- Rebuild: `python -m vlm_eval.demo.tiny idefics2 OUT_DIR`.\n"
    )
