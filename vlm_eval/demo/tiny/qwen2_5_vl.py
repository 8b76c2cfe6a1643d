"""Build a tiny, randomly initialised Qwen2.5-VL checkpoint.

Same tokenizer, chat template and image processor as the tiny Qwen2-VL (the published
checkpoints share them, see ``vlm_eval.demo.tiny.qwen2_vl``); the vision encoder is Qwen2.5-VL's,
with window attention in all but its full-attention blocks. Nothing is downloaded.
"""

from pathlib import Path

from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from vlm_eval.demo.tiny import _checkpoint
from vlm_eval.demo.tiny._text import INITIALIZER_RANGE
from vlm_eval.demo.tiny.qwen2_vl import MERGE_SIZE, PATCH_SIZE, tiny_qwen2_vl_like

# Window attention works on windows of this many pixels a side: 2x2 merged patches here, so that
# the tests' images span several windows (published: 112 px, 4x4 merged patches).
WINDOW_SIZE = 2 * PATCH_SIZE * MERGE_SIZE


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random Qwen2.5-VL checkpoint to ``output_dir``; return it (it loads through
    the Qwen2-VL family's loader and ``AutoModelForImageTextToText``)."""
    vision_config = {
        "depth": 2,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_heads": 2,
        "out_hidden_size": _checkpoint.TEXT_HIDDEN_SIZE,
        "patch_size": PATCH_SIZE,
        "spatial_merge_size": MERGE_SIZE,
        "window_size": WINDOW_SIZE,
        "fullatt_block_indexes": [1],  # published: every 8th block, the others windowed
        "tokens_per_second": 2,  # as Qwen2.5-VL-3B
        "initializer_range": INITIALIZER_RANGE,
    }
    return tiny_qwen2_vl_like(
        output_dir,
        seed=seed,
        config_class=Qwen2_5_VLConfig,
        model_class=Qwen2_5_VLForConditionalGeneration,
        vision_config=vision_config,
        module="qwen2_5_vl",
        architecture="Qwen2.5-VL",
    )
