"""Loaders of the official annotation formats: VQAv2 / OK-VQA, TextVQA and Karpathy COCO captions.

Every loader validates the files at the boundary and raises `DataFormatError` naming the file,
the record (question id or COCO id where known, else the record's index) and the field.
Image files are not opened here; samples only carry their paths.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from vlm_eval._gc import without_gc_pauses
from vlm_eval.data._errors import DataFormatError
from vlm_eval.data._images import ImageFile
from vlm_eval.data._records import Record
from vlm_eval.data._sample import Sample


def _read_json(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, None, None, "file not found") from None
    except OSError as error:
        raise DataFormatError(path, None, None, f"cannot read the file: {error}") from None
    try:
        return json.loads(raw)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise DataFormatError(path, None, None, f"not valid JSON: {error}") from None
    except RecursionError:
        raise DataFormatError(path, None, None, "not valid JSON: nested too deeply") from None


def _records(path: Path, key: str, id_field: str) -> dict[int, Record]:
    """The objects listed under the top-level `key` of `path`, in order, by their unique int id."""
    document = _read_json(path)
    if not isinstance(document, dict) or key not in document:
        raise DataFormatError(path, None, key, "missing top-level key")
    if not isinstance(document[key], list):
        raise DataFormatError(path, None, key, "expected a list")
    records: dict[int, Record] = {}
    for index, data in enumerate(document[key]):
        if not isinstance(data, dict):
            raise DataFormatError(path, index, None, f"expected an object, got {data!r}")
        record_id = data.get(id_field)
        if type(record_id) is not int:
            record_id = Record(path, data, index).get(id_field, int)
        if record_id in records:
            raise DataFormatError(path, str(record_id), id_field, "duplicate id")
        records[record_id] = Record(path, data, str(record_id))
    return records


def _image_file(root: Path, relative: str, record: Record, field: str) -> ImageFile:
    """``root / relative``, refused if ``relative`` (from the annotation file) leaves ``root``."""
    normal = os.path.normpath(relative)
    if os.path.isabs(normal) or normal == ".." or normal.startswith(f"..{os.sep}"):
        raise record.error(field, f"image path {relative!r} leaves the image folder {root}")
    return ImageFile(root / normal)


@without_gc_pauses
def load_vqa(
    questions_file: Path,
    annotations_file: Path | None,
    image_dir: Path,
    image_name: str,
    *,
    answer_field: str = "answer",
) -> list[Sample]:
    """Load VQAv2 or OK-VQA questions with their 10 human answers, in the questions file's order.

    Args:
        questions_file: ``{"questions": [{image_id, question, question_id}]}``.
        annotations_file: ``{"annotations": [{question_id, image_id, question_type, answer_type,
            answers: [{answer, ...}], multiple_choice_answer}]}``; ``None`` for test splits (no
            references). The last three fields go to the metadata when present (OK-VQA has no
            ``multiple_choice_answer``; TextVQA in this format has no ``answer_type``).
        image_dir: Folder of the images.
        image_name: Image file name pattern, e.g. ``"COCO_val2014_{image_id:012d}.jpg"``.
        answer_field: The field of each ``answers`` object read as a reference: ``answer``, or
            ``raw_answer`` (OK-VQA v1.1 keeps the annotator's answer there, ``answer`` stemmed).
    """
    questions = _records(questions_file, "questions", "question_id")
    annotations: dict[int, Record] = {}
    if annotations_file is not None:
        annotations = _records(annotations_file, "annotations", "question_id")
    samples = []
    images: dict[str, ImageFile] = {}  # by name: the questions on an image share one
    for question_id, question in questions.items():
        image_id = question.get("image_id", int, str)
        try:
            name = image_name.format(image_id=image_id)
        except ValueError as error:
            raise question.error("image_id", f"does not fit {image_name!r}: {error}") from None
        image = images.get(name) or _image_file(image_dir, name, question, "image_id")
        images[name] = image
        references: tuple[str, ...] = ()
        metadata = {"image_id": str(image_id)}
        if annotations_file is not None:
            if question_id not in annotations:
                problem = f"question of {questions_file} has no annotation"
                raise DataFormatError(annotations_file, str(question_id), "question_id", problem)
            annotation = annotations[question_id]
            annotated_image = annotation.get("image_id", int, str)
            if annotated_image != image_id:
                problem = f"{annotated_image!r} differs from the question's {image_id!r}"
                raise annotation.error("image_id", problem)
            references = annotation.strings("answers", answer_field)
            metadata |= annotation.string_fields(
                [], ["answer_type", "question_type", "multiple_choice_answer"]
            )
        samples.append(
            Sample(
                id=str(question_id),
                image=image,
                references=references,
                question=question.get("question", str),
                metadata=metadata,
            )
        )
    return samples


@without_gc_pauses
def load_textvqa(json_file: Path, image_dir: Path) -> list[Sample]:
    """Load a ``TextVQA_0.5.1_{split}.json`` file; images are ``image_dir / f"{image_id}.jpg"``.

    The test split has no ``answers``: its samples have no references.
    """
    samples = []
    for question_id, record in _records(json_file, "data", "question_id").items():
        metadata = record.string_fields(["image_id"], ["set_name"])
        samples.append(
            Sample(
                id=str(question_id),
                image=_image_file(image_dir, f"{metadata['image_id']}.jpg", record, "image_id"),
                references=record.strings("answers") if "answers" in record.data else (),
                question=record.get("question", str),
                metadata=metadata,
            )
        )
    return samples


@without_gc_pauses
def load_karpathy_captions(
    json_file: Path, image_root: Path, split: str, *, id_field: str = "cocoid"
) -> list[Sample]:
    """Load one split of a Karpathy ``dataset_coco.json`` (or ``dataset_flickr30k.json``), one
    sample per image, identified by its ``id_field`` (Flickr30k's file has no ``cocoid``: read
    ``imgid``).

    ``"train"`` also takes the ``"restval"`` images, as is customary. Images are
    ``image_root / filepath / filename`` (``image_root / filename`` without ``filepath``, as in
    the Flickr files); references are the stripped raw sentences.
    """
    wanted = {split, "restval"} if split == "train" else {split}
    splits = set()
    samples = []
    for image_id, record in _records(json_file, "images", id_field).items():
        image_split = record.get("split", str)
        splits.add(image_split)
        if image_split in wanted:
            samples.append(
                Sample(
                    id=str(image_id),
                    image=_image_file(
                        image_root,
                        os.path.join(
                            record.get("filepath", str) if "filepath" in record.data else "",
                            record.get("filename", str),
                        ),
                        record,
                        "filename",
                    ),
                    references=tuple(raw.strip() for raw in record.strings("sentences", "raw")),
                    metadata={"image_id": str(image_id)},
                )
            )
    if split not in splits:
        raise DataFormatError(
            json_file, None, "split", f"unknown split {split!r}; the file has {sorted(splits)}"
        )
    return samples


@without_gc_pauses
def load_coco_captions(json_file: Path, image_dir: Path) -> list[Sample]:
    """Load a COCO ``captions_{split}.json`` file, one sample per image, in the images' order.

    The file holds ``images: [{id, file_name}]`` and ``annotations: [{id, image_id, caption}]``;
    images are ``image_dir / file_name``. An image without a caption is an error.
    """
    images = _records(json_file, "images", "id")
    captions: dict[int, list[str]] = {image_id: [] for image_id in images}
    for record in _records(json_file, "annotations", "id").values():
        image_id = record.get("image_id", int)
        if image_id not in captions:
            raise record.error("image_id", f"{image_id} is not in the file's images")
        captions[image_id].append(record.get("caption", str).strip())
    samples = []
    for image_id, record in images.items():
        if not captions[image_id]:
            raise record.error("id", "image has no caption in annotations")
        samples.append(
            Sample(
                id=str(image_id),
                image=_image_file(image_dir, record.get("file_name", str), record, "file_name"),
                references=tuple(captions[image_id]),
                metadata={"image_id": str(image_id)},
            )
        )
    return samples


@without_gc_pauses
def read_predictions(
    path: Path, id_field: str, text_field: str, id_kinds: tuple[type, ...] = (int,)
) -> dict[str, str]:
    """Read an official results file, ``[{id_field: int, text_field: str}, ...]`` (ids of
    ``id_kinds``: integers unless told).

    Returns the texts by id (as strings). Raises ``DataFormatError`` naming the file, the record
    and the field for anything else: not a list, a missing or extra key, an id that is not of
    ``id_kinds``, a text that is not a string, or an id given twice.
    """
    document = _read_json(path)
    if not isinstance(document, list):
        raise DataFormatError(path, None, None, "expected a JSON list of predictions")
    texts: dict[str, str] = {}
    for index, data in enumerate(document):
        if not isinstance(data, dict):
            raise DataFormatError(path, index, None, f"expected an object, got {data!r}")
        record_id = Record(path, data, index).get(id_field, *id_kinds)
        record = Record(path, data, str(record_id))
        extra = sorted(set(data) - {id_field, text_field})
        if extra:
            raise record.error(
                extra[0], f"unexpected key; expected {id_field!r} and {text_field!r}"
            )
        if str(record_id) in texts:
            raise record.error(id_field, "predicted twice")
        texts[str(record_id)] = record.get(text_field, str)
    return texts


def read_id_list(path: Path) -> list[str]:
    """Sample ids listed in ``path``: a JSON list of ids (integers or strings), or one id per
    line; ids are returned as strings, in order.

    Raises:
        DataFormatError: For an unreadable file, an empty list, an id that is not an integer or
            a non-empty string, or an id listed twice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise DataFormatError(path, None, None, f"cannot read the file: {error}") from None
    if text.lstrip().startswith(("[", "{")):
        items = _read_json(path)
    else:
        items = [line.strip() for line in text.splitlines() if line.strip()]
    if not isinstance(items, list) or not items:
        raise DataFormatError(path, None, None, "expected a JSON list of ids or one id per line")
    ids: dict[str, None] = {}
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, int | str) or item == "":
            raise DataFormatError(path, index, None, f"expected an id, got {item!r}")
        if str(item) in ids:
            raise DataFormatError(path, str(item), None, "listed twice")
        ids[str(item)] = None
    return list(ids)
