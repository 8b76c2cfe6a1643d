"""The unit of evaluation data shared by loaders, tasks and the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Sample:
    """One evaluation item: an image, an optional question and its human references.

    Attributes:
        id: Identifier unique within the task and split (question id, or image id for captions).
        image: Path of the image file; decoded only when the sample is batched.
        references: The 10 human answers of a VQA question, or the captions of an image.
        question: The question text; ``None`` for captioning.
        metadata: Extra official fields kept for breakdowns and reports
            (``answer_type``, ``question_type``, ``image_id``, ...).
    """

    id: str
    image: Path
    references: tuple[str, ...]
    question: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
