"""ScienceQA's official files (lupantech/ScienceQA) and rows of lmms-lab/ScienceQA, as the
multiple-choice questions that have an image (ScienceQA-IMG).

``problems.json`` maps each question id to ``{"question", "choices", "answer" (the right
option's index), "hint", "image" ("image.png", or null for a question without an image),
"grade" ("grade1" ... "grade12"), "subject" ("natural science", "social science", "language
science"), "topic", "lecture", "solution", ...}``; ``pid_splits.json`` maps each split
(``train``, ``val``, ``test``, ...) to its question ids; images are
``images/{split}/{id}/image.png``.
"""

from __future__ import annotations

import re
from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._choices import indexed_choice_sample
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageSource
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

SCIENCEQA_SUBJECTS = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}
"""A question's ``subject`` -> its group in the paper's tables (metadata ``subject``)."""

_GRADE = re.compile(r"grade(\d+)")


def scienceqa_sample(record: Record, image: ImageSource) -> Sample:
    """The sample of one ScienceQA question (a record of ``problems.json`` or a row of
    lmms-lab/ScienceQA): its options and answer letter (``indexed_choice_sample``), its
    ``hint`` when not empty, its ``subject`` as the paper groups it (``NAT``, ``SOC``, ``LAN``)
    and its ``grade`` as the paper's ``G1-6`` or ``G7-12``.

    Raises:
        DataFormatError: For a malformed field, an unknown subject or a grade not ``grade<n>``
            with ``n`` from 1 to 12.
    """
    subject = record.get("subject", str)
    if subject not in SCIENCEQA_SUBJECTS:
        raise record.error("subject", f"expected one of {sorted(SCIENCEQA_SUBJECTS)}")
    grade = record.get("grade", str)
    number = _GRADE.fullmatch(grade)
    if number is None or not 1 <= int(number.group(1)) <= 12:
        raise record.error("grade", f"expected grade1 to grade12, got {grade!r}")
    metadata = {
        "subject": SCIENCEQA_SUBJECTS[subject],
        "grade": "G1-6" if int(number.group(1)) <= 6 else "G7-12",
    }
    hint = record.get("hint", str).strip() if "hint" in record.data else ""
    if hint:
        metadata["hint"] = hint
    return indexed_choice_sample(
        record, image, choices="choices", answer="answer", metadata=metadata
    )


@without_gc_pauses
def load_scienceqa(folder: Path, split: str) -> list[Sample]:
    """The questions of ``split`` that have an image, in ``pid_splits.json``'s order, from
    ``folder``'s ``problems.json``; images ``folder / "images" / split / id / image``.

    Raises:
        DataFormatError: Naming the file, the question id and the field: an unknown split, an
            id the problems lack, a malformed problem (``scienceqa_sample``), an image path that
            leaves the images' folder.
    """
    problems_file, splits_file = folder / "problems.json", folder / "pid_splits.json"
    problems, splits = _read_json(problems_file), _read_json(splits_file)
    if not isinstance(problems, dict):
        raise DataFormatError(problems_file, None, None, "expected an object of problems by id")
    if not isinstance(splits, dict) or split not in splits:
        known = sorted(splits) if isinstance(splits, dict) else []
        raise DataFormatError(splits_file, None, split, f"unknown split; the file has {known}")
    ids = splits[split]
    if not isinstance(ids, list):
        raise DataFormatError(splits_file, None, split, "expected a list of question ids")
    samples = []
    for pid in ids:
        if not isinstance(pid, str) or not isinstance(problems.get(pid), dict):
            problem = f"split {split!r} of {splits_file.name} lists it, but it is no problem here"
            raise DataFormatError(problems_file, str(pid), None, problem)
        record = Record(problems_file, problems[pid], pid)
        if record.data.get("image") is None:  # a question without an image: not ScienceQA-IMG
            continue
        name = f"{pid}/{record.get('image', str)}"
        image = _image_file(folder / "images" / split, name, record, "image")
        samples.append(scienceqa_sample(record, image))
    return samples
