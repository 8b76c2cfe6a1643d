"""The DocVQA official format (docvqa.org, Single Page DocVQA): one JSON file per split.

``{split}_v1.0_withQT.json`` (``test_v1.0.json``) holds ``{"dataset_name", "dataset_split",
"dataset_version", "data": [{"questionId", "question", "image", "docId", "answers",
"question_types", ...}]}``; ``image`` is the page's path relative to the split's folder
(``documents/xxx.png``); the test split has no ``answers``. InfographicVQA's files
(``infographicsVQA_{split}_v1.0_withQT.json``) have the same layout, the image named by
``image_local_name`` and the questions' ``answer_type``, ``evidence`` and
``operation/reasoning`` lists in place of ``question_types``. Errors name the file, the question
id and the field.
"""

from __future__ import annotations

from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._images import ImageSource
from vlm_eval.data._official import _image_file, _records
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

QUESTION_TYPES_SEPARATOR = "|"
"""Joins a question's ``question_types`` in its sample's metadata (metadata values are text)."""

_GROUP_FIELDS = {
    "question_types": "question_types",
    "answer_type": "answer_types",
    "evidence": "evidence",
    "operation/reasoning": "operations",
}
"""A question's lists of groups (DocVQA's question types; InfographicVQA's answer types,
evidence and operations) -> the metadata key of their values."""


def docvqa_sample(record: Record, image: ImageSource, *, annotated: bool) -> Sample:
    """The sample of one DocVQA question: a record of the official file or a row of the
    lmms-lab/DocVQA dataset (whose ``questionId`` names it).

    Args:
        record: Its ``question``, ``answers`` (a non-empty list of strings; read only if
            ``annotated``), optional ``docId`` (integer or string) and optional lists of
            strings ``question_types``, ``answer_type``, ``evidence`` and
            ``operation/reasoning`` (kept joined with ``QUESTION_TYPES_SEPARATOR`` as metadata
            ``question_types``, ``answer_types``, ``evidence`` and ``operations``).
        image: The page.
        annotated: Whether the question has ground-truth answers (not in test splits).

    Raises:
        DataFormatError: For a missing or malformed field.
    """
    metadata = {}
    if "docId" in record.data:
        metadata["doc_id"] = str(record.get("docId", int, str))
    for field, key in _GROUP_FIELDS.items():
        if field in record.data and record.get(field, list):
            groups = record.strings(field)
            for i, name in enumerate(groups):
                if QUESTION_TYPES_SEPARATOR in name:
                    problem = f"{name!r} holds {QUESTION_TYPES_SEPARATOR!r}, which joins the types"
                    raise record.error(f"{field}[{i}]", problem)
            metadata[key] = QUESTION_TYPES_SEPARATOR.join(groups)
    return Sample(
        id=str(record.label),
        image=image,
        references=record.strings("answers") if annotated else (),
        question=record.get("question", str),
        metadata=metadata,
    )


@without_gc_pauses
def load_docvqa(
    json_file: Path, image_root: Path, *, annotated: bool, image_field: str = "image"
) -> list[Sample]:
    """Load a DocVQA split file, in its order; images are ``image_root / image``.

    Args:
        json_file: The split's file (see the module's description).
        image_root: The folder ``image`` paths are relative to (the split's folder).
        annotated: Whether every question must have ``answers`` (``False``: the test split;
            its samples have no references).
        image_field: The field of the image's path (InfographicVQA's files, in the same
            layout otherwise: ``image_local_name``).

    Raises:
        DataFormatError: Naming the file, the question and the field: a missing ``data`` list,
            a ``questionId`` that is not an integer or is given twice, missing or non-string
            answers, an image path that leaves ``image_root``, ...
    """
    return [
        docvqa_sample(
            record,
            _image_file(image_root, record.get(image_field, str), record, image_field),
            annotated=annotated,
        )
        for record in _records(json_file, "data", "questionId").values()
    ]
