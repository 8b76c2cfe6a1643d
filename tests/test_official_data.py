"""Loaders of the official formats, on the bundled mini data and on malformed files."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

import vlm_eval.demo
from vlm_eval.data import (
    DataFormatError,
    DatasetImage,
    ImageError,
    ImageFile,
    Sample,
    load_coco_captions,
    load_karpathy_captions,
    load_textvqa,
    load_vqa,
    read_predictions,
)
from vlm_eval.demo.mini_data import write_mini_data

BUNDLED = Path(vlm_eval.demo.__file__).parent / "data"
REFERENCE = Path(__file__).parent / "data" / "reference"


def _bundled_vqa(task: str, subtype: str, *, annotated: bool = True) -> list[Sample]:
    prefix = "v2_" if task == "vqav2" else ""
    root = BUNDLED / task
    return load_vqa(
        root / f"{prefix}OpenEnded_mscoco_{subtype}_questions.json",
        root / f"{prefix}mscoco_{subtype}_annotations.json" if annotated else None,
        root / subtype,
        f"COCO_{subtype}_{{image_id:012d}}.jpg",
    )


def _write(path: Path, content: Any) -> Path:
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def _assert_names(
    error: DataFormatError, path: Path, record: str | int | None, field: str | None
) -> None:
    assert (error.path, error.record, error.field) == (path, record, field)
    message = str(error)
    assert str(path) in message
    if record is not None:
        assert f"record {record}" in message
    if field is not None:
        assert repr(field) in message


# Bundled data.


@pytest.mark.parametrize(
    ("task", "subtype", "count", "first_id", "first_refs", "first_metadata"),
    [
        (
            "vqav2",
            "val2014",
            24,
            "409779000",
            ("green",) * 6 + ("lime",) + ("green",) * 3,
            {
                "image_id": "409779",
                "answer_type": "other",
                "question_type": "what color is the",
                "multiple_choice_answer": "green",
            },
        ),
        ("vqav2", "train2014", 12, "113875000", None, None),
        (
            "okvqa",
            "val2014",
            24,
            "3651530",
            ("blueberry",) * 4 + ("plum",) + ("blueberry",) * 5,
            {"image_id": "365153", "answer_type": "other", "question_type": "five"},
        ),
        ("okvqa", "train2014", 12, "3610550", None, None),
    ],
)
def test_load_vqa_bundled(
    task: str,
    subtype: str,
    count: int,
    first_id: str,
    first_refs: tuple[str, ...] | None,
    first_metadata: dict[str, str] | None,
) -> None:
    samples = _bundled_vqa(task, subtype)
    assert len(samples) == count
    assert len({sample.image for sample in samples}) == count // 2
    assert all(len(sample.references) == 10 and sample.question for sample in samples)
    first = samples[0]
    assert first.id == first_id
    image_id = int(first.metadata["image_id"])
    assert first.image.path == BUNDLED / task / subtype / f"COCO_{subtype}_{image_id:012d}.jpg"
    assert first.image.path.is_file()
    if first_refs is not None:
        assert first.references == first_refs
        assert first.metadata == first_metadata


def test_load_vqa_bundled_first_question() -> None:
    assert _bundled_vqa("vqav2", "val2014")[0].question == "What color is the square?"
    answer_types = {sample.metadata["answer_type"] for sample in _bundled_vqa("vqav2", "val2014")}
    assert answer_types == {"yes/no", "number", "other"}


def test_load_vqa_without_annotations_keeps_questions_only() -> None:
    samples = _bundled_vqa("vqav2", "val2014", annotated=False)
    assert [s.id for s in samples] == [s.id for s in _bundled_vqa("vqav2", "val2014")]
    assert samples[0].references == ()
    assert samples[0].metadata == {"image_id": "409779"}


@pytest.mark.parametrize(
    ("split", "count", "first_id", "first_image", "first_refs"),
    [
        ("val", 24, "34602", "4dada5f6ab59febc", ("56",) * 6 + ("#56",) * 3 + ("56",)),
        ("train", 12, "0", "ebadfbcfa5e4f43d", None),
    ],
)
def test_load_textvqa_bundled(
    split: str, count: int, first_id: str, first_image: str, first_refs: tuple[str, ...] | None
) -> None:
    root = BUNDLED / "textvqa"
    samples = load_textvqa(root / f"TextVQA_0.5.1_{split}.json", root / "train_images")
    assert len(samples) == count
    first = samples[0]
    assert first.id == first_id
    assert first.image.path == root / "train_images" / f"{first_image}.jpg"
    assert first.image.path.is_file()
    assert first.metadata == {"image_id": first_image, "set_name": split}
    assert len(first.references) == 10
    if first_refs is not None:
        assert first.references == first_refs
        assert first.question == "what number is on the sign?"


@pytest.mark.parametrize(
    ("split", "count", "first_id", "folder"),
    [("test", 16, "116182", "val2014"), ("train", 8, "4323", "train2014")],
)
def test_load_karpathy_captions_bundled(split: str, count: int, first_id: str, folder: str) -> None:
    root = BUNDLED / "coco_caption"
    samples = load_karpathy_captions(root / "dataset_coco.json", root, split)
    assert len(samples) == count
    first = samples[0]
    assert first.id == first_id
    assert first.image.path == root / folder / f"COCO_{folder}_{int(first_id):012d}.jpg"
    assert first.image.path.is_file()
    assert first.question is None
    assert first.metadata == {"image_id": first_id}
    assert len(first.references) == 5
    assert all(ref == ref.strip() for sample in samples for ref in sample.references)
    if split == "test":
        assert first.references[0] == (
            "A green square, an orange triangle and a yellow circle on a beige background."
        )


def test_load_vqa_real_files() -> None:
    vqav2 = load_vqa(
        REFERENCE / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions_first100_STUB.json",
        REFERENCE / "vqav2" / "v2_mscoco_val2014_annotations_first100.json",
        Path("val2014"),
        "COCO_val2014_{image_id:012d}.jpg",
    )
    assert len(vqav2) == 100
    assert vqav2[0].image.path == Path("val2014/COCO_val2014_000000262148.jpg")
    assert vqav2[0].metadata == {
        "image_id": "262148",
        "answer_type": "other",
        "question_type": "none of the above",
        "multiple_choice_answer": "down",
    }
    textvqa = load_vqa(
        REFERENCE / "textvqa" / "val_questions_vqa_format_first500.json",
        REFERENCE / "textvqa" / "val_annotations_vqa_format_first500.json",
        Path("train_images"),
        "{image_id}.jpg",
    )
    assert len(textvqa) == 500
    assert textvqa[0].image.path == Path("train_images/003a8ae2ef43b901.jpg")
    assert textvqa[0].question == "what is the brand of this camera?"


def test_bundled_data_matches_the_generator(tmp_path: Path) -> None:
    write_mini_data(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    bundled = sorted(p.relative_to(BUNDLED) for p in BUNDLED.rglob("*") if p.is_file())
    assert generated == bundled
    for relative in generated:
        if relative.suffix == ".json":  # JPEG bytes may differ between Pillow builds
            assert (tmp_path / relative).read_bytes() == (BUNDLED / relative).read_bytes()
    # Twenty-odd tasks' mini splits stay under a megabyte in the repository.
    assert sum((BUNDLED / p).stat().st_size for p in bundled) < 1_000_000


def test_karpathy_train_includes_restval(tmp_path: Path) -> None:
    image = {"filepath": "val2014", "filename": "a.jpg", "sentences": [{"raw": " A cat. "}]}
    path = _write(
        tmp_path / "dataset_coco.json",
        {
            "images": [
                image | {"cocoid": 1, "split": "train"},
                image | {"cocoid": 2, "split": "restval"},
                image | {"cocoid": 3, "split": "val"},
            ]
        },
    )
    samples = load_karpathy_captions(path, tmp_path, "train")
    assert [s.id for s in samples] == ["1", "2"]
    assert samples[0].references == ("A cat.",)


def test_textvqa_test_split_has_no_references(tmp_path: Path) -> None:
    record = {"question": "what is it?", "image_id": "abc", "question_id": 7}
    path = _write(tmp_path / "TextVQA_0.5.1_test.json", {"data": [record]})
    [sample] = load_textvqa(path, tmp_path)
    assert (sample.references, sample.metadata) == ((), {"image_id": "abc"})


# Malformed inputs.


def _vqa_files(
    tmp_path: Path, questions: list[dict[str, Any]], annotations: list[dict[str, Any]]
) -> tuple[Path, Path]:
    return (
        _write(tmp_path / "questions.json", {"questions": questions}),
        _write(tmp_path / "annotations.json", {"annotations": annotations}),
    )


def _question(question_id: int) -> dict[str, Any]:
    return {"image_id": 5, "question": "What color?", "question_id": question_id}


def _annotation(question_id: int) -> dict[str, Any]:
    return {
        "question_id": question_id,
        "image_id": 5,
        "question_type": "what color is the",
        "answer_type": "other",
        "answers": [{"answer": "red", "answer_confidence": "yes", "answer_id": 1}],
        "multiple_choice_answer": "red",
    }


def _load_vqa(questions: Path, annotations: Path | None) -> list[Sample]:
    return load_vqa(questions, annotations, questions.parent, "{image_id}.jpg")


def test_vqa_valid_fixture_loads(tmp_path: Path) -> None:
    [sample] = _load_vqa(*_vqa_files(tmp_path, [_question(50)], [_annotation(50)]))
    assert (sample.id, sample.references, sample.image.path) == ("50", ("red",), tmp_path / "5.jpg")


def test_missing_field(tmp_path: Path) -> None:
    question = _question(50)
    del question["question"]
    questions, annotations = _vqa_files(tmp_path, [question], [_annotation(50)])
    with pytest.raises(DataFormatError, match="missing field") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, questions, "50", "question")


def test_missing_id_names_the_index(tmp_path: Path) -> None:
    question = _question(50)
    del question["question_id"]
    questions, annotations = _vqa_files(tmp_path, [_question(49), question], [])
    with pytest.raises(DataFormatError) as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, questions, 1, "question_id")


@pytest.mark.parametrize("bad_id", ["50", 50.0, True, None])
def test_question_id_not_int(tmp_path: Path, bad_id: Any) -> None:
    questions, annotations = _vqa_files(tmp_path, [_question(50) | {"question_id": bad_id}], [])
    with pytest.raises(DataFormatError, match="expected an integer") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, questions, 0, "question_id")


def test_duplicate_question_id(tmp_path: Path) -> None:
    questions, annotations = _vqa_files(tmp_path, [_question(50), _question(50)], [])
    with pytest.raises(DataFormatError, match="duplicate") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, questions, "50", "question_id")


def test_duplicate_annotation(tmp_path: Path) -> None:
    questions, annotations = _vqa_files(
        tmp_path, [_question(50)], [_annotation(50), _annotation(50)]
    )
    with pytest.raises(DataFormatError, match="duplicate") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, annotations, "50", "question_id")


def test_vqa_answer_not_a_string(tmp_path: Path) -> None:
    annotation = _annotation(50)
    annotation["answers"].append({"answer": 2, "answer_confidence": "yes", "answer_id": 2})
    questions, annotations = _vqa_files(tmp_path, [_question(50)], [annotation])
    with pytest.raises(DataFormatError, match="expected a string") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, annotations, "50", "answers[1].answer")


def test_vqa_answers_not_a_list(tmp_path: Path) -> None:
    questions, annotations = _vqa_files(
        tmp_path, [_question(50)], [_annotation(50) | {"answers": "red"}]
    )
    with pytest.raises(DataFormatError, match="expected a list") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, annotations, "50", "answers")


def test_question_without_annotation(tmp_path: Path) -> None:
    questions, annotations = _vqa_files(tmp_path, [_question(50), _question(51)], [_annotation(50)])
    with pytest.raises(DataFormatError, match="no annotation") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, annotations, "51", "question_id")


def test_annotation_for_another_image(tmp_path: Path) -> None:
    questions, annotations = _vqa_files(
        tmp_path, [_question(50)], [_annotation(50) | {"image_id": 6}]
    )
    with pytest.raises(DataFormatError, match="differs") as info:
        _load_vqa(questions, annotations)
    _assert_names(info.value, annotations, "50", "image_id")


def test_image_id_not_fitting_the_pattern(tmp_path: Path) -> None:
    questions, _ = _vqa_files(tmp_path, [_question(50) | {"image_id": "abc"}], [])
    with pytest.raises(DataFormatError, match="does not fit") as info:
        load_vqa(questions, None, tmp_path, "COCO_val2014_{image_id:012d}.jpg")
    _assert_names(info.value, questions, "50", "image_id")


def test_missing_top_level_key(tmp_path: Path) -> None:
    questions = _write(tmp_path / "questions.json", {"data": []})
    with pytest.raises(DataFormatError, match="missing top-level key") as info:
        _load_vqa(questions, None)
    _assert_names(info.value, questions, None, "questions")


def test_record_not_an_object(tmp_path: Path) -> None:
    path = _write(tmp_path / "TextVQA_0.5.1_val.json", {"data": [["what?"]]})
    with pytest.raises(DataFormatError, match="expected an object") as info:
        load_textvqa(path, tmp_path)
    _assert_names(info.value, path, 0, None)


def test_textvqa_answers_not_strings(tmp_path: Path) -> None:
    record = {"question": "what?", "image_id": "abc", "question_id": 7, "answers": ["a", 3]}
    path = _write(tmp_path / "TextVQA_0.5.1_val.json", {"data": [record]})
    with pytest.raises(DataFormatError, match="expected a string") as info:
        load_textvqa(path, tmp_path)
    _assert_names(info.value, path, "7", "answers[1]")


def test_karpathy_unknown_split(tmp_path: Path) -> None:
    root = BUNDLED / "coco_caption"
    with pytest.raises(DataFormatError, match=r"'val'.*\['test', 'train'\]") as info:
        load_karpathy_captions(root / "dataset_coco.json", root, "val")
    _assert_names(info.value, root / "dataset_coco.json", None, "split")


def test_karpathy_duplicate_cocoid(tmp_path: Path) -> None:
    image = {"filepath": "val2014", "filename": "a.jpg", "split": "test", "sentences": []}
    path = _write(tmp_path / "dataset_coco.json", {"images": [image | {"cocoid": 9}] * 2})
    with pytest.raises(DataFormatError, match="duplicate") as info:
        load_karpathy_captions(path, tmp_path, "test")
    _assert_names(info.value, path, "9", "cocoid")


def test_karpathy_sentence_without_raw(tmp_path: Path) -> None:
    image = {"cocoid": 9, "filepath": "v", "filename": "a.jpg", "split": "test"}
    path = _write(tmp_path / "dataset_coco.json", {"images": [image | {"sentences": [{}]}]})
    with pytest.raises(DataFormatError) as info:
        load_karpathy_captions(path, tmp_path, "test")
    _assert_names(info.value, path, "9", "sentences[0].raw")


def test_not_json(tmp_path: Path) -> None:
    path = tmp_path / "dataset_coco.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataFormatError, match="not valid JSON") as info:
        load_karpathy_captions(path, tmp_path, "test")
    _assert_names(info.value, path, None, None)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "TextVQA_0.5.1_val.json"
    with pytest.raises(DataFormatError, match="file not found") as info:
        load_textvqa(path, tmp_path)
    _assert_names(info.value, path, None, None)


def test_load_coco_captions_groups_captions_by_image(tmp_path: Path) -> None:
    path = tmp_path / "captions_val2014.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 3, "file_name": "b.jpg"}],
                "annotations": [
                    {"id": 1, "image_id": 3, "caption": "A dog. "},
                    {"id": 2, "image_id": 7, "caption": "A cat."},
                    {"id": 5, "image_id": 3, "caption": "A puppy."},
                ],
            }
        )
    )
    samples = load_coco_captions(path, tmp_path)
    assert [(s.id, s.image.path.name, s.references) for s in samples] == [
        ("7", "a.jpg", ("A cat.",)),
        ("3", "b.jpg", ("A dog.", "A puppy.")),
    ]


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ([{"id": 1, "image_id": 9, "caption": "x"}], r"record 1, field 'image_id': 9 is not in"),
        ([], r"record 7, field 'id': image has no caption"),
        ([{"id": 1, "image_id": 7, "caption": None}], r"record 1, field 'caption': expected a str"),
    ],
)
def test_load_coco_captions_rejects_bad_records(
    tmp_path: Path, annotations: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "captions.json"
    path.write_text(
        json.dumps({"images": [{"id": 7, "file_name": "a.jpg"}], "annotations": annotations})
    )
    with pytest.raises(DataFormatError, match=message):
        load_coco_captions(path, tmp_path)


def test_loaders_pause_the_garbage_collector_and_restore_it_even_after_an_error(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(DataFormatError, match="file not found"):
        read_predictions(missing, "question_id", "answer")
    assert gc.isenabled()
    gc.disable()
    try:
        with pytest.raises(DataFormatError):
            read_predictions(missing, "question_id", "answer")
        assert not gc.isenabled()  # the caller's choice is kept
    finally:
        gc.enable()


@pytest.mark.parametrize("image_id", ["../../etc/passwd", "/etc/passwd", "a/../../b"])
def test_image_paths_cannot_leave_the_image_folder(tmp_path: Path, image_id: str) -> None:
    question, annotation = _question(50), _annotation(50)
    question["image_id"] = annotation["image_id"] = image_id
    questions, annotations = _vqa_files(tmp_path, [question], [annotation])
    with pytest.raises(DataFormatError, match="leaves the image folder") as info:
        load_vqa(questions, annotations, tmp_path / "images", "{image_id}")
    _assert_names(info.value, questions, "50", "image_id")


def test_an_image_path_may_name_a_subfolder(tmp_path: Path) -> None:
    question, annotation = _question(50), _annotation(50)
    question["image_id"] = annotation["image_id"] = "sub/../sub/5"
    [sample] = load_vqa(*_vqa_files(tmp_path, [question], [annotation]), tmp_path, "{image_id}")
    assert sample.image == ImageFile(tmp_path / "sub" / "5")


def test_unreadable_images_raise_image_errors_naming_them(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=f"cannot read image {tmp_path / 'missing.jpg'}"):
        ImageFile(tmp_path / "missing.jpg").open()
    with pytest.raises(ImageError, match=f"cannot decode image {corrupt}: cannot identify"):
        ImageFile(corrupt).open()


def test_images_open_as_plain_rgb_images_with_their_pixels(tmp_path: Path) -> None:
    noise = Image.effect_noise((64, 48), 40)
    noise.convert("RGB").save(tmp_path / "color.jpg", dpi=(150, 150))
    noise.save(tmp_path / "gray.png")
    # Over 16 MiB of RGB pixels: in several of Pillow's blocks, which Arrow cannot share.
    noise.convert("RGB").resize((2400, 1800)).save(tmp_path / "large.jpg")
    for name in ("color.jpg", "gray.png", "large.jpg"):
        opened = ImageFile(tmp_path / name).open()
        with Image.open(tmp_path / name) as reference:
            expected = reference.convert("RGB")
        assert type(opened) is Image.Image and opened.mode == "RGB"
        assert (opened.size, opened.tobytes()) == (expected.size, expected.tobytes())
        assert opened.info == expected.info
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((tmp_path / "color.jpg").read_bytes()[:-200])
    with pytest.raises(ImageError, match=f"cannot decode image {truncated}: image file is trunc"):
        ImageFile(truncated).open()


def test_dataset_images_are_read_from_their_row(tmp_path: Path) -> None:
    import datasets

    Image.new("RGB", (3, 2), "red").save(tmp_path / "a.png")
    rows = datasets.Dataset.from_dict(
        {"image": [str(tmp_path / "a.png"), None]}, features=datasets.Features(
            {"image": datasets.Image(decode=False)})
    )  # fmt: skip
    image = DatasetImage(rows, row=0, column="image", name="toy:0").open()
    assert (image.size, image.getpixel((0, 0))) == ((3, 2), (255, 0, 0))
    with pytest.raises(ImageError, match="image toy:1: row 1 has no 'image' data"):
        DatasetImage(rows, row=1, column="image", name="toy:1").open()
