"""Model inputs for exercising the tiny checkpoints: questions of different lengths on plain
images of different sizes (tests and the GPU check)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vlm_eval.models import ModelInput
from vlm_eval.tasks import ImagePart, Message

QUESTIONS = (
    "What color is the circle?",
    "How many shapes are there in this picture, counting the small ones too?",
    "Is there a red square?",
    "What does the sign say?",
    "What shape is in the top left corner of the image, next to the blue one?",
)
COLORS = ("red", "navy", "gold", "green", "white")


def sample_question(i: int) -> Message:
    """The ``i``-th user turn: an image, then a question."""
    return Message("user", (ImagePart(Path(f"{i}.jpg")), QUESTIONS[i % len(QUESTIONS)]))


def sample_image(i: int, size: tuple[int, int] | None = None) -> Image.Image:
    """The ``i``-th plain image; its size grows with ``i`` unless given."""
    return Image.new("RGB", size or (96 + 16 * i, 80 + 8 * i), COLORS[i % len(COLORS)])


def sample_inputs(n: int) -> list[ModelInput]:
    """``n`` one-image questions of different lengths on images of different sizes."""
    return [ModelInput((sample_question(i),), [sample_image(i)]) for i in range(n)]
