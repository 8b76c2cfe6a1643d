"""Families prompted without a chat template: one image and one user turn, in the family's own
text format, or a zero-shot raw template with the image first (PaliGemma, BLIP-2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlm_eval.models._family import ModelFamily, PromptError
from vlm_eval.tasks import Prompt, is_raw

if TYPE_CHECKING:
    from transformers import ProcessorMixin


class RawPromptFamily(ModelFamily):
    """A single-image family without a chat template; subclasses define ``format_text``.

    Chat prompts: the user turn's text parts are joined with spaces and every run of whitespace
    (newlines included) becomes one space, since these formats are single-line; the image part
    is left to ``format_text`` and the processor, which put the image before the text. Prompts
    with earlier turns (few-shot demonstrations, even text-only ones) are refused: these models
    were trained on one image-text pair per sequence and their formats have no way to mark
    turns.

    Raw-template prompts (base-model protocols) are zero-shot only, as the processor takes one
    image: the template's text verbatim (newlines kept, text-only demonstrations included) with
    the image moved before it, where the processor places it (see ``render_raw``).
    """

    max_images = 1
    uses_chat_template = False

    def check_prompt(self, prompt: Prompt) -> None:
        """Refuse a prompt the family cannot take.

        Raises:
            PromptError: With more than one image, or (chat prompts) with any turn besides the
                user's question.
        """
        super().check_prompt(prompt)
        if not is_raw(prompt) and (len(prompt) != 1 or prompt[0].role != "user"):
            raise PromptError(
                f"{self.name} models have no chat template and take a single user turn, this "
                f"prompt has {len(prompt)} turn(s): few-shot demonstrations are not supported "
                "(run zero-shot, --num-fewshot 0)"
            )

    def render(self, processor: ProcessorMixin, prompt: Prompt) -> str:
        """A raw prompt as ``render_raw`` renders it; a chat prompt's user turn in the family's
        format (see ``format_text``).

        Raises:
            PromptError: As ``check_prompt``, for callers that render without checking.
        """
        self.check_prompt(prompt)
        if is_raw(prompt):
            return self.render_raw(processor, prompt)  # with image_placeholder's empty text
        text = " ".join(part for part in prompt[0].parts if isinstance(part, str))
        return self.format_text(processor, " ".join(text.split()))

    def image_placeholder(self, processor: ProcessorMixin) -> str:
        """Nothing: the processor puts the image before the text."""
        return ""

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        """The model's input text for the user's ``text`` (one line, possibly empty)."""
        raise NotImplementedError
