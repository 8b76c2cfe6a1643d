"""Families prompted without a chat template: one image and one user turn, in the family's own
text format (PaliGemma, BLIP-2)."""

from __future__ import annotations

from transformers import ProcessorMixin

from vlm_eval.models._family import ModelFamily, PromptError
from vlm_eval.tasks import Prompt, is_raw


class RawPromptFamily(ModelFamily):
    """A single-image family without a chat template; subclasses define ``format_text``.

    The user turn's text parts are joined with spaces and every run of whitespace (newlines
    included) becomes one space, since these formats are single-line; the image part is left
    to ``format_text`` and the processor, which put the image before the text. Prompts with
    earlier turns (few-shot demonstrations, even text-only ones) are refused: these models were
    trained on one image-text pair per sequence and their formats have no way to mark turns.
    """

    max_images = 1
    uses_chat_template = False

    def check_prompt(self, prompt: Prompt) -> None:
        """Refuse a prompt the family cannot take.

        Raises:
            PromptError: With more than one image, or with any turn besides the user's question.
        """
        super().check_prompt(prompt)
        if is_raw(prompt):
            raise PromptError(
                f"{self.name} models are prompted in their own format (the processor places the "
                "image): raw-template protocols are not supported for them (use --protocol chat, "
                "which gives them that format)"
            )
        if len(prompt) != 1 or prompt[0].role != "user":
            raise PromptError(
                f"{self.name} models have no chat template and take a single user turn, this "
                f"prompt has {len(prompt)} turn(s): few-shot demonstrations are not supported "
                "(run zero-shot, --num-fewshot 0)"
            )

    def render(self, processor: ProcessorMixin, prompt: Prompt) -> str:
        """The user turn's text in the family's format (see ``format_text``).

        Raises:
            PromptError: As ``check_prompt``, for callers that render without checking.
        """
        self.check_prompt(prompt)
        text = " ".join(part for part in prompt[0].parts if isinstance(part, str))
        return self.format_text(processor, " ".join(text.split()))

    def format_text(self, processor: ProcessorMixin, text: str) -> str:
        """The model's input text for the user's ``text`` (one line, possibly empty)."""
        raise NotImplementedError
