"""The unit of evaluation data shared by loaders, tasks and the runner."""

from __future__ import annotations

from dataclasses import dataclass, field

from vlm_eval.data._images import ImageSource, as_image_source


@dataclass(frozen=True, slots=True)
class Sample:
    """One evaluation item: an image (or several), an optional question and its human
    references.

    Attributes:
        id: Identifier unique within the task and split (question id, or image id for captions).
        image: Where the image comes from (an ``ImageSource``; a path is turned into an
            ``ImageFile``); decoded only when the sample is batched.
        references: The 10 human answers of a VQA question, or the captions of an image.
        question: The question text; ``None`` for captioning.
        metadata: Extra official fields kept for breakdowns and reports
            (``answer_type``, ``question_type``, ``image_id``, ...).
        more_images: The further images of a question that shows several (MMMU), after
            ``image``; the question may refer to image ``k`` of ``images`` as ``<image k>``.
    """

    id: str
    image: ImageSource
    references: tuple[str, ...]
    question: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    more_images: tuple[ImageSource, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", as_image_source(self.image))
        if self.more_images:
            more = tuple(as_image_source(image) for image in self.more_images)
            object.__setattr__(self, "more_images", more)

    @property
    def images(self) -> tuple[ImageSource, ...]:
        """Every image of the sample: ``image``, then ``more_images``."""
        return (self.image, *self.more_images)
