"""BLIP-2 with an OPT decoder: no chat template, the paper's zero-shot VQA prompt.

The Flan-T5 variants (same model type) are encoder-decoders: the paper prompts them with
``Question: {} Short answer:`` and their generate() returns no prompt tokens, neither of which
is handled here yet.
"""

from __future__ import annotations

from transformers import ProcessorMixin

from vlm_eval.models._family import register_family
from vlm_eval.models.families._raw import RawPromptFamily


@register_family
class Blip2Family(RawPromptFamily):
    """The user text becomes ``Question: {text} Answer:`` (the paper's zero-shot VQA prompt);
    with no text the prompt is empty, which is BLIP-2's captioning mode. The processor puts the
    ``num_query_tokens`` image tokens before the text (and before the padding of a batch)."""

    name = "blip2"
    model_types = ("blip-2",)

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        return f"Question: {text} Answer:" if text else ""
