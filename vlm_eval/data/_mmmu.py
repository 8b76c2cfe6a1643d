"""Rows of MMMU (``lmms-lab/MMMU``, and the per-subject configurations of ``MMMU/MMMU``) as
samples.

A row has ``id`` (``validation_Art_Theory_12``: split, subject, number), ``question``,
``options`` (a Python list literal, as text: ``"['4', '5']"``; ``"[]"`` for open questions),
``answer`` (an option letter; the answer text of an open question, or a list literal of
accepted answers; ``?`` in the test split), ``question_type`` (``multiple-choice`` or
``open``), ``image_1`` ... ``image_7`` (null past the question's last image),
``topic_difficulty``, ``subfield`` and ``img_type``. The question and the options name their
images ``<image k>``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._official import _read_json
from vlm_eval.data._sample import Sample
from vlm_eval.data._sources import DatasetRow

MMMU_IMAGE_COLUMNS = tuple(f"image_{k}" for k in range(1, 8))
"""The image columns of an MMMU row, in order."""

MMMU_DISCIPLINES = {
    "Art and Design": ("Art", "Art_Theory", "Design", "Music"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Health and Medicine": (
        "Basic_Medical_Science",
        "Clinical_Medicine",
        "Diagnostics_and_Laboratory_Medicine",
        "Pharmacy",
        "Public_Health",
    ),
    "Humanities and Social Science": ("History", "Literature", "Sociology", "Psychology"),
    "Tech and Engineering": (
        "Agriculture",
        "Architecture_and_Engineering",
        "Computer_Science",
        "Electronics",
        "Energy_and_Power",
        "Materials",
        "Mechanical_Engineering",
    ),
}
"""MMMU's six disciplines and their 30 subjects (the subject names of its ids)."""

_DISCIPLINE = {subject: name for name, subjects in MMMU_DISCIPLINES.items() for subject in subjects}
_ID = re.compile(r"[^_]+_(.+)_\d+")
_MARKER = re.compile(r"<image (\d+)>")
_TYPES = ("multiple-choice", "open")


def _literal_list(row: DatasetRow, field: str, text: str) -> list[str]:
    """``text``, a Python list literal of strings (the dataset's encoding of lists)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise row.error(field, f"not a list literal: {text[:80]!r}") from None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise row.error(field, f"expected a list of strings, got {text[:80]!r}")
    return value


def mmmu_sample(row: DatasetRow) -> Sample:
    """The sample of one MMMU row.

    Its question is the row's; a multiple-choice question's options go in its metadata under
    their letters and its answer letter is its reference; an open question has no options and
    its accepted answers are its references (none where the answer is ``?``: the test split).
    Its images are those the question and options name, in the order of their numbers (the
    first image where they name none); where the named images are not ``1``, ``2``, ... the
    markers are renumbered to name them so (``<image 2>`` alone becomes ``<image 1>``).
    Metadata: ``question_type``, ``subject`` (from the id), ``discipline``, ``difficulty``
    (``topic_difficulty``) and ``subfield`` where given.

    Raises:
        DataFormatError: For a missing or malformed field: an unknown question type, options
            that are not a list literal, a multiple-choice question with fewer than two
            options or an answer that is not an option letter, an id without a subject, a
            marker of an image past ``image_7`` or one the row lacks.
    """
    question = row.get("question", str)
    question_type = row.get("question_type", str)
    if question_type not in _TYPES:
        raise row.error("question_type", f"expected one of {_TYPES}, got {question_type!r}")
    options = _literal_list(row, "options", row.get("options", str))
    letters = [chr(ord("A") + index) for index in range(len(options))]
    if question_type == "multiple-choice" and not 2 <= len(options) <= 26:
        raise row.error("options", f"a multiple-choice question needs 2 to 26, got {len(options)}")
    answer = row.get("answer", str).strip()
    references: tuple[str, ...] = ()
    if answer != "?":
        if question_type == "open":
            listed = answer.startswith("[")
            references = tuple(_literal_list(row, "answer", answer) if listed else [answer])
            if not all(reference.strip() for reference in references):  # "" is in every answer
                raise row.error("answer", f"an empty accepted answer: {answer!r}")
        elif answer not in letters:
            raise row.error("answer", f"{answer!r} is not an option letter ({', '.join(letters)})")
        else:
            references = (answer,)
    subject = _ID.fullmatch(row.id)
    if subject is None:
        raise row.error("id", f"expected <split>_<subject>_<number>, got {row.id!r}")
    named = sorted({int(k) for text in (question, *options) for k in _MARKER.findall(text)})
    numbers = {old: new for new, old in enumerate(named or [1], start=1)}
    for old in numbers:
        if not 1 <= old <= len(MMMU_IMAGE_COLUMNS):
            raise row.error("question", f"names <image {old}>; rows have image_1 to image_7")

    def renumbered(text: str) -> str:
        return _MARKER.sub(lambda marker: f"<image {numbers[int(marker.group(1))]}>", text)

    images = [
        row.image(f"{row.id}:{column}", None if column == row.column else column)
        for column in (f"image_{old}" for old in numbers)
    ]
    metadata = {
        "question_type": question_type,
        "subject": subject.group(1),
        **dict(zip(letters, map(renumbered, options), strict=True)),
    }
    if subject.group(1) in _DISCIPLINE:
        metadata["discipline"] = _DISCIPLINE[subject.group(1)]
    for field, key in (("topic_difficulty", "difficulty"), ("subfield", "subfield")):
        value = row.data.get(field)
        if isinstance(value, str) and value:
            metadata[key] = value
    return Sample(
        id=row.id,
        image=images[0],
        references=references,
        question=renumbered(question),
        metadata=metadata,
        more_images=tuple(images[1:]),
    )


def missing_mmmu_files(folder: str) -> DataFormatError:
    """The error for an MMMU folder without the dataset's files: MMMU has no other official
    format than its ``datasets`` parquet files."""
    problem = (
        "MMMU is read from the hub (lmms-lab/MMMU) or a local copy of it: parquet files "
        "(data/validation-*.parquet, ...) or a save_to_disk folder; this folder has neither"
    )
    return DataFormatError(folder, None, None, problem)


def read_mmmu_predictions(path: Path) -> dict[str, str]:
    """The answers of an MMMU results file (the format of its evaluation server: one JSON
    object, question id -> answer), by question id.

    Raises:
        DataFormatError: Naming the file, the question and the problem: not a JSON object, an
            answer that is not a string.
    """
    document = _read_json(path)
    if not isinstance(document, dict):
        raise DataFormatError(path, None, None, "expected an object of answers by question id")
    for question_id, answer in document.items():
        if not isinstance(answer, str):
            raise DataFormatError(path, question_id, None, f"expected a string, got {answer!r}")
    return document
