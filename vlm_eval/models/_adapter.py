"""The model adapter contract: turn batches of prompts with decoded images into answers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL.Image import Image

from vlm_eval.tasks import GenerationSettings, Prompt


@dataclass(frozen=True, slots=True)
class ModelInput:
    """A prompt and its decoded images, in the order the prompt's image parts appear."""

    prompt: Prompt
    images: Sequence[Image]


@dataclass(frozen=True, slots=True)
class Generation:
    """A model's answer to one input, with what it cost.

    Attributes:
        text: The generated text, special tokens removed, before task post-processing.
        prompt_tokens: Tokens of the prompt, padding excluded, visual tokens included.
        visual_tokens: Prompt tokens that stand for image content.
        generated_tokens: Tokens generated, up to and including the end-of-sequence token.
    """

    text: str
    prompt_tokens: int = 0
    visual_tokens: int = 0
    generated_tokens: int = 0


class PartialGenerationError(Exception):
    """A ``generate`` call that failed after some of its inputs were answered.

    The runner records ``generations`` (answers already paid for, from a server) before it raises
    ``error`` again.

    Attributes:
        generations: Index of an input in the batch -> its answer.
        error: Why the others were not answered.
    """

    def __init__(self, generations: Mapping[int, Generation], error: BaseException):
        super().__init__(f"{len(generations)} inputs of the batch were answered before: {error}")
        self.generations = dict(generations)
        self.error = error


class InputError(ValueError):
    """Inputs of a batch that this model cannot take (a prompt longer than its context), found
    before anything of the batch was generated. The runner fails those samples only (listed in
    the task's ``failures``, tried again by a re-run) and generates the others.

    Attributes:
        problems: Index of an input in the batch -> why it cannot be taken.
    """

    def __init__(self, problems: Mapping[int, str]):
        super().__init__("; ".join(f"input {i}: {why}" for i, why in sorted(problems.items())))
        self.problems = dict(problems)


class ModelAdapter(ABC):
    """Base class of model adapters; subclass it and decorate with ``@register_model``.

    Constructor arguments are keyword-only and typed (``str``, ``int``, ``float``, ``bool``):
    ``--model-args key=value,...`` is converted to them, and unknown keys are refused.
    """

    name: str

    @abstractmethod
    def generate(
        self, inputs: Sequence[ModelInput], settings: GenerationSettings
    ) -> list[Generation]:
        """Answers for a batch of inputs, one per input, in order: greedy, or with beam search
        where ``settings.num_beams > 1`` (adapters that cannot search refuse: ``refuse_beams``).

        Raises:
            PartialGenerationError: If it fails after answering some inputs, with their answers.
        """

    def prepare(self, inputs: Sequence[ModelInput]) -> Any:
        """The CPU work of a batch before generation (rendering prompts, processing images).

        Where ``prepares_ahead``, the runner prepares the next batch on a background thread
        while the current one generates, so that the accelerator does not wait for it; asked
        to (``RunConfig.prepare_in_workers``), its image-decoding worker processes prepare the
        batches they decode instead. ``generate_prepared`` takes the result. It must not change
        the model. The default prepares nothing.
        """
        return list(inputs)

    @property
    def prepares_ahead(self) -> bool:
        """Whether to ``prepare`` a batch while the previous one generates: worth it when
        generation leaves the CPU cores free (on an accelerator); on the CPU it would only take
        cores from generation. The default: no."""
        return False

    @property
    def prepares_in_workers(self) -> bool:
        """Whether forked image-decoding workers may run ``prepare`` (its result is pickled
        back; tensors travel through shared memory): only where ``prepare`` uses no
        accelerator, open connection or other state of this process. The default: no."""
        return False

    def generate_prepared(self, prepared: Any, settings: GenerationSettings) -> list[Generation]:
        """``generate`` for a batch made ready by ``prepare``."""
        return self.generate(prepared, settings)

    @classmethod
    def takes_chat_prompts(cls, args: Mapping[str, str]) -> bool:
        """Whether the model that ``args`` (``--model-args``) name can take chat prompts, found
        before it loads, so that a run asking a base checkpoint for chat stops at once and a run
        with no ``--protocol`` picks a raw-template one for it. The default: yes."""
        return True

    def check_prompt(self, prompt: Prompt) -> None:
        """Raise ``ValueError`` (``PromptError``) for a prompt this model cannot take, so that a
        run fails before any generation; the default accepts every prompt."""
        return None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What identifies the model and how it runs (path, weights fingerprint, dtype, device)."""
