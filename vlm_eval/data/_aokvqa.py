"""A-OKVQA's official files (allenai/aokvqa) and rows of HuggingFaceM4/A-OKVQA, as
multiple-choice questions.

``aokvqa_v1p0_{split}.json`` is a list of ``{"split", "image_id", "question_id" (a string),
"question", "choices" (four option texts), "correct_choice_idx", "direct_answers" (ten),
"difficult_direct_answer", "rationales"}``; the test split's questions have no
``correct_choice_idx``, ``direct_answers`` nor ``rationales``. Images are COCO 2017's,
``{split}2017/{image_id:012d}.jpg`` (test: ``test2017``). The leaderboard takes predictions as
``{question_id: {"multiple_choice": the chosen option's text, "direct_answer": ...}}``.
"""

from __future__ import annotations

from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._choices import indexed_choice_sample
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageSource
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample


def aokvqa_sample(record: Record, image: ImageSource, *, annotated: bool) -> Sample:
    """The sample of one A-OKVQA question: its options and, if ``annotated``, the letter of its
    ``correct_choice_idx`` (``indexed_choice_sample``); metadata ``image_id`` (not in the hub's
    rows).

    Raises:
        DataFormatError: For a malformed field.
    """
    answer = "correct_choice_idx" if annotated else None
    metadata = {"image_id": str(record.get("image_id", int))} if "image_id" in record.data else {}
    return indexed_choice_sample(record, image, choices="choices", answer=answer, metadata=metadata)


@without_gc_pauses
def load_aokvqa(json_file: Path, image_dir: Path, *, annotated: bool) -> list[Sample]:
    """Every question of an A-OKVQA split file, in order, identified by ``question_id``;
    images ``image_dir / f"{image_id:012d}.jpg"``.

    Args:
        json_file: The split's file (see the module's description).
        image_dir: The split's COCO images.
        annotated: Whether every question must have ``correct_choice_idx`` (``False``: the
            test split; its samples have no references).

    Raises:
        DataFormatError: Naming the file, the question and the field: a file that is not a list
            of objects, a missing, non-string or duplicate ``question_id``, a malformed
            question (``aokvqa_sample``).
    """
    questions = _read_json(json_file)
    if not isinstance(questions, list):
        raise DataFormatError(json_file, None, None, "expected a list of questions")
    samples = []
    seen: set[str] = set()
    for index, data in enumerate(questions):
        if not isinstance(data, dict):
            raise DataFormatError(json_file, index, None, f"expected an object, got {data!r}")
        question_id = Record(json_file, data, index).get("question_id", str)
        if question_id in seen:
            raise DataFormatError(json_file, question_id, "question_id", "duplicate id")
        seen.add(question_id)
        record = Record(json_file, data, question_id)
        name = f"{record.get('image_id', int):012d}.jpg"
        image = _image_file(image_dir, name, record, "image_id")
        samples.append(aokvqa_sample(record, image, annotated=annotated))
    return samples


def read_aokvqa_predictions(path: Path) -> dict[str, str]:
    """The ``multiple_choice`` predictions of a leaderboard file (see the module's
    description), by question id; ``direct_answer`` entries are ignored.

    Raises:
        DataFormatError: Naming the file, the question and the field: not a JSON object, an
            entry that is not an object or lacks a string ``multiple_choice``.
    """
    document = _read_json(path)
    if not isinstance(document, dict):
        raise DataFormatError(path, None, None, "expected an object of predictions by question id")
    predictions = {}
    for question_id, entry in document.items():
        if not isinstance(entry, dict):
            raise DataFormatError(path, question_id, None, f"expected an object, got {entry!r}")
        predictions[question_id] = Record(path, entry, question_id).get("multiple_choice", str)
    return predictions
