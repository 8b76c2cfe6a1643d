"""MMMU (Yue et al., 2024): college-level multiple-choice and open questions over one to seven
images, from 30 subjects in 6 disciplines."""

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from vlm_eval._arguments import ArgumentsError
from vlm_eval.data import DatasetRow, Sample, StitchedImage
from vlm_eval.data._mmmu import (
    MMMU_IMAGE_COLUMNS,
    missing_mmmu_files,
    mmmu_sample,
    read_mmmu_predictions,
)
from vlm_eval.metrics import extract_choice, open_answer_correct
from vlm_eval.tasks import LmmsEvalPrompt, MultipleChoiceTask, register_task
from vlm_eval.tasks._choice import (
    OPEN_QUESTION_INSTRUCTION,
    OPTION_LETTER_INSTRUCTION,
    sample_options,
)

ImageLayout = Literal["first", "interleaved", "stitched"]
_LAYOUTS: tuple[ImageLayout, ...] = ("first", "interleaved", "stitched")


@register_task
class MMMU(MultipleChoiceTask):
    """Reads rows of lmms-lab/MMMU (splits ``dev``: 150 questions, few-shot; ``validation``:
    900; ``test``: 10,500 without answers) from the hub, or a local copy of it (its parquet
    files, or a ``save_to_disk`` folder); MMMU has no other official files.

    Prompts are lmms-eval's (``chat`` and ``lmms-eval`` alike): the question, its options as
    ``A. text`` lines, a blank line, then ``Answer with the option's letter from the given
    choices directly.``; an open question, a blank line, then ``Answer the question using a
    single word or phrase.`` (asked as a VQA question by the raw-template protocols). The
    ``<image k>`` markers stay in the text.

    Option ``images``: ``first`` (default, lmms-eval's layout): the question's images before
    its text, in order; ``interleaved``: each image at the first ``<image k>`` that names it;
    ``stitched``: the images side by side as one image (left to right in order), for models
    that take one image per prompt (they refuse the others with several images).

    The test split has no answers: the run writes the results file of MMMU's evaluation server
    instead of scores (``submission_file``), which ``vlm-eval score`` reads too.

    Scoring, MMMU's published rules: a multiple-choice answer is read as a letter by
    ``extract_choice`` (where MMMU's own code picks a random letter for an answer it cannot
    read, this counts it unparseable and wrong); an open answer by
    ``vlm_eval.metrics.open_answer_correct``. ``accuracy`` is over all questions; breakdowns
    by ``discipline``, ``subject``, ``question_type`` and ``difficulty``, as MMMU reports.
    """

    name = "mmmu"
    version = "1.0"
    eval_split = "validation"
    fewshot_split = "dev"
    hub_dataset = "lmms-lab/MMMU"
    hub_eval_split = "validation"
    hub_fewshot_split = "dev"
    official_files = False
    row_id_field = "id"
    image_column = MMMU_IMAGE_COLUMNS[0]
    more_image_columns = MMMU_IMAGE_COLUMNS[1:]
    question_template: ClassVar[str] = "{question}\n\n" + OPTION_LETTER_INSTRUCTION
    open_question_template: ClassVar[str] = "{question}\n\n" + OPEN_QUESTION_INSTRUCTION
    breakdown_fields = ("discipline", "subject", "question_type", "difficulty")
    lmms_eval = LmmsEvalPrompt(question_template, kind_templates={"vqa": open_question_template})

    def __init__(
        self, *, images: str = "first", circular: bool = False, protocol: str = "chat"
    ) -> None:
        if images not in _LAYOUTS:
            raise ArgumentsError(
                f"task 'mmmu': images={images!r}; expected one of {', '.join(_LAYOUTS)}"
            )
        super().__init__(circular=circular, protocol=protocol)
        self.images: ImageLayout = images  # type: ignore[assignment]
        if images == "interleaved":
            self.image_placement = "interleaved"

    def load(self, data_dir: Path, split: str) -> list[Sample]:
        raise missing_mmmu_files(str(data_dir))

    def sample_from_row(self, row: DatasetRow) -> Sample:
        return mmmu_sample(row)

    def expand(self, samples: list[Sample]) -> list[Sample]:
        """The questions as asked (options rendered), with ``stitched`` images as one."""
        expanded = super().expand(samples)
        if self.images != "stitched":
            return expanded
        return [
            replace(sample, image=StitchedImage(sample.images), more_images=())
            if sample.more_images
            else sample
            for sample in expanded
        ]

    def submission_file(self, samples: Sequence[Sample], predictions: Sequence[str]) -> bytes:
        """The results file of MMMU's evaluation server: one JSON object, question id ->
        answer: a multiple-choice question's letter (its answer as generated where no letter
        can be read, for the server to read), an open question's answer as generated."""
        answers = {}
        for sample, prediction in zip(samples, predictions, strict=True):
            letter = None
            if self.sample_kind(sample) == "multiple_choice":
                letter = extract_choice(prediction, sample_options(sample))
            answers[sample.id] = letter or prediction
        return (json.dumps(answers) + "\n").encode()

    def read_predictions(self, path: Path) -> dict[str, str]:
        return read_mmmu_predictions(path)

    def score(self, sample: Sample, prediction: str) -> dict[str, float]:
        if self.sample_kind(sample) == "multiple_choice":
            return super().score(sample, prediction)
        right = open_answer_correct(prediction, sample.references)
        return {"accuracy": float(right), "unparseable": 0.0}

    def protocol(self) -> dict[str, Any]:
        open_questions = self.prompting.describe("vqa", self)
        return {**super().protocol(), "open_questions": open_questions, "images": self.images}

    def scoring_protocol(self) -> dict[str, Any]:
        return {
            **super().scoring_protocol(),
            "open_answers": "MMMU's published rules (vlm_eval.metrics.open_answer_correct)",
        }
