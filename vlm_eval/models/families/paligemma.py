"""PaliGemma and PaliGemma 2: no chat template, the text is a prefix after the image tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlm_eval.models._family_registry import register_family
from vlm_eval.models.families._raw import RawPromptFamily
from vlm_eval.tasks import Message, Prompt, SpecialToken

if TYPE_CHECKING:
    from transformers import ProcessorMixin


@register_family
class PaliGemmaFamily(RawPromptFamily):
    """The task's text is the prefix, as is: the mix checkpoints were trained on task prefixes
    such as ``answer en {question}`` and ``caption en``, but the wording is the task's choice.

    The rendered text starts with the processor's ``<image>`` token, the documented input of
    ``PaliGemmaProcessor`` (without it the processor guesses the layout and warns on every
    batch); the processor expands it to ``image_seq_length`` tokens, then adds BOS before the
    prefix and the ``\\n`` that separates prefix from answer. That separator is why a chat
    prompt's prefix is made one line; a raw template's text is kept as written.
    """

    name = "paligemma"
    model_types = ("paligemma",)

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        return f"{processor.image_token}{text}"

    def render_raw(self, processor: ProcessorMixin, prompt: Prompt) -> str:
        """``<image>`` then the template's text as the prefix, newlines kept, without the BOS
        the template may ask for: the processor puts BOS between image and prefix itself."""
        without_start = tuple(
            part
            for part in prompt[0].parts
            if not (isinstance(part, SpecialToken) and part.name in ("bos", "start"))
        )
        text = super().render_raw(processor, (Message("raw", without_start),))
        return f"{processor.image_token}{text}"
