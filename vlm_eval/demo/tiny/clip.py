"""Build a tiny, randomly initialised CLIP checkpoint: the image encoder of RICES few-shot
selection (``--fewshot-selection rices``), not a vision-language model.

The folder it writes loads like openai/clip-vit-base-patch32 through ``AutoModel`` and
``AutoImageProcessor`` (no tokenizer: RICES embeds images only). With random weights, identical
images still get identical embeddings and nearly identical images nearly identical ones, which
is what the tests of RICES rely on.
"""

from pathlib import Path

from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

from vlm_eval.demo.tiny import _checkpoint

IMAGE_SIZE = 32
PATCH_SIZE = 8
PROJECTION_DIM = 16
TEXT_VOCAB_SIZE = 64
"""The text tower CLIPModel needs: tiny, and never used (no tokenizer is saved)."""

MODEL_KIND = "image-encoder"
"""Left out of ``tiny_builders()``, which lists the vision-language models."""


def build(output_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random CLIP checkpoint (model and image processor) to ``output_dir``."""
    config = CLIPConfig(
        text_config=_checkpoint.encoder_config(
            vocab_size=TEXT_VOCAB_SIZE,
            max_position_embeddings=16,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        ),
        vision_config=_checkpoint.vision_config(IMAGE_SIZE, PATCH_SIZE),
        projection_dim=PROJECTION_DIM,
    )
    model = _checkpoint.seeded_model(CLIPModel, config, seed)
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    card = (
        "# tiny-clip (vlm-eval demo)\n\n"
        f"A tiny CLIP-architecture model with **random weights** (seed {seed}), built offline by "
        "`vlm_eval.demo.tiny.clip` for the tests of RICES few-shot selection. Its embeddings "
        "mean nothing beyond this: identical images get identical ones.\n\n"
        f"- Image processor: `CLIPImageProcessor`, images resized and cropped to {IMAGE_SIZE}x"
        f"{IMAGE_SIZE} px; no tokenizer.\n"
        "- Rebuild: `python -m vlm_eval.demo.tiny clip OUT_DIR`.\n"
    )
    return _checkpoint.save(output_dir, model, processor, card=card)
