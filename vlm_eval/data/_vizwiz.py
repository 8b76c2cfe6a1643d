"""The VizWiz-VQA official format (vizwiz.org): one JSON list per split, one question per image.

``Annotations/{split}.json`` holds ``[{"image", "question", "answers": [{"answer",
"answer_confidence"}] (10), "answer_type", "answerable"}]``; the test split's records have no
``answers``, ``answer_type`` or ``answerable``. Images are ``{split}/{image}``. A question is
named by its image's file name (``VizWiz_val_00000000.jpg``), as the evaluation server's results
file names it (``[{"image", "answer"}]``). Errors name the file, the image and the field.
"""

from __future__ import annotations

from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample
from vlm_eval.data._sources import DatasetRow


@without_gc_pauses
def load_vizwiz(json_file: Path, image_dir: Path, *, annotated: bool) -> list[Sample]:
    """Load a VizWiz-VQA split file, in its order; images are ``image_dir / image``.

    Args:
        json_file: The split's file (see the module's description).
        image_dir: The split's image folder.
        annotated: Whether every question must have its ``answers`` (``False``: the test
            split; its samples have no references).

    Returns:
        Samples named by their image's file name, with the ``answers`` as references and the
        ``answer_type`` (``yes/no``, ``number``, ``other``, ``unanswerable``) and
        ``answerable`` (``"0"`` or ``"1"``) in their metadata where present.

    Raises:
        DataFormatError: Naming the file, the image and the field: not a list, an image named
            twice or empty, fewer than one answer, an answer that is not a string, ...
    """
    document = _read_json(json_file)
    if not isinstance(document, list):
        raise DataFormatError(json_file, None, None, "expected a JSON list of questions")
    samples: list[Sample] = []
    names: set[str] = set()
    for index, data in enumerate(document):
        if not isinstance(data, dict):
            raise DataFormatError(json_file, index, None, f"expected an object, got {data!r}")
        name = Record(json_file, data, index).get("image", str)
        record = Record(json_file, data, name or index)
        if not name:
            raise record.error("image", "empty file name")
        if name in names:
            raise record.error("image", "named twice: VizWiz asks one question per image")
        names.add(name)
        metadata = record.string_fields([], ["answer_type"])
        if "answerable" in data:
            answerable = record.get("answerable", int)
            if answerable not in (0, 1):
                raise record.error("answerable", f"expected 0 or 1, got {answerable!r}")
            metadata["answerable"] = str(answerable)
        samples.append(
            Sample(
                id=name,
                image=_image_file(image_dir, name, record, "image"),
                references=record.strings("answers", "answer") if annotated else (),
                question=record.get("question", str),
                metadata=metadata,
            )
        )
    return samples


def vizwiz_row_sample(row: DatasetRow) -> Sample:
    """The sample of a row of lmms-lab/VizWiz-VQA (splits ``val``, ``test``): its
    ``question_id`` is the image's name without ``.jpg`` (the sample is named with it, as the
    official files name it), ``question``, ``answers`` (strings; null or empty in ``test``:
    no references) and ``category`` (the answer type, kept as ``answer_type``)."""
    name = f"{row.id}.jpg"
    metadata = row.string_fields([], ["category"])
    return Sample(
        id=name,
        image=row.image(name),
        references=row.strings("answers") if row.data.get("answers") else (),
        question=row.get("question", str),
        metadata={"answer_type": metadata["category"]} if metadata else {},
    )
