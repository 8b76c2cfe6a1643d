"""The GQA official format (gqadataset.org): one JSON object of questions per split file.

``{split}_balanced_questions.json`` (``testdev_balanced_questions.json``) holds ``{question id:
{"imageId", "question", "answer", "fullAnswer", "isBalanced", "types": {"structural",
"semantic", "detailed"}, "groups", "semantic", ...}}``; question ids are strings (kept as they
are: some start with ``0``). The files of the test and challenge splits have no ``answer``.
Images are ``{imageId}.jpg`` in one folder. The balanced files hold balanced questions only,
the ones the official accuracy counts. Errors name the file, the question id and the field.
"""

from __future__ import annotations

from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageFile
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

GQA_TYPES = ("structural", "semantic", "detailed")
"""The question types of ``types``, kept in a sample's metadata as ``{type}_type``."""


@without_gc_pauses
def load_gqa(json_file: Path, image_dir: Path, *, annotated: bool) -> list[Sample]:
    """Load a GQA questions file, in its order; images are ``image_dir / f"{imageId}.jpg"``.

    Args:
        json_file: The split's questions (see the module's description).
        image_dir: The folder of every GQA image.
        annotated: Whether every question must have its ``answer`` (``False``: test and
            challenge splits; their samples have no references).

    Returns:
        Samples named by their question id, with the ``answer`` as their one reference and, in
        their metadata, the ``image_id`` and the ``structural_type``, ``semantic_type`` and
        ``detailed_type`` where ``types`` gives them.

    Raises:
        DataFormatError: Naming the file, the question and the field: not an object of
            questions, a question that is not an object, a missing or non-string ``imageId``,
            ``question`` or ``answer``, ``types`` that is not an object of strings, ...
    """
    document = _read_json(json_file)
    if not isinstance(document, dict):
        raise DataFormatError(json_file, None, None, "expected an object of questions by id")
    samples = []
    images: dict[str, ImageFile] = {}  # the questions on an image share one
    for question_id, data in document.items():
        if not isinstance(data, dict):
            problem = f"expected an object, got {data!r}"
            raise DataFormatError(json_file, question_id, None, problem)
        record = Record(json_file, data, question_id)
        image_id = record.get("imageId", str)
        if image_id not in images:
            images[image_id] = _image_file(image_dir, f"{image_id}.jpg", record, "imageId")
        metadata = {"image_id": image_id}
        types = record.get("types", dict) if "types" in data else {}
        for name in GQA_TYPES:
            if name in types:
                if not isinstance(types[name], str):
                    problem = f"expected a string, got {types[name]!r}"
                    raise record.error(f"types.{name}", problem)
                metadata[f"{name}_type"] = types[name]
        samples.append(
            Sample(
                id=question_id,
                image=images[image_id],
                references=(record.get("answer", str),) if annotated else (),
                question=record.get("question", str),
                metadata=metadata,
            )
        )
    return samples
