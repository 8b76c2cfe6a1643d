"""Model-independent prompts: a conversation of text and image parts that adapters render."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vlm_eval.data import ImageSource
from vlm_eval.data._images import as_image_source


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image placed in a message; the runner decodes it before generation.

    ``image`` is an ``ImageSource``; a path is turned into an ``ImageFile``.
    """

    image: ImageSource

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", as_image_source(self.image))


@dataclass(frozen=True, slots=True)
class SpecialToken:
    """A special token of the model's tokenizer in a raw prompt, written as the tokenizer spells
    it by the model family: ``bos`` (``<s>`` for Mistral), ``eos``, or ``start``: the special
    tokens the tokenizer puts before a text by default (``<s>`` for LLaMA and Mistral, nothing
    for GPT-NeoX or MPT), for harnesses that tokenize with the tokenizer's defaults."""

    name: Literal["bos", "eos", "start"]


Part = str | ImagePart | SpecialToken
"""A message part: text (``str``), an image, or (raw prompts only) a special token."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: few-shot demonstrations are user/assistant pairs.

    A raw prompt (a text template, no chat template) is one message of role ``raw``: its parts
    are the text verbatim, the family's image placeholder for each image and special tokens.
    """

    role: Literal["user", "assistant", "raw"]
    parts: tuple[Part, ...]

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The image parts of this message, in order."""
        return tuple(part for part in self.parts if isinstance(part, ImagePart))


Prompt = tuple[Message, ...]
"""A conversation ending with the user turn the model must answer, or one raw message."""


def is_raw(prompt: Prompt) -> bool:
    """Whether ``prompt`` is a raw text template (one message of role ``raw``)."""
    return len(prompt) == 1 and prompt[0].role == "raw"


def prompt_images(prompt: Prompt) -> list[ImageSource]:
    """Every image of ``prompt``, in the order they appear."""
    return [part.image for message in prompt for part in message.images]


def prompt_to_json(prompt: Prompt) -> list[dict[str, object]]:
    """A JSON-serialisable form of ``prompt`` for per-sample logs and cache keys."""
    return [
        {
            "role": message.role,
            "content": [
                {"type": "image", "image": part.image.key}
                if isinstance(part, ImagePart)
                else {"type": "special", "token": part.name}
                if isinstance(part, SpecialToken)
                else {"type": "text", "text": part}
                for part in message.parts
            ],
        }
        for message in prompt
    ]


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """How a task wants its answers generated: greedy, or beam search where ``num_beams > 1``.

    Attributes:
        max_new_tokens: Upper bound on generated tokens.
        stop: Strings that end the answer; the text from the first one on is dropped.
        num_beams: Beams of a beam search; 1: greedy decoding.
        length_penalty: Beam search's exponent on the length of a beam in its score (a beam's
            log-probability is divided by its length to this power); unused when greedy.
        end_token: A token that ends generation in place of the model's end-of-sequence
            token(s) (OpenFlamingo's ``<|endofchunk|>``); for a tokenizer without it as one
            token, only ``max_new_tokens`` and ``stop`` end generation. ``None``: the model's.
    """

    max_new_tokens: int
    stop: tuple[str, ...] = ()
    num_beams: int = 1
    length_penalty: float = 1.0
    end_token: str | None = None
