"""The parts every tiny checkpoint builder shares: the sizes of the tiny text model and vision
tower, the generation defaults, the seeded model construction and the save step.

A builder module keeps only what is specific to its architecture (tokenizer, processor, the
config fields of its family) and assembles it with these helpers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import torch
from transformers import (
    GenerationConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from vlm_eval.demo.tiny._text import INITIALIZER_RANGE, MAX_LENGTH

TEXT_HIDDEN_SIZE = 64


class _Saveable(Protocol):
    """Anything saved with ``save_pretrained`` (processor, tokenizer, image processor)."""

    def save_pretrained(self, save_directory: Path) -> Any: ...


def text_config(
    tokenizer: PreTrainedTokenizerBase, model_type: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """The tiny language model over ``tokenizer``: 64 hidden, 128 intermediate, 2 layers, 4 heads
    (2 key/value heads), ``MAX_LENGTH`` positions, the tokenizer's vocabulary and special ids.

    Args:
        tokenizer: Its length is the vocabulary size (added tokens included).
        model_type: The decoder's ``model_type`` (``llama``, ``mistral``, ...); left out if not
            given, for composite configs that know their text model.
        overrides: Fields to add or replace (``head_dim``, ``rope_parameters``, ...).
    """
    config = {"model_type": model_type} if model_type else {}
    return config | {
        "vocab_size": len(tokenizer),
        "hidden_size": TEXT_HIDDEN_SIZE,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": MAX_LENGTH,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "initializer_range": INITIALIZER_RANGE,
        **overrides,
    }


def encoder_config(**overrides: Any) -> dict[str, Any]:
    """A tiny transformer encoder (vision tower, Q-Former): 32 hidden, 64 intermediate, 2 layers,
    2 heads; ``overrides`` add or replace fields."""
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "initializer_range": INITIALIZER_RANGE,
        **overrides,
    }


def vision_config(image_size: int, patch_size: int, **overrides: Any) -> dict[str, Any]:
    """A tiny ViT-style vision tower (``encoder_config``) on ``image_size`` px images cut into
    ``patch_size`` px patches; ``overrides`` add or replace fields (``model_type``, ...)."""
    return encoder_config(image_size=image_size, patch_size=patch_size, **overrides)


def generation_config(tokenizer: PreTrainedTokenizerBase, *stop_tokens: str) -> GenerationConfig:
    """Generation defaults over ``tokenizer``: its BOS and padding ids, and generation stopping
    at ``stop_tokens`` (one id, or a list of several), the tokenizer's EOS if none are given."""
    stop_ids = [tokenizer.convert_tokens_to_ids(token) for token in stop_tokens]
    stop_ids = stop_ids or [tokenizer.eos_token_id]
    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids[0] if len(stop_ids) == 1 else stop_ids,
        pad_token_id=tokenizer.pad_token_id,
    )


def seeded_model(
    model_class: type[PreTrainedModel], config: PretrainedConfig, seed: int
) -> PreTrainedModel:
    """``model_class(config)`` in float32 with random weights drawn after seeding with ``seed``,
    so that the same seed gives identical weights."""
    torch.manual_seed(seed)
    return model_class(config).to(torch.float32)


def save(output_dir: Path, model: PreTrainedModel, *processors: _Saveable, card: str) -> Path:
    """Write ``model``, each of ``processors`` and the model ``card`` (README.md) to
    ``output_dir`` (created if missing, existing files overwritten); return it.

    ``processors`` is usually the one processor; a checkpoint with the published Qwen2-VL layout
    saves its tokenizer and image processor separately instead.
    """
    output_dir = Path(output_dir)
    model.save_pretrained(output_dir)  # transformers 5 always writes safetensors
    for processor in processors:
        processor.save_pretrained(output_dir)
    (output_dir / "README.md").write_text(card, encoding="utf-8")
    return output_dir


def model_card(
    module: str,
    architecture: str,
    seed: int,
    *,
    components: str = "",
    tokenizer: str,
    processor: str,
) -> str:
    """The model card of the tiny checkpoint built by ``vlm_eval.demo.tiny.<module>``.

    Args:
        module: The builder's module name, which is also the architecture name of the CLI.
        architecture: The architecture's name, e.g. ``"PaliGemma"``.
        seed: The seed of the random weights.
        components: Its parts, if worth naming, e.g. ``"SigLIP vision tower, Gemma decoder"``.
        tokenizer, processor: One sentence each on how the tokenizer and the processor match
            the published checkpoints.
    """
    model = f"{architecture}-architecture model" + (f" ({components})" if components else "")
    return (
        f"# tiny-{module.replace('_', '-')} (vlm-eval demo)\n\n"
        f"A tiny {model} with **random weights** (seed {seed}), built offline by "
        f"`vlm_eval.demo.tiny.{module}` for the vlm-eval demo and tests. Its answers are "
        "meaningless; it exists to exercise the full loading and generation path in seconds on "
        "a CPU.\n\n"
        "- Tokenizer: BPE with a Metaspace pre-tokenizer, trained on a small embedded English "
        f"corpus; {tokenizer}\n"
        f"- Processor: {processor}\n"
        f"- Rebuild: `python -m vlm_eval.demo.tiny {module} OUT_DIR`.\n"
    )
