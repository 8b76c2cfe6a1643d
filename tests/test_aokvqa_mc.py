"""A-OKVQA multiple choice: the official split files with COCO 2017 images, the hub rows,
answers read as letters or option texts, errors naming file, record and field, and runs end to
end (val scored, test written as a submission)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from vlm_eval.cli import main
from vlm_eval.data import DataFormatError
from vlm_eval.tasks import (
    MultipleChoiceTask,
    get_task,
    load_tasks,
    resolve_task_data,
    score_predictions_file,
)


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _question(**fields: Any) -> dict[str, Any]:
    question = {"split": "val", "image_id": 42, "question_id": "22jbM6gDxdaMaunuzgrsBB"}
    options = ["a ball", "a box", "a roof", "a cloud"]
    question |= {"question": "What looks like the red shape?", "choices": options}
    return question | {"correct_choice_idx": 2, "direct_answers": ["roof"] * 10} | fields


def _write(folder: Path, split: str, questions: Any) -> Path:
    (folder / f"{split}2017").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(folder / f"{split}2017" / "000000000042.jpg")
    path = folder / f"aokvqa_v1p0_{split}.json"
    path.write_text(json.dumps(questions))
    return path


def test_official_questions_become_samples(tmp_path: Path) -> None:
    _write(tmp_path, "val", [_question(), _question(question_id="x1", correct_choice_idx=0)])
    task = get_task("aokvqa_mc")
    assert isinstance(task, MultipleChoiceTask) and task.main_metric == "accuracy"
    samples = task.load(tmp_path, "val")
    assert [(s.id, s.references) for s in samples] == [("22jbM6gDxdaMaunuzgrsBB", ("C",)),
                                                       ("x1", ("A",))]  # fmt: skip
    assert samples[0].metadata == {
        "A": "a ball", "B": "a box", "C": "a roof", "D": "a cloud", "image_id": "42",
    }  # fmt: skip
    assert samples[0].image.path == tmp_path / "val2017" / "000000000042.jpg"
    (asked,) = task.expand(samples[:1])
    assert asked.question == (
        "What looks like the red shape?\nA. a ball\nB. a box\nC. a roof\nD. a cloud"
    )
    test = [{k: v for k, v in _question().items() if k not in ("correct_choice_idx",)}]
    _write(tmp_path, "test", test)
    assert [s.references for s in task.load(tmp_path, "test")] == [()]


def test_answers_scored_hand_computed(tmp_path: Path) -> None:
    _write(tmp_path, "val", [_question()])  # the answer is C, "a roof"
    task = get_task("aokvqa_mc")
    (sample,) = task.expand(task.load(tmp_path, "val"))
    answers = ["C", "a roof", "It looks like a roof.", "(b)", "a roof or a box", "E"]
    scores = [task.score(sample, answer) for answer in answers]
    assert [score["accuracy"] for score in scores] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert [score["unparseable"] for score in scores] == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    result = task.aggregate([sample] * 6, answers, scores)
    assert result.metrics == {"accuracy": 50.0, "unparseable": 2.0}
    assert result.breakdowns == {}


def test_the_leaderboard_file_names_option_texts_and_is_scored_back(tmp_path: Path) -> None:
    questions = [_question(question_id=f"q{i}", correct_choice_idx=i) for i in range(4)]
    _write(tmp_path, "val", questions)
    task = get_task("aokvqa_mc")
    samples = task.expand(task.load(tmp_path, "val"))  # the answers: A, B, C, D
    predictions = ["A", "(c)", "The answer is a roof.", "no idea"]
    content = json.loads(task.submission_file(samples, predictions))
    assert content == {
        "q0": {"multiple_choice": "a ball"},
        "q1": {"multiple_choice": "a roof"},
        "q2": {"multiple_choice": "a roof"},
        "q3": {"multiple_choice": "no idea"},  # names no option: as generated
    }
    path = tmp_path / "predictions.json"
    path.write_text(
        json.dumps(content | {"q3": {"multiple_choice": "a cloud", "direct_answer": "sky"}})
    )
    scored = score_predictions_file(task, samples, path)
    assert scored["metrics"] == {"accuracy": 75.0, "unparseable": 0.0}  # q1 wrong


@pytest.mark.parametrize(
    ("content", "record", "field", "message"),
    [
        ([{"q0": "A"}], None, None, "expected an object of predictions by question id"),
        ({"q0": "a ball"}, "q0", None, "expected an object"),
        ({"q0": {"direct_answer": "ball"}}, "q0", "multiple_choice", "missing field"),
        ({"q0": {"multiple_choice": 0}}, "q0", "multiple_choice", "expected a string"),
    ],
)
def test_malformed_leaderboard_files_are_named(
    tmp_path: Path, content: Any, record: str | None, field: str | None, message: str
) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(content))
    with pytest.raises(DataFormatError, match=message) as raised:
        get_task("aokvqa_mc").read_predictions(path)
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


@pytest.mark.parametrize(
    ("questions", "record", "field", "message"),
    [
        ([_question(correct_choice_idx=4)], "22jbM6gDxdaMaunuzgrsBB", "correct_choice_idx",
         r"4 is not the index of an option \(0 to 3\)"),
        ([_question(correct_choice_idx=None)], "22jbM6gDxdaMaunuzgrsBB", "correct_choice_idx",
         "expected an integer"),
        ([{k: v for k, v in _question().items() if k != "choices"}], "22jbM6gDxdaMaunuzgrsBB",
         "choices", "missing field"),
        ([_question(choices=["a ball"], correct_choice_idx=0)], "22jbM6gDxdaMaunuzgrsBB",
         "choices", "expected 2 to 26 options, got 1"),
        ([_question(image_id="42")], "22jbM6gDxdaMaunuzgrsBB", "image_id", "expected an integer"),
        ([_question(question_id=7)], 0, "question_id", "expected a string"),
        ([_question(), _question()], "22jbM6gDxdaMaunuzgrsBB", "question_id", "duplicate id"),
        ([_question(), 3], 1, None, "expected an object"),
        ({"questions": []}, None, None, "expected a list of questions"),
    ],
)  # fmt: skip
def test_malformed_files_name_file_record_and_field(
    tmp_path: Path, questions: Any, record: str | int | None, field: str | None, message: str
) -> None:
    path = _write(tmp_path, "val", questions)
    with pytest.raises(DataFormatError, match=message) as raised:
        get_task("aokvqa_mc").load(tmp_path, "val")
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


def test_hub_rows(tmp_path: Path) -> None:
    import datasets

    _write(tmp_path / "images", "val", [])
    image = {"bytes": (tmp_path / "images" / "val2017" / "000000000042.jpg").read_bytes(),
             "path": None}  # fmt: skip
    rows = {
        "image": [image, image], "question_id": ["q1", "q2"], "question": ["Which?", "What?"],
        "choices": [["w", "x", "y", "z"]] * 2, "correct_choice_idx": [3, None],
        "direct_answers": [["z"] * 10, None], "difficult_direct_answer": [False, False],
        "rationales": [["r"] * 3, None],
    }  # fmt: skip
    strings = datasets.Sequence(datasets.Value("string"))
    features = datasets.Features(
        {"image": datasets.Image(), "question_id": datasets.Value("string")}
        | {"question": datasets.Value("string"), "choices": strings}
        | {"correct_choice_idx": datasets.Value("int8"), "direct_answers": strings}
        | {"difficult_direct_answer": datasets.Value("bool"), "rationales": strings}
    )
    split = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"validation": split}).save_to_disk(tmp_path / "aokvqa_mc")
    task = get_task("aokvqa_mc")
    data = resolve_task_data(task, tmp_path, {}, fewshot=False)
    samples = data.load(task, data.split)
    assert [(s.id, s.references, s.question) for s in samples] == [
        ("q1", ("D",), "Which?\nA. w\nB. x\nC. y\nD. z"),
        ("q2", (), "What?\nA. w\nB. x\nC. y\nD. z"),
    ]
    assert samples[0].image.open().size == (4, 4)


def test_the_bundled_splits_run_end_to_end(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    common = [
        "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
        "--tasks", "aokvqa_mc", "--data-dir", str(mini_data), "--num-workers", "0",
    ]  # fmt: skip
    result = CliRunner().invoke(main, [*common, "--output", str(tmp_path / "val")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "val" / "results.json").read_text())["tasks"]["aokvqa_mc"]
    assert entry["task"]["main_metric"] == "accuracy" and entry["data"]["scored_samples"] == 8
    records = [json.loads(line) for line in (tmp_path / "val" / "samples_aokvqa_mc.jsonl").open()]
    expected = 100 * sum(record["scores"]["accuracy"] for record in records) / 8
    assert entry["scores"]["metrics"]["accuracy"] == pytest.approx(expected)

    test = tmp_path / "test"
    result = CliRunner().invoke(main, [*common, "--data-args", "split=test", "--output", str(test)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test / "samples_aokvqa_mc.jsonl").open()]
    submitted = json.loads((test / "submission_aokvqa_mc_test.json").read_text())
    assert list(submitted) == [record["sample_id"] for record in records] and len(records) == 2
    for record in records:  # each prediction, or the text of the option it names
        options = [record["metadata"][letter] for letter in "ABCD"]
        assert submitted[record["sample_id"]]["multiple_choice"] in [*options, record["prediction"]]
