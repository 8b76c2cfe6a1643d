"""ChartQA's official files (vis-nlp/ChartQA, ``ChartQA Dataset/``) and rows of lmms-lab/ChartQA.

A split's folder holds ``{split}_human.json`` (questions written by people) and
``{split}_augmented.json`` (generated ones), each a list of ``{"imgname", "query", "label"}``;
charts are ``png/{imgname}``. Questions have no ids: a sample is named ``{set}_{index}``
(``human_0`` is the first question of the human file). The hub's test split has the columns
``type`` (``human_test``, ``augmented_test``), ``question``, ``answer`` and ``image``.
"""

from __future__ import annotations

from pathlib import Path

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageFile, ImageSource
from vlm_eval.data._official import _image_file, _read_json
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample

CHARTQA_SETS = ("human", "augmented")
"""ChartQA's two question sets, in the order samples are loaded; a sample's ``question_set``
metadata."""


def chartqa_sample(
    record: Record, image: ImageSource, question_set: str, *, question: str, answer: str
) -> Sample:
    """The sample of one ChartQA question: its ``question`` field asked, its ``answer`` field
    the one reference, ``question_set`` (``human`` or ``augmented``) in its metadata.

    Raises:
        DataFormatError: For a missing or non-string question or answer.
    """
    return Sample(
        id=str(record.label),
        image=image,
        references=(record.get(answer, str),),
        question=record.get(question, str),
        metadata={"question_set": question_set},
    )


@without_gc_pauses
def load_chartqa(folder: Path, split: str) -> list[Sample]:
    """Both question sets of a split: ``folder / f"{split}_human.json"`` then
    ``folder / f"{split}_augmented.json"``, charts ``folder / "png" / imgname``.

    Raises:
        DataFormatError: Naming the file, the record and the field: a file that is not a list
            of objects, a missing or non-string ``imgname``, ``query`` or ``label``, an image
            name that leaves ``png/``.
    """
    samples = []
    images: dict[str, ImageFile] = {}  # questions on one chart share its image
    for question_set in CHARTQA_SETS:
        path = folder / f"{split}_{question_set}.json"
        records = _read_json(path)
        if not isinstance(records, list):
            raise DataFormatError(path, None, None, "expected a list of questions")
        for index, data in enumerate(records):
            label = f"{question_set}_{index}"
            if not isinstance(data, dict):
                raise DataFormatError(path, label, None, f"expected an object, got {data!r}")
            record = Record(path, data, label)
            name = record.get("imgname", str)
            image = images.get(name) or _image_file(folder / "png", name, record, "imgname")
            images[name] = image
            sample = chartqa_sample(record, image, question_set, question="query", answer="label")
            samples.append(sample)
    return samples
