"""Build a tiny, randomly initialised Qwen2.5-VL checkpoint.

Same tokenizer, chat template and image processor as the tiny Qwen2-VL (the published
checkpoints share them, see ``vlm_eval.demo.tiny.qwen2_vl``); the vision encoder is Qwen2.5-VL's,
with window attention in all but its full-attention blocks. Nothing is downloaded.
"""

from pathlib import Path

import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE
from vlm_eval.demo.tiny.qwen2_vl import (
    MERGE_SIZE,
    PATCH_SIZE,
    TEXT_HIDDEN_SIZE,
    build_tokenizer,
    language_config,
    model_card,
    save,
)

# Window attention works on windows of this many pixels a side: 2x2 merged patches here, so that
# the tests' images span several windows (published: 112 px, 4x4 merged patches).
WINDOW_SIZE = 2 * PATCH_SIZE * MERGE_SIZE


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint (weights, config, processor) to ``output_dir``.

    Args:
        output_dir: Folder to write; created if missing, existing files are overwritten.
        seed: Seed for the random weights; the same seed gives identical weights.

    Returns:
        ``output_dir``, ready for the Qwen2-VL family's loader and
        ``AutoModelForImageTextToText``.
    """
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer()
    config = Qwen2_5_VLConfig(
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN_SIZE,
            "patch_size": PATCH_SIZE,
            "spatial_merge_size": MERGE_SIZE,
            "window_size": WINDOW_SIZE,
            "fullatt_block_indexes": [1],  # published: every 8th block, the others windowed
            "tokens_per_second": 2,  # as Qwen2.5-VL-3B
            "initializer_range": INITIALIZER_RANGE,
        },
        **language_config(tokenizer),
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32)
    return save(model, tokenizer, output_dir, model_card("qwen2_5_vl", "Qwen2.5-VL", seed))
