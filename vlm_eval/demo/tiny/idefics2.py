"""Build the demo's default checkpoint: a tiny, randomly initialised Idefics2 model.

The folder it writes loads exactly like a user's checkpoint, through
``AutoProcessor.from_pretrained`` and ``AutoModelForImageTextToText.from_pretrained``.
Nothing is downloaded: the tokenizer is trained here on an embedded corpus.
"""

from pathlib import Path

from transformers import (
    Idefics2Config,
    Idefics2ForConditionalGeneration,
    Idefics2ImageProcessorPil,
    Idefics2Processor,
)

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, train_tokenizer

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
    return Idefics2Config(
        vision_config=_checkpoint.vision_config(IMAGE_LONGEST_EDGE, PATCH_SIZE),
        perceiver_config={
            "hidden_size": 64,
            "resampler_n_latents": IMAGE_SEQ_LEN,
            "resampler_depth": 2,
            "resampler_n_heads": 4,
            "resampler_head_dim": 16,
            "num_key_value_heads": 2,
            "initializer_range": INITIALIZER_RANGE,
        },
        text_config=_checkpoint.text_config(processor.tokenizer, "mistral"),
        image_token_id=processor.image_token_id,
    )


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Idefics2 checkpoint to ``output_dir``; return it."""
    processor = _build_processor()
    tokenizer = processor.tokenizer
    model = _checkpoint.seeded_model(
        Idefics2ForConditionalGeneration, _build_config(processor), seed
    )
    model.generation_config = _checkpoint.generation_config(
        tokenizer, "<end_of_utterance>", tokenizer.eos_token
    )
    card = _checkpoint.model_card(
        "idefics2",
        "Idefics2",
        seed,
        tokenizer="special tokens as Idefics2 (Mistral's).",
        processor=f"`Idefics2Processor`, {IMAGE_SEQ_LEN} `<image>` tokens per image, images "
        f"resized to at most {IMAGE_LONGEST_EDGE} px, no image splitting.",
    )
    return _checkpoint.save(output_dir, model, processor, card=card)
