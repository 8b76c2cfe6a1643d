"""BLIP-2: no chat template, the paper's zero-shot VQA prompts (OPT and Flan-T5 decoders)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlm_eval.models._family import ModelFamily
from vlm_eval.models._family_registry import register_family
from vlm_eval.models.families._raw import RawPromptFamily

if TYPE_CHECKING:
    from transformers import PretrainedConfig, ProcessorMixin


@register_family
class Blip2Family(RawPromptFamily):
    """The user text becomes ``Question: {text} Answer:`` (the paper's zero-shot VQA prompt);
    with no text the prompt is empty, which is BLIP-2's captioning mode. The processor puts the
    ``num_query_tokens`` image tokens before the text (and before the padding of a batch)."""

    name = "blip2"
    model_types = ("blip-2",)

    def for_checkpoint(self, config: PretrainedConfig) -> ModelFamily:
        # The Flan-T5 checkpoints share the model type but were prompted differently.
        decoder_only = getattr(config, "use_decoder_only_language_model", True)
        return self if decoder_only else Blip2FlanT5Family()

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        return f"Question: {text} Answer:" if text else ""


class Blip2FlanT5Family(Blip2Family):
    """BLIP-2 with a Flan-T5 encoder-decoder: ``Question: {text} Short answer:``, the paper's
    zero-shot VQA prompt for these checkpoints; the answer is the decoder's output."""

    name = "blip2-flan-t5"

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        return f"Question: {text} Short answer:" if text else ""
