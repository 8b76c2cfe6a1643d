"""Model-independent prompts: a conversation of text and image parts that adapters render."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image placed in a message; the runner decodes it before generation."""

    path: Path


Part = str | ImagePart
"""A message part: text (``str``) or an image."""


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation: few-shot demonstrations are user/assistant pairs."""

    role: Literal["user", "assistant"]
    parts: tuple[Part, ...]

    @property
    def images(self) -> tuple[ImagePart, ...]:
        """The image parts of this message, in order."""
        return tuple(part for part in self.parts if isinstance(part, ImagePart))


Prompt = tuple[Message, ...]
"""A conversation ending with the user turn the model must answer."""


def prompt_images(prompt: Prompt) -> list[Path]:
    """Paths of every image of ``prompt``, in the order they appear."""
    return [image.path for message in prompt for image in message.images]


def prompt_to_json(prompt: Prompt) -> list[dict[str, object]]:
    """A JSON-serialisable form of ``prompt`` for per-sample logs and cache keys."""
    return [
        {
            "role": message.role,
            "content": [
                {"type": "image", "path": str(part.path)}
                if isinstance(part, ImagePart)
                else {"type": "text", "text": part}
                for part in message.parts
            ],
        }
        for message in prompt
    ]


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    """How a task wants its answers generated (always greedy).

    Attributes:
        max_new_tokens: Upper bound on generated tokens.
        stop: Strings that end the answer; the text from the first one on is dropped.
    """

    max_new_tokens: int
    stop: tuple[str, ...] = ()
