"""InfographicVQA: its official files (and their names per split), the hub rows, ANLS broken down
by answer type, evidence and operation on hand-computed cases, errors naming file, record and
field, and a run end to end with the test split's submission file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from click.testing import CliRunner

import vlm_eval.demo
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample
from vlm_eval.tasks import DocumentQATask, get_task, load_tasks, resolve_task_data

INFOGRAPHICS = Path(vlm_eval.demo.__file__).parent / "data" / "infographicvqa"
VAL = "infographicsVQA_val_v1.0_withQT.json"


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def test_bundled_splits_in_the_official_files() -> None:
    task = get_task("infographicvqa")
    assert isinstance(task, DocumentQATask) and task.main_metric == "anls"
    val = task.load(INFOGRAPHICS, "val")
    assert len(val) == 12 and all(sample.references for sample in val)
    record = json.loads((INFOGRAPHICS / VAL).read_text())["data"][0]
    first = val[0]
    assert (first.id, first.question) == (str(record["questionId"]), record["question"])
    assert first.references == tuple(record["answers"])
    assert first.image.path == INFOGRAPHICS / "infographicsvqa_images" / record["image_local_name"]
    assert first.metadata["answer_types"] == "|".join(record["answer_type"])
    assert first.metadata["evidence"] == "|".join(record["evidence"])
    assert first.metadata.get("operations", "") == "|".join(record["operation/reasoning"])
    assert len(task.load(INFOGRAPHICS, "train")) == 10  # infographicVQA_train_v1.0.json
    test = task.load(INFOGRAPHICS, "test")  # infographicsVQA_test_v1.0.json
    assert len(test) == 4 and all(sample.references == () for sample in test)


def _record(**fields: Any) -> dict[str, Any]:
    record = {"questionId": 9, "question": "Which?", "image_local_name": "1.jpeg"}
    return record | {"answers": ["cats"], "answer_type": ["Image span"]} | fields


@pytest.mark.parametrize(
    ("data", "record", "field", "problem"),
    [
        ([{k: v for k, v in _record().items() if k != "image_local_name"}], "9",
         "image_local_name", "missing field"),
        ([_record(image_local_name="../1.jpeg")], "9", "image_local_name", "leaves"),
        ([_record(answers=[])], "9", "answers", "empty list"),
        ([_record(answer_type=["Image|span"])], "9", "answer_type[0]", "joins the types"),
        ([_record(evidence="Text")], "9", "evidence", "expected a list"),
        ([_record(**{"operation/reasoning": [3]})], "9", "operation/reasoning[0]",
         "expected a string"),
    ],
)  # fmt: skip
def test_malformed_files_name_file_record_and_field(
    tmp_path: Path, data: list[dict[str, Any]], record: str, field: str, problem: str
) -> None:
    path = tmp_path / VAL
    path.write_text(json.dumps({"dataset_split": "val", "data": data}))
    with pytest.raises(DataFormatError, match=problem) as raised:
        get_task("infographicvqa").load(tmp_path, "val")
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


def test_a_missing_split_names_the_official_file(tmp_path: Path) -> None:
    task = get_task("infographicvqa")
    with pytest.raises(DataFormatError, match="file not found") as raised:
        task.load(tmp_path, "val")
    assert raised.value.path == tmp_path / VAL
    with pytest.raises(DataFormatError, match="file not found") as raised:
        task.load(tmp_path, "test")
    assert raised.value.path == tmp_path / "infographicsVQA_test_v1.0.json"


def test_anls_breakdowns_hand_computed() -> None:
    task = get_task("infographicvqa")
    groups = [  # answer types, evidence, operations
        {"answer_types": "Image span", "evidence": "Text"},
        {"answer_types": "Non span", "evidence": "Figure|Text", "operations": "Counting"},
        {"answer_types": "Multiple spans", "evidence": "Table/List", "operations": "Counting"},
    ]
    references = [("pinterest",), ("12",), ("cats, dogs", "dogs, cats")]
    predictions = ["pinterst", "13", "cats dogs"]  # 1 - 1/9, 1 - 1/2, 1 - 1/10
    samples = [
        Sample(str(i), Path("a.jpeg"), refs, "q", metadata)
        for i, (refs, metadata) in enumerate(zip(references, groups, strict=True))
    ]
    scores = [task.score(s, p) for s, p in zip(samples, predictions, strict=True)]
    assert [score["anls"] for score in scores] == pytest.approx([8 / 9, 0.5, 0.9])
    result = task.aggregate(samples, predictions, scores)
    assert result.metrics["anls"] == pytest.approx(100 * (8 / 9 + 0.5 + 0.9) / 3)
    assert result.breakdowns == {
        "answer_type": {
            "Image span": pytest.approx(800 / 9),
            "Multiple spans": pytest.approx(90.0),
            "Non span": 50.0,
        },
        "evidence": {
            "Figure": 50.0,
            "Table/List": pytest.approx(90.0),
            "Text": pytest.approx((800 / 9 + 50) / 2),
        },
        "operation": {"Counting": pytest.approx(70.0)},
    }


def _hub_rows(split: str) -> datasets.Dataset:
    """The bundled split as lmms-lab/DocVQA ``InfographicVQA`` rows: string ids, image bytes,
    no evidence, test answers and types empty."""
    name = "infographicsVQA_test_v1.0.json" if split == "test" else VAL
    rows = []
    for record in json.loads((INFOGRAPHICS / name).read_text())["data"]:
        image = INFOGRAPHICS / "infographicsvqa_images" / record["image_local_name"]
        rows.append(
            {
                "questionId": str(record["questionId"]),
                "question": record["question"],
                "answers": record.get("answers", []),
                "answer_type": record.get("answer_type", []),
                "image": {"bytes": image.read_bytes(), "path": image.name},
                "image_url": record["image_url"],
                "operation/reasoning": record.get("operation/reasoning", []),
                "ocr": "{}",
                "data_split": split,
            }
        )
    strings = datasets.Sequence(datasets.Value("string"))
    features = datasets.Features(
        {name: datasets.Value("string") for name in ("questionId", "question", "image_url")}
        | {"answers": strings, "answer_type": strings, "operation/reasoning": strings}
        | {"image": datasets.Image(), "ocr": datasets.Value("string")}
        | {"data_split": datasets.Value("string")}
    )
    return datasets.Dataset.from_list(rows, features=features)


def test_the_hub_rows_give_the_official_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def load_dataset(path: str, **kwargs: Any) -> datasets.Dataset:
        calls.append((path, kwargs["name"], kwargs["split"]))
        return _hub_rows({"validation": "val", "test": "test"}[kwargs["split"]])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    task = get_task("infographicvqa")
    data = resolve_task_data(task, None, {}, fewshot=False)
    rows = data.load(task, data.split)
    assert calls == [("lmms-lab/DocVQA", "InfographicVQA", "validation")]
    official = task.load(INFOGRAPHICS, "val")

    def fields(sample: Sample) -> tuple[Any, ...]:
        metadata = {k: v for k, v in sample.metadata.items() if k != "evidence"}  # not on the hub
        return sample.id, sample.question, sample.references, metadata

    assert [fields(s) for s in rows] == [fields(s) for s in official]
    assert rows[0].image.open().size == official[0].image.open().size
    test = data.load(task, "test")
    assert len(test) == 4 and all(sample.references == () for sample in test)


def test_runs_end_to_end_and_writes_the_test_submission(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    common = [
        "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
        "--tasks", "infographicvqa", "--data-dir", str(mini_data), "--num-workers", "0",
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "val")])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "val" / "results.json").read_text())
    entry = results["tasks"]["infographicvqa"]
    assert entry["task"]["main_metric"] == "anls" and entry["data"]["scored_samples"] == 12
    scores = entry["scores"]
    assert 0.0 <= scores["metrics"]["anls"] <= 100.0
    assert {"answer_type", "evidence"} <= set(scores["breakdowns"])

    test = tmp_path / "test"
    result = CliRunner().invoke(main, [*common, "--data-args", "split=test", "--output", str(test)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test / "samples_infographicvqa.jsonl").open()]
    predictions = {int(record["sample_id"]): record["prediction"] for record in records}
    submitted = json.loads((test / "submission_infographicvqa_test.json").read_text())
    assert submitted == [{"questionId": key, "answer": value} for key, value in predictions.items()]
    assert len(submitted) == 4
