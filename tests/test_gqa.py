"""GQA declared as data: its official format and errors, exact-match scores and breakdowns on
hand-computed cases, the results file, and a run end to end on the bundled mini split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import vlm_eval.demo
from vlm_eval.cli import main
from vlm_eval.data import DataFormatError, load_gqa
from vlm_eval.tasks import ExactMatchTask, get_task, load_tasks

GQA = Path(vlm_eval.demo.__file__).parent / "data" / "gqa"


@pytest.fixture(autouse=True)
def _tasks() -> None:
    load_tasks()


def _question(image: str, answer: str, structural: str, semantic: str) -> dict[str, Any]:
    return {
        "imageId": image,
        "question": f"A {structural} question about {semantic}?",
        "answer": answer,
        "fullAnswer": f"It is {answer}.",
        "isBalanced": True,
        "types": {"structural": structural, "semantic": semantic, "detailed": "x"},
    }


# Four questions: (answer, structural type, semantic type) and a prediction for each.
_HAND = {
    "01": (_question("n1", "red", "query", "attr"), "Red."),
    "02": (_question("n1", "yes", "verify", "attr"), "yes"),
    "03": (_question("n2", "no", "logical", "obj"), "yes"),
    "04": (_question("n2", "t-shirt", "query", "cat"), "T-shirt"),
}


def test_the_bundled_splits_in_the_official_format() -> None:
    task = get_task("gqa")
    assert isinstance(task, ExactMatchTask) and task.hub_dataset is None
    testdev, train = task.load(GQA, "testdev"), task.load(GQA, "train")
    assert (len(testdev), len(train)) == (16, 12)
    assert all(len(sample.references) == 1 for sample in testdev + train)
    # Question ids stay strings: the first of each split starts with 0, as some real ones do.
    assert testdev[0].id.startswith("0") and len(testdev[0].id) == 8
    document = json.loads((GQA / "testdev_balanced_questions.json").read_text())
    first = document[testdev[0].id]
    assert testdev[0].references == (first["answer"],)
    assert testdev[0].image.path == GQA / "images" / f"{first['imageId']}.jpg"
    assert testdev[0].metadata == {
        "image_id": first["imageId"],
        "structural_type": first["types"]["structural"],
        "semantic_type": first["types"]["semantic"],
        "detailed_type": first["types"]["detailed"],
    }


@pytest.mark.parametrize(
    ("data", "record", "field", "problem"),
    [
        ([], None, None, "expected an object of questions by id"),
        ({"7": "q"}, "7", None, "expected an object, got 'q'"),
        ({"7": _question("n1", "a", "query", "attr") | {"imageId": 5}}, "7", "imageId",
         "expected a string, got 5"),
        ({"7": {"imageId": "n1", "answer": "a"}}, "7", "question", "missing field"),
        ({"7": {"imageId": "n1", "question": "q"}}, "7", "answer", "missing field"),
        ({"7": _question("n1", "a", "query", "attr") | {"types": ["query"]}}, "7", "types",
         "expected an object"),
        ({"7": _question("n1", "a", "query", "attr") | {"types": {"semantic": 3}}}, "7",
         "types.semantic", "expected a string, got 3"),
        ({"7": _question("../n1", "a", "query", "attr")}, "7", "imageId",
         "leaves the image folder"),
    ],
)  # fmt: skip
def test_format_errors_name_file_question_and_field(
    tmp_path: Path, data: Any, record: str | None, field: str | None, problem: str
) -> None:
    path = tmp_path / "testdev_balanced_questions.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataFormatError, match=problem) as raised:
        load_gqa(path, tmp_path / "images", annotated=True)
    assert (raised.value.path, raised.value.record, raised.value.field) == (path, record, field)


def _hand_data(root: Path) -> Path:
    folder = root / "gqa"
    folder.mkdir(parents=True)
    questions = {question_id: question for question_id, (question, _) in _HAND.items()}
    (folder / "testdev_balanced_questions.json").write_text(json.dumps(questions))
    predictions = root / "predictions.json"
    entries = [{"questionId": i, "prediction": prediction} for i, (_, prediction) in _HAND.items()]
    predictions.write_text(json.dumps(entries))
    return predictions


@pytest.mark.parametrize(
    ("match", "overall", "structural", "semantic"),
    [
        # "Red." and "T-shirt" match once case and punctuation are ignored: 3 of 4 right.
        ("normalized", 75.0, {"logical": 0.0, "query": 100.0, "verify": 100.0},
         {"attr": 100.0, "cat": 100.0, "obj": 0.0}),
        # As the official eval.py: only "yes" == "yes".
        ("official", 25.0, {"logical": 0.0, "query": 0.0, "verify": 100.0},
         {"attr": 50.0, "cat": 0.0, "obj": 0.0}),
    ],
)  # fmt: skip
def test_exact_match_scores_and_breakdowns_hand_computed(
    tmp_path: Path, match: str, overall: float, structural: Any, semantic: Any
) -> None:
    predictions = _hand_data(tmp_path)
    result = CliRunner().invoke(
        main,
        ["score", "--task", "gqa", "--data-dir", str(tmp_path), "--predictions", str(predictions),
         "--task-args", f"match={match}", "--json", str(tmp_path / "scores.json")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["metrics"] == {"accuracy": overall}
    assert scores["breakdowns"] == {"structural_type": structural, "semantic_type": semantic}
    assert scores["per_sample"]["01"] == {"accuracy": 1.0 if match == "normalized" else 0.0}


def test_a_results_file_with_integer_ids_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps([{"questionId": 1, "prediction": "yes"}]))
    with pytest.raises(DataFormatError, match="expected a string, got 1") as raised:
        get_task("gqa").read_predictions(path)
    assert (raised.value.record, raised.value.field) == (0, "questionId")


def test_the_prompt_and_the_lmms_eval_protocol() -> None:
    task = get_task("gqa", {"protocol": "lmms-eval"})
    (sample, *_) = task.load(GQA, "testdev")
    ((turn,),) = [task.prompt(sample, [])]
    assert turn.parts[1] == f"{sample.question}\nAnswer the question using a single word or phrase."
    from vlm_eval.protocols import get_protocol

    assert get_protocol("lmms-eval").options_for("gqa") == {"match": "normalized"}
    assert task.scoring_protocol()["match_code"].startswith("lmms-eval exact_match")
    official = get_task("gqa", {"match": "official"}).scoring_protocol()["match_code"]
    assert official.startswith("GQA eval.py")


def test_gqa_runs_end_to_end_and_writes_the_test_submission(
    tiny_model_dir: Path, mini_data: Path, tmp_path: Path
) -> None:
    common = [
        "run", "--model-args", f"pretrained={tiny_model_dir},device=cpu,dtype=float32",
        "--tasks", "gqa", "--num-workers", "0",
    ]  # fmt: skip
    result = CliRunner().invoke(
        main, [*common, "--data-dir", str(mini_data), "--output", str(tmp_path / "testdev")]
    )
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "testdev" / "results.json").read_text())["tasks"]["gqa"]
    assert entry["task"]["main_metric"] == "accuracy"
    assert entry["task"]["scoring"] == {
        "match": "normalized",
        "match_code": "lmms-eval exact_match (ignore_case, ignore_punctuation)",
    }
    assert entry["data"]["scored_samples"] == 16
    records = [json.loads(line) for line in (tmp_path / "testdev" / "samples_gqa.jsonl").open()]
    right = [record["scores"]["accuracy"] for record in records]
    assert entry["scores"]["metrics"]["accuracy"] == pytest.approx(100 * sum(right) / 16)
    assert set(entry["scores"]["breakdowns"]) == {"structural_type", "semantic_type"}

    # The test split's questions have no answers: the run writes the server's results file.
    data = tmp_path / "data"
    shutil.copytree(GQA, data / "gqa")
    questions = json.loads((GQA / "testdev_balanced_questions.json").read_text())
    hidden = {key: {k: v for k, v in q.items() if k != "answer"} for key, q in questions.items()}
    (data / "gqa" / "test_balanced_questions.json").write_text(json.dumps(hidden))
    test = tmp_path / "test"
    result = CliRunner().invoke(
        main, [*common, "--data-dir", str(data), "--data-args", "split=test", "--output", str(test)]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (test / "samples_gqa.jsonl").open()]
    predictions = {record["sample_id"]: record["prediction"] for record in records}
    submitted = json.loads((test / "submission_gqa_test.json").read_text())
    assert submitted == [{"questionId": key, "prediction": predictions[key]} for key in questions]


def test_list_tasks_says_gqa_reads_the_official_files_only() -> None:
    result = CliRunner().invoke(main, ["list", "tasks"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("gqa ")]
    assert lines[index].endswith("exact-match accuracy; official files only.")
    family = "family ExactMatchTask; data: official files (gqa/, split testdev)"
    assert lines[index + 1].strip() == family
