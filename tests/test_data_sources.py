"""Data sources: official files, hub datasets, ``save_to_disk`` folders and parquet files.

The hub cannot be reached from the test suite: fixtures are ``datasets`` splits built here with
the columns of the lmms-lab hub copies, from the bundled mini data, the real reference
annotations and the ``easy-vqa`` package's images and questions.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
import easy_vqa
import pytest
from click.testing import CliRunner
from datasets import Features, List, Value
from PIL import Image

from tests.test_task_plugins import readme_task_example
from vlm_eval import ArgumentsError
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, DataSource, Sample, load_vqa
from vlm_eval.metrics import vqa_accuracy
from vlm_eval.models import HuggingFaceAdapter
from vlm_eval.report import Run, render_markdown
from vlm_eval.results import RunResults
from vlm_eval.runner import RunConfig, run_evaluation
from vlm_eval.tasks import (
    TaskData,
    get_task,
    load_tasks,
    resolve_data_args,
    resolve_task_data,
)

REFERENCE = Path(__file__).parent / "data" / "reference"
Rows = list[dict[str, Any]]

# The columns of the hub copies (lmms-lab/VQAv2, OK-VQA, textvqa, COCO-Caption) that tasks read,
# with some of the others, which they ignore.
VQAV2 = Features(
    {
        "question_type": Value("string"),
        "multiple_choice_answer": Value("string"),
        "answers": List(
            {
                "answer": Value("string"),
                "answer_confidence": Value("string"),
                "answer_id": Value("int64"),
            }
        ),
        "image_id": Value("int64"),
        "answer_type": Value("string"),
        "question_id": Value("int64"),
        "question": Value("string"),
        "image": datasets.Image(),
    }
)
OKVQA = Features(
    {
        "question_type": Value("string"),
        "answers": List(Value("string")),
        "image_id": Value("int64"),
        "answer_type": Value("string"),
        "question_id": Value("int64"),
        "question": Value("string"),
        "image": datasets.Image(),
    }
)
TEXTVQA = Features(
    {
        "image_id": Value("string"),
        "question_id": Value("int64"),
        "question": Value("string"),
        "question_tokens": List(Value("string")),
        "image": datasets.Image(),
        "image_width": Value("int64"),
        "answers": List(Value("string")),
        "set_name": Value("string"),
    }
)
COCO_CAPTION = Features(
    {
        "question_id": Value("string"),
        "image": datasets.Image(),
        "question": Value("string"),
        "answer": List(Value("string")),
        "id": Value("int64"),
        "file_name": Value("string"),
    }
)


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``datasets`` converts (parquet) goes to the test's folder, not the user's cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


@pytest.fixture(autouse=True, scope="module")
def _tasks() -> None:
    load_tasks()


def _image(path: Path) -> dict[str, Any]:
    """An image cell as the hub stores it: the file's bytes and name."""
    return {"bytes": path.read_bytes(), "path": path.name}


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


VQA_METADATA = ("answer_type", "question_type", "multiple_choice_answer")


def _vqa_rows(folder: Path, prefix: str, subtype: str, *, answer_objects: bool) -> Rows:
    """VQAv2 / OK-VQA rows from official question and annotation files."""
    questions = _json(folder / f"{prefix}OpenEnded_mscoco_{subtype}_questions.json")["questions"]
    annotations = _json(folder / f"{prefix}mscoco_{subtype}_annotations.json")["annotations"]
    by_id = {a["question_id"]: a for a in annotations}
    rows = []
    for question in questions:
        annotation = by_id[question["question_id"]]
        row = {key: question[key] for key in ("question_id", "question", "image_id")}
        row |= {key: annotation[key] for key in VQA_METADATA if key in annotation}
        answers = annotation["answers"]
        row["answers"] = (
            [{key: a[key] for key in ("answer", "answer_confidence", "answer_id")} for a in answers]
            if answer_objects
            else [a["answer"] for a in answers]
        )
        image = folder / subtype / f"COCO_{subtype}_{question['image_id']:012d}.jpg"
        rows.append(row | {"image": _image(image)})
    return rows


def _textvqa_rows(folder: Path, split: str) -> Rows:
    records = _json(folder / f"TextVQA_0.5.1_{split}.json")["data"]
    keys = ("image_id", "question_id", "question", "question_tokens", "image_width")
    return [
        {
            **{key: r[key] for key in keys},
            "answers": r["answers"],
            "set_name": r["set_name"],
            "image": _image(folder / "train_images" / f"{r['image_id']}.jpg"),
        }
        for r in records
    ]


def _caption_rows(folder: Path, split: str) -> Rows:
    instruction = "Provide a one-sentence caption for the provided image."
    return [
        {
            "question_id": image["filename"],
            "image": _image(folder / image["filepath"] / image["filename"]),
            "question": instruction,
            "answer": [sentence["raw"] for sentence in image["sentences"]],
            "id": image["cocoid"],
            "file_name": image["filename"],
        }
        for image in _json(folder / "dataset_coco.json")["images"]
        if image["split"] == split
    ]


# task -> (hub columns, official split -> (split name in the datasets copies, rows builder))
BENCHMARKS: dict[str, tuple[Features, dict[str, tuple[str, Callable[[Path], Rows]]]]] = {
    "vqav2": (
        VQAV2,
        {
            "val2014": (
                "validation",
                lambda d: _vqa_rows(d, "v2_", "val2014", answer_objects=True),
            ),
            "train2014": ("train", lambda d: _vqa_rows(d, "v2_", "train2014", answer_objects=True)),
        },
    ),
    "okvqa": (
        OKVQA,
        {
            "val2014": ("val2014", lambda d: _vqa_rows(d, "", "val2014", answer_objects=False)),
            "train2014": ("train", lambda d: _vqa_rows(d, "", "train2014", answer_objects=False)),
        },
    ),
    "textvqa": (
        TEXTVQA,
        {
            "val": ("validation", lambda d: _textvqa_rows(d, "val")),
            "train": ("train", lambda d: _textvqa_rows(d, "train")),
        },
    ),
    "coco_caption": (
        COCO_CAPTION,
        {
            "test": ("test", lambda d: _caption_rows(d, "test")),
            "train": ("train", lambda d: _caption_rows(d, "train")),
        },
    ),
}


def _dataset_dict(task: str, official: Path) -> datasets.DatasetDict:
    features, splits = BENCHMARKS[task]
    return datasets.DatasetDict(
        {name: datasets.Dataset.from_list(rows(official), features=features) for name, rows in
         splits.values()}
    )  # fmt: skip


def _save_parquet(dataset_dict: datasets.DatasetDict, folder: Path) -> Path:
    """The hub's layout: ``data/{split}-00000-of-00001.parquet``."""
    (folder / "data").mkdir(parents=True)
    for name, split in dataset_dict.items():
        split.to_parquet(folder / "data" / f"{name}-00000-of-00001.parquet")
    return folder


def _fields(samples: list[Sample]) -> list[tuple[Any, ...]]:
    return [(s.id, s.question, s.references, s.metadata) for s in samples]


def _pixels(samples: list[Sample]) -> list[tuple[tuple[int, int], bytes]]:
    return [(image.size, image.tobytes()) for image in (s.image.open() for s in samples)]


# The same data in every kind of source.


@pytest.mark.parametrize("task_name", list(BENCHMARKS))
def test_official_disk_and_parquet_copies_give_the_same_samples(
    task_name: str, mini_data: Path, tmp_path: Path
) -> None:
    task = get_task(task_name)
    dataset_dict = _dataset_dict(task_name, task.data_path(mini_data))
    dataset_dict.save_to_disk(tmp_path / "disk" / task.name)
    _save_parquet(dataset_dict, tmp_path / "parquet" / task.name)
    (eval_split, eval_name), (shots_split, shots_name) = (
        (split, name) for split, (name, _) in BENCHMARKS[task_name][1].items()
    )
    loaded = {}
    for kind, data_dir in [
        ("official", mini_data),
        ("disk", tmp_path / "disk"),
        ("parquet", tmp_path / "parquet"),
    ]:
        args = {} if kind == "official" else {"split": eval_name, "fewshot_split": shots_name}
        data = resolve_task_data(task, data_dir, args, fewshot=True)
        location = str(task.data_path(data_dir))
        expected = (eval_split, shots_split) if kind == "official" else (eval_name, shots_name)
        assert data == TaskData(DataSource(kind, location), *expected)
        loaded[kind] = (data.load(task, data.split), data.load(task, data.fewshot_split))

    official, disk, parquet = loaded.values()
    for samples in (official, disk, parquet):
        assert all(samples)
        assert all(s.references for split in samples for s in split)
    for split in range(2):
        assert _fields(disk[split]) == _fields(official[split])
        assert _fields(parquet[split]) == _fields(official[split])
        assert _pixels(disk[split]) == _pixels(official[split])
        assert _pixels(parquet[split]) == _pixels(official[split])
    # Rows about one image share its key, so the runner decodes it once.
    location = str(tmp_path / "disk" / task.name)
    for sample in disk[0]:
        assert sample.image.key == f"{location}:{eval_name}:{sample.metadata['image_id']}"


def test_coco_captions_json_is_an_official_format_too(mini_data: Path, tmp_path: Path) -> None:
    task = get_task("coco_caption")
    karpathy = task.load(mini_data / "coco_caption", "test")
    images = [{"id": int(s.id), "file_name": Path(s.image.key).name} for s in karpathy]
    captions = [
        {"id": i, "image_id": int(s.id), "caption": f" {caption} "}
        for i, (s, caption) in enumerate((s, c) for s in karpathy for c in s.references)
    ]
    folder = tmp_path / "coco_caption"
    folder.mkdir()
    (folder / "captions_val2014.json").write_text(
        json.dumps({"images": images, "annotations": captions})
    )
    (folder / "val2014").symlink_to(mini_data / "coco_caption" / "val2014")
    data = resolve_task_data(task, tmp_path, {"split": "val2014"}, fewshot=False)
    samples = data.load(task, data.split)
    assert _fields(samples) == _fields(karpathy)
    assert _pixels(samples) == _pixels(karpathy)


# The hub source: the real call to datasets.load_dataset, the download replaced.


def test_the_hub_source_loads_the_hub_id_split_and_revision_and_is_recorded(
    tiny_adapter: HuggingFaceAdapter,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = tmp_path / "downloaded"
    _dataset_dict("vqav2", mini_data / "vqav2").save_to_disk(local)
    calls = []

    def load_dataset(path: str, **kwargs: Any) -> datasets.Dataset:
        calls.append((path, kwargs))
        return datasets.load_from_disk(local)[kwargs["split"]]

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    cache = str(tmp_path / "cache")
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=None, output_dir=tmp_path / "run",
        limit=3, batch_size=3, data_args={"vqav2": {"revision": "0123abc", "cache_dir": cache}},
    )  # fmt: skip
    results = run_evaluation(config, adapter=tiny_adapter)

    assert calls == [
        ("lmms-lab/VQAv2", {"split": "validation", "revision": "0123abc", "cache_dir": cache})
    ]
    data = results["tasks"]["vqav2"]["data"]
    assert {key: data[key] for key in ("source", "location", "revision", "split")} == {
        "source": "hub",
        "location": "lmms-lab/VQAv2",
        "revision": "0123abc",
        "split": "validation",
    }
    assert data["fewshot_split"] is None and data["samples"] == 3
    assert results["config"]["data_dir"] is None
    records = [json.loads(line) for line in (tmp_path / "run" / "samples_vqav2.jsonl").open()]
    assert records[0]["references"] == ["green"] * 6 + ["lime"] + ["green"] * 3
    assert records[0]["prompt"][0]["content"][0]["image"] == "lmms-lab/VQAv2:validation:409779"
    report = render_markdown([Run("run", tmp_path / "run", RunResults.from_json(results))])
    assert "split `validation` of hub `lmms-lab/VQAv2` at revision `0123abc`" in report


# Malformed rows stop the run before the model is created.


def _set(column: str, value: Any, row: int | None = 1) -> Callable[[Rows], None]:
    """A change to ``column`` of one row (all rows if ``row`` is None)."""

    def corrupt(rows: Rows) -> None:
        for r in rows if row is None else [rows[row]]:
            r[column] = value

    return corrupt


INT_ANSWERS = Features(
    VQAV2 | {"answers": List({"answer": Value("int64"), "answer_confidence": Value("string"),
                              "answer_id": Value("int64")})}
)  # fmt: skip
NO_IMAGE = Features({k: v for k, v in VQAV2.items() if k != "image"})


@pytest.mark.parametrize(
    ("corrupt", "features", "record", "field", "problem"),
    [
        (_set("question", None), VQAV2, "409779001", "question", "missing field"),
        (_set("answers", [{"answer": 3, "answer_confidence": "yes", "answer_id": 1}], None),
         INT_ANSWERS, "409779000", "answers[0].answer", "expected a string, got 3"),
        (_set("question_id", None), VQAV2, 1, "question_id", "missing field"),
        (_set("question_id", 409779000), VQAV2, "409779000", "question_id", "duplicate id"),
        (_set("image", None, None), NO_IMAGE, None, "image", "missing column; the dataset has"),
    ],
)  # fmt: skip
def test_a_malformed_row_names_the_dataset_split_row_and_field_before_the_model_loads(
    corrupt: Callable[[Rows], None],
    features: Features,
    record: str | int | None,
    field: str,
    problem: str,
    mini_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _vqa_rows(mini_data / "vqav2", "v2_", "val2014", answer_objects=True)[:3]
    corrupt(rows)
    rows = [{k: v for k, v in r.items() if k in features} for r in rows]
    folder = tmp_path / "bad"
    split = datasets.Dataset.from_list(rows, features=features)
    datasets.DatasetDict({"validation": split}).save_to_disk(folder)

    def create_model(*args: Any) -> None:
        raise AssertionError("the model must not be created when the data is malformed")

    monkeypatch.setattr("vlm_eval.runner._runner.create_model", create_model)
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=None, output_dir=tmp_path / "run",
        data_args={"vqav2": {"path": str(folder)}},
    )  # fmt: skip
    with pytest.raises(DataFormatError) as caught:
        run_evaluation(config)
    error = caught.value
    assert (error.path, error.split, error.record, error.field) == (
        folder,
        "validation",
        record,
        field,
    )
    where = f"{folder}, split 'validation'" + ("" if record is None else f", record {record}")
    assert str(error).startswith(f"{where}, field {field!r}: {problem}")
    assert not (tmp_path / "run").exists()


# easy-vqa: real images and questions, evaluated from a disk source.


def _easy_vqa_rows(split: str, count: int) -> Rows:
    """The first ``count`` easy-vqa questions of ``split``, as VQAv2 rows.

    An easy-vqa question has one answer: it is repeated as the 10 human answers, so VQA accuracy
    is 0 or 1. easy-vqa numbers questions and images from 0 in each split: train ids are offset
    by 100,000, since a task's question and image ids must not collide across splits.
    """
    train = split == "train"
    questions, answers, image_ids = (
        easy_vqa.get_train_questions() if train else easy_vqa.get_test_questions()
    )
    paths = easy_vqa.get_train_image_paths() if train else easy_vqa.get_test_image_paths()
    offset = 100_000 if train else 0
    return [
        {
            "question_id": offset + index,
            "question": question,
            "image_id": offset + image_id,
            "answers": [
                {"answer": answer, "answer_confidence": "yes", "answer_id": i} for i in range(1, 11)
            ],
            "multiple_choice_answer": answer,
            "answer_type": "yes/no" if answer in ("yes", "no") else "other",
            "question_type": " ".join(question.split()[:3]),
            "image": _image(Path(paths[image_id])),
        }
        for index, (question, answer, image_id) in enumerate(
            zip(questions[:count], answers[:count], image_ids[:count], strict=True)
        )
    ]


def test_easy_vqa_images_and_questions_are_evaluated_from_a_disk_source(
    tiny_adapter: HuggingFaceAdapter, tmp_path: Path
) -> None:
    folder = tmp_path / "easy-vqa"
    rows = {"validation": _easy_vqa_rows("test", 8), "train": _easy_vqa_rows("train", 8)}
    datasets.DatasetDict(
        {split: datasets.Dataset.from_list(r, features=VQAV2) for split, r in rows.items()}
    ).save_to_disk(folder)
    config = RunConfig(
        model="hf", model_args={}, tasks=("vqav2",), data_dir=None, output_dir=tmp_path / "run",
        num_fewshot=1, batch_size=4, data_args={"vqav2": {"path": str(folder),
        "fewshot_split": "train"}},
    )  # fmt: skip
    results = run_evaluation(config, adapter=tiny_adapter)

    entry = results["tasks"]["vqav2"]
    data = entry["data"]
    assert (data["source"], data["location"], data["split"], data["fewshot_split"]) == (
        "disk",
        str(folder),
        "validation",
        "train",
    )
    records = [json.loads(line) for line in (tmp_path / "run" / "samples_vqav2.jsonl").open()]
    questions, answers, image_ids = easy_vqa.get_test_questions()
    assert [r["sample_id"] for r in records] == [str(i) for i in range(8)]
    train_ids = {str(r["question_id"]) for r in rows["train"]}
    for index, record in enumerate(records):
        assert record["references"] == [answers[index]] * 10
        query = record["prompt"][-1]["content"]
        assert query[0]["image"] == f"{folder}:validation:{image_ids[index]}"
        assert query[1]["text"].startswith(f"{questions[index]}\n")
        [shot] = record["shots"]
        assert shot in train_ids
        assert record["prompt"][0]["content"][0]["image"].startswith(f"{folder}:train:")
        accuracy = record["scores"]["accuracy"]
        assert accuracy == vqa_accuracy(record["prediction"], record["references"])
        assert accuracy in (0.0, 1.0)
    mean = 100 * sum(r["scores"]["accuracy"] for r in records) / len(records)
    assert entry["scores"]["metrics"]["accuracy"] == pytest.approx(mean)

    task_data = resolve_task_data(get_task("vqav2"), None, {"path": str(folder)}, fewshot=False)
    [first, *_] = task_data.load(get_task("vqav2"), task_data.split)
    with Image.open(easy_vqa.get_test_image_paths()[image_ids[0]]) as png:
        assert first.image.open().tobytes() == png.convert("RGB").tobytes()


# The real reference annotations, converted to datasets folders.


def test_real_vqav2_annotations_load_the_same_from_a_datasets_folder(tmp_path: Path) -> None:
    official = tmp_path / "official" / "vqav2"
    official.mkdir(parents=True)
    shutil.copy(
        REFERENCE / "vqav2" / "v2_OpenEnded_mscoco_val2014_questions_first100_STUB.json",
        official / "v2_OpenEnded_mscoco_val2014_questions.json",
    )
    shutil.copy(
        REFERENCE / "vqav2" / "v2_mscoco_val2014_annotations_first100.json",
        official / "v2_mscoco_val2014_annotations.json",
    )
    # The reference set has no images: blank stand-ins.
    (official / "val2014").mkdir()
    for image_id in {
        q["image_id"]
        for q in _json(official / "v2_OpenEnded_mscoco_val2014_questions.json")["questions"]
    }:
        Image.new("RGB", (2, 2)).save(official / "val2014" / f"COCO_val2014_{image_id:012d}.jpg")
    rows = _vqa_rows(official, "v2_", "val2014", answer_objects=True)
    folder = tmp_path / "disk"
    datasets.Dataset.from_list(rows, features=VQAV2).save_to_disk(folder)

    task = get_task("vqav2")
    expected = resolve_task_data(task, tmp_path / "official", {}, fewshot=False)
    data = resolve_task_data(task, None, {"path": str(folder)}, fewshot=False)
    assert data == TaskData(DataSource("disk", str(folder)), None, None)
    samples = data.load(task, data.split)
    assert len(samples) == 100
    assert _fields(samples) == _fields(expected.load(task, expected.split))
    assert samples[0].metadata == {
        "image_id": "262148",
        "answer_type": "other",
        "question_type": "none of the above",
        "multiple_choice_answer": "down",
    }


def test_real_textvqa_annotations_load_the_same_from_a_datasets_folder(tmp_path: Path) -> None:
    questions_file = REFERENCE / "textvqa" / "val_questions_vqa_format_first500.json"
    annotations_file = REFERENCE / "textvqa" / "val_annotations_vqa_format_first500.json"
    expected = load_vqa(questions_file, annotations_file, tmp_path, "{image_id}.jpg")
    answers = {a["question_id"]: a["answers"] for a in _json(annotations_file)["annotations"]}
    Image.new("RGB", (2, 2)).save(tmp_path / "blank.png")  # the reference set has no images
    rows = [
        {
            **question,
            "answers": [a["answer"] for a in answers[question["question_id"]]],
            "image": _image(tmp_path / "blank.png"),
        }
        for question in _json(questions_file)["questions"]
    ]
    features = Features({k: v for k, v in TEXTVQA.items() if k in rows[0]})
    folder = tmp_path / "textvqa"
    datasets.DatasetDict(
        {"validation": datasets.Dataset.from_list(rows, features=features)}
    ).save_to_disk(folder)

    task = get_task("textvqa")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    assert data == TaskData(DataSource("disk", str(folder)), "validation", None)
    samples = data.load(task, data.split)
    assert len(samples) == 500
    assert [(s.id, s.question, s.references, s.metadata["image_id"]) for s in samples] == [
        (s.id, s.question, s.references, s.metadata["image_id"]) for s in expected
    ]
    assert samples[0].question == "what is the brand of this camera?"
    assert samples[0].image.key == f"{folder}:validation:003a8ae2ef43b901"


# Choosing the source: defaults, --data-args, and what does not fit.


@pytest.fixture()
def data_dir(mini_data: Path, tmp_path: Path) -> Path:
    """vqav2: official files; textvqa: a save_to_disk folder; okvqa: parquet files; no
    coco_caption folder."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "vqav2").symlink_to(mini_data / "vqav2")
    _dataset_dict("textvqa", mini_data / "textvqa").save_to_disk(root / "textvqa")
    _save_parquet(_dataset_dict("okvqa", mini_data / "okvqa"), root / "okvqa")
    return root


@pytest.mark.parametrize(
    ("task", "args", "fewshot", "expected"),
    [
        ("vqav2", {}, True, ("official", "{data}/vqav2", "val2014", "train2014")),
        ("textvqa", {}, True, ("disk", "{data}/textvqa", "validation", "train")),
        ("okvqa", {}, False, ("parquet", "{data}/okvqa", "val2014", None)),
        ("coco_caption", {}, False, ("hub", "lmms-lab/COCO-Caption", "val", None)),
        ("textvqa", {"source": "hub"}, True,
         ("hub", "lmms-lab/textvqa", "validation", "train")),
        ("vqav2", {"path": "me/vqa", "revision": "v2"}, False,
         ("hub", "me/vqa", "validation", None)),
        ("vqav2", {"path": "{data}/textvqa", "split": "x"}, False,
         ("disk", "{data}/textvqa", "x", None)),
        ("okvqa", {"path": "{data}/okvqa/data/*.parquet"}, False,
         ("parquet", "{data}/okvqa/data/*.parquet", None, None)),
        ("vqav2", {"split": "test-dev2015"}, False,
         ("official", "{data}/vqav2", "test-dev2015", None)),
    ],
)  # fmt: skip
def test_the_source_is_detected_or_chosen_and_splits_default_per_kind(
    task: str,
    args: dict[str, str],
    fewshot: bool,
    expected: tuple[str, str, str | None, str | None],
    data_dir: Path,
) -> None:
    args = {key: value.format(data=data_dir) for key, value in args.items()}
    data = resolve_task_data(get_task(task), data_dir, args, fewshot=fewshot)
    kind, location, split, shots = expected
    assert (data.source.kind, data.source.location, data.split, data.fewshot_split) == (
        kind,
        location.format(data=data_dir),
        split,
        shots,
    )
    assert data.source.revision == args.get("revision")


def test_without_a_data_dir_every_task_reads_its_hub_dataset() -> None:
    for name, hub_id in [
        ("vqav2", "lmms-lab/VQAv2"),
        ("okvqa", "lmms-lab/OK-VQA"),
        ("textvqa", "lmms-lab/textvqa"),
        ("coco_caption", "lmms-lab/COCO-Caption"),
    ]:
        task = get_task(name)
        data = resolve_task_data(task, None, {}, fewshot=False)
        assert data == TaskData(DataSource("hub", hub_id), task.hub_eval_split, None)


@pytest.mark.parametrize(
    ("task", "args", "fewshot", "with_data_dir", "problem"),
    [
        ("vqav2_yesno", {"source": "hub"}, False, True, "the task reads only official files "
         "(no sample_from_row), not source=hub: give their folder with --data-dir or path="),
        ("vqav2_yesno", {"path": "{data}/textvqa"}, False, True,
         "not source=disk: give their folder with --data-dir or path="),
        ("vqav2_yesno", {}, False, False,
         "not source=hub: give their folder with --data-dir or path="),
        ("vqav2", {"source": "disk"}, False, False, "source=disk needs path= or --data-dir"),
        ("vqav2", {"revision": "v1"}, False, True,
         "revision applies to source=hub only, not official"),
        ("textvqa", {"cache_dir": "/c"}, False, True,
         "cache_dir applies to source=hub and parquet only, not disk"),
        ("vqav2", {"source": "hub"}, True, True,
         "no default few-shot split in lmms-lab/VQAv2: give fewshot_split="),
        ("okvqa", {"path": "{data}/okvqa/data/*.parquet", "split": "val2014"}, False, True,
         "data/*.parquet is a single split: split= and fewshot_split= do not apply"),
        ("okvqa", {"path": "{data}/okvqa/data/val2014-00000-of-00001.parquet"}, True, True,
         "val2014-00000-of-00001.parquet is a single split: few-shot needs a source with splits"),
        ("vqav2", {"source": "ftp"}, False, True,
         "source must be one of official, hub, disk, parquet, got 'ftp'"),
    ],
)  # fmt: skip
def test_data_args_that_do_not_fit_the_task_or_its_source_are_refused(
    task: str,
    args: dict[str, str],
    fewshot: bool,
    with_data_dir: bool,
    problem: str,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    (tmp_path / "vqav2_yesno.py").write_text(readme_task_example())
    load_tasks([tmp_path])
    args = {key: value.format(data=data_dir) for key, value in args.items()}
    root = data_dir if with_data_dir else None
    with pytest.raises(ArgumentsError, match=f"^--data-args of task {task!r}") as caught:
        resolve_task_data(get_task(task), root, args, fewshot=fewshot)
    assert str(caught.value).endswith(problem)


def test_the_readme_task_still_reads_official_files(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "vqav2_yesno.py").write_text(readme_task_example())
    load_tasks([tmp_path])
    task = get_task("vqav2_yesno")
    data = resolve_task_data(task, data_dir, {}, fewshot=False)
    assert data == TaskData(DataSource("official", str(data_dir / "vqav2")), "val2014", None)
    samples = data.load(task, data.split)
    assert samples and all(s.metadata["answer_type"] == "yes/no" for s in samples)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["vqav2:foo=1"], "--data-args of task 'vqav2' does not accept foo; valid arguments: "
         "source, path, revision, cache_dir, split, fewshot_split, pool"),
        (["source=ftp"], "--data-args of task 'vqav2': source must be one of official, hub, "
         "disk, parquet, got 'ftp'"),
        (["okvqa:source=hub"], "--data-args 'okvqa:source=hub': task 'okvqa' is not among "
         "--tasks (vqav2, textvqa)"),
        (["vqav2:path"], "--data-args: expected key=value, got 'path'"),
    ],
)  # fmt: skip
def test_malformed_data_args_are_usage_errors(
    specs: list[str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ArgumentsError) as caught:
        resolve_data_args(specs, ["vqav2", "textvqa"])
    assert str(caught.value) == message
    result = CliRunner().invoke(
        main,
        ["run", "--tasks", "vqav2,textvqa", "--model-args", "pretrained=/nonexistent",
         *(arg for spec in specs for arg in ("--data-args", spec)), "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_data_args_go_to_one_task_or_to_every_task_later_ones_winning() -> None:
    specs = ["cache_dir=/cache,split=a", "textvqa:source=disk,path=/d", "vqav2:split=b"]
    assert resolve_data_args(specs, ["vqav2", "textvqa"]) == {
        "vqav2": {"cache_dir": "/cache", "split": "b"},
        "textvqa": {"cache_dir": "/cache", "split": "a", "source": "disk", "path": "/d"},
    }


def test_the_cli_runs_a_task_from_a_disk_source_without_a_data_dir(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "vqav2-hf"
    _dataset_dict("vqav2", mini_data / "vqav2").save_to_disk(folder)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["run", "--model-args", f"pretrained={tiny_model_dir},device=cpu", "--tasks", "vqav2",
         "--data-args", f"vqav2:source=disk,path={folder}", "--limit", "2", "--batch-size", "2",
         "--output", str(run_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["config"]["data_args"] == {"vqav2": {"source": "disk", "path": str(folder)}}
    data = results["tasks"]["vqav2"]["data"]
    assert (data["source"], data["location"], data["split"], data["samples"]) == (
        "disk",
        str(folder),
        "validation",
        2,
    )
    assert f"split `validation` of disk `{folder}`" in result.output
