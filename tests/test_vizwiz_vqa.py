"""VizWiz-VQA declared as data: its official format and errors, the lmms-lab rows, VQA accuracy
on hand-computed cases, the lmms-eval prompt, and runs end to end on the bundled mini splits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets
import pytest
from click.testing import CliRunner

import vlm_eval.demo
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, Sample, load_vizwiz
from vlm_eval.protocols import get_protocol
from vlm_eval.tasks import VQATask, get_task, load_tasks, resolve_task_data

VIZWIZ = Path(vlm_eval.demo.__file__).parent / "data" / "vizwiz_vqa"
_SHORT = "\nAnswer the question using a single word or phrase."
_UNANSWERABLE = "\nWhen the provided information is insufficient, respond with 'Unanswerable'."


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _record(image: str, answers: list[str], answer_type: str = "other") -> dict[str, Any]:
    return {
        "image": image,
        "question": "What is this?",
        "answers": [{"answer": a, "answer_confidence": "yes"} for a in answers],
        "answer_type": answer_type,
        "answerable": int(answer_type != "unanswerable"),
    }


def test_the_bundled_splits_in_the_official_format() -> None:
    task = get_task("vizwiz_vqa")
    assert isinstance(task, VQATask) and task.hub_dataset == "lmms-lab/VizWiz-VQA"
    val, train, test = (task.load(VIZWIZ, split) for split in ("val", "train", "test"))
    assert (len(val), len(train), len(test)) == (12, 10, 4)
    assert all(len(sample.references) == 10 for sample in val + train)
    assert all(sample.references == () for sample in test)
    first = json.loads((VIZWIZ / "Annotations" / "val.json").read_text())[0]
    assert val[0].id == first["image"] == "VizWiz_val_00000000.jpg"
    assert val[0].image.path == VIZWIZ / "val" / "VizWiz_val_00000000.jpg"
    assert val[0].references == tuple(answer["answer"] for answer in first["answers"])
    assert val[0].metadata == {"answer_type": first["answer_type"], "answerable": "1"}
    assert {sample.metadata["answer_type"] for sample in val} >= {"other", "unanswerable"}


@pytest.mark.parametrize(
    ("data", "record", "field", "problem"),
    [
        ({"image": "a.jpg"}, None, None, "expected a JSON list of questions"),
        (["a.jpg"], 0, None, "expected an object, got 'a.jpg'"),
        ([{"question": "q"}], 0, "image", "missing field"),
        ([_record("", ["x"])], 0, "image", "empty file name"),
        ([_record("a.jpg", ["x"]), _record("a.jpg", ["y"])], "a.jpg", "image", "named twice"),
        ([_record("a.jpg", ["x"]) | {"answers": []}], "a.jpg", "answers", "empty list"),
        ([{"image": "a.jpg", "question": "q"}], "a.jpg", "answers", "missing field"),
        ([_record("a.jpg", ["x"]) | {"answers": [{"answer": 3}]}], "a.jpg", "answers[0].answer",
         "expected a string, got 3"),
        ([_record("a.jpg", ["x"]) | {"answerable": 2}], "a.jpg", "answerable", "expected 0 or 1"),
        ([_record("a.jpg", ["x"]) | {"answer_type": None}], "a.jpg", "answer_type",
         "expected a string"),
        ([_record("../a.jpg", ["x"])], "../a.jpg", "image", "leaves the image folder"),
    ],
)  # fmt: skip
def test_format_errors_name_file_image_and_field(
    tmp_path: Path, data: Any, record: str | int | None, field: str | None, problem: str
) -> None:
    path = tmp_path / "val.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=problem) as raised:
        load_vizwiz(path, tmp_path, annotated=True)
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


@pytest.mark.parametrize(
    ("mode", "overall", "unanswerable"),
    [
        # "Unanswerable." matches the two "unanswerable" of the first question (VQA accuracy
        # 0.6) and the ten of the third (1.0); "2" the three "2" and three "two" (1.0).
        ("normalized", 100 * 2.6 / 3, 100 * 1.6 / 2),
        # lmms-eval's answer processor deletes the "." the same way: the same scores here.
        ("evalai", 100 * 2.6 / 3, 100 * 1.6 / 2),
        # The 2021 code leaves ten identical answers as they are: "Unanswerable." is not
        # "unanswerable" there (0.0); the other two questions' answers differ: normalized.
        ("official", 100 * 1.6 / 3, 100 * 0.6 / 2),
    ],
)
def test_vqa_accuracy_over_the_ten_answers_hand_computed(
    tmp_path: Path, mode: str, overall: float, unanswerable: float
) -> None:
    folder = tmp_path / "vizwiz_vqa" / "Annotations"
    folder.mkdir(parents=True)
    records = [
        _record("VizWiz_val_00000000.jpg", ["unanswerable"] * 2 + ["blurry"] * 8, "unanswerable"),
        _record("VizWiz_val_00000001.jpg", ["2"] * 3 + ["two"] * 3 + ["3"] * 4, "number"),
        _record("VizWiz_val_00000002.jpg", ["unanswerable"] * 10, "unanswerable"),
    ]
    (folder / "val.json").write_text(json.dumps(records))
    predictions = tmp_path / "results.json"
    answers = ["Unanswerable.", "2", "Unanswerable."]
    entries = [{"image": r["image"], "answer": a} for r, a in zip(records, answers, strict=True)]
    predictions.write_text(json.dumps(entries))
    result = CliRunner().invoke(
        main,
        ["score", "--task", "vizwiz_vqa", "--data-dir", str(tmp_path), "--predictions",
         str(predictions), "--task-args", f"vqa_mode={mode}", "--json", str(tmp_path / "s.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["metrics"] == {"accuracy": pytest.approx(overall)}
    assert scores["breakdowns"]["answer_type"] == {
        "number": pytest.approx(100.0),
        "unanswerable": pytest.approx(unanswerable),
    }


def test_a_results_file_names_questions_by_image(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps([{"image": 7, "answer": "x"}]))
    with pytest.raises(DataFormatError, match="expected a string, got 7") as raised:
        get_task("vizwiz_vqa").read_predictions(path)
    assert (raised.value.record, raised.value.field) == (0, "image")


def test_the_lmms_eval_prompt_and_scoring_are_its_vizwiz_configs() -> None:
    sample = Sample(
        "VizWiz_val_00000000.jpg", VIZWIZ / "val" / "x.jpg", ("a",) * 10, "what is THIS?"
    )
    ((chat,),) = [get_task("vizwiz_vqa").prompt(sample, [])]
    assert chat.parts[1] == "what is THIS?" + _SHORT
    lmms = get_task("vizwiz_vqa", {"protocol": "lmms-eval"})
    ((turn,),) = [lmms.prompt(sample, [])]
    assert turn.parts[1] == "What is this?" + _UNANSWERABLE + _SHORT  # str.capitalize()
    described = lmms.describe()["protocol"]
    assert described["text"] == "{question}" + _UNANSWERABLE + _SHORT
    assert described["question"] == "str.capitalize()"
    assert get_protocol("lmms-eval").options_for("vizwiz_vqa") == {"vqa_mode": "evalai"}
    assert get_protocol("chat").options_for("vizwiz_vqa") == {}


def test_the_hub_rows_name_questions_as_the_official_files(tmp_path: Path) -> None:
    image = (VIZWIZ / "val" / "VizWiz_val_00000000.jpg").read_bytes()
    features = datasets.Features(
        question_id=datasets.Value("string"),
        image=datasets.Image(),
        question=datasets.Value("string"),
        answers=datasets.Sequence(datasets.Value("string")),
        category=datasets.Value("string"),
    )

    def rows(split: str, answers: list[str]) -> datasets.Dataset:
        row = {"question_id": f"VizWiz_{split}_00000000", "question": "What is this?"}
        row |= {"answers": answers, "category": "other", "image": {"bytes": image, "path": None}}
        return datasets.Dataset.from_list([row], features=features)

    splits = {"val": rows("val", ["red"] * 10), "test": rows("test", [])}
    datasets.DatasetDict(splits).save_to_disk(tmp_path / "vizwiz_vqa")
    task = get_task("vizwiz_vqa")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    (sample,) = data.load(task, data.split)
    assert (sample.id, sample.references, sample.metadata) == (
        "VizWiz_val_00000000.jpg",
        ("red",) * 10,
        {"answer_type": "other"},
    )
    (test,) = data.load(task, "test")
    assert test.references == ()
    entry = task.submission_entry(test, "red")
    assert entry == {"image": "VizWiz_test_00000000.jpg", "answer": "red"}


def test_vizwiz_runs_end_to_end_and_writes_the_test_submission(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    common = [
        "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
        "--tasks", "vizwiz_vqa", "--data-dir", str(mini_data), "--num-workers", "0",
        "--protocol", "lmms-eval",
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "val")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "val" / "results.json").read_text())["tasks"]["vizwiz_vqa"]
    assert entry["task"]["scoring"]["vqa_mode"] == "evalai"  # as lmms-eval scores VizWiz
    assert entry["task"]["protocol"]["question"] == "str.capitalize()"
    assert entry["data"]["scored_samples"] == 12
    assert 0.0 <= entry["scores"]["metrics"]["accuracy"] <= 100.0
    assert "unanswerable" in entry["scores"]["breakdowns"]["answer_type"]

    test = tmp_path / "test"
    result = CliRunner().invoke(main, [*common, "--data-args", "split=test", "--output", str(test)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test / "samples_vizwiz_vqa.jsonl").open()]
    predictions = {record["sample_id"]: record["prediction"] for record in records}
    submitted = json.loads((test / "submission_vizwiz_vqa_test.json").read_text())
    names = [f"VizWiz_test_{index:08d}.jpg" for index in range(4)]
    assert submitted == [{"image": name, "answer": predictions[name]} for name in names]


def test_list_tasks_shows_the_official_files_and_the_hub_copy() -> None:
    result = CliRunner().invoke(main, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("vizwiz_vqa ")]
    assert lines[index + 1].strip() == (
        "family VQATask; data: official files (vizwiz_vqa/, split val) or hub "
        "lmms-lab/VizWiz-VQA (split val)"
    )
